package identity

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	cc "carechain"
	"carechain/internal/cctest"
	"carechain/ledger/store"
)

// fuzzFixture is the state FuzzHandlers starts every call from: genesis,
// a patient with guardians and a pending recovery, a delegation, an open
// proposal, a recorded validator and a custodial patient DID of st-marys
// with a pending claim.
func fuzzFixture(t testing.TB) (*store.Overlay, []*actor) {
	e := newEnv(t, 2)
	pat, ga, gb, fresh := newActor("pat"), newActor("ga"), newActor("gb"), newActor("fresh")
	e.mustSubmit(t, pat, TypePatientRegister, obj{"public_key": pat.key()})
	e.mustCreate(t, ga, cc.KindPractitioner)
	e.mustCreate(t, gb, cc.KindPractitioner)
	e.mustSubmit(t, pat, TypeGuardiansSet, obj{"guardians": []cc.DID{ga.did, gb.did}, "threshold": 2, "delay_blocks": 1})
	e.mustSubmit(t, ga, TypeRecoveryApprove, obj{"did": pat.did, "new_public_key": newActor("new").key()})
	e.mustSubmit(t, pat, TypeDelegateGrant, obj{"delegate": doc.did, "scopes": []string{"records.read"}, "expires": "2030-01-01T00:00:00Z"})
	e.mustSubmit(t, gov1, TypeGovPropose, obj{"action": "org.suspend", "params": obj{"id": "city-lab"}})
	cust := newActor("cust")
	e.mustSubmit(t, doc, TypeCustodialCreate, obj{"public_key": cust.key(), "org": "st-marys", "claim_hash": b64url(ClaimHash(cust.did, fuzzClaimCode))})
	v, _ := testKey("validator-1")
	if err := RecordValidators(e.kv, []cc.ValidatorUpdate{{PubKey: v, Power: 10}}); err != nil {
		t.Fatal(err)
	}
	// One signer per kind of standing keeps each execution cheap: a
	// governance member, an organization admin, a DID with guardians, a
	// pending recovery and a delegation, one of its guardians, a DID
	// that is not on the ledger (the signer of creation seeds) and a
	// physician, who may link patients and create and hand over custodial
	// DIDs.
	return e.kv, []*actor{gov1, hadmin, pat, ga, fresh, doc}
}

// fuzzClaimCode is the claim code of the fixture's custodial DID.
const fuzzClaimCode = "K7Q2-9XF4"

// fuzzSeeds are payloads that reach deep into the handlers.
func fuzzSeeds() []string {
	pat, ga, fresh, cust := newActor("pat"), newActor("ga"), newActor("fresh"), newActor("cust")
	expires := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	claimKey, claimProof := SignClaimProof(newActor("cust-own").priv, testChain, cust.did)
	seeds := []obj{
		{"public_key": fresh.key(), "kind": "practitioner"},
		{"public_key": fresh.key()},
		{"new_public_key": newActor("new").key()},
		{"guardians": []cc.DID{ga.did, doc.did}, "threshold": 2, "delay_blocks": 5},
		{"did": pat.did, "new_public_key": newActor("new").key()},
		{"did": pat.did},
		{"delegate": doc.did, "scopes": []string{"*"}, "expires": "2026-01-01T00:00:00+01:00"},
		{"patient": pat.did, "org": "st-marys"},
		{"org": "st-marys", "member": ga.did, "roles": []string{"admin", "nurse"}},
		{"action": "org.admit", "params": obj{"id": "new-org", "name": "New", "type": "clinic", "admin": ga.did}},
		{"action": "validator.update", "params": obj{"pub_key": ga.key(), "power": 3}},
		{"action": "gov.update", "params": obj{"members": []cc.DID{gov1.did}, "threshold": 1}},
		{"proposal": 1},
		{"patient": pat.did, "org": "st-marys", "expires": expires.Format(time.RFC3339), "approval": SignLinkApproval(pat.priv, testChain, pat.did, "st-marys", expires)},
		{"public_key": fresh.key(), "org": "st-marys", "claim_hash": b64url(ClaimHash(fresh.did, "abc"))},
		{"did": cust.did, "code": "k7q2 9xf4", "public_key": claimKey, "proof": claimProof},
	}
	out := make([]string, 0, len(seeds)+2)
	for _, s := range seeds {
		b, _ := json.Marshal(s)
		out = append(out, string(b))
	}
	return append(out, `{"did":"did:cc:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","DID":1}`, `{"proposal":18446744073709551615}`)
}

// FuzzHandlers feeds arbitrary payload bytes to every handler and to
// SignerKey, as several signers. Nothing may panic; every error must be a
// *cc.Error of a specific, non-Internal kind; a rejected handler must leave
// the state untouched; and a handler must be deterministic.
func FuzzHandlers(f *testing.F) {
	base, signers := fuzzFixture(f)
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	handlers := Handlers()
	types := slices.Sorted(maps.Keys(handlers))
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, typ := range types {
			for _, a := range signers {
				ctx := cc.TxContext{ChainID: testChain, Height: 50, Time: genTime.Add(time.Hour), Signer: a.did, Type: typ}
				if _, err := SignerKey(base, a.did, typ, payload); err != nil {
					cctest.CheckError(t, err)
				}
				if kv := cctest.RunTwiceStrict(t, typ+" by "+a.name, handlers[typ], ctx, base, payload); kv != nil {
					checkReadable(t, kv)
				}
			}
		}
	})
}

// checkReadable fails unless every value this package stored decodes
// through the read API.
func checkReadable(t *testing.T, kv cc.Reader) {
	t.Helper()
	if _, err := ListOrgs(kv); err != nil {
		t.Fatal(err)
	}
	if _, err := ListProposals(kv); err != nil {
		t.Fatal(err)
	}
	if _, err := ListValidators(kv); err != nil {
		t.Fatal(err)
	}
	for _, k := range cctest.Keys(kv, prefixDID) {
		rec, err := GetDID(kv, cc.DID(k[len(prefixDID):]))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(Document(rec)); err != nil {
			t.Fatal(err)
		}
		if len(rec.PublicKey) != 32 || rec.KeyVersion < 1 {
			t.Fatalf("record %s has a bad key", rec.ID)
		}
		if _, err := ListDelegations(kv, rec.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := MembershipsOf(kv, rec.ID); err != nil {
			t.Fatal(err)
		}
	}
}

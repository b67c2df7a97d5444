package identity

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	cc "carechain"
)

// fuzzFixture is the state FuzzHandlers starts every call from: genesis,
// a patient with guardians and a pending recovery, a delegation, an open
// proposal and a recorded validator.
func fuzzFixture(t testing.TB) (*memKV, []*actor) {
	e := newEnv(t, 2)
	pat, ga, gb, fresh := newActor("pat"), newActor("ga"), newActor("gb"), newActor("fresh")
	e.mustSubmit(t, pat, TypePatientRegister, obj{"public_key": pat.key()})
	e.mustCreate(t, ga, cc.KindPractitioner)
	e.mustCreate(t, gb, cc.KindPractitioner)
	e.mustSubmit(t, pat, TypeGuardiansSet, obj{"guardians": []cc.DID{ga.did, gb.did}, "threshold": 2, "delay_blocks": 1})
	e.mustSubmit(t, ga, TypeRecoveryApprove, obj{"did": pat.did, "new_public_key": newActor("new").key()})
	e.mustSubmit(t, pat, TypeDelegateGrant, obj{"delegate": doc.did, "scopes": []string{"records.read"}, "expires": "2030-01-01T00:00:00Z"})
	e.mustSubmit(t, gov1, TypeGovPropose, obj{"action": "org.suspend", "params": obj{"id": "city-lab"}})
	v, _ := testKey("validator-1")
	if err := RecordValidators(e.kv, []cc.ValidatorUpdate{{PubKey: v, Power: 10}}); err != nil {
		t.Fatal(err)
	}
	// One signer per kind of standing keeps each execution cheap: a
	// governance member, an organization admin, a DID with guardians, a
	// pending recovery and a delegation, one of its guardians, and a DID
	// that is not on the ledger (the signer of creation seeds).
	return e.kv, []*actor{gov1, hadmin, pat, ga, fresh}
}

// fuzzSeeds are payloads that reach deep into the handlers.
func fuzzSeeds() []string {
	pat, ga, fresh := newActor("pat"), newActor("ga"), newActor("fresh")
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
	types := make([]string, 0, 16)
	for typ := range Handlers() {
		types = append(types, typ)
	}
	slices.Sort(types)
	handlers := Handlers()
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, typ := range types {
			for _, a := range signers {
				ctx := cc.TxContext{ChainID: testChain, Height: 50, Time: genTime.Add(time.Hour), Signer: a.did, Type: typ}
				if _, err := SignerKey(base, a.did, typ, payload); err != nil {
					checkFuzzError(t, typ, err)
				}
				j := &journalKV{memKV: base}
				res1, err1 := handlers[typ](ctx, j, payload)
				writes := j.rollback()
				if err1 != nil {
					checkFuzzError(t, typ, err1)
					if len(writes) != 0 {
						t.Fatalf("%s by %s rejected (%v) but wrote %v", typ, a.name, err1, writes)
					}
					continue
				}
				if len(res1.Events) == 0 || !json.Valid(res1.Data) {
					t.Fatalf("%s by %s succeeded without events or with bad data %q", typ, a.name, res1.Data)
				}
				kv1, kv2 := base.clone(), base.clone()
				res1, _ = handlers[typ](ctx, kv1, payload)
				res2, err2 := handlers[typ](ctx, kv2, payload)
				if err2 != nil || !reflect.DeepEqual(res1, res2) || kv1.diff(kv2) != "" {
					t.Fatalf("%s by %s is not deterministic: second run %v", typ, a.name, err2)
				}
				checkReadable(t, kv1)
			}
		}
	})
}

// checkFuzzError fails unless err is a *cc.Error of a specific kind other
// than Internal.
func checkFuzzError(t *testing.T, typ string, err error) {
	t.Helper()
	var ce *cc.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s: error %v (%T) is not a *cc.Error", typ, err, err)
	}
	if ce.Kind == 0 || ce.Kind == cc.Internal || ce.Kind == cc.Other {
		t.Fatalf("%s: error %v has kind %v", typ, err, ce.Kind)
	}
}

// checkReadable fails unless every value this package stored decodes
// through the read API.
func checkReadable(t *testing.T, kv *memKV) {
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
	for _, k := range kv.keys(prefixDID) {
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

// journalKV runs a handler directly on a memKV and remembers how to undo
// its writes, so a fuzz execution needs no copy of the state.
type journalKV struct {
	*memKV
	undo []journalEntry
}

// journalEntry is a key's value before its first write.
type journalEntry struct {
	key     string
	value   []byte
	existed bool
}

func (j *journalKV) remember(key string) {
	for _, u := range j.undo {
		if u.key == key {
			return
		}
	}
	v, ok := j.memKV.m[key]
	j.undo = append(j.undo, journalEntry{key, v, ok})
}

func (j *journalKV) Set(key string, value []byte) { j.remember(key); j.memKV.Set(key, value) }

func (j *journalKV) Delete(key string) { j.remember(key); j.memKV.Delete(key) }

// rollback restores the state and returns the keys that were written.
func (j *journalKV) rollback() []string {
	keys := make([]string, 0, len(j.undo))
	for i := len(j.undo) - 1; i >= 0; i-- {
		u := j.undo[i]
		if u.existed {
			j.memKV.m[u.key] = u.value
		} else {
			delete(j.memKV.m, u.key)
		}
		keys = append(keys, u.key)
	}
	j.undo = nil
	return keys
}

package consent

import (
	"crypto/sha256"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	cc "carechain"
	"carechain/internal/cctest"
	"carechain/ledger/store"
)

// fuzzFixture is the state FuzzConsentPayloads starts every call from: the
// fixture with a consent of pat, a proposed agreement (st-marys → uni) and
// an active one (st-marys → pha). It returns the state, the signers and the
// three ids.
func fuzzFixture(t testing.TB) (*store.Overlay, []*actor, []string) {
	e := newEnv(t)
	c := e.mustGrant(t, pat, pat, gpPermit)
	proposed := dataID(t, e.mustApply(t, hadmin, TypeAgreementPropose, obj{"provider": "st-marys", "recipient": "uni",
		"resource_types": []string{"Observation"}, "purposes": []string{"HRESEARCH"}, "opt_out": false}))
	active := dataID(t, e.mustApply(t, hadmin, TypeAgreementPropose, immPUBHLTH))
	e.mustApply(t, padmin, TypeAgreementSign, obj{"id": active})
	// The patient, a delegate who manages consents, an admin of each side
	// and a DID with no standing.
	return e.kv, []*actor{pat, parent, hadmin, padmin, stranger}, []string{c, proposed, active}
}

// fuzzSeeds are payloads that reach deep into the handlers.
func fuzzSeeds(ids []string) []string {
	seeds := []any{
		obj{"patient": pat.did, "provisions": []obj{gpPermit}},
		obj{"patient": pat.did, "provisions": []obj{{"type": "permit", "actors": []obj{{"org": "city-clinic", "role": "physician"}, {"care_team": []cc.DID{gp.did, nurse.did}}},
			"resource_types": []string{"Observation"}, "categories": []string{"PSY", labCat},
			"period": obj{"start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00+02:00"}, "data_period": obj{"end": "2025-01-01T00:00:00Z"},
			"condition": `request.purpose == "TREAT" && record.version > 0`}, {"type": "deny", "purposes": []string{"HMARKT"}}}},
		obj{"id": ids[0]},
		obj{"id": ids[1]},
		obj{"id": ids[2]},
		immPUBHLTH,
		obj{"provider": "pha", "recipient": "st-marys", "resource_types": []string{"Condition"}, "categories": []string{"notifiable"},
			"purposes": []string{"PUBHLTH", "POPHLTH"}, "opt_out": false, "condition": `"pha" in request.orgs`, "terms": "DSA-42"},
	}
	out := make([]string, 0, len(seeds)+3)
	for _, s := range seeds {
		b, _ := json.Marshal(s)
		out = append(out, string(b))
	}
	return append(out,
		`{"patient":"`+string(pat.did)+`","provisions":[{"type":"permit","Type":"deny"}]}`,
		`{"patient":"`+string(pat.did)+`","provisions":[{"type":"permit","period":{"start":"0000-01-01T00:00:00+01:00"}}]}`,
		`{"id":"`+ids[0]+`"}{}`)
}

// FuzzConsentPayloads feeds arbitrary payload bytes to every handler as
// several signers. Nothing may panic; every error must be a *cc.Error of a
// specific, non-Internal kind; a rejected handler must leave the state
// untouched; a handler that succeeds must emit an event and JSON data, be
// deterministic, and leave state the getters and Load can read.
func FuzzConsentPayloads(f *testing.F) {
	base, signers, ids := fuzzFixture(f)
	for _, s := range fuzzSeeds(ids) {
		f.Add([]byte(s))
	}
	handlers := Handlers()
	types := slices.Sorted(maps.Keys(handlers))
	f.Fuzz(func(t *testing.T, payload []byte) {
		hash := sha256.Sum256(payload)
		for _, typ := range types {
			for _, a := range signers {
				ctx := cc.TxContext{ChainID: "carechain-test", Height: 50, Time: genTime.Add(time.Hour), Signer: a.did, Type: typ, TxHash: hash[:]}
				if kv := cctest.RunTwiceStrict(t, typ+" by "+a.name, handlers[typ], ctx, base, payload); kv != nil {
					checkReadable(t, kv)
				}
			}
		}
	})
}

// checkReadable fails unless everything this package stored reads back
// through the getters and Load, and every stored consent and agreement
// passes the checks its transaction made.
func checkReadable(t *testing.T, kv cc.Reader) {
	t.Helper()
	for _, p := range []*actor{pat, pat2} {
		cs, err := ListConsents(kv, p.did)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if _, err := checkProvisions("check", c.Provisions); err != nil {
				t.Fatalf("stored consent %s: %v", c.ID, err)
			}
		}
		req := ask(officer, officerOrgs, "PUBHLTH", with(imm, func(r *cc.RecordAnchor) { r.Patient = p.did }))
		facts, err := Load(kv, req)
		if err != nil {
			t.Fatal(err)
		}
		Can(req, facts)
	}
	as, err := ListAgreements(kv)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if a.Provider == a.Recipient || len(a.ResourceTypes) == 0 || len(a.Purposes) == 0 {
			t.Fatalf("stored agreement %+v", a)
		}
		if a.Condition != "" {
			if err := CompileCondition(a.Condition); err != nil {
				t.Fatalf("stored agreement %s: %v", a.ID, err)
			}
		}
	}
}

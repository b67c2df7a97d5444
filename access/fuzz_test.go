package access

import (
	"encoding/json"
	"slices"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

// fuzzFixture is the state FuzzAccessPayloads starts every call from: the
// test fixture, pat's consent for clindoc and er's open window for pat2.
func fuzzFixture(t testing.TB) *env {
	e := newEnv(t)
	e.grant(t, pat, permitClindoc)
	e.declare(t, er, pat2, 120)
	e.next()
	return e
}

// accessSeeds are payloads that reach deep into the handlers when run on
// fuzzFixture; they are also the files under
// testdata/fuzz/FuzzAccessPayloads. e is not changed.
func accessSeeds(e *env) []string {
	e = e.clone()
	sign := func(a, patient *actor, purpose string, ids ...string) SignedRead {
		s, _ := SignRead(e.request(a, patient, purpose, ids...), a.priv)
		return s
	}
	windows, _ := BreakGlassWindows(e.kv, pat2.did)
	windowID := "bg-0000000000000000"
	if len(windows) > 0 {
		windowID = windows[0].ID
	}
	seeds := []any{
		obj{"events": []obj{logEv(sign(clindoc, pat, "TREAT", "Observation/o1"), "Observation/o1")}},
		obj{"events": []obj{
			logEv(sign(pat, pat, "PATRQT", "Observation/o1", "Condition/c1"), "Observation/o1", "Condition/c1"),
			logEv(sign(clindoc, pat2, "TREAT", "Observation/q1"), "Observation/q1"),
		}},
		obj{"events": []obj{logEv(sign(er, pat2, "ETREAT", "DiagnosticReport/d2"), "DiagnosticReport/d2")}},
		obj{"events": []obj{{"read": sign(doc, pat, "TREAT", "Observation/o2"), "records": []string{"Observation/o2"}, "basis": "author-org", "ref": "x"}}},
		obj{"patient": pat.did, "org": "st-marys", "reason_code": "unconscious", "minutes": 30},
		obj{"patient": pat.did, "org": "st-marys", "reason_code": "other", "reason": "trauma bay"},
		obj{"id": windowID, "outcome": ReviewAccepted, "note": "justified"},
		obj{"id": windowID, "outcome": ReviewMisuse},
	}
	out := make([]string, 0, len(seeds)+2)
	for _, s := range seeds {
		b, _ := json.Marshal(s)
		out = append(out, string(b))
	}
	return append(out,
		`{"events":[{"read":{"request":{},"sig":""},"records":["Observation/o1"]}]}`,
		`{"events":[{"read":{"request":{"action":"read"},"sig":"AA"},"records":["Observation/o1"],"Records":[]}]}`)
}

// FuzzAccessPayloads feeds arbitrary payload bytes to every access
// handler as several signers. Nothing may panic; every error must be a
// *cc.Error of a specific, non-Internal kind; a rejected transaction must
// leave the state untouched; and a handler must be deterministic.
func FuzzAccessPayloads(f *testing.F) {
	base := fuzzFixture(f)
	for _, s := range accessSeeds(base) {
		f.Add([]byte(s))
	}
	types := []string{TypeLog, TypeBreakGlassDeclare, TypeBreakGlassReview}
	handlers := Handlers()
	signers := []*actor{node, labnode, er, po, clindoc}
	ctxs := map[string]cc.TxContext{}
	for _, typ := range types {
		for _, s := range signers {
			ctxs[typ+s.name] = base.ctx(s.did, typ)
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, typ := range types {
			for _, s := range signers {
				ctx := ctxs[typ+s.name]
				cctest.RunTwice(t, typ+" by "+s.name, handlers[typ], ctx, base.kv, payload)
			}
		}
	})
}

func TestAccessSeedsAreCorpus(t *testing.T) {
	corpus := cctest.ReadCorpus(t, "testdata/fuzz/FuzzAccessPayloads")
	for i, s := range accessSeeds(fuzzFixture(t)) {
		if !slices.Contains(corpus, s) {
			t.Errorf("seed %d is not in testdata/fuzz/FuzzAccessPayloads: %s", i, s)
		}
	}
}

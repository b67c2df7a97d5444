package records

import (
	"encoding/json"
	"slices"
	"testing"

	"carechain/internal/cctest"
)

// recordSeeds are payloads that reach deep into the handlers; they are
// also the files under testdata/fuzz/FuzzRecordPayloads.
func recordSeeds() []string {
	seeds := []any{
		anchors(anchor("Observation/new", nil)),
		anchors(anchor("Observation/o1", obj{"version": 3, "prev_hash": b64(hash("o1v2")), "content_hash": b64(hash("o1v3"))})),
		anchors(anchor("Practitioner/p9", obj{"type": "Practitioner", "patient": "", "node": "node-1"})),
		anchors(anchor("Observation/o2", nil), anchor("Observation/o2", nil)),
		obj{"patient": pat.did, "ids": []string{"Observation/o1", "Condition/c1"}},
		obj{"patient": pat.did, "all": true},
		obj{"patient": pat2.did, "ids": []string{"Observation/q1"}},
	}
	out := make([]string, 0, len(seeds)+3)
	for _, s := range seeds {
		b, _ := json.Marshal(s)
		out = append(out, string(b))
	}
	return append(out,
		`{"anchors":[{"ID":"Observation/x","id":"Observation/y"}]}`,
		`{"anchors":[{"id":"Observation/x","version":9223372036854775807}]}`,
		`{"patient":"","ids":[],"all":false}`)
}

// FuzzRecordPayloads feeds arbitrary payload bytes to every records
// handler as several signers. Nothing may panic; every error must be a
// *cc.Error of a specific, non-Internal kind; a rejected transaction must
// leave the state untouched; and a handler must be deterministic.
func FuzzRecordPayloads(f *testing.F) {
	base := erasureEnv(f)
	for _, s := range recordSeeds() {
		f.Add([]byte(s))
	}
	types := []string{TypeAnchor, TypeErase}
	handlers := Handlers()
	signers := []*actor{doc, node, pat, deleg, labdoc}
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, typ := range types {
			for _, s := range signers {
				ctx := base.ctx(s.did, typ)
				cctest.RunTwice(t, typ+" by "+s.name, handlers[typ], ctx, base.kv, payload)
			}
		}
	})
}

func TestRecordSeedsAreCorpus(t *testing.T) {
	corpus := cctest.ReadCorpus(t, "testdata/fuzz/FuzzRecordPayloads")
	for i, s := range recordSeeds() {
		if !slices.Contains(corpus, s) {
			t.Errorf("seed %d is not in testdata/fuzz/FuzzRecordPayloads: %s", i, s)
		}
	}
}

package records

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	cc "carechain"
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
				kv1, kv2 := base.kv.clone(), base.kv.clone()
				res1, err1 := handlers[typ](ctx, kv1, payload)
				res2, err2 := handlers[typ](ctx, kv2, payload)
				if d := kv1.diff(kv2); d != "" || !reflect.DeepEqual(res1, res2) || (err1 == nil) != (err2 == nil) {
					t.Fatalf("%s by %s is not deterministic:\n%s", typ, s.name, d)
				}
				if err1 == nil {
					continue
				}
				var ce *cc.Error
				if !errors.As(err1, &ce) {
					t.Fatalf("%s: error %v (%T) is not a *cc.Error", typ, err1, err1)
				}
				if ce.Kind == cc.Internal || ce.Kind == cc.Other || ce.Kind == 0 {
					t.Fatalf("%s: error %v has kind %v", typ, err1, ce.Kind)
				}
				if d := base.kv.diff(kv1); d != "" {
					t.Fatalf("%s rejected (%v) but wrote:\n%s", typ, err1, d)
				}
			}
		}
	})
}

func TestRecordSeedsAreCorpus(t *testing.T) {
	corpus := readCorpus(t, "testdata/fuzz/FuzzRecordPayloads")
	for i, s := range recordSeeds() {
		if !slices.Contains(corpus, s) {
			t.Errorf("seed %d is not in testdata/fuzz/FuzzRecordPayloads: %s", i, s)
		}
	}
}

// readCorpus returns the []byte values of the fuzz corpus files in dir.
func readCorpus(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", dir, err)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		body, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "go test fuzz v1\n[]byte(")
		body, ok2 := strings.CutSuffix(body, ")")
		v, err := strconv.Unquote(body)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s is not a go test fuzz v1 []byte file", f)
		}
		out = append(out, v)
	}
	return out
}

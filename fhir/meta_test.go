package fhir

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWithMeta(t *testing.T) {
	at := time.Date(2026, 11, 30, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name, in string
		want     map[string]any // meta
	}{
		{"no meta", `{"resourceType":"Patient","id":"p"}`, map[string]any{"versionId": "3", "lastUpdated": "2026-11-30T09:30:00Z"}},
		{"security labels kept, old version replaced", `{"resourceType":"Condition","subject":{"reference":"Patient/p"},"meta":{"versionId":"1","security":[{"code":"PSY"}]}}`,
			map[string]any{"versionId": "3", "lastUpdated": "2026-11-30T09:30:00Z", "security": []any{map[string]any{"code": "PSY"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got struct {
				Meta map[string]any `json:"meta"`
			}
			out := WithMeta([]byte(tt.in), 3, at)
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got.Meta)
			w, _ := json.Marshal(tt.want)
			if string(g) != string(w) {
				t.Errorf("meta = %s, want %s", g, w)
			}
			if _, err := Parse(out); err != nil {
				t.Errorf("the result does not validate: %v", err)
			}
		})
	}
	if got := string(WithMeta([]byte(`[1]`), 1, at)); got != `[1]` {
		t.Errorf("a non-object changed: %s", got)
	}
}

// TestWithMetaSplice checks that WithMeta (spliceMeta, falling back to
// withMetaDecoded) gives exactly the bytes of decoding and re-encoding.
func TestWithMetaSplice(t *testing.T) {
	at := time.Date(2026, 11, 30, 9, 30, 0, 123456789, time.FixedZone("x", 3600))
	tests := []struct{ name, in string }{
		{"no meta", `{"resourceType":"Patient","id":"p"}`},
		{"meta first", `{"meta":{"versionId":"1"},"resourceType":"Patient","id":"p"}`},
		{"meta last", `{"resourceType":"Patient","id":"p","meta":{"security":[{"code":"PSY"}],"versionId":"1"}}`},
		{"meta with tags and whitespace", "{ \"resourceType\" : \"Observation\",\n \"meta\" : { \"tag\" : [ {\"code\":\"a b\"} ] , \"lastUpdated\":\"2020-01-01T00:00:00Z\" },\n\t\"valueQuantity\": {\"value\": 1.50e3} }\n"},
		{"meta null", `{"resourceType":"Patient","meta":null}`},
		{"meta not an object", `{"resourceType":"Patient","meta":[1]}`},
		{"meta a string", `{"resourceType":"Patient","meta":"x"}`},
		{"repeated member", `{"id":"a","resourceType":"Patient","id":"b","meta":{"versionId":"9"},"meta":{"tag":[]}}`},
		{"html characters", `{"resourceType":"Observation","note":[{"text":"a < b && c > d"}],"z":"\u2028"}`},
		{"raw U+2028", "{\"resourceType\":\"Observation\",\"note\":\"a\u2028b\u2029c\"}"},
		{"escapes kept", `{"resourceType":"Observation","note":"tab\tquote\" back\\ \u00e9 é"}`},
		{"escaped member name", `{"resourceType":"Patient","\u0069d":"p"}`},
		{"html in a member name", `{"resourceType":"Patient","a<b":1}`},
		{"non-ASCII member name", `{"resourceType":"Patient","é":1}`},
		{"numbers and literals", `{"b":true,"a":-0.5e-3,"c":null,"d":false,"e":[1,[2,{"x":[]}],"]}"],"f":{}}`},
		{"empty object", `{}`},
		{"only meta", `{"meta":{}}`},
		{"names around meta", `{"meta0":1,"met":2,"meta":{"profile":["p"]},"mets":3,"Meta":4}`},
		{"invalid UTF-8 in a value", "{\"resourceType\":\"Patient\",\"x\":\"\xff\"}"},
		{"array", `[1]`},
		{"string", `"x"`},
		{"null", `null`},
		{"invalid", `{"resourceType":`},
		{"trailing data", `{"a":1} {"b":2}`},
		{"empty", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, upd := range []time.Time{at, {}} {
				want := withMetaDecoded([]byte(tt.in), 7, upd)
				got := WithMeta([]byte(tt.in), 7, upd)
				if string(got) != string(want) {
					t.Errorf("WithMeta(%q, updated %v) =\n%s\nwant\n%s", tt.in, upd, got, want)
				}
			}
		})
	}
}

// TestWithMetaSpliceSynthea compares the two ways over every resource of
// the shared Synthea bundles, as stored (indented as in the files) and
// compact.
func TestWithMetaSpliceSynthea(t *testing.T) {
	dir := testdataDir(t, "synthea", "patients")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Skipf("no bundles in %s", dir)
	}
	at := time.Date(2026, 11, 30, 9, 30, 0, 0, time.UTC)
	n := 0
	for _, f := range files[:min(3, len(files))] {
		resources := bundleResources(t, mustRead(t, f))
		for _, res := range resources {
			var compact bytes.Buffer
			if err := json.Compact(&compact, res); err != nil {
				t.Fatal(err)
			}
			for _, in := range [][]byte{res, compact.Bytes()} {
				want := withMetaDecoded(in, 2, at)
				if got := WithMeta(in, 2, at); !bytes.Equal(got, want) {
					t.Fatalf("%s: WithMeta =\n%s\nwant\n%s", filepath.Base(f), got, want)
				}
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no resources compared")
	}
}

// FuzzWithMeta checks that spliceMeta and withMetaDecoded agree on any
// input.
func FuzzWithMeta(f *testing.F) {
	for _, s := range []string{`{"resourceType":"Patient","id":"p"}`, `{"meta":{"tag":[]},"a":"<&>"}`, `{"a":1,"a":2}`, "{\"x\" : [ 1 , \"\u2028\" ] }", `[]`, `{"\u0061":1}`} {
		f.Add([]byte(s), 3)
	}
	at := time.Date(2026, 11, 30, 9, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, in []byte, version int) {
		want := withMetaDecoded(in, version, at)
		if got := WithMeta(in, version, at); !bytes.Equal(got, want) {
			t.Errorf("WithMeta(%q) = %q, want %q", in, got, want)
		}
	})
}

func BenchmarkWithMeta(b *testing.B) {
	dir := testdataDir(b, "synthea", "patients")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		b.Skip("no bundles")
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		b.Fatal(err)
	}
	var bundle struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(raw, &bundle); err != nil {
		b.Fatal(err)
	}
	var res [][]byte
	for _, e := range bundle.Entry {
		var c bytes.Buffer
		json.Compact(&c, e.Resource)
		res = append(res, c.Bytes())
	}
	at := time.Date(2026, 11, 30, 9, 30, 0, 0, time.UTC)
	for _, bc := range []struct {
		name string
		fn   func([]byte, int, time.Time) []byte
	}{{"splice", WithMeta}, {"decoded", withMetaDecoded}} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				bc.fn(res[i%len(res)], 2, at)
			}
		})
	}
}

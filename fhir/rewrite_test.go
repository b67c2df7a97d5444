package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// rewriteTargets resolves the fullUrls of entries to "Type/id-N" and every
// conditional reference to an existing resource.
func rewriteTargets(entries []Entry) *targets {
	t := newTargets(func(typ, identifier string) (string, bool) { return "found-" + typ, true })
	for i, e := range entries {
		if e.FullURL != "" && e.Resource != nil {
			t.byFullURL[e.FullURL] = fmt.Sprintf("%s/id-%d", e.Resource.Type, i)
		}
	}
	return t
}

// checkRewriteFast compares rewriteFast with the general path on raw: when
// the fast path takes it, the general path must give the same bytes and no
// issue. It reports whether the fast path took it.
func checkRewriteFast(t *testing.T, tg *targets, raw []byte, id string) bool {
	t.Helper()
	fast, top, ok := tg.rewriteFast(raw, id)
	if !ok {
		return false
	}
	general, issues := tg.rewriteGeneral(raw, id, "Bundle.entry[0].resource")
	if issues != nil {
		t.Fatalf("fast path took %q, general path found %v", raw, issues)
	}
	if !bytes.Equal(fast, general) {
		t.Fatalf("rewrite of %q:\nfast    %s\ngeneral %s", raw, fast, general)
	}
	var want map[string]json.RawMessage
	if err := unmarshal(general, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(top, want) {
		t.Fatalf("top-level members of %s:\nfast    %q\ndecoded %q", general, top, want)
	}
	return true
}

// TestRewriteFastSynthea: every resource of every Synthea bundle rewrites
// to the same bytes on both paths, and the fast path takes nearly all.
func TestRewriteFastSynthea(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testdataDir(t, "synthea"), "*", "*.json"))
	if len(files) == 0 {
		t.Fatal("no Synthea bundles")
	}
	total, fast := 0, 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseBundleForResolve(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		tg := rewriteTargets(b.Entries)
		for i, e := range b.Entries {
			total++
			if checkRewriteFast(t, tg, e.Resource.JSON, fmt.Sprintf("id-%d", i)) {
				fast++
			}
		}
	}
	t.Logf("fast path: %d of %d resources", fast, total)
	if fast < total*9/10 {
		t.Errorf("fast path took %d of %d resources, want at least 90 %%", fast, total)
	}
}

// TestRewriteFastDeclines: what is not plain is left to the general path.
func TestRewriteFastDeclines(t *testing.T) {
	tg := rewriteTargets([]Entry{{FullURL: "urn:uuid:a", Resource: &Resource{Type: "Patient"}}})
	tests := []struct {
		name, raw string
		fast      bool
	}{
		{"plain", `{"resourceType":"Observation","subject":{"reference":"urn:uuid:a"},"valueQuantity":{"value":1.50}}`, true},
		{"whitespace", " {\n \"b\" : [ 1 , true , null ] ,\t\"a\":{} }\r\n", true},
		{"id replaced", `{"id":{"x":[1]},"resourceType":"Patient"}`, true},
		{"non-ASCII", `{"resourceType":"Patient","name":[{"family":"Müller"}]}`, true},
		{"escape", `{"resourceType":"Patient","text":{"div":"a\"b"}}`, false},
		{"escaped key", `{"resource\u0054ype":"Patient"}`, false},
		{"control character", "{\"resourceType\":\"Pa\ttient\"}", false},
		{"line separator", "{\"resourceType\":\"Patient\",\"x\":\"a\u2028b\"}", false},
		{"invalid UTF-8", "{\"resourceType\":\"Patient\",\"x\":\"a\xffb\"}", false},
		{"duplicate key", `{"resourceType":"Patient","a":1,"a":2}`, false},
		{"unresolved reference", `{"resourceType":"Observation","subject":{"reference":"urn:uuid:missing"}}`, false},
		{"array at the top", `[{"resourceType":"Patient"}]`, false},
		{"trailing data", `{"resourceType":"Patient"} x`, false},
		{"leading zero", `{"resourceType":"Patient","x":01}`, false},
		{"truncated", `{"resourceType":"Patient","x":[1,`, false},
		{"deep", `{"x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkRewriteFast(t, tg, []byte(tt.raw), "new-id"); got != tt.fast {
				t.Errorf("fast path took it: %v, want %v", got, tt.fast)
			}
		})
	}
}

// FuzzRewriteFastMatchesGeneral: whatever the fast path rewrites, the
// general path rewrites to the same bytes without an issue.
func FuzzRewriteFastMatchesGeneral(f *testing.F) {
	for _, s := range []string{
		`{"resourceType":"Observation","subject":{"reference":"urn:uuid:a"},"valueQuantity":{"value":1.50e+3}}`,
		`{"id":"x","b":[{"reference":"Patient?identifier=urn:x|1"},{"reference":5}],"a":"é"}`,
		" {\"z\" : [ -0 , false ] , \"y\":{ } }",
		`{"resourceType":"Patient","a":"\u00e9","a2":"<&>"}`,
	} {
		f.Add([]byte(s))
	}
	tg := rewriteTargets([]Entry{{FullURL: "urn:uuid:a", Resource: &Resource{Type: "Patient"}}})
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkRewriteFast(t, tg, raw, "id-1")
	})
}

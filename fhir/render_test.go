package fhir

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares a rendering, indented, with testdata/name; -update
// rewrites the file instead.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("rendering is not JSON: %v", err)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./fhir -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("rendering differs from %s (run with -update after checking):\n%s", path, pretty.Bytes())
	}
}

// mustValid checks that a rendering parses as R4 with the package's
// validating parser, is of type typ, and keeps the R4 invariants the
// library does not check (see invariantErrors).
func mustValid(t *testing.T, b []byte, typ string) map[string]any {
	t.Helper()
	r, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, b)
	}
	if r.Type != typ {
		t.Fatalf("Type = %q, want %q", r.Type, typ)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, e := range invariantErrors(doc) {
		t.Errorf("invariant: %s", e)
	}
	if t.Failed() {
		t.Logf("%s", b)
	}
	return doc
}

var extensionPath = regexp.MustCompile(`(^|\.)(modifierE|e)xtension\[\d+\]$`)

// invariantErrors checks the FHIRPath invariants of R4 that the renderings
// could break and google/fhir/go does not evaluate: ele-1 (no empty
// element), per-1 (start <= end), txt-1/txt-2 (the narrative is a
// non-empty XHTML div; its markup is not checked further), dom-2/dom-3 (contained resources hold
// none and are referenced), ext-1 (an extension has a value or
// extensions, not both), ppc-1..5 (Consent), sev-1 (AuditEvent) and
// bdl-1..5, bdl-7, bdl-8 (Bundle).
func invariantErrors(doc map[string]any) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	var refs []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if len(v) == 0 {
				fail("ele-1: %s is empty", path)
			}
			if s, ok := v["start"].(string); ok {
				if e, ok := v["end"].(string); ok {
					st, _ := ParseTime(s)
					en, _ := ParseTime(e)
					if en.Before(st) {
						fail("per-1: %s ends before it starts", path)
					}
				}
			}
			if extensionPath.MatchString(path) {
				values := 0
				for k := range v {
					if strings.HasPrefix(k, "value") {
						values++
					}
				}
				_, nested := v["extension"]
				if (values == 1) == nested || values > 1 {
					fail("ext-1: %s needs exactly one of a value or extensions", path)
				}
			}
			for k, x := range v {
				if k == "reference" {
					if s, ok := x.(string); ok {
						refs = append(refs, s)
					}
				}
				walk(path+"."+k, x)
			}
		case []any:
			if len(v) == 0 {
				fail("ele-1: %s is an empty array", path)
			}
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		case string:
			if v == "" {
				fail("ele-1: %s is an empty string", path)
			}
		case nil:
			fail("ele-1: %s is null", path)
		}
	}
	walk(fmt.Sprint(doc["resourceType"]), doc)

	if div, ok := at(doc, "text", "div").(string); ok {
		var x struct {
			XMLName xml.Name
			Text    string `xml:",chardata"`
			Inner   string `xml:",innerxml"`
		}
		switch err := xml.Unmarshal([]byte(div), &x); {
		case err != nil:
			fail("txt-1: the narrative is not XHTML: %v", err)
		case x.XMLName.Local != "div" || x.XMLName.Space != "http://www.w3.org/1999/xhtml":
			fail("txt-1: the narrative root is %v, want an XHTML div", x.XMLName)
		case strings.TrimSpace(x.Inner) == "":
			fail("txt-2: the narrative is empty")
		}
	}

	for i, c := range asList(doc["contained"]) {
		m := c.(map[string]any)
		if _, ok := m["contained"]; ok {
			fail("dom-2: contained[%d] contains resources", i)
		}
		if !contains(refs, "#"+fmt.Sprint(m["id"])) {
			fail("dom-3: contained[%d] (#%v) is not referenced", i, m["id"])
		}
	}
	switch doc["resourceType"] {
	case "Consent":
		if doc["policy"] == nil && doc["policyRule"] == nil {
			fail("ppc-1: neither policy nor policyRule")
		}
		for _, c := range asList(asMap(doc["scope"])["coding"]) {
			code := asMap(c)["code"]
			if (code == "patient-privacy" || code == "research" || code == "adr" || code == "treatment") && doc["patient"] == nil {
				fail("ppc-2..5: scope %v without a patient", code)
			}
		}
	case "AuditEvent":
		for i, e := range asList(doc["entity"]) {
			if m := asMap(e); m["name"] != nil && m["query"] != nil {
				fail("sev-1: entity[%d] has a name and a query", i)
			}
		}
	case "Bundle":
		typ := doc["type"]
		search := typ == "searchset"
		if doc["total"] != nil && !search && typ != "history" {
			fail("bdl-1: total in a %v", typ)
		}
		wantRequest := typ == "batch" || typ == "transaction" || typ == "history"
		wantResponse := typ == "batch-response" || typ == "transaction-response" || typ == "history"
		seen := map[string]bool{}
		for i, e := range asList(doc["entry"]) {
			m := asMap(e)
			if m["search"] != nil && !search {
				fail("bdl-2: entry[%d] has a search in a %v", i, typ)
			}
			if (m["request"] != nil) != wantRequest {
				fail("bdl-3: entry[%d] request in a %v", i, typ)
			}
			if (m["response"] != nil) != wantResponse {
				fail("bdl-4: entry[%d] response in a %v", i, typ)
			}
			if m["resource"] == nil && m["request"] == nil && m["response"] == nil {
				fail("bdl-5: entry[%d] has no resource, request or response", i)
			}
			if u, ok := m["fullUrl"].(string); ok {
				if strings.Contains(u, "/_history/") {
					fail("bdl-8: entry[%d] fullUrl is version specific", i)
				}
				if seen[u] && typ != "history" {
					fail("bdl-7: entry[%d] fullUrl %s is not unique", i, u)
				}
				seen[u] = true
			}
		}
	}
	return errs
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// at follows a path of keys and indexes through decoded JSON.
func at(v any, path ...any) any {
	for _, p := range path {
		switch p := p.(type) {
		case string:
			v = asMap(v)[p]
		case int:
			l := asList(v)
			if p >= len(l) {
				return nil
			}
			v = l[p]
		}
	}
	return v
}

func TestSafeID(t *testing.T) {
	long := strings.Repeat("a", 65)
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"cns-0a1b2c", "cns-0a1b2c"},
		{"acc-" + strings.Repeat("f", 32), "acc-" + strings.Repeat("f", 32)},
		{"A.b-9", "A.b-9"},
		{strings.Repeat("a", 64), strings.Repeat("a", 64)},
		{"a:b", "a-b-"},
		{"a/b", "a-b-"},
		{long, strings.Repeat("a", 47) + "-"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := SafeID(tt.in)
		if !strings.HasPrefix(got, tt.want) || (idPattern.MatchString(tt.in) || tt.in == "") && got != tt.want {
			t.Errorf("SafeID(%q) = %q, want %q…", tt.in, got, tt.want)
		}
		if tt.in != "" && !idPattern.MatchString(got) {
			t.Errorf("SafeID(%q) = %q is not an R4 id", tt.in, got)
		}
		if prev, dup := seen[got]; dup && prev != tt.in {
			t.Errorf("SafeID(%q) = SafeID(%q) = %q", tt.in, prev, got)
		}
		seen[got] = tt.in
		if again := SafeID(got); again != got {
			t.Errorf("SafeID is not idempotent on %q: %q", got, again)
		}
	}
}

func TestInstant(t *testing.T) {
	tests := []struct {
		in   time.Time
		want string
		ok   bool
	}{
		{time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), "2024-05-01T10:00:00Z", true},
		{time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.FixedZone("CEST", 2*3600)), "2024-05-01T10:00:00.123456Z", true},
		{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "", false},
		{time.Time{}, "0001-01-01T00:00:00Z", true},
	}
	for _, tt := range tests {
		got, ok := instant(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("instant(%v) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

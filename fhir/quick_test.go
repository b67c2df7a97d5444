package fhir

import (
	"encoding/json"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// quickCorpus returns every resource this package's tests know: each
// Synthea resource as published and as Resolve rewrites it for storage
// (typed references, server ids), the provider directories, and every
// official R4 example (with the resources of example bundles).
func quickCorpus(t testing.TB) (synthea, examples [][]byte) {
	t.Helper()
	syn := testdataDir(t, "synthea")
	files, _ := filepath.Glob(filepath.Join(syn, "patients", "*.json"))
	dirs, _ := filepath.Glob(filepath.Join(syn, "*.json"))
	n := 0
	newID := func(string) string { n++; return "id-" + strconv.Itoa(n) }
	// Every conditional reference resolves to some stored provider.
	lookup := func(typ, ident string) (string, bool) {
		if strings.HasPrefix(ident, fullURLSystem) {
			return "", false
		}
		return "p" + strconv.Itoa(len(ident)), true
	}
	for _, f := range append(dirs, files...) {
		raw := mustRead(t, f)
		for _, r := range bundleResources(t, raw) {
			synthea = append(synthea, r)
		}
		bu := mustParseBundle(t, raw)
		res, err := Resolve(bu, lookup, newID)
		if err != nil {
			t.Fatalf("Resolve %s: %v", f, err)
		}
		for _, e := range res.Entries {
			if e.Resource != nil {
				synthea = append(synthea, e.Resource.JSON)
			}
		}
	}
	exs, _ := filepath.Glob(filepath.Join(testdataDir(t, "fhir-r4-examples"), "*.json"))
	for _, f := range exs {
		raw := mustRead(t, f)
		examples = append(examples, raw)
		if strings.Contains(string(raw[:min(len(raw), 200)]), `"Bundle"`) {
			for _, r := range bundleResources(t, raw) {
				if r != nil {
					examples = append(examples, r)
				}
			}
		}
	}
	return synthea, examples
}

// TestQuickValidAgrees holds quickValid to the library on every known
// resource: whatever it accepts, the library accepts without an error;
// and it does accept almost every Synthea resource (else ingest would not
// be faster).
func TestQuickValidAgrees(t *testing.T) {
	synthea, examples := quickCorpus(t)
	for name, corpus := range map[string][][]byte{"synthea": synthea, "examples": examples} {
		accepted, libOK := 0, 0
		for i, r := range corpus {
			q := quickValid(r)
			lib := !hasErrors(libraryIssues(r))
			if q && !lib {
				t.Errorf("%s[%d]: quickValid accepts what the library rejects (%v):\n%.400s", name, i, libraryIssues(r), r)
			}
			if q {
				accepted++
			}
			if lib {
				libOK++
			}
		}
		t.Logf("%s: %d resources, library accepts %d, quickValid vouches for %d", name, len(corpus), libOK, accepted)
		if name == "synthea" && accepted*100 < libOK*99 {
			t.Errorf("quickValid vouches for %d of the %d Synthea resources the library accepts, want ≥ 99 %%", accepted, libOK)
		}
	}
}

// TestQuickValidDeclines edits a valid resource in ways quickValid must not
// vouch for: each is either invalid (the library says so) or outside what
// quickValid follows.
func TestQuickValidDeclines(t *testing.T) {
	base := `{"resourceType":"Observation","id":"o1","status":"final",` +
		`"code":{"coding":[{"system":"http://loinc.org","code":"8302-2","display":"Body Height"}]},` +
		`"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2020-01-02T03:04:05-05:00",` +
		`"issued":"2020-01-02T03:04:05.123-05:00","valueQuantity":{"value":180.5,"unit":"cm"}}`
	if !quickValid([]byte(base)) {
		t.Fatalf("quickValid declines the base resource; library: %v", libraryIssues([]byte(base)))
	}
	tests := []struct {
		name, from, to string
		libRejects     bool
	}{
		{"unknown field", `"status":"final"`, `"status":"final","colour":"red"`, true},
		{"missing required", `"status":"final",`, ``, true},
		{"bad code", `"status":"final"`, `"status":"done"`, true},
		{"code case", `"status":"final"`, `"status":"FINAL"`, false},
		{"two choices", `"valueQuantity"`, `"valueString":"x","valueQuantity"`, true},
		{"duplicate key", `"status":"final"`, `"status":"final","status":"final"`, false},
		{"upper-case key", `"status":"final"`, `"Status":"final"`, false},
		{"primitive extension", `"status":"final"`, `"status":"final","_status":{"extension":[{"url":"http://x","valueString":"y"}]}`, false},
		{"bad reference type", `"Patient/p1"`, `"Medication/m1"`, true},
		{"reference to a type only STU3 has", `"Patient/p1"`, `"ProcessRequest/x"`, true},
		{"bad date", `2020-01-02T03`, `2020-02-30T03`, true},
		{"hour 24", `T03:04:05-05:00"`, `T24:04:05-05:00"`, true},
		{"zone out of range", `05-05:00","issued`, `05-15:00","issued`, true},
		{"no zone", `03:04:05-05:00","issued`, `03:04:05","issued`, true},
		{"minutes only", `03:04:05-05:00","issued`, `03:04-05:00","issued`, true},
		{"instant without time", `"issued":"2020-01-02T03:04:05.123-05:00"`, `"issued":"2020-01-02"`, true},
		{"decimal as string", `180.5`, `"180.5"`, true},
		{"decimal exponent", `180.5`, `1.805e2`, false},
		{"decimal leading zero", `180.5`, `0180.5`, true},
		{"control character", `"unit":"cm"`, `"unit":"c\u0001m"`, true},
		{"null", `"unit":"cm"`, `"unit":null`, true},
		{"empty narrative", `"status":"final"`, `"status":"final","text":{"status":"generated","div":""}`, true},
		{"empty object", `"valueQuantity":{"value":180.5,"unit":"cm"}`, `"valueQuantity":{}`, false},
		{"empty array", `"coding":[{"system":"http://loinc.org","code":"8302-2","display":"Body Height"}]`, `"coding":[]`, false},
		{"not an array", `"coding":[{"system":"http://loinc.org","code":"8302-2","display":"Body Height"}]`, `"coding":{"system":"http://loinc.org"}`, true},
		{"array for a single", `"subject":{"reference":"Patient/p1"}`, `"subject":[{"reference":"Patient/p1"}]`, true},
		{"code with double space", `"code":"8302-2"`, `"code":"8302  2"`, true},
		{"code with leading space", `"code":"8302-2"`, `"code":" 8302-2"`, true},
		{"bad id", `"id":"o1"`, `"id":"o_1"`, true},
		{"long id", `"id":"o1"`, `"id":"` + strings.Repeat("a", 65) + `"`, true},
		{"bad uri", `"http://loinc.org"`, `"http://loinc.org/%zz"`, true},
		{"boolean as string", `"status":"final"`, `"status":"final","implicitRules":"x","language":"en","meta":{"versionId":"1"},"text":{"status":"generated","div":"<div/>"},"valueBoolean":"true"`, true},
		{"resourceType twice", `"id":"o1",`, `"id":"o1","resourceType":"Observation",`, false},
		{"no resourceType", `"resourceType":"Observation",`, ``, true},
		{"unknown resource type", `"Observation"`, `"Observatoin"`, true},
		{"trailing garbage", `"cm"}}`, `"cm"}}x`, true},
		{"truncated", `"cm"}}`, `"cm"}`, true},
		{"trailing comma", `"unit":"cm"}`, `"unit":"cm",}`, true},
		{"contained resource type field", `"status":"final"`, `"status":"final","contained":[{"resourceType":"Patient","id":"p","active":"yes"}]`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(base, tt.from) {
				t.Fatalf("%q not in the base resource", tt.from)
			}
			b := []byte(strings.Replace(base, tt.from, tt.to, 1))
			if quickValid(b) {
				t.Errorf("quickValid accepts %s", b)
			}
			if got := hasErrors(libraryIssues(b)); got != tt.libRejects {
				t.Errorf("library rejects = %v, want %v: %v", got, tt.libRejects, libraryIssues(b))
			}
		})
	}
}

// TestQuickPrimitives compares quickValid's primitive checks with the
// library's on values set into an Observation's choice fields.
func TestQuickPrimitives(t *testing.T) {
	values := map[string][]string{
		"effectiveDateTime": {`"2020"`, `"2020-02"`, `"2020-02-29"`, `"2021-02-29"`, `"2020-13"`, `"2020-00"`, `"2020-01-00"`,
			`"2020-01-01T00:00:00Z"`, `"2020-01-01T23:59:59.999999+14:00"`, `"2020-01-01T23:59:60Z"`, `"2020-01-01T10:00:00+14:01"`,
			`"2020-01-01T10:00:00-13:59"`, `"2020-01-01T10:00:00."`, `"2020-01-01 10:00:00Z"`, `"-2020"`, `"20200"`, `"0000"`},
		"effectiveInstant": {`"2020-01-01T00:00:00Z"`, `"2020-01-01T00:00Z"`, `"2020-01-01"`, `"2020-01-01T00:00:00.5-03:30"`},
		"valueTime":        {`"10:00:00"`, `"10:00"`, `"24:00:00"`, `"10:00:00.25"`, `"10:00:00."`, `"9:00:00"`},
		"valueInteger":     {`0`, `-1`, `2147483647`, `2147483648`, `-2147483648`, `-2147483649`, `01`, `-0`, `1.0`, `1e3`, `"1"`},
		"valueBoolean":     {`true`, `false`, `"true"`, `1`, `truex`},
		"valueString":      {`"a"`, `"a\nb"`, `"a\tb"`, `"a\u0000b"`, `"a\bb"`, `"\u00e9"`, `"é"`, `""`, `" "`},
	}
	for key, vs := range values {
		for _, v := range vs {
			b := []byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"` + key + `":` + v + `}`)
			q := quickValid(b)
			lib := !hasErrors(libraryIssues(b))
			if q && !lib {
				t.Errorf("%s %s: quickValid accepts what the library rejects: %v", key, v, libraryIssues(b))
			}
			if lib && !q {
				t.Logf("%s %s: left to the library", key, v)
			}
		}
	}
}

// FuzzQuickValidSound mutates known resources: whatever quickValid accepts
// the library must accept.
func FuzzQuickValidSound(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8302-2"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2020-01-02T03:04:05-05:00","valueQuantity":{"value":180.5,"unit":"cm"}}`))
	f.Add([]byte(`{"resourceType":"Immunization","status":"completed","vaccineCode":{"text":"x"},"patient":{"reference":"Patient/1"},"occurrenceDateTime":"2019-05-01","primarySource":true}`))
	f.Add([]byte(`{"resourceType":"Patient","id":"p","birthDate":"1970-01-01","gender":"female","name":[{"family":"A","given":["B"]}],"multipleBirthInteger":2}`))
	dir := testdataDir(f, "synthea", "patients")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) > 0 {
		raw, err := os.ReadFile(files[0])
		if err != nil {
			f.Fatal(err)
		}
		for i, r := range bundleResources(f, raw) {
			if i%25 == 0 && len(r) < 4000 {
				f.Add([]byte(r))
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if quickValid(b) && hasErrors(libraryIssues(b)) {
			t.Fatalf("quickValid accepts what the library rejects: %v\n%s", libraryIssues(b), b)
		}
	})
}

// BenchmarkQuickValid compares quickValid with the library on the Synthea
// patient resources (resources/s on one core).
func BenchmarkQuickValid(b *testing.B) {
	synthea, _ := quickCorpus(b)
	b.Run("quick", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, r := range synthea {
				quickValid(r)
			}
		}
		b.ReportMetric(float64(len(synthea)*b.N)/b.Elapsed().Seconds(), "resources/s")
	})
	b.Run("library", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, r := range synthea {
				libraryIssues(r)
			}
		}
		b.ReportMetric(float64(len(synthea)*b.N)/b.Elapsed().Seconds(), "resources/s")
	})
}

// TestQuickValidMutations replaces every value of one resource of each
// Synthea type, and of a sample of the R4 examples, with values of other
// shapes and formats, one at a time: whatever quickValid accepts the
// library must accept.
func TestQuickValidMutations(t *testing.T) {
	synthea, examples := quickCorpus(t)
	seen := map[string]bool{}
	var docs [][]byte
	for _, r := range synthea {
		var top struct{ ResourceType string }
		if json.Unmarshal(r, &top) == nil && !seen[top.ResourceType] {
			seen[top.ResourceType] = true
			docs = append(docs, r)
		}
	}
	for i := 0; i < len(examples); i += 30 {
		docs = append(docs, examples[i])
	}
	candidates := []any{"", " ", "x", "x  y", " x", "final", "FINAL", "entered-in-error", "2020", "2020-13", "2020-02-30",
		"2020-01-01T10:00:00Z", "2020-01-01T10:00:00+15:00", "2020-01-01T10:00:00.5-03:00", "10:00:00", "Patient/1",
		"Medication/1", "ProcessRequest/1", "Foo/1", "#x", "urn:uuid:1", "http://x/%zz", "a\u0001", "a\nb", "<div>é</div>",
		"QUJD", "QUJ", "a_b", 0, -1, 1.5, 2147483648, true, nil, map[string]any{}, []any{}, []any{1}, map[string]any{"x": 1},
		map[string]any{"reference": "Patient/1"}, []any{map[string]any{"text": "x"}}}
	checked := 0
	for _, d := range docs {
		var doc any
		if err := json.Unmarshal(d, &doc); err != nil {
			t.Fatal(err)
		}
		var leaves []func(any) func()
		collectLeaves(doc, &leaves)
		for _, set := range leaves {
			for _, v := range candidates {
				undo := set(v)
				b, err := json.Marshal(doc)
				undo()
				if err != nil {
					t.Fatal(err)
				}
				if quickValid(b) {
					checked++
					if hasErrors(libraryIssues(b)) {
						t.Errorf("quickValid accepts what the library rejects (%v): %.600s", libraryIssues(b), b)
					}
				}
			}
		}
	}
	t.Logf("%d documents, %d mutations quickValid accepted, all accepted by the library", len(docs), checked)
}

// collectLeaves appends, for every value under v (objects' members and
// arrays' elements, but not resourceType), a setter that replaces it and
// returns its undo.
func collectLeaves(v any, out *[]func(any) func()) {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			if k == "resourceType" {
				continue
			}
			k := k
			*out = append(*out, func(nv any) func() {
				old := x[k]
				x[k] = nv
				return func() { x[k] = old }
			})
			collectLeaves(child, out)
		}
	case []any:
		for i, child := range x {
			i := i
			*out = append(*out, func(nv any) func() {
				old := x[i]
				x[i] = nv
				return func() { x[i] = old }
			})
			collectLeaves(child, out)
		}
	}
}

// TestQuickRegexSubsets checks the hand-written Id, Code and Decimal
// checks against the library's value_regex annotations: whatever they
// accept the regex matches.
func TestQuickRegexSubsets(t *testing.T) {
	id, code, dec := valueRegex(fullDesc(&dpb.Id{})), valueRegex(fullDesc(&dpb.Code{})), valueRegex(fullDesc(&dpb.Decimal{}))
	if id == nil || code == nil || dec == nil {
		t.Fatal("a value_regex annotation is missing")
	}
	strs := []string{"", "a", "A-1.b", "a_b", "a b", " a", "a ", "a  b", "a\tb", strings.Repeat("x", 64), strings.Repeat("x", 65),
		"é", "é è", "0", "-0", "01", "1.", ".5", "1.50", "-12.0", "1e5", "+1", "--1", "1.2.3"}
	for _, s := range strs {
		if isID([]byte(s)) && !id.MatchString(s) {
			t.Errorf("isID(%q) but the library's regex does not match", s)
		}
		if isCode([]byte(s)) && !code.MatchString(s) {
			t.Errorf("isCode(%q) but the library's regex does not match", s)
		}
		c := &quick{scanner: scanner{b: []byte(s)}}
		if c.number(pDecimal) && c.i == len(s) && !dec.MatchString(s) {
			t.Errorf("decimal %q accepted but the library's regex does not match", s)
		}
	}
}

func fullDesc(m proto.Message) protoreflect.MessageDescriptor { return m.ProtoReflect().Descriptor() }

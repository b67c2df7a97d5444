package fhir

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	cc "carechain"
)

// FuzzParse feeds arbitrary bytes to Parse and ParseBundle: they never
// panic, every failure is an *OutcomeError of kind Invalid with at least one
// issue whose OperationOutcome is itself valid FHIR, and every success
// re-parses. Seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Patient","gender":"female"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		checkOutcome(t, "Parse", err)
		if err == nil {
			if !isResourceType(r.Type) {
				t.Fatalf("Parse accepted resource type %q", r.Type)
			}
			if _, err := Parse(r.JSON); err != nil {
				t.Fatalf("Parse(r.JSON) = %v after Parse(b) succeeded", err)
			}
		}
		bu, err := ParseBundleParallel(b, 2)
		checkOutcome(t, "ParseBundle", err)
		if err == nil {
			for i, e := range bu.Entries {
				if e.Err != nil {
					checkOutcome(t, "ParseBundle entry", e.Err)
				} else if e.Resource != nil && e.Resource.Type == "" {
					t.Fatalf("entry %d has a resource without a type", i)
				}
			}
			n := 0
			_, err := Resolve(bu, nil, func(string) string { n++; return "id" + string(rune('a'+n%26)) })
			checkOutcome(t, "Resolve", err)
		}
		// The ingest path: parse without validating resources, then
		// Resolve validates what it stores; it never panics and every
		// stored resource re-parses.
		if bu, err := ParseBundleForResolve(b); err == nil {
			n := 0
			r, err := Resolve(bu, nil, func(string) string { n++; return "id" + string(rune('a'+n%26)) })
			checkOutcome(t, "Resolve (for store)", err)
			if err == nil {
				for _, e := range r.Entries {
					if e.Err == nil && e.Resource != nil && !e.Existing {
						if _, perr := Parse(e.Resource.JSON); perr != nil {
							t.Fatalf("Resolve stored an invalid resource: %v", perr)
						}
					}
				}
			}
		} else {
			checkOutcome(t, "ParseBundleForResolve", err)
		}
	})
}

func checkOutcome(t *testing.T, op string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var oe *OutcomeError
	if !errors.As(err, &oe) || len(oe.Issues) == 0 {
		t.Fatalf("%s: error %v (%T) is not an OutcomeError with issues", op, err, err)
	}
	if k := cc.KindOf(err); k != cc.Invalid {
		t.Fatalf("%s: KindOf = %v, want invalid", op, k)
	}
	if _, perr := Parse(Outcome(err)); perr != nil {
		t.Fatalf("%s: Outcome(err) does not parse: %v\n%s", op, perr, Outcome(err))
	}
}

// FuzzResolveReference puts an arbitrary reference string into a
// transaction: Resolve never panics, fails only with an OutcomeError, and
// never stores a urn: or conditional reference.
func FuzzResolveReference(f *testing.F) {
	for _, ref := range []string{
		"urn:uuid:a", "urn:uuid:missing", "Patient?identifier=urn:x|1", "Patient?identifier=urn:x%7C1",
		"Patient?name=x", "Practitioner?identifier=", "Patient/1", "#contained", "http://x/fhir/Patient/1/_history/2",
		"?", "Patient?", "urn:oid:1.2.3",
	} {
		f.Add(ref)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		obs := map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "x"},
			"subject": map[string]any{"reference": ref}}
		raw, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
			map[string]any{"fullUrl": "urn:uuid:a", "resource": map[string]any{"resourceType": "Patient",
				"identifier": []any{map[string]any{"system": "urn:x", "value": "1"}}}, "request": map[string]any{"method": "POST", "url": "Patient"}},
			map[string]any{"resource": obs, "request": map[string]any{"method": "POST", "url": "Observation"}},
		}})
		if err != nil {
			t.Skip()
		}
		b, err := ParseBundle(raw)
		checkOutcome(t, "ParseBundle", err)
		if err != nil {
			return
		}
		res, err := Resolve(b, func(string, string) (string, bool) { return "", false }, func(string) string { return "new" })
		checkOutcome(t, "Resolve", err)
		if err != nil {
			return
		}
		got := res.Entries[1].Resource
		var doc struct {
			Subject reference `json:"subject"`
		}
		if err := json.Unmarshal(got.JSON, &doc); err != nil {
			t.Fatal(err)
		}
		if s := doc.Subject.Reference; strings.HasPrefix(s, "urn:uuid:") || strings.HasPrefix(s, "urn:oid:") ||
			(strings.Contains(s, "?") && isResourceType(s[:strings.IndexByte(s, '?')])) {
			t.Fatalf("stored reference %q", s)
		}
	})
}

// FuzzDocumentType checks documentType against resourceObject on
// arbitrary bytes: whenever it vouches for a document, the top-level
// decode accepts it with the same resource type.
func FuzzDocumentType(f *testing.F) {
	for _, doc := range documentTypeCases {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDocumentType(t, b)
	})
}

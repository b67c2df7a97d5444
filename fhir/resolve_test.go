package fhir

import (
	"path/filepath"
	"strings"
	"testing"
)

func transactionExample(t *testing.T) []byte {
	return mustRead(t, filepath.Join(testdataDir(t, "fhir-r4-examples"), "Bundle-bundle-transaction.json"))
}

// withoutOperation drops the entry that posts to ValueSet/$lookup, which
// carechain does not run inside a bundle.
func withoutOperation(t *testing.T, b []byte) []byte {
	return edit(t, b, func(m map[string]any) {
		var kept []any
		for _, e := range m["entry"].([]any) {
			if req := e.(map[string]any)["request"].(map[string]any); !strings.Contains(req["url"].(string), "$") {
				kept = append(kept, e)
			}
		}
		m["entry"] = kept
	})
}

// TestTransactionExampleAllOrNothing processes the official transaction
// example: it validates, but one entry is an operation, so the whole
// transaction is refused and nothing is returned; without that entry
// every entry resolves.
func TestTransactionExampleAllOrNothing(t *testing.T) {
	raw := transactionExample(t)
	b := mustParseBundle(t, raw)
	if b.Type != "transaction" || len(b.Entries) != 10 {
		t.Fatalf("Type %q with %d entries, want a transaction of 10", b.Type, len(b.Entries))
	}
	s := newStore()
	res, err := Resolve(b, s.lookup, s.newID)
	if res != nil {
		t.Fatalf("Resolve returned %d entries for a transaction it refused", len(res.Entries))
	}
	oe := mustOutcome(t, err)
	if !hasExpression(oe, "Bundle.entry[7].request") || oe.Issues[0].Code != "not-supported" {
		t.Errorf("issues %+v, want not-supported at Bundle.entry[7].request", oe.Issues)
	}

	// Without the operation: every entry resolves, as the example intends.
	s = newStore() // ids drawn by the refused attempt are simply never used
	s.byIdent["Patient|http:/example.org/fhir/ids|456456"] = "known-456"
	s.byIdent["Patient|123456"] = "known-123456"
	res, err = Resolve(mustParseBundle(t, withoutOperation(t, raw)), s.lookup, s.newID)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	type want struct {
		method, url, id string
		existing        bool
	}
	wants := []want{
		{"POST", "Patient", "patient-1", false},
		{"POST", "Patient", "patient-2", false}, // ifNoneExist matches nothing
		{"PUT", "Patient/123", "123", false},
		{"PUT", "Patient?identifier=http:/example.org/fhir/ids|456456", "known-456", false}, // conditional update of the match
		{"PUT", "Patient/123a", "123a", false},
		{"DELETE", "Patient/234", "", false},
		{"DELETE", "Patient/known-123456", "", false}, // conditional delete resolved
		{"GET", "Patient?name=peter", "", false},
		{"GET", "Patient/12334", "", false},
	}
	if len(res.Entries) != len(wants) {
		t.Fatalf("%d entries, want %d", len(res.Entries), len(wants))
	}
	for i, w := range wants {
		e := res.Entries[i]
		var id string
		if e.Resource != nil {
			id = e.Resource.ID
			if !strings.Contains(string(e.Resource.JSON), `"id":"`+id+`"`) {
				t.Errorf("entry %d: JSON does not carry id %q", i, id)
			}
		}
		got := want{e.Method, e.URL, id, e.Existing}
		if got != w {
			t.Errorf("entry %d = %+v, want %+v", i, got, w)
		}
	}
	if got := res.Entries[4].IfMatch; got != `W/"2"` {
		t.Errorf("IfMatch = %q, want W/\"2\"", got)
	}
}

// TestTransactionInvalidEntryFailsAll: one invalid entry resource fails
// the whole transaction at parse time, naming the entry and field.
func TestTransactionInvalidEntryFailsAll(t *testing.T) {
	raw := edit(t, withoutOperation(t, transactionExample(t)), func(m map[string]any) {
		m["entry"].([]any)[2].(map[string]any)["resource"].(map[string]any)["gender"] = "robot"
		m["entry"].([]any)[4].(map[string]any)["resource"].(map[string]any)["birthDate"] = "yesterday"
	})
	b, err := ParseBundle(raw)
	if b != nil {
		t.Fatal("ParseBundle returned a bundle for an invalid transaction")
	}
	oe := mustOutcome(t, err)
	for _, want := range []string{"Bundle.entry[2].resource.gender", "Bundle.entry[4].resource.birthDate"} {
		if !hasExpression(oe, want) {
			t.Errorf("locations %v, want %s", expressions(oe), want)
		}
	}
}

// TestTransactionUnresolvableReference: a conditional reference that
// matches nothing fails the transaction, naming the entry; nothing is
// returned and the store is untouched.
func TestTransactionUnresolvableReference(t *testing.T) {
	raw := edit(t, withoutOperation(t, transactionExample(t)), func(m map[string]any) {
		p := m["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
		p["generalPractitioner"] = []any{map[string]any{"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|0000000000"}}
		p["managingOrganization"] = map[string]any{"reference": "urn:uuid:00000000-0000-0000-0000-000000000000"}
	})
	s := newStore()
	res, err := Resolve(mustParseBundle(t, raw), s.lookup, s.newID)
	if res != nil {
		t.Fatal("Resolve returned entries for a failed transaction")
	}
	oe := mustOutcome(t, err)
	want := []string{
		"Bundle.entry[0].resource.generalPractitioner[0].reference",
		"Bundle.entry[0].resource.managingOrganization.reference",
	}
	got := expressions(oe)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("locations %v, want %v", got, want)
	}
	for _, is := range oe.Issues {
		if is.Code != "not-found" {
			t.Errorf("issue %+v: code %q, want not-found", is, is.Code)
		}
	}
}

// TestBatchFailsPerEntry: the same problems in a batch fail only their
// own entries.
func TestBatchFailsPerEntry(t *testing.T) {
	raw := edit(t, transactionExample(t), func(m map[string]any) {
		m["type"] = "batch"
		m["entry"].([]any)[2].(map[string]any)["resource"].(map[string]any)["gender"] = "robot"
	})
	b := mustParseBundle(t, raw)
	if b.Entries[2].Err == nil || b.Entries[2].Resource != nil {
		t.Fatalf("entry 2: Err %v, Resource %v; want an error and no resource", b.Entries[2].Err, b.Entries[2].Resource)
	}
	if oe := mustOutcome(t, b.Entries[2].Err); !hasExpression(oe, "Bundle.entry[2].resource.gender") {
		t.Errorf("entry 2 locations %v", expressions(oe))
	}
	s := newStore()
	res, err := Resolve(b, s.lookup, s.newID)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	for i, e := range res.Entries {
		failed := e.Err != nil
		if want := i == 2 || i == 7; failed != want {
			t.Errorf("entry %d: failed=%v (%v), want %v", i, failed, e.Err, want)
		}
	}
}

// TestResolveChecksTypesBehindLocalReferences: a urn:uuid reference hides
// its target's type from the first validation; Resolve validates again
// once it is typed, so an Observation.performer pointing at an Encounter
// is refused as in the official Observation-clinical-gender.json.
func TestResolveChecksTypesBehindLocalReferences(t *testing.T) {
	raw := []byte(`{"resourceType":"Bundle","type":"transaction","entry":[
	  {"fullUrl":"urn:uuid:11111111-1111-1111-1111-111111111111",
	   "resource":{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"}},
	   "request":{"method":"POST","url":"Encounter"}},
	  {"fullUrl":"urn:uuid:22222222-2222-2222-2222-222222222222",
	   "resource":{"resourceType":"Observation","status":"final","code":{"text":"gender identity"},
	     "performer":[{"reference":"urn:uuid:11111111-1111-1111-1111-111111111111"}]},
	   "request":{"method":"POST","url":"Observation"}}]}`)
	b := mustParseBundle(t, raw)
	s := newStore()
	res, err := Resolve(b, s.lookup, s.newID)
	if res != nil {
		t.Fatal("Resolve accepted a reference to the wrong type")
	}
	if oe := mustOutcome(t, err); !hasExpression(oe, "Bundle.entry[1].resource.performer[0]") {
		t.Errorf("locations %v, want Bundle.entry[1].resource.performer[0]", expressions(oe))
	}
}

// TestResolveRules covers request forms Resolve refuses or dedupes.
func TestResolveRules(t *testing.T) {
	pat := `{"resourceType":"Patient","identifier":[{"system":"urn:x","value":"1"}]}`
	tests := []struct {
		name  string
		entry string // second entry; the first POSTs pat with ifNoneExist
		want  string // issue location, or "" for success
	}{
		{"duplicate ifNoneExist is the earlier entry",
			`{"fullUrl":"urn:uuid:b","resource":` + pat + `,"request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:x|1"}}`, ""},
		{"POST to an id", `{"resource":` + pat + `,"request":{"method":"POST","url":"Patient/1"}}`, "Bundle.entry[1].request.url"},
		{"PUT id mismatch", `{"resource":{"resourceType":"Patient","id":"a"},"request":{"method":"PUT","url":"Patient/b"}}`, "Bundle.entry[1].resource.id"},
		{"wrong type", `{"resource":` + pat + `,"request":{"method":"POST","url":"Observation"}}`, "Bundle.entry[1].request.url"},
		{"PATCH", `{"resource":{"resourceType":"Binary","contentType":"application/json-patch+json"},"request":{"method":"PATCH","url":"Patient/1"}}`, "Bundle.entry[1].request"},
		{"search ifNoneExist", `{"resource":` + pat + `,"request":{"method":"POST","url":"Patient","ifNoneExist":"name=peter"}}`, "Bundle.entry[1].request.ifNoneExist"},
		{"conditional reference by name", `{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?name=peter"}},"request":{"method":"POST","url":"Observation"}}`,
			"Bundle.entry[1].resource.subject.reference"},
		{"conditional reference to this bundle", `{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?identifier=urn:x%7C1"}},"request":{"method":"POST","url":"Observation"}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := `{"resourceType":"Bundle","type":"transaction","entry":[
				{"fullUrl":"urn:uuid:a","resource":` + pat + `,"request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:x|1"}},` + tt.entry + `]}`
			s := newStore()
			res, err := Resolve(mustParseBundle(t, []byte(raw)), s.lookup, s.newID)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				first := res.Entries[0].Resource.Reference()
				if e := res.Entries[1]; e.Resource.Type == "Patient" && (!e.Existing || e.Resource.Reference() != first) {
					t.Errorf("entry 1 = %+v, want Existing %s", e, first)
				}
				if e := res.Entries[1]; e.Resource.Type == "Observation" && e.Resource.Patient != first {
					t.Errorf("Observation.Patient = %q, want %s", e.Resource.Patient, first)
				}
				return
			}
			if oe := mustOutcome(t, err); !hasExpression(oe, tt.want) {
				t.Errorf("locations %v, want %s", expressions(oe), tt.want)
			}
		})
	}
}

func TestResolveNeedsTransactionOrBatch(t *testing.T) {
	b := mustParseBundle(t, []byte(`{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:a","resource":{"resourceType":"Patient"}}]}`))
	_, err := Resolve(b, nil, func(string) string { return "x" })
	if oe := mustOutcome(t, err); !hasExpression(oe, "Bundle.type") {
		t.Errorf("locations %v, want Bundle.type", expressions(oe))
	}
}

// TestResolveKeepsNumbersAndNarrative: re-marshalling after the rewrite
// keeps decimals as written and does not HTML-escape the XHTML narrative.
func TestResolveKeepsNumbersAndNarrative(t *testing.T) {
	raw := []byte(`{"resourceType":"Bundle","type":"transaction","entry":[
	  {"fullUrl":"urn:uuid:a","resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
	  {"resource":{"resourceType":"Observation","status":"final","code":{"text":"weight"},
	    "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">185.00 &amp; more</div>"},
	    "subject":{"reference":"urn:uuid:a"},"valueQuantity":{"value":185.00,"unit":"lbs"},
	    "component":[{"code":{"text":"x"},"valueQuantity":{"value":1e-7}}]},
	   "request":{"method":"POST","url":"Observation"}}]}`)
	s := newStore()
	res, err := Resolve(mustParseBundle(t, raw), s.lookup, s.newID)
	if err != nil {
		t.Fatal(err)
	}
	got := string(res.Entries[1].Resource.JSON)
	for _, want := range []string{`"value":185.00`, `"value":1e-7`, `<div xmlns=\"http://www.w3.org/1999/xhtml\">185.00 &amp; more</div>`,
		`"subject":{"reference":"Patient/patient-1"}`, `"id":"observation-2"`} {
		if !strings.Contains(got, want) {
			t.Errorf("rewritten JSON lacks %s:\n%s", want, got)
		}
	}
	if r := res.Entries[1].Resource; r.Patient != "Patient/patient-1" || r.ID != "observation-2" {
		t.Errorf("Patient %q ID %q", r.Patient, r.ID)
	}
}

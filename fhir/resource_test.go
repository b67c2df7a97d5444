package fhir

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	cc "carechain"
)

// TestParseOfficialExamples parses every official R4 example: all validate
// except exactly the two that break R4's reference-type rules upstream and
// the package manifest, which is not a resource.
func TestParseOfficialExamples(t *testing.T) {
	dir := testdataDir(t, "fhir-r4-examples")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) < 300 {
		t.Fatalf("want the ~328 official examples, got %d files (%v)", len(files), err)
	}
	wantRejected := map[string]string{ // file → a location the outcome must name
		"MedicationRequest-medrx0301.json": "MedicationRequest.dispenseRequest.performer",
		"Observation-clinical-gender.json": "Observation.performer[0]",
		"package.json":                     "",
	}
	rejected := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		b := mustRead(t, f)
		r, err := Parse(b)
		if err != nil {
			rejected[name] = true
			want, expected := wantRejected[name]
			if !expected {
				t.Errorf("%s: unexpected rejection: %v", name, err)
				continue
			}
			oe := mustOutcome(t, err)
			if want != "" && !hasExpression(oe, want) {
				t.Errorf("%s: issue locations %v, want %q", name, expressions(oe), want)
			}
			if want == "" && !strings.Contains(oe.Error(), "not a FHIR resource") {
				t.Errorf("%s: error %q, want a not-a-resource error", name, oe.Error())
			}
			continue
		}
		if got, want := r.Type, strings.SplitN(name, "-", 2)[0]; got != want {
			t.Errorf("%s: Type = %q, want %q", name, got, want)
		}
		if !bytes.Equal(r.JSON, b) {
			t.Errorf("%s: JSON is not the input", name)
		}
		if r.Type == "Bundle" {
			if _, err := ParseBundle(b); err != nil {
				t.Errorf("%s: ParseBundle: %v", name, err)
			}
		}
	}
	var got, want []string
	for n := range rejected {
		got = append(got, n)
	}
	for n := range wantRejected {
		want = append(want, n)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rejected %v, want exactly %v", got, want)
	}
}

// TestParseInvalidEdits breaks official examples the ways users do and
// checks that the outcome names the field, and renders as a valid
// OperationOutcome.
func TestParseInvalidEdits(t *testing.T) {
	dir := testdataDir(t, "fhir-r4-examples")
	obs := mustRead(t, filepath.Join(dir, "Observation-example.json"))
	imm := mustRead(t, filepath.Join(dir, "Immunization-example.json"))
	pat := mustRead(t, filepath.Join(dir, "Patient-example.json"))
	tests := []struct {
		name string
		base []byte
		edit func(m map[string]any)
		want string // an issue location
		code string // its issue code
	}{
		{"wrong status code", obs, func(m map[string]any) { m["status"] = "done" }, "Observation.status", "code-invalid"},
		{"wrong type: number for code", obs, func(m map[string]any) { m["status"] = 7 }, "Observation.status", "value"},
		{"wrong type: string for boolean", pat, func(m map[string]any) { m["active"] = "yes" }, "Patient.active", "value"},
		{"wrong type: object for array", obs, func(m map[string]any) { m["category"] = map[string]any{"text": "x"} }, "Observation.category", "structure"},
		{"unknown field", obs, func(m map[string]any) { m["colour"] = "red" }, "Observation.colour", "structure"},
		{"broken reference type", obs, func(m map[string]any) {
			m["subject"] = map[string]any{"reference": "Medication/med0301"}
		}, "Observation.subject", "invalid"},
		{"malformed dateTime", obs, func(m map[string]any) { m["effectiveDateTime"] = "2016-13-45" }, "Observation.effectiveDateTime", "value"},
		{"malformed date", imm, func(m map[string]any) { m["expirationDate"] = "15/02/2015" }, "Immunization.expirationDate", "value"},
		{"missing required field", obs, func(m map[string]any) { delete(m, "code") }, "Observation.code", "required"},
		{"bad id", pat, func(m map[string]any) { m["id"] = "no spaces allowed" }, "Patient.id", "value"},
		{"unknown resource type", obs, func(m map[string]any) { m["resourceType"] = "Observatio" }, "resourceType", "not-supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := edit(t, tt.base, tt.edit)
			_, err := Parse(b)
			if err == nil {
				t.Fatal("Parse accepted the broken resource")
			}
			oe := mustOutcome(t, err)
			var found bool
			for _, is := range oe.Issues {
				for _, e := range is.Expression {
					if e == tt.want {
						found = true
						if is.Code != tt.code {
							t.Errorf("issue at %s: code %q, want %q", e, is.Code, tt.code)
						}
					}
				}
			}
			if !found {
				t.Errorf("issue locations %v, want %q (error: %v)", expressions(oe), tt.want, err)
			}
			out := Outcome(err)
			r, perr := Parse(out)
			if perr != nil {
				t.Fatalf("Outcome(err) is not a valid OperationOutcome: %v\n%s", perr, out)
			}
			if r.Type != "OperationOutcome" || !bytes.Contains(out, []byte(tt.want)) {
				t.Errorf("Outcome(err) = %s, want an OperationOutcome naming %s", out, tt.want)
			}
		})
	}
}

// TestParseReportsEveryIssue checks that several problems are all listed.
func TestParseReportsEveryIssue(t *testing.T) {
	obs := mustRead(t, filepath.Join(testdataDir(t, "fhir-r4-examples"), "Observation-example.json"))
	b := edit(t, obs, func(m map[string]any) {
		m["colour"] = "red"
		m["flavour"] = "sweet"
		m["status"] = 7
	})
	oe := mustOutcome(t, func() error { _, err := Parse(b); return err }())
	want := []string{"Observation.colour", "Observation.flavour", "Observation.status"}
	if got := expressions(oe); !reflect.DeepEqual(got, want) {
		t.Errorf("locations %v, want %v", got, want)
	}
}

// TestParseNonFHIR covers input that is not a FHIR resource at all.
func TestParseNonFHIR(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, "expected a JSON object"},
		{`[1,2]`, "expected a JSON object"},
		{`{"name":"carechain"}`, `missing "resourceType"`},
		{`{"resourceType":7}`, "resourceType must be a string"},
		{`{"resourceType":"Patient",`, "invalid JSON"},
		{`{"resourceType":"Patient"} trailing`, "invalid JSON"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.in))
		oe := mustOutcome(t, err)
		if !strings.Contains(oe.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want %q", tt.in, err, tt.want)
		}
		if strings.Contains(oe.Error(), "carechain") {
			t.Errorf("Parse(%q) error quotes the input: %v", tt.in, err)
		}
	}
}

func TestReadJSON(t *testing.T) {
	b, typ, err := ReadJSON(strings.NewReader(`{"resourceType":"Bundle","type":"batch"}`), 40, 100)
	if err != nil || typ != "Bundle" || len(b) == 0 {
		t.Fatalf("ReadJSON = %q, %q, %v", b, typ, err)
	}
	// A wrong size is only a hint.
	if b, _, err := ReadJSON(strings.NewReader(`{"resourceType":"Bundle","type":"batch"}`), 5, 100); err != nil || len(b) != 40 {
		t.Errorf("size 5: ReadJSON = %q, %v", b, err)
	}
	_, _, err = ReadJSON(strings.NewReader(`{"resourceType":"Patient","id":"x"}`), -1, 10)
	if cc.KindOf(err) != cc.TooLarge {
		t.Errorf("over the limit: KindOf = %v, want too_large", cc.KindOf(err))
	}
	_, _, err = ReadJSON(strings.NewReader(`{"hello":"world"}`), 1000, 100)
	mustOutcome(t, err)
}

// TestDescribe checks the carechain-ready fields extracted from resources.
func TestDescribe(t *testing.T) {
	day := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339, s); return tm }
	tests := []struct {
		name string
		json string
		want Resource
	}{
		{"Observation category and effectiveDateTime", `{"resourceType":"Observation","id":"o1","status":"final",
			"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]},
			            {"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"},{"code":"local"}]}],
			"code":{"text":"weight"},"subject":{"reference":"Patient/p1"},
			"effectiveDateTime":"2016-03-28T09:30:00+02:00","issued":"2016-04-01T00:00:00Z",
			"identifier":[{"system":"urn:x","value":"42"},{"value":"7"}]}`,
			Resource{Type: "Observation", ID: "o1", Patient: "Patient/p1",
				Categories:  []string{"http://terminology.hl7.org/CodeSystem/observation-category|vital-signs", "local"},
				DataTime:    day("2016-03-28T07:30:00Z"),
				Identifiers: []string{"urn:x|42", "7"}}},
		{"Immunization occurrenceDateTime", `{"resourceType":"Immunization","status":"completed",
			"vaccineCode":{"text":"flu"},"patient":{"reference":"Patient/p2"},"occurrenceDateTime":"2013-01-10","recorded":"2013-02-01"}`,
			Resource{Type: "Immunization", Patient: "Patient/p2", DataTime: day("2013-01-10T00:00:00Z")}},
		{"Condition category and meta.security", `{"resourceType":"Condition","id":"c1",
			"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}],
			        "tag":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"HIV"},{"system":"http://example.org/workflow","code":"reviewed"}]},
			"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"problem-list-item"}]}],
			"subject":{"reference":"Patient/p3"},"onsetPeriod":{"start":"2012-05"},"recordedDate":"2013-01-01"}`,
			Resource{Type: "Condition", ID: "c1", Patient: "Patient/p3",
				Categories: []string{"http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item",
					"http://terminology.hl7.org/CodeSystem/v3-ActCode|HIV",
					"http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R"},
				DataTime: day("2012-05-01T00:00:00Z")}},
		{"MedicationRequest authoredOn", `{"resourceType":"MedicationRequest","status":"active","intent":"order",
			"medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p4"},"authoredOn":"2015-01-15"}`,
			Resource{Type: "MedicationRequest", Patient: "Patient/p4", DataTime: day("2015-01-15T00:00:00Z")}},
		{"AllergyIntolerance code category", `{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/p5"},
			"category":["food"],"recordedDate":"2014"}`,
			Resource{Type: "AllergyIntolerance", Patient: "Patient/p5",
				Categories: []string{"http://hl7.org/fhir/allergy-intolerance-category|food"},
				DataTime:   day("2014-01-01T00:00:00Z")}},
		{"Encounter period.start", `{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},
			"subject":{"reference":"Patient/p6"},"period":{"start":"2020-02-03T10:00:00Z","end":"2020-02-03T11:00:00Z"}}`,
			Resource{Type: "Encounter", Patient: "Patient/p6", Codes: []string{"AMB"}, DataTime: day("2020-02-03T10:00:00Z")}},
		{"Observation about a Group has no patient", `{"resourceType":"Observation","status":"final","code":{"text":"x"},
			"subject":{"reference":"Group/g1"}}`,
			Resource{Type: "Observation"}},
		{"Provenance finds the Patient among its targets", `{"resourceType":"Provenance","recorded":"2021-01-01T00:00:00Z",
			"target":[{"reference":"Encounter/e1"},{"reference":"Patient/p7"}],"agent":[{"who":{"reference":"Practitioner/d1"}}]}`,
			Resource{Type: "Provenance", Patient: "Patient/p7", DataTime: day("2021-01-01T00:00:00Z")}},
		{"Patient is its own compartment", `{"resourceType":"Patient","id":"p8","birthDate":"1970-01-01"}`,
			Resource{Type: "Patient", ID: "p8", Patient: "Patient/p8"}},
		{"Practitioner is in no compartment", `{"resourceType":"Practitioner","id":"d1",
			"identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"9999999999"}]}`,
			Resource{Type: "Practitioner", ID: "d1", Identifiers: []string{"http://hl7.org/fhir/sid/us-npi|9999999999"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustParse(t, []byte(tt.json))
			got.JSON = nil
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

// TestDescribeOfficialExamples reads the fields of a few official examples.
func TestDescribeOfficialExamples(t *testing.T) {
	dir := testdataDir(t, "fhir-r4-examples")
	tests := []struct {
		file     string
		patient  string
		category string
		data     string
	}{
		{"Observation-example.json", "Patient/example", "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs", "2016-03-28T00:00:00Z"},
		{"Immunization-example.json", "Patient/example", "", "2013-01-10T00:00:00Z"},
		{"Condition-example.json", "Patient/example", "http://terminology.hl7.org/CodeSystem/condition-category|encounter-diagnosis", ""},
		{"MedicationRequest-medrx0302.json", "Patient/pat1", "", "2015-01-15T00:00:00Z"},
	}
	for _, tt := range tests {
		r := mustParse(t, mustRead(t, filepath.Join(dir, tt.file)))
		if r.Patient != tt.patient {
			t.Errorf("%s: Patient = %q, want %q", tt.file, r.Patient, tt.patient)
		}
		if tt.category != "" && !contains(r.Categories, tt.category) {
			t.Errorf("%s: Categories = %v, want %q among them", tt.file, r.Categories, tt.category)
		}
		if tt.data != "" && r.DataTime.Format(time.RFC3339) != tt.data {
			t.Errorf("%s: DataTime = %v, want %s", tt.file, r.DataTime, tt.data)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestParseTime(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2020", "2020-01-01T00:00:00Z"},
		{"2020-03", "2020-03-01T00:00:00Z"},
		{"2020-03-04", "2020-03-04T00:00:00Z"},
		{"2020-03-04T05:06:07-05:00", "2020-03-04T10:06:07Z"},
		{"2020-03-04T05:06:07.123Z", "2020-03-04T05:06:07.123Z"},
	}
	for _, tt := range tests {
		got, ok := ParseTime(tt.in)
		if !ok || got.Format(time.RFC3339Nano) != tt.want {
			t.Errorf("ParseTime(%q) = %v, %v; want %s", tt.in, got, ok, tt.want)
		}
	}
	if _, ok := ParseTime("yesterday"); ok {
		t.Error(`ParseTime("yesterday") succeeded`)
	}
}

// TestParseDepthLimit: nesting beyond maxNestingDepth is refused (the
// library's own default is unbounded).
func TestParseDepthLimit(t *testing.T) {
	nest := func(n int) []byte {
		return []byte(`{"resourceType":"Questionnaire","status":"draft","item":[` +
			strings.Repeat(`{"linkId":"a","type":"group","item":[`, n) + strings.Repeat(`]}`, n) + `]}`)
	}
	mustParse(t, nest(30))
	_, err := Parse(nest(200))
	oe := mustOutcome(t, err)
	if !strings.Contains(oe.Error(), "maximum nesting depth") || oe.Issues[0].Code != "structure" {
		t.Errorf("error %v, want a structure issue about the nesting depth", err)
	}
}

// documentTypeCases are documents documentType must judge as
// resourceObject does (and FuzzDocumentType's seeds).
var documentTypeCases = []string{
	`{"resourceType":"Patient","gender":"female"}`,
	"  \n{\"id\":\"x\", \"resourceType\" : \"Observation\"}\t\n",
	`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient"}}]}`,
	`{"resourceType":"Patient","contained":[{"resourceType":"Nope"}]}`,
	`{"resource\u0054ype":"Patient"}`,
	`{"resourceType":"Patient","resourceType":"Observation"}`,
	`{"resourceType":5,"resourceType":"Patient"}`,
	`{"resourceType":"Patient","resourceType":5}`,
	`{"resourceType":"Nope"}`,
	`{"resourceType":"Pat\u0069ent"}`,
	`{"resourceType":null}`,
	`{"gender":"female"}`,
	`{}`,
	`null`,
	`[]`,
	`{"resourceType":"Patient"}}`,
	`{"resourceType":"Patient"} {}`,
	`{"resourceType":"Patient",}`,
	`{"resourceType":"Patient","a":[1,2,}`,
	`{"resourceType":"Patient","a":"abc`,
	`{"resourceType":"Patient","a":12`,
	`{"resourceType":"Patient","a":tru}`,
	`{"resourceType":"Patient","a":"\x"}`,
	`{"resourceType":"Patient" "a":1}`,
	`{resourceType:"Patient"}`,
}

// checkDocumentType fails t if documentType vouches for b and
// resourceObject does not accept it with the same type.
func checkDocumentType(t *testing.T, b []byte) {
	t.Helper()
	typ, ok := documentType(b)
	if !ok {
		return
	}
	_, want, err := resourceObject(b, "")
	if err != nil || want != typ {
		t.Fatalf("documentType(%q) = %q, true; resourceObject: %q, %v", b, typ, want, err)
	}
}

// TestDocumentType checks that documentType vouches only for what
// resourceObject accepts, with the same type, and does vouch for the
// usual documents: every Synthea bundle and official R4 example.
func TestDocumentType(t *testing.T) {
	for _, doc := range documentTypeCases {
		checkDocumentType(t, []byte(doc))
	}
	// Documents it must vouch for (the others may fall back).
	for doc, want := range map[string]string{
		documentTypeCases[0]: "Patient", documentTypeCases[1]: "Observation", documentTypeCases[2]: "Bundle",
		documentTypeCases[3]: "Patient", documentTypeCases[4]: "Patient", documentTypeCases[5]: "Observation",
		documentTypeCases[9]: "Patient",
	} {
		if got, ok := documentType([]byte(doc)); !ok || got != want {
			t.Errorf("documentType(%s) = %q, %v; want %q, true", doc, got, ok, want)
		}
	}
	vouched := 0
	for _, dir := range [][]string{{"synthea", "patients"}, {"fhir-r4-examples"}} {
		files, _ := filepath.Glob(filepath.Join(testdataDir(t, dir...), "*.json"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			checkDocumentType(t, b)
			if _, ok := documentType(b); ok {
				vouched++
			} else if _, _, err := resourceObject(b, ""); err == nil {
				t.Errorf("%s: documentType declined what resourceObject accepts", f)
			}
		}
	}
	if vouched == 0 {
		t.Error("no test document was vouched for")
	}
}

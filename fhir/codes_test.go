package fhir

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestCodes(t *testing.T) {
	const (
		loinc  = "http://loinc.org"
		snomed = "http://snomed.info/sct"
		cvx    = "http://hl7.org/fhir/sid/cvx"
		rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
	)
	tests := []struct {
		name string
		json string
		want []string
	}{
		{"Observation code, codings sorted and deduplicated", `{"resourceType":"Observation","status":"final",
			"code":{"coding":[{"system":"` + loinc + `","code":"29463-7"},{"system":"` + snomed + `","code":"27113001"},{"system":"` + loinc + `","code":"29463-7"}],"text":"weight"},
			"component":[{"code":{"coding":[{"system":"` + loinc + `","code":"8480-6"}]}}]}`,
			[]string{loinc + "|29463-7", snomed + "|27113001"}},
		{"Observation code with text only", `{"resourceType":"Observation","status":"final","code":{"text":"weight"}}`, nil},
		{"Condition code", `{"resourceType":"Condition","subject":{"reference":"Patient/p"},
			"code":{"coding":[{"system":"` + snomed + `","code":"44054006"}]}}`, []string{snomed + "|44054006"}},
		{"Procedure code", `{"resourceType":"Procedure","status":"completed","subject":{"reference":"Patient/p"},
			"code":{"coding":[{"system":"` + snomed + `","code":"80146002"}]}}`, []string{snomed + "|80146002"}},
		{"AllergyIntolerance code, category apart", `{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/p"},"category":["food"],
			"code":{"coding":[{"system":"` + snomed + `","code":"91935009"}]}}`, []string{snomed + "|91935009"}},
		{"DiagnosticReport code", `{"resourceType":"DiagnosticReport","status":"final",
			"code":{"coding":[{"system":"` + loinc + `","code":"58410-2"}]}}`, []string{loinc + "|58410-2"}},
		{"Immunization vaccineCode", `{"resourceType":"Immunization","status":"completed","patient":{"reference":"Patient/p"},"occurrenceDateTime":"2020",
			"vaccineCode":{"coding":[{"system":"` + cvx + `","code":"140"}]}}`, []string{cvx + "|140"}},
		{"MedicationRequest medicationCodeableConcept", `{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/p"},
			"medicationCodeableConcept":{"coding":[{"system":"` + rxnorm + `","code":"309362"}]}}`, []string{rxnorm + "|309362"}},
		{"MedicationRequest medicationReference has no code", `{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/p"},
			"medicationReference":{"reference":"Medication/m"}}`, nil},
		{"MedicationStatement medicationCodeableConcept", `{"resourceType":"MedicationStatement","status":"active","subject":{"reference":"Patient/p"},
			"medicationCodeableConcept":{"coding":[{"system":"` + rxnorm + `","code":"1049221"}]}}`, []string{rxnorm + "|1049221"}},
		{"MedicationAdministration medicationCodeableConcept", `{"resourceType":"MedicationAdministration","status":"completed","subject":{"reference":"Patient/p"},"effectiveDateTime":"2020",
			"medicationCodeableConcept":{"coding":[{"system":"` + rxnorm + `","code":"1049221"}]}}`, []string{rxnorm + "|1049221"}},
		{"Encounter type and class", `{"resourceType":"Encounter","status":"finished",
			"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
			"type":[{"coding":[{"system":"` + snomed + `","code":"410620009"}]},{"coding":[{"code":"local"}]}]}`,
			[]string{snomed + "|410620009", "http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB", "local"}},
		{"Claim type", `{"resourceType":"Claim","status":"active","use":"claim","created":"2020-01-01","patient":{"reference":"Patient/p"},
			"provider":{"reference":"Organization/o"},"priority":{"text":"normal"},"insurance":[{"sequence":1,"focal":true,"coverage":{"display":"x"}}],
			"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"institutional"}]}}`,
			[]string{"http://terminology.hl7.org/CodeSystem/claim-type|institutional"}},
		{"SupplyDelivery supplied item", `{"resourceType":"SupplyDelivery",
			"suppliedItem":{"itemCodeableConcept":{"coding":[{"system":"` + snomed + `","code":"337388004"}]}}}`, []string{snomed + "|337388004"}},
		{"Patient has none", `{"resourceType":"Patient","id":"p"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustParse(t, []byte(tt.json)).Codes
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Codes = %q, want %q", got, tt.want)
			}
		})
	}
}

// syntheaCodeElements is an independent statement of where each Synthea
// resource type keeps its main code.
var syntheaCodeElements = map[string][]string{
	"Encounter":            {"type", "class"},
	"Condition":            {"code"},
	"Observation":          {"code"},
	"DiagnosticReport":     {"code"},
	"Immunization":         {"vaccineCode"},
	"MedicationRequest":    {"medicationCodeableConcept"},
	"Claim":                {"type"},
	"ExplanationOfBenefit": {"type"},
	"DocumentReference":    {"type"},
	"Organization":         {"type"},
	"PractitionerRole":     {"code"},
	"Patient":              nil,
	"Provenance":           nil,
	"Practitioner":         nil,
	"Location":             nil, // Synthea gives its locations no type
}

// TestCodesSynthea compares the Codes of every resource of the Synthea
// bundles (patients and provider directories) with the codings found at
// syntheaCodeElements by a generic decode, and checks every coded type
// yields codes. The resources are described without validation (other
// tests validate them), to keep the test fast under -race.
func TestCodesSynthea(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testdataDir(t, "synthea", "patients"), "*.json"))
	dir := testdataDir(t, "synthea")
	files = append(files, filepath.Join(dir, "hospitalInformation1633536936158.json"), filepath.Join(dir, "practitionerInformation1633536936158.json"))
	withCodes := map[string]int{}
	for _, f := range files {
		for i, res := range bundleResources(t, mustRead(t, f)) {
			top, typ, err := resourceObject(res, "")
			if err != nil {
				t.Fatalf("%s entry %d: %v", filepath.Base(f), i, err)
			}
			r := describe(typ, top, res, nil)
			elements, known := syntheaCodeElements[r.Type]
			if !known {
				t.Fatalf("%s entry %d: unexpected type %s", filepath.Base(f), i, r.Type)
			}
			var doc map[string]any
			if err := json.Unmarshal(res, &doc); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, el := range elements {
				want = append(want, codingTokens(doc[el])...)
			}
			want = sortedSet(want)
			if !reflect.DeepEqual(r.Codes, want) {
				t.Errorf("%s entry %d (%s): Codes = %q, want %q", filepath.Base(f), i, r.Type, r.Codes, want)
			}
			if len(r.Codes) > 0 {
				withCodes[r.Type]++
			}
		}
	}
	for typ, elements := range syntheaCodeElements {
		if elements != nil && withCodes[typ] == 0 {
			t.Errorf("no %s resource has codes", typ)
		}
	}
}

// codingTokens collects "system|code" from a decoded Coding,
// CodeableConcept or array of either.
func codingTokens(v any) []string {
	var out []string
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			out = append(out, codingTokens(x)...)
		}
	case map[string]any:
		if code, ok := v["code"].(string); ok {
			sys, _ := v["system"].(string)
			out = append(out, token(sys, code))
		}
		out = append(out, codingTokens(v["coding"])...)
	}
	return out
}

// TestLot checks Immunization.lotNumber is read from the official examples
// as written, and only for Immunization.
func TestLot(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"Immunization-example.json", "AAJN11K"},
		{"Immunization-protocol.json", "PT123F"},
		{"Medication-med0301.json", ""}, // a Medication's batch lotNumber is not an immunization lot
		{"Patient-example.json", ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(testdataDir(t, "fhir-r4-examples"), tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := mustParse(t, b).Lot; got != tt.want {
				t.Errorf("Lot = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDemographicsOf(t *testing.T) {
	tests := []struct {
		name string
		json string
		want Demographics
		ok   bool
	}{
		{"home address district", `{"resourceType":"Patient","gender":"female","birthDate":"1974-12-25",
			"address":[{"use":"work","city":"Elsewhere"},{"use":"home","district":"Rurithshire","city":"PleasantVille"}]}`,
			Demographics{BirthDate: "1974-12-25", Sex: "female", Area: "Rurithshire"}, true},
		{"first address city", `{"resourceType":"Patient","gender":"male","address":[{"city":"Boston"}]}`,
			Demographics{Sex: "male", Area: "Boston"}, true},
		{"nothing known", `{"resourceType":"Patient"}`, Demographics{}, true},
		{"not a Patient", `{"resourceType":"Practitioner","gender":"male"}`, Demographics{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := DemographicsOf(mustParse(t, []byte(tt.json)))
			if got != tt.want || ok != tt.ok {
				t.Errorf("DemographicsOf = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

package fhir

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
)

// TestRxFactsOfficialExamples reads the e-prescription facts of the
// official MedicationRequest and MedicationDispense examples.
func TestRxFactsOfficialExamples(t *testing.T) {
	dir := testdataDir(t, "fhir-r4-examples")
	read := func(name string) *Resource { return mustParse(t, mustRead(t, filepath.Join(dir, name))) }
	tests := []struct {
		file string
		want *RxFacts // nil: no facts
	}{
		// active order, contained Medication, 30 TAB, one repeat
		{"MedicationRequest-medrx0311.json", &RxFacts{QuantityMilli: 30000, QuantityOK: true, Unit: "TAB", Repeats: 1, ValidUntil: "2016-01-15",
			Medication: "http://snomed.info/sct|317935006"}},
		// medicationCodeableConcept (RxNorm), 360 mL, three repeats
		{"MedicationRequest-medrx0312.json", &RxFacts{QuantityMilli: 360000, QuantityOK: true, Unit: "mL", Repeats: 3, ValidUntil: "2016-01-15",
			Medication: "http://www.nlm.nih.gov/research/umls/rxnorm|1313112"}},
		// a quantity without unit
		{"MedicationRequest-medrx0339.json", &RxFacts{QuantityMilli: 1000, QuantityOK: true, Repeats: 1, ValidUntil: "2016-01-15",
			Medication: "http://hl7.org/fhir/sid/ndc|0067-2091-03"}},
		{"MedicationRequest-medrx0305.json", nil}, // completed
		{"MedicationRequest-medrx0325.json", nil}, // on-hold
		{"MedicationRequest-medrx0306.json", nil}, // active without dispenseRequest
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := read(tt.file)
			switch {
			case tt.want == nil && r.Rx != nil:
				t.Errorf("facts %+v, want none", r.Rx)
			case tt.want != nil && r.Rx == nil:
				t.Errorf("no facts, want %+v", tt.want)
			case tt.want != nil && *r.Rx != *tt.want:
				t.Errorf("facts %+v, want %+v", r.Rx, tt.want)
			}
			if r.Dispense != nil {
				t.Errorf("a MedicationRequest with dispense facts %+v", r.Dispense)
			}
		})
	}

	dispenses := []struct {
		file string
		want *DispenseFacts
	}{
		{"MedicationDispense-meddisp0302.json", &DispenseFacts{Prescription: "MedicationRequest/medrx0321", QuantityMilli: 10000, QuantityOK: true, Unit: "ml"}},
		{"MedicationDispense-meddisp0319.json", &DispenseFacts{Prescription: "MedicationRequest/medrx0302", QuantityMilli: 6000, QuantityOK: true, Unit: "TAB"}},
		// receiver Patient/pat1: a literal reference, no DID receiver
		{"MedicationDispense-meddisp0301.json", &DispenseFacts{Prescription: "MedicationRequest/medrx0318", QuantityMilli: 12000, QuantityOK: true, Unit: "Vial"}},
		{"MedicationDispense-meddisp0305.json", nil}, // entered-in-error
		{"MedicationDispense-meddisp0303.json", nil}, // on-hold
	}
	for _, tt := range dispenses {
		t.Run(tt.file, func(t *testing.T) {
			r := read(tt.file)
			switch {
			case tt.want == nil && r.Dispense != nil:
				t.Errorf("facts %+v, want none", r.Dispense)
			case tt.want != nil && (r.Dispense == nil || !reflect.DeepEqual(*r.Dispense, *tt.want)):
				t.Errorf("facts %+v, want %+v", r.Dispense, tt.want)
			}
		})
	}
}

// TestDispenseReceivers: receivers named by a carechain DID identifier
// are listed, once each and in order; literal references are not.
func TestDispenseReceivers(t *testing.T) {
	raw := mustRead(t, filepath.Join(testdataDir(t, "fhir-r4-examples"), "MedicationDispense-meddisp0319.json"))
	did := func(v string) map[string]any {
		return map[string]any{"identifier": map[string]any{"system": DIDSystem, "value": v}}
	}
	tests := []struct {
		name     string
		receiver []any
		want     []string
	}{
		{"none", nil, nil},
		{"the patient by reference", []any{map[string]any{"reference": "Patient/pat1"}}, nil},
		{"a delegate by DID", []any{did("did:cc:carer")}, []string{"did:cc:carer"}},
		{"two, one repeated", []any{did("did:cc:a"), map[string]any{"reference": "Patient/pat1"}, did("did:cc:b"), did("did:cc:a")}, []string{"did:cc:a", "did:cc:b"}},
		{"another identifier system", []any{map[string]any{"identifier": map[string]any{"system": "urn:other", "value": "did:cc:x"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			delete(m, "receiver")
			if tt.receiver != nil {
				m["receiver"] = tt.receiver
			}
			b, _ := json.Marshal(m)
			r := mustParse(t, b)
			if r.Dispense == nil {
				t.Fatal("no dispense facts")
			}
			if got := r.Dispense.Receivers; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("receivers %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMilliOf(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"30", 30000, true}, {"0", 0, true}, {"2.5", 2500, true}, {"0.125", 125, true}, {"1.2500", 1250, true},
		{"100000000000000", 100000000000000000, true},
		{"0.0005", 0, false}, {"-1", 0, false}, {"1e3", 0, false}, {"1.", 0, false}, {".5", 0, false}, {"", 0, false},
		{`"30"`, 0, false}, {"1000000000000000", 0, false},
	}
	for _, tt := range tests {
		got, ok := MilliOf(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("MilliOf(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

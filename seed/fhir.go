package seed

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// Synthetic FHIR R4 records for the demo patients: plausible, made up,
// deterministic for a seed. They are for the demo only; tests push the
// real Synthea files of ../shared/testdata through the system.

var (
	givenNames  = []string{"Amara", "Bruno", "Chen", "Dalia", "Emeka", "Freya", "Goran", "Hana", "Ines", "Jonas", "Kofi", "Lena", "Mateo", "Nia", "Omar", "Priya"}
	familyNames = []string{"Okafor", "Lindqvist", "Moreau", "Tanaka", "Haddad", "Novak", "Silva", "Kowalski", "Mensah", "Rossi", "Fischer", "Ibrahim"}
	// Districts are the demo's small areas: the names of the synthetic
	// area table the read model ships (index/areas.csv), which maps each
	// to a region and a deprivation quintile.
	Districts = []string{"Northbridge", "Hillcrest", "Ashford", "Eastfield", "Millbrook", "Stonegate",
		"Riverside", "Southport", "Greenvale", "Lakeview", "Westmoor", "Oakridge"}
)

// vital is one vital-sign observation kind (LOINC).
type vital struct {
	code, display, unit, ucum string
	base, spread              float64
}

var vitals = []vital{
	{"8302-6", "Body Height", "cm", "cm", 150, 40},
	{"29463-7", "Body Weight", "kg", "kg", 50, 50},
	{"8867-4", "Heart rate", "/min", "/min", 55, 40},
	{"8310-5", "Body temperature", "Cel", "Cel", 36.2, 1.2},
}

// vaccines are CVX-coded immunizations.
var vaccines = []struct{ code, display string }{
	{"208", "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose"},
	{"140", "Influenza, seasonal, injectable, preservative free"},
	{"115", "Tdap"},
	{"133", "Pneumococcal conjugate PCV 13"},
}

// conditions are SNOMED CT coded problems.
var conditions = []struct{ code, display string }{
	{"38341003", "Hypertensive disorder, systemic arterial (disorder)"},
	{"44054006", "Diabetes mellitus type 2 (disorder)"},
	{"195662009", "Acute viral pharyngitis (disorder)"},
	{"35489007", "Depressive disorder (disorder)"},
}

// rnd is a tiny deterministic generator (SHA-256 in counter mode).
type rnd struct {
	seed string
	n    uint64
}

func (r *rnd) next() uint64 {
	r.n++
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], r.n)
	h := sha256.Sum256(append([]byte(r.seed), b[:]...))
	return binary.BigEndian.Uint64(h[:8])
}

func (r *rnd) intn(n int) int { return int(r.next() % uint64(n)) }
func (r *rnd) float() float64 { return float64(r.next()>>11) / (1 << 53) }
func urn(r *rnd) string {
	return fmt.Sprintf("urn:uuid:%08x-%04x-4%03x-8%03x-%012x", uint32(r.next()), uint16(r.next()), r.next()%0x1000, r.next()%0x1000, r.next()%(1<<48))
}
func codeable(system, code, display string) map[string]any {
	return map[string]any{"coding": []any{map[string]string{"system": system, "code": code, "display": display}}, "text": display}
}

// District returns the home district of demo patient i (from 1),
// deterministic for the seed.
func (p *Population) District(i int) string {
	r := &rnd{seed: p.Seed + "\x00district\x00" + PatientKey(i)}
	return Districts[r.intn(len(Districts))]
}

// IsChild reports whether demo patient i (from 1) is a child (every
// tenth patient, aged 2 to 9); the others are adults of 18 to 87.
func IsChild(i int) bool { return i%10 == 0 }

// PatientBundle returns a FHIR R4 transaction Bundle for demo patient i
// (from 1): the Patient, an Encounter, vital signs, immunizations and a
// condition (a depressive disorder for every fourth patient, labelled as
// mental health so consents can exclude it), dated before now.
func (p *Population) PatientBundle(i int, now time.Time) []byte {
	r := &rnd{seed: p.Seed + "\x00fhir\x00" + PatientKey(i)}
	pu := urn(r)
	given, family := givenNames[r.intn(len(givenNames))], familyNames[r.intn(len(familyNames))]
	years := 18 + r.intn(70)
	if IsChild(i) {
		years = 2 + years%8 // a child of 2 to 9: the childhood-immunization program's population
	}
	birth := now.AddDate(-years, -r.intn(12), -r.intn(28)).Format("2006-01-02")
	gender := []string{"female", "male"}[r.intn(2)]
	ref := map[string]string{"reference": pu}
	var entries []any
	add := func(fullURL string, res map[string]any) {
		entries = append(entries, map[string]any{"fullUrl": fullURL, "resource": res,
			"request": map[string]string{"method": "POST", "url": res["resourceType"].(string)}})
	}
	add(pu, map[string]any{
		"resourceType": "Patient",
		"identifier":   []any{map[string]string{"system": "urn:carechain:demo:mrn", "value": fmt.Sprintf("DEMO-%s-%03d", p.Seed, i)}},
		"name":         []any{map[string]any{"use": "official", "family": family, "given": []string{given}}},
		"gender":       gender, "birthDate": birth,
		"address": []any{map[string]any{"use": "home", "district": p.District(i), "city": p.District(i), "country": "XX"}},
	})
	visit := now.AddDate(0, -1-r.intn(11), -r.intn(28)).UTC().Truncate(time.Minute)
	eu := urn(r)
	add(eu, map[string]any{
		"resourceType": "Encounter", "status": "finished",
		"class":   map[string]string{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"},
		"type":    []any{codeable("http://snomed.info/sct", "185349003", "Encounter for check up (procedure)")},
		"subject": ref, "period": map[string]string{"start": visit.Format(time.RFC3339), "end": visit.Add(30 * time.Minute).Format(time.RFC3339)},
	})
	for _, v := range vitals {
		val := v.base + v.spread*r.float()
		add(urn(r), map[string]any{
			"resourceType": "Observation", "status": "final",
			"category":          []any{codeable("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs", "Vital signs")},
			"code":              codeable("http://loinc.org", v.code, v.display),
			"subject":           ref,
			"encounter":         map[string]string{"reference": eu},
			"effectiveDateTime": visit.Format(time.RFC3339),
			"valueQuantity":     map[string]any{"value": float64(int(val*10)) / 10, "unit": v.unit, "system": "http://unitsofmeasure.org", "code": v.ucum},
		})
	}
	// Earlier immunizations, without lot numbers (as Synthea writes
	// them): the COVID-19 campaign (CVX 208) is the demo supply chain's.
	for k := 0; k < 2; k++ {
		vac := vaccines[1+r.intn(len(vaccines)-1)]
		add(urn(r), map[string]any{
			"resourceType": "Immunization", "status": "completed",
			"vaccineCode":        codeable("http://hl7.org/fhir/sid/cvx", vac.code, vac.display),
			"patient":            ref,
			"occurrenceDateTime": visit.AddDate(0, 0, -30*k).Format(time.RFC3339),
			"primarySource":      true,
		})
	}
	cond := conditions[r.intn(3)]
	if i%4 == 0 {
		cond = conditions[3]
	}
	c := map[string]any{
		"resourceType":   "Condition",
		"clinicalStatus": codeable("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"),
		"category":       []any{codeable("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item", "Problem List Item")},
		"code":           codeable("http://snomed.info/sct", cond.code, cond.display),
		"subject":        ref, "onsetDateTime": visit.Format(time.RFC3339),
	}
	if cond.code == "35489007" {
		c["meta"] = map[string]any{"security": []any{map[string]string{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSY", "display": "psychiatry disorder information sensitivity"}}}
	}
	add(urn(r), c)
	b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
	return b
}

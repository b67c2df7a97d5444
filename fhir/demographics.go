package fhir

import (
	"encoding/json"
	"strings"
)

// Demographics are the fields of a Patient that population statistics
// group by. They are PHI: they stay in the node (its read model), never
// on the ledger.
type Demographics struct {
	BirthDate string // Patient.birthDate as written ("YYYY", "YYYY-MM" or "YYYY-MM-DD"), "" when absent
	Sex       string // Patient.gender: female, male, other or unknown ("" when absent)
	// Area is the district of the patient's home address (Patient.address
	// with use "home", else the first address): address.district, else
	// address.city; "" when absent.
	Area string
}

// DemographicsOf reads the demographics of a Patient resource; ok is false
// for any other resource type.
func DemographicsOf(r *Resource) (d Demographics, ok bool) {
	if r == nil || r.Type != "Patient" {
		return Demographics{}, false
	}
	var p struct {
		BirthDate string `json:"birthDate"`
		Gender    string `json:"gender"`
		Address   []struct {
			Use      string `json:"use"`
			District string `json:"district"`
			City     string `json:"city"`
		} `json:"address"`
	}
	if json.Unmarshal(r.JSON, &p) != nil {
		return Demographics{}, true
	}
	d = Demographics{BirthDate: p.BirthDate, Sex: p.Gender}
	pick := -1
	for i, a := range p.Address {
		if a.Use == "home" {
			pick = i
			break
		}
	}
	if pick < 0 && len(p.Address) > 0 {
		pick = 0
	}
	if pick >= 0 {
		a := p.Address[pick]
		d.Area = strings.TrimSpace(a.District)
		if d.Area == "" {
			d.Area = strings.TrimSpace(a.City)
		}
	}
	return d, true
}

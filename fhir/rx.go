package fhir

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// RxFacts are the facts of a MedicationRequest that the ledger's
// e-prescriptions (package rx) need: set for a MedicationRequest with
// status active, intent order, original-order or instance-order and a
// dispenseRequest.quantity (Synthea's MedicationRequests have none, and
// stay plain records).
type RxFacts struct {
	// QuantityMilli is dispenseRequest.quantity.value in thousandths,
	// converted exactly from the decimal text; QuantityOK is false when
	// the value is not a non-negative decimal with at most three
	// significant decimals (0.0005 cannot be represented).
	QuantityMilli int64
	QuantityOK    bool
	// Unit is the quantity's code, else its unit; "" when none.
	Unit string
	// Repeats is dispenseRequest.numberOfRepeatsAllowed (0 when absent).
	Repeats int
	// ValidUntil is the date (YYYY-MM-DD) of
	// dispenseRequest.validityPeriod.end, the last day of the month or
	// year for a partial date; "" when none.
	ValidUntil string
	// Medication is "system|code" of the first coding with a system of
	// medicationCodeableConcept, or of the code of the contained
	// Medication that medicationReference points at ("#id"); "" if none.
	Medication string
}

// DispenseFacts are the facts of a MedicationDispense that the ledger's
// e-prescriptions need: set for a MedicationDispense with status
// completed or in-progress (handed over, or ready for pick-up) that names
// an authorizingPrescription.
type DispenseFacts struct {
	// Prescription is the first authorizingPrescription reference
	// ("MedicationRequest/{id}" once resolved).
	Prescription string
	// QuantityMilli is quantity.value in thousandths; QuantityOK is false
	// when there is no quantity or it cannot be represented exactly.
	QuantityMilli int64
	QuantityOK    bool
	Unit          string
	// Receivers are the carechain DIDs that receiver names by identifier
	// (system DIDSystem, "did:cc:…"), in order, without repeats: who
	// collected the medication when it was not the patient (a delegate).
	// Receivers given by a literal reference ("Patient/…") are not
	// listed.
	Receivers []string
}

// rxIntents are the MedicationRequest intents that authorize dispensing.
var rxIntents = map[string]bool{"order": true, "original-order": true, "instance-order": true}

// quantity is a FHIR Quantity with its value kept as decimal text.
type quantity struct {
	Value json.RawMessage `json:"value"`
	Unit  string          `json:"unit"`
	Code  string          `json:"code"`
}

func (q *quantity) unit() string {
	if q.Code != "" {
		return q.Code
	}
	return q.Unit
}

// rxFactsOf fills r.Rx or r.Dispense from the decoded top level.
func rxFactsOf(r *Resource, top map[string]json.RawMessage) {
	var status string
	_ = unmarshal(top["status"], &status)
	switch r.Type {
	case "MedicationRequest":
		var intent string
		_ = unmarshal(top["intent"], &intent)
		var dr struct {
			Quantity               *quantity `json:"quantity"`
			NumberOfRepeatsAllowed int       `json:"numberOfRepeatsAllowed"`
			ValidityPeriod         struct {
				End string `json:"end"`
			} `json:"validityPeriod"`
		}
		if status != "active" || !rxIntents[intent] || unmarshal(top["dispenseRequest"], &dr) != nil || dr.Quantity == nil {
			return
		}
		f := &RxFacts{Unit: dr.Quantity.unit(), Repeats: dr.NumberOfRepeatsAllowed, ValidUntil: lastDay(dr.ValidityPeriod.End),
			Medication: medicationOf(top)}
		f.QuantityMilli, f.QuantityOK = MilliOf(string(dr.Quantity.Value))
		r.Rx = f
	case "MedicationDispense":
		if status != "completed" && status != "in-progress" {
			return
		}
		var refs []struct {
			Reference string `json:"reference"`
		}
		if unmarshal(top["authorizingPrescription"], &refs) != nil || len(refs) == 0 || refs[0].Reference == "" {
			return
		}
		f := &DispenseFacts{Prescription: refs[0].Reference}
		var q quantity
		if unmarshal(top["quantity"], &q) == nil && len(q.Value) > 0 {
			f.QuantityMilli, f.QuantityOK = MilliOf(string(q.Value))
			f.Unit = q.unit()
		}
		var receivers []struct {
			Identifier struct {
				System string `json:"system"`
				Value  string `json:"value"`
			} `json:"identifier"`
		}
		_ = unmarshal(top["receiver"], &receivers)
		for _, rc := range receivers {
			if rc.Identifier.System == DIDSystem && rc.Identifier.Value != "" && !slices.Contains(f.Receivers, rc.Identifier.Value) {
				f.Receivers = append(f.Receivers, rc.Identifier.Value)
			}
		}
		r.Dispense = f
	}
}

// medicationOf returns "system|code" of a MedicationRequest's medication.
func medicationOf(top map[string]json.RawMessage) string {
	first := func(raw json.RawMessage) string {
		for _, c := range codingsOf(raw) {
			if strings.Contains(c, "|") {
				return c
			}
		}
		return ""
	}
	if raw, ok := top["medicationCodeableConcept"]; ok {
		return first(raw)
	}
	var ref struct {
		Reference string `json:"reference"`
	}
	if unmarshal(top["medicationReference"], &ref) != nil || !strings.HasPrefix(ref.Reference, "#") {
		return ""
	}
	var contained []map[string]json.RawMessage
	_ = unmarshal(top["contained"], &contained)
	for _, c := range contained {
		var id, typ string
		_ = unmarshal(c["id"], &id)
		_ = unmarshal(c["resourceType"], &typ)
		if typ == "Medication" && id == ref.Reference[1:] {
			return first(c["code"])
		}
	}
	return ""
}

// lastDay returns the last day (YYYY-MM-DD) a FHIR date or dateTime
// covers: the date of a full date, the month's or year's last day for a
// partial one; "" when s is none of them.
func lastDay(s string) string {
	switch {
	case len(s) >= 10:
		if t, err := time.Parse("2006-01-02", s[:10]); err == nil {
			return t.Format("2006-01-02")
		}
	case len(s) == 7:
		if t, err := time.Parse("2006-01", s); err == nil {
			return t.AddDate(0, 1, -1).Format("2006-01-02")
		}
	case len(s) == 4:
		if t, err := time.Parse("2006", s); err == nil {
			return t.AddDate(1, 0, -1).Format("2006-01-02")
		}
	}
	return ""
}

// MilliOf converts a non-negative JSON decimal ("30", "2.5", "0.125",
// "1.2500") to thousandths exactly, without floating point. It reports
// false for anything else: a sign, an exponent, more than three
// significant decimals, or more than 15 integer digits.
func MilliOf(s string) (int64, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	frac = strings.TrimRight(frac, "0")
	if whole == "" || len(whole) > 15 || len(frac) > 3 || strings.HasSuffix(s, ".") {
		return 0, false
	}
	var m int64
	for _, c := range whole {
		if c < '0' || c > '9' {
			return 0, false
		}
		m = m*10 + int64(c-'0')
	}
	for i := 0; i < 3; i++ {
		m *= 10
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			m += int64(c - '0')
		}
	}
	return m, true
}

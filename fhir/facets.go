package fhir

import (
	"encoding/json"
	"sort"
	"time"
)

// coding is the part of an R4 Coding (or Identifier, which has the same
// system) this package reads.
type coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

// token renders a system and code as "system|code", or the bare code when
// there is no system (FHIR token search: "code" matches any system).
func token(system, code string) string {
	if system == "" {
		return code
	}
	return system + "|" + code
}

// securitySystems are the code systems of R4 security labels
// (http://hl7.org/fhir/R4/valueset-security-labels.html), in their current
// and pre-THO spellings. A meta.tag from one of them is a security label.
var securitySystems = map[string]bool{
	"http://terminology.hl7.org/CodeSystem/v3-Confidentiality":     true,
	"http://terminology.hl7.org/CodeSystem/v3-ActCode":             true,
	"http://terminology.hl7.org/CodeSystem/v3-ActReason":           true,
	"http://terminology.hl7.org/CodeSystem/v3-ObservationValue":    true,
	"http://terminology.hl7.org/CodeSystem/v3-ActUSPrivacyLaw":     true,
	"http://terminology.hl7.org/CodeSystem/v3-RefrainPolicy":       true,
	"http://terminology.hl7.org/CodeSystem/v3-ActConsentDirective": true,
	"http://hl7.org/fhir/v3/Confidentiality":                       true,
	"http://hl7.org/fhir/v3/ActCode":                               true,
	"http://hl7.org/fhir/v3/ActReason":                             true,
	"http://hl7.org/fhir/v3/ObservationValue":                      true,
}

// codeCategorySystems gives the system of types whose category is a bare
// code rather than a CodeableConcept.
var codeCategorySystems = map[string]string{
	"AllergyIntolerance": "http://hl7.org/fhir/allergy-intolerance-category",
}

// categoriesOf collects the category codes and security labels.
func categoriesOf(typ string, top map[string]json.RawMessage) []string {
	var out []string
	if raw, ok := top["category"]; ok {
		for _, it := range elements(raw) {
			var code string
			if unmarshal(it, &code) == nil {
				out = append(out, token(codeCategorySystems[typ], code))
				continue
			}
			out = append(out, codingsOf(it)...)
		}
	}
	var meta map[string]json.RawMessage
	if unmarshal(top["meta"], &meta) == nil {
		for _, it := range elements(meta["security"]) {
			out = append(out, codingsOf(it)...)
		}
		for _, it := range elements(meta["tag"]) {
			var c coding
			if unmarshal(it, &c) == nil && c.Code != "" && securitySystems[c.System] {
				out = append(out, token(c.System, c.Code))
			}
		}
	}
	return sortedSet(out)
}

// codingsOf reads a CodeableConcept (its codings) or a single Coding.
func codingsOf(raw json.RawMessage) []string {
	var cv struct {
		Coding []coding `json:"coding"`
		coding
	}
	if unmarshal(raw, &cv) != nil {
		return nil
	}
	var out []string
	for _, c := range cv.Coding {
		if c.Code != "" {
			out = append(out, token(c.System, c.Code))
		}
	}
	if cv.Code != "" {
		out = append(out, token(cv.System, cv.Code))
	}
	return out
}

func sortedSet(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	sort.Strings(s)
	out := s[:1]
	for _, v := range s[1:] {
		if v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	return out
}

// dataTimePaths are the elements that carry a resource's clinically
// relevant time, most specific first. No R4 type has two of the early
// ones, so one list serves every type; identity-only types (Patient,
// Practitioner, Organization, Location) have none of them.
var dataTimePaths = [][]string{
	{"effectiveDateTime"}, {"effectiveInstant"}, {"effectivePeriod", "start"}, {"effectiveTiming", "event"},
	{"occurrenceDateTime"}, {"occurrencePeriod", "start"}, {"occurrenceTiming", "event"},
	{"performedDateTime"}, {"performedPeriod", "start"},
	{"onsetDateTime"}, {"onsetPeriod", "start"},
	{"occurredDateTime"}, {"occurredPeriod", "start"},
	{"whenHandedOver"}, {"whenPrepared"},
	{"authoredOn"},
	{"collection", "collectedDateTime"}, {"collection", "collectedPeriod", "start"},
	{"started"},
	{"period", "start"}, {"billablePeriod", "start"}, {"context", "period", "start"},
	{"recordedDate"}, {"issued"}, {"date"}, {"dateTime"}, {"created"}, {"recorded"},
	{"dateAsserted"}, {"sent"}, {"statusDate"},
}

// dataTimeOf returns the first parseable time at dataTimePaths.
func dataTimeOf(top map[string]json.RawMessage) time.Time {
	for _, p := range dataTimePaths {
		for _, raw := range valuesAt(top, p) {
			var s string
			if unmarshal(raw, &s) != nil {
				continue
			}
			if t, ok := ParseTime(s); ok {
				return t
			}
		}
	}
	return time.Time{}
}

// timeLayouts are the R4 date, dateTime and instant forms, longest first.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999", // no zone: not R4, read as UTC
	"2006-01-02",
	"2006-01",
	"2006",
}

// ParseTime reads an R4 date, dateTime or instant. A partial date
// ("2020", "2020-03") is the start of its period; a value without a zone
// is UTC. The result is in UTC.
func ParseTime(s string) (time.Time, bool) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// identifiersOf returns "system|value" of every identifier (an array in
// most types, a single Identifier in a few).
func identifiersOf(top map[string]json.RawMessage) []string {
	var out []string
	seen := map[string]bool{}
	for _, it := range elements(top["identifier"]) {
		var id struct {
			System string `json:"system"`
			Value  string `json:"value"`
		}
		if unmarshal(it, &id) != nil || id.Value == "" {
			continue
		}
		if k := token(id.System, id.Value); !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

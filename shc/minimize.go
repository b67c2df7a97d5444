package shc

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	cc "carechain"
)

// Minimize applies the specification's size rules to a FHIR Bundle: every
// entry gets fullUrl "resource:N" (N its index) and every reference to a
// resource in the bundle (by its fullUrl, "Type/id" or "urn:uuid:…")
// becomes "resource:N"; references to resources outside the bundle are
// dropped (a Reference.display stays); Resource.id, Resource.meta (but
// meta.security), DomainResource.text, CodeableConcept.text and
// Coding.display are removed; the JSON is minified with object keys
// sorted. The bundle's other fields (type, …) stay.
func Minimize(bundle []byte) ([]byte, error) {
	const op = "shc.minimize"
	var b map[string]any
	dec := json.NewDecoder(bytes.NewReader(bundle))
	dec.UseNumber()
	if err := dec.Decode(&b); err != nil {
		return nil, errf(op, cc.Invalid, "the bundle is not a JSON object: %v", err)
	}
	if b["resourceType"] != "Bundle" {
		return nil, errf(op, cc.Invalid, "not a FHIR Bundle")
	}
	entries, _ := b["entry"].([]any)
	if len(entries) == 0 {
		return nil, errf(op, cc.Invalid, "the bundle has no entries")
	}
	refs := map[string]string{}
	for i, e := range entries {
		entry, ok := e.(map[string]any)
		res, ok2 := entry["resource"].(map[string]any)
		if !ok || !ok2 {
			return nil, errf(op, cc.Invalid, "entry %d has no resource", i)
		}
		short := "resource:" + strconv.Itoa(i)
		if u, ok := entry["fullUrl"].(string); ok && u != "" {
			refs[u] = short
		}
		typ, _ := res["resourceType"].(string)
		if typ == "" {
			return nil, errf(op, cc.Invalid, "entry %d's resource has no resourceType", i)
		}
		if id, ok := res["id"].(string); ok && id != "" {
			refs[typ+"/"+id] = short
			refs["urn:uuid:"+id] = short
		}
	}
	for i, e := range entries {
		entry := e.(map[string]any)
		res := entry["resource"].(map[string]any)
		delete(res, "id")
		delete(res, "text")
		if meta, ok := res["meta"].(map[string]any); ok && meta["security"] != nil {
			res["meta"] = map[string]any{"security": meta["security"]}
		} else {
			delete(res, "meta")
		}
		minimizeValue(res, "", refs)
		b["entry"].([]any)[i] = map[string]any{"fullUrl": "resource:" + strconv.Itoa(i), "resource": res}
	}
	delete(b, "id")
	delete(b, "meta")
	out, err := json.Marshal(b)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	return out, nil
}

// minimizeValue walks v (the value of field name) removing Coding.display
// and CodeableConcept.text and shortening references.
func minimizeValue(v any, name string, refs map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		if name == "coding" {
			delete(x, "display")
		}
		if _, ok := x["coding"]; ok {
			delete(x, "text")
		}
		if r, ok := x["reference"].(string); ok {
			if short, ok := refs[r]; ok {
				x["reference"] = short
			} else if !strings.HasPrefix(r, "resource:") {
				delete(x, "reference")
			}
		}
		for k, f := range x {
			minimizeValue(f, k, refs)
		}
	case []any:
		for _, f := range x {
			minimizeValue(f, name, refs)
		}
	}
}

// ImmunizationBundle builds the FHIR Bundle of an immunization card: the
// Patient (name — family and given — and birthDate only) and each
// completed Immunization (status, vaccineCode codings, patient, occurrence,
// the performer's display name and lotNumber), oldest first, minimized.
func ImmunizationBundle(patient json.RawMessage, immunizations []json.RawMessage) ([]byte, error) {
	const op = "shc.bundle"
	var p struct {
		ResourceType string `json:"resourceType"`
		Name         []struct {
			Family string   `json:"family"`
			Given  []string `json:"given"`
		} `json:"name"`
		BirthDate string `json:"birthDate"`
	}
	if err := json.Unmarshal(patient, &p); err != nil || p.ResourceType != "Patient" {
		return nil, errf(op, cc.Invalid, "the patient is not a FHIR Patient")
	}
	pat := map[string]any{"resourceType": "Patient"}
	var names []any
	for _, n := range p.Name {
		m := map[string]any{}
		if n.Family != "" {
			m["family"] = n.Family
		}
		if len(n.Given) > 0 {
			m["given"] = n.Given
		}
		if len(m) > 0 {
			names = append(names, m)
			break // the official name is enough
		}
	}
	if names != nil {
		pat["name"] = names
	}
	if p.BirthDate != "" {
		pat["birthDate"] = p.BirthDate
	}
	type imm struct {
		when string
		res  map[string]any
	}
	var imms []imm
	for i, raw := range immunizations {
		var x struct {
			ResourceType string `json:"resourceType"`
			Status       string `json:"status"`
			VaccineCode  struct {
				Coding []struct {
					System string `json:"system"`
					Code   string `json:"code"`
				} `json:"coding"`
			} `json:"vaccineCode"`
			OccurrenceDateTime string `json:"occurrenceDateTime"`
			OccurrenceString   string `json:"occurrenceString"`
			Performer          []struct {
				Actor struct {
					Display string `json:"display"`
				} `json:"actor"`
			} `json:"performer"`
			LotNumber string `json:"lotNumber"`
		}
		if err := json.Unmarshal(raw, &x); err != nil || x.ResourceType != "Immunization" {
			return nil, errf(op, cc.Invalid, "immunization %d is not a FHIR Immunization", i)
		}
		if x.Status != "completed" {
			continue
		}
		var codings []any
		for _, c := range x.VaccineCode.Coding {
			if c.System != "" && c.Code != "" {
				codings = append(codings, map[string]any{"system": c.System, "code": c.Code})
			}
		}
		if len(codings) == 0 {
			return nil, errf(op, cc.Invalid, "immunization %d has no coded vaccine", i)
		}
		r := map[string]any{"resourceType": "Immunization", "status": x.Status,
			"vaccineCode": map[string]any{"coding": codings}, "patient": map[string]any{"reference": "resource:0"}}
		when := x.OccurrenceDateTime
		switch {
		case x.OccurrenceDateTime != "":
			r["occurrenceDateTime"] = x.OccurrenceDateTime
		case x.OccurrenceString != "":
			r["occurrenceString"], when = x.OccurrenceString, x.OccurrenceString
		default:
			return nil, errf(op, cc.Invalid, "immunization %d has no occurrence", i)
		}
		for _, pf := range x.Performer {
			if pf.Actor.Display != "" {
				r["performer"] = []any{map[string]any{"actor": map[string]any{"display": pf.Actor.Display}}}
				break
			}
		}
		if x.LotNumber != "" {
			r["lotNumber"] = x.LotNumber
		}
		imms = append(imms, imm{when, r})
	}
	if len(imms) == 0 {
		return nil, errf(op, cc.NotFound, "no completed immunization to put on a card")
	}
	slices.SortStableFunc(imms, func(a, b imm) int { return strings.Compare(a.when, b.when) })
	entries := []any{map[string]any{"fullUrl": "resource:0", "resource": pat}}
	for _, m := range imms {
		entries = append(entries, map[string]any{"fullUrl": "resource:" + strconv.Itoa(len(entries)), "resource": m.res})
	}
	b, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "collection", "entry": entries})
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	return Minimize(b)
}

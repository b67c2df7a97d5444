package fhir

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	cc "carechain"
)

// Deidentifier removes direct identifiers from FHIR R4 resources in the
// style of the HIPAA Privacy Rule's Safe Harbor method (45 CFR
// 164.514(b)(2)), for research extracts:
//
//   - resources that are mostly identifying or free text are dropped
//     whole: DocumentReference, Media, Binary, Provenance, Practitioner,
//     PractitionerRole, RelatedPerson, Person, Communication;
//   - names, telecom, photos, contacts, identifiers (medical record,
//     social security, licence, device and every other number), meta,
//     narrative (text.div), extensions (mother's maiden name, birth place
//     and the like), notes, comments, free-text strings (valueString,
//     description, patientInstruction, Dosage.text and any string "text"
//     outside a CodeableConcept), attachments (content, presentedForm,
//     photo) and the display text of references are removed at every
//     depth, contained resources included;
//   - an address keeps only its state, country and the first three
//     characters of its postal code (Safe Harbor's initial three ZIP
//     digits; a deployment whose three-digit areas hold 20,000 people or
//     fewer should drop them);
//   - every date, dateTime and instant becomes its year alone; a birth
//     date (or age) that puts the person above 89 at AsOfYear becomes
//     AsOfYear − 90 (Safe Harbor's "90 or older");
//   - resource ids and relative references "Type/id" are replaced by
//     Pseudonym(Type, id), so records of one person stay linked within an
//     extract; other references (absolute URLs, urn:uuid, identifiers)
//     are removed, local "#id" references kept.
//
// CodeableConcepts, codings, quantities and other coded data are kept.
type Deidentifier struct {
	AsOfYear  int                         // the extract's year, for the 90+ rule
	Pseudonym func(typ, id string) string // stable pseudonymous id (required)
}

// droppedTypes are resource types an extract leaves out.
var droppedTypes = map[string]bool{
	"DocumentReference": true, "Media": true, "Binary": true, "Provenance": true, "Practitioner": true,
	"PractitionerRole": true, "RelatedPerson": true, "Person": true, "Communication": true,
}

// removedKeys are element names removed at every depth.
var removedKeys = map[string]bool{
	"identifier": true, "name": true, "telecom": true, "photo": true, "contact": true, "meta": true,
	"extension": true, "modifierExtension": true, "note": true, "comment": true, "valueString": true,
	"description": true, "patientInstruction": true, "content": true, "presentedForm": true,
	"implicitRules": true, "valueAttachment": true, "signature": true, "valueBase64Binary": true, "position": true,
}

// fhirDate matches FHIR date, dateTime and instant values.
var fhirDate = regexp.MustCompile(`^[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?$`)

// Deidentify returns the de-identified compact JSON of the resource raw,
// or nil when the resource type is left out of extracts. A resource that
// is not a JSON object with a resourceType is cc.Invalid.
func (d Deidentifier) Deidentify(raw []byte) ([]byte, error) {
	const op = "fhir.deidentify"
	if d.Pseudonym == nil {
		return nil, cc.Errorf(op, cc.Internal, "no pseudonym function")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var res map[string]any
	if err := dec.Decode(&res); err != nil {
		return nil, cc.Errorf(op, cc.Invalid, "the resource is not a JSON object")
	}
	typ, _ := res["resourceType"].(string)
	if typ == "" {
		return nil, cc.Errorf(op, cc.Invalid, "the resource has no resourceType")
	}
	if droppedTypes[typ] {
		return nil, nil
	}
	out := d.resource(res)
	if out == nil {
		return nil, nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	return b, nil
}

// resource de-identifies one resource object (top level or contained).
func (d Deidentifier) resource(res map[string]any) map[string]any {
	typ, _ := res["resourceType"].(string)
	if droppedTypes[typ] {
		return nil
	}
	if id, ok := res["id"].(string); ok {
		res["id"] = d.Pseudonym(typ, id)
	}
	if t, ok := res["text"].(map[string]any); ok && t != nil {
		delete(res, "text")
	}
	if contained, ok := res["contained"].([]any); ok {
		var keep []any
		for _, c := range contained {
			if m, ok := c.(map[string]any); ok {
				// A contained id is local ("#id"): keep it as it is.
				id := m["id"]
				if r := d.object(m, "contained"); r != nil {
					if id != nil {
						r["id"] = id
					}
					keep = append(keep, r)
				}
			}
		}
		if len(keep) == 0 {
			delete(res, "contained")
		} else {
			res["contained"] = keep
		}
	}
	for k, v := range res {
		if k == "resourceType" || k == "id" || k == "contained" {
			continue
		}
		if nv, keep := d.value(k, v, res); keep {
			res[k] = nv
		} else {
			delete(res, k)
		}
	}
	if typ == "Patient" {
		d.birth(res)
	}
	return res
}

// object de-identifies a nested object; a nested resource (contained) is
// handled as a resource.
func (d Deidentifier) object(m map[string]any, _ string) map[string]any {
	if _, ok := m["resourceType"].(string); ok {
		return d.resource(m)
	}
	for k, v := range m {
		if nv, keep := d.value(k, v, m); keep {
			m[k] = nv
		} else {
			delete(m, k)
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// value de-identifies the element k (value v) of the object parent and
// reports whether to keep it.
func (d Deidentifier) value(k string, v any, parent map[string]any) (any, bool) {
	if removedKeys[k] {
		return nil, false
	}
	switch k {
	case "address":
		return d.addresses(v)
	case "text":
		// A CodeableConcept's text (beside its codings) is terminology;
		// every other text is free text or narrative.
		_, coded := parent["coding"]
		s, isString := v.(string)
		return s, coded && isString
	case "display":
		// A Coding's display is terminology; any other (a Reference's) may
		// be a name.
		_, coding := parent["code"]
		return v, coding
	case "reference":
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		return d.reference(s)
	case "url", "fullUrl", "system", "code", "version", "profile", "valueCode":
		return v, true
	}
	switch x := v.(type) {
	case string:
		if fhirDate.MatchString(x) {
			return x[:4], true
		}
		return x, true
	case map[string]any:
		r := d.object(x, k)
		return r, r != nil
	case []any:
		var out []any
		for _, e := range x {
			if ev, keep := d.value(k, e, parent); keep {
				out = append(out, ev)
			}
		}
		return out, len(out) > 0
	}
	return v, true
}

// reference maps a reference string: "Type/id" (or a versioned
// "Type/id/_history/n") to its pseudonym, "#id" kept, anything else
// removed.
func (d Deidentifier) reference(s string) (any, bool) {
	if strings.HasPrefix(s, "#") {
		return s, true
	}
	parts := strings.Split(s, "/")
	if len(parts) != 2 && !(len(parts) == 4 && parts[2] == "_history") {
		return nil, false
	}
	if parts[0] == "" || parts[0][0] < 'A' || parts[0][0] > 'Z' || parts[1] == "" {
		return nil, false
	}
	return parts[0] + "/" + d.Pseudonym(parts[0], parts[1]), true
}

// addresses keeps the state, country and truncated postal code of each
// address.
func (d Deidentifier) addresses(v any) (any, bool) {
	one := func(a any) (map[string]any, bool) {
		m, ok := a.(map[string]any)
		if !ok {
			return nil, false
		}
		out := map[string]any{}
		for _, k := range []string{"state", "country", "use"} {
			if s, ok := m[k].(string); ok && s != "" {
				out[k] = s
			}
		}
		if pc, ok := m["postalCode"].(string); ok && len(pc) >= 3 {
			out["postalCode"] = pc[:3]
		}
		return out, len(out) > 0
	}
	if list, ok := v.([]any); ok {
		var out []any
		for _, a := range list {
			if m, keep := one(a); keep {
				out = append(out, m)
			}
		}
		return out, len(out) > 0
	}
	m, keep := one(v)
	return m, keep
}

// birth applies the 90+ rule to a Patient's (already year-only) birth
// date.
func (d Deidentifier) birth(res map[string]any) {
	s, ok := res["birthDate"].(string)
	if !ok || d.AsOfYear == 0 || len(s) < 4 {
		return
	}
	if y, err := strconv.Atoi(s[:4]); err == nil && d.AsOfYear-y > 89 {
		res["birthDate"] = strconv.Itoa(d.AsOfYear - 90)
	}
}

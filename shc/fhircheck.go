package shc

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	cc "carechain"
)

// MaxEntries bounds the entries of a card's Bundle.
const MaxEntries = 1000

// CheckBundle checks a card's FHIR Bundle as the specification asks:
// a Bundle of 1..MaxEntries entries, each with fullUrl "resource:N" (N its
// index) and a resource with a resourceType and without Resource.id,
// Resource.meta (but meta.security), DomainResource.text,
// CodeableConcept.text or Coding.display; every "resource:" reference
// names an entry (references outside the bundle are allowed, as the
// specification only recommends short ones); each Immunization has a status, a
// coded vaccineCode, a patient reference to a Patient entry and an
// occurrence. Every failure is cc.Invalid.
func CheckBundle(raw json.RawMessage) error {
	const op = "shc.fhir"
	bad := func(format string, args ...any) error { return errf(op, cc.Invalid, format, args...) }
	var b map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&b); err != nil {
		return bad("fhirBundle is not a JSON object")
	}
	if b["resourceType"] != "Bundle" {
		return bad("fhirBundle is not a Bundle")
	}
	if typ, _ := b["type"].(string); typ == "" {
		return bad("Bundle.type is missing")
	}
	entries, _ := b["entry"].([]any)
	if len(entries) == 0 || len(entries) > MaxEntries {
		return bad("the Bundle must have 1 to %d entries", MaxEntries)
	}
	types := make([]string, len(entries))
	resources := make([]map[string]any, len(entries))
	for i, e := range entries {
		entry, _ := e.(map[string]any)
		if entry == nil {
			return bad("entry[%d] is not an object", i)
		}
		if entry["fullUrl"] != "resource:"+strconv.Itoa(i) {
			return bad("entry[%d].fullUrl must be resource:%d", i, i)
		}
		res, _ := entry["resource"].(map[string]any)
		if res == nil {
			return bad("entry[%d] has no resource", i)
		}
		typ, _ := res["resourceType"].(string)
		if typ == "" {
			return bad("entry[%d].resource has no resourceType", i)
		}
		if _, ok := res["id"]; ok {
			return bad("entry[%d] %s has an id (Resource.id must be left out)", i, typ)
		}
		if m, ok := res["meta"]; ok {
			mm, _ := m.(map[string]any)
			if len(mm) != 1 || mm["security"] == nil {
				return bad("entry[%d] %s has meta other than meta.security", i, typ)
			}
		}
		if _, ok := res["text"]; ok {
			return bad("entry[%d] %s has a narrative text", i, typ)
		}
		types[i], resources[i] = typ, res
	}
	target := func(ref string) (string, bool) {
		n, ok := strings.CutPrefix(ref, "resource:")
		i, err := strconv.Atoi(n)
		if !ok || err != nil || i < 0 || i >= len(types) || strconv.Itoa(i) != n {
			return "", false
		}
		return types[i], true
	}
	for i, res := range resources {
		if msg := checkMinimal(res, "", target); msg != "" {
			return bad("entry[%d] %s: %s", i, types[i], msg)
		}
		if types[i] == "Immunization" {
			if msg := checkImmunization(res, target); msg != "" {
				return bad("entry[%d] Immunization: %s", i, msg)
			}
		}
	}
	return nil
}

// checkMinimal walks v (the value of field name) and describes the first
// element the specification leaves out or a reference that is not
// resource:N of an entry.
func checkMinimal(v any, name string, target func(string) (string, bool)) string {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["display"]; ok && name == "coding" {
			return "Coding.display must be left out"
		}
		if _, ok := x["text"]; ok {
			if _, coded := x["coding"]; coded {
				return "CodeableConcept.text must be left out"
			}
		}
		if r, ok := x["reference"]; ok {
			s, isString := r.(string)
			if _, ok := target(s); !ok && (!isString || strings.HasPrefix(s, "resource:")) {
				return "reference " + strconv.Quote(cc.Echo(s)) + " is not resource:N of an entry"
			}
		}
		for k, f := range x {
			if msg := checkMinimal(f, k, target); msg != "" {
				return msg
			}
		}
	case []any:
		for _, f := range x {
			if msg := checkMinimal(f, name, target); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// checkImmunization checks the elements a verifier relies on.
func checkImmunization(res map[string]any, target func(string) (string, bool)) string {
	switch res["status"] {
	case "completed", "entered-in-error", "not-done":
	default:
		return "status must be completed, entered-in-error or not-done"
	}
	vc, _ := res["vaccineCode"].(map[string]any)
	codings, _ := vc["coding"].([]any)
	if len(codings) == 0 {
		return "vaccineCode has no coding"
	}
	for _, c := range codings {
		m, _ := c.(map[string]any)
		sys, _ := m["system"].(string)
		code, _ := m["code"].(string)
		if sys == "" || code == "" {
			return "each vaccineCode coding needs a system and a code"
		}
	}
	pat, _ := res["patient"].(map[string]any)
	ref, _ := pat["reference"].(string)
	if t, ok := target(ref); !ok || t != "Patient" {
		return "patient must reference a Patient entry"
	}
	dt, _ := res["occurrenceDateTime"].(string)
	os, _ := res["occurrenceString"].(string)
	if dt == "" && os == "" {
		return "occurrenceDateTime is missing"
	}
	return ""
}

// Package fhir is carechain's only door to FHIR R4 and the only importer of
// github.com/google/fhir/go. It turns FHIR JSON into validated,
// carechain-ready pieces — a Resource with its type, id, patient
// compartment, category and security codes, clinically relevant time and
// identifiers; a Bundle of entries; a Resolved transaction whose references
// point at server ids — and turns errors into OperationOutcomes.
//
// Validation is the library's validating R4 unmarshaller (structure,
// primitive formats, required fields, reference target types). It costs
// about a quarter of a millisecond per resource, so bundles are parsed by a
// pool of workers; this package sits at the API edge, never on the
// consensus path.
package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	jsoniter "github.com/json-iterator/go"

	cc "carechain"
)

// Resource is one validated FHIR R4 resource. It holds no PHI outside JSON:
// the other fields are codes, references, identifiers and a time.
type Resource struct {
	Type string // R4 resource type, e.g. "Observation"
	ID   string // logical id; empty before the server assigns one
	// JSON is the resource as received, or re-marshalled by Resolve after
	// it set the id and rewrote references.
	JSON []byte
	// Patient is the reference of the Patient compartment the resource
	// belongs to ("Patient/123", or "urn:uuid:…" inside an unresolved
	// bundle); empty for resources outside any patient's compartment.
	Patient string
	// Categories holds "system|code" (or a bare code when the coding has
	// no system) of the resource's category, meta.security and security
	// labels found in meta.tag; sorted, without duplicates.
	Categories []string
	// Codes holds "system|code" (or a bare code when the coding has no
	// system) of the resource's main code, for search by code: code
	// (Observation, Condition, Procedure, AllergyIntolerance,
	// DiagnosticReport, …), vaccineCode (Immunization),
	// medicationCodeableConcept (MedicationRequest, MedicationStatement,
	// …), type (Encounter, Claim, DocumentReference, …) and Encounter's
	// class; sorted, without duplicates; nil for types without one.
	Codes []string
	// DataTime is the clinically relevant time (effective[x],
	// occurrence[x], onset[x], authoredOn, period.start, …); zero if none.
	DataTime time.Time
	// Identifiers holds "system|value" of the resource's identifiers (and,
	// after Resolve, its bundle fullUrl as "urn:ietf:rfc:3986|urn:uuid:…").
	Identifiers []string
	// Lot is Immunization.lotNumber (trimmed), empty for other types.
	Lot string
	// Rx and Dispense are the e-prescription facts of a MedicationRequest
	// and a MedicationDispense (see RxFacts, DispenseFacts); nil when the
	// resource carries none.
	Rx       *RxFacts
	Dispense *DispenseFacts
}

// Reference returns "{Type}/{ID}", or "" when the id is not yet assigned.
func (r *Resource) Reference() string {
	if r.ID == "" {
		return ""
	}
	return r.Type + "/" + r.ID
}

// Parse validates b as one FHIR R4 resource of any type and describes it.
// Any problem yields an *OutcomeError of kind Invalid listing every issue
// the validator found, each located FHIRPath-style ("Observation.status").
func Parse(b []byte) (*Resource, error) {
	top, typ, err := resourceObject(b, "")
	if err != nil {
		return nil, err
	}
	if issues := validate(b); hasErrors(issues) {
		return nil, invalid(issues...)
	}
	return describe(typ, top, b, nil), nil
}

// ReadJSON reads one FHIR JSON document of at most limit bytes from r and
// checks that it is a JSON object with a known R4 "resourceType", so that
// non-FHIR input gets a clear error before the full parse. It returns the
// bytes and the resource type ("Bundle" → use ParseBundle). Input over the
// limit is an *OutcomeError of kind TooLarge. size, when positive, is the
// expected length (an HTTP request's Content-Length): the buffer is
// allocated once instead of grown through a megabyte bundle.
func ReadJSON(r io.Reader, size, limit int64) ([]byte, string, error) {
	var buf bytes.Buffer
	if size > 0 && size <= limit {
		buf.Grow(int(size) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return nil, "", cc.E("fhir.ReadJSON", cc.Internal, err)
	}
	b := buf.Bytes()
	if int64(len(b)) > limit {
		return nil, "", &OutcomeError{Kind: cc.TooLarge, Issues: []Issue{
			issue("too-long", "", "the document is larger than %d bytes", limit)}}
	}
	if typ, ok := documentType(b); ok {
		return b, typ, nil
	}
	_, typ, err := resourceObject(b, "")
	if err != nil {
		return nil, "", err
	}
	return b, typ, nil
}

// documentType returns the resourceType of b, and true, when
// resourceObject(b, "") would accept b with that type — without building
// its top-level map, whose values (a bundle's entries: most of the
// document) the map decoder copies. It scans the members with the same
// json-iterator calls that decoder makes (Skip for each value, ReadString
// for names and the type, the same end-of-input check), so it accepts
// exactly what the decoder accepts; anything it does not vouch for (a
// scan error, no resourceType, one that is not a string, an unknown type)
// is false, and the caller asks resourceObject, which words the error.
func documentType(b []byte) (string, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return "", false
	}
	it := fastJSON.BorrowIterator(b)
	defer fastJSON.ReturnIterator(it)
	typ, found, ok := "", false, true
	it.ReadMapCB(func(it *jsoniter.Iterator, name string) bool {
		if name != "resourceType" {
			it.Skip()
			return true
		}
		if it.WhatIsNext() != jsoniter.StringValue {
			ok = false
			return false
		}
		typ, found = it.ReadString(), true
		return true
	})
	if !ok || !found || it.Error != nil {
		return "", false
	}
	// Nothing may follow the object (the decoder's own check).
	if it.WhatIsNext(); it.Error != io.EOF {
		return "", false
	}
	return typ, isResourceType(typ)
}

// resourceObject decodes the top level of a resource and checks its
// resourceType; at locates errors inside a bundle ("Bundle.entry[3].resource").
func resourceObject(b []byte, at string) (map[string]json.RawMessage, string, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, "", invalid(issue("structure", at, "not a FHIR resource: expected a JSON object"))
	}
	// Most resources split in place; the decoder takes the rest (and
	// words their errors).
	top, split := splitObject(b)
	if !split {
		if err := unmarshal(b, &top); err != nil {
			// Ask encoding/json where: json-iterator's messages quote the input.
			return nil, "", invalid(issue("structure", at, "not a FHIR resource: invalid JSON (%s)", jsonErrorText(json.Unmarshal(b, &top))))
		}
	}
	raw, ok := top["resourceType"]
	if !ok {
		return nil, "", invalid(issue("structure", at, `not a FHIR resource: missing "resourceType"`))
	}
	var typ string
	if err := unmarshal(raw, &typ); err != nil {
		return nil, "", invalid(issue("structure", joinPath(at, "resourceType"), "resourceType must be a string"))
	}
	if !isResourceType(typ) {
		return nil, "", invalid(issue("not-supported", joinPath(at, "resourceType"), "unknown R4 resource type"))
	}
	return top, typ, nil
}

// jsonErrorText describes a JSON syntax error by position only (the
// standard library's messages can quote input).
func jsonErrorText(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Sprintf("syntax error at byte %d", e.Offset)
	case *json.UnmarshalTypeError:
		return fmt.Sprintf("unexpected %s at byte %d", e.Value, e.Offset)
	}
	return "cannot decode"
}

func hasErrors(issues []Issue) bool {
	for _, is := range issues {
		if is.Severity == "error" || is.Severity == "fatal" {
			return true
		}
	}
	return false
}

// describe fills a Resource from the decoded top level of a valid resource.
// typeOf resolves bundle-local references (urn:uuid fullUrls) to a type; nil
// outside a bundle.
func describe(typ string, top map[string]json.RawMessage, b []byte, typeOf func(ref string) string) *Resource {
	r := &Resource{Type: typ, JSON: b}
	_ = unmarshal(top["id"], &r.ID)
	r.Patient = patientOf(typ, r.ID, top, typeOf)
	r.Categories = categoriesOf(typ, top)
	r.Codes = codesOf(typ, top)
	r.DataTime = dataTimeOf(top)
	r.Identifiers = identifiersOf(top)
	if typ == "Immunization" {
		_ = unmarshal(top["lotNumber"], &r.Lot)
		r.Lot = strings.TrimSpace(r.Lot)
	}
	rxFactsOf(r, top)
	return r
}

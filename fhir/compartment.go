package fhir

import (
	"encoding/json"
	"strings"
)

// patientPaths lists, per resource type, where the R4 Patient compartment
// definition finds the patient a resource belongs to, as element paths
// tried in order (arrays are walked). A leading "!" marks a path whose
// target may be of many types (Provenance.target, AuditEvent.entity.what):
// there, only a reference known to point at a Patient counts. Elsewhere an
// untyped reference (a urn:uuid outside a bundle) is taken as the patient;
// a reference known to point at another type (a Group, a Device) is not.
var patientPaths = map[string][]string{
	"Account":                     {"subject"},
	"AdverseEvent":                {"subject"},
	"AllergyIntolerance":          {"patient"},
	"Appointment":                 {"!participant.actor"},
	"AppointmentResponse":         {"!actor"},
	"AuditEvent":                  {"!entity.what", "!agent.who"},
	"Basic":                       {"subject"},
	"BodyStructure":               {"patient"},
	"CarePlan":                    {"subject"},
	"CareTeam":                    {"subject"},
	"ChargeItem":                  {"subject"},
	"Claim":                       {"patient"},
	"ClaimResponse":               {"patient"},
	"ClinicalImpression":          {"subject"},
	"Communication":               {"subject"},
	"CommunicationRequest":        {"subject"},
	"Composition":                 {"subject"},
	"Condition":                   {"subject"},
	"Consent":                     {"patient"},
	"Coverage":                    {"beneficiary"},
	"CoverageEligibilityRequest":  {"patient"},
	"CoverageEligibilityResponse": {"patient"},
	"DetectedIssue":               {"patient"},
	"Device":                      {"patient"},
	"DeviceRequest":               {"subject"},
	"DeviceUseStatement":          {"subject"},
	"DiagnosticReport":            {"subject"},
	"DocumentManifest":            {"subject"},
	"DocumentReference":           {"subject"},
	"Encounter":                   {"subject"},
	"EnrollmentRequest":           {"candidate"},
	"EpisodeOfCare":               {"patient"},
	"ExplanationOfBenefit":        {"patient"},
	"FamilyMemberHistory":         {"patient"},
	"Flag":                        {"subject"},
	"Goal":                        {"subject"},
	"ImagingStudy":                {"subject"},
	"Immunization":                {"patient"},
	"ImmunizationEvaluation":      {"patient"},
	"ImmunizationRecommendation":  {"patient"},
	"Invoice":                     {"subject"},
	"List":                        {"subject"},
	"MeasureReport":               {"subject"},
	"Media":                       {"subject"},
	"MedicationAdministration":    {"subject"},
	"MedicationDispense":          {"subject"},
	"MedicationRequest":           {"subject"},
	"MedicationStatement":         {"subject"},
	"MolecularSequence":           {"patient"},
	"NutritionOrder":              {"patient"},
	"Observation":                 {"subject"},
	"Person":                      {"!link.target"},
	"Procedure":                   {"subject"},
	"Provenance":                  {"!target"},
	"QuestionnaireResponse":       {"subject"},
	"RelatedPerson":               {"patient"},
	"RequestGroup":                {"subject"},
	"ResearchSubject":             {"individual"},
	"RiskAssessment":              {"subject"},
	"Schedule":                    {"!actor"},
	"ServiceRequest":              {"subject"},
	"Specimen":                    {"subject"},
	"SupplyDelivery":              {"patient"},
	"VisionPrescription":          {"patient"},
}

// patientOf returns the Patient compartment reference of a resource: the
// Patient's own reference for a Patient, else the first reference at the
// type's patient paths that points at a Patient. typeOf names the type
// behind a bundle-local reference (nil outside a bundle).
func patientOf(typ, id string, top map[string]json.RawMessage, typeOf func(string) string) string {
	if typ == "Patient" {
		if id == "" {
			return ""
		}
		return "Patient/" + id
	}
	for _, p := range patientPaths[typ] {
		strict := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		for _, ref := range referencesAt(top, strings.Split(p, ".")) {
			t := refType(ref.Reference, typeOf)
			if t == "" {
				t = ref.Type
			}
			if t == "Patient" || (t == "" && !strict && ref.Reference != "" && !strings.HasPrefix(ref.Reference, "#")) {
				return ref.Reference
			}
		}
	}
	return ""
}

// reference is the part of an R4 Reference this package reads.
type reference struct {
	Reference string `json:"reference"`
	Type      string `json:"type"`
}

// referencesAt collects the References found at path below obj.
func referencesAt(obj map[string]json.RawMessage, path []string) []reference {
	var out []reference
	for _, raw := range valuesAt(obj, path) {
		var r reference
		if unmarshal(raw, &r) == nil && r.Reference != "" {
			out = append(out, r)
		}
	}
	return out
}

// valuesAt returns the JSON values at an element path, walking arrays at
// every step.
func valuesAt(obj map[string]json.RawMessage, path []string) []json.RawMessage {
	raw, ok := obj[path[0]]
	if !ok {
		return nil
	}
	items := elements(raw)
	if len(path) == 1 {
		return items
	}
	var out []json.RawMessage
	for _, it := range items {
		var child map[string]json.RawMessage
		if unmarshal(it, &child) == nil {
			out = append(out, valuesAt(child, path[1:])...)
		}
	}
	return out
}

// elements returns the items of a JSON array, or the value itself.
func elements(raw json.RawMessage) []json.RawMessage {
	if t := firstByte(raw); t == '[' {
		var items []json.RawMessage
		_ = unmarshal(raw, &items)
		return items
	}
	return []json.RawMessage{raw}
}

func firstByte(raw []byte) byte {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

// refType names the resource type a reference string points at, or "" when
// it cannot tell: "Patient/1", ".../fhir/Patient/1/_history/2" and the
// conditional "Patient?identifier=…" name their type; a urn:uuid or urn:oid
// is looked up with typeOf; a contained "#x" has no type here.
func refType(ref string, typeOf func(string) string) string {
	switch {
	case ref == "" || strings.HasPrefix(ref, "#"):
		return ""
	case strings.HasPrefix(ref, "urn:"):
		if typeOf != nil {
			return typeOf(ref)
		}
		return ""
	}
	if i := strings.IndexByte(ref, '?'); i > 0 {
		if t := ref[:i]; isResourceType(t) {
			return t
		}
		return ""
	}
	segs := strings.Split(strings.TrimSuffix(ref, "/"), "/")
	if n := len(segs); n >= 4 && segs[n-2] == "_history" {
		segs = segs[:n-2]
	}
	if n := len(segs); n >= 2 && isResourceType(segs[n-2]) {
		return segs[n-2]
	}
	return ""
}

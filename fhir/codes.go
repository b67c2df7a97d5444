package fhir

import (
	"encoding/json"
	"strings"
)

// codePaths gives, per R4 resource type, the elements holding the
// resource's main code (a CodeableConcept or Coding, or an array of
// them), searched as a token ("system|code"). Types absent here have no
// single main code (their category, if any, is in Categories).
var codePaths = func() map[string][][]string {
	byElement := map[string][]string{
		"code": {"ActivityDefinition", "AllergyIntolerance", "Basic", "ChargeItem", "ChargeItemDefinition",
			"ClinicalImpression", "Condition", "DetectedIssue", "DiagnosticReport", "Flag", "Group", "List",
			"Medication", "MedicationKnowledge", "Observation", "ObservationDefinition", "PractitionerRole",
			"Procedure", "Questionnaire", "RiskAssessment", "ServiceRequest", "Substance", "Task"},
		"vaccineCode": {"Immunization"},
		"medicationCodeableConcept": {"MedicationAdministration", "MedicationDispense", "MedicationRequest",
			"MedicationStatement"},
		"codeCodeableConcept": {"DeviceRequest"},
		"type": {"Account", "Claim", "ClaimResponse", "Composition", "Contract", "Coverage", "Device",
			"DocumentManifest", "DocumentReference", "Encounter", "EpisodeOfCare", "ExplanationOfBenefit",
			"HealthcareService", "Invoice", "Location", "Organization", "Specimen"},
		"class":                            {"Encounter"},
		"procedureCode":                    {"ImagingStudy"},
		"event":                            {"AdverseEvent"},
		"description":                      {"Goal"},
		"itemCodeableConcept":              {"SupplyRequest"},
		"suppliedItem.itemCodeableConcept": {"SupplyDelivery"},
	}
	m := map[string][][]string{}
	for el, types := range byElement {
		for _, t := range types {
			m[t] = append(m[t], strings.Split(el, "."))
		}
	}
	return m
}()

// codesOf returns "system|code" (or a bare code) of every coding of the
// resource's main code elements, sorted, without duplicates. It only
// reads the few elements codePaths names, so it is cheap enough for every
// resource at ingest.
func codesOf(typ string, top map[string]json.RawMessage) []string {
	var out []string
	for _, p := range codePaths[typ] {
		if _, ok := top[p[0]]; !ok {
			continue
		}
		for _, raw := range valuesAt(top, p) {
			out = append(out, codingsOf(raw)...)
		}
	}
	return sortedSet(out)
}

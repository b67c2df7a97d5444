package fhir

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	cc "carechain"
)

// Test DIDs of the did:cc form.
var (
	didPatient  = cc.DID("did:cc:" + strings.Repeat("a", 32))
	didDelegate = cc.DID("did:cc:" + strings.Repeat("b", 32))
	didDoctor   = cc.DID("did:cc:" + strings.Repeat("c", 32))
	didNurse    = cc.DID("did:cc:" + strings.Repeat("d", 32))
)

var (
	t2024 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	t2025 = time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	t2020 = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
)

const (
	obsCategory = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
	hivLabel    = "http://terminology.hl7.org/CodeSystem/v3-ActCode|HIV"
)

// field is one expected value in a rendering, at a path of keys and
// indexes, compared in its fmt.Sprint form ("<nil>" for absent).
type field struct {
	path []any
	want string
}

func p(path ...any) []any { return path }

func checkFields(t *testing.T, doc map[string]any, fields []field) {
	t.Helper()
	for _, f := range fields {
		if got := fmt.Sprint(at(doc, f.path...)); got != f.want {
			t.Errorf("%v = %s, want %s", f.path, got, f.want)
		}
	}
}

// consentOf is a consent of didPatient, granted by the patient, with the
// provisions given.
func consentOf(ps ...cc.Provision) cc.Consent {
	return cc.Consent{ID: "cns-1", Patient: didPatient, Grantor: didPatient, Provisions: ps, Created: 42, Time: t2024}
}

func TestConsentResource(t *testing.T) {
	root := p("provision", "provision", 0)
	sub := func(path ...any) []any { return append(append([]any{}, root...), path...) }
	tests := []struct {
		name       string
		consent    cc.Consent
		patientRef string
		fields     []field
	}{
		{"permit a practitioner to read and search for treatment", consentOf(cc.Provision{
			Type: cc.Permit, Actors: []cc.Actor{{DID: didDoctor}}, Actions: []string{"read", "search"},
			Purposes: []string{"TREAT"}, ResourceTypes: []string{"Observation", "Immunization"}}), "Patient/p1",
			[]field{
				{p("id"), "cns-1"},
				{p("status"), "active"},
				{p("scope", "coding", 0, "code"), "patient-privacy"},
				{p("category", 0, "coding", 0, "code"), "59284-0"},
				{p("patient", "reference"), "Patient/p1"},
				{p("patient", "identifier", "system"), DIDSystem},
				{p("patient", "identifier", "value"), string(didPatient)},
				{p("performer", 0, "reference"), "Patient/p1"},
				{p("dateTime"), "2024-05-01T10:00:00Z"},
				{p("extension", 0, "url"), ConsentCreatedURL},
				{p("extension", 0, "valueDecimal"), "42"},
				{p("provision", "type"), "<nil>"},
				{sub("type"), "permit"},
				{sub("actor", 0, "role", "coding", 0, "code"), "IRCP"},
				{sub("actor", 0, "reference", "identifier", "system"), DIDSystem},
				{sub("actor", 0, "reference", "identifier", "value"), string(didDoctor)},
				{sub("action", 0, "coding", 0, "code"), "access"},
				{sub("action", 0, "coding", 1, "code"), "read"},
				{sub("action", 1, "coding", 0, "code"), "access"},
				{sub("action", 1, "coding", 1, "code"), "search"},
				{sub("purpose", 0, "system"), actReasonSystem},
				{sub("purpose", 0, "code"), "TREAT"},
				{sub("class", 0, "system"), resourceTypesSystem},
				{sub("class", 1, "code"), "Immunization"},
				{sub("period"), "<nil>"},
			}},
		{"deny an organization labelled and categorised data", consentOf(cc.Provision{
			Type: cc.Deny, Actors: []cc.Actor{{Org: "clinic-a"}}, Categories: []string{hivLabel, obsCategory, "local"}}), "",
			[]field{
				{p("patient", "reference"), "<nil>"},
				{p("performer", 0, "identifier", "value"), string(didPatient)},
				{sub("type"), "deny"},
				{sub("actor", 0, "reference", "type"), "Organization"},
				{sub("actor", 0, "reference", "identifier", "system"), OrgSystem},
				{sub("actor", 0, "reference", "identifier", "value"), "clinic-a"},
				{sub("securityLabel", 0, "code"), "HIV"},
				{sub("securityLabel", 1), "<nil>"},
				{sub("code", 0, "coding", 0, "system"), "http://terminology.hl7.org/CodeSystem/observation-category"},
				{sub("code", 0, "coding", 0, "code"), "laboratory"},
				{sub("code", 1, "coding", 0, "system"), "<nil>"},
				{sub("code", 1, "coding", 0, "code"), "local"},
			}},
		{"permit a role within an organization to export", consentOf(cc.Provision{
			Type: cc.Permit, Actors: []cc.Actor{{Org: "lab-b", Role: cc.RolePhysician}}, Actions: []string{"export"}}), "Patient/p1",
			[]field{
				{sub("actor", 0, "reference", "reference"), "#p0-a0"},
				{sub("actor", 0, "reference", "type"), "PractitionerRole"},
				{p("contained", 0, "resourceType"), "PractitionerRole"},
				{p("contained", 0, "id"), "p0-a0"},
				{p("contained", 0, "organization", "identifier", "value"), "lab-b"},
				{p("contained", 0, "code", 0, "coding", 0, "system"), carechainRoleSystem},
				{p("contained", 0, "code", 0, "coding", 0, "code"), "physician"},
				{sub("action", 0, "coding", 0, "code"), "collect"},
				{sub("action", 0, "coding", 1, "code"), "export"},
			}},
		{"permit a care team", consentOf(cc.Provision{
			Type: cc.Permit, Actors: []cc.Actor{{DID: didDoctor}, {CareTeam: []cc.DID{didDoctor, didNurse}}}}), "Patient/p1",
			[]field{
				{sub("actor", 0, "reference", "identifier", "value"), string(didDoctor)},
				{sub("actor", 1, "reference", "reference"), "#p0-a1"},
				{sub("actor", 1, "reference", "type"), "CareTeam"},
				{p("contained", 0, "resourceType"), "CareTeam"},
				{p("contained", 0, "participant", 0, "member", "identifier", "value"), string(didDoctor)},
				{p("contained", 0, "participant", 1, "member", "identifier", "value"), string(didNurse)},
				{p("contained", 0, "participant", 1, "member", "identifier", "system"), DIDSystem},
			}},
		{"periods: in force and data", consentOf(
			cc.Provision{Type: cc.Permit, Period: cc.Period{Start: t2024, End: t2025}, DataPeriod: cc.Period{Start: t2020}},
			cc.Provision{Type: cc.Deny, Period: cc.Period{End: t2025}, DataPeriod: cc.Period{End: t2024}}), "Patient/p1",
			[]field{
				{sub("period", "start"), "2024-05-01T10:00:00Z"},
				{sub("period", "end"), "2025-05-01T10:00:00Z"},
				{sub("dataPeriod", "start"), "2020-01-01T00:00:00Z"},
				{sub("dataPeriod", "end"), "<nil>"},
				{p("provision", "provision", 1, "type"), "deny"},
				{p("provision", "provision", 1, "period", "start"), "<nil>"},
				{p("provision", "provision", 1, "period", "end"), "2025-05-01T10:00:00Z"},
				{p("provision", "provision", 1, "dataPeriod", "end"), "2024-05-01T10:00:00Z"},
			}},
		{"CEL condition", consentOf(cc.Provision{Type: cc.Permit, Actors: []cc.Actor{{Org: "clinic-a"}},
			Condition: `record.type == "Immunization" && request.time < timestamp("2030-01-01T00:00:00Z")`}), "Patient/p1",
			[]field{
				{sub("extension", 0, "url"), ConsentConditionURL},
				{sub("extension", 0, "valueString"), `record.type == "Immunization" && request.time < timestamp("2030-01-01T00:00:00Z")`},
			}},
		{"revoked", func() cc.Consent {
			c := consentOf(cc.Provision{Type: cc.Permit, Actors: []cc.Actor{{DID: didDoctor}}})
			c.Revoked = 4242
			return c
		}(), "Patient/p1",
			[]field{
				{p("status"), "inactive"},
				{p("extension", 1, "url"), ConsentRevokedURL},
				{p("extension", 1, "valueDecimal"), "4242"},
			}},
		{"granted by a delegate", func() cc.Consent {
			c := consentOf(cc.Provision{Type: cc.Permit})
			c.Grantor = didDelegate
			return c
		}(), "Patient/p1",
			[]field{
				{p("performer", 0, "reference"), "<nil>"},
				{p("performer", 0, "type"), "<nil>"},
				{p("performer", 0, "identifier", "value"), string(didDelegate)},
				{sub("type"), "permit"},
				{sub("actor"), "<nil>"},
			}},
		{"id outside the R4 rules", func() cc.Consent {
			c := consentOf(cc.Provision{Type: cc.Deny})
			c.ID = "consent:42/x"
			return c
		}(), "urn:uuid:0f5c3a4e-0000-4000-8000-000000000001",
			[]field{
				{p("id"), SafeID("consent:42/x")},
				{p("patient", "reference"), "urn:uuid:0f5c3a4e-0000-4000-8000-000000000001"},
			}},
		{"no provisions, time or created height", cc.Consent{ID: "cns-2", Patient: didPatient}, "",
			[]field{
				{p("provision"), "<nil>"},
				{p("dateTime"), "<nil>"},
				{p("performer"), "<nil>"},
				{p("extension"), "<nil>"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ConsentResource(tt.consent, tt.patientRef)
			if err != nil {
				t.Fatalf("ConsentResource: %v", err)
			}
			doc := mustValid(t, b, "Consent")
			checkFields(t, doc, tt.fields)
			if n := len(asList(at(doc, "provision", "provision"))); n != len(tt.consent.Provisions) {
				t.Errorf("%d nested provisions, want %d", n, len(tt.consent.Provisions))
			}
			again, _ := ConsentResource(tt.consent, tt.patientRef)
			if !bytes.Equal(b, again) {
				t.Error("two renderings of the same consent differ")
			}
			div := fmt.Sprint(at(doc, "text", "div"))
			if !strings.HasPrefix(div, `<div xmlns="http://www.w3.org/1999/xhtml">`) || !strings.Contains(div, string(tt.consent.Patient)) {
				t.Errorf("narrative %s does not name the patient", div)
			}
		})
	}
}

// TestConsentResourceParsedPatient: the parsed rendering lands in the
// patient's compartment.
func TestConsentResourceParsedPatient(t *testing.T) {
	b, err := ConsentResource(consentOf(cc.Provision{Type: cc.Permit}), "Patient/p1")
	if err != nil {
		t.Fatal(err)
	}
	if r := mustParse(t, b); r.Patient != "Patient/p1" || r.ID != "cns-1" {
		t.Errorf("Patient = %q, ID = %q", r.Patient, r.ID)
	}
}

func TestConsentResourceErrors(t *testing.T) {
	ok := consentOf(cc.Provision{Type: cc.Permit})
	with := func(f func(c *cc.Consent)) cc.Consent {
		c := ok
		c.Provisions = append([]cc.Provision{}, ok.Provisions...)
		f(&c)
		return c
	}
	tests := []struct {
		name       string
		consent    cc.Consent
		patientRef string
		want       string
	}{
		{"no patient", with(func(c *cc.Consent) { c.Patient = "" }), "", "no patient"},
		{"not a Patient reference", ok, "Observation/1", "not a Patient reference"},
		{"unknown provision type", with(func(c *cc.Consent) { c.Provisions[0].Type = "maybe" }), "", "type must be"},
		{"actor of two forms", with(func(c *cc.Consent) { c.Provisions[0].Actors = []cc.Actor{{DID: didDoctor, Org: "x"}} }), "", "exactly one"},
		{"actor of no form", with(func(c *cc.Consent) { c.Provisions[0].Actors = []cc.Actor{{}} }), "", "exactly one"},
		{"empty care team", with(func(c *cc.Consent) { c.Provisions[0].Actors = []cc.Actor{{CareTeam: []cc.DID{}}} }), "", "empty"},
		{"period ends before it starts", with(func(c *cc.Consent) { c.Provisions[0].Period = cc.Period{Start: t2025, End: t2024} }), "", "ends before"},
		{"data period out of range", with(func(c *cc.Consent) {
			c.Provisions[0].DataPeriod = cc.Period{End: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)}
		}), "", "out of range"},
		{"purpose with a space", with(func(c *cc.Consent) { c.Provisions[0].Purposes = []string{"TREAT "} }), "", "not a code"},
		{"category with a space", with(func(c *cc.Consent) { c.Provisions[0].Categories = []string{"http://x|a  b"} }), "", "system|code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ConsentResource(tt.consent, tt.patientRef)
			if cc.KindOf(err) != cc.Invalid || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want an invalid error saying %q", err, tt.want)
			}
		})
	}
}

// goldenConsent uses every part of the rendering.
func goldenConsent() cc.Consent {
	return cc.Consent{
		ID: "cns-7f3a", Patient: didPatient, Grantor: didDelegate, Created: 1200, Revoked: 1500,
		Time: time.Date(2024, 5, 1, 10, 0, 0, 250000000, time.UTC),
		Provisions: []cc.Provision{
			{Type: cc.Permit, Actors: []cc.Actor{{DID: didDoctor}, {Org: "clinic-a", Role: cc.RoleNurse}, {CareTeam: []cc.DID{didDoctor, didNurse}}},
				Actions: []string{"read", "search"}, Purposes: []string{"TREAT", "COC"}, ResourceTypes: []string{"Immunization", "Observation"},
				Categories: []string{obsCategory}, Period: cc.Period{Start: t2024, End: t2025}, DataPeriod: cc.Period{Start: t2020},
				Condition: `record.type != "Observation" || "laboratory" in record.categories`},
			{Type: cc.Deny, Actors: []cc.Actor{{Org: "insurer-x"}}, Categories: []string{hivLabel}},
			{Type: cc.Permit, Actors: []cc.Actor{{Org: "research-y"}}, Actions: []string{"export"}, Purposes: []string{"HRESEARCH"}},
		},
	}
}

func TestConsentResourceGolden(t *testing.T) {
	b, err := ConsentResource(goldenConsent(), "Patient/p1")
	if err != nil {
		t.Fatal(err)
	}
	mustValid(t, b, "Consent")
	golden(t, "consent.golden.json", b)
}

package fhir

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	cc "carechain"
)

// accessOf is an access by didDoctor to one Observation of didPatient on
// the basis of consent cns-1.
func accessOf(f func(e *cc.AccessEvent)) cc.AccessEvent {
	e := cc.AccessEvent{
		ID: "acc-00ff", Patient: didPatient, Accessor: didDoctor, Records: []string{"Observation/obs-1"},
		Action: "read", Purpose: "TREAT", Basis: cc.BasisConsent, Ref: "cns-1",
		Request: []byte{0xde, 0xad, 0xbe, 0xef}, Height: 77, Time: t2024,
	}
	if f != nil {
		f(&e)
	}
	return e
}

func TestAuditEvent(t *testing.T) {
	many := make([]string, 40)
	for i := range many {
		many[i] = "Immunization/imm-" + strconv.Itoa(i)
	}
	tests := []struct {
		name     string
		event    cc.AccessEvent
		entities int
		fields   []field
	}{
		{"read without organization", accessOf(nil), 3, []field{
			{p("id"), "acc-00ff"},
			{p("type", "system"), dicomSystem},
			{p("type", "code"), "110110"},
			{p("subtype", 0, "system"), restfulSystem},
			{p("subtype", 0, "code"), "read"},
			{p("subtype", 1, "code"), "read"},
			{p("action"), "R"},
			{p("recorded"), "2024-05-01T10:00:00Z"},
			{p("outcome"), "0"},
			{p("purposeOfEvent", 0, "coding", 0, "system"), actReasonSystem},
			{p("purposeOfEvent", 0, "coding", 0, "code"), "TREAT"},
			{p("agent", 0, "requestor"), "true"},
			{p("agent", 0, "who", "identifier", "system"), DIDSystem},
			{p("agent", 0, "who", "identifier", "value"), string(didDoctor)},
			{p("agent", 1), "<nil>"},
			{p("source", "observer", "identifier", "system"), LedgerSystem},
			{p("source", "observer", "identifier", "value"), "77"},
			{p("entity", 0, "what", "reference"), "Observation/obs-1"},
			{p("entity", 0, "role", "code"), "4"},
			{p("entity", 1, "what", "identifier", "system"), DIDSystem},
			{p("entity", 1, "what", "identifier", "value"), string(didPatient)},
			{p("entity", 1, "role", "code"), "1"},
			{p("entity", 2, "what", "reference"), "Consent/cns-1"},
			{p("entity", 2, "role", "code"), "13"},
			{p("extension", 0, "url"), AccessBasisURL},
			{p("extension", 0, "valueCode"), "consent"},
			{p("extension", 1, "url"), LedgerHeightURL},
			{p("extension", 1, "valueDecimal"), "77"},
			{p("extension", 2, "url"), RequestHashURL},
			{p("extension", 2, "valueBase64Binary"), "3q2+7w=="},
			{p("meta"), "<nil>"},
		}},
		{"search on behalf of an organization, by agreement", accessOf(func(e *cc.AccessEvent) {
			e.Org, e.Action, e.Basis, e.Ref = "clinic-a", "search", cc.BasisAgreement, "agr-9"
		}), 3, []field{
			{p("subtype", 0, "code"), "search-type"},
			{p("action"), "R"},
			{p("agent", 1, "requestor"), "false"},
			{p("agent", 1, "who", "type"), "Organization"},
			{p("agent", 1, "who", "identifier", "system"), OrgSystem},
			{p("agent", 1, "who", "identifier", "value"), "clinic-a"},
			{p("entity", 2, "what", "identifier", "system"), "urn:carechain:agreement"},
			{p("entity", 2, "what", "identifier", "value"), "agr-9"},
		}},
		{"export", accessOf(func(e *cc.AccessEvent) { e.Action = "export" }), 3, []field{
			{p("subtype", 0, "code"), "operation"},
			{p("subtype", 1, "code"), "export"},
			{p("action"), "E"},
		}},
		{"break-glass", accessOf(func(e *cc.AccessEvent) {
			e.Org, e.Purpose, e.Basis, e.Ref, e.BreakGlass = "er-1", "ETREAT", cc.BasisBreakGlass, "bg-3", true
		}), 3, []field{
			{p("meta", "security", 0, "system"), actReasonSystem},
			{p("meta", "security", 0, "code"), "BTG"},
			{p("purposeOfEvent", 0, "coding", 0, "code"), "ETREAT"},
			{p("extension", 0, "valueCode"), "break-glass"},
			{p("extension", 1, "url"), BreakGlassURL},
			{p("extension", 1, "valueBoolean"), "true"},
			{p("entity", 2, "what", "identifier", "system"), "urn:carechain:break-glass"},
			{p("entity", 2, "what", "identifier", "value"), "bg-3"},
		}},
		{"many records", accessOf(func(e *cc.AccessEvent) { e.Records = many }), 42, []field{
			{p("entity", 0, "what", "reference"), "Immunization/imm-0"},
			{p("entity", 39, "what", "reference"), "Immunization/imm-39"},
			{p("entity", 40, "role", "code"), "1"},
		}},
		{"own access: no reference, no request hash", accessOf(func(e *cc.AccessEvent) {
			e.Basis, e.Ref, e.Request, e.Purpose = cc.BasisAuthor, "", nil, ""
		}), 2, []field{
			{p("purposeOfEvent"), "<nil>"},
			{p("extension", 0, "valueCode"), "author-org"},
			{p("extension", 2), "<nil>"},
		}},
		{"several consents, odd ids", accessOf(func(e *cc.AccessEvent) {
			e.ID, e.Ref, e.Records = "acc:1/2", "cns-1,cns:2", []string{"Observation/obs-1", "NotAType/x", "Observation/bad id"}
		}), 6, []field{
			{p("id"), SafeID("acc:1/2")},
			{p("entity", 1, "what", "identifier", "system"), recordSystem},
			{p("entity", 1, "what", "identifier", "value"), "NotAType/x"},
			{p("entity", 2, "what", "identifier", "value"), "Observation/bad id"},
			{p("entity", 4, "what", "reference"), "Consent/cns-1"},
			{p("entity", 5, "what", "reference"), "Consent/" + SafeID("cns:2")},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := AuditEvent(tt.event)
			if err != nil {
				t.Fatalf("AuditEvent: %v", err)
			}
			doc := mustValid(t, b, "AuditEvent")
			checkFields(t, doc, tt.fields)
			if n := len(asList(doc["entity"])); n != tt.entities {
				t.Errorf("%d entities, want %d", n, tt.entities)
			}
			again, _ := AuditEvent(tt.event)
			if !bytes.Equal(b, again) {
				t.Error("two renderings of the same event differ")
			}
			div := fmt.Sprint(at(doc, "text", "div"))
			for _, want := range []string{string(tt.event.Accessor), string(tt.event.Patient), "block " + strconv.FormatInt(tt.event.Height, 10)} {
				if !strings.Contains(div, want) {
					t.Errorf("narrative %s does not say %q", div, want)
				}
			}
			if tt.event.BreakGlass && !strings.Contains(div, "emergency") {
				t.Errorf("narrative %s does not say it was an emergency access", div)
			}
		})
	}
}

func TestAuditEventErrors(t *testing.T) {
	tests := []struct {
		name  string
		event cc.AccessEvent
		want  string
	}{
		{"no accessor", accessOf(func(e *cc.AccessEvent) { e.Accessor = "" }), "no accessor"},
		{"no time", accessOf(func(e *cc.AccessEvent) { e.Time = time.Time{} }), "no time"},
		{"time out of range", accessOf(func(e *cc.AccessEvent) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }), "out of range"},
		{"purpose not a code", accessOf(func(e *cc.AccessEvent) { e.Purpose = "TREAT\t" }), "not a code"},
		{"action not a code", accessOf(func(e *cc.AccessEvent) { e.Action = " read" }), "not a code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := AuditEvent(tt.event)
			if cc.KindOf(err) != cc.Invalid || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want an invalid error saying %q", err, tt.want)
			}
		})
	}
}

func TestAuditEventGolden(t *testing.T) {
	e := accessOf(func(e *cc.AccessEvent) {
		e.ID = "acc-5e1f0c3a9b7d4e21a0c6f8b2d4e6a8c0"
		e.Org, e.Purpose, e.Basis, e.Ref, e.BreakGlass = "er-1", "ETREAT", cc.BasisBreakGlass, "bg-3", true
		e.Records = []string{"Observation/obs-1", "Immunization/imm-2", "AllergyIntolerance/al-3"}
		e.Time = time.Date(2024, 11, 30, 3, 14, 15, 926535000, time.UTC)
		e.Height = 123456
	})
	b, err := AuditEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	mustValid(t, b, "AuditEvent")
	golden(t, "auditevent.golden.json", b)
}

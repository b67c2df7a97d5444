package fhir

import (
	"encoding/base64"
	"strconv"
	"strings"

	cc "carechain"
)

// Extensions of the AuditEvent rendering.
const (
	// AccessBasisURL is the AuditEvent extension (valueCode) holding the
	// basis on which the access was allowed (cc.Basis: "consent",
	// "agreement", "break-glass", …).
	AccessBasisURL = "urn:carechain:access-basis"
	// BreakGlassURL is the AuditEvent extension (valueBoolean true)
	// present on emergency (break-glass) accesses.
	BreakGlassURL = "urn:carechain:break-glass"
	// LedgerHeightURL is the AuditEvent extension (valueDecimal) holding
	// the ledger height at which the access was logged.
	LedgerHeightURL = "urn:carechain:ledger-height"
	// RequestHashURL is the AuditEvent extension (valueBase64Binary)
	// holding the hash of the requester's signed request.
	RequestHashURL = "urn:carechain:request-hash"
	// LedgerSystem is the identifier system of the audit source: the
	// carechain ledger, its value the block height.
	LedgerSystem = "urn:carechain:ledger"
)

const (
	dicomSystem           = "http://dicom.nema.org/resources/ontology/DCM"
	restfulSystem         = "http://hl7.org/fhir/restful-interaction"
	auditEntityTypeSystem = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	objectRoleSystem      = "http://terminology.hl7.org/CodeSystem/object-role"
	sourceTypeSystem      = "http://terminology.hl7.org/CodeSystem/security-source-type"
	recordSystem          = "urn:carechain:record"
)

// auditActions maps a carechain action to its R4 restful interaction
// (the AuditEvent subtype) and AuditEvent.action: read is a "read", search
// a "search-type", both action R; export is the bulk "operation" ($export),
// action E (execute). Any other action is R with only its carechain
// subtype.
var auditActions = map[string]struct{ interaction, action string }{
	"read":   {"read", "R"},
	"search": {"search-type", "R"},
	"export": {"operation", "E"},
}

// basisText says on what grounds an access was allowed, for the narrative.
var basisText = map[cc.Basis]string{
	cc.BasisPatient:    "the patient's own access",
	cc.BasisDelegate:   "a delegation from the patient",
	cc.BasisAuthor:     "being the organization that wrote the records",
	cc.BasisCustodian:  "being the organization that keeps the records",
	cc.BasisConsent:    "the patient's consent",
	cc.BasisAgreement:  "a data-sharing agreement",
	cc.BasisBreakGlass: "an emergency (break-glass) access",
}

// refSystems are the identifier systems of the decision references that
// are not FHIR resources.
var refSystems = map[cc.Basis]string{
	cc.BasisAgreement:  "urn:carechain:agreement",
	cc.BasisBreakGlass: "urn:carechain:break-glass",
	cc.BasisDelegate:   "urn:carechain:delegation",
}

// The R4 AuditEvent document, in R4 element order.
type (
	auditDoc struct {
		ResourceType   string        `json:"resourceType"`
		ID             string        `json:"id,omitempty"`
		Meta           *fMeta        `json:"meta,omitempty"`
		Text           *fNarrative   `json:"text,omitempty"`
		Extension      []fExtension  `json:"extension,omitempty"`
		Type           fCoding       `json:"type"`
		Subtype        []fCoding     `json:"subtype,omitempty"`
		Action         string        `json:"action"`
		Recorded       string        `json:"recorded"`
		Outcome        string        `json:"outcome"`
		OutcomeDesc    string        `json:"outcomeDesc,omitempty"`
		PurposeOfEvent []fConcept    `json:"purposeOfEvent,omitempty"`
		Agent          []auditAgent  `json:"agent"`
		Source         auditSource   `json:"source"`
		Entity         []auditEntity `json:"entity,omitempty"`
	}
	auditAgent struct {
		Type      *fConcept  `json:"type,omitempty"`
		Who       fReference `json:"who"`
		Requestor bool       `json:"requestor"`
	}
	auditSource struct {
		Observer fReference `json:"observer"`
		Type     []fCoding  `json:"type,omitempty"`
	}
	auditEntity struct {
		What        *fReference `json:"what,omitempty"`
		Type        *fCoding    `json:"type,omitempty"`
		Role        *fCoding    `json:"role,omitempty"`
		Description string      `json:"description,omitempty"`
	}
)

// AuditEvent renders one access log entry as FHIR R4 AuditEvent JSON,
// valid for Parse and for the AuditEvent invariant sev-1.
//
// The rendering: id is SafeID(e.ID); type DICOM 110110 "Patient Record";
// subtype the restful interaction and the carechain action (see
// auditActions); action R, or E for an export; recorded e.Time; outcome 0
// (success: only allowed reads are logged); purposeOfEvent e.Purpose (v3
// ActReason). The first agent is the requestor (who: e.Accessor by DID,
// role "information recipient"); with e.Org, a second agent names the
// organization on whose behalf it asked (role "responsible party"). The
// source is the carechain ledger (observer identifier LedgerSystem, value
// the height). Entities: one per record (what: "Observation/abc", or an
// identifier urn:carechain:record when the id is not a FHIR reference),
// one for the patient (identifier DIDSystem), and one per decision
// reference (a consent as "Consent/{SafeID}", an agreement, break-glass
// window or delegation by identifier). Extensions carry the basis, the
// break-glass flag, the height and the request hash; a break-glass access
// also has the security label BTG (v3 ActReason). A generated narrative
// tells the patient who read what, why and on what grounds.
//
// An event without an accessor or time, or with a time outside the years
// 1–9999, or a purpose that is not a code, is a cc.Invalid error.
func AuditEvent(e cc.AccessEvent) ([]byte, error) {
	const op = "fhir.AuditEvent"
	if e.Accessor == "" {
		return nil, cc.Errorf(op, cc.Invalid, "the access event names no accessor")
	}
	if e.Time.IsZero() {
		return nil, cc.Errorf(op, cc.Invalid, "the access event has no time")
	}
	recorded, ok := instant(e.Time)
	if !ok {
		return nil, cc.Errorf(op, cc.Invalid, "the access event time is out of range")
	}
	doc := auditDoc{
		ResourceType: "AuditEvent",
		ID:           SafeID(e.ID),
		Type:         fCoding{System: dicomSystem, Code: "110110", Display: "Patient Record"},
		Action:       "R",
		Recorded:     recorded,
		Outcome:      "0",
		Agent: []auditAgent{{
			Type:      &fConcept{Coding: []fCoding{{System: participationTypeSystem, Code: "IRCP", Display: "information recipient"}}},
			Who:       didRef("", e.Accessor),
			Requestor: true,
		}},
		Source: auditSource{
			Observer: fReference{Type: "Device", Identifier: &fIdentifier{System: LedgerSystem, Value: strconv.FormatInt(e.Height, 10)},
				Display: "carechain ledger, block " + strconv.FormatInt(e.Height, 10)},
			Type: []fCoding{{System: sourceTypeSystem, Code: "4", Display: "Application Server"}},
		},
	}
	if e.Action != "" {
		if !validCode.MatchString(e.Action) {
			return nil, cc.Errorf(op, cc.Invalid, "action %q is not a code", cc.Echo(e.Action))
		}
		if m, ok := auditActions[e.Action]; ok {
			doc.Subtype = append(doc.Subtype, fCoding{System: restfulSystem, Code: m.interaction, Display: m.interaction})
			doc.Action = m.action
		}
		doc.Subtype = append(doc.Subtype, fCoding{System: carechainActionSystem, Code: e.Action})
	}
	if e.Purpose != "" {
		c, err := purposeCoding(op, e.Purpose)
		if err != nil {
			return nil, err
		}
		doc.PurposeOfEvent = []fConcept{{Coding: []fCoding{c}}}
	}
	if e.Org != "" {
		doc.Agent = append(doc.Agent, auditAgent{
			Type: &fConcept{Coding: []fCoding{{System: participationTypeSystem, Code: "RESP", Display: "responsible party"}}},
			Who:  orgRef(e.Org),
		})
	}
	if e.Basis != "" {
		if !validCode.MatchString(string(e.Basis)) {
			return nil, cc.Errorf(op, cc.Invalid, "basis %q is not a code", cc.Echo(string(e.Basis)))
		}
		doc.Extension = append(doc.Extension, fExtension{URL: AccessBasisURL, ValueCode: string(e.Basis)})
	}
	if e.BreakGlass {
		t := true
		doc.Extension = append(doc.Extension, fExtension{URL: BreakGlassURL, ValueBoolean: &t})
		doc.Meta = &fMeta{Security: []fCoding{{System: actReasonSystem, Code: "BTG", Display: actReasonDisplay["BTG"]}}}
	}
	doc.Extension = append(doc.Extension, heightExtension(LedgerHeightURL, e.Height))
	if len(e.Request) > 0 {
		doc.Extension = append(doc.Extension, fExtension{URL: RequestHashURL, ValueBase64Binary: base64.StdEncoding.EncodeToString(e.Request)})
	}

	for _, id := range e.Records {
		doc.Entity = append(doc.Entity, auditEntity{
			What: recordRef(id),
			Type: &fCoding{System: auditEntityTypeSystem, Code: "2", Display: "System Object"},
			Role: &fCoding{System: objectRoleSystem, Code: "4", Display: "Domain Resource"},
		})
	}
	if e.Patient != "" {
		p := didRef("Patient", e.Patient)
		doc.Entity = append(doc.Entity, auditEntity{
			What: &p,
			Type: &fCoding{System: auditEntityTypeSystem, Code: "1", Display: "Person"},
			Role: &fCoding{System: objectRoleSystem, Code: "1", Display: "Patient"},
		})
	}
	for _, ref := range decisionRefs(e.Ref) {
		doc.Entity = append(doc.Entity, auditEntity{
			What:        basisRef(e.Basis, ref),
			Type:        &fCoding{System: auditEntityTypeSystem, Code: "2", Display: "System Object"},
			Role:        &fCoding{System: objectRoleSystem, Code: "13", Display: "Security Resource"},
			Description: "grounds of the access: " + string(e.Basis) + " " + ref,
		})
	}
	doc.Text = narrative("<p>" + esc(auditText(e)) + "</p>")
	return encode(op, doc)
}

// decisionRefs splits the decision reference ("c1" or "c1,c2").
func decisionRefs(ref string) []string {
	var out []string
	for _, r := range strings.Split(ref, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// recordRef references a record anchor id: "Observation/abc" as it is
// when it is a valid relative FHIR reference, else by identifier.
func recordRef(id string) *fReference {
	typ, lid, ok := strings.Cut(id, "/")
	if ok && isResourceType(typ) && idPattern.MatchString(lid) {
		return &fReference{Reference: id}
	}
	return &fReference{Identifier: &fIdentifier{System: recordSystem, Value: id}}
}

// basisRef references what a decision rests on: a consent by its
// rendered id, anything else by identifier.
func basisRef(b cc.Basis, ref string) *fReference {
	if b == cc.BasisConsent {
		return &fReference{Reference: "Consent/" + SafeID(ref), Type: "Consent"}
	}
	sys := refSystems[b]
	if sys == "" {
		sys = "urn:carechain:" + string(b)
	}
	return &fReference{Identifier: &fIdentifier{System: sys, Value: ref}}
}

// auditText says an access in words (unescaped) for the patient.
func auditText(e cc.AccessEvent) string {
	var b strings.Builder
	b.WriteString(string(e.Accessor))
	if e.Org != "" {
		b.WriteString(" of organization " + e.Org)
	}
	verb := map[string]string{"read": "read", "search": "searched", "export": "exported"}[e.Action]
	if verb == "" {
		verb = "accessed (" + e.Action + ")"
	}
	n := len(e.Records)
	switch n {
	case 0:
		b.WriteString(" " + verb + " records")
	case 1:
		b.WriteString(" " + verb + " 1 record (" + e.Records[0] + ")")
	default:
		shown := e.Records
		if n > 5 {
			shown = shown[:5]
		}
		b.WriteString(" " + verb + " " + strconv.Itoa(n) + " records (" + strings.Join(shown, ", "))
		if n > 5 {
			b.WriteString(", …")
		}
		b.WriteString(")")
	}
	if e.Patient != "" {
		b.WriteString(" of patient " + string(e.Patient))
	}
	if e.Purpose != "" {
		b.WriteString(" for " + purposeText(e.Purpose))
	}
	if t, ok := instant(e.Time); ok {
		b.WriteString(" on " + t)
	}
	if s := basisText[e.Basis]; s != "" {
		b.WriteString(", allowed on the grounds of " + s)
	} else if e.Basis != "" {
		b.WriteString(", allowed on the grounds of " + string(e.Basis))
	}
	if refs := decisionRefs(e.Ref); len(refs) > 0 {
		b.WriteString(" (" + strings.Join(refs, ", ") + ")")
	}
	b.WriteString(".")
	if e.BreakGlass {
		b.WriteString(" This was an emergency access: the organization's privacy officer reviews it.")
	}
	b.WriteString(" Logged on the ledger at block " + strconv.FormatInt(e.Height, 10) + ".")
	return b.String()
}

package fhir

import (
	"strconv"
	"strings"

	cc "carechain"
)

// Extensions of the Consent rendering.
const (
	// ConsentConditionURL is the provision extension (valueString) holding
	// a provision's CEL condition.
	ConsentConditionURL = "urn:carechain:consent-condition"
	// ConsentCreatedURL is the Consent extension (valueDecimal) holding the
	// ledger height at which the consent was granted.
	ConsentCreatedURL = "urn:carechain:consent-created-height"
	// ConsentRevokedURL is the Consent extension (valueDecimal) holding the
	// ledger height at which the consent was revoked; the revocation is
	// effective from the next block.
	ConsentRevokedURL = "urn:carechain:consent-revoked-height"
)

const (
	consentScopeSystem  = "http://terminology.hl7.org/CodeSystem/consentscope"
	consentActionSystem = "http://terminology.hl7.org/CodeSystem/consentaction"
	loincSystem         = "http://loinc.org"
	consentPolicySystem = "urn:carechain:policy"
)

// consentActions maps carechain actions to R4 consent actions
// (http://terminology.hl7.org/CodeSystem/consentaction): read and search
// are "access" (retrieval to view), export is "collect" (retrieval to
// keep a copy). The carechain action always follows as a second coding
// (urn:carechain:action), so the mapping loses nothing.
var consentActions = map[string]fCoding{
	"read":   {System: consentActionSystem, Code: "access", Display: "Access"},
	"search": {System: consentActionSystem, Code: "access", Display: "Access"},
	"export": {System: consentActionSystem, Code: "collect", Display: "Collect"},
}

// The R4 Consent document, in R4 element order.
type (
	consentDoc struct {
		ResourceType string            `json:"resourceType"`
		ID           string            `json:"id,omitempty"`
		Text         *fNarrative       `json:"text,omitempty"`
		Contained    []any             `json:"contained,omitempty"`
		Extension    []fExtension      `json:"extension,omitempty"`
		Status       string            `json:"status"`
		Scope        fConcept          `json:"scope"`
		Category     []fConcept        `json:"category"`
		Patient      *fReference       `json:"patient,omitempty"`
		DateTime     string            `json:"dateTime,omitempty"`
		Performer    []fReference      `json:"performer,omitempty"`
		PolicyRule   *fConcept         `json:"policyRule,omitempty"`
		Provision    *consentProvision `json:"provision,omitempty"`
	}
	consentProvision struct {
		Extension     []fExtension       `json:"extension,omitempty"`
		Type          string             `json:"type,omitempty"`
		Period        *fPeriod           `json:"period,omitempty"`
		Actor         []consentActor     `json:"actor,omitempty"`
		Action        []fConcept         `json:"action,omitempty"`
		SecurityLabel []fCoding          `json:"securityLabel,omitempty"`
		Purpose       []fCoding          `json:"purpose,omitempty"`
		Class         []fCoding          `json:"class,omitempty"`
		Code          []fConcept         `json:"code,omitempty"`
		DataPeriod    *fPeriod           `json:"dataPeriod,omitempty"`
		Provision     []consentProvision `json:"provision,omitempty"`
	}
	consentActor struct {
		Role      fConcept   `json:"role"`
		Reference fReference `json:"reference"`
	}
	careTeamDoc struct {
		ResourceType string                `json:"resourceType"`
		ID           string                `json:"id"`
		Participant  []careTeamParticipant `json:"participant"`
	}
	careTeamParticipant struct {
		Member fReference `json:"member"`
	}
	practitionerRoleDoc struct {
		ResourceType string      `json:"resourceType"`
		ID           string      `json:"id"`
		Organization *fReference `json:"organization,omitempty"`
		Code         []fConcept  `json:"code"`
	}
)

// ConsentResource renders a carechain consent as FHIR R4 Consent JSON,
// valid for Parse and for the Consent invariants ppc-1 to ppc-5 (it has a
// policyRule and a patient). patientRef is the patient's FHIR reference
// ("Patient/123"), or "" when the patient has no Patient resource; either
// way the patient is also named by its DID (identifier system DIDSystem).
//
// The rendering: id is SafeID(c.ID); status "active", or "inactive" once
// revoked (with the ConsentRevokedURL extension); scope patient-privacy;
// category LOINC 59284-0; dateTime c.Time; performer the grantor (the
// patient, or a delegate, by DID). The root provision has no type — what
// no provision addresses falls to carechain's other grounds (the patient,
// the authoring organization, agreements) — and holds one nested
// provision per carechain provision, in order: type, period, actors,
// actions (see consentActions), purposes (v3 ActReason), resource types
// as class (http://hl7.org/fhir/resource-types), categories as
// securityLabel when their system is a security-label system and as code
// otherwise, dataPeriod, and the CEL condition as a ConsentConditionURL
// extension. Actors have the role "information recipient" (v3
// ParticipationType IRCP) and reference a DID or an organization
// (OrgSystem) by identifier, a role within an organization as a contained
// PractitionerRole, and a care team as a contained CareTeam. A generated
// narrative says all of it in words.
//
// A consent that cannot be rendered validly (no patient, an actor of no
// or several forms, a code with spaces, a time outside the years
// 1–9999, a period that ends before it starts, a patientRef that is not
// a Patient reference) is a cc.Invalid error.
func ConsentResource(c cc.Consent, patientRef string) ([]byte, error) {
	const op = "fhir.ConsentResource"
	if c.Patient == "" {
		return nil, cc.Errorf(op, cc.Invalid, "the consent names no patient")
	}
	if patientRef != "" && refType(patientRef, nil) != "Patient" &&
		!strings.HasPrefix(patientRef, "urn:uuid:") && !strings.HasPrefix(patientRef, "urn:oid:") {
		return nil, cc.Errorf(op, cc.Invalid, "%q is not a Patient reference", cc.Echo(patientRef))
	}
	patient := didRef("Patient", c.Patient)
	patient.Reference = patientRef
	doc := consentDoc{
		ResourceType: "Consent",
		ID:           SafeID(c.ID),
		Status:       "active",
		Scope:        concept(consentScopeSystem, "patient-privacy", "Privacy Consent"),
		Category:     []fConcept{concept(loincSystem, "59284-0", "Patient Consent")},
		Patient:      &patient,
		PolicyRule: &fConcept{
			Coding: []fCoding{{System: consentPolicySystem, Code: "consent", Display: "carechain consent rules"}},
			Text:   "A permit provision allows access to the patient's records; a deny provision overrides any permit.",
		},
	}
	if c.Created > 0 {
		doc.Extension = append(doc.Extension, heightExtension(ConsentCreatedURL, c.Created))
	}
	if c.Revoked > 0 {
		doc.Status = "inactive"
		doc.Extension = append(doc.Extension, heightExtension(ConsentRevokedURL, c.Revoked))
	}
	if !c.Time.IsZero() {
		var ok bool
		if doc.DateTime, ok = instant(c.Time); !ok {
			return nil, cc.Errorf(op, cc.Invalid, "the consent time is out of range")
		}
	}
	if c.Grantor != "" {
		g := didRef("", c.Grantor)
		if c.Grantor == c.Patient {
			g = patient
		}
		doc.Performer = []fReference{g}
	}
	var items []string
	if len(c.Provisions) > 0 {
		root := &consentProvision{}
		for i, p := range c.Provisions {
			fp, contained, err := renderProvision(op, i, p)
			if err != nil {
				return nil, err
			}
			root.Provision = append(root.Provision, fp)
			doc.Contained = append(doc.Contained, contained...)
			items = append(items, "<li>"+esc(provisionText(p))+"</li>")
		}
		doc.Provision = root
	}
	doc.Text = narrative(consentText(c, items))
	return encode(op, doc)
}

// renderProvision renders the i-th provision and the resources its actors
// contain.
func renderProvision(op string, i int, p cc.Provision) (consentProvision, []any, error) {
	what := "provision " + strconv.Itoa(i)
	out := consentProvision{Type: string(p.Type)}
	if p.Type != cc.Permit && p.Type != cc.Deny {
		return out, nil, cc.Errorf(op, cc.Invalid, "%s: type must be %q or %q", what, cc.Permit, cc.Deny)
	}
	var err error
	if out.Period, err = renderPeriod(op, what+" period", p.Period); err != nil {
		return out, nil, err
	}
	if out.DataPeriod, err = renderPeriod(op, what+" data period", p.DataPeriod); err != nil {
		return out, nil, err
	}
	if p.Condition != "" {
		out.Extension = []fExtension{{URL: ConsentConditionURL, ValueString: p.Condition}}
	}
	var contained []any
	for j, a := range p.Actors {
		actor, res, err := renderActor(op, what+" actor "+strconv.Itoa(j), "p"+strconv.Itoa(i)+"-a"+strconv.Itoa(j), a)
		if err != nil {
			return out, nil, err
		}
		out.Actor = append(out.Actor, actor)
		if res != nil {
			contained = append(contained, res)
		}
	}
	for _, a := range p.Actions {
		if !validCode.MatchString(a) {
			return out, nil, cc.Errorf(op, cc.Invalid, "%s: action %q is not a code", what, cc.Echo(a))
		}
		ac := fConcept{Text: a}
		if m, ok := consentActions[a]; ok {
			ac.Coding = append(ac.Coding, m)
		}
		ac.Coding = append(ac.Coding, fCoding{System: carechainActionSystem, Code: a})
		out.Action = append(out.Action, ac)
	}
	for _, pu := range p.Purposes {
		c, err := purposeCoding(op, pu)
		if err != nil {
			return out, nil, err
		}
		out.Purpose = append(out.Purpose, c)
	}
	for _, t := range p.ResourceTypes {
		if !validCode.MatchString(t) {
			return out, nil, cc.Errorf(op, cc.Invalid, "%s: %q is not a resource type", what, cc.Echo(t))
		}
		out.Class = append(out.Class, fCoding{System: resourceTypesSystem, Code: t})
	}
	for _, cat := range p.Categories {
		sys, code := splitToken(cat)
		if !validCode.MatchString(code) || strings.ContainsAny(sys, " \t\r\n") {
			return out, nil, cc.Errorf(op, cc.Invalid, "%s: category %q is not \"system|code\"", what, cc.Echo(cat))
		}
		if securitySystems[sys] {
			out.SecurityLabel = append(out.SecurityLabel, fCoding{System: sys, Code: code})
		} else {
			out.Code = append(out.Code, fConcept{Coding: []fCoding{{System: sys, Code: code}}})
		}
	}
	return out, contained, nil
}

// recipientRole is the role of every consent actor: the one who would
// receive the information.
var recipientRole = concept(participationTypeSystem, "IRCP", "information recipient")

// renderActor renders an actor of exactly one form; a role within an
// organization and a care team become a contained resource with the id
// given.
func renderActor(op, what, id string, a cc.Actor) (consentActor, any, error) {
	forms := 0
	for _, set := range []bool{a.DID != "", a.Org != "" || a.Role != "", a.CareTeam != nil} {
		if set {
			forms++
		}
	}
	if forms != 1 {
		return consentActor{}, nil, cc.Errorf(op, cc.Invalid, "%s must have exactly one of did, org (with an optional role) or care_team", what)
	}
	out := consentActor{Role: recipientRole}
	switch {
	case a.DID != "":
		out.Reference = didRef("", a.DID)
		return out, nil, nil
	case a.Role != "":
		if !validCode.MatchString(string(a.Role)) {
			return out, nil, cc.Errorf(op, cc.Invalid, "%s: role %q is not a code", what, cc.Echo(string(a.Role)))
		}
		pr := practitionerRoleDoc{ResourceType: "PractitionerRole", ID: id,
			Code: []fConcept{{Coding: []fCoding{{System: carechainRoleSystem, Code: string(a.Role)}}, Text: string(a.Role)}}}
		if a.Org != "" {
			o := orgRef(a.Org)
			pr.Organization = &o
		}
		out.Reference = fReference{Reference: "#" + id, Type: "PractitionerRole", Display: actorText(a)}
		return out, pr, nil
	case a.Org != "":
		out.Reference = orgRef(a.Org)
		return out, nil, nil
	}
	if len(a.CareTeam) == 0 {
		return out, nil, cc.Errorf(op, cc.Invalid, "%s: the care team is empty", what)
	}
	ct := careTeamDoc{ResourceType: "CareTeam", ID: id}
	for _, d := range a.CareTeam {
		if d == "" {
			return out, nil, cc.Errorf(op, cc.Invalid, "%s: a care team member has no DID", what)
		}
		ct.Participant = append(ct.Participant, careTeamParticipant{Member: didRef("", d)})
	}
	out.Reference = fReference{Reference: "#" + id, Type: "CareTeam", Display: actorText(a)}
	return out, ct, nil
}

// consentText is the narrative of a consent, its provisions given as
// escaped list items.
func consentText(c cc.Consent, items []string) string {
	var b strings.Builder
	b.WriteString("<p>Consent ")
	b.WriteString(esc(c.ID))
	b.WriteString(" of patient ")
	b.WriteString(esc(string(c.Patient)))
	if c.Grantor != "" && c.Grantor != c.Patient {
		b.WriteString(", given on the patient's behalf by ")
		b.WriteString(esc(string(c.Grantor)))
	}
	if t, ok := instant(c.Time); ok && !c.Time.IsZero() {
		b.WriteString(", signed ")
		b.WriteString(t)
	}
	if c.Revoked > 0 {
		b.WriteString(". Revoked at ledger height ")
		b.WriteString(strconv.FormatInt(c.Revoked, 10))
		b.WriteString(": no longer in force")
	} else {
		b.WriteString(". In force")
	}
	b.WriteString(". A deny overrides any permit.</p>")
	if len(items) > 0 {
		b.WriteString("<ul>")
		for _, it := range items {
			b.WriteString(it)
		}
		b.WriteString("</ul>")
	}
	return b.String()
}

// provisionText says a provision in words (unescaped): "Permit
// did:cc:… to read Observation records for treatment (TREAT), …".
func provisionText(p cc.Provision) string {
	var b strings.Builder
	if p.Type == cc.Deny {
		b.WriteString("Deny ")
	} else {
		b.WriteString("Permit ")
	}
	var actors []string
	for _, a := range p.Actors {
		actors = append(actors, actorText(a))
	}
	if len(actors) == 0 {
		actors = []string{"anyone"}
	}
	b.WriteString(list(actors))
	b.WriteString(" to ")
	actions := p.Actions
	if len(actions) == 0 {
		actions = []string{"access"}
	}
	b.WriteString(list(actions))
	if len(p.ResourceTypes) == 0 {
		b.WriteString(" any record")
	} else {
		b.WriteString(" " + list(p.ResourceTypes) + " records")
	}
	if len(p.Categories) > 0 {
		b.WriteString(" labelled " + list(p.Categories))
	}
	if len(p.Purposes) == 0 {
		b.WriteString(" for any purpose")
	} else {
		var ps []string
		for _, pu := range p.Purposes {
			ps = append(ps, purposeText(pu))
		}
		b.WriteString(" for " + list(ps))
	}
	if s := periodText(p.Period); s != "" {
		b.WriteString(", " + s)
	}
	if s := periodText(p.DataPeriod); s != "" {
		b.WriteString(", for data dated " + s)
	}
	if p.Condition != "" {
		b.WriteString(", when " + p.Condition)
	}
	b.WriteString(".")
	return b.String()
}

// actorText names an actor: a DID, "organization x", "physician at
// organization x", "the care team of a, b".
func actorText(a cc.Actor) string {
	switch {
	case a.DID != "":
		return string(a.DID)
	case a.Role != "" && a.Org != "":
		return string(a.Role) + " at organization " + a.Org
	case a.Role != "":
		return string(a.Role)
	case a.Org != "":
		return "organization " + a.Org
	}
	var ds []string
	for _, d := range a.CareTeam {
		ds = append(ds, string(d))
	}
	return "the care team of " + strings.Join(ds, ", ")
}

// periodText says a period: "from S until E", "from S", "until E", or "".
func periodText(p cc.Period) string {
	var parts []string
	if s, ok := instant(p.Start); ok && !p.Start.IsZero() {
		parts = append(parts, "from "+s)
	}
	if e, ok := instant(p.End); ok && !p.End.IsZero() {
		parts = append(parts, "until "+e)
	}
	return strings.Join(parts, " ")
}

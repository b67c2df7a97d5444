package consent

import (
	"testing"
	"time"

	cc "carechain"
)

const (
	labCat = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
	psy    = ActCodeSystem + "|PSY"
	sud    = ActCodeSystem + "|SUD"
)

var (
	now     = genTime
	dataDay = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	// lab is a laboratory Observation of pat, authored and held by st-marys.
	lab = cc.RecordAnchor{ID: "Observation/1", Type: "Observation", Patient: pat.did, Org: "st-marys", AuthorOrg: "st-marys",
		Author: doc.did, Categories: []string{labCat}, DataTime: dataDay, Version: 1}
	// psyNote is a mental-health record of pat.
	psyNote = with(lab, func(r *cc.RecordAnchor) { r.Categories = []string{psy} })
	// imm is an Immunization of pat held by st-marys.
	imm = with(lab, func(r *cc.RecordAnchor) { r.ID, r.Type, r.Categories = "Immunization/1", "Immunization", nil })
)

func TestCan(t *testing.T) {
	hour, year := time.Hour, 365*24*time.Hour
	permitGP := consent("cons-gp", prov(cc.Permit, byDID(gp), forActions("read"), forPurposes("TREAT")))
	denyGP := consent("cons-deny", prov(cc.Deny, byDID(gp)))
	denyAll := consent("cons-deny-all", prov(cc.Deny))
	later := 2030 * time.Hour
	cases := []struct {
		name string
		req  cc.AccessRequest
		f    Facts
		want cc.Decision
	}{
		// 1–2: the patient and delegates.
		{"patient", ask(pat, nil, "PATRQT", lab), Facts{}, allow(cc.BasisPatient, "")},
		{"patient despite a deny of everyone", ask(pat, nil, "TREAT", lab), Facts{Consents: []cc.Consent{denyAll}}, allow(cc.BasisPatient, "")},
		{"delegate with records.read", ask(helper, nil, "PATRQT", lab), Facts{Delegations: []cc.Delegation{delegation(helper, now.Add(year), "records.read")}}, allow(cc.BasisDelegate, "")},
		{"delegate with *", ask(helper, nil, "PATRQT", lab), Facts{Delegations: []cc.Delegation{delegation(helper, now.Add(year), "*")}}, allow(cc.BasisDelegate, "")},
		{"delegate despite a deny", ask(helper, nil, "PATRQT", lab), Facts{Consents: []cc.Consent{denyAll}, Delegations: []cc.Delegation{delegation(helper, now.Add(year), "records.read")}}, allow(cc.BasisDelegate, "")},
		{"delegate without the scope", ask(parent, nil, "PATRQT", lab), Facts{Delegations: []cc.Delegation{delegation(parent, now.Add(year), "consent.manage")}}, deny},
		{"expired delegate", ask(helper, nil, "PATRQT", lab), Facts{Delegations: []cc.Delegation{delegation(helper, now, "records.read")}}, deny},
		{"delegate of another patient", ask(helper, nil, "PATRQT", with(lab, func(r *cc.RecordAnchor) { r.Patient = pat2.did })), Facts{Delegations: []cc.Delegation{delegation(helper, now.Add(year), "records.read")}}, deny},

		// 4: the authoring organization.
		{"author org physician", ask(doc, docOrgs, "TREAT", lab), Facts{}, allow(cc.BasisAuthor, "")},
		{"author org nurse", ask(nurse, nurseOrgs, "TREAT", lab), Facts{}, allow(cc.BasisAuthor, "")},
		{"author org non-clinical role", ask(clerk, clerkOrgs, "TREAT", lab), Facts{}, deny},
		{"clinician of another org than the author", ask(doc, docOrgs, "TREAT", with(lab, func(r *cc.RecordAnchor) { r.AuthorOrg = "city-clinic" })), Facts{}, deny},
		{"deny overrides the author org", ask(doc, docOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{denyAll}}, deny},

		// 6: permits.
		{"other clinician with consent", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{permitGP}}, allow(cc.BasisConsent, "cons-gp")},
		{"other clinician without consent", ask(gp, gpOrgs, "TREAT", lab), Facts{}, deny},
		{"consent of another patient", ask(gp, gpOrgs, "TREAT", with(lab, func(r *cc.RecordAnchor) { r.Patient = pat2.did })), Facts{Consents: []cc.Consent{permitGP}}, deny},
		{"wrong purpose", ask(gp, gpOrgs, "HPAYMT", lab), Facts{Consents: []cc.Consent{permitGP}}, deny},
		{"TREAT permit does not cover ETREAT", ask(gp, gpOrgs, "ETREAT", lab), Facts{Consents: []cc.Consent{permitGP}}, deny},
		{"wrong action", func() cc.AccessRequest { r := ask(gp, gpOrgs, "TREAT", lab); r.Action = "export"; return r }(), Facts{Consents: []cc.Consent{permitGP}}, deny},
		{"unknown action", func() cc.AccessRequest { r := ask(gp, gpOrgs, "TREAT", lab); r.Action = "write"; return r }(), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit))}}, deny},
		{"unknown purpose", ask(gp, gpOrgs, "FOO", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit))}}, deny},
		{"invalid requester", ask(&actor{did: "did:cc:x"}, nil, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit))}}, deny},
		{"permit without actors covers anyone", ask(stranger, nil, "TREAT", lab), Facts{Consents: []cc.Consent{consent("cons-any", prov(cc.Permit))}}, allow(cc.BasisConsent, "cons-any")},
		{"resource type listed", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(gp), forTypes("Immunization", "Observation")))}}, allow(cc.BasisConsent, "c")},
		{"resource type not listed", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(gp), forTypes("Immunization")))}}, deny},
		{"category listed", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(gp), forCats("vital-signs", "laboratory")))}}, allow(cc.BasisConsent, "c")},
		{"category not listed", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(gp), forCats("vital-signs")))}}, deny},
		{"expired consent", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(gp), during(now.Add(-year), now)))}}, deny},
		{"consent not yet in force", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(gp), during(now.Add(hour), time.Time{})))}}, deny},
		{"consent in force", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(gp), during(now, now.Add(hour))))}}, allow(cc.BasisConsent, "c")},
		{"revoked consent", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{revoked(permitGP)}}, deny},
		{"first matching consent is the ref", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{revoked(consent("c0", prov(cc.Permit))), consent("c1", prov(cc.Permit, byDID(erdoc)), prov(cc.Permit, byDID(gp))), permitGP}}, allow(cc.BasisConsent, "c1")},

		// Sensitive labels.
		{"PSY record, generic permit", ask(gp, gpOrgs, "TREAT", psyNote), Facts{Consents: []cc.Consent{permitGP}}, deny},
		{"PSY record, author org", ask(doc, docOrgs, "TREAT", psyNote), Facts{}, allow(cc.BasisAuthor, "")},
		{"PSY record, permit naming PSY", ask(gp, gpOrgs, "TREAT", psyNote), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(gp), forCats(psy)))}}, allow(cc.BasisConsent, "c")},
		{"PSY record, permit naming bare PSY", ask(gp, gpOrgs, "TREAT", psyNote), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(gp), forCats("PSY")))}}, allow(cc.BasisConsent, "c")},
		{"bare PSY label on the record", ask(gp, gpOrgs, "TREAT", with(lab, func(r *cc.RecordAnchor) { r.Categories = []string{"PSY"} })), Facts{Consents: []cc.Consent{permitGP}}, deny},
		{"PSY and SUD record, permit naming PSY only", ask(gp, gpOrgs, "TREAT", with(lab, func(r *cc.RecordAnchor) { r.Categories = []string{psy, sud} })), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(gp), forCats(psy)))}}, deny},
		{"PSY from another code system is not sensitive", ask(gp, gpOrgs, "TREAT", with(lab, func(r *cc.RecordAnchor) { r.Categories = []string{"http://example.org|PSY"} })), Facts{Consents: []cc.Consent{permitGP}}, allow(cc.BasisConsent, "cons-gp")},

		// 3: denies.
		{"deny overrides permit", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{permitGP, denyGP}}, deny},
		{"revoked deny", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{permitGP, revoked(denyGP)}}, allow(cc.BasisConsent, "cons-gp")},
		{"deny of another category", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{permitGP, consent("d", prov(cc.Deny, forCats("SEX")))}}, allow(cc.BasisConsent, "cons-gp")},
		{"deny of a sensitive category", ask(gp, gpOrgs, "TREAT", psyNote), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, forCats("PSY")), prov(cc.Deny, byOrg("city-clinic", ""), forCats("PSY")))}}, deny},
		{"deny in another period", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{permitGP, consent("d", prov(cc.Deny, during(now.Add(hour), time.Time{})))}}, allow(cc.BasisConsent, "cons-gp")},

		// Data period.
		{"data period contains the record", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(gp), dataDuring(dataDay.Add(-year), dataDay.Add(hour))))}}, allow(cc.BasisConsent, "c")},
		{"data period excludes the record", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(gp), dataDuring(dataDay.Add(hour), time.Time{})))}}, deny},
		{"permit data period, record without data time", ask(gp, gpOrgs, "TREAT", with(lab, func(r *cc.RecordAnchor) { r.DataTime = time.Time{} })), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(gp), dataDuring(dataDay, time.Time{})))}}, deny},
		{"deny data period, record without data time", ask(gp, gpOrgs, "TREAT", with(lab, func(r *cc.RecordAnchor) { r.DataTime = time.Time{} })), Facts{Consents: []cc.Consent{permitGP, consent("d", prov(cc.Deny, dataDuring(dataDay, time.Time{})))}}, deny},
		{"deny data period excludes the record", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{permitGP, consent("d", prov(cc.Deny, dataDuring(dataDay.Add(hour), time.Time{})))}}, allow(cc.BasisConsent, "cons-gp")},

		// Actor forms.
		{"role in org grantee", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byOrg("city-clinic", cc.RolePhysician)))}}, allow(cc.BasisConsent, "c")},
		{"role in org, other role", ask(erdoc, erOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byOrg("city-clinic", cc.RolePhysician)))}}, deny},
		{"role in another org", ask(doc, []cc.Member{member("uni", cc.RoleResearcher)}, "TREAT", with(lab, func(r *cc.RecordAnchor) { r.AuthorOrg = "" })), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byOrg("st-marys", cc.RoleResearcher)))}}, deny},
		{"org grantee", ask(erdoc, erOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byOrg("city-clinic", "")))}}, allow(cc.BasisConsent, "c")},
		{"care team member", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byTeam(nurse, gp)))}}, allow(cc.BasisConsent, "c")},
		{"not on the care team", ask(erdoc, erOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byTeam(nurse, gp)))}}, deny},
		{"malformed actor never permits", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", cc.Provision{Type: cc.Permit, Actors: []cc.Actor{{DID: gp.did, Org: "city-clinic"}}})}}, deny},
		{"malformed actor always denies", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{permitGP, consent("d", cc.Provision{Type: cc.Deny, Actors: []cc.Actor{{Role: cc.RoleNurse}}})}}, deny},

		// CEL conditions.
		{"condition true", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(gp), when(`request.purpose == "TREAT" && "city-clinic" in request.orgs && record.type == "Observation" && record.data_time < request.time`)))}}, allow(cc.BasisConsent, "c")},
		{"condition false", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(gp), when(`record.version > 1`)))}}, deny},
		{"condition erring permit", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(gp), when(`record.categories[5] == "x"`)))}}, deny},
		{"condition that does not compile", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(gp), when(`1 +`)))}}, deny},
		{"deny condition false", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{permitGP, consent("d", prov(cc.Deny, when(`"physician" in request.roles && false`)))}}, allow(cc.BasisConsent, "cons-gp")},
		{"deny condition true", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{permitGP, consent("d", prov(cc.Deny, when(`"physician" in request.roles`)))}}, deny},
		{"deny condition erring fails closed", ask(gp, gpOrgs, "TREAT", lab), Facts{Consents: []cc.Consent{permitGP, consent("d", prov(cc.Deny, when(`record.categories[5] == "x"`)))}}, deny},

		// 5: agreements.
		{"agreement opt-out", ask(officer, officerOrgs, "PUBHLTH", imm), Facts{Agreements: []cc.Agreement{agreement("agr-out", true)}}, allow(cc.BasisAgreement, "agr-out")},
		{"agreement opt-out, patient denied the recipient", ask(officer, officerOrgs, "PUBHLTH", imm), Facts{Agreements: []cc.Agreement{agreement("agr-out", true)}, Consents: []cc.Consent{consent("d", prov(cc.Deny, byOrg("pha", "")))}}, deny},
		{"agreement opt-out, patient denied the purpose", ask(officer, officerOrgs, "PUBHLTH", imm), Facts{Agreements: []cc.Agreement{agreement("agr-out", true)}, Consents: []cc.Consent{consent("d", prov(cc.Deny, forPurposes("PUBHLTH")))}}, deny},
		{"agreement opt-in without permit", ask(officer, officerOrgs, "PUBHLTH", imm), Facts{Agreements: []cc.Agreement{agreement("agr-in", false)}}, deny},
		{"agreement opt-in with permit", ask(officer, officerOrgs, "PUBHLTH", imm), Facts{Agreements: []cc.Agreement{agreement("agr-in", false)}, Consents: []cc.Consent{consent("c", prov(cc.Permit, byOrg("pha", ""), forPurposes("PUBHLTH")))}}, allow(cc.BasisAgreement, "agr-in")},
		{"agreement opt-in, permit for another role", ask(officer, officerOrgs, "PUBHLTH", imm), Facts{Agreements: []cc.Agreement{agreement("agr-in", false)}, Consents: []cc.Consent{consent("c", prov(cc.Permit, byOrg("pha", cc.RoleResearcher)))}}, deny},
		{"agreement opt-in, permit for another purpose", ask(officer, officerOrgs, "PUBHLTH", imm), Facts{Agreements: []cc.Agreement{agreement("agr-in", false)}, Consents: []cc.Consent{consent("c", prov(cc.Permit, byOrg("pha", ""), forPurposes("TREAT")))}}, deny},
		{"agreement, wrong purpose", ask(officer, officerOrgs, "HRESEARCH", imm), Facts{Agreements: []cc.Agreement{agreement("agr-out", true)}}, deny},
		{"agreement, wrong resource type", ask(officer, officerOrgs, "PUBHLTH", lab), Facts{Agreements: []cc.Agreement{agreement("agr-out", true)}}, deny},
		{"agreement, other provider", ask(officer, officerOrgs, "PUBHLTH", with(imm, func(r *cc.RecordAnchor) { r.Org, r.AuthorOrg = "city-clinic", "city-clinic" })), Facts{Agreements: []cc.Agreement{agreement("agr-out", true)}}, deny},
		{"agreement, provider is the author", ask(officer, officerOrgs, "PUBHLTH", with(imm, func(r *cc.RecordAnchor) { r.Org = "city-clinic" })), Facts{Agreements: []cc.Agreement{agreement("agr-out", true)}}, allow(cc.BasisAgreement, "agr-out")},
		{"agreement, requester not in the recipient", ask(gp, gpOrgs, "PUBHLTH", imm), Facts{Agreements: []cc.Agreement{agreement("agr-out", true)}}, deny},
		{"agreement terminated", ask(officer, officerOrgs, "PUBHLTH", imm), Facts{Agreements: []cc.Agreement{agreement("agr-out", true, func(a *cc.Agreement) { a.Status = cc.AgreementTerminated })}}, deny},
		{"agreement expired", ask(officer, officerOrgs, "PUBHLTH", imm), Facts{Agreements: []cc.Agreement{agreement("agr-out", true, func(a *cc.Agreement) { a.Period.End = now })}}, deny},
		{"agreement, sensitive record", ask(officer, officerOrgs, "PUBHLTH", with(imm, func(r *cc.RecordAnchor) { r.Categories = []string{"HIV"} })), Facts{Agreements: []cc.Agreement{agreement("agr-out", true)}}, deny},
		{"agreement naming the label", ask(officer, officerOrgs, "PUBHLTH", with(imm, func(r *cc.RecordAnchor) { r.Categories = []string{"HIV"} })), Facts{Agreements: []cc.Agreement{agreement("agr-out", true, func(a *cc.Agreement) { a.Categories = []string{ActCodeSystem + "|HIV"} })}}, allow(cc.BasisAgreement, "agr-out")},
		{"agreement condition false", ask(officer, officerOrgs, "PUBHLTH", imm), Facts{Agreements: []cc.Agreement{agreement("agr-out", true, func(a *cc.Agreement) { a.Condition = `record.version > 1` })}}, deny},
		{"agreement condition true", ask(officer, officerOrgs, "PUBHLTH", imm), Facts{Agreements: []cc.Agreement{agreement("agr-out", true, func(a *cc.Agreement) { a.Condition = `record.org == "st-marys"` })}}, allow(cc.BasisAgreement, "agr-out")},

		// 7: break-glass.
		{"break-glass in window", ask(erdoc, erOrgs, "ETREAT", lab), Facts{BreakGlass: []cc.BreakGlass{window("bg-1", now.Add(-hour), now.Add(hour))}}, allow(cc.BasisBreakGlass, "bg-1")},
		{"break-glass window starts now", ask(erdoc, erOrgs, "ETREAT", lab), Facts{BreakGlass: []cc.BreakGlass{window("bg-1", now, now.Add(hour))}}, allow(cc.BasisBreakGlass, "bg-1")},
		{"break-glass expired window", ask(erdoc, erOrgs, "ETREAT", lab), Facts{BreakGlass: []cc.BreakGlass{window("bg-1", now.Add(-2*hour), now)}}, deny},
		{"break-glass wrong purpose", ask(erdoc, erOrgs, "TREAT", lab), Facts{BreakGlass: []cc.BreakGlass{window("bg-1", now.Add(-hour), now.Add(hour))}}, deny},
		{"break-glass reviewed as misuse", ask(erdoc, erOrgs, "ETREAT", lab), Facts{BreakGlass: []cc.BreakGlass{func() cc.BreakGlass {
			w := window("bg-1", now.Add(-hour), now.Add(hour))
			w.Review = "misuse"
			return w
		}()}}, deny},
		{"break-glass of another clinician", ask(gp, gpOrgs, "ETREAT", lab), Facts{BreakGlass: []cc.BreakGlass{window("bg-1", now.Add(-hour), now.Add(hour))}}, deny},
		{"break-glass overrides a deny for ETREAT", ask(erdoc, erOrgs, "ETREAT", lab), Facts{Consents: []cc.Consent{denyAll}, BreakGlass: []cc.BreakGlass{window("bg-1", now.Add(-hour), now.Add(later))}}, allow(cc.BasisBreakGlass, "bg-1")},
		{"consent comes before break-glass", ask(erdoc, erOrgs, "ETREAT", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byDID(erdoc)))}, BreakGlass: []cc.BreakGlass{window("bg-1", now.Add(-hour), now.Add(hour))}}, allow(cc.BasisConsent, "c")},

		// Research.
		{"researcher without consent", ask(researcher, researcherOrgs, "HRESEARCH", lab), Facts{Consents: []cc.Consent{permitGP}}, deny},
		{"researcher with consent", ask(researcher, researcherOrgs, "HRESEARCH", lab), Facts{Consents: []cc.Consent{consent("c", prov(cc.Permit, byOrg("uni", cc.RoleResearcher), forPurposes("HRESEARCH")))}}, allow(cc.BasisConsent, "c")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Can(tc.req, tc.f)
			if !sameDecision(got, tc.want) {
				t.Errorf("Can = %+v, want allow=%v basis=%q ref=%q", got, tc.want.Allow, tc.want.Basis, tc.want.Ref)
			}
			if got.Reason == "" {
				t.Errorf("decision %+v has no reason", got)
			}
			// A patient's own read is decided without the facts, which
			// callers then skip loading.
			if ByPatient(tc.req) {
				if without := Can(tc.req, Facts{}); without != got {
					t.Errorf("ByPatient, but Can without facts = %+v, with = %+v", without, got)
				}
				if !got.Allow || got.Basis != cc.BasisPatient {
					t.Errorf("ByPatient, but Can = %+v", got)
				}
			}
		})
	}
}

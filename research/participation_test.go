package research

import (
	"slices"
	"testing"
	"time"

	cc "carechain"
	"carechain/consent"
	"carechain/internal/cctest"
)

func TestOptInOut(t *testing.T) {
	e := newEnv(t)
	e.mustApply(t, res, TypeRegister, project("pending"))
	e.approved(t, "p1")
	steps := []struct {
		name    string
		signer  *actor
		typ     string
		payload obj
		want    cc.Kind
		counted []cc.DID // after the step
	}{
		{"default is out", nil, "", nil, 0, []cc.DID{}},
		{"pending project", pat, TypeOptIn, obj{"project": "pending", "patient": pat.did}, cc.FailedPrecondition, []cc.DID{}},
		{"unknown project", pat, TypeOptIn, obj{"project": "nope", "patient": pat.did}, cc.NotFound, []cc.DID{}},
		{"stranger signs", pat2, TypeOptIn, obj{"project": "p1", "patient": pat.did}, cc.Unauthorized, []cc.DID{}},
		{"researcher signs", res, TypeOptIn, obj{"project": "p1", "patient": pat.did}, cc.Unauthorized, []cc.DID{}},
		{"not a patient", deleg, TypeOptIn, obj{"project": "p1", "patient": deleg.did}, cc.NotFound, []cc.DID{}},
		{"bad did", pat, TypeOptIn, obj{"project": "p1", "patient": "did:x"}, cc.Invalid, []cc.DID{}},
		{"pat opts in", pat, TypeOptIn, obj{"project": "p1", "patient": pat.did}, 0, []cc.DID{pat.did}},
		{"twice", pat, TypeOptIn, obj{"project": "p1", "patient": pat.did}, cc.Conflict, []cc.DID{pat.did}},
		{"pat2 by itself", pat2, TypeOptIn, obj{"project": "p1", "patient": pat2.did}, 0, []cc.DID{pat.did, pat2.did}},
		{"delegate opts pat out", deleg, TypeOptOut, obj{"project": "p1", "patient": pat.did}, 0, []cc.DID{pat2.did}},
		{"out twice", pat, TypeOptOut, obj{"project": "p1", "patient": pat.did}, cc.Conflict, []cc.DID{pat2.did}},
		{"pat3 opts out without opting in", pat3, TypeOptOut, obj{"project": "p1", "patient": pat3.did}, 0, []cc.DID{pat2.did}},
		{"delegate opts pat back in", deleg, TypeOptIn, obj{"project": "p1", "patient": pat.did}, 0, []cc.DID{pat.did, pat2.did}},
	}
	for _, s := range steps {
		if s.typ != "" {
			_, err := e.apply(t, s.signer, s.typ, s.payload)
			if s.want != 0 {
				cctest.WantKind(t, err, s.want)
			} else if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		e.next()
		if got := e.counts(t, "p1"); !slices.Equal(got, s.counted) {
			t.Errorf("%s: counted %v, want %v", s.name, got, s.counted)
		}
	}
	// The opt-in made a real consent that consent.Can honours for the
	// institute's researcher with purpose HRESEARCH, and only for it.
	part, err := GetParticipation(e.kv, "p1", pat.did)
	if err != nil || part == nil || part.Status != OptedIn {
		t.Fatalf("participation = %+v, %v", part, err)
	}
	c, err := consent.GetConsent(e.kv, part.Consent)
	if err != nil || c.Revoked != 0 {
		t.Fatalf("consent = %+v, %v", c, err)
	}
	orgs := []cc.Member{{Org: "nri", DID: res.did, Roles: []cc.Role{cc.RoleResearcher}}}
	cases := []struct {
		purpose, typ string
		want         bool
	}{{"HRESEARCH", "Immunization", true}, {"TREAT", "Immunization", false}, {"HRESEARCH", "Condition", false}}
	for _, cs := range cases {
		req := cc.AccessRequest{Requester: res.did, Orgs: orgs, Action: "export", Purpose: cs.purpose, Time: e.time,
			Record: cc.RecordAnchor{Patient: pat.did, Type: cs.typ}}
		facts, err := consent.Load(e.kv, req)
		if err != nil {
			t.Fatal(err)
		}
		if got := consent.Can(req, facts).Allow; got != cs.want {
			t.Errorf("Can(%s, %s) = %v, want %v", cs.purpose, cs.typ, got, cs.want)
		}
	}
	// The first opt-in's consent was revoked by the opt-out.
	all, _ := consent.ListConsents(e.kv, pat.did)
	revoked := 0
	for _, c := range all {
		if c.Revoked != 0 {
			revoked++
		}
	}
	if len(all) != 2 || revoked != 1 {
		t.Errorf("pat has %d consents, %d revoked; want 2 and 1", len(all), revoked)
	}
}

func TestCounts(t *testing.T) {
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	p := &Project{ID: "p1", Org: "nri", Status: StatusApproved, ResourceTypes: []string{"Immunization"},
		Period: cc.Period{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}}
	pending := *p
	pending.Status = StatusPending
	research := func(typ cc.ProvisionType, actors []cc.Actor, types ...string) cc.Consent {
		return cc.Consent{ID: "cons-x", Patient: pat.did, Provisions: []cc.Provision{{Type: typ, Actors: actors, Purposes: []string{Purpose}, ResourceTypes: types}}}
	}
	in := &Participation{Project: "p1", Patient: pat.did, Status: OptedIn, Consent: "cons-in"}
	out := &Participation{Project: "p1", Patient: pat.did, Status: OptedOut, Consent: "cons-in"}
	none := &Participation{Project: "p1", Patient: pat.did}
	optConsent := cc.Consent{ID: "cons-in", Patient: pat.did, Provisions: []cc.Provision{optInProvision(p)}}
	revokedOpt := optConsent
	revokedOpt.Revoked = 5
	nri := []cc.Actor{{Org: "nri"}}
	tests := []struct {
		name      string
		p         *Project
		part      *Participation
		cs        []cc.Consent
		t         time.Time
		want      bool
		wantBasis string
	}{
		{"no choice, no consent", p, none, nil, at, false, ""},
		{"opted in", p, in, []cc.Consent{optConsent}, at, true, BasisProject},
		{"opted in, consent revoked", p, in, []cc.Consent{revokedOpt}, at, false, ""},
		{"pending project", &pending, in, []cc.Consent{optConsent}, at, false, ""},
		{"before the period", p, in, []cc.Consent{optConsent}, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), false, ""},
		{"opt-out wins over a category permit", p, out, []cc.Consent{research(cc.Permit, nri)}, at, false, ""},
		{"category permit for the institute", p, none, []cc.Consent{research(cc.Permit, nri, "Immunization")}, at, true, BasisCategory},
		{"category permit for any researcher", p, none, []cc.Consent{research(cc.Permit, nil)}, at, true, BasisCategory},
		{"category permit for another org", p, none, []cc.Consent{research(cc.Permit, []cc.Actor{{Org: "other"}})}, at, false, ""},
		{"category permit for other types", p, none, []cc.Consent{research(cc.Permit, nri, "Condition")}, at, false, ""},
		{"treatment permit only", p, none, []cc.Consent{{ID: "c", Patient: pat.did, Provisions: []cc.Provision{{Type: cc.Permit, Purposes: []string{"TREAT"}}}}}, at, false, ""},
		{"conditional permit fails closed", p, none, []cc.Consent{{ID: "c", Patient: pat.did, Provisions: []cc.Provision{{Type: cc.Permit, Purposes: []string{Purpose}, Condition: "true"}}}}, at, false, ""},
		{"research deny beats opt-in", p, in, []cc.Consent{optConsent, research(cc.Deny, nil)}, at, false, ""},
		{"deny of the project's types beats opt-in", p, in, []cc.Consent{optConsent, research(cc.Deny, nri, "Immunization")}, at, false, ""},
		{"deny of other types keeps the opt-in", p, in, []cc.Consent{optConsent, research(cc.Deny, nri, "Condition")}, at, true, BasisProject},
		{"deny of a sensitive category keeps the opt-in", p, in, []cc.Consent{optConsent, {ID: "c", Patient: pat.did, Provisions: []cc.Provision{{Type: cc.Deny, Categories: []string{"PSY"}}}}}, at, true, BasisProject},
		{"blanket deny of everything", p, in, []cc.Consent{optConsent, {ID: "c", Patient: pat.did, Provisions: []cc.Provision{{Type: cc.Deny}}}}, at, false, ""},
		{"expired deny", p, in, []cc.Consent{optConsent, {ID: "c", Patient: pat.did, Provisions: []cc.Provision{{Type: cc.Deny, Period: cc.Period{End: at.Add(-time.Hour)}}}}}, at, true, BasisProject},
		{"another patient's consent", p, none, []cc.Consent{{ID: "c", Patient: pat2.did, Provisions: []cc.Provision{{Type: cc.Permit, Purposes: []string{Purpose}}}}}, at, false, ""},
		{"nil project", nil, in, []cc.Consent{optConsent}, at, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, basis := Counts(tt.p, tt.part, tt.cs, tt.t)
			if got != tt.want || basis != tt.wantBasis {
				t.Errorf("Counts = %v, %q; want %v, %q", got, basis, tt.want, tt.wantBasis)
			}
		})
	}
}

func TestCategoryConsentCounts(t *testing.T) {
	e := newEnv(t)
	e.approved(t, "p1")
	e.mustApply(t, pat3, consent.TypeGrant, obj{"patient": pat3.did, "provisions": []obj{{"type": "permit",
		"actors": []obj{{"org": "nri"}}, "purposes": []string{"HRESEARCH"}, "resource_types": []string{"Immunization"}}}})
	e.next()
	if got := e.counts(t, "p1"); !slices.Equal(got, []cc.DID{pat3.did}) {
		t.Fatalf("counted %v, want pat3 by its category consent", got)
	}
	e.mustApply(t, pat3, TypeOptOut, obj{"project": "p1", "patient": pat3.did})
	e.next()
	if got := e.counts(t, "p1"); len(got) != 0 {
		t.Fatalf("counted %v after pat3's project opt-out, want nobody", got)
	}
}

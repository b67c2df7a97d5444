package programs

import (
	"slices"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/internal/cctest"
	"carechain/records"
)

// TestDeployRules pins what program.deploy refuses; each refusal changes
// nothing.
func TestDeployRules(t *testing.T) {
	e := newEnv(t)
	e.deploy(t, "live", spec(nil), true)
	deploy := func(id string, s obj) obj { return obj{"org": "pha", "id": id, "spec": s} }
	tests := []struct {
		name    string
		signer  *actor
		payload any
		kind    cc.Kind
		msg     string
	}{
		{"not JSON", officer, []byte(`{"org":`), cc.Malformed, ""},
		{"unknown field", officer, obj{"org": "pha", "id": "prog-1", "spec": spec(nil), "extra": 1}, cc.Malformed, "extra"},
		{"unknown spec field", officer, deploy("prog-1", spec(obj{"budget": 3})), cc.Malformed, "budget"},
		{"bad id", officer, deploy("P 1 x", spec(nil)), cc.Invalid, "id"},
		{"no vaccines", officer, deploy("prog-1", spec(obj{"vaccines": []string{}})), cc.Invalid, "vaccines must list"},
		{"a vaccine without system", officer, deploy("prog-1", spec(obj{"vaccines": []string{"03"}})), cc.Invalid, `"system|code"`},
		{"target does not compile", officer, deploy("prog-1", spec(obj{"target": "person.age_band =="})), cc.Invalid, "target: condition does not compile"},
		{"target is not bool", officer, deploy("prog-1", spec(obj{"target": "person.quintile"})), cc.Invalid, "not bool"},
		{"target names an unknown field", officer, deploy("prog-1", spec(obj{"target": "person.birth_date == '2020'"})), cc.Invalid, "does not compile"},
		{"target sees no dose", officer, deploy("prog-1", spec(obj{"target": "dose.number > 1"})), cc.Invalid, "does not compile"},
		{"target may cost too much", officer, deploy("prog-1", spec(obj{"target": "person.risks.all(a, person.risks.all(b, person.risks.all(c, a + b + c != '')))"})),
			cc.Invalid, "over the limit"},
		{"incentive when does not compile", officer, deploy("prog-1", spec(obj{"incentive": obj{"credits_per_dose": 5, "budget": 10, "when": "dose.nope"}})), cc.Invalid, "incentive.when"},
		{"incentive without credits", officer, deploy("prog-1", spec(obj{"incentive": obj{"credits_per_dose": 0, "budget": 10}})), cc.Invalid, "credits_per_dose"},
		{"goal permille over 1000", officer, deploy("prog-1", spec(obj{"goal": obj{"dose": 2, "permille": 1001, "by": "2026-12-31"}})), cc.Invalid, "permille"},
		{"goal date", officer, deploy("prog-1", spec(obj{"goal": obj{"dose": 2, "permille": 900, "by": "31/12/2026"}})), cc.Invalid, "YYYY-MM-DD"},
		{"milestone named goal", officer, deploy("prog-1", spec(obj{"milestones": []obj{{"name": "goal", "permille": 500, "by": "2026-06-30"}}})), cc.Invalid, "not be"},
		{"reminder interval", officer, deploy("prog-1", spec(obj{"reminder": obj{"interval_days": 0}})), cc.Invalid, "interval_days"},
		{"a nurse", nurseA, deploy("prog-1", spec(nil)), cc.Unauthorized, "not a member"},
		{"the node key", node, deploy("prog-1", spec(nil)), cc.Unauthorized, "not a member"},
		{"a hospital", hadmin, obj{"org": "hosp", "id": "prog-1", "spec": spec(nil)}, cc.Unauthorized, "not a public-health agency"},
		{"no such org", officer, obj{"org": "nowhere", "id": "prog-1", "spec": spec(nil)}, cc.NotFound, "nowhere"},
		{"an active program", officer, deploy("live", spec(nil)), cc.Conflict, "pause it first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.wantRejected(t, tt.signer, TypeDeploy, tt.payload, tt.kind, tt.msg)
		})
	}
}

// TestLifecycle walks draft → active ⇄ paused → closed, refuses the other
// steps, and versions a paused program without losing its counters.
func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	p1 := e.patient(t, "prog-1", true)
	res := cctest.DecodeData[StatusResult](t, e.mustApply(t, officer, TypeDeploy, obj{"org": "pha", "id": "mmr", "spec": spec(nil)}))
	if res != (StatusResult{ID: "mmr", Version: 1, Status: StatusDraft}) {
		t.Fatalf("deploy = %+v", res)
	}
	e.wantRejected(t, officer, TypePause, obj{"id": "mmr"}, cc.Conflict, "not [active]")
	e.wantRejected(t, nurseA, TypeActivate, obj{"id": "mmr"}, cc.Unauthorized, "")
	e.wantRejected(t, officer, TypeActivate, obj{"id": "nope"}, cc.NotFound, "no program")
	e.mustApply(t, padmin, TypeActivate, obj{"id": "mmr"})
	e.enroll(t, "mmr", obj{"patient": p1.did, "facts": facts("North")})
	e.dose(t, p1, "clinic-a", mmr)
	e.wantRejected(t, officer, TypeActivate, obj{"id": "mmr"}, cc.Conflict, "is active")
	e.mustApply(t, officer, TypePause, obj{"id": "mmr"})
	v2 := spec(obj{"title": "Childhood MMR (v2)", "goal": map[string]any{"dose": 2, "permille": 950, "by": "2026-12-31"}})
	res = cctest.DecodeData[StatusResult](t, e.mustApply(t, officer, TypeDeploy, obj{"org": "pha", "id": "mmr", "spec": v2}))
	if res != (StatusResult{ID: "mmr", Version: 2, Status: StatusPaused}) {
		t.Fatalf("deploy v2 = %+v", res)
	}
	p := e.program(t, "mmr")
	if p.Title != "Childhood MMR (v2)" || p.Enrolled != 1 || p.Doses != 1 || !slices.Equal(p.Reached, []int64{1, 0}) || p.Checkpoints[0].Permille != 950 {
		t.Errorf("after v2: %+v", p)
	}
	vs, err := Versions(e.kv, "mmr")
	if err != nil || len(vs) != 2 || vs[0].Spec.Goal.Permille != 900 || vs[1].Deployer != officer.did {
		t.Errorf("versions = %+v, %v", vs, err)
	}
	e.mustApply(t, officer, TypeActivate, obj{"id": "mmr"})
	e.mustApply(t, officer, TypeClose, obj{"id": "mmr"})
	e.wantRejected(t, officer, TypeActivate, obj{"id": "mmr"}, cc.Conflict, "is closed")
	e.wantRejected(t, officer, TypeClose, obj{"id": "mmr"}, cc.Conflict, "is closed")
	e.wantRejected(t, officer, TypeDeploy, obj{"org": "pha", "id": "mmr", "spec": spec(nil)}, cc.Conflict, "closed")
	e.wantRejected(t, officer, TypeEnroll, obj{"id": "mmr", "members": []obj{{"patient": p1.did, "facts": facts("North")}}}, cc.Conflict, "closed")
	// A closed program counts nothing.
	e.dose(t, p1, "clinic-a", mmr)
	if got := e.program(t, "mmr").Doses; got != 1 {
		t.Errorf("doses after close = %d, want 1", got)
	}
}

// TestEnroll checks who is enrolled: only people the agency may see under
// the consent state, and only those the target admits; earlier doses count.
func TestEnroll(t *testing.T) {
	e := newEnv(t)
	shared := e.patient(t, "shared", true)
	private := e.patient(t, "private", false)
	adult := e.patient(t, "adult", true)
	vaccinated := e.patient(t, "vaccinated", true)
	stranger := newActor("stranger")
	e.dose(t, vaccinated, "clinic-a", mmr)
	e.dose(t, vaccinated, "clinic-b", covid) // another vaccine: not counted
	e.deploy(t, "mmr", spec(obj{"reminder": obj{"interval_days": 28}}), true)

	adultFacts := facts("South")
	adultFacts["age_band"] = "18-49"
	got := e.enroll(t, "mmr",
		obj{"patient": shared.did, "facts": facts("North")},
		obj{"patient": private.did, "facts": facts("North")},
		obj{"patient": adult.did, "facts": adultFacts},
		obj{"patient": vaccinated.did, "facts": facts("South")},
		obj{"patient": stranger.did, "facts": facts("South")})
	if want := (EnrollResult{Enrolled: 2, NotEligible: 1, NotVisible: 2}); got != want {
		t.Errorf("enroll = %+v, want %+v", got, want)
	}
	if again := e.enroll(t, "mmr", obj{"patient": shared.did, "facts": facts("North")}); again != (EnrollResult{Already: 1}) {
		t.Errorf("enroll again = %+v", again)
	}
	for _, p := range []*actor{private, adult, stranger} {
		if _, err := GetMember(e.kv, "mmr", p.did); !cc.Is(cc.NotFound, err) {
			t.Errorf("%s: member err = %v, want NotFound", p.name, err)
		}
	}
	m, err := GetMember(e.kv, "mmr", vaccinated.did)
	if err != nil || m.Doses != 1 || m.Region != "South" || m.AgeBand != "2-4" || m.Quintile != 3 || m.Due == 0 {
		t.Errorf("vaccinated member = %+v, %v", m, err)
	}
	p := e.program(t, "mmr")
	if p.Enrolled != 2 || !slices.Equal(p.Reached, []int64{1, 0}) {
		t.Errorf("program = %+v", p)
	}
	regions, _ := Regions(e.kv, "mmr")
	if len(regions) != 2 || regions[0].Region != "North" || regions[0].Enrolled != 1 || regions[1].Reached[0] != 1 {
		t.Errorf("regions = %+v", regions)
	}
	// Bad payloads change nothing.
	bad := facts("North")
	bad["quintile"] = 6
	for _, tt := range []struct {
		payload any
		kind    cc.Kind
		msg     string
	}{
		{obj{"id": "mmr", "members": []obj{}}, cc.Invalid, "1 to"},
		{obj{"id": "mmr", "members": []obj{{"patient": "did:x", "facts": facts("N")}}}, cc.Invalid, "patient"},
		{obj{"id": "mmr", "members": []obj{{"patient": shared.did, "facts": bad}}}, cc.Invalid, "quintile"},
		{obj{"id": "mmr", "members": []obj{{"patient": shared.did, "facts": facts("North")}, {"patient": shared.did, "facts": facts("North")}}}, cc.Invalid, "twice"},
		{obj{"id": "nope", "members": []obj{{"patient": shared.did, "facts": facts("North")}}}, cc.NotFound, "no program"},
	} {
		e.wantRejected(t, officer, TypeEnroll, tt.payload, tt.kind, tt.msg)
	}
	e.wantRejected(t, nurseA, TypeEnroll, obj{"id": "mmr", "members": []obj{{"patient": shared.did, "facts": facts("North")}}}, cc.Unauthorized, "")
}

// TestIncentivePayouts checks that credits are exact to the credit, paid
// to the administering organization, never beyond the budget, only while
// active, and that every decision names the dose that triggered it.
func TestIncentivePayouts(t *testing.T) {
	e := newEnv(t)
	kids := []*actor{e.patient(t, "k1", true), e.patient(t, "k2", true)}
	outsider := e.patient(t, "k3", true) // never enrolled
	e.deploy(t, "mmr", spec(obj{"incentive": obj{"credits_per_dose": 10, "budget": 25, "when": "dose.number <= 2"}}), true)
	e.enroll(t, "mmr", obj{"patient": kids[0].did, "facts": facts("North")}, obj{"patient": kids[1].did, "facts": facts("South")})

	e.dose(t, kids[0], "clinic-a", mmr)        // 10 → clinic-a, spent 10
	e.dose(t, outsider, "clinic-a", mmr)       // not a member: nothing
	e.dose(t, kids[0], "clinic-b", covid)      // not the program's vaccine
	res := e.dose(t, kids[1], "clinic-b", mmr) // 10 → clinic-b, spent 20
	if got := cctest.Attr(res, "program.dose", "credits"); got != "10" {
		t.Errorf("program.dose credits = %q, want 10", got)
	}
	e.dose(t, kids[0], "clinic-a", mmr) // 5 left: budget-exhausted
	e.dose(t, kids[0], "clinic-a", mmr) // dose 3: the condition is false, nothing logged

	p := e.program(t, "mmr")
	if p.Spent != 20 || p.Credits != 2 || p.Budget != 25 || p.Doses != 4 || !slices.Equal(p.Reached, []int64{2, 1}) {
		t.Errorf("program = %+v", p)
	}
	payees, _ := Payees(e.kv, "mmr")
	want := []Payee{{Org: "clinic-a", Doses: 1, Credits: 10}, {Org: "clinic-b", Doses: 1, Credits: 10}}
	if !slices.Equal(payees, want) {
		t.Errorf("payees = %+v, want %+v", payees, want)
	}
	credits := e.decisions(t, "mmr", DecisionCredit)
	if len(credits) != 2 || credits[0].Org != "clinic-a" || credits[0].Credits != 10 || credits[0].Patient != kids[0].did ||
		credits[0].Trigger.Type != "supply.administer" || !strings.HasPrefix(credits[0].Trigger.Record, "Immunization/") || credits[0].Dose != 1 {
		t.Errorf("credit decisions = %+v", credits)
	}
	refused := e.decisions(t, "mmr", DecisionBudgetExhausted)
	if len(refused) != 1 || refused[0].Credits != 0 || refused[0].Dose != 2 || !strings.Contains(refused[0].Reason, "5 credits left") {
		t.Errorf("budget decisions = %+v", refused)
	}
	// Paused: doses count, nothing is paid; a new version tops the budget up.
	e.mustApply(t, officer, TypePause, obj{"id": "mmr"})
	e.dose(t, kids[1], "clinic-b", mmr)
	if p := e.program(t, "mmr"); p.Doses != 5 || p.Spent != 20 || p.Reached[1] != 2 {
		t.Errorf("paused program = %+v", p)
	}
	e.wantRejected(t, officer, TypeDeploy, obj{"org": "pha", "id": "mmr", "spec": spec(obj{"incentive": obj{"credits_per_dose": 10, "budget": 15}})},
		cc.FailedPrecondition, "below the 20 credits")
	e.deploy(t, "mmr", spec(obj{"incentive": obj{"credits_per_dose": 10, "budget": 100}}), true)
	e.dose(t, kids[1], "clinic-b", mmr)
	if p := e.program(t, "mmr"); p.Spent != 30 || p.Budget != 100 {
		t.Errorf("after top-up = %+v", p)
	}
}

// TestConditionErrorPaysNothing: an incentive condition that fails at run
// time pays nothing and is logged; the immunization itself is recorded.
func TestConditionErrorPaysNothing(t *testing.T) {
	e := newEnv(t)
	k := e.patient(t, "k1", true)
	e.deploy(t, "mmr", spec(obj{"incentive": obj{"credits_per_dose": 10, "budget": 100, "when": "10 / (dose.number - 1) > 0"}}), true)
	e.enroll(t, "mmr", obj{"patient": k.did, "facts": facts("North")})
	e.dose(t, k, "clinic-a", mmr) // 10 / 0
	e.dose(t, k, "clinic-a", mmr) // 10 / 1 > 0: paid
	errs := e.decisions(t, "mmr", DecisionConditionError)
	if len(errs) != 1 || errs[0].Dose != 1 || !strings.Contains(errs[0].Reason, "division by zero") {
		t.Errorf("condition errors = %+v", errs)
	}
	if p := e.program(t, "mmr"); p.Spent != 10 || p.Doses != 2 {
		t.Errorf("program = %+v", p)
	}
}

// TestRemindersMilestonesEscalation drives the time-driven part: a
// reminder once per overdue dose into the patient's feed, a milestone
// reached by a dose, the goal missed on its date and the region behind it
// escalated.
func TestRemindersMilestonesEscalation(t *testing.T) {
	e := newEnv(t)
	north := []*actor{e.patient(t, "n1", true), e.patient(t, "n2", true)}
	south := []*actor{e.patient(t, "s1", true), e.patient(t, "s2", true)}
	e.deploy(t, "mmr", spec(obj{
		"goal":       obj{"dose": 2, "permille": 900, "by": "2026-06-30"},
		"milestones": []obj{{"name": "first-doses", "dose": 1, "permille": 500, "by": "2026-04-30"}},
		"reminder":   obj{"interval_days": 28, "first_days": 60},
		"escalation": obj{"behind_permille": 100},
	}), true)
	var members []obj
	for _, p := range north {
		members = append(members, obj{"patient": p.did, "facts": facts("North")})
	}
	for _, p := range south {
		members = append(members, obj{"patient": p.did, "facts": facts("South")})
	}
	e.enroll(t, "mmr", members...)
	run := func() RunResult {
		t.Helper()
		return cctest.DecodeData[RunResult](t, e.mustApply(t, node, TypeRun, obj{"id": "mmr"}))
	}
	if got := run(); got != (RunResult{}) {
		t.Errorf("first run = %+v", got)
	}
	e.dose(t, north[0], "clinic-a", mmr)
	e.dose(t, north[1], "clinic-a", mmr) // 2 of 4 with dose 1: the milestone (500‰) is reached
	reached := e.decisions(t, "mmr", DecisionReached)
	if len(reached) != 1 || reached[0].Milestone != "first-doses" || reached[0].Permille != 500 || reached[0].Trigger.Type != "supply.administer" {
		t.Errorf("reached = %+v", reached)
	}
	e.later(29 * 24 * time.Hour) // north due for dose 2
	if got := run(); got.Reminders != 2 {
		t.Errorf("run after 29 days = %+v, want 2 reminders", got)
	}
	feed, _ := records.Notifications(e.kv, north[0].did)
	if len(feed) == 0 || feed[0].Kind != ReminderKind || feed[0].Ref != "mmr" || !strings.Contains(feed[0].Text, "Dose 2 is due") {
		t.Errorf("feed = %+v", feed)
	}
	if got := run(); got.Reminders != 0 {
		t.Errorf("second run = %+v, want no reminder", got)
	}
	e.later(32 * 24 * time.Hour) // south due for dose 1 (60 days after enrollment)
	if got := run(); got.Reminders != 2 {
		t.Errorf("run after 61 days = %+v, want 2 first-dose reminders", got)
	}
	e.dose(t, north[0], "clinic-a", mmr)
	e.dose(t, north[1], "clinic-a", mmr) // north 1000‰ dose 2, south 0‰: overall 500‰
	e.time = time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	got := run()
	if got.Missed != 1 || got.Escalations != 1 {
		t.Errorf("run after the goal date = %+v", got)
	}
	esc := e.decisions(t, "mmr", DecisionEscalation)
	if len(esc) != 1 || esc[0].Region != "South" || esc[0].Permille != 0 || esc[0].Milestone != GoalName {
		t.Errorf("escalations = %+v", esc)
	}
	if got := run(); got.Missed != 0 || got.Escalations != 0 {
		t.Errorf("run again = %+v, want nothing new", got)
	}
	p := e.program(t, "mmr")
	if p.Checkpoints[0].State != CheckpointReached || p.Checkpoints[1].State != CheckpointMissed || p.Reminders != 4 || p.Escalations != 1 {
		t.Errorf("program = %+v", p)
	}
	e.mustApply(t, officer, TypePause, obj{"id": "mmr"})
	e.wantRejected(t, node, TypeRun, obj{"id": "mmr"}, cc.Conflict, "not active")
	e.wantRejected(t, nurseA, TypeRun, obj{"id": "mmr"}, cc.Unauthorized, "")
}

// TestReplay runs the same scenario on two fresh states and compares
// every key.
func TestReplay(t *testing.T) {
	scenario := func() *env {
		e := newEnv(t)
		a, b := e.patient(t, "a", true), e.patient(t, "b", true)
		e.deploy(t, "mmr", spec(obj{"incentive": obj{"credits_per_dose": 7, "budget": 20}, "reminder": obj{"interval_days": 1},
			"escalation": obj{"behind_permille": 0}}), true)
		e.enroll(t, "mmr", obj{"patient": a.did, "facts": facts("North")}, obj{"patient": b.did, "facts": facts("South")})
		e.dose(t, a, "clinic-a", mmr)
		e.dose(t, b, "clinic-b", mmr)
		e.dose(t, a, "clinic-a", mmr)
		e.later(48 * time.Hour)
		e.mustApply(t, officer, TypeRun, obj{"id": "mmr"})
		return e
	}
	a, b := scenario(), scenario()
	if d := cctest.Diff(a.kv, b.kv); d != "" {
		t.Fatalf("two runs differ:\n%s", d)
	}
	if p := a.program(t, "mmr"); p.Spent != 14 || p.Reminders != 1 {
		t.Errorf("program = %+v", p)
	}
}

// TestNewVersionRecounts: a version that tracks a higher dose counts the
// members who already have it, in the program and their region.
func TestNewVersionRecounts(t *testing.T) {
	e := newEnv(t)
	k := e.patient(t, "k1", true)
	e.deploy(t, "mmr", spec(obj{"goal": obj{"dose": 1, "permille": 900, "by": "2026-12-31"}}), true)
	e.enroll(t, "mmr", obj{"patient": k.did, "facts": facts("North")})
	e.dose(t, k, "clinic-a", mmr)
	e.dose(t, k, "clinic-a", mmr)
	if p := e.program(t, "mmr"); !slices.Equal(p.Reached, []int64{1}) || p.Doses != 2 {
		t.Fatalf("v1 = %+v", p)
	}
	e.mustApply(t, officer, TypePause, obj{"id": "mmr"})
	e.deploy(t, "mmr", spec(obj{"goal": obj{"dose": 3, "permille": 900, "by": "2026-12-31"}}), false)
	if p := e.program(t, "mmr"); !slices.Equal(p.Reached, []int64{1, 1, 0}) {
		t.Errorf("v2 reached = %v, want [1 1 0]", p.Reached)
	}
	regions, _ := Regions(e.kv, "mmr")
	if len(regions) != 1 || !slices.Equal(regions[0].Reached, []int64{1, 1, 0}) {
		t.Errorf("regions = %+v", regions)
	}
}

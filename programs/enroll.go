package programs

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"time"

	cc "carechain"
	"carechain/consent"
	"carechain/identity"
	"carechain/records"
	"carechain/supply"
)

// MaxEnrollPerTx is the most members one program.enroll may carry.
const MaxEnrollPerTx = 1000

// PurposeEnroll is the purpose of use under which an agency must be able
// to read a patient's Patient record to enroll them.
const PurposeEnroll = "PUBHLTH"

// AgeBands are the age bands a person's facts may name ("unknown" too).
var AgeBands = []string{"0-1", "2-4", "5-11", "12-17", "18-49", "50-64", "65+", "unknown"}

// Sexes are the values of person.sex.
var Sexes = []string{"female", "male", "other", "unknown"}

// riskPattern is what a risk group code looks like.
var riskPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,47}$`)

// Facts are the coarse strata of a person a target expression sees.
type Facts struct {
	AgeBand  string   `json:"age_band"`
	Sex      string   `json:"sex"`
	Region   string   `json:"region"`
	Quintile int      `json:"quintile"`
	Risks    []string `json:"risks,omitempty"`
}

// enrollee is one member of a program.enroll payload.
type enrollee struct {
	Patient cc.DID `json:"patient"`
	Facts   Facts  `json:"facts"`
}

// enrollPayload is the payload of program.enroll.
type enrollPayload struct {
	ID      string     `json:"id"`
	Members []enrollee `json:"members"`
}

// EnrollResult is the Data of program.enroll: how many people were
// enrolled, were members already, did not match the target (or their
// target evaluation failed), or could not be seen — no such patient, or no
// Patient record the agency may read for PUBHLTH; the two look the same.
type EnrollResult struct {
	Enrolled    int `json:"enrolled"`
	Already     int `json:"already"`
	NotEligible int `json:"not_eligible"`
	NotVisible  int `json:"not_visible"`
}

// check validates f (cc.Invalid naming members[i]).
func (f *Facts) check(op string, i int) error {
	what := "members[" + strconv.Itoa(i) + "].facts"
	switch {
	case !slices.Contains(AgeBands, f.AgeBand):
		return cc.Errorf(op, cc.Invalid, "%s.age_band %q must be one of %v", what, cc.Echo(f.AgeBand), AgeBands)
	case !slices.Contains(Sexes, f.Sex):
		return cc.Errorf(op, cc.Invalid, "%s.sex %q must be one of %v", what, cc.Echo(f.Sex), Sexes)
	case !regionPattern.MatchString(f.Region):
		return cc.Errorf(op, cc.Invalid, "%s.region %q must match %s", what, cc.Echo(f.Region), regionPattern)
	case f.Quintile < 0 || f.Quintile > 5:
		return cc.Errorf(op, cc.Invalid, "%s.quintile must be 0 (unknown) to 5", what)
	case len(f.Risks) > MaxRisks:
		return cc.Errorf(op, cc.Invalid, "%s.risks lists more than %d groups", what, MaxRisks)
	}
	for _, r := range f.Risks {
		if !riskPattern.MatchString(r) {
			return cc.Errorf(op, cc.Invalid, "%s.risks: %q must match %s", what, cc.Echo(r), riskPattern)
		}
	}
	return nil
}

// person is f as a target sees it (risks sorted).
func (f *Facts) person() celPerson {
	risks := slices.Clone(f.Risks)
	slices.Sort(risks)
	return celPerson{AgeBand: f.AgeBand, Sex: f.Sex, Region: f.Region, Quintile: int64(f.Quintile), Risks: risks}
}

// handleEnroll applies program.enroll {id, members: [{patient, facts}]}:
// the program's agency adds the people its target admits. The signer is a
// public-health officer or the node key of the program's organization
// (cc.Unauthorized); the program is not closed (cc.Conflict); the payload
// lists 1 to MaxEnrollPerTx distinct patients with valid facts
// (cc.Invalid). Each person is, in order:
//   - already a member: counted, nothing changes;
//   - not visible: not a registered patient, or no Patient record of theirs
//     that the signer may read for PUBHLTH at block time (consent.Can:
//     the patient's consents, the agency's agreements): counted only;
//   - not eligible: the target is false or fails for their facts;
//   - enrolled: a Member with the region of the facts and the doses of the
//     program's vaccines already recorded for them (supply
//     administrations), counted in the program and region; a reminder
//     falls due when the program has one.
func handleEnroll(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeEnroll
	var p enrollPayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if len(p.Members) == 0 || len(p.Members) > MaxEnrollPerTx {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "members must list 1 to %d people", MaxEnrollPerTx)
	}
	seen := make(map[cc.DID]bool, len(p.Members))
	for i := range p.Members {
		m := &p.Members[i]
		if err := cc.CheckDID(op, "members["+strconv.Itoa(i)+"].patient", m.Patient); err != nil {
			return cc.Result{}, err
		}
		if seen[m.Patient] {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "members[%d].patient %s is listed twice", i, m.Patient)
		}
		seen[m.Patient] = true
		if err := m.Facts.check(op, i); err != nil {
			return cc.Result{}, err
		}
	}
	r, err := load(op, kv, p.ID)
	if err != nil {
		return cc.Result{}, err
	}
	if err := authorize(op, kv, r.prog.Org, ctx.Signer, operatorRoles); err != nil {
		return cc.Result{}, err
	}
	if r.prog.Status == StatusClosed {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "program %s is closed", p.ID)
	}
	orgs, err := identity.MembershipsOf(kv, ctx.Signer)
	if err != nil {
		return cc.Result{}, err
	}
	var res EnrollResult
	for _, e := range p.Members {
		if _, err := GetMember(kv, p.ID, e.Patient); err == nil {
			res.Already++
			continue
		} else if !cc.Is(cc.NotFound, err) {
			return cc.Result{}, err
		}
		visible, err := mayEnroll(kv, ctx, orgs, e.Patient)
		if err != nil {
			return cc.Result{}, err
		}
		if !visible {
			res.NotVisible++
			continue
		}
		if ok, err := targets.Eval(r.spec.Target, map[string]any{"person": e.Facts.person()}); err != nil || !ok {
			res.NotEligible++
			continue
		}
		if err := r.enroll(kv, ctx, e); err != nil {
			return cc.Result{}, err
		}
		res.Enrolled++
	}
	if r.prog.Status == StatusActive {
		if err := r.checkReached(kv, ctx, Trigger{Tx: txHex(ctx), Type: op, Index: -1}); err != nil {
			return cc.Result{}, err
		}
	}
	if err := r.save(kv); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, res)
	if err != nil {
		return cc.Result{}, err
	}
	ev := cc.NewEvent(op, "program", p.ID, "enrolled", strconv.Itoa(res.Enrolled), "already", strconv.Itoa(res.Already),
		"not_eligible", strconv.Itoa(res.NotEligible), "not_visible", strconv.Itoa(res.NotVisible))
	return cc.Result{Events: []cc.Event{ev}, Data: data}, nil
}

// mayEnroll reports whether patient is registered and the requester (with
// memberships orgs) may read one of their Patient records for
// PurposeEnroll at block time.
func mayEnroll(kv cc.Reader, ctx cc.TxContext, orgs []cc.Member, patient cc.DID) (bool, error) {
	var anchors []cc.RecordAnchor
	err := records.PatientRecordsOfType(kv, patient, "Patient", func(a cc.RecordAnchor) bool {
		if !a.Erased {
			anchors = append(anchors, a)
		}
		return true
	})
	if err != nil {
		return false, err
	}
	for _, a := range anchors {
		req := cc.AccessRequest{Requester: ctx.Signer, Orgs: orgs, Action: "read", Purpose: PurposeEnroll, Record: a, Time: ctx.Time}
		facts, err := consent.Load(kv, req)
		if err != nil {
			return false, err
		}
		if consent.Can(req, facts).Allow {
			return true, nil
		}
	}
	return false, nil
}

// enroll adds e as a member, with the doses already recorded for them.
func (r *run) enroll(kv cc.KV, ctx cc.TxContext, e enrollee) error {
	m := Member{Patient: e.Patient, Region: e.Facts.Region, AgeBand: e.Facts.AgeBand, Quintile: e.Facts.Quintile, Enrolled: ctx.Height}
	past, err := supply.AdministrationsOfPatient(kv, e.Patient)
	if err != nil {
		return err
	}
	for _, a := range past {
		if slices.Contains(r.spec.Vaccines, a.Vaccine) {
			m.Doses++
			m.LastDose = a.Time
		}
	}
	reg, err := r.region(kv, m.Region)
	if err != nil {
		return err
	}
	r.prog.Enrolled++
	reg.Enrolled++
	for k := 1; k <= m.Doses && k <= len(r.prog.Reached); k++ {
		r.prog.Reached[k-1]++
		reg.Reached[k-1]++
	}
	if err := cc.SetJSON(kv, regionKey(r.prog.ID, reg.Region), reg); err != nil {
		return err
	}
	return r.schedule(kv, ctx, &m)
}

// schedule sets when m's next reminder falls due (none once they have the
// goal's doses or without a reminder) and writes m.
func (r *run) schedule(kv cc.KV, ctx cc.TxContext, m *Member) error {
	if m.Due != 0 {
		kv.Delete(dueKey(r.prog.ID, m.Due, m.Patient))
		m.Due = 0
	}
	rem := r.spec.Reminder
	switch {
	case rem == nil || m.Doses >= r.spec.Goal.Dose:
	case m.Doses == 0 && rem.FirstDays > 0:
		m.Due = ctx.Time.Add(time.Duration(rem.FirstDays) * 24 * time.Hour).Unix()
	case m.Doses > 0:
		last, err := time.Parse(time.RFC3339Nano, m.LastDose)
		if err != nil {
			last = ctx.Time
		}
		m.Due = last.Add(time.Duration(rem.IntervalDays) * 24 * time.Hour).Unix()
	}
	if m.Due != 0 {
		if err := cc.SetJSON(kv, dueKey(r.prog.ID, m.Due, m.Patient), true); err != nil {
			return err
		}
	}
	return cc.SetJSON(kv, memberKey(r.prog.ID, m.Patient), m)
}

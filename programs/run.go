package programs

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	cc "carechain"
	"carechain/records"
)

// MaxRemindersPerRun bounds the reminders one program.run sends; the rest
// wait for the next run.
const MaxRemindersPerRun = 500

// ReminderKind is the notification kind of a program reminder.
const ReminderKind = "program-reminder"

// run is one program as a transaction sees it: the header and current
// spec, read once, changed in memory and written back by save.
type run struct {
	prog *Program
	spec Spec
}

// load reads program id and its current spec.
func load(op string, kv cc.Reader, id string) (*run, error) {
	prog, err := Get(kv, id)
	if err != nil {
		return nil, cc.E(op, err)
	}
	v, err := GetVersion(kv, id, prog.Version)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	return &run{prog: prog, spec: v.Spec}, nil
}

// save writes the header back.
func (r *run) save(kv cc.KV) error { return cc.SetJSON(kv, programKey(r.prog.ID), r.prog) }

// region returns the counts of region, new ones sized to the program.
func (r *run) region(kv cc.Reader, name string) (*Region, error) {
	reg := Region{Region: name}
	if _, err := cc.GetJSON(kv, regionKey(r.prog.ID, name), &reg); err != nil {
		return nil, err
	}
	for len(reg.Reached) < len(r.prog.Reached) {
		reg.Reached = append(reg.Reached, 0)
	}
	return &reg, nil
}

// decide logs d (program, version, height and time filled in). The key's
// index is the trigger's (0 when it has none); kind, checkpoint and region
// make it unique.
func (r *run) decide(kv cc.KV, ctx cc.TxContext, d Decision) error {
	d.Program, d.Version, d.Height, d.Time = r.prog.ID, r.prog.Version, ctx.Height, stamp(ctx.Time)
	kind := d.Kind
	if d.Milestone != "" {
		kind += "/" + d.Milestone
	}
	if d.Region != "" && d.Kind == DecisionEscalation {
		kind += "/" + strings.ReplaceAll(d.Region, "/", "_")
	}
	return cc.SetJSON(kv, decisionKey(r.prog.ID, ctx.Height, d.Trigger.Tx, max(d.Trigger.Index, 0), kind), d)
}

// deadline is the instant a checkpoint's date has passed.
func deadline(c Checkpoint) time.Time {
	t, err := parseDay("programs", "by", c.By)
	if err != nil { // checked at deployment
		return time.Time{}
	}
	return t
}

// checkReached marks reached every pending checkpoint whose date has not
// passed and whose coverage the members now meet, logging a decision with
// trigger for each. It returns how many it marked.
func (r *run) checkReached(kv cc.KV, ctx cc.TxContext, trigger Trigger) error {
	_, err := r.checkpoints(kv, ctx, trigger, false)
	return err
}

// checkpoints evaluates the pending checkpoints at block time: reached
// when their coverage is met before their date; with missed, also missed
// once their date has passed (and the regions behind them escalated). It
// returns the counts of reached, missed and escalated.
func (r *run) checkpoints(kv cc.KV, ctx cc.TxContext, trigger Trigger, missed bool) (counts [3]int, err error) {
	for i := range r.prog.Checkpoints {
		c := &r.prog.Checkpoints[i]
		if c.State != CheckpointPending {
			continue
		}
		cov := r.prog.Coverage(c.Dose)
		switch {
		case ctx.Time.Before(deadline(*c)) && r.prog.Enrolled > 0 && cov >= c.Permille:
			c.State, c.Height = CheckpointReached, ctx.Height
			counts[0]++
			err = r.decide(kv, ctx, Decision{Kind: DecisionReached, Trigger: trigger, Milestone: c.Name, Dose: c.Dose, Permille: cov})
		case missed && !ctx.Time.Before(deadline(*c)):
			c.State, c.Height = CheckpointMissed, ctx.Height
			counts[1]++
			if err = r.decide(kv, ctx, Decision{Kind: DecisionMissed, Trigger: trigger, Milestone: c.Name, Dose: c.Dose, Permille: cov,
				Reason: fmt.Sprintf("coverage %d‰ of dose %d is below %d‰ on %s", cov, c.Dose, c.Permille, c.By)}); err == nil {
				var n int
				n, err = r.escalate(kv, ctx, trigger, *c)
				counts[2] += n
			}
		}
		if err != nil {
			return counts, err
		}
	}
	return counts, nil
}

// escalate flags every region more than the escalation's allowance below
// the missed checkpoint c, once per region and checkpoint.
func (r *run) escalate(kv cc.KV, ctx cc.TxContext, trigger Trigger, c Checkpoint) (int, error) {
	if r.spec.Escalation == nil {
		return 0, nil
	}
	regions, err := Regions(kv, r.prog.ID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, reg := range regions {
		cov := reg.Coverage(c.Dose)
		if reg.Enrolled == 0 || cov+r.spec.Escalation.BehindPermille >= c.Permille || containsString(reg.Escalated, c.Name) {
			continue
		}
		reg.Escalated = append(reg.Escalated, c.Name)
		if err := cc.SetJSON(kv, regionKey(r.prog.ID, reg.Region), reg); err != nil {
			return n, err
		}
		r.prog.Escalations++
		n++
		if err := r.decide(kv, ctx, Decision{Kind: DecisionEscalation, Trigger: trigger, Milestone: c.Name, Region: reg.Region, Dose: c.Dose, Permille: cov,
			Reason: fmt.Sprintf("region %s has %d‰ against %d‰ (allowance %d‰)", reg.Region, cov, c.Permille, r.spec.Escalation.BehindPermille)}); err != nil {
			return n, err
		}
	}
	return n, nil
}

// runPayload is the payload of program.run.
type runPayload struct {
	ID    string `json:"id"`
	Limit int    `json:"limit,omitempty"`
}

// RunResult is the Data of program.run.
type RunResult struct {
	Reminders   int  `json:"reminders"`
	Deferred    int  `json:"deferred"` // due reminders left for a later block (the patient's feed was full)
	More        bool `json:"more"`     // more reminders are due than limit allowed: run again
	Reached     int  `json:"reached"`
	Missed      int  `json:"missed"`
	Escalations int  `json:"escalations"`
}

// handleRun applies program.run {id, limit?}: the time-driven part of an
// active program (cc.Conflict otherwise), by a public-health officer or the
// node key of its organization. At block time it:
//   - notifies each member whose reminder is due (oldest first, at most
//     limit, default and cap MaxRemindersPerRun) that their next dose is
//     due, once per dose, logging a reminder decision; a member whose
//     feed is full in this block is deferred to a later run;
//   - marks pending checkpoints reached (coverage met before the date) or
//     missed (the date passed), and escalates the regions behind a missed
//     one.
func handleRun(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeRun
	var p runPayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if p.Limit < 0 || p.Limit > MaxRemindersPerRun {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "limit must be 0 (default) to %d", MaxRemindersPerRun)
	}
	if p.Limit == 0 {
		p.Limit = MaxRemindersPerRun
	}
	r, err := load(op, kv, p.ID)
	if err != nil {
		return cc.Result{}, err
	}
	if err := authorize(op, kv, r.prog.Org, ctx.Signer, operatorRoles); err != nil {
		return cc.Result{}, err
	}
	if r.prog.Status != StatusActive {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "program %s is %s, not active", p.ID, r.prog.Status)
	}
	var res RunResult
	if res, err = r.remind(kv, ctx, p.Limit); err != nil {
		return cc.Result{}, err
	}
	counts, err := r.checkpoints(kv, ctx, Trigger{Tx: txHex(ctx), Type: op, Index: res.Reminders}, true)
	if err != nil {
		return cc.Result{}, err
	}
	res.Reached, res.Missed, res.Escalations = counts[0], counts[1], counts[2]
	if err := r.save(kv); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, res)
	if err != nil {
		return cc.Result{}, err
	}
	ev := cc.NewEvent(op, "program", p.ID, "reminders", strconv.Itoa(res.Reminders), "reached", strconv.Itoa(res.Reached),
		"missed", strconv.Itoa(res.Missed), "escalations", strconv.Itoa(res.Escalations))
	return cc.Result{Events: []cc.Event{ev}, Data: data}, nil
}

// remind sends the due reminders (see handleRun).
func (r *run) remind(kv cc.KV, ctx cc.TxContext, limit int) (RunResult, error) {
	var res RunResult
	now := ctx.Time.Unix()
	type due struct {
		key     string
		unix    int64
		patient cc.DID
	}
	var dues []due
	err := kv.Iterate(duePrefix(r.prog.ID), func(key string, _ []byte) bool {
		rest := strings.TrimPrefix(key, duePrefix(r.prog.ID))
		ts, patient, _ := strings.Cut(rest, "/")
		unix, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || unix > now {
			return false
		}
		if len(dues) == limit {
			res.More = true
			return false
		}
		dues = append(dues, due{key, unix, cc.DID(patient)})
		return true
	})
	if err != nil {
		return res, cc.E(TypeRun, cc.Internal, err)
	}
	for _, d := range dues {
		m, err := GetMember(kv, r.prog.ID, d.patient)
		if err != nil {
			return res, cc.E(TypeRun, cc.Internal, err)
		}
		if m.Due != d.unix || m.Doses >= r.spec.Goal.Dose || m.Reminded > m.Doses {
			kv.Delete(d.key) // stale
			continue
		}
		n, err := records.NotificationsInBlock(kv, m.Patient, ctx.Height)
		if err != nil {
			return res, err
		}
		if n >= records.MaxNotificationsPerBlock {
			res.Deferred++
			continue
		}
		dose := m.Doses + 1
		text := fmt.Sprintf("Dose %d is due under the program %q. Please contact your clinic to book it.", dose, r.prog.Title)
		if _, err := records.Notify(kv, ctx, m.Patient, ReminderKind, r.prog.ID, text); err != nil {
			return res, err
		}
		kv.Delete(d.key)
		m.Due, m.Reminded = 0, dose
		if err := cc.SetJSON(kv, memberKey(r.prog.ID, m.Patient), m); err != nil {
			return res, err
		}
		if err := r.decide(kv, ctx, Decision{Kind: DecisionReminder, Trigger: Trigger{Tx: txHex(ctx), Type: TypeRun, Index: res.Reminders},
			Patient: m.Patient, Region: m.Region, Dose: dose}); err != nil {
			return res, err
		}
		res.Reminders++
		r.prog.Reminders++
	}
	return res, nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }

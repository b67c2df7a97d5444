package programs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	cc "carechain"
	"carechain/condition"
	"carechain/supply"
)

// Observe wraps h, the supply.administer handler, so that the programs see
// every dose in the same transaction: once h succeeds, each administration
// it recorded is offered to every program that is not closed and counts
// its vaccine (in program id order, then administration order). For a
// member of such a program the dose is counted (the member's doses, the
// program's and region's reached counts) and the next reminder scheduled;
// when the program is active its incentive may pay the administering
// organization (see Incentive) and its pending checkpoints may be reached.
// A program's own failures (an incentive condition that errs at run time)
// never fail the transaction: they are logged as decisions. Only a failing
// state read fails it (cc.Internal), with h's writes.
func Observe(h cc.Handler) cc.Handler {
	return func(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
		res, err := h(ctx, kv, payload)
		if err != nil {
			return res, err
		}
		events, err := observeDoses(ctx, kv)
		if err != nil {
			return cc.Result{}, err
		}
		res.Events = append(res.Events, events...)
		return res, nil
	}
}

// observeDoses applies the administrations recorded by the transaction of
// ctx to the programs; it returns one event per program that counted any.
func observeDoses(ctx cc.TxContext, kv cc.KV) ([]cc.Event, error) {
	admins, err := supply.AdministrationsOfTx(kv, ctx.Height, txHex(ctx))
	if err != nil || len(admins) == 0 {
		return nil, err
	}
	progs, err := List(kv)
	if err != nil {
		return nil, err
	}
	var events []cc.Event
	for _, p := range progs {
		if p.Status == StatusClosed {
			continue
		}
		r, err := load("program.dose", kv, p.ID)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(admins, func(a supply.Administration) bool { return slices.Contains(r.spec.Vaccines, a.Vaccine) }) {
			continue
		}
		counted, paid := 0, int64(0)
		for _, a := range admins {
			if !slices.Contains(r.spec.Vaccines, a.Vaccine) {
				continue
			}
			ok, credits, err := r.dose(kv, ctx, a)
			if err != nil {
				return nil, err
			}
			if ok {
				counted++
				paid += credits
			}
		}
		if counted == 0 {
			continue
		}
		if err := r.save(kv); err != nil {
			return nil, err
		}
		events = append(events, cc.NewEvent("program.dose", "program", p.ID, "doses", strconv.Itoa(counted), "credits", strconv.FormatInt(paid, 10)))
	}
	return events, nil
}

// dose applies one administration to the program. It reports whether the
// patient is a member (the dose counted) and the credits paid.
func (r *run) dose(kv cc.KV, ctx cc.TxContext, a supply.Administration) (bool, int64, error) {
	m, err := GetMember(kv, r.prog.ID, a.Patient)
	if cc.Is(cc.NotFound, err) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, err
	}
	reg, err := r.region(kv, m.Region)
	if err != nil {
		return false, 0, err
	}
	m.Doses++
	m.LastDose = a.Time
	r.prog.Doses++
	if m.Doses <= len(r.prog.Reached) {
		r.prog.Reached[m.Doses-1]++
		reg.Reached[m.Doses-1]++
		if err := cc.SetJSON(kv, regionKey(r.prog.ID, reg.Region), reg); err != nil {
			return false, 0, err
		}
	}
	if err := r.schedule(kv, ctx, m); err != nil {
		return false, 0, err
	}
	if r.prog.Status != StatusActive {
		return true, 0, nil
	}
	trigger := Trigger{Tx: a.TxHash, Type: supply.TypeAdminister, Index: a.Index, Record: a.RecordID}
	paid, err := r.incentive(kv, ctx, trigger, m, a)
	if err != nil {
		return false, 0, err
	}
	return true, paid, r.checkReached(kv, ctx, trigger)
}

// incentive pays for one counted dose of m when the program has an
// incentive whose When holds, within the budget, and logs the decision.
func (r *run) incentive(kv cc.KV, ctx cc.TxContext, trigger Trigger, m *Member, a supply.Administration) (int64, error) {
	in := r.spec.Incentive
	if in == nil {
		return 0, nil
	}
	d := Decision{Trigger: trigger, Patient: m.Patient, Org: a.Org, Region: m.Region, Dose: m.Doses}
	if in.When != "" {
		vars := map[string]any{
			"person": celPerson{AgeBand: m.AgeBand, Sex: "unknown", Region: m.Region, Quintile: int64(m.Quintile), Risks: []string{}},
			"dose":   celDose{Number: int64(m.Doses), Vaccine: a.Vaccine, Org: a.Org, Linked: a.Linked, Year: int64(a.Year), Lot: a.Lot},
		}
		ok, err := incentives.Eval(in.When, vars)
		if err != nil {
			d.Kind, d.Reason = DecisionConditionError, "incentive.when failed: "+condition.Clip(err.Error(), 200)
			return 0, r.decide(kv, ctx, d)
		}
		if !ok {
			return 0, nil
		}
	}
	if r.prog.Spent+in.CreditsPerDose > r.prog.Budget {
		d.Kind = DecisionBudgetExhausted
		d.Reason = fmt.Sprintf("%d credits left of %d, %d needed", r.prog.Budget-r.prog.Spent, r.prog.Budget, in.CreditsPerDose)
		return 0, r.decide(kv, ctx, d)
	}
	r.prog.Spent += in.CreditsPerDose
	r.prog.Credits++
	payee := Payee{Org: a.Org}
	if _, err := cc.GetJSON(kv, payeeKey(r.prog.ID, a.Org), &payee); err != nil {
		return 0, err
	}
	payee.Doses++
	payee.Credits += in.CreditsPerDose
	if err := cc.SetJSON(kv, payeeKey(r.prog.ID, a.Org), payee); err != nil {
		return 0, err
	}
	d.Kind, d.Credits = DecisionCredit, in.CreditsPerDose
	return in.CreditsPerDose, r.decide(kv, ctx, d)
}

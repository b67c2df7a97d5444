// Package programs holds carechain's public-health intervention programs
// (issue #6): contracts that a public-health agency deploys on the ledger
// and that run deterministically, in consensus, on the events they watch.
//
// A program version (Spec) names the vaccines whose doses it counts, a
// target population as a CEL expression over coarse strata of a person, a
// coverage goal and milestones with dates, and optional actions: per-dose
// incentive credits to the administering organization from a fixed
// budget, reminders to members overdue for a dose, and escalation of the
// regions behind a missed milestone. Its lifecycle is draft → active ⇄
// paused → closed; a new version can be deployed while draft or paused.
//
// # Transactions
//
//	program.deploy   {org, id, spec}                  agency admin or public-health officer: a new program (draft) or version
//	program.activate {id}                             draft or paused → active
//	program.pause    {id}                             active → paused
//	program.close    {id}                             any but closed → closed
//	program.enroll   {id, members: [{patient, facts}]} officer or node key: add members the target admits
//	program.run      {id, limit?}                     officer or node key: due reminders, checkpoint dates, escalations
//
// Doses are not a transaction of this package: Observe wraps the
// supply.administer handler so that, in the same transaction, every
// administration of a counted vaccine to a member of an active program
// updates the counts and may pay credits. Every decision (a credit, a
// budget refusal, a reminder, a milestone reached or missed, an
// escalation) is logged under the program with the transaction (and
// administration) that triggered it.
//
// # Expressions
//
// The target is a CEL bool expression over person; an incentive's when
// over person and dose (native structs, so nothing iterates a Go map):
//
//	person.age_band  string        an age band ("0-1", "2-4", "5-11", "12-17", "18-49", "50-64", "65+" or "unknown")
//	person.sex       string        female, male, other or unknown
//	person.region    string        the region of residence (an area table's region)
//	person.quintile  int           deprivation quintile 1 (most deprived) … 5, 0 unknown
//	person.risks     list(string)  risk groups the agency asserts (codes, at most 16)
//	dose.number      int           the member's dose count with this dose
//	dose.vaccine     string        "system|code"
//	dose.org         string        the administering organization
//	dose.linked      bool          the dose was taken from tracked stock
//	dose.year        int           the year of occurrence (0 if unknown)
//	dose.lot         string        the lot number ("" if unknown)
//
// Both are type-checked at deployment and refused when CEL's static cost
// estimate (strings and lists up to 64 long) exceeds EstimateLimit; each
// evaluation runs under CostLimit. A target that fails at run time
// excludes the person; an incentive that fails pays nothing and logs a
// condition-error decision.
//
// # Privacy
//
// Enrollment facts are coarse strata (the quasi-identifiers Safe Harbor
// allows), sent by the agency, which may enroll only patients whose
// Patient record it may read for purpose PUBHLTH under the ledger's
// consent state and agreements (consent.Can). The state keeps of a member
// only its region and dose count.
//
// Handlers never read a clock (time is the block's), use no randomness,
// goroutines, floats or I/O besides the injected cc.KV, and never let Go
// map order reach state, events or results. Errors are *cc.Error:
// cc.Malformed for a payload of the wrong shape, cc.Invalid for a field
// that breaks a rule (CEL that does not compile or could cost too much),
// cc.Unauthorized, cc.NotFound, cc.Conflict (a lifecycle step from the
// wrong status) and cc.FailedPrecondition as documented per handler.
package programs

import (
	"encoding/hex"
	"encoding/json"
	"slices"

	cc "carechain"
	"carechain/identity"
)

// The transaction types.
const (
	TypeDeploy   = "program.deploy"
	TypeActivate = "program.activate"
	TypePause    = "program.pause"
	TypeClose    = "program.close"
	TypeEnroll   = "program.enroll"
	TypeRun      = "program.run"
)

// Handlers returns the transaction handlers of this package.
func Handlers() map[string]cc.Handler {
	return map[string]cc.Handler{
		TypeDeploy:   handleDeploy,
		TypeActivate: lifecycle(TypeActivate, StatusActive, StatusDraft, StatusPaused),
		TypePause:    lifecycle(TypePause, StatusPaused, StatusActive),
		TypeClose:    lifecycle(TypeClose, StatusClosed, StatusDraft, StatusActive, StatusPaused),
		TypeEnroll:   handleEnroll,
		TypeRun:      handleRun,
	}
}

// managerRoles may deploy and steer a program; operatorRoles may enroll
// and run it.
var (
	managerRoles  = []cc.Role{cc.RoleAdmin, cc.RolePublicHealthOffice}
	operatorRoles = []cc.Role{cc.RolePublicHealthOffice, cc.RoleNode}
)

// authorize checks that org is an active public-health agency and that
// signer holds one of roles in it (cc.Unauthorized otherwise).
func authorize(op string, kv cc.Reader, org string, signer cc.DID, roles []cc.Role) error {
	o, err := identity.GetOrg(kv, org)
	if cc.Is(cc.NotFound, err) {
		return cc.Errorf(op, cc.NotFound, "no organization %q", cc.Echo(org))
	}
	if err != nil {
		return err
	}
	if o.Type != cc.OrgPublicHealth {
		return cc.Errorf(op, cc.Unauthorized, "%s is a %s, not a public-health agency", org, o.Type)
	}
	for _, r := range roles {
		ok, err := identity.HasRole(kv, org, signer, r)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	return cc.Errorf(op, cc.Unauthorized, "%s is not a member of %s with role %v", signer, org, roles)
}

// deployPayload is the payload of program.deploy.
type deployPayload struct {
	Org  string `json:"org"`
	ID   string `json:"id"`
	Spec Spec   `json:"spec"`
}

// idPayload is the payload of the lifecycle transactions.
type idPayload struct {
	ID string `json:"id"`
}

// StatusResult is the Data of deploy and lifecycle transactions.
type StatusResult struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	Status  string `json:"status"`
}

// handleDeploy applies program.deploy {org, id, spec}. A new id creates the
// program as a draft at version 1; an existing one (of the same org, draft
// or paused: cc.Conflict otherwise, "pause it first") gets the next version
// and keeps its status, counters and spent credits. The spec is validated
// (Spec.check) and the new budget may not be below the credits already
// paid (cc.FailedPrecondition). The signer must be an admin or
// public-health officer of org, an active public-health agency.
func handleDeploy(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeDeploy
	var p deployPayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if !ValidID(p.ID) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "id %q must match %s", cc.Echo(p.ID), idPattern)
	}
	if !cc.ValidOrgID(p.Org) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "org %q must be an organization id", cc.Echo(p.Org))
	}
	if err := p.Spec.check(op); err != nil {
		return cc.Result{}, err
	}
	if err := authorize(op, kv, p.Org, ctx.Signer, managerRoles); err != nil {
		return cc.Result{}, err
	}
	prog, err := Get(kv, p.ID)
	switch {
	case cc.Is(cc.NotFound, err):
		prog = &Program{ID: p.ID, Org: p.Org, Status: StatusDraft, Created: ctx.Height}
	case err != nil:
		return cc.Result{}, err
	case prog.Org != p.Org:
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "program %s belongs to %s", p.ID, prog.Org)
	case prog.Status == StatusActive:
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "program %s is active: pause it first", p.ID)
	case prog.Status == StatusClosed:
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "program %s is closed", p.ID)
	}
	budget := int64(0)
	if p.Spec.Incentive != nil {
		budget = p.Spec.Incentive.Budget
	}
	if budget < prog.Spent {
		return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "budget %d is below the %d credits already paid", budget, prog.Spent)
	}
	prog.Version++
	prog.Title = p.Spec.Title
	prog.Budget = budget
	prog.Updated = ctx.Height
	if n := p.Spec.maxDose(); n > len(prog.Reached) {
		if err := recount(kv, prog, n); err != nil {
			return cc.Result{}, err
		}
	}
	prog.Checkpoints = carryCheckpoints(prog.Checkpoints, p.Spec.checkpoints())
	v := Version{Program: p.ID, Version: prog.Version, Spec: p.Spec, Deployer: ctx.Signer, Height: ctx.Height, Time: stamp(ctx.Time)}
	if err := cc.SetJSON(kv, versionKey(p.ID, v.Version), v); err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, programKey(p.ID), prog); err != nil {
		return cc.Result{}, err
	}
	return statusResult(op, prog, cc.NewEvent(op, "program", p.ID, "org", p.Org, "version", itoa(prog.Version), "status", prog.Status))
}

// carryCheckpoints returns the checkpoints of a new version: those named
// as before keep their state when their dose, permille and date are
// unchanged; the others start pending.
func carryCheckpoints(old []Checkpoint, ms []Milestone) []Checkpoint {
	out := make([]Checkpoint, len(ms))
	for i, m := range ms {
		out[i] = Checkpoint{Milestone: m, State: CheckpointPending}
		j := slices.IndexFunc(old, func(c Checkpoint) bool { return c.Milestone == m })
		if j >= 0 {
			out[i] = old[j]
		}
	}
	return out
}

// recount extends the reached counts of prog and its regions to n doses,
// counting the members who already have more doses than were tracked (a
// new version that names a higher dose). It reads every member once.
func recount(kv cc.KV, prog *Program, n int) error {
	old := len(prog.Reached)
	for len(prog.Reached) < n {
		prog.Reached = append(prog.Reached, 0)
	}
	regions, err := Regions(kv, prog.ID)
	if err != nil || len(regions) == 0 {
		return err
	}
	byName := make(map[string]*Region, len(regions))
	for i := range regions {
		r := &regions[i]
		for len(r.Reached) < n {
			r.Reached = append(r.Reached, 0)
		}
		byName[r.Region] = r
	}
	if prog.Enrolled > 0 {
		err = cc.IterateJSON("programs.recount", kv, membersPrefix(prog.ID), func(m Member) bool {
			for k := old + 1; k <= min(m.Doses, n); k++ {
				prog.Reached[k-1]++
				if r := byName[m.Region]; r != nil {
					r.Reached[k-1]++
				}
			}
			return true
		})
		if err != nil {
			return err
		}
	}
	for _, r := range regions { // in region order
		if err := cc.SetJSON(kv, regionKey(prog.ID, r.Region), r); err != nil {
			return err
		}
	}
	return nil
}

// lifecycle returns the handler of a status change to `to` from one of
// `from` (cc.Conflict otherwise), by an admin or public-health officer of
// the program's organization.
func lifecycle(op, to string, from ...string) cc.Handler {
	return func(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
		var p idPayload
		if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
			return cc.Result{}, err
		}
		prog, err := Get(kv, p.ID)
		if err != nil {
			return cc.Result{}, cc.E(op, err)
		}
		if err := authorize(op, kv, prog.Org, ctx.Signer, managerRoles); err != nil {
			return cc.Result{}, err
		}
		if !slices.Contains(from, prog.Status) {
			return cc.Result{}, cc.Errorf(op, cc.Conflict, "program %s is %s, not %v", prog.ID, prog.Status, from)
		}
		prev := prog.Status
		prog.Status = to
		prog.Updated = ctx.Height
		if err := cc.SetJSON(kv, programKey(prog.ID), prog); err != nil {
			return cc.Result{}, err
		}
		return statusResult(op, prog, cc.NewEvent(op, "program", prog.ID, "from", prev, "status", to))
	}
}

// statusResult is the Result of deploy and lifecycle transactions.
func statusResult(op string, prog *Program, ev cc.Event) (cc.Result, error) {
	data, err := cc.ResultData(op, StatusResult{ID: prog.ID, Version: prog.Version, Status: prog.Status})
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{Events: []cc.Event{ev}, Data: data}, nil
}

// txHex is a transaction hash as it appears in keys and triggers.
func txHex(ctx cc.TxContext) string { return hex.EncodeToString(ctx.TxHash) }

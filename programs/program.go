package programs

import (
	"slices"
	"time"

	cc "carechain"
)

// The statuses of a program's lifecycle: draft → active ⇄ paused → closed
// (closed from any other status; nothing leaves closed).
const (
	StatusDraft  = "draft"
	StatusActive = "active"
	StatusPaused = "paused"
	StatusClosed = "closed"
)

// The states of a checkpoint (a milestone or the goal).
const (
	CheckpointPending = "pending"
	CheckpointReached = "reached"
	CheckpointMissed  = "missed"
)

// The kinds of decision a program logs.
const (
	DecisionCredit          = "credit"           // credits paid to the administering organization
	DecisionBudgetExhausted = "budget-exhausted" // a dose the remaining budget could not pay
	DecisionConditionError  = "condition-error"  // the incentive's When failed at run time: no credit
	DecisionReminder        = "reminder"         // a member was notified of an overdue dose
	DecisionReached         = "milestone-reached"
	DecisionMissed          = "milestone-missed"
	DecisionEscalation      = "escalation" // a region behind a missed milestone
)

// Program is the header of a program: its lifecycle, current version,
// budget and the counters its milestones are computed from.
type Program struct {
	ID      string `json:"id"`
	Org     string `json:"org"` // the deploying public-health agency
	Title   string `json:"title"`
	Status  string `json:"status"`
	Version int    `json:"version"` // the current version
	Created int64  `json:"created"` // height of the first deployment
	Updated int64  `json:"updated"` // height of the last change of status or version
	// Budget is the current version's incentive budget and Spent the
	// credits paid so far, under every version (Spent ≤ Budget).
	Budget int64 `json:"budget"`
	Spent  int64 `json:"spent"`
	// Enrolled counts members; Reached[k-1] counts members with at least
	// k counted doses (k up to the highest dose a checkpoint names).
	Enrolled    int64   `json:"enrolled"`
	Reached     []int64 `json:"reached"`
	Doses       int64   `json:"doses"`   // counted doses of members
	Credits     int64   `json:"credits"` // doses paid for
	Reminders   int64   `json:"reminders"`
	Escalations int64   `json:"escalations"`
	// Checkpoints are the milestones and the goal (last) with their state.
	Checkpoints []Checkpoint `json:"checkpoints"`
}

// Checkpoint is a milestone (or the goal) and whether it was reached.
type Checkpoint struct {
	Milestone
	State  string `json:"state"`
	Height int64  `json:"height,omitempty"` // when it was reached or found missed
}

// Version is one deployment of a program.
type Version struct {
	Program  string `json:"program"`
	Version  int    `json:"version"`
	Spec     Spec   `json:"spec"`
	Deployer cc.DID `json:"deployer"`
	Height   int64  `json:"height"`
	Time     string `json:"time"`
}

// Member is one enrolled patient: the coarse strata an incentive may
// weigh (region, age band, deprivation quintile) and the dose count, never
// the sex or risk groups the target saw.
type Member struct {
	Patient  cc.DID `json:"patient"`
	Region   string `json:"region"`
	AgeBand  string `json:"age_band"`
	Quintile int    `json:"quintile"`
	Enrolled int64  `json:"enrolled"` // height
	Doses    int    `json:"doses"`
	LastDose string `json:"last_dose,omitempty"` // block time of the last counted dose, RFC 3339
	Due      int64  `json:"due,omitempty"`       // Unix second a reminder falls due (0: none)
	Reminded int    `json:"reminded,omitempty"`  // the dose number last reminded of
}

// Region counts the members of one region.
type Region struct {
	Region    string   `json:"region"`
	Enrolled  int64    `json:"enrolled"`
	Reached   []int64  `json:"reached"`
	Escalated []string `json:"escalated,omitempty"` // checkpoints for which it was escalated
}

// Payee is what a program paid one administering organization.
type Payee struct {
	Org     string `json:"org"`
	Doses   int64  `json:"doses"`
	Credits int64  `json:"credits"`
}

// Trigger is what caused a decision: a transaction, and for doses the
// administration's index in it and the Immunization's record id.
type Trigger struct {
	Tx     string `json:"tx"` // hex
	Type   string `json:"type"`
	Index  int    `json:"index"`
	Record string `json:"record,omitempty"`
}

// Decision is one entry of a program's decision log.
type Decision struct {
	Program   string  `json:"program"`
	Version   int     `json:"version"`
	Kind      string  `json:"kind"`
	Height    int64   `json:"height"`
	Time      string  `json:"time"`
	Trigger   Trigger `json:"trigger"`
	Patient   cc.DID  `json:"patient,omitempty"`
	Org       string  `json:"org,omitempty"`
	Region    string  `json:"region,omitempty"`
	Dose      int     `json:"dose,omitempty"`
	Credits   int64   `json:"credits,omitempty"`
	Milestone string  `json:"milestone,omitempty"`
	Permille  int     `json:"permille,omitempty"` // the coverage measured, for checkpoint decisions
	Reason    string  `json:"reason,omitempty"`
}

// Coverage returns the permille (rounded down) of members with at least
// dose doses; 0 without members.
func (p *Program) Coverage(dose int) int { return permille(p.Reached, p.Enrolled, dose) }

// Coverage returns the permille (rounded down) of the region's members
// with at least dose doses.
func (r *Region) Coverage(dose int) int { return permille(r.Reached, r.Enrolled, dose) }

func permille(reached []int64, enrolled int64, dose int) int {
	if enrolled == 0 || dose < 1 || dose > len(reached) {
		return 0
	}
	return int(reached[dose-1] * 1000 / enrolled)
}

// Get returns program id, cc.NotFound if there is none.
func Get(kv cc.Reader, id string) (*Program, error) {
	var p Program
	found := false
	if ValidID(id) {
		var err error
		if found, err = cc.GetJSON(kv, programKey(id), &p); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, cc.Errorf("programs.get", cc.NotFound, "no program %q", cc.Echo(id))
	}
	return &p, nil
}

// List returns every program in id order.
func List(kv cc.Reader) ([]Program, error) {
	out := []Program{}
	err := cc.IterateJSON("programs.list", kv, prefixProgram, func(p Program) bool {
		out = append(out, p)
		return true
	})
	return out, err
}

// GetVersion returns version v of program id (the current one when v is
// 0), cc.NotFound if there is none.
func GetVersion(kv cc.Reader, id string, v int) (*Version, error) {
	if v == 0 {
		p, err := Get(kv, id)
		if err != nil {
			return nil, err
		}
		v = p.Version
	}
	var out Version
	found := false
	if ValidID(id) && v > 0 {
		var err error
		if found, err = cc.GetJSON(kv, versionKey(id, v), &out); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, cc.Errorf("programs.version", cc.NotFound, "program %q has no version %d", cc.Echo(id), v)
	}
	return &out, nil
}

// Versions returns every version of program id, oldest first.
func Versions(kv cc.Reader, id string) ([]Version, error) {
	return list[Version](kv, "programs.versions", id, versionsPrefix)
}

// Regions returns the region counts of program id, by region.
func Regions(kv cc.Reader, id string) ([]Region, error) {
	return list[Region](kv, "programs.regions", id, regionsPrefix)
}

// Payees returns what program id paid each organization, by organization.
func Payees(kv cc.Reader, id string) ([]Payee, error) {
	return list[Payee](kv, "programs.payees", id, payeesPrefix)
}

// Decisions returns the decision log of program id, oldest first; kind,
// when not empty, keeps one kind only.
func Decisions(kv cc.Reader, id, kind string) ([]Decision, error) {
	ds, err := list[Decision](kv, "programs.decisions", id, decisionsPrefix)
	if kind != "" {
		ds = slices.DeleteFunc(ds, func(d Decision) bool { return d.Kind != kind })
	}
	return ds, err
}

// GetMember returns patient's membership of program id, cc.NotFound if
// they are not a member.
func GetMember(kv cc.Reader, id string, patient cc.DID) (*Member, error) {
	var m Member
	found := false
	if ValidID(id) && patient.Valid() {
		var err error
		if found, err = cc.GetJSON(kv, memberKey(id, patient), &m); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, cc.Errorf("programs.member", cc.NotFound, "%s is not a member of program %q", cc.Echo(string(patient)), cc.Echo(id))
	}
	return &m, nil
}

// list reads every value under prefix(id).
func list[T any](kv cc.Reader, op, id string, prefix func(string) string) ([]T, error) {
	out := []T{}
	if !ValidID(id) {
		return out, nil
	}
	err := cc.IterateJSON(op, kv, prefix(id), func(v T) bool {
		out = append(out, v)
		return true
	})
	return out, err
}

// stamp renders a block time for state.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

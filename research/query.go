package research

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	cc "carechain"
	"carechain/identity"
)

// The measures an aggregate question may ask for.
const (
	MeasureCount    = "count"    // patients per stratum
	MeasureCoverage = "coverage" // patients with ≥ dose doses of vaccine / patients, per stratum
	MeasureMeanAge  = "mean_age" // mean age in years at as_of, per stratum
)

// Measures lists the measures, sorted.
var Measures = []string{MeasureCount, MeasureCoverage, MeasureMeanAge}

// Dimensions are the strata a question may group by (the population
// register's: see package index).
var Dimensions = []string{"age_band", "quintile", "region", "sex"}

// MaxDose is the highest dose number a coverage question may name.
const MaxDose = 10

// QuerySpec is an aggregate question over a project's participants.
type QuerySpec struct {
	Measure string   `json:"measure"`
	Vaccine string   `json:"vaccine,omitempty"` // coverage: a vaccine code (e.g. CVX 208)
	Dose    int      `json:"dose,omitempty"`    // coverage: at least this many doses (default 1)
	By      []string `json:"by,omitempty"`      // strata, in the order given (distinct Dimensions)
	AsOf    int      `json:"as_of,omitempty"`   // the year ages are computed at (default: the block's year)
}

// Query is an asked question, its cost and, once recorded, its answer.
type Query struct {
	Project      string    `json:"project"`
	N            int       `json:"n"` // from 1, per project
	Spec         QuerySpec `json:"query"`
	EpsilonMicro int64     `json:"epsilon_micro"`
	Asker        cc.DID    `json:"asker"`
	Height       int64     `json:"height"`
	Time         time.Time `json:"time"`
	Status       string    `json:"status"`
	Answer       *Answer   `json:"answer,omitempty"`
	AnsweredBy   cc.DID    `json:"answered_by,omitempty"`
	AnsweredAt   int64     `json:"answered_at,omitempty"`
}

// Answer is the released answer to a question: noisy, suppressed,
// integer-valued cells. Mechanism, Sensitivity, EpsilonMicro and
// DeltaPPB document the differential-privacy guarantee of the release.
type Answer struct {
	Mechanism    string `json:"mechanism"`     // e.g. "discrete-laplace"
	Sensitivity  int64  `json:"sensitivity"`   // L1 sensitivity of the released vector per unit of noise scale (see research/dp)
	EpsilonMicro int64  `json:"epsilon_micro"` // must equal the question's
	DeltaPPB     int64  `json:"delta_ppb"`     // δ in parts per billion (0 for pure ε-DP)
	MinCell      int    `json:"min_cell"`      // k of small-cell suppression (≥ MinCell)
	StateHeight  int64  `json:"state_height"`  // the committed height whose consent state chose the participants
	Cells        []Cell `json:"cells"`         // the total (empty group) first, then the strata in order
}

// Cell is one stratum of an answer. When Suppressed, every value is 0.
type Cell struct {
	Group      []string `json:"group"` // one value per QuerySpec.By dimension; empty for the total
	Suppressed bool     `json:"suppressed,omitempty"`
	N          int64    `json:"n"`                    // noisy patients (coverage: the denominator)
	Num        int64    `json:"num,omitempty"`        // coverage: noisy numerator
	RatePPM    int64    `json:"rate_ppm,omitempty"`   // coverage: num/n in parts per million
	MeanMilli  int64    `json:"mean_milli,omitempty"` // mean_age: mean age in thousandths of a year
}

// askPayload is the payload of research.query.ask.
type askPayload struct {
	Project      string    `json:"project"`
	Query        QuerySpec `json:"query"`
	EpsilonMicro int64     `json:"epsilon_micro"`
}

// answerPayload is the payload of research.query.answer.
type answerPayload struct {
	Project string `json:"project"`
	Query   int    `json:"query"`
	Answer  Answer `json:"answer"`
}

// CheckSpec validates q (cc.Invalid) and fills its defaults: dose 1 for
// coverage, as_of = year when 0.
func CheckSpec(op string, q *QuerySpec, year int) error {
	if !slices.Contains(Measures, q.Measure) {
		return cc.Errorf(op, cc.Invalid, "measure %q must be one of %v", cc.Echo(q.Measure), Measures)
	}
	if q.Measure == MeasureCoverage {
		if !printable(q.Vaccine, 64) {
			return cc.Errorf(op, cc.Invalid, "a coverage question names a vaccine code")
		}
		if q.Dose == 0 {
			q.Dose = 1
		}
		if q.Dose < 1 || q.Dose > MaxDose {
			return cc.Errorf(op, cc.Invalid, "dose must be 1 to %d", MaxDose)
		}
	} else if q.Vaccine != "" || q.Dose != 0 {
		return cc.Errorf(op, cc.Invalid, "vaccine and dose belong to coverage questions")
	}
	if len(q.By) > len(Dimensions) {
		return cc.Errorf(op, cc.Invalid, "by lists at most %d dimensions", len(Dimensions))
	}
	for i, d := range q.By {
		if !slices.Contains(Dimensions, d) {
			return cc.Errorf(op, cc.Invalid, "by: %q must be one of %v", cc.Echo(d), Dimensions)
		}
		if slices.Contains(q.By[:i], d) {
			return cc.Errorf(op, cc.Invalid, "by: %s is listed twice", d)
		}
	}
	if q.AsOf == 0 {
		q.AsOf = year
	}
	if q.AsOf < 1900 || q.AsOf > 9999 {
		return cc.Errorf(op, cc.Invalid, "as_of must be a year from 1900")
	}
	return nil
}

// GetQuery returns question n of project, cc.NotFound if there is none.
func GetQuery(kv cc.Reader, project string, n int) (*Query, error) {
	var q Query
	found := false
	if cc.ValidOrgID(project) && n > 0 {
		var err error
		if found, err = cc.GetJSON(kv, queryKey(project, n), &q); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, cc.Errorf("research.query", cc.NotFound, "no question %d of research project %q", n, cc.Echo(project))
	}
	return &q, nil
}

// ListQueries returns the questions of project in order.
func ListQueries(kv cc.Reader, project string) ([]Query, error) {
	out := []Query{}
	if !cc.ValidOrgID(project) {
		return out, nil
	}
	err := cc.IterateJSON("research.queries", kv, queryPrefix(project), func(q Query) bool {
		out = append(out, q)
		return true
	})
	return out, err
}

// handleAsk applies research.query.ask {project, query, epsilon_micro}:
// an admin or researcher of the project's institute (cc.Unauthorized)
// asks an aggregate question (CheckSpec, cc.Invalid) of an active project
// that requested aggregates (cc.FailedPrecondition), spending
// epsilon_micro (MinQueryMicro..MaxBudgetMicro, cc.Invalid) from its
// budget. A question that would spend past the budget is
// cc.FailedPrecondition "privacy budget exhausted" and changes nothing.
// The question is stored pending with the next number; Data is the Query.
func handleAsk(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeAsk
	var p askPayload
	if err := decode(op, payload, &p); err != nil {
		return cc.Result{}, err
	}
	if err := CheckSpec(op, &p.Query, ctx.Time.UTC().Year()); err != nil {
		return cc.Result{}, err
	}
	if p.EpsilonMicro < MinQueryMicro || p.EpsilonMicro > MaxBudgetMicro {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "epsilon_micro must be %d to %d", MinQueryMicro, MaxBudgetMicro)
	}
	pr, err := GetProject(kv, p.Project)
	if err != nil {
		return cc.Result{}, cc.E(op, err)
	}
	if err := authorizeStaff(op, kv, pr.Org, ctx.Signer); err != nil {
		return cc.Result{}, err
	}
	if !pr.Active(ctx.Time) {
		return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "research project %s is not active (status %s, period %s to %s)",
			pr.ID, pr.Status, pr.Period.Start.Format(time.RFC3339), pr.Period.End.Format(time.RFC3339))
	}
	if !pr.Aggregates {
		return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "research project %s did not request aggregate questions", pr.ID)
	}
	if left := pr.BudgetMicro - pr.SpentMicro; p.EpsilonMicro > left {
		return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "privacy budget exhausted: research project %s has %d of %d micro-ε left, the question costs %d",
			pr.ID, left, pr.BudgetMicro, p.EpsilonMicro)
	}
	pr.SpentMicro += p.EpsilonMicro
	pr.Queries++
	q := Query{Project: pr.ID, N: pr.Queries, Spec: p.Query, EpsilonMicro: p.EpsilonMicro, Asker: ctx.Signer,
		Height: ctx.Height, Time: ctx.Time.UTC(), Status: QueryPending}
	data, err := cc.ResultData(op, q)
	if err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, projectKey(pr.ID), pr); err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, queryKey(pr.ID, q.N), q); err != nil {
		return cc.Result{}, err
	}
	return cc.Result{Data: data, Events: []cc.Event{cc.NewEvent(op, "project", pr.ID, "query", strconv.Itoa(q.N),
		"epsilon_micro", strconv.FormatInt(q.EpsilonMicro, 10), "spent_micro_epsilon", strconv.FormatInt(pr.SpentMicro, 10),
		"budget_micro_epsilon", strconv.FormatInt(pr.BudgetMicro, 10))}}, nil
}

// authorizeNode reports cc.Unauthorized unless signer is a member with the
// node role of an active organization.
func authorizeNode(op string, kv cc.Reader, signer cc.DID) error {
	ms, err := identity.MembershipsOf(kv, signer)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	for _, m := range ms {
		if slices.Contains(m.Roles, cc.RoleNode) {
			if ok, err := identity.HasRole(kv, m.Org, signer, cc.RoleNode); err != nil {
				return cc.E(op, cc.Internal, err)
			} else if ok {
				return nil
			}
		}
	}
	return cc.Errorf(op, cc.Unauthorized, "%s is not a custodian node key (a member with the node role of an active organization)", signer)
}

// CheckAnswer validates a's shape against q (cc.Invalid): the ε it was
// drawn for, k ≥ MinCell, a mechanism, a non-negative sensitivity and δ,
// 1..MaxAnswerCells cells, the first the total (no group values) and the
// others with one printable value per dimension, non-negative values and
// suppressed cells all zero.
func CheckAnswer(op string, q *Query, a *Answer) error {
	switch {
	case a.EpsilonMicro != q.EpsilonMicro:
		return cc.Errorf(op, cc.Invalid, "the answer was drawn for ε %d micro, the question paid %d", a.EpsilonMicro, q.EpsilonMicro)
	case a.MinCell < MinCell:
		return cc.Errorf(op, cc.Invalid, "min_cell must be at least %d", MinCell)
	case !printable(a.Mechanism, 64):
		return cc.Errorf(op, cc.Invalid, "mechanism names the noise mechanism")
	case a.Sensitivity < 1 || a.DeltaPPB < 0 || a.DeltaPPB >= 1e9 || a.StateHeight < 0:
		return cc.Errorf(op, cc.Invalid, "sensitivity must be positive, delta_ppb in [0, 1e9) and state_height non-negative")
	case len(a.Cells) == 0 || len(a.Cells) > MaxAnswerCells:
		return cc.Errorf(op, cc.Invalid, "an answer has 1 to %d cells", MaxAnswerCells)
	}
	for i, c := range a.Cells {
		want := len(q.Spec.By)
		if i == 0 {
			want = 0
		}
		if len(c.Group) != want {
			return cc.Errorf(op, cc.Invalid, "cell %d must have %d group values", i, want)
		}
		for _, v := range c.Group {
			if !printable(v, MaxGroupValueLen) {
				return cc.Errorf(op, cc.Invalid, "cell %d: a group value must be 1 to %d bytes of text", i, MaxGroupValueLen)
			}
		}
		if c.N < 0 || c.Num < 0 || c.RatePPM < 0 || c.MeanMilli < 0 || c.RatePPM > 1_000_000 {
			return cc.Errorf(op, cc.Invalid, "cell %d has a negative or impossible value", i)
		}
		if c.Suppressed && (c.N != 0 || c.Num != 0 || c.RatePPM != 0 || c.MeanMilli != 0) {
			return cc.Errorf(op, cc.Invalid, "cell %d is suppressed but shows values", i)
		}
		if !c.Suppressed && c.N < int64(a.MinCell) {
			return cc.Errorf(op, cc.Invalid, "cell %d shows %d, below the small-cell threshold %d", i, c.N, a.MinCell)
		}
	}
	return nil
}

// handleAnswer applies research.query.answer {project, query, answer}: a
// custodian node key (authorizeNode, cc.Unauthorized) records the answer
// of a pending question (CheckAnswer, cc.Invalid). An unknown question is
// cc.NotFound; an answered one cc.Conflict (the first answer wins, so one
// noise draw is ever released). Data is the Query.
func handleAnswer(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeAnswer
	var p answerPayload
	if err := decode(op, payload, &p); err != nil {
		return cc.Result{}, err
	}
	if err := authorizeNode(op, kv, ctx.Signer); err != nil {
		return cc.Result{}, err
	}
	q, err := GetQuery(kv, p.Project, p.Query)
	if err != nil {
		return cc.Result{}, cc.E(op, err)
	}
	if q.Status != QueryPending {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "question %d of %s was answered at height %d", q.N, q.Project, q.AnsweredAt)
	}
	if err := CheckAnswer(op, q, &p.Answer); err != nil {
		return cc.Result{}, err
	}
	if p.Answer.StateHeight >= ctx.Height {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "state_height %d must be a committed height below %d", p.Answer.StateHeight, ctx.Height)
	}
	a := p.Answer
	q.Status, q.Answer, q.AnsweredBy, q.AnsweredAt = QueryAnswered, &a, ctx.Signer, ctx.Height
	data, err := cc.ResultData(op, q)
	if err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, queryKey(q.Project, q.N), q); err != nil {
		return cc.Result{}, err
	}
	return cc.Result{Data: data, Events: []cc.Event{cc.NewEvent(op, "project", q.Project, "query", strconv.Itoa(q.N), "node", string(ctx.Signer))}}, nil
}

// Handlers returns a new map from each transaction type this package
// handles to its handler. Every type is signed with the signer's current
// key from state.
func Handlers() map[string]cc.Handler {
	return map[string]cc.Handler{
		TypeRegister: handleRegister,
		TypeApprove:  handleApprove,
		TypeOptIn:    handleOptIn,
		TypeOptOut:   handleOptOut,
		TypeAsk:      handleAsk,
		TypeAnswer:   handleAnswer,
	}
}

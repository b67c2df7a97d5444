package programs

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	cc "carechain"
	"carechain/condition"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
)

// Limits of a program.
const (
	MaxExprLen     = 2048          // the longest CEL expression, in bytes
	CostLimit      = 20_000        // cel.CostLimit of one evaluation
	EstimateLimit  = 20_000        // the largest worst-case cost CEL's static estimate may give at deployment
	MaxVaccines    = 16            // vaccines one program counts
	MaxMilestones  = 16            // milestones of one version
	MaxDose        = 10            // the highest dose number a goal or milestone may name
	MaxBudget      = 1_000_000_000 // credits of one program
	MaxTitleLen    = 200           // bytes
	MaxIntervalDay = 3660          // reminder intervals, in days
	MaxRisks       = 16            // risk groups of one person
	maxFactLen     = 48            // bytes of one fact string (the estimate assumes 64)
)

// Spec is one version of a program, as its deployer writes it. Everything
// is integers, strings and dates ("YYYY-MM-DD", UTC): no floats.
type Spec struct {
	Title string `json:"title"`
	// Vaccines are the "system|code" vaccine codes whose administrations
	// count as the program's doses (sorted and unique once deployed).
	Vaccines []string `json:"vaccines"`
	// Target is a CEL bool expression over the variable person (see the
	// package documentation): who the program is for.
	Target string `json:"target"`
	// Goal is the coverage the program aims at.
	Goal Goal `json:"goal"`
	// Milestones are intermediate coverage checks, each with its date.
	Milestones []Milestone `json:"milestones,omitempty"`
	// Incentive, when set, pays credits per counted dose.
	Incentive *Incentive `json:"incentive,omitempty"`
	// Reminder, when set, notifies members who are overdue for a dose.
	Reminder *Reminder `json:"reminder,omitempty"`
	// Escalation, when set, flags the regions behind a missed milestone.
	Escalation *Escalation `json:"escalation,omitempty"`
}

// Goal is a coverage target: Permille of the members have at least Dose
// doses by the end of day By.
type Goal struct {
	Dose     int    `json:"dose"`
	Permille int    `json:"permille"`
	By       string `json:"by"`
}

// Milestone is a named intermediate goal (Dose defaults to the goal's).
type Milestone struct {
	Name     string `json:"name"`
	Dose     int    `json:"dose,omitempty"`
	Permille int    `json:"permille"`
	By       string `json:"by"`
}

// Incentive pays CreditsPerDose to the administering organization for
// each counted dose of a member for which When (a CEL bool expression over
// person and dose; empty means always) holds, from a fixed Budget: a dose
// that the rest of the budget cannot pay is paid nothing.
type Incentive struct {
	CreditsPerDose int64  `json:"credits_per_dose"`
	When           string `json:"when,omitempty"`
	Budget         int64  `json:"budget"`
}

// Reminder makes a member overdue IntervalDays after a dose while they
// have fewer than the goal's doses, and FirstDays after enrollment when
// they have none (0: no first-dose reminders).
type Reminder struct {
	IntervalDays int `json:"interval_days"`
	FirstDays    int `json:"first_days,omitempty"`
}

// Escalation flags, when a milestone (or the goal) is missed, every region
// whose coverage is more than BehindPermille below the milestone's.
type Escalation struct {
	BehindPermille int `json:"behind_permille"`
}

// celPerson is what an expression sees as person: coarse strata only.
type celPerson struct {
	AgeBand  string   `cel:"age_band"`
	Sex      string   `cel:"sex"`
	Region   string   `cel:"region"`
	Quintile int64    `cel:"quintile"`
	Risks    []string `cel:"risks"`
}

// celDose is what an incentive's When sees as dose.
type celDose struct {
	Number  int64  `cel:"number"`
	Vaccine string `cel:"vaccine"`
	Org     string `cel:"org"`
	Linked  bool   `cel:"linked"`
	Year    int64  `cel:"year"`
	Lot     string `cel:"lot"`
}

// envWith returns a CEL environment with the named variables.
func envWith(vars ...string) func() (*cel.Env, error) {
	return sync.OnceValues(func() (*cel.Env, error) {
		opts := []cel.EnvOption{
			ext.NativeTypes(reflect.TypeFor[celPerson](), reflect.TypeFor[celDose](), ext.ParseStructTags(true)),
			cel.ParserExpressionSizeLimit(MaxExprLen),
			cel.ParserRecursionLimit(64),
		}
		for _, v := range vars {
			switch v {
			case "person":
				opts = append(opts, cel.Variable("person", cel.ObjectType("programs.celPerson")))
			case "dose":
				opts = append(opts, cel.Variable("dose", cel.ObjectType("programs.celDose")))
			}
		}
		return cel.NewEnv(opts...)
	})
}

// targets and incentives compile and evaluate programs' expressions: a
// target sees person, an incentive's When sees person and dose. Both
// refuse, at deployment, an expression whose worst case could exceed the
// cost limit.
var (
	targets = &condition.Compiler{Op: "programs.target", Env: envWith("person"), MaxLen: MaxExprLen,
		CostLimit: CostLimit, MaxCached: 256, EstimateLimit: EstimateLimit, MaxSize: 64}
	incentives = &condition.Compiler{Op: "programs.incentive", Env: envWith("person", "dose"), MaxLen: MaxExprLen,
		CostLimit: CostLimit, MaxCached: 256, EstimateLimit: EstimateLimit, MaxSize: 64}
)

// parseDay parses a "YYYY-MM-DD" date and returns the end of that day
// (UTC), the instant from which it has passed.
func parseDay(op, field, s string) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, cc.Errorf(op, cc.Invalid, "%s %q must be a date YYYY-MM-DD", field, cc.Echo(s))
	}
	return d.AddDate(0, 0, 1), nil
}

// check validates s and normalizes it (vaccines sorted). Errors are
// cc.Invalid naming the field; CEL problems say what is wrong, including
// an expression whose cost could exceed the limit.
func (s *Spec) check(op string) error {
	s.Title = strings.TrimSpace(s.Title)
	if s.Title == "" || len(s.Title) > MaxTitleLen || !printable(s.Title) {
		return cc.Errorf(op, cc.Invalid, "title must be 1 to %d bytes of printable text", MaxTitleLen)
	}
	if len(s.Vaccines) == 0 || len(s.Vaccines) > MaxVaccines {
		return cc.Errorf(op, cc.Invalid, "vaccines must list 1 to %d vaccine codes", MaxVaccines)
	}
	for i, v := range s.Vaccines {
		sys, code, ok := strings.Cut(v, "|")
		if !ok || sys == "" || code == "" || len(v) > 256 || !printable(v) || strings.Contains(code, "|") || strings.Contains(v, " ") {
			return cc.Errorf(op, cc.Invalid, "vaccines[%d] %q must be \"system|code\"", i, cc.Echo(v))
		}
	}
	slices.Sort(s.Vaccines)
	if len(slices.Compact(slices.Clone(s.Vaccines))) != len(s.Vaccines) {
		return cc.Errorf(op, cc.Invalid, "vaccines lists a code twice")
	}
	if err := checkExpr(op, "target", targets, s.Target); err != nil {
		return err
	}
	if err := checkGoal(op, "goal", s.Goal.Dose, s.Goal.Permille, s.Goal.By); err != nil {
		return err
	}
	if len(s.Milestones) > MaxMilestones {
		return cc.Errorf(op, cc.Invalid, "at most %d milestones", MaxMilestones)
	}
	seen := map[string]bool{}
	for i := range s.Milestones {
		m := &s.Milestones[i]
		if !idPattern.MatchString(m.Name) || m.Name == GoalName {
			return cc.Errorf(op, cc.Invalid, "milestones[%d].name %q must match %s and not be %q", i, cc.Echo(m.Name), idPattern, GoalName)
		}
		if seen[m.Name] {
			return cc.Errorf(op, cc.Invalid, "milestones[%d].name %q is used twice", i, m.Name)
		}
		seen[m.Name] = true
		if m.Dose == 0 {
			m.Dose = s.Goal.Dose
		}
		if err := checkGoal(op, fmt.Sprintf("milestones[%d]", i), m.Dose, m.Permille, m.By); err != nil {
			return err
		}
	}
	if in := s.Incentive; in != nil {
		if in.CreditsPerDose < 1 || in.Budget < 0 || in.Budget > MaxBudget || in.CreditsPerDose > MaxBudget {
			return cc.Errorf(op, cc.Invalid, "incentive: credits_per_dose must be 1 to %d and budget 0 to %d", MaxBudget, MaxBudget)
		}
		if in.When != "" {
			if err := checkExpr(op, "incentive.when", incentives, in.When); err != nil {
				return err
			}
		}
	}
	if r := s.Reminder; r != nil && (r.IntervalDays < 1 || r.IntervalDays > MaxIntervalDay || r.FirstDays < 0 || r.FirstDays > MaxIntervalDay) {
		return cc.Errorf(op, cc.Invalid, "reminder: interval_days must be 1 to %d and first_days 0 to %d", MaxIntervalDay, MaxIntervalDay)
	}
	if e := s.Escalation; e != nil && (e.BehindPermille < 0 || e.BehindPermille > 1000) {
		return cc.Errorf(op, cc.Invalid, "escalation: behind_permille must be 0 to 1000")
	}
	return nil
}

// checkExpr type-checks expr with comp and names field in the error.
func checkExpr(op, field string, comp *condition.Compiler, expr string) error {
	err := comp.Check(expr)
	var e *cc.Error
	if err == nil || !errors.As(err, &e) || e.Kind != cc.Invalid {
		return err
	}
	return cc.Errorf(op, cc.Invalid, "%s: %s", field, e.Msg)
}

// checkGoal validates a goal or milestone.
func checkGoal(op, what string, dose, permille int, by string) error {
	if dose < 1 || dose > MaxDose {
		return cc.Errorf(op, cc.Invalid, "%s.dose must be 1 to %d", what, MaxDose)
	}
	if permille < 1 || permille > 1000 {
		return cc.Errorf(op, cc.Invalid, "%s.permille must be 1 to 1000", what)
	}
	_, err := parseDay(op, what+".by", by)
	return err
}

// GoalName is the milestone name under which the goal itself is tracked.
const GoalName = "goal"

// checkpoints returns the goal and milestones of s as milestones, the goal
// last.
func (s *Spec) checkpoints() []Milestone {
	out := slices.Clone(s.Milestones)
	return append(out, Milestone{Name: GoalName, Dose: s.Goal.Dose, Permille: s.Goal.Permille, By: s.Goal.By})
}

// maxDose is the highest dose any checkpoint of s names.
func (s *Spec) maxDose() int {
	n := s.Goal.Dose
	for _, m := range s.Milestones {
		n = max(n, m.Dose)
	}
	return n
}

// printable reports whether s is UTF-8 text without control characters.
func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return false
		}
	}
	return true
}

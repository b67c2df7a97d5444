package consent

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	cc "carechain"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/ext"
)

// Limits of CEL conditions.
const (
	// MaxConditionLen is the longest condition, in bytes.
	MaxConditionLen = 1024
	// ConditionCostLimit bounds the work of one evaluation (cel.CostLimit);
	// an evaluation that exceeds it is an evaluation error.
	ConditionCostLimit = 10_000
	// maxCachedConditions bounds the compiled-program cache.
	maxCachedConditions = 1024
)

// celRequest is what a condition sees as the variable request. It is a
// native struct rather than a map so that a condition cannot iterate over
// it (Go map order would make such a condition non-deterministic) and so
// that a misspelt field is a compile error.
type celRequest struct {
	Requester string    `cel:"requester"`
	Action    string    `cel:"action"`
	Purpose   string    `cel:"purpose"`
	Orgs      []string  `cel:"orgs"`  // organization ids, sorted, distinct
	Roles     []string  `cel:"roles"` // roles over all organizations, sorted, distinct
	Time      time.Time `cel:"time"`
}

// celRecord is what a condition sees as the variable record.
type celRecord struct {
	Type       string    `cel:"type"`
	Categories []string  `cel:"categories"`
	AuthorOrg  string    `cel:"author_org"`
	Org        string    `cel:"org"`
	DataTime   time.Time `cel:"data_time"` // 0001-01-01T00:00:00Z when unknown
	Version    int64     `cel:"version"`
}

// tzOverloads are the standard functions that take a time zone name: they
// read the host's time zone database, which differs between machines, so
// a condition may not call them.
var tzOverloads = []string{
	overloads.TimestampToYearWithTz, overloads.TimestampToMonthWithTz,
	overloads.TimestampToDayOfYearWithTz, overloads.TimestampToDayOfMonthZeroBasedWithTz,
	overloads.TimestampToDayOfMonthOneBasedWithTz, overloads.TimestampToDayOfWeekWithTz,
	overloads.TimestampToHoursWithTz, overloads.TimestampToMinutesWithTz,
	overloads.TimestampToSecondsWithTz, overloads.TimestampToMillisecondsWithTz,
}

// conditionEnv is the CEL environment of conditions: the standard library
// (which has no clock function) and the two variables.
var conditionEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[celRequest](), reflect.TypeFor[celRecord](), ext.ParseStructTags(true)),
		cel.Variable("request", cel.ObjectType("consent.celRequest")),
		cel.Variable("record", cel.ObjectType("consent.celRecord")),
		cel.ParserExpressionSizeLimit(MaxConditionLen),
		cel.ParserRecursionLimit(64),
	)
})

// compiled is a cached compilation: a program, or why there is none
// (problem is user-facing; internal marks a failure that is not the
// expression's fault).
type compiled struct {
	prg      cel.Program
	problem  string
	internal error
}

// conditionCache maps an expression to its compilation. Compilation is a
// pure function of the expression, so the cache only skips work and cannot
// change a result; when full it is emptied.
var conditionCache = struct {
	sync.Mutex
	m map[string]*compiled
}{m: map[string]*compiled{}}

// CompileCondition type-checks the CEL condition expr as it would run in a
// consent provision or an agreement. It returns nil if expr is at most
// MaxConditionLen bytes of UTF-8, parses, uses only the variables request
// and record (see the package documentation) and the standard functions
// other than those taking a time zone, and has type bool; otherwise a
// cc.Invalid error saying why (cc.Internal if the environment itself
// cannot be built).
func CompileCondition(expr string) error {
	const op = "consent.condition"
	c := compileCached(expr)
	switch {
	case c.internal != nil:
		return cc.E(op, cc.Internal, c.internal)
	case c.problem != "":
		return cc.Errorf(op, cc.Invalid, "%s", c.problem)
	}
	return nil
}

// compileCached returns the compilation of expr, from the cache if there.
func compileCached(expr string) *compiled {
	conditionCache.Lock()
	c, ok := conditionCache.m[expr]
	conditionCache.Unlock()
	if ok {
		return c
	}
	c = compile(expr)
	conditionCache.Lock()
	if len(conditionCache.m) >= maxCachedConditions {
		clear(conditionCache.m)
	}
	conditionCache.m[expr] = c
	conditionCache.Unlock()
	return c
}

// compile compiles expr; see CompileCondition for the rules.
func compile(expr string) *compiled {
	if len(expr) > MaxConditionLen {
		return &compiled{problem: fmt.Sprintf("condition is longer than %d bytes", MaxConditionLen)}
	}
	if !utf8.ValidString(expr) || strings.ContainsRune(expr, 0) {
		return &compiled{problem: "condition is not UTF-8 text"}
	}
	env, err := conditionEnv()
	if err != nil {
		return &compiled{internal: err}
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return &compiled{problem: "condition does not compile: " + truncate(oneLine(iss.Err().Error()), 200)}
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return &compiled{problem: fmt.Sprintf("condition has type %s, not bool", cc.Echo(ast.OutputType().String()))}
	}
	// Map order cannot show: any forbidden overload gives the same answer.
	for _, ref := range ast.NativeRep().ReferenceMap() {
		for _, id := range ref.OverloadIDs {
			if slices.Contains(tzOverloads, id) {
				return &compiled{problem: "condition calls a function with a time zone argument (times are UTC)"}
			}
		}
	}
	prg, err := env.Program(ast, cel.CostLimit(ConditionCostLimit))
	if err != nil {
		return &compiled{problem: "condition does not compile: " + truncate(oneLine(err.Error()), 200)}
	}
	return &compiled{prg: prg}
}

// oneLine replaces line breaks (CEL errors quote the source) with spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// conditionInput is the activation of conditions for one access request,
// built on first use.
type conditionInput struct {
	req  cc.AccessRequest
	vars map[string]any
}

// activation returns the variables request and record for the request.
func (in *conditionInput) activation() map[string]any {
	if in.vars != nil {
		return in.vars
	}
	var orgs []string
	var roles []string
	for _, m := range in.req.Orgs {
		orgs = append(orgs, m.Org)
		for _, r := range m.Roles {
			roles = append(roles, string(r))
		}
	}
	rec := in.req.Record
	in.vars = map[string]any{
		"request": celRequest{
			Requester: string(in.req.Requester),
			Action:    in.req.Action,
			Purpose:   in.req.Purpose,
			Orgs:      sortedSet(orgs),
			Roles:     sortedSet(roles),
			Time:      in.req.Time.UTC(),
		},
		"record": celRecord{
			Type:       rec.Type,
			Categories: append([]string{}, rec.Categories...),
			AuthorOrg:  rec.AuthorOrg,
			Org:        rec.Org,
			DataTime:   rec.DataTime.UTC(),
			Version:    int64(rec.Version),
		},
	}
	return in.vars
}

// sortedSet returns s sorted without duplicates, never nil.
func sortedSet(s []string) []string {
	out := append([]string{}, s...)
	slices.Sort(out)
	return slices.Compact(out)
}

// eval evaluates the condition expr for the request. It returns an error
// when expr does not compile, the evaluation fails (a runtime error, or
// the cost limit) or the result is not a bool; callers fail closed.
func (in *conditionInput) eval(expr string) (result bool, err error) {
	c := compileCached(expr)
	if c.prg == nil {
		return false, fmt.Errorf("condition does not compile")
	}
	defer func() {
		if r := recover(); r != nil {
			result, err = false, fmt.Errorf("condition panicked: %v", r)
		}
	}()
	out, _, err := c.prg.Eval(in.activation())
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("condition returned %s, not bool", out.Type())
	}
	return b, nil
}

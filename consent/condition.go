package consent

import (
	"reflect"
	"slices"
	"sync"
	"time"

	cc "carechain"
	"carechain/condition"

	"github.com/google/cel-go/cel"
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

// conditions compiles and evaluates consent and agreement conditions.
var conditions = &condition.Compiler{Op: "consent.condition", Env: conditionEnv,
	MaxLen: MaxConditionLen, CostLimit: ConditionCostLimit, MaxCached: maxCachedConditions}

// CompileCondition type-checks the CEL condition expr as it would run in a
// consent provision or an agreement. It returns nil if expr is at most
// MaxConditionLen bytes of UTF-8, parses, uses only the variables request
// and record (see the package documentation) and the standard functions
// other than those taking a time zone, and has type bool; otherwise a
// cc.Invalid error saying why (cc.Internal if the environment itself
// cannot be built).
func CompileCondition(expr string) error { return conditions.Check(expr) }

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
func (in *conditionInput) eval(expr string) (bool, error) {
	return conditions.Eval(expr, in.activation())
}

package supply

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	cc "carechain"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/ext"
)

// Limits of a product's excursion condition.
const (
	// MaxConditionLen is the longest excursion condition, in bytes.
	MaxConditionLen = 1024
	// ConditionCostLimit bounds the work of one evaluation (cel.CostLimit);
	// an evaluation that exceeds it fails the transaction (cc.Invalid).
	ConditionCostLimit = 10_000
	// maxCachedConditions bounds the compiled-program cache.
	maxCachedConditions = 256
)

// celReading is what a condition sees as the variable reading: one
// temperature report, in integers only. MinMilliC and MaxMilliC are the
// reading's extremes (value_milli_c when the report gives none).
type celReading struct {
	ValueMilliC     int64 `cel:"value_milli_c"`
	MinMilliC       int64 `cel:"min_milli_c"`
	MaxMilliC       int64 `cel:"max_milli_c"`
	DurationSeconds int64 `cel:"duration_seconds"`
}

// celProduct is what a condition sees as the variable product.
type celProduct struct {
	GTIN             string `cel:"gtin"`
	StorageMinMilliC int64  `cel:"storage_min_milli_c"`
	StorageMaxMilliC int64  `cel:"storage_max_milli_c"`
	ExcursionMinutes int64  `cel:"excursion_minutes"`
	DosesPerVial     int64  `cel:"doses_per_vial"`
}

// celItem is what a condition sees as the variable item: the leaf item
// the reading applies to, before the reading is counted.
type celItem struct {
	EPC              string `cel:"epc"`
	Lot              string `cel:"lot"`
	ExcursionSeconds int64  `cel:"excursion_seconds"`
}

// tzOverloads are the standard functions that take a time zone name: they
// read the host's time zone database, so a condition may not call them.
var tzOverloads = []string{
	overloads.TimestampToYearWithTz, overloads.TimestampToMonthWithTz,
	overloads.TimestampToDayOfYearWithTz, overloads.TimestampToDayOfMonthZeroBasedWithTz,
	overloads.TimestampToDayOfMonthOneBasedWithTz, overloads.TimestampToDayOfWeekWithTz,
	overloads.TimestampToHoursWithTz, overloads.TimestampToMinutesWithTz,
	overloads.TimestampToSecondsWithTz, overloads.TimestampToMillisecondsWithTz,
}

// conditionEnv is the CEL environment of excursion conditions: the
// standard library (no clock function) and the variables reading, product
// and item, native structs so that a condition cannot iterate over a map
// and a misspelt field is a compile error.
var conditionEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[celReading](), reflect.TypeFor[celProduct](), reflect.TypeFor[celItem](), ext.ParseStructTags(true)),
		cel.Variable("reading", cel.ObjectType("supply.celReading")),
		cel.Variable("product", cel.ObjectType("supply.celProduct")),
		cel.Variable("item", cel.ObjectType("supply.celItem")),
		cel.ParserExpressionSizeLimit(MaxConditionLen),
		cel.ParserRecursionLimit(64),
	)
})

// compiled is a cached compilation: a program, or why there is none
// (problem is user-facing; internal is not the expression's fault).
type compiled struct {
	prg      cel.Program
	problem  string
	internal error
}

// conditionCache maps an expression to its compilation. Compilation is a
// pure function of the expression, so the cache only saves work and cannot
// change a result; when full it is emptied.
var conditionCache = struct {
	sync.Mutex
	m map[string]*compiled
}{m: map[string]*compiled{}}

// CompileCondition type-checks expr as a product's excursion condition: at
// most MaxConditionLen bytes of UTF-8 that parse, use only the variables
// reading, product and item (see the package documentation) and standard
// functions other than those taking a time zone, and have type bool. It
// returns nil, or a cc.Invalid error saying why (cc.Internal if the
// environment cannot be built).
func CompileCondition(expr string) error {
	const op = "supply.condition"
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
	c = compileCondition(expr)
	conditionCache.Lock()
	if len(conditionCache.m) >= maxCachedConditions {
		clear(conditionCache.m)
	}
	conditionCache.m[expr] = c
	conditionCache.Unlock()
	return c
}

// compileCondition compiles expr; see CompileCondition for the rules.
func compileCondition(expr string) *compiled {
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
		return &compiled{problem: "condition does not compile: " + clip(strings.Join(strings.Fields(iss.Err().Error()), " "), 200)}
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return &compiled{problem: fmt.Sprintf("condition has type %s, not bool", cc.Echo(ast.OutputType().String()))}
	}
	for _, ref := range ast.NativeRep().ReferenceMap() {
		for _, id := range ref.OverloadIDs {
			if slices.Contains(tzOverloads, id) {
				return &compiled{problem: "condition calls a function with a time zone argument"}
			}
		}
	}
	prg, err := env.Program(ast, cel.CostLimit(ConditionCostLimit))
	if err != nil {
		return &compiled{problem: "condition does not compile: " + clip(strings.Join(strings.Fields(err.Error()), " "), 200)}
	}
	return &compiled{prg: prg}
}

// clip shortens s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// evalCondition evaluates expr for one reading of one item. It returns an
// error when expr does not compile, the evaluation fails (a runtime error
// such as a division by zero, or the cost limit) or the result is not a
// bool.
func evalCondition(expr string, r celReading, p celProduct, it celItem) (result bool, err error) {
	c := compileCached(expr)
	if c.prg == nil {
		return false, fmt.Errorf("condition does not compile")
	}
	defer func() {
		if x := recover(); x != nil {
			result, err = false, fmt.Errorf("condition panicked: %v", x)
		}
	}()
	out, _, err := c.prg.Eval(map[string]any{"reading": r, "product": p, "item": it})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("condition returned %s, not bool", out.Type())
	}
	return b, nil
}

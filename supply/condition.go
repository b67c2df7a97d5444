package supply

import (
	"reflect"
	"sync"

	"carechain/condition"

	"github.com/google/cel-go/cel"
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

// conditions compiles and evaluates excursion conditions.
var conditions = &condition.Compiler{Op: "supply.condition", Env: conditionEnv,
	MaxLen: MaxConditionLen, CostLimit: ConditionCostLimit, MaxCached: maxCachedConditions}

// CompileCondition type-checks expr as a product's excursion condition: at
// most MaxConditionLen bytes of UTF-8 that parse, use only the variables
// reading, product and item (see the package documentation) and standard
// functions other than those taking a time zone, and have type bool. It
// returns nil, or a cc.Invalid error saying why (cc.Internal if the
// environment cannot be built).
func CompileCondition(expr string) error { return conditions.Check(expr) }

// evalCondition evaluates expr for one reading of one item. It returns an
// error when expr does not compile, the evaluation fails (a runtime error
// such as a division by zero, or the cost limit) or the result is not a
// bool.
func evalCondition(expr string, r celReading, p celProduct, it celItem) (bool, error) {
	return conditions.Eval(expr, map[string]any{"reading": r, "product": p, "item": it})
}

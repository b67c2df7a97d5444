// Package condition compiles and evaluates the CEL conditions of
// carechain's contracts — consent provisions and agreements, cold-chain
// rules — the same deterministic way everywhere: a bounded expression
// size, the standard library without the functions that read the host's
// time-zone database, a cost limit per evaluation, a bool result, and a
// cache of compiled programs that can only save work, never change a
// result. Each domain package brings its own environment (its variables,
// as native structs so a condition cannot iterate over a map).
package condition

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	cc "carechain"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/overloads"
)

// TimeZoneOverloads are the standard functions that take a time zone
// name: they read the host's time zone database, which differs between
// machines, so a condition may not call them.
var TimeZoneOverloads = []string{
	overloads.TimestampToYearWithTz, overloads.TimestampToMonthWithTz,
	overloads.TimestampToDayOfYearWithTz, overloads.TimestampToDayOfMonthZeroBasedWithTz,
	overloads.TimestampToDayOfMonthOneBasedWithTz, overloads.TimestampToDayOfWeekWithTz,
	overloads.TimestampToHoursWithTz, overloads.TimestampToMinutesWithTz,
	overloads.TimestampToSecondsWithTz, overloads.TimestampToMillisecondsWithTz,
}

// Compiler compiles the conditions of one kind. Its fields are set once,
// before use; its methods are safe for concurrent use.
type Compiler struct {
	Op        string                   // the error op, e.g. "consent.condition"
	Env       func() (*cel.Env, error) // the environment (its variables)
	MaxLen    int                      // the longest expression, in bytes
	CostLimit uint64                   // cel.CostLimit of one evaluation
	MaxCached int                      // the cache is emptied when it holds this many
	// EstimateLimit, when not 0, refuses at compile time an expression
	// whose worst-case cost, estimated by CEL's static cost checker with
	// every string and list of the environment's variables at most
	// MaxSize long, exceeds it: the expression could not finish under
	// CostLimit on some admissible input. Contracts that must not fail at
	// run time (intervention programs) set it.
	EstimateLimit uint64
	MaxSize       uint64 // the size bound EstimateLimit assumes (default 64)

	mu    sync.Mutex
	cache map[string]*Compiled
}

// Compiled is a compilation: a program, or why there is none (Problem is
// user-facing; Internal marks a failure that is not the expression's
// fault).
type Compiled struct {
	Program  cel.Program
	Problem  string
	Internal error
}

// Check type-checks expr: at most MaxLen bytes of UTF-8 that parse, use
// only the environment's variables and standard functions other than
// TimeZoneOverloads, and have type bool. It returns nil, or a cc.Invalid
// error saying why (cc.Internal if the environment cannot be built).
func (c *Compiler) Check(expr string) error {
	comp := c.Compile(expr)
	switch {
	case comp.Internal != nil:
		return cc.E(c.Op, cc.Internal, comp.Internal)
	case comp.Problem != "":
		return cc.Errorf(c.Op, cc.Invalid, "%s", comp.Problem)
	}
	return nil
}

// Compile returns the compilation of expr, from the cache if there.
func (c *Compiler) Compile(expr string) *Compiled {
	c.mu.Lock()
	comp, ok := c.cache[expr]
	c.mu.Unlock()
	if ok {
		return comp
	}
	comp = c.compile(expr)
	c.mu.Lock()
	if c.cache == nil || len(c.cache) >= c.MaxCached {
		c.cache = map[string]*Compiled{}
	}
	c.cache[expr] = comp
	c.mu.Unlock()
	return comp
}

// compile compiles expr; see Check for the rules.
func (c *Compiler) compile(expr string) *Compiled {
	if len(expr) > c.MaxLen {
		return &Compiled{Problem: fmt.Sprintf("condition is longer than %d bytes", c.MaxLen)}
	}
	if !utf8.ValidString(expr) || strings.ContainsRune(expr, 0) {
		return &Compiled{Problem: "condition is not UTF-8 text"}
	}
	env, err := c.Env()
	if err != nil {
		return &Compiled{Internal: err}
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return &Compiled{Problem: "condition does not compile: " + Clip(oneLine(iss.Err().Error()), 200)}
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return &Compiled{Problem: fmt.Sprintf("condition has type %s, not bool", cc.Echo(ast.OutputType().String()))}
	}
	// Map order cannot show: any forbidden overload gives the same answer.
	for _, ref := range ast.NativeRep().ReferenceMap() {
		for _, id := range ref.OverloadIDs {
			if slices.Contains(TimeZoneOverloads, id) {
				return &Compiled{Problem: "condition calls a function with a time zone argument (times are UTC)"}
			}
		}
	}
	if c.EstimateLimit > 0 {
		est, err := env.EstimateCost(ast, sizeBound(c.MaxSize))
		if err != nil {
			return &Compiled{Problem: "condition cost cannot be estimated: " + Clip(oneLine(err.Error()), 200)}
		}
		if est.Max > c.EstimateLimit {
			return &Compiled{Problem: fmt.Sprintf("condition may cost up to %s, over the limit of %d", costText(est.Max), c.EstimateLimit)}
		}
	}
	prg, err := env.Program(ast, cel.CostLimit(c.CostLimit))
	if err != nil {
		return &Compiled{Problem: "condition does not compile: " + Clip(oneLine(err.Error()), 200)}
	}
	return &Compiled{Program: prg}
}

// Eval evaluates expr with the variables vars. It returns an error when
// expr does not compile, the evaluation fails (a runtime error such as a
// division by zero, or the cost limit) or the result is not a bool;
// callers fail closed.
func (c *Compiler) Eval(expr string, vars map[string]any) (result bool, err error) {
	comp := c.Compile(expr)
	if comp.Program == nil {
		return false, fmt.Errorf("condition does not compile")
	}
	defer func() {
		if x := recover(); x != nil {
			result, err = false, fmt.Errorf("condition panicked: %v", x)
		}
	}()
	out, _, err := comp.Program.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("condition returned %s, not bool", out.Type())
	}
	return b, nil
}

// sizeBound is a CEL cost estimator that bounds every string and list
// whose size CEL does not know to max elements (64 when 0).
type sizeBound uint64

// EstimateSize implements checker.CostEstimator.
func (b sizeBound) EstimateSize(checker.AstNode) *checker.SizeEstimate {
	max := uint64(b)
	if max == 0 {
		max = 64
	}
	return &checker.SizeEstimate{Min: 0, Max: max}
}

// EstimateCallCost implements checker.CostEstimator: the default costs.
func (sizeBound) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// costText prints a cost estimate ("unbounded" for the checker's maximum).
func costText(c uint64) string {
	if c == math.MaxUint64 {
		return "an unbounded amount"
	}
	return strconv.FormatUint(c, 10)
}

// Clip shortens s to at most n bytes, on a rune boundary, marking the cut
// with "…".
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// oneLine replaces line breaks (CEL errors quote the source) with spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

package condition

import (
	"fmt"
	"strings"
	"testing"

	cc "carechain"

	"github.com/google/cel-go/cel"
)

// testCompiler has one variable x (an int) and a tiny cache.
var testCompiler = &Compiler{Op: "test.condition", MaxLen: 64, CostLimit: 100, MaxCached: 4,
	Env: func() (*cel.Env, error) { return cel.NewEnv(cel.Variable("x", cel.IntType)) }}

func TestCheck(t *testing.T) {
	tests := []struct {
		expr string
		kind cc.Kind // 0: valid
		msg  string
	}{
		{`x > 3`, 0, ""},
		{`x +`, cc.Invalid, "does not compile"},
		{`x + 1`, cc.Invalid, "type int, not bool"},
		{`y > 1`, cc.Invalid, "does not compile"},
		{strings.Repeat("x", 65), cc.Invalid, "longer than 64 bytes"},
		{"x > 1 \xff", cc.Invalid, "not UTF-8"},
		{`timestamp("2026-01-01T00:00:00Z").getHours("Europe/Paris") == 1`, cc.Invalid, "time zone"},
	}
	for _, tt := range tests {
		err := testCompiler.Check(tt.expr)
		if tt.kind == 0 {
			if err != nil {
				t.Errorf("Check(%q) = %v, want valid", tt.expr, err)
			}
			continue
		}
		if !cc.Is(tt.kind, err) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Check(%q) = %v, want %v mentioning %q", tt.expr, err, tt.kind, tt.msg)
		}
	}
}

func TestEval(t *testing.T) {
	tests := []struct {
		expr    string
		x       int64
		want    bool
		wantErr bool
	}{
		{`x > 3`, 4, true, false},
		{`x > 3`, 3, false, false},
		{`10 / x > 1`, 0, false, true}, // division by zero: an error, fail closed
		{`x +`, 1, false, true},
		{`[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, a*b*x > 0))`, 1, false, true}, // over the cost limit
	}
	for _, tt := range tests {
		got, err := testCompiler.Eval(tt.expr, map[string]any{"x": tt.x})
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("Eval(%q, x=%d) = %v, %v; want %v, error %v", tt.expr, tt.x, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCacheIsBounded(t *testing.T) {
	first := testCompiler.Compile(`x == 0`)
	if again := testCompiler.Compile(`x == 0`); again != first {
		t.Error("a cached compilation was compiled again")
	}
	for i := range 10 {
		testCompiler.Compile(fmt.Sprintf("x == %d", i))
	}
	testCompiler.mu.Lock()
	n := len(testCompiler.cache)
	testCompiler.mu.Unlock()
	if n > testCompiler.MaxCached {
		t.Errorf("cache holds %d compilations, limit %d", n, testCompiler.MaxCached)
	}
}

func TestClip(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{{"abc", 5, "abc"}, {"abcdef", 3, "abc…"}, {"aé", 2, "a…"}} {
		if got := Clip(tt.in, tt.n); got != tt.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

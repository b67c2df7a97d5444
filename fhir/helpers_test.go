package fhir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	cc "carechain"
)

// testdataDir returns ../shared/testdata beside the module root (the
// project's shared, unmodified public files), skipping the test when the
// repository was cloned without it.
func testdataDir(t testing.TB, elem ...string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the package directory")
		}
		dir = parent
	}
	p := filepath.Join(append([]string{dir, "..", "shared", "testdata"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared test data not found at %s (clone shared/ beside the module): %v", p, err)
	}
	return p
}

// bundleResources returns the resource of each entry of the bundle raw.
func bundleResources(t testing.TB, raw []byte) []json.RawMessage {
	t.Helper()
	var bundle struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(raw, &bundle); err != nil {
		t.Fatal(err)
	}
	out := make([]json.RawMessage, len(bundle.Entry))
	for i, e := range bundle.Entry {
		out[i] = e.Resource
	}
	return out
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t testing.TB, b []byte) *Resource {
	t.Helper()
	r, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return r
}

func mustParseBundle(t testing.TB, b []byte) *Bundle {
	t.Helper()
	bu, err := ParseBundle(b)
	if err != nil {
		t.Fatalf("ParseBundle: %v", err)
	}
	return bu
}

// mustOutcome asserts err is an *OutcomeError of kind Invalid.
func mustOutcome(t testing.TB, err error) *OutcomeError {
	t.Helper()
	var oe *OutcomeError
	if !errors.As(err, &oe) {
		t.Fatalf("error %v (%T) is not an *OutcomeError", err, err)
	}
	if got := cc.KindOf(err); got != cc.Invalid {
		t.Fatalf("KindOf = %v, want invalid", got)
	}
	return oe
}

// expressions lists every issue location of an outcome.
func expressions(oe *OutcomeError) []string {
	var out []string
	for _, is := range oe.Issues {
		out = append(out, is.Expression...)
	}
	sort.Strings(out)
	return out
}

func hasExpression(oe *OutcomeError, want string) bool {
	for _, e := range expressions(oe) {
		if e == want {
			return true
		}
	}
	return false
}

// edit decodes JSON, applies f and re-encodes it.
func edit(t testing.TB, b []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// store is an in-memory resource store for Resolve: it assigns ids and
// answers lookups from the identifiers of what it holds.
type store struct {
	byIdent map[string]string // "Type|identifier" → id
	types   map[string]int    // created resources per type
	next    int
}

func newStore() *store {
	return &store{byIdent: map[string]string{}, types: map[string]int{}}
}

func (s *store) lookup(typ, ident string) (string, bool) {
	id, ok := s.byIdent[typ+"|"+ident]
	return id, ok
}

func (s *store) newID(typ string) string {
	s.next++
	return fmt.Sprintf("%s-%d", strings.ToLower(typ), s.next)
}

// load resolves a bundle against the store and keeps what it creates,
// returning the number of created resources per type.
func (s *store) load(t testing.TB, b *Bundle) (*Resolved, map[string]int) {
	t.Helper()
	res, err := Resolve(b, s.lookup, s.newID)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	created := map[string]int{}
	for _, e := range res.Entries {
		if e.Err != nil {
			t.Fatalf("entry %d: %v", e.Index, e.Err)
		}
		if e.Resource == nil || e.Existing {
			continue
		}
		created[e.Resource.Type]++
		s.types[e.Resource.Type]++
		for _, id := range e.Resource.Identifiers {
			s.byIdent[e.Resource.Type+"|"+id] = e.Resource.ID
		}
	}
	return res, created
}

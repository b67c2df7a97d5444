package store

import (
	"fmt"
	"testing"
)

// TestKeyFilterNoFalseNegatives: every added key is reported as possibly
// present, across several layers, and most keys never added are not.
func TestKeyFilterNoFalseNegatives(t *testing.T) {
	const least = 1 << 12
	f := newKeyFilterFrom(0, least)
	const n = (1 + layerGrowth + layerGrowth*layerGrowth) * least * 3 / 2 // several layers
	for i := range n {
		f.add(fmt.Sprintf("did/%d", i))
	}
	if got := len(f.layers); got < 3 {
		t.Fatalf("%d layers after %d keys, want several", got, n)
	}
	for i := range n {
		if k := fmt.Sprintf("did/%d", i); !f.mayHave(k) {
			t.Fatalf("added key %q reported absent", k)
		}
	}
	if rate := falsePositiveRate(f, 100_000); rate > 0.015 {
		t.Errorf("false-positive rate %.4f over %d layers, want ≤ 0.015", rate, len(f.layers))
	}
}

// TestKeyFilterAcrossReopen: a reopened store knows every committed key
// (the filter is rebuilt from Pebble) and answers absent keys correctly.
func TestKeyFilterAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s := MustOpen(t, dir)
	MustApply(t, s, set("a", "1"), set("b", "2"))
	MustApply(t, s, del("a"), set("c", ""))
	MustClose(t, s)
	s = MustOpen(t, dir)
	defer MustClose(t, s)
	for _, c := range []struct {
		key     string
		present bool
		value   string
	}{
		{"a", false, ""}, {"b", true, "2"}, {"c", true, ""}, {"d", false, ""},
	} {
		got, err := s.Committed().Get(c.key)
		if err != nil {
			t.Fatal(err)
		}
		if (got != nil) != c.present || string(got) != c.value {
			t.Errorf("after reopen, Get(%q) = %q (present %v), want %q (present %v)", c.key, got, got != nil, c.value, c.present)
		}
	}
	MustApply(t, s, set("d", "4"))
	if got, _ := s.Committed().Get("d"); string(got) != "4" {
		t.Errorf("a key created after reopen: Get = %q, want 4", got)
	}
}

// TestKeyFilterLayerFalsePositives: one full blocked layer keeps its
// false-positive rate near the 0.1 % target (blocking costs a little: it
// is about 0.3 %).
func TestKeyFilterLayerFalsePositives(t *testing.T) {
	const least = 1 << 16
	f := newKeyFilterFrom(least, least)
	for i := range least {
		f.add(fmt.Sprintf("did/%d", i))
	}
	if got := len(f.layers); got != 1 {
		t.Fatalf("%d layers after %d keys, want 1", got, least)
	}
	if rate := falsePositiveRate(f, 200_000); rate > 0.005 {
		t.Errorf("false-positive rate of a full layer %.4f, want ≤ 0.005", rate)
	}
}

// falsePositiveRate returns the share of probes keys never added
// ("seq/<i>"; the tests add "did/<i>") that f reports as possibly present.
func falsePositiveRate(f *keyFilter, probes int) float64 {
	fp := 0
	for i := range probes {
		if f.mayHave(fmt.Sprintf("seq/%d", i)) {
			fp++
		}
	}
	return float64(fp) / float64(probes)
}

package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"carechain/node"
)

// block makes the phases of height h proposed at ms after t0 with the
// process at cpu ms of CPU, its stages lasting d[0..3] ms with c[0..3] ms
// of CPU each.
func block(t0 time.Time, h int64, at, cpu0, txs int, d, c [4]int) node.BlockPhases {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	b := node.BlockPhases{Height: h, Txs: txs, Mempool: txs + 100, Proposed: t0.Add(ms(at)), ProposedCPU: ms(cpu0)}
	ts := []*time.Time{&b.FinalizeStart, &b.FinalizeEnd, &b.CommitStart, &b.CommitEnd}
	cs := []*time.Duration{&b.FinalizeStartCPU, &b.FinalizeEndCPU, &b.CommitStartCPU, &b.CommitEndCPU}
	t, cpu := b.Proposed, b.ProposedCPU
	for i := range ts {
		t, cpu = t.Add(ms(d[i])), cpu+ms(c[i])
		*ts[i], *cs[i] = t, cpu
	}
	return b
}

func TestSummarizePhases(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	ps := []node.BlockPhases{
		block(t0, 1, -300, 0, 999, [4]int{1, 1, 1, 1}, [4]int{1, 1, 1, 1}),             // before the window
		block(t0, 2, 0, 1000, 1000, [4]int{100, 80, 20, 40}, [4]int{100, 160, 40, 40}), // ends at 240 ms, 1340 ms CPU
		block(t0, 3, 300, 1460, 3000, [4]int{60, 40, 20, 20}, [4]int{60, 80, 40, 20}),  // last in the window, no next in ps
		{Height: 4, FinalizeStart: t0.Add(time.Second)},                                // replayed: never proposed here
	}
	// Block 3's "next" stage needs block 4's proposal: none, so only block 2
	// counts there (300 − 240 = 60 ms; CPU 1460 − 1340 = 120 ms: 2 cores).
	got := SummarizePhases(ps, t0, t0.Add(time.Second))
	if got.Blocks != 2 || got.Txs != 2000 || got.Mempool != 2100 {
		t.Fatalf("blocks %d, txs %.0f, mempool %.0f; want 2, 2000, 2100", got.Blocks, got.Txs, got.Mempool)
	}
	want := []struct {
		name  string
		mean  time.Duration
		cores float64
	}{
		{"consensus", 80 * time.Millisecond, 1},
		{"execute", 60 * time.Millisecond, 2},
		{"to commit", 20 * time.Millisecond, 2},
		{"commit", 30 * time.Millisecond, 1},
		{"next", 60 * time.Millisecond, 2},
	}
	if len(got.Stages) != len(want) {
		t.Fatalf("%d stages, want %d", len(got.Stages), len(want))
	}
	for i, w := range want {
		s := got.Stages[i]
		if s.Name != w.name || s.Mean != w.mean || s.Cores < w.cores-1e-9 || s.Cores > w.cores+1e-9 {
			t.Errorf("stage %d = %s %v %.3f cores, want %s %v %.3f", i, s.Name, s.Mean, s.Cores, w.name, w.mean, w.cores)
		}
	}
	var out bytes.Buffer
	got.Print(&out)
	for _, s := range []string{"2 blocks proposed in the window: 2000 txs/block, mempool 2100", "consensus", "80.0 ms  1.00 cores", "commit"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("printed summary lacks %q:\n%s", s, out.String())
		}
	}
	if got := SummarizePhases(ps, t0.Add(time.Hour), t0.Add(2*time.Hour)); got.Blocks != 0 || len(got.Stages) != 0 {
		t.Errorf("empty window: %+v", got)
	}
	var none bytes.Buffer
	Phases{}.Print(&none)
	if none.Len() != 0 {
		t.Errorf("an empty summary printed %q", none.String())
	}
}

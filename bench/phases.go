package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"carechain/node"
)

// Phases summarizes where a node's blocks spent their time (see
// node.BlockPhases): the mean of each stage over the blocks proposed in a
// window, with the cores the whole process used meanwhile. It shows what
// bounds a saturated single validator: consensus that waits on disk
// (cores well under the machine's while the mempool is full), execution,
// or a commit that holds the mempool (no CheckTx runs then).
type Phases struct {
	Blocks  int
	Txs     float64 // mean transactions per block
	Mempool float64 // mean mempool size at the proposal (the block's transactions included)
	Stages  []Stage
}

// Stage is one stage's mean duration per block (over the blocks it was
// measured on: "next" needs the following block's proposal) and the cores
// the process used during it.
type Stage struct {
	Name, What string
	Mean       time.Duration
	Cores      float64
}

// SummarizePhases summarizes the blocks of ps proposed in [from, to) that
// went through every stage on this node, with the next block's proposal
// where it is in ps (for the time between a commit and the next proposal).
func SummarizePhases(ps []node.BlockPhases, from, to time.Time) Phases {
	type acc struct {
		d, cpu time.Duration
		n      int // blocks measured
	}
	type mark struct {
		t time.Time
		c time.Duration
	}
	names := []struct{ name, what string }{
		{"consensus", "proposal → FinalizeBlock (parts, votes, WAL, block store)"},
		{"execute", "FinalizeBlock"},
		{"to commit", "FinalizeBlock's end → Commit (state saved, results)"},
		{"commit", "Commit (the mempool is locked: no CheckTx)"},
		{"next", "Commit's end → next proposal (mempool update, timeout_commit)"},
	}
	sums := make([]acc, len(names))
	var out Phases
	var mempool, txs int
	for i, b := range ps {
		if b.Proposed.IsZero() || b.Proposed.Before(from) || !b.Proposed.Before(to) || b.CommitEnd.IsZero() {
			continue
		}
		out.Blocks++
		txs += b.Txs
		mempool += b.Mempool
		marks := []mark{{b.Proposed, b.ProposedCPU}, {b.FinalizeStart, b.FinalizeStartCPU}, {b.FinalizeEnd, b.FinalizeEndCPU},
			{b.CommitStart, b.CommitStartCPU}, {b.CommitEnd, b.CommitEndCPU}}
		if i+1 < len(ps) && ps[i+1].Height == b.Height+1 && !ps[i+1].Proposed.IsZero() {
			marks = append(marks, mark{ps[i+1].Proposed, ps[i+1].ProposedCPU})
		}
		for j := 1; j < len(marks); j++ {
			sums[j-1].d += marks[j].t.Sub(marks[j-1].t)
			sums[j-1].cpu += marks[j].c - marks[j-1].c
			sums[j-1].n++
		}
	}
	if out.Blocks == 0 {
		return out
	}
	out.Txs = float64(txs) / float64(out.Blocks)
	out.Mempool = float64(mempool) / float64(out.Blocks)
	for i, n := range names {
		st := Stage{Name: n.name, What: n.what}
		if sums[i].n > 0 {
			st.Mean = sums[i].d / time.Duration(sums[i].n)
		}
		if sums[i].d > 0 {
			st.Cores = float64(sums[i].cpu) / float64(sums[i].d)
		}
		out.Stages = append(out.Stages, st)
	}
	return out
}

// Print writes the summary, one line per stage.
func (p Phases) Print(w io.Writer) {
	if p.Blocks == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "block phases\t%d blocks proposed in the window: %.0f txs/block, mempool %.0f at the proposal; mean per block, cores used by the process meanwhile\n",
		p.Blocks, p.Txs, p.Mempool)
	for _, s := range p.Stages {
		fmt.Fprintf(tw, "  %s\t%6.1f ms  %.2f cores\t%s\n", s.Name, float64(s.Mean)/float64(time.Millisecond), s.Cores, s.What)
	}
	tw.Flush()
}

package node

import (
	"context"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	mempl "github.com/cometbft/cometbft/mempool"
	"github.com/cometbft/cometbft/types"
)

// TestBlockPhasesRecorded drives proposalApp through two heights as
// CometBFT does (a proposal, a second round's proposal, FinalizeBlock,
// Commit) and checks what the phase log keeps of each.
func TestBlockPhasesRecorded(t *testing.T) {
	fm := &fakeMempool{txs: types.Txs{types.Tx("a=1"), types.Tx("b=2"), types.Tx("c=3")}}
	var mi mempl.Mempool = fm
	pa := &proposalApp{Application: abci.NewBaseApplication()}
	pa.mempool.Store(&mi)
	ctx := context.Background()

	// Start-up replay: a Commit with no FinalizeBlock seen is not a block.
	if _, err := pa.Commit(ctx, &abci.CommitRequest{}); err != nil {
		t.Fatal(err)
	}
	for h := int64(1); h <= 2; h++ {
		if h == 1 {
			if _, err := pa.PrepareProposal(ctx, &abci.PrepareProposalRequest{Height: h, MaxTxBytes: -1}); err != nil {
				t.Fatal(err)
			}
			fm.mu.Lock()
			fm.txs = append(fm.txs, types.Tx("d=4")) // arrives before round 1
			fm.mu.Unlock()
			if _, err := pa.ProcessProposal(ctx, &abci.ProcessProposalRequest{Height: h}); err != nil {
				t.Fatal(err)
			}
		} else if _, err := pa.ProcessProposal(ctx, &abci.ProcessProposalRequest{Height: h}); err != nil {
			t.Fatal(err)
		}
		if _, err := pa.FinalizeBlock(ctx, &abci.FinalizeBlockRequest{Height: h, Txs: [][]byte{[]byte("a=1"), []byte("b=2")}}); err != nil {
			t.Fatal(err)
		}
		if _, err := pa.Commit(ctx, &abci.CommitRequest{}); err != nil {
			t.Fatal(err)
		}
	}

	got := pa.phases.since(0)
	if len(got) != 2 {
		t.Fatalf("kept %d blocks, want 2: %+v", len(got), got)
	}
	for i, b := range got {
		if want := int64(i + 1); b.Height != want {
			t.Errorf("block %d: height %d, want %d", i, b.Height, want)
		}
		if b.Txs != 2 {
			t.Errorf("height %d: %d txs, want 2", b.Height, b.Txs)
		}
		marks := []struct {
			name string
			at   int64
		}{{"proposed", b.Proposed.UnixNano()}, {"finalize start", b.FinalizeStart.UnixNano()}, {"finalize end", b.FinalizeEnd.UnixNano()},
			{"commit start", b.CommitStart.UnixNano()}, {"commit end", b.CommitEnd.UnixNano()}}
		for j := 1; j < len(marks); j++ {
			if marks[j].at < marks[j-1].at || b.Proposed.IsZero() {
				t.Errorf("height %d: %s at %d before %s at %d", b.Height, marks[j].name, marks[j].at, marks[j-1].name, marks[j-1].at)
			}
		}
		st := b.Stages()
		if len(st) != 3 || st["consensus"] != b.FinalizeStart.Sub(b.Proposed) || st["execute"] != b.FinalizeEnd.Sub(b.FinalizeStart) || st["commit"] != b.CommitEnd.Sub(b.CommitStart) {
			t.Errorf("height %d: Stages() = %v", b.Height, st)
		}
		if b.CommitEndCPU < b.ProposedCPU {
			t.Errorf("height %d: process CPU went back from %v to %v", b.Height, b.ProposedCPU, b.CommitEndCPU)
		}
	}
	// Height 1 keeps its first proposal's mempool size (3), not round 1's (4).
	if got, want := got[0].Mempool, 3; got != want {
		t.Errorf("height 1: mempool %d at the proposal, want %d (the first round's)", got, want)
	}
	if got, want := got[1].Mempool, 2; got != want { // a=1 and b=2 left with height 1
		t.Errorf("height 2: mempool %d at the proposal, want %d", got, want)
	}
	if got := pa.phases.since(2); len(got) != 1 || got[0].Height != 2 {
		t.Errorf("since(2) = %+v, want height 2 only", got)
	}
}

// TestPhaseLogKeepsTheLast checks the ring: past phaseKeep blocks the
// oldest go, and the rest stay in height order.
func TestPhaseLogKeepsTheLast(t *testing.T) {
	var l phaseLog
	const n = phaseKeep + 10
	for h := int64(1); h <= n; h++ {
		l.mark(stageFinalizeStart, h, int(h), 0)
		l.mark(stageFinalizeEnd, h, 0, 0)
		l.mark(stageCommitStart, 0, 0, 0)
		l.mark(stageCommitEnd, 0, 0, 0)
	}
	got := l.since(0)
	if st := got[0].Stages(); len(st) != 2 || st["consensus"] != 0 {
		t.Errorf("a block never proposed here: Stages() = %v, want execute and commit only", st)
	}
	if len(got) != phaseKeep {
		t.Fatalf("kept %d, want %d", len(got), phaseKeep)
	}
	for i, b := range got {
		if want := int64(n - phaseKeep + 1 + i); b.Height != want || b.Txs != int(want) {
			t.Fatalf("kept[%d] = height %d (%d txs), want %d", i, b.Height, b.Txs, want)
		}
	}
}

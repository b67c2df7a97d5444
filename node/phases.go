package node

import (
	"sync"
	"syscall"
	"time"
)

// BlockPhases is when one height went through the application's stages on
// this node, and how much CPU the whole process had used by then: the
// proposal (PrepareProposal on the proposer, ProcessProposal elsewhere;
// the first one of the height), FinalizeBlock's start and end, Commit's
// start and end. From one height's proposal to its FinalizeBlock CometBFT
// runs consensus (the proposal's parts, votes, the write-ahead log, the
// block store); the time from Commit's end to the next proposal holds the
// mempool's update and recheck and timeout_commit. CPU is the process's
// user+system time (zero where the platform does not report it); the
// difference between two marks over their interval is the cores used in
// between, by every goroutine (submitters included), not only the stage's.
type BlockPhases struct {
	Height int64
	Txs    int // transactions in the block
	// Mempool is the number of transactions the mempool held when the
	// proposal was made (the block's included).
	Mempool int

	Proposed, FinalizeStart, FinalizeEnd, CommitStart, CommitEnd                time.Time
	ProposedCPU, FinalizeStartCPU, FinalizeEndCPU, CommitStartCPU, CommitEndCPU time.Duration
}

// Stages returns how long the block spent in each stage on this node:
// "consensus" (proposal → FinalizeBlock; absent for a block replayed at
// start-up, never proposed here), "execute" (FinalizeBlock) and "commit"
// (Commit).
func (b BlockPhases) Stages() map[string]time.Duration {
	s := map[string]time.Duration{
		"execute": b.FinalizeEnd.Sub(b.FinalizeStart),
		"commit":  b.CommitEnd.Sub(b.CommitStart),
	}
	if !b.Proposed.IsZero() {
		s["consensus"] = b.FinalizeStart.Sub(b.Proposed)
	}
	return s
}

// phaseLog keeps the phases of the last phaseKeep heights.
type phaseLog struct {
	mu     sync.Mutex
	blocks []BlockPhases // ring, in height order from start
	start  int
	cur    *BlockPhases // the height in progress (proposed, not committed)
}

const phaseKeep = 4096

// mark records stage now for height h (0: the height in progress).
func (l *phaseLog) mark(stage phaseStage, h int64, txs, mempool int) {
	now, cpu := time.Now(), ProcessCPU()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil || (h != 0 && l.cur.Height != h) {
		if stage != stageProposed && stage != stageFinalizeStart {
			return // a Commit without a FinalizeBlock seen (replay at start-up)
		}
		l.cur = &BlockPhases{Height: h}
	}
	b := l.cur
	switch stage {
	case stageProposed:
		if !b.Proposed.IsZero() {
			return // a later round of the same height: keep the first
		}
		b.Proposed, b.ProposedCPU, b.Mempool = now, cpu, mempool
	case stageFinalizeStart:
		b.FinalizeStart, b.FinalizeStartCPU, b.Txs = now, cpu, txs
	case stageFinalizeEnd:
		b.FinalizeEnd, b.FinalizeEndCPU = now, cpu
	case stageCommitStart:
		b.CommitStart, b.CommitStartCPU = now, cpu
	case stageCommitEnd:
		b.CommitEnd, b.CommitEndCPU = now, cpu
		l.push(*b)
		l.cur = nil
	}
}

func (l *phaseLog) push(b BlockPhases) {
	if len(l.blocks) < phaseKeep {
		l.blocks = append(l.blocks, b)
		return
	}
	l.blocks[l.start] = b
	l.start = (l.start + 1) % phaseKeep
}

// since returns the kept phases of the committed heights ≥ from, in order.
func (l *phaseLog) since(from int64) []BlockPhases {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []BlockPhases
	for i := range l.blocks {
		b := l.blocks[(l.start+i)%len(l.blocks)]
		if b.Height >= from {
			out = append(out, b)
		}
	}
	return out
}

type phaseStage int

const (
	stageProposed phaseStage = iota
	stageFinalizeStart
	stageFinalizeEnd
	stageCommitStart
	stageCommitEnd
)

// BlockPhases returns the stage times of the committed heights ≥ from that
// this node still keeps (the last 4096), in height order.
func (n *Node) BlockPhases(from int64) []BlockPhases { return n.app.phases.since(from) }

// ProcessCPU is the CPU time this process has used (user + system).
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package ledger

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Stats counts what the App has done, for /metrics. Counters only; they
// never influence state.
type Stats struct {
	CommittedTx atomic.Uint64 // transactions committed with code 0
	FailedTx    atomic.Uint64 // transactions included in a block with a non-zero code
	Blocks      atomic.Uint64
	// KeptAdmissions counts Commits that kept the pending admissions (the
	// block was what CheckTx predicted); RechecksAnswered counts rechecks
	// answered from the admission log without executing (see mempoolState).
	KeptAdmissions   atomic.Uint64
	RechecksAnswered atomic.Uint64
	// KeptIndependent counts the Commits among KeptAdmissions whose block
	// was not the predicted one but left the other admissions unchanged
	// (mempoolState.independent), typically another proposer's block.
	KeptIndependent atomic.Uint64
	// Reused counts transactions whose admission FinalizeBlock reused
	// instead of executing them again (Config.TimeFree).
	Reused atomic.Uint64
	// Readmitted counts CheckTx executions run again because a block was
	// proposed while they ran (App.admit).
	Readmitted atomic.Uint64
	// PreVerified counts the signatures PreVerify checked (in batches,
	// before CheckTx).
	PreVerified atomic.Uint64
	mu          sync.Mutex
	rejected    map[uint32]uint64 // by code, CheckTx and FinalizeBlock
}

func newStats() *Stats { return &Stats{rejected: map[uint32]uint64{}} }

func (s *Stats) reject(code uint32) {
	s.mu.Lock()
	s.rejected[code]++
	s.mu.Unlock()
}

func (s *Stats) committed(run *blockRun) {
	s.Blocks.Add(1)
	for _, o := range run.outcomes {
		if o.Code == 0 {
			s.CommittedTx.Add(1)
		} else {
			s.FailedTx.Add(1)
			s.reject(o.Code)
		}
	}
}

// CodeCount is a rejection count for one ABCI code.
type CodeCount struct {
	Code  uint32
	Count uint64
}

// Rejected returns rejection counts by code, sorted by code.
func (s *Stats) Rejected() []CodeCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CodeCount, 0, len(s.rejected))
	for c, n := range s.rejected {
		out = append(out, CodeCount{c, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

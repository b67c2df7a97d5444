package store

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"

	cc "carechain"
)

// applier writes committed blocks to Pebble, in the background once the
// store is given a writer (SetWriter).
//
// Commit makes a block the committed state at once — readers see its
// writes through the applying block until Pebble has them — and hands the
// write of its batch (synced) to the writer. A node's Commit runs with
// CometBFT's mempool locked (no CheckTx), and writing a block of thousands
// of transactions (its memtable inserts and the WAL's sync, tens of
// milliseconds) held the lock for most of that time; in the background it
// runs beside CheckTx. Blocks are written one at a time, in height order:
// the next FinalizeBlock or Commit, and every read that goes to Pebble for
// more than one key's state value (BlockMeta, BlockWrites, proofs, Iterate,
// the digest), first waits for the write in progress.
//
// A crash before the write is over leaves the store at the previous height,
// whole (a batch is atomic), as a crash just before Commit would: at
// start-up the node reports that height, and CometBFT replays the missing
// blocks from its own block store (its handshake replays whatever the
// application lacks). No committed block is lost.
type applier struct {
	applying atomic.Pointer[stagedBlock] // the block being written, nil if none

	mu      sync.Mutex
	run     func(write func()) // nil: Commit writes the block itself
	applied chan struct{}      // closed when the last write started is over
	err     error              // the first write that failed; every later block fails with it
}

// SetWriter makes Commit hand each block's write to run, which must call
// write exactly once, on another goroutine for the write to run beside
// what follows Commit: a node passes func(w func()) { go w() }. Without a
// writer, Commit writes the block before it returns. The store starts no
// goroutine itself (it is on the consensus path, see ledger's
// TestDeterministicPackages); what the write does is the same either way.
func (s *Store) SetWriter(run func(write func())) {
	s.ap.mu.Lock()
	s.ap.run = run
	s.ap.mu.Unlock()
}

// startApply makes st the applying block and has it written to Pebble.
// The caller holds bmu and has waited for the previous write.
func (s *Store) startApply(st *stagedBlock) {
	done := make(chan struct{})
	s.ap.mu.Lock()
	s.ap.applied = done
	run := s.ap.run
	s.ap.mu.Unlock()
	s.ap.applying.Store(st)
	write := func() {
		err := st.batch.Commit(pebble.Sync)
		s.reads.end(err == nil)
		// spare belongs to the block lifecycle, which reads it only after
		// waitApplied (FinalizeBlock, Close): closing done orders this.
		if err == nil {
			st.batch.Reset() // keeps its buffer for the next block (blockBatch)
			s.spare = st.batch
		} else {
			st.batch.Close()
		}
		s.ap.mu.Lock()
		if err != nil && s.ap.err == nil {
			s.ap.err = err
		}
		s.ap.mu.Unlock()
		s.ap.applying.Store(nil)
		close(done)
	}
	if run == nil {
		write()
		return
	}
	run(write)
}

// waitApplied waits until the committed blocks are written to Pebble and
// returns the error of a write that failed, if one did: the store's memory
// is then ahead of its disk, and the node must restart (and replay).
func (s *Store) waitApplied() error {
	s.ap.mu.Lock()
	done := s.ap.applied
	s.ap.mu.Unlock()
	if done != nil {
		<-done
	}
	s.ap.mu.Lock()
	defer s.ap.mu.Unlock()
	if s.ap.err != nil {
		return cc.Errorf("store.apply", cc.Internal, "writing a committed block to disk failed (restart the node: it replays the block): %v", s.ap.err)
	}
	return nil
}

// applyingValue returns key's value in the block being written, if it
// writes key: present is false for a deletion.
func (s *Store) applyingValue(key string) (value []byte, present, ok bool) {
	st := s.ap.applying.Load()
	if st == nil {
		return nil, false, false
	}
	i, found := slices.BinarySearchFunc(st.writes, key, func(w Write, k string) int { return strings.Compare(w.Key, k) })
	if !found {
		return nil, false, false
	}
	w := st.writes[i]
	return w.Value, !w.Deleted, true
}

// Durable waits until every committed block is written to disk and synced,
// and returns the error of a write that failed.
func (s *Store) Durable() error {
	if !s.acquire() {
		return errClosed("store.Durable")
	}
	defer s.release()
	return s.waitApplied()
}

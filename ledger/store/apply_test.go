package store

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// holdApply gives s a background writer whose writes wait until the
// returned channel is closed.
func holdApply(s *Store) chan struct{} {
	gate := make(chan struct{})
	s.SetWriter(func(write func()) {
		go func() {
			<-gate
			write()
		}()
	})
	return gate
}

// notYet reports whether ch is still open after a short while: what waits
// for the held write must not have finished.
func notYet(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return false
	case <-time.After(50 * time.Millisecond):
		return true
	}
}

// TestApplyingBlockIsRead checks what readers see between Commit and the
// end of the block's write: the block's values and deletions at once (Get),
// while what reads Pebble beyond one value (Iterate, BlockMeta, proofs,
// the next FinalizeBlock) waits for the write.
func TestApplyingBlockIsRead(t *testing.T) {
	s := MustOpenMem(t)
	MustApply(t, s, set("a", "1"), set("b", "1"), set("c", "1"))
	gate := holdApply(s)
	apply(s.Working(), []Write{set("a", "2"), del("b"), set("d", "2")})
	app2, err := s.FinalizeBlock(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := s.LastHeight(); got != 2 {
		t.Fatalf("LastHeight() = %d right after Commit, want 2", got)
	}
	for _, c := range []struct {
		key, want string
		present   bool
	}{{"a", "2", true}, {"b", "", false}, {"c", "1", true}, {"d", "2", true}, {"e", "", false}} {
		got, ok := MustGet(t, s.Committed(), c.key)
		if got != c.want || ok != c.present {
			t.Errorf("Get(%q) while the block is written = %q (present %v), want %q (%v)", c.key, got, ok, c.want, c.present)
		}
	}

	var state []kvPair
	iterated := make(chan struct{})
	go func() {
		state = MustCollect(t, s.Committed(), "", 0)
		close(iterated)
	}()
	var meta *BlockMeta
	metaDone := make(chan struct{})
	go func() {
		meta, _ = s.BlockMeta(2)
		close(metaDone)
	}()
	if !notYet(iterated) || !notYet(metaDone) {
		t.Fatal("Iterate or BlockMeta returned before the block was written")
	}
	close(gate)
	<-iterated
	<-metaDone
	if want := []kvPair{{"a", "2"}, {"c", "1"}, {"d", "2"}}; !slices.Equal(state, want) {
		t.Errorf("Iterate = %v, want %v", state, want)
	}
	if meta == nil || !bytes.Equal(meta.AppHash, app2) {
		t.Errorf("BlockMeta(2) = %+v, want AppHash %x", meta, app2)
	}
	if err := s.VerifyState(); err != nil {
		t.Error(err)
	}
	// Once written, Get answers from Pebble (and the read cache) the same.
	if got, ok := MustGet(t, s.Committed(), "b"); ok {
		t.Errorf("Get(b) after the write = %q, want absent", got)
	}
}

// TestNextBlockWaitsForWrite: a block executes over the applying block's
// state and its FinalizeBlock waits for that block's write, so its AppHash
// is the one a store that wrote synchronously computes.
func TestNextBlockWaitsForWrite(t *testing.T) {
	held, plain := MustOpenMem(t), MustOpenMem(t)
	for _, s := range []*Store{held, plain} {
		MustApply(t, s, set("a", "1"))
	}
	gate := holdApply(held)
	for _, s := range []*Store{held, plain} {
		apply(s.Working(), []Write{set("a", "2"), set("b", "2")})
		if _, err := s.FinalizeBlock(2); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := plain.Durable(); err != nil {
		t.Fatal(err)
	}
	// Block 3 reads block 2's values while block 2 is still being written.
	for _, s := range []*Store{held, plain} {
		w := s.Working()
		v, err := w.Get("b")
		if err != nil || string(v) != "2" {
			t.Fatalf("block 3 reads b = %q, %v; want 2", v, err)
		}
		w.Set("c", append(v, '3'))
		w.Delete("a")
	}
	var app3Held []byte
	finalized := make(chan struct{})
	go func() {
		app3Held, _ = held.FinalizeBlock(3)
		close(finalized)
	}()
	if !notYet(finalized) {
		t.Fatal("FinalizeBlock(3) returned before block 2 was written")
	}
	close(gate)
	<-finalized
	app3, err := plain.FinalizeBlock(3)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(app3Held, app3) {
		t.Errorf("AppHash(3) = %x with block 2 written in the background, %x without", app3Held, app3)
	}
}

// TestReplayAfterLostApply is what a node does after a crash between
// Commit and the block's write: the store reopens at the previous height,
// and executing the block again (CometBFT replays it from its block store)
// gives the same AppHash and state as before the crash.
func TestReplayAfterLostApply(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s, err := OpenFS("db", fs)
	if err != nil {
		t.Fatal(err)
	}
	block2 := []Write{set("a", "2"), del("b"), set("c", "2")}
	MustApply(t, s, set("a", "1"), set("b", "1"))
	gate := holdApply(s)
	apply(s.Working(), block2)
	app2, err := s.FinalizeBlock(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	close(gate)
	MustClose(t, s)

	r, err := OpenFS("db", crashed)
	if err != nil {
		t.Fatal(err)
	}
	defer MustClose(t, r)
	if got := r.LastHeight(); got != 1 {
		t.Fatalf("reopened at height %d, want 1 (block 2 was not written)", got)
	}
	if got := MustApply(t, r, block2...); !bytes.Equal(got, app2) {
		t.Errorf("replayed AppHash(2) = %x, want %x", got, app2)
	}
	MustAtHeight(t, r, 2, app2, []kvPair{{"a", "2"}, {"c", "2"}})
}

package store

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	cc "carechain"
)

// MustOpenMem opens an in-memory store closed at the end of the test.
func MustOpenMem(t testing.TB) *Store {
	t.Helper()
	s, err := OpenInMemory()
	if err != nil {
		t.Fatalf("OpenInMemory: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// MustOpen opens the store in dir; the caller closes it.
func MustOpen(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

// MustClose closes s.
func MustClose(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// MustCommit finalizes and commits the working overlay as the next block
// and returns its AppHash.
func MustCommit(t testing.TB, s *Store) []byte {
	t.Helper()
	h := s.LastHeight() + 1
	app, err := s.FinalizeBlock(h)
	if err != nil {
		t.Fatalf("FinalizeBlock(%d): %v", h, err)
	}
	if err := s.Commit(); err != nil {
		t.Fatalf("Commit(%d): %v", h, err)
	}
	if got := s.LastAppHash(); !bytes.Equal(got, app) {
		t.Fatalf("LastAppHash() = %x, FinalizeBlock returned %x", got, app)
	}
	return app
}

// MustApply writes ws into the working overlay and commits them as the next
// block, returning its AppHash.
func MustApply(t testing.TB, s *Store, ws ...Write) []byte {
	t.Helper()
	apply(s.Working(), ws)
	return MustCommit(t, s)
}

func apply(kv cc.KV, ws []Write) {
	for _, w := range ws {
		if w.Deleted {
			kv.Delete(w.Key)
		} else {
			kv.Set(w.Key, w.Value)
		}
	}
}

func set(k, v string) Write { return Write{Key: k, Value: []byte(v)} }
func del(k string) Write    { return Write{Key: k, Deleted: true} }

// MustKind fails unless err has kind want.
func MustKind(t testing.TB, err error, want cc.Kind) {
	t.Helper()
	if got := cc.KindOf(err); got != want {
		t.Fatalf("error %v has kind %v, want %v", err, got, want)
	}
}

func TestFinalizeCommitRoundTrip(t *testing.T) {
	s := MustOpenMem(t)
	if got := s.LastHeight(); got != 0 {
		t.Fatalf("fresh LastHeight() = %d, want 0", got)
	}
	if got := s.LastAppHash(); len(got) != 0 {
		t.Fatalf("fresh LastAppHash() = %x, want empty", got)
	}
	w := s.Working()
	apply(w, []Write{set("a", "1"), set("b", "2"), set("c", "3")})
	if _, ok := MustGet(t, s.Committed(), "a"); ok {
		t.Fatalf("committed state shows a working write")
	}
	app1, err := s.FinalizeBlock(1)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.LastHeight(); got != 0 {
		t.Fatalf("LastHeight() after FinalizeBlock = %d, want 0 until Commit", got)
	}
	if _, ok := MustGet(t, s.Committed(), "a"); ok {
		t.Fatalf("committed state shows a staged write")
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, want := MustCollect(t, s.Committed(), "", 0), []kvPair{{"a", "1"}, {"b", "2"}, {"c", "3"}}; !slices.Equal(got, want) {
		t.Errorf("committed = %v, want %v", got, want)
	}
	if w.Len() != 0 || s.Working() != w {
		t.Errorf("working overlay not reset in place after Commit")
	}
	app2 := MustApply(t, s, set("b", "22"), del("c"), del("never"))
	if bytes.Equal(app1, app2) {
		t.Errorf("AppHash did not change between blocks")
	}
	if got, want := MustCollect(t, s.Committed(), "", 0), []kvPair{{"a", "1"}, {"b", "22"}}; !slices.Equal(got, want) {
		t.Errorf("committed = %v, want %v", got, want)
	}
	m, err := s.BlockMeta(2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.PrevAppHash, app1) || !bytes.Equal(m.AppHash, app2) || m.NumWrites != 3 || m.Height != 2 {
		t.Errorf("BlockMeta(2) = %+v", m)
	}
	if want := ComputeAppHash(m.PrevAppHash, m.WritesRoot, m.StateDigest); !bytes.Equal(m.AppHash, want) {
		t.Errorf("BlockMeta(2).AppHash does not match its parts")
	}
	ws, err := s.BlockWrites(2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Write{set("b", "22"), del("c"), del("never")}; !equalWrites(ws, want) {
		t.Errorf("BlockWrites(2) = %v, want %v", ws, want)
	}
	for _, h := range []int64{0, 3, -1} {
		if _, err := s.BlockMeta(h); cc.KindOf(err) != cc.NotFound {
			t.Errorf("BlockMeta(%d) error = %v, want NotFound", h, err)
		}
		if _, err := s.BlockWrites(h); cc.KindOf(err) != cc.NotFound {
			t.Errorf("BlockWrites(%d) error = %v, want NotFound", h, err)
		}
	}
}

func TestEmptyBlock(t *testing.T) {
	s := MustOpenMem(t)
	app := MustCommit(t, s)
	m, err := s.BlockMeta(1)
	if err != nil {
		t.Fatal(err)
	}
	emptyRoot := []byte{0xe3, 0xb0, 0xc4, 0x42} // SHA256("") as the merkle library defines the empty root
	if !bytes.HasPrefix(m.WritesRoot, emptyRoot) || m.NumWrites != 0 {
		t.Errorf("empty block meta = %+v", m)
	}
	if !bytes.Equal(m.StateDigest, make([]byte, 32)) {
		t.Errorf("empty state digest = %x, want zero", m.StateDigest)
	}
	if want := ComputeAppHash(nil, m.WritesRoot, m.StateDigest); !bytes.Equal(app, want) {
		t.Errorf("AppHash = %x, want %x", app, want)
	}
}

func TestFinalizeBlockPreconditions(t *testing.T) {
	s := MustOpenMem(t)
	MustApply(t, s, set("a", "1"))
	cases := []struct {
		name string
		run  func() error
	}{
		{"commit without finalize", s.Commit},
		{"height too high", func() error { _, err := s.FinalizeBlock(3); return err }},
		{"height already committed", func() error { _, err := s.FinalizeBlock(1); return err }},
		{"finalize twice", func() error {
			if _, err := s.FinalizeBlock(2); err != nil {
				return err
			}
			_, err := s.FinalizeBlock(2)
			return err
		}},
		{"write after finalize", func() error {
			s.Working().Set("late", []byte("x"))
			return s.Commit()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			MustKind(t, c.run(), cc.FailedPrecondition)
		})
	}
	s.Rollback()
	if got := s.LastHeight(); got != 1 {
		t.Fatalf("LastHeight() = %d after failed attempts, want 1", got)
	}
	MustApply(t, s, set("b", "2"))
}

func TestRollbackDiscards(t *testing.T) {
	s := MustOpenMem(t)
	app1 := MustApply(t, s, set("a", "1"))
	s.Working().Set("a", []byte("changed"))
	s.Working().Set("b", []byte("new"))
	if _, err := s.FinalizeBlock(2); err != nil {
		t.Fatal(err)
	}
	s.Rollback()
	if got := s.Working().Len(); got != 0 {
		t.Errorf("working has %d writes after Rollback", got)
	}
	if got, _ := MustGet(t, s.Working(), "a"); got != "1" {
		t.Errorf("working Get(a) = %q after Rollback, want 1", got)
	}
	if s.LastHeight() != 1 || !bytes.Equal(s.LastAppHash(), app1) {
		t.Errorf("Rollback changed the committed summary")
	}
	// Re-executing block 2 differently is allowed and only its writes count.
	MustApply(t, s, set("c", "3"))
	if got, want := MustCollect(t, s.Committed(), "", 0), []kvPair{{"a", "1"}, {"c", "3"}}; !slices.Equal(got, want) {
		t.Errorf("committed = %v, want %v", got, want)
	}
}

func TestReopenFromDisk(t *testing.T) {
	dir := t.TempDir()
	s := MustOpen(t, dir)
	s.SetGenesisHash([]byte("genesis"))
	var apps [][]byte
	for h := range 3 {
		apps = append(apps, MustApply(t, s, set(fmt.Sprintf("k/%d", h), fmt.Sprint(h)), set("shared", fmt.Sprint(h))))
	}
	digest := s.StateDigest()
	MustClose(t, s)

	s = MustOpen(t, dir)
	defer MustClose(t, s)
	if got := s.LastHeight(); got != 3 {
		t.Errorf("LastHeight() = %d, want 3", got)
	}
	if got := s.LastAppHash(); !bytes.Equal(got, apps[2]) {
		t.Errorf("LastAppHash() = %x, want %x", got, apps[2])
	}
	if got := s.StateDigest(); !bytes.Equal(got, digest) {
		t.Errorf("StateDigest() = %x, want %x", got, digest)
	}
	want := []kvPair{{"k/0", "0"}, {"k/1", "1"}, {"k/2", "2"}, {"shared", "2"}}
	if got := MustCollect(t, s.Committed(), "", 0); !slices.Equal(got, want) {
		t.Errorf("state = %v, want %v", got, want)
	}
	m, err := s.BlockMeta(1)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.PrevAppHash) != "genesis" {
		t.Errorf("BlockMeta(1).PrevAppHash = %q, want genesis", m.PrevAppHash)
	}
	if err := s.VerifyState(); err != nil {
		t.Errorf("VerifyState: %v", err)
	}
	s.SetGenesisHash([]byte("ignored")) // fixed once a block is committed
	if got := s.LastAppHash(); !bytes.Equal(got, apps[2]) {
		t.Errorf("SetGenesisHash after block 3 changed LastAppHash")
	}
	app4 := MustApply(t, s, del("shared"))
	if m, _ := s.BlockMeta(4); !bytes.Equal(m.PrevAppHash, apps[2]) || !bytes.Equal(m.AppHash, app4) {
		t.Errorf("block 4 does not chain onto block 3")
	}
}

func TestGenesisHash(t *testing.T) {
	s := MustOpenMem(t)
	g := []byte{1, 2, 3}
	s.SetGenesisHash(g)
	g[0] = 9 // the store keeps its own copy
	if got := s.LastAppHash(); !bytes.Equal(got, []byte{1, 2, 3}) {
		t.Fatalf("LastAppHash() at height 0 = %x, want 010203", got)
	}
	MustApply(t, s, set("a", "1"))
	m, _ := s.BlockMeta(1)
	if !bytes.Equal(m.PrevAppHash, []byte{1, 2, 3}) {
		t.Errorf("PrevAppHash of block 1 = %x, want the genesis hash", m.PrevAppHash)
	}
}

// TestCrashSafety simulates power loss: only synced data survives. A block
// finalized but not committed is lost as a whole; a committed one is kept.
func TestCrashSafety(t *testing.T) {
	t.Run("close without commit", func(t *testing.T) {
		dir := t.TempDir()
		s := MustOpen(t, dir)
		app1 := MustApply(t, s, set("a", "1"))
		apply(s.Working(), []Write{set("a", "2"), set("b", "2")})
		if _, err := s.FinalizeBlock(2); err != nil {
			t.Fatal(err)
		}
		MustClose(t, s)
		s = MustOpen(t, dir)
		defer MustClose(t, s)
		MustAtHeight(t, s, 1, app1, []kvPair{{"a", "1"}})
	})
	t.Run("crash", func(t *testing.T) {
		fs := vfs.NewCrashableMem()
		s, err := OpenFS("db", fs)
		if err != nil {
			t.Fatal(err)
		}
		app1 := MustApply(t, s, set("a", "1"))
		afterCommit := fs.CrashClone(vfs.CrashCloneCfg{})
		apply(s.Working(), []Write{set("a", "2"), set("b", "2")})
		if _, err := s.FinalizeBlock(2); err != nil {
			t.Fatal(err)
		}
		afterFinalize := fs.CrashClone(vfs.CrashCloneCfg{})
		if err := s.Commit(); err != nil {
			t.Fatal(err)
		}
		app2 := s.LastAppHash()
		afterCommit2 := fs.CrashClone(vfs.CrashCloneCfg{})
		MustClose(t, s)

		for _, c := range []struct {
			name   string
			fs     *vfs.MemFS
			height int64
			app    []byte
			state  []kvPair
		}{
			{"after commit 1", afterCommit, 1, app1, []kvPair{{"a", "1"}}},
			{"after finalize 2", afterFinalize, 1, app1, []kvPair{{"a", "1"}}},
			{"after commit 2", afterCommit2, 2, app2, []kvPair{{"a", "2"}, {"b", "2"}}},
		} {
			t.Run(c.name, func(t *testing.T) {
				s, err := OpenFS("db", c.fs)
				if err != nil {
					t.Fatal(err)
				}
				defer MustClose(t, s)
				MustAtHeight(t, s, c.height, c.app, c.state)
			})
		}
	})
}

// MustAtHeight checks s's committed height, AppHash, state and digest.
func MustAtHeight(t testing.TB, s *Store, height int64, app []byte, state []kvPair) {
	t.Helper()
	if got := s.LastHeight(); got != height {
		t.Errorf("LastHeight() = %d, want %d", got, height)
	}
	if got := s.LastAppHash(); !bytes.Equal(got, app) {
		t.Errorf("LastAppHash() = %x, want %x", got, app)
	}
	if got := MustCollect(t, s.Committed(), "", 0); !slices.Equal(got, state) {
		t.Errorf("state = %v, want %v", got, state)
	}
	if err := s.VerifyState(); err != nil {
		t.Errorf("VerifyState: %v", err)
	}
	if _, err := s.BlockMeta(height + 1); cc.KindOf(err) != cc.NotFound {
		t.Errorf("BlockMeta(%d) = %v, want NotFound", height+1, err)
	}
}

// TestDeterminism feeds two stores the same blocks, one of them with each
// block's writes in a different order and with overwritten intermediate
// values, and compares the AppHash at every height.
func TestDeterminism(t *testing.T) {
	a, b := MustOpenMem(t), MustOpenMem(t)
	a.SetGenesisHash([]byte("g"))
	b.SetGenesisHash([]byte("g"))
	for h := 1; h <= 20; h++ {
		var ws []Write
		for i := range 15 {
			k := fmt.Sprintf("k/%02d", (h*7+i*3)%40)
			if (h+i)%5 == 0 {
				ws = append(ws, del(k))
			} else {
				ws = append(ws, set(k, fmt.Sprintf("v%d.%d", h, i)))
			}
		}
		ws = dedupLast(ws)
		apply(a.Working(), ws)
		rev := slices.Clone(ws)
		slices.Reverse(rev)
		for _, w := range rev {
			b.Working().Set(w.Key, []byte("scratch")) // overwritten below
		}
		apply(b.Working(), rev)
		appA, appB := MustCommit(t, a), MustCommit(t, b)
		if !bytes.Equal(appA, appB) {
			t.Fatalf("height %d: AppHash %x vs %x", h, appA, appB)
		}
	}
}

// dedupLast keeps only the last write of each key, in first-seen order.
func dedupLast(ws []Write) []Write {
	last := map[string]Write{}
	var order []string
	for _, w := range ws {
		if _, ok := last[w.Key]; !ok {
			order = append(order, w.Key)
		}
		last[w.Key] = w
	}
	out := make([]Write, 0, len(order))
	for _, k := range order {
		out = append(out, last[k])
	}
	return out
}

// TestCommittedConcurrentReads reads committed state from other goroutines
// while blocks commit: every Iterate must see one whole block.
func TestCommittedConcurrentReads(t *testing.T) {
	s := MustOpenMem(t)
	const keys = 20
	write := func(h int) {
		for i := range keys {
			s.Working().Set(fmt.Sprintf("c/%02d", i), []byte(fmt.Sprint(h)))
		}
		MustCommit(t, s)
	}
	write(0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var vals []string
				err := s.Committed().Iterate("c/", func(_ string, v []byte) bool {
					vals = append(vals, string(v))
					return true
				})
				torn := err != nil || len(vals) != keys
				for _, v := range vals {
					torn = torn || v != vals[0]
				}
				if torn {
					errs <- fmt.Sprintf("torn read %v (err %v)", vals, err)
					return
				}
				_ = s.LastHeight()
				_, _ = s.Committed().Get("c/00")
			}
		}()
	}
	for h := 1; h <= 30; h++ {
		write(h)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestClosedStore(t *testing.T) {
	s, err := OpenInMemory()
	if err != nil {
		t.Fatal(err)
	}
	MustApply(t, s, set("a", "1"))
	r := s.Committed()
	MustClose(t, s)
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, err = r.Get("a")
	MustKind(t, err, cc.Internal)
	MustKind(t, r.Iterate("", func(string, []byte) bool { return true }), cc.Internal)
	_, err = s.FinalizeBlock(2)
	MustKind(t, err, cc.Internal)
	_, err = s.Proof("a")
	MustKind(t, err, cc.Internal)
}

// TestCloseWaitsForReads closes the store while an Iterate is in flight:
// Close must wait for it rather than close Pebble under it.
func TestCloseWaitsForReads(t *testing.T) {
	s, err := OpenInMemory()
	if err != nil {
		t.Fatal(err)
	}
	MustApply(t, s, set("a", "1"), set("b", "2"))
	inside, release := make(chan struct{}), make(chan struct{})
	done, closed := make(chan error, 1), make(chan error, 1)
	go func() {
		done <- s.Committed().Iterate("", func(string, []byte) bool {
			close(inside)
			<-release
			return false
		})
	}()
	<-inside
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a read was in flight", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("Iterate: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestBlockBatchSorted: a finalized block's batch holds its records in
// Pebble key order, every key once, for the first block (version and
// genesis records) and a later one (sets and deletions).
func TestBlockBatchSorted(t *testing.T) {
	s := MustOpenMem(t)
	s.SetGenesisHash([]byte("genesis"))
	blocks := [][]Write{
		{set("b", "2"), set("a", "1"), set("c/x", "3")},
		{del("a"), set("b", "20"), set("d", "")},
	}
	for i, ws := range blocks {
		apply(s.Working(), ws)
		if _, err := s.FinalizeBlock(int64(i + 1)); err != nil {
			t.Fatal(err)
		}
		r := s.staged.batch.Reader()
		var keys []string
		for {
			_, k, _, ok, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			keys = append(keys, string(k))
		}
		// meta, height, the writes record, one s/ per write and an m/k/
		// per deletion, and on block 1 the genesis and version records.
		want := 3 + len(ws)
		for _, w := range ws {
			if w.Deleted {
				want++
			}
		}
		if i == 0 {
			want += 2
		}
		if len(keys) != want {
			t.Errorf("block %d: %d records, want %d: %q", i+1, len(keys), want, keys)
		}
		for j := 1; j < len(keys); j++ {
			if keys[j-1] >= keys[j] {
				t.Errorf("block %d: record %q after %q, want ascending", i+1, keys[j], keys[j-1])
			}
		}
		if err := s.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.VerifyState(); err != nil {
		t.Errorf("VerifyState: %v", err)
	}
}

// TestOpenRefusesOtherLayout: a store written in another layout (an older
// binary's) is refused at open with an integrity error that says what to
// do, rather than read wrongly.
func TestOpenRefusesOtherLayout(t *testing.T) {
	dir := t.TempDir()
	s := MustOpen(t, dir)
	MustApply(t, s, set("a", "1"))
	if err := s.db.Set(keyVersion, []byte("carechain-store-v1"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	MustClose(t, s)
	_, err := Open(dir)
	MustKind(t, err, cc.Integrity)
	if !strings.Contains(err.Error(), "carechain-store-v1") || !strings.Contains(err.Error(), "start a new home") {
		t.Errorf("Open error %q does not name the layout and the remedy", err)
	}
}

// TestBlockBatchReused: blocks reuse the last committed block's batch (see
// blockBatch). A large block followed by smaller ones, a deletion and a
// reopen: each block's writes record holds exactly its writes, the state
// is what the blocks left and verifies against the AppHash, and a reopened
// store replays to the same hash.
func TestBlockBatchReused(t *testing.T) {
	dir := t.TempDir()
	s := MustOpen(t, dir)
	var big []Write
	for i := range 5000 {
		big = append(big, set(fmt.Sprintf("k/%05d", i), strings.Repeat("v", 100+i%50)))
	}
	blocks := [][]Write{
		big,
		{set("k/00001", "small"), set("z", "zz")},
		{del("k/00002")},
		{set("a", "1")},
	}
	for i, ws := range blocks {
		MustApply(t, s, ws...)
		if i > 0 && s.spare == nil {
			t.Fatalf("block %d: no batch kept for the next block", i+1)
		}
		got, err := s.BlockWrites(int64(i + 1))
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(ws)
		slices.SortFunc(want, func(a, b Write) int { return strings.Compare(a.Key, b.Key) })
		if len(got) != len(want) {
			t.Fatalf("block %d: %d writes recorded, want %d", i+1, len(got), len(want))
		}
		for j := range want {
			if got[j].Key != want[j].Key || got[j].Deleted != want[j].Deleted || !bytes.Equal(got[j].Value, want[j].Value) {
				t.Fatalf("block %d write %d: %+v, want %+v", i+1, j, got[j], want[j])
			}
		}
	}
	for k, want := range map[string]string{"k/00001": "small", "k/00003": strings.Repeat("v", 103), "z": "zz", "a": "1"} {
		if got, ok := MustGet(t, s.Committed(), k); !ok || got != want {
			t.Errorf("%s = %q (%v), want %q", k, got, ok, want)
		}
	}
	if _, ok := MustGet(t, s.Committed(), "k/00002"); ok {
		t.Errorf("k/00002 deleted in block 3 is still there")
	}
	if err := s.VerifyState(); err != nil {
		t.Fatal(err)
	}
	app := s.LastAppHash()
	MustClose(t, s)
	s = MustOpen(t, dir)
	defer MustClose(t, s)
	if got := s.LastAppHash(); !bytes.Equal(got, app) {
		t.Errorf("after reopen AppHash %x, want %x", got, app)
	}
	if err := s.VerifyState(); err != nil {
		t.Fatal(err)
	}
}

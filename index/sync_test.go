package index

import (
	"context"
	"path/filepath"
	"testing"

	cc "carechain"
)

// fullLedger is the supply story followed by the coverage population and
// a few empty blocks, and its register.
func fullLedger(t *testing.T) (*ledger, []Person) {
	l := newLedger(t)
	supplyChain(t, l)
	people := population(t, l)
	l.empty(3)
	return l, people
}

// reference is the dump of an index synced in one go with the default
// batch.
func reference(t *testing.T, l *ledger, people []Person) string {
	d, _ := openDB(t)
	if err := d.UpsertPeople(people); err != nil {
		t.Fatal(err)
	}
	mustSync(t, d, l)
	return dump(t, d)
}

func TestSyncIdempotentAndIncremental(t *testing.T) {
	l, people := fullLedger(t)
	want := reference(t, l, people)

	d, _ := openDB(t)
	d.batch = 1
	if err := d.UpsertPeople(people); err != nil {
		t.Fatal(err)
	}
	var calls []int64
	progress := func(done, total int64) {
		calls = append(calls, done)
		if total != 5 {
			t.Errorf("total = %d, want 5", total)
		}
	}
	// In steps: to height 5, then to the end, then again.
	if err := d.Sync(context.Background(), l.kv, 5, progress); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 5 || calls[4] != 5 {
		t.Errorf("progress calls = %v, want 1..5", calls)
	}
	mustSync(t, d, l)
	mustSync(t, d, l)
	if got := dump(t, d); got != want {
		t.Errorf("incremental sync differs from one sync:\n%s", diffLines(got, want))
	}
	if h, _ := d.Height(); h != l.height {
		t.Errorf("height = %d, want %d", h, l.height)
	}
	if err := d.Sync(context.Background(), l.kv, l.height-1, nil); !cc.Is(cc.FailedPrecondition, err) {
		t.Errorf("sync behind the index: err = %v, want failed_precondition", err)
	}
}

func TestRebuild(t *testing.T) {
	l, people := fullLedger(t)
	want := reference(t, l, people)
	d, _ := openDB(t)
	if err := d.UpsertPeople(people); err != nil {
		t.Fatal(err)
	}
	mustSync(t, d, l)
	if err := d.Rebuild(context.Background(), l.kv, l.height, nil); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, d); got != want {
		t.Errorf("rebuilt index differs:\n%s", diffLines(got, want))
	}
	// A rebuild keeps the register: registering before or after the
	// chain gives the same index.
	d2, _ := openDB(t)
	mustSync(t, d2, l)
	if err := d2.UpsertPeople(people); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, d2); got != want {
		t.Errorf("register after sync differs:\n%s", diffLines(got, want))
	}
}

func TestSyncCrash(t *testing.T) {
	l, people := fullLedger(t)
	want := reference(t, l, people)
	path := filepath.Join(t.TempDir(), "crash.db")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.UpsertPeople(people); err != nil {
		t.Fatal(err)
	}
	// A failure while writing height 8 (batch 7..9) rolls the batch back.
	d.batch, d.failAt = 3, 8
	if err := d.Sync(context.Background(), l.kv, l.height, nil); !cc.Is(cc.Internal, err) {
		t.Fatalf("sync with a crash: err = %v", err)
	}
	if h, _ := d.Height(); h != 6 {
		t.Errorf("height after the crash = %d, want 6", h)
	}
	if page, _ := d.QueryEvents(EventQuery{}); len(page.Events) != 5 {
		t.Errorf("events after the crash: %v, want those of heights 1..6", positions(page.Events))
	}
	d.Close()

	// Reopen, cancel after one batch, reopen, finish.
	d, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	d.batch = 3
	ctx, cancel := context.WithCancel(context.Background())
	err = d.Sync(ctx, l.kv, l.height, func(done, total int64) { cancel() })
	if !cc.Is(cc.Unavailable, err) {
		t.Errorf("cancelled sync: err = %v, want unavailable", err)
	}
	if h, _ := d.Height(); h != 9 {
		t.Errorf("height after cancel = %d, want 9", h)
	}
	d.Close()
	d, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	mustSync(t, d, l)
	if got := dump(t, d); got != want {
		t.Errorf("index after crash and resume differs:\n%s", diffLines(got, want))
	}
}

// diffLines shows the first lines where got and want differ.
func diffLines(got, want string) string {
	g, w := splitLines(got), splitLines(want)
	out := ""
	for i := 0; i < max(len(g), len(w)) && len(out) < 2000; i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			out += "- " + b + "\n+ " + a + "\n"
		}
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// TestSyncMultiRowSameAsOneRow: the multi-row INSERTs of Sync leave the
// same tables as one statement per row, with batches of every size.
func TestSyncMultiRowSameAsOneRow(t *testing.T) {
	l, people := fullLedger(t)
	fastEvents = false
	want := reference(t, l, people)
	fastEvents = true
	for _, batch := range []int64{1, 3, 1000} {
		d, _ := openDB(t)
		d.batch = batch
		if err := d.UpsertPeople(people); err != nil {
			t.Fatal(err)
		}
		mustSync(t, d, l)
		if got := dump(t, d); got != want {
			t.Errorf("batch %d: multi-row sync differs from one-row sync:\n%s", batch, diffLines(got, want))
		}
	}
}

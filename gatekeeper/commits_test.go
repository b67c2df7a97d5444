package gatekeeper

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/consent"
	"carechain/ledger"
	"carechain/records"
)

// smallBundle is a transaction bundle of a Patient and n Observations of
// that patient.
func smallBundle(n int) []byte {
	entries := []any{map[string]any{"fullUrl": "urn:uuid:0a000000-0000-4000-8000-000000000001",
		"resource": map[string]any{"resourceType": "Patient", "gender": "female", "birthDate": "1990-01-01"},
		"request":  map[string]string{"method": "POST", "url": "Patient"}}}
	for range n {
		entries = append(entries, map[string]any{
			"resource": map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]string{"text": "x"},
				"subject": map[string]string{"reference": "urn:uuid:0a000000-0000-4000-8000-000000000001"}},
			"request": map[string]string{"method": "POST", "url": "Observation"}})
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
	return b
}

// observations returns the Observation ids of res.
func observations(res *IngestResult) []string {
	var out []string
	for _, id := range res.IDs {
		if strings.HasPrefix(id, "Observation/") {
			out = append(out, id)
		}
	}
	return out
}

// TestEraseSweptOnCommit checks that, fed by the commit notifier, Watch
// shreds the records of a committed record.erase at once and does not
// walk the vault: a record erased before the feed (which only a full sweep
// finds) stays until the startup-style SweepErased runs.
func TestEraseSweptOnCommit(t *testing.T) {
	w := MustWorld(t)
	ctx := context.Background()
	pt := w.pop.Patients[0]
	res, err := w.gk.IngestBundle(ctx, smallBundle(3), w.submitter(pt.DID))
	if err != nil {
		t.Fatal(err)
	}
	obs := observations(res)
	if len(obs) != 3 {
		t.Fatalf("ingested %v, want 3 Observations", res.IDs)
	}
	early, prompt, kept := obs[0], obs[1], obs[2]
	erase := func(id string) {
		w.submit(t, pt, records.TypeErase, map[string]any{"patient": pt.DID, "ids": []string{id}})
	}
	// Erased before the gatekeeper follows commits: only a full sweep
	// would shred it.
	erase(early)

	cancelSub := w.chain.App.Notifier().Subscribe(w.gk.Committed)
	defer cancelSub()
	w.gk.erasures.enable() // as the startup sweep does, without sweeping
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.gk.Watch(wctx, time.Hour) }() // no tick during the test
	defer func() { stop(); <-done }()

	if _, err := w.gk.Read(ctx, w.signedRead(t, pt, pt.DID, "PATRQT", prompt)); err != nil {
		t.Fatalf("read before erasure: %v", err)
	}
	erase(prompt)
	deadline := time.Now().Add(5 * time.Second)
	for !w.erased(t, prompt) {
		if time.Now().After(deadline) {
			t.Fatalf("%s was not shredded within 5 s of its erasure's commit", prompt)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := w.gk.Read(ctx, w.signedRead(t, pt, pt.DID, "PATRQT", prompt)); !cc.Is(cc.Gone, err) {
		t.Errorf("read after erasure: %v, want Gone", err)
	}
	time.Sleep(50 * time.Millisecond)
	for _, c := range []struct {
		id   string
		want bool
	}{{early, false}, {prompt, true}, {kept, false}} {
		if got := w.erased(t, c.id); got != c.want {
			t.Errorf("%s shredded = %v, want %v", c.id, got, c.want)
		}
	}
	// The full sweep (at startup) still finds what the feed did not see.
	if n, err := w.gk.SweepErased(); err != nil || n != 1 {
		t.Errorf("SweepErased = %d, %v; want 1", n, err)
	}
	if !w.erased(t, early) || w.erased(t, kept) {
		t.Errorf("after the full sweep: %s shredded %v (want true), %s %v (want false)", early, w.erased(t, early), kept, w.erased(t, kept))
	}
}

// erased reports whether the vault shredded id.
func (w *world) erased(t *testing.T, id string) bool {
	t.Helper()
	ok, err := w.vault.Erased(id)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestErasedIDs(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"record.erase", `{"erased":["Observation/a","Observation/b"],"height":7,"patient":"did:cc:p","skipped":0}`, "Observation/a Observation/b"},
		{"access.log with an erased record", `{"events":[{"id":"acc-1","reason":"erased","status":"denied"}]}`, ""},
		{"no data", ``, ""},
		{"not JSON", `"erased"[`, ""},
	}
	for _, tt := range tests {
		if got := strings.Join(erasedIDs([]byte(tt.data)), " "); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// statusChain is a chain whose Status counts calls and reports height.
type statusChain struct {
	cc.Chain
	calls  int
	height int64
}

func (c *statusChain) Status(context.Context) (cc.Status, error) {
	c.calls++
	return cc.Status{ChainID: "c", LatestHeight: c.height, LatestBlockTime: time.Unix(c.height, 0)}, nil
}

func TestStatusOncePerBlock(t *testing.T) {
	c := &statusChain{height: 5}
	g := New(Config{Chain: c})
	steps := []struct {
		do         string // "status", "commit N" (a block with transactions at N), "empty" (a block without), "node N"
		wantCalls  int
		wantHeight int64
	}{
		{"status", 1, 5}, {"status", 2, 5}, // no commit notices: every call asks the chain
		{"empty", 2, 0}, {"status", 3, 5}, {"status", 3, 5}, // following: once per block
		{"commit 6", 3, 0}, {"status", 4, 5}, {"status", 5, 5}, // the node has not saved block 6 yet: ask again
		{"node 6", 5, 0}, {"status", 6, 6}, {"status", 6, 6},
	}
	for i, s := range steps {
		verb, arg, _ := strings.Cut(s.do, " ")
		var n int64
		for _, ch := range arg {
			n = n*10 + int64(ch-'0')
		}
		switch verb {
		case "status":
			st, err := g.status(context.Background())
			if err != nil || st.LatestHeight != s.wantHeight {
				t.Errorf("step %d: status height %d, %v; want %d", i, st.LatestHeight, err, s.wantHeight)
			}
		case "commit":
			g.Committed([]ledger.TxOutcome{{Height: n}})
		case "empty":
			g.Committed(nil)
		case "node":
			c.height = n
		}
		if c.calls != s.wantCalls {
			t.Errorf("step %d (%s): %d Status calls, want %d", i, s.do, c.calls, s.wantCalls)
		}
	}
}

// TestDecisionsFollowCommits checks that the consent facts the gatekeeper
// keeps between commits never outlive a commit: a grant or a revocation
// decides the very next read.
func TestDecisionsFollowCommits(t *testing.T) {
	w := MustWorld(t)
	ctx := context.Background()
	pt := w.pop.Patients[0]
	res, err := w.gk.IngestBundle(ctx, smallBundle(1), w.submitter(pt.DID))
	if err != nil {
		t.Fatal(err)
	}
	obs := observations(res)[0]
	cancelSub := w.chain.App.Notifier().Subscribe(w.gk.Committed)
	defer cancelSub()
	other := w.staff(t, "riverside-physician")
	read := func() error {
		_, err := w.gk.Read(ctx, w.signedRead(t, other, pt.DID, "TREAT", obs))
		return err
	}
	var cid string
	steps := []struct {
		name string
		do   func()
		want cc.Kind // 0: released
	}{
		{"before consent", func() {}, cc.NotFound},
		{"same block, kept decision", func() {}, cc.NotFound},
		{"after the grant", func() {
			data := w.submit(t, pt, consent.TypeGrant, map[string]any{"patient": pt.DID, "provisions": []map[string]any{
				{"type": "permit", "actors": []map[string]any{{"did": other.DID}}, "purposes": []string{"TREAT"}}}})
			var r struct{ ID string }
			if err := json.Unmarshal(data, &r); err != nil {
				t.Fatal(err)
			}
			cid = r.ID
		}, 0},
		{"after the revocation", func() {
			w.submit(t, pt, "consent.revoke", map[string]any{"id": cid})
		}, cc.NotFound},
	}
	for _, s := range steps {
		s.do()
		err := read()
		if got := cc.KindOf(err); err != nil && got != s.want || err == nil && s.want != 0 {
			t.Errorf("%s: got %v, want kind %v", s.name, err, s.want)
		}
	}
	// A denied pre-check logs nothing, so no block came after the last
	// read: its decision is kept.
	w.gk.decisions.mu.Lock()
	n := len(w.gk.decisions.m)
	w.gk.decisions.mu.Unlock()
	if n != 1 {
		t.Errorf("%d decisions kept, want 1", n)
	}
}

package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	cc "carechain"
	"carechain/ledger/store"
	"carechain/ledger/tx"
)

// fakeMempool drives an App the way CometBFT's CListMempool does: new
// transactions are checked and appended when admitted, a block is reaped
// from the front (or is another proposer's choice), and after Commit every
// remaining transaction is rechecked in order and evicted if it fails.
type fakeMempool struct {
	t   *testing.T
	app *App
	txs [][]byte
	// reexecute makes the App forget its admissions at every Commit, so
	// every recheck re-executes (the behaviour before the fast path).
	reexecute bool
}

func (m *fakeMempool) check(raw []byte) uint32 {
	r := checkTx(m.t, m.app, raw)
	if r.Code == 0 {
		m.txs = append(m.txs, raw)
	}
	return r.Code
}

// block finalizes and commits txs, then removes them and rechecks the rest.
func (m *fakeMempool) block(txs [][]byte, recheck bool) *abci.FinalizeBlockResponse {
	resp := deliver(m.t, m.app, txs...)
	if m.reexecute {
		m.app.mp.reset(m.app.store.Committed())
	}
	in := map[string]bool{}
	for _, raw := range txs {
		in[string(raw)] = true
	}
	var rest [][]byte
	for _, raw := range m.txs {
		if !in[string(raw)] {
			rest = append(rest, raw)
		}
	}
	m.txs = nil
	for _, raw := range rest {
		if !recheck {
			m.txs = append(m.txs, raw)
			continue
		}
		r, err := m.app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: raw, Type: abci.CHECK_TX_TYPE_RECHECK})
		if err != nil {
			m.t.Fatal(err)
		}
		if r.Code == 0 {
			m.txs = append(m.txs, raw)
		}
	}
	return resp
}

// mempoolKeys lists the state keys the tests below can write.
func mempoolKeys(keys *testKeys) []string {
	var out []string
	for i := 0; i < 5; i++ {
		out = append(out, fmt.Sprintf("kv/k%d", i))
	}
	for _, d := range keys.dids {
		out = append(out, seqKey(d))
	}
	return out
}

// rebuilt is the mempool state by definition: the committed state with the
// pending admissions re-executed in order.
func rebuilt(t *testing.T, a *App) *store.Overlay {
	kv := store.NewOverlay(a.store.Committed())
	ctx := cc.TxContext{ChainID: a.ChainID(), Height: a.store.LastHeight() + 1, Time: a.checkTime(), Check: true}
	for _, ad := range a.mp.pending {
		scratch := store.NewOverlay(kv)
		if _, _, err := a.apply(ctx, scratch, ad.raw, ad.hash[:], nil); err != nil {
			t.Fatalf("pending admission %x no longer applies: %v", ad.hash[:4], err)
		}
		scratch.Flush(kv)
	}
	return kv
}

func sameState(t *testing.T, what string, keys []string, got, want cc.Reader) {
	t.Helper()
	for _, k := range keys {
		g, _ := got.Get(k)
		w, _ := want.Get(k)
		if !bytes.Equal(g, w) || (g == nil) != (w == nil) {
			t.Fatalf("%s: %s = %q, want %q", what, k, g, w)
		}
	}
}

// TestMempoolStateMatchesRecheck checks the fast path against the
// definition: after every block (CometBFT-like mempool, blocks reaped from
// the front, sometimes another proposer's block or a failing transaction),
// CheckTx's state equals the committed state plus the pending admissions
// re-executed, every CheckTx answer equals that of an App that re-executes
// on every recheck, and every block's results and AppHash agree.
func TestMempoolStateMatchesRecheck(t *testing.T) {
	keys := newTestKeys(4)
	stateKeys := mempoolKeys(keys)
	fast := &fakeMempool{t: t, app: MustApp(t, keys)}
	slow := &fakeMempool{t: t, app: MustApp(t, keys), reexecute: true}
	rnd := rand.New(rand.NewSource(7))
	seqs := map[cc.DID]uint64{}
	fastPaths := 0
	for h := 0; h < 200; h++ {
		for n := rnd.Intn(12); n > 0; n-- {
			d := keys.dids[rnd.Intn(len(keys.dids))]
			typ, value := "kv.set", fmt.Sprintf("v%d", rnd.Intn(1000))
			switch rnd.Intn(15) {
			case 0:
				typ = "kv.fail"
			case 1, 2, 3:
				typ, value = "kv.copy", fmt.Sprintf("k%d", rnd.Intn(5)) // reads a key, writes another
			}
			seq := seqs[d]
			if rnd.Intn(20) == 0 {
				seq += 1 + uint64(rnd.Intn(2)) // a gap: rejected
			}
			raw := MustTx(t, keys, d, seq, typ, fmt.Sprintf("k%d", rnd.Intn(5)), value)
			c1, c2 := fast.check(raw), slow.check(raw)
			if c1 != c2 {
				t.Fatalf("height %d: CheckTx code %d, re-executing app %d", h, c1, c2)
			}
			if c1 == 0 {
				seqs[d]++
			}
		}
		// The block: usually the oldest admitted transactions; sometimes
		// another proposer's order, or one that fails in FinalizeBlock.
		var txs [][]byte
		switch k := rnd.Intn(len(fast.txs) + 1); rnd.Intn(6) {
		case 0, 2:
			txs = append(txs, fast.txs[:k]...)
			rnd.Shuffle(len(txs), func(i, j int) { txs[i], txs[j] = txs[j], txs[i] })
		case 1:
			d := keys.dids[rnd.Intn(len(keys.dids))]
			txs = append(append(txs, fast.txs[:k]...), MustTx(t, keys, d, 0, "kv.set", "k0", "replayed"))
		default:
			txs = append(txs, fast.txs[:k]...)
		}
		r1, r2 := fast.block(txs, true), slow.block(txs, true)
		if fast.app.stats.KeptAdmissions.Load() > uint64(fastPaths) {
			fastPaths++
		}
		sameResults(t, h, r1, r2)
		sameMempools(t, h, stateKeys, fast, slow)
		// Resync the test's idea of sequences with what is committed or pending.
		for _, d := range keys.dids {
			n, err := Sequence(fast.app.mp.kv, d)
			if err != nil {
				t.Fatal(err)
			}
			seqs[d] = n
		}
	}
	t.Logf("%d of 200 blocks took the fast path", fastPaths)
	if fastPaths < 80 {
		t.Fatalf("only %d blocks took the fast path", fastPaths)
	}
}

// sameMempools checks after a block's recheck that fast's mempool state is
// what re-admitting its transactions gives, that both mempools hold the
// same transactions and that fast has one admission per transaction.
func sameMempools(t *testing.T, h int, stateKeys []string, fast, slow *fakeMempool) {
	t.Helper()
	sameState(t, fmt.Sprintf("height %d, after recheck", h), stateKeys, fast.app.mp.kv, rebuilt(t, fast.app))
	if fmt.Sprint(fast.txs) != fmt.Sprint(slow.txs) {
		t.Fatalf("height %d: the mempools differ after recheck", h)
	}
	if len(fast.txs) != len(fast.app.mp.pending) {
		t.Fatalf("height %d: %d in the mempool, %d pending admissions", h, len(fast.txs), len(fast.app.mp.pending))
	}
}

func sameResults(t *testing.T, h int, r1, r2 *abci.FinalizeBlockResponse) {
	t.Helper()
	if !bytes.Equal(r1.AppHash, r2.AppHash) {
		t.Fatalf("height %d: AppHash %x != %x", h, r1.AppHash, r2.AppHash)
	}
	if len(r1.TxResults) != len(r2.TxResults) {
		t.Fatalf("height %d: %d results != %d", h, len(r1.TxResults), len(r2.TxResults))
	}
	for i := range r1.TxResults {
		a, b := r1.TxResults[i], r2.TxResults[i]
		if a.Code != b.Code || a.Log != b.Log || !bytes.Equal(a.Data, b.Data) || fmt.Sprint(a.Events) != fmt.Sprint(b.Events) {
			t.Fatalf("height %d tx %d: %v != %v", h, i, a, b)
		}
	}
}

// TestPipelinedSignerAcrossBlocks: one signer's sequences n, n+1, … are
// admitted while earlier ones wait; after a block that includes some of
// them, the next sequence is still admitted (the rechecks are answered from
// the admission log), and one the mempool no longer holds is forgotten.
func TestPipelinedSignerAcrossBlocks(t *testing.T) {
	keys := newTestKeys(1)
	d := keys.dids[0]
	m := &fakeMempool{t: t, app: MustApp(t, keys)}
	for seq := uint64(0); seq < 5; seq++ {
		if c := m.check(MustTx(t, keys, d, seq, "kv.set", "k", fmt.Sprint(seq))); c != 0 {
			t.Fatalf("seq %d: code %d", seq, c)
		}
	}
	m.block(m.txs[:2], true)
	if c := m.check(MustTx(t, keys, d, 5, "kv.set", "k", "5")); c != 0 {
		t.Fatalf("seq 5 after a block with 0–1: code %d", c)
	}
	if got, _ := m.app.mp.kv.Get("kv/k"); string(got) != "5" {
		t.Fatalf("mempool state kv/k = %q, want 5", got)
	}
	if got, _ := m.app.store.Committed().Get("kv/k"); string(got) != "1" {
		t.Fatalf("committed kv/k = %q, want 1", got)
	}
	// Sequences 2–5 leave the mempool without a block (CometBFT refused
	// them, or recheck is off): the state forgets them.
	m.block(nil, false)
	if c := m.check(MustTx(t, keys, d, 6, "kv.set", "k", "6")); c != cc.SequenceGap.Code() {
		t.Fatalf("seq 6 after 2–5 left the mempool: code %d, want a gap", c)
	}
	if c := m.check(MustTx(t, keys, d, 2, "kv.set", "k", "2b")); c != 0 {
		t.Fatalf("seq 2 resubmitted: code %d", c)
	}
}

// TestTxCacheDoesNotChangeResults runs the same blocks through an App that
// checked every transaction first (decoded envelopes and signatures cached)
// and one with the cache disabled that never saw them: every result and
// AppHash must be equal, including for transactions that fail (bad
// signature, replay, gap, failing handler, duplicates, another order).
func TestTxCacheDoesNotChangeResults(t *testing.T) {
	keys := newTestKeys(3)
	cold, warm := coldApp(t, keys), MustApp(t, keys)
	rnd := rand.New(rand.NewSource(3))
	seqs := map[cc.DID]uint64{}
	for h := 0; h < 20; h++ {
		var txs [][]byte
		for n := 1 + rnd.Intn(10); n > 0; n-- {
			d := keys.dids[rnd.Intn(len(keys.dids))]
			raw := MustTx(t, keys, d, seqs[d], "kv.set", fmt.Sprintf("k%d", rnd.Intn(4)), fmt.Sprint(h, n))
			switch rnd.Intn(8) {
			case 0: // signed by another key: CheckTx rejects, FinalizeBlock must too
				other := keys.dids[(indexOf(keys.dids, d)+1)%len(keys.dids)]
				bad := MustTx(t, keys, other, seqs[d], "kv.set", "k0", "forged")
				raw = bytes.Replace(bad, []byte(other), []byte(d), 1)
			case 1:
				raw = MustTx(t, keys, d, seqs[d], "kv.fail", "x", "y")
			case 2:
				raw = MustTx(t, keys, d, seqs[d]+1, "kv.set", "k1", "gap")
			default:
				seqs[d]++
			}
			txs = append(txs, raw)
		}
		for _, raw := range txs {
			checkTx(t, warm, raw)
		}
		if h%5 == 2 { // another order and a duplicate: replays and gaps in the block
			rnd.Shuffle(len(txs), func(i, j int) { txs[i], txs[j] = txs[j], txs[i] })
			txs = append(txs, txs[0])
		}
		sameResults(t, h, deliver(t, warm, txs...), deliver(t, cold, txs...))
		for _, d := range keys.dids {
			n, err := Sequence(warm.store.Committed(), d)
			if err != nil {
				t.Fatal(err)
			}
			seqs[d] = n
		}
	}
}

func indexOf(ds []cc.DID, d cc.DID) int {
	for i, x := range ds {
		if x == d {
			return i
		}
	}
	return -1
}

// TestReorderedBlockThatMatters: a block with the oldest admissions in
// another order that changes a value a still pending admission read must
// not keep that admission's prediction; one whose order does not matter
// keeps the admissions.
func TestReorderedBlockThatMatters(t *testing.T) {
	keys := newTestKeys(3)
	a, b, c := keys.dids[0], keys.dids[1], keys.dids[2]
	m := &fakeMempool{t: t, app: MustApp(t, keys)}
	setA := MustTx(t, keys, a, 0, "kv.set", "k0", "a")
	setB := MustTx(t, keys, b, 0, "kv.set", "k0", "b")
	copyC := MustTx(t, keys, c, 0, "kv.copy", "k0", "k1") // reads k0 = "b" at admission
	for _, raw := range [][]byte{setA, setB, copyC} {
		if code := m.check(raw); code != 0 {
			t.Fatalf("admission: code %d", code)
		}
	}
	m.block([][]byte{setB, setA}, true) // k0 = "a" now: copyC's prediction is stale
	if n := m.app.stats.KeptAdmissions.Load(); n != 0 {
		t.Fatalf("a reordering that changed k0 kept the admissions (%d)", n)
	}
	sameState(t, "after the reordered block", mempoolKeys(keys), m.app.mp.kv, rebuilt(t, m.app))
	if got, _ := m.app.mp.kv.Get("kv/k1"); string(got) != "copy:a" {
		t.Fatalf("kv/k1 = %q, want copy:a", got)
	}

	// Two writers of different keys, reordered: nothing changes, the
	// admissions are kept and the recheck is answered from the log.
	setA2 := MustTx(t, keys, a, 1, "kv.set", "k2", "a")
	setB2 := MustTx(t, keys, b, 1, "kv.set", "k3", "b")
	copyC2 := MustTx(t, keys, c, 1, "kv.copy", "k2", "k4")
	for _, raw := range [][]byte{setA2, setB2, copyC2} {
		if code := m.check(raw); code != 0 {
			t.Fatalf("admission: code %d", code)
		}
	}
	m.block([][]byte{copyC, setB2, setA2}, true)
	if n := m.app.stats.KeptAdmissions.Load(); n != 1 {
		t.Fatalf("a harmless reordering did not keep the admissions (%d)", n)
	}
	if n := m.app.stats.RechecksAnswered.Load(); n == 0 {
		t.Fatal("no recheck answered from the admission log")
	}
	sameState(t, "after the harmless reordering", mempoolKeys(keys), m.app.mp.kv, rebuilt(t, m.app))
}

// TestMempoolIndependentBlocks: with several proposers, a block holds some
// of this node's admissions in another order, and transactions it never
// saw. When no remaining admission read or wrote what the block changed,
// the admissions are kept (no re-execution); either way the mempool state,
// every CheckTx answer, the results and the AppHash must equal those of an
// App that re-executes on every recheck.
func TestMempoolIndependentBlocks(t *testing.T) {
	keys := newTestKeys(9)
	signers, foreign := keys.dids[:8], keys.dids[8]
	stateKeys := mempoolKeys(keys)
	for i := range signers {
		stateKeys = append(stateKeys, fmt.Sprintf("kv/s%d", i), fmt.Sprintf("kv/c%d", i))
	}
	stateKeys = append(stateKeys, "kv/foreign")
	fast := &fakeMempool{t: t, app: MustApp(t, keys)}
	slow := &fakeMempool{t: t, app: MustApp(t, keys), reexecute: true}
	rnd := rand.New(rand.NewSource(11))
	seqs := map[cc.DID]uint64{}
	var foreignSeq uint64
	for h := 0; h < 150; h++ {
		for n := rnd.Intn(16); n > 0; n-- {
			i := rnd.Intn(len(signers))
			d := signers[i]
			typ, key, value := "kv.set", fmt.Sprintf("s%d", i), fmt.Sprintf("v%d", rnd.Intn(1000))
			switch rnd.Intn(12) {
			case 0: // reads another signer's key: a dependency
				typ, key, value = "kv.copy", fmt.Sprintf("s%d", rnd.Intn(len(signers))), fmt.Sprintf("c%d", i)
			case 1: // reads what a foreign transaction writes
				typ, key, value = "kv.copy", "foreign", fmt.Sprintf("c%d", i)
			}
			raw := MustTx(t, keys, d, seqs[d], typ, key, value)
			c1, c2 := fast.check(raw), slow.check(raw)
			if c1 != c2 {
				t.Fatalf("height %d: CheckTx code %d, re-executing app %d", h, c1, c2)
			}
			if c1 == 0 {
				seqs[d]++
			}
		}
		// Another proposer's block: for each signer a prefix of its
		// pending transactions, interleaved at random, and sometimes a
		// transaction this node never saw.
		bySigner := map[cc.DID][][]byte{}
		for _, raw := range fast.txs {
			d := signerOf(t, raw)
			bySigner[d] = append(bySigner[d], raw)
		}
		var queues [][][]byte
		for _, d := range signers {
			if q := bySigner[d]; len(q) > 0 {
				queues = append(queues, q[:rnd.Intn(len(q)+1)])
			}
		}
		var txs [][]byte
		for len(queues) > 0 {
			j := rnd.Intn(len(queues))
			if len(queues[j]) == 0 {
				queues = append(queues[:j], queues[j+1:]...)
				continue
			}
			txs = append(txs, queues[j][0])
			queues[j] = queues[j][1:]
		}
		if rnd.Intn(3) == 0 {
			txs = append(txs, MustTx(t, keys, foreign, foreignSeq, "kv.set", "foreign", fmt.Sprint(h)))
			foreignSeq++
		}
		r1, r2 := fast.block(txs, true), slow.block(txs, true)
		sameResults(t, h, r1, r2)
		sameMempools(t, h, stateKeys, fast, slow)
		for _, d := range signers {
			n, err := Sequence(fast.app.mp.kv, d)
			if err != nil {
				t.Fatal(err)
			}
			seqs[d] = n
		}
	}
	kept, indep := fast.app.stats.KeptAdmissions.Load(), fast.app.stats.KeptIndependent.Load()
	t.Logf("150 blocks: %d kept the admissions, %d of them as independent blocks", kept, indep)
	if indep < 30 {
		t.Fatalf("only %d blocks took the independent path", indep)
	}
}

// signerOf returns the signer of a transaction.
func signerOf(t *testing.T, raw []byte) cc.DID {
	t.Helper()
	d, err := tx.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return d.Signer
}

// coldApp returns an App with the same test domain that decodes, verifies
// and executes everything itself (no caches, no reuse of admissions).
func coldApp(t *testing.T, keys *testKeys) *App {
	t.Helper()
	cfg := testConfig(keys)
	cfg.DisableTxCache = true
	return mustAppWith(t, cfg)
}

// TestFinalizeBlockReusesAdmissions: FinalizeBlock takes an admission's
// writes and result only when the transaction is TimeFree, was admitted at
// the block's height and every value it read is unchanged; every block's
// results and AppHash equal those of an App that executes everything.
func TestFinalizeBlockReusesAdmissions(t *testing.T) {
	keys := newTestKeys(3)
	a, b, c := keys.dids[0], keys.dids[1], keys.dids[2]
	warm, cold := MustApp(t, keys), coldApp(t, keys)
	h := 1
	block := func(wantReused uint64, txs ...[]byte) {
		t.Helper()
		h++
		before := warm.stats.Reused.Load()
		sameResults(t, h, deliver(t, warm, txs...), deliver(t, cold, txs...))
		if got := warm.stats.Reused.Load() - before; got != wantReused {
			t.Fatalf("height %d: %d transactions reused, want %d", h, got, wantReused)
		}
	}
	check := func(txs ...[]byte) {
		t.Helper()
		for _, raw := range txs {
			if r := checkTx(t, warm, raw); r.Code != 0 {
				t.Fatalf("CheckTx: %d %s", r.Code, r.Log)
			}
		}
	}

	// recheck is CometBFT's recheck, after a Commit, of what is still in
	// its mempool.
	recheck := func(raw []byte) {
		t.Helper()
		if r, err := warm.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: raw, Type: abci.CHECK_TX_TYPE_RECHECK}); err != nil || r.Code != 0 {
			t.Fatalf("recheck: %v %v", r, err)
		}
	}

	// In admission order, all TimeFree: all reused.
	s1, s2, s3 := MustTx(t, keys, a, 0, "kv.set", "k", "1"), MustTx(t, keys, b, 0, "kv.set", "j", "2"), MustTx(t, keys, c, 0, "kv.copy", "k", "c")
	check(s1, s2, s3)
	block(3, s1, s2, s3)

	// Another order where it matters: kv.copy read kv/k = "1" at admission,
	// but the block first sets kv/k = "3" (a transaction this node never
	// admitted): the copy runs again; the rest is reused.
	cp := MustTx(t, keys, c, 1, "kv.copy", "k", "d")
	other := MustTx(t, keys, b, 1, "kv.set", "x", "y")
	check(cp, other)
	block(1, MustTx(t, keys, a, 1, "kv.set", "k", "3"), cp, other)
	if v, _ := warm.store.Committed().Get("kv/d"); string(v) != "copy:3" {
		t.Fatalf("kv/d = %q, want copy:3", v)
	}

	// A sequence the block already used: the admission read the old
	// sequence, so it is executed, and fails as a replay.
	seqA := MustTx(t, keys, a, 2, "kv.set", "k", "4")
	check(seqA)
	block(0, MustTx(t, keys, a, 2, "kv.set", "k", "5"), seqA)

	// Admitted at one height, included at the next: executed again.
	late := MustTx(t, keys, b, 2, "kv.set", "late", "1")
	check(late)
	block(0)
	recheck(late) // still in CometBFT's mempool
	block(0, late)

	// Not TimeFree (kv.fail) and failing: executed, same outcome.
	fails := MustTx(t, keys, c, 2, "kv.fail", "x", "y")
	checkTx(t, warm, fails)
	block(0, fails)

	// CheckTx while a block is finalized runs at the next height, so what it
	// admits then is reused in that next block.
	next := MustTx(t, keys, a, 3, "kv.set", "n", "1")
	h++
	if _, err := warm.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: int64(h), Time: blockTime.Add(time.Duration(h) * time.Second)}); err != nil {
		t.Fatal(err)
	}
	check(next)
	if _, err := warm.Commit(context.Background(), &abci.CommitRequest{}); err != nil {
		t.Fatal(err)
	}
	recheck(next)
	deliver(t, cold)
	block(1, next)

	// So does CheckTx after the block's proposal.
	afterProposal := MustTx(t, keys, a, 4, "kv.set", "p", "1")
	if _, err := warm.PrepareProposal(context.Background(), &abci.PrepareProposalRequest{Height: int64(h + 1), MaxTxBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	check(afterProposal)
	block(0)
	recheck(afterProposal)
	block(1, afterProposal)
}

// TestDropIncluded: forgetting the included admissions' keys leaves the
// state the remaining admissions wrote; when every admission is included
// (the bulk path) the state reads through to the committed one entirely,
// as forgetting key by key would.
func TestDropIncluded(t *testing.T) {
	committed := store.NewOverlay(nil)
	committed.Set("a", []byte("committed-a"))
	committed.Set("c", []byte("committed-c"))
	newState := func() *mempoolState {
		m := newMempoolState(committed)
		for i, writes := range [][][2]string{{{"a", "1"}, {"b", "1"}}, {{"b", "2"}, {"c", "2"}}, {{"d", "3"}}} {
			scratch := store.NewOverlay(m.kv)
			for _, w := range writes {
				scratch.Set(w[0], []byte(w[1]))
			}
			m.push(&admission{hash: [32]byte{byte(i + 1)}}, scratch)
		}
		return m
	}
	get := func(m *mempoolState) map[string]string {
		got := map[string]string{}
		for _, k := range []string{"a", "b", "c", "d"} {
			v, err := m.kv.Get(k)
			if err != nil {
				t.Fatal(err)
			}
			got[k] = string(v)
		}
		return got
	}
	// n = 1 forgets the first admission's keys one by one (2 writes go, 3
	// stay); n = 2 rebuilds the state from the last one (4 go, 1 stays); a
	// second dropIncluded(1) then checks that the tags survived either way.
	for _, tt := range []struct {
		n          int
		want, then map[string]string
	}{
		{1, map[string]string{"a": "committed-a", "b": "2", "c": "2", "d": "3"},
			map[string]string{"a": "committed-a", "b": "", "c": "committed-c", "d": "3"}},
		{2, map[string]string{"a": "committed-a", "b": "", "c": "committed-c", "d": "3"},
			map[string]string{"a": "committed-a", "b": "", "c": "committed-c", "d": ""}},
		{3, map[string]string{"a": "committed-a", "b": "", "c": "committed-c", "d": ""}, nil},
	} {
		m := newState()
		m.dropIncluded(tt.n)
		if got := get(m); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("dropIncluded(%d): state %v, want %v", tt.n, got, tt.want)
		}
		if tt.then != nil {
			m2 := newState()
			m2.dropIncluded(tt.n)
			m2.dropIncluded(1)
			if got := get(m2); !reflect.DeepEqual(got, tt.then) {
				t.Errorf("dropIncluded(%d), then dropIncluded(1): state %v, want %v", tt.n, got, tt.then)
			}
		}
		if len(m.pending) != 3-tt.n || len(m.byHash) != 3-tt.n {
			t.Errorf("dropIncluded(%d): %d pending, %d by hash, want %d", tt.n, len(m.pending), len(m.byHash), 3-tt.n)
		}
		if tt.n == 3 && m.kv.Len() != 0 {
			t.Errorf("dropIncluded(3): %d buffered writes, want none", m.kv.Len())
		}
	}
}

// TestProposalDuringCheckTx: a block proposed while CheckTx runs a
// transaction leaves it out, so CheckTx runs it again at the next height
// (without waiting for the proposal, and the proposal without waiting for
// it) and the next block reuses that admission, whose writes are those of
// an execution at that height.
func TestProposalDuringCheckTx(t *testing.T) {
	keys := newTestKeys(1)
	signer := keys.dids[0]
	cfg := testConfig(keys)
	var app *App
	propose := true
	cfg.Handlers["kv.height"] = func(ctx cc.TxContext, kv cc.KV, _ json.RawMessage) (cc.Result, error) {
		if ctx.Check && propose {
			propose = false // the block of this height is proposed now, from the consensus goroutine
			if _, err := app.PrepareProposal(context.Background(), &abci.PrepareProposalRequest{Height: ctx.Height, MaxTxBytes: 1 << 20}); err != nil {
				return cc.Result{}, err
			}
		}
		kv.Set("kv/height", []byte(fmt.Sprint(ctx.Height)))
		return cc.Result{}, nil
	}
	cfg.TimeFree["kv.height"] = true
	app = mustAppWith(t, cfg)

	raw := MustTx(t, keys, signer, 0, "kv.height", "k", "v")
	h := app.store.LastHeight() + 1
	if r := checkTx(t, app, raw); r.Code != 0 {
		t.Fatalf("CheckTx: %d %s", r.Code, r.Log)
	}
	if got := app.stats.Readmitted.Load(); got != 1 {
		t.Errorf("%d CheckTx executions run again, want 1", got)
	}
	if got := app.mp.byHash[sha256.Sum256(raw)].height; got != h+1 {
		t.Errorf("admitted at height %d, want %d", got, h+1)
	}
	deliver(t, app) // block h, proposed without it
	if r, err := app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: raw, Type: abci.CHECK_TX_TYPE_RECHECK}); err != nil || r.Code != 0 {
		t.Fatalf("recheck: %v %v", r, err)
	}
	reused := app.stats.Reused.Load()
	if res := deliver(t, app, raw); res.TxResults[0].Code != 0 {
		t.Fatalf("block %d: %s", h+1, res.TxResults[0].Log)
	}
	if got := app.stats.Reused.Load() - reused; got != 1 {
		t.Errorf("block %d reused %d admissions, want 1", h+1, got)
	}
	if v, _ := app.store.Committed().Get("kv/height"); string(v) != fmt.Sprint(h+1) {
		t.Errorf("kv/height = %q, want %d", v, h+1)
	}
}

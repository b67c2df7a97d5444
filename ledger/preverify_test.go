package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"carechain/ledger/tx"
)

// TestPreVerifyCachesOnlyValidSignatures: in one batch, PreVerify records
// good signatures (so CheckTx does not verify them again) and never a
// forged one (CheckTx still rejects it as a bad signature); input that does
// not decode or names an unknown signer is ignored.
func TestPreVerifyCachesOnlyValidSignatures(t *testing.T) {
	// Batches of tx.MinBatch or more are batch-verified, smaller ones singly.
	for _, calls := range [][]int{{5}, {2, 2, 1}} {
		t.Run(fmt.Sprint(calls), func(t *testing.T) { testPreVerifyCaches(t, calls) })
	}
}

// testPreVerifyCaches pre-verifies the five inputs in calls of the given
// sizes.
func testPreVerifyCaches(t *testing.T, calls []int) {
	keys := newTestKeys(3)
	app := MustApp(t, keys)
	good := MustTx(t, keys, keys.dids[0], 0, "kv.set", "a", "1")
	good2 := MustTx(t, keys, keys.dids[2], 0, "kv.set", "c", "3")
	other := MustTx(t, keys, keys.dids[1], 0, "kv.set", "b", "2")
	var env struct {
		Sig string `json:"sig"`
	}
	if err := json.Unmarshal(other, &env); err != nil {
		t.Fatal(err)
	}
	forged := tamper(t, good, func(e map[string]any) { e["sig"] = env.Sig }) // good's body, another's signature
	unknown := MustTx(t, newTestKeys(5), newTestKeys(5).dids[4], 0, "kv.set", "d", "4")

	in := [][]byte{good, forged, []byte("not json"), good2, unknown}
	for _, n := range calls {
		app.PreVerify(in[:n], rand.Reader)
		in = in[n:]
	}

	for _, c := range []struct {
		name   string
		raw    []byte
		signer int
		cached bool
	}{
		{"good", good, 0, true},
		{"good2", good2, 2, true},
		{"forged", forged, 0, false},
	} {
		pub := keys.priv[keys.dids[c.signer]].Public().(ed25519.PublicKey)
		if got := preVerified(t, app, c.raw, pub); got != c.cached {
			t.Errorf("%s: signature noted = %v, want %v", c.name, got, c.cached)
		}
	}
	for _, c := range []struct {
		name  string
		raw   []byte
		admit bool
	}{
		{"forged", forged, false},
		{"unknown signer", unknown, false},
		{"good", good, true},
		{"good2", good2, true},
	} {
		if r := checkTx(t, app, c.raw); (r.Code == 0) != c.admit {
			t.Errorf("%s: CheckTx code %d (%s), want admitted %v", c.name, r.Code, r.Log, c.admit)
		}
	}
}

// preVerified reports whether PreVerify left raw's envelope for CheckTx
// with the note that its signature verified under pub.
func preVerified(t *testing.T, app *App, raw []byte, pub ed25519.PublicKey) bool {
	t.Helper()
	app.pre.mu.Lock()
	e := app.pre.m[&raw[0]]
	app.pre.mu.Unlock()
	return e != nil && e.VerifiedBy(pub)
}

// TestPreVerifyDoesNotChangeResults: the same blocks give the same results
// and AppHash whether or not their transactions were pre-verified first,
// including forged signatures and replays.
func TestPreVerifyDoesNotChangeResults(t *testing.T) {
	keys := newTestKeys(4)
	var blocks [][][]byte
	for b := range 3 {
		var txs [][]byte
		for i, d := range keys.dids {
			txs = append(txs, MustTx(t, keys, d, uint64(b), "kv.set", fmt.Sprintf("k%d", i), fmt.Sprintf("v%d-%d", b, i)))
		}
		forged := tamper(t, txs[0], func(e map[string]any) { e["sig"] = "A" + e["sig"].(string)[1:] })
		txs = append(txs, forged, txs[1]) // a forged signature and a replay
		blocks = append(blocks, txs)
	}
	plain, pre := MustApp(t, keys), MustApp(t, keys)
	for h, txs := range blocks {
		pre.PreVerify(txs, rand.Reader)
		for _, raw := range txs {
			checkTx(t, pre, raw)
		}
		want := deliver(t, plain, txs...)
		got := deliver(t, pre, txs...)
		if !bytes.Equal(got.AppHash, want.AppHash) {
			t.Fatalf("block %d: AppHash differs with pre-verification", h)
		}
		for i := range want.TxResults {
			if g, w := got.TxResults[i].Code, want.TxResults[i].Code; g != w {
				t.Errorf("block %d tx %d: code %d with pre-verification, %d without", h, i, g, w)
			}
		}
	}
}

// TestCheckTxBesideFinalizeBlock: with one client per ABCI connection
// (node.Start), CheckTx runs while a block is finalized and committed. Under
// the race detector, CheckTx from several goroutines beside a stream of
// blocks must leave the App consistent: every admitted transaction commits
// in a later block with code 0, and the AppHash matches an App that ran the
// same blocks alone.
func TestCheckTxBesideFinalizeBlock(t *testing.T) {
	keys := newTestKeys(8)
	app, ref := MustApp(t, keys), MustApp(t, keys)
	const perSigner = 30
	var mu sync.Mutex // a stand-in for CometBFT's mempool: admitted, not yet in a block
	var admitted [][]byte
	var wg sync.WaitGroup
	for s, d := range keys.dids {
		wg.Go(func() {
			for seq := range perSigner {
				raw := MustTx(t, keys, d, uint64(seq), "kv.set", fmt.Sprintf("s%d", s), fmt.Sprint(seq))
				// CometBFT's mempool serializes CheckTx calls of one
				// connection; so does mu here.
				mu.Lock()
				r, err := app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: raw, Type: abci.CHECK_TX_TYPE_CHECK})
				if err == nil && r.Code == 0 {
					admitted = append(admitted, raw)
				}
				mu.Unlock()
				if err != nil || r.Code != 0 {
					t.Errorf("signer %d seq %d: CheckTx %v code %d %s", s, seq, err, r.GetCode(), r.GetLog())
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	committed := 0
	for finished := false; !finished || committed < len(keys.dids)*perSigner; {
		select {
		case <-done:
			finished = true
		default:
		}
		mu.Lock()
		txs := admitted
		admitted = nil
		mu.Unlock()
		// FinalizeBlock runs without the mempool lock; Commit holds it, as
		// CometBFT's BlockExecutor.Commit locks the mempool.
		h := app.Store().LastHeight() + 1
		req := &abci.FinalizeBlockRequest{Height: h, Time: blockTime, Txs: txs}
		got, err := app.FinalizeBlock(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		_, err = app.Commit(context.Background(), &abci.CommitRequest{})
		if err != nil {
			mu.Unlock()
			t.Fatal(err)
		}
		// The recheck pass over what is still in the mempool.
		kept := admitted[:0]
		for _, raw := range admitted {
			r, err := app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: raw, Type: abci.CHECK_TX_TYPE_RECHECK})
			if err != nil || r.Code != 0 {
				t.Errorf("recheck at height %d: %v code %d %s", h, err, r.GetCode(), r.GetLog())
				continue
			}
			kept = append(kept, raw)
		}
		admitted = kept
		mu.Unlock()
		want := deliver(t, ref, txs...)
		if !bytes.Equal(got.AppHash, want.AppHash) {
			t.Fatalf("height %d: AppHash differs from an App that ran the blocks alone", h)
		}
		for i, r := range got.TxResults {
			if r.Code != 0 {
				t.Fatalf("height %d tx %d: code %d %s", h, i, r.Code, r.Log)
			}
		}
		committed += len(txs)
		if t.Failed() {
			return
		}
	}
}

// TestPreVerifyPredecodes: PreVerify hands each decoded transaction of a
// type with a Config.Predecode function its payload, and only those; so
// does App.Predecode.
func TestPreVerifyPredecodes(t *testing.T) {
	keys := newTestKeys(2)
	cfg := testConfig(keys)
	var calls []string
	cfg.Predecode = map[string]func(payload []byte){"kv.set": func(payload []byte) {
		calls = append(calls, string(payload))
	}}
	app := mustAppWith(t, cfg)
	set := MustTx(t, keys, keys.dids[0], 0, "kv.set", "k", "v")
	cp := MustTx(t, keys, keys.dids[1], 0, "kv.copy", "k", "c")
	app.PreVerify([][]byte{set, cp, []byte("not a transaction")}, rand.Reader)
	d, err := tx.Decode(set)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{string(d.Body.Payload)}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("Predecode calls %q, want %q", calls, want)
	}
	app.Predecode("kv.copy", []byte(`{}`)) // no function for the type: nothing
	app.Predecode("kv.set", []byte(`{"key":"x"}`))
	if want = append(want, `{"key":"x"}`); !reflect.DeepEqual(calls, want) {
		t.Errorf("Predecode calls %q, want %q", calls, want)
	}
}

// TestPreVerifyLargeBatch: a batch verified by Pippenger's method without
// expanded keys (94 signatures or more) notes every good signature and
// not the forged one among them.
func TestPreVerifyLargeBatch(t *testing.T) {
	keys := newTestKeys(100) // ≥ 94: Pippenger's method, keys not expanded
	app := MustApp(t, keys)
	var raws [][]byte
	for i, d := range keys.dids {
		raws = append(raws, MustTx(t, keys, d, 0, "kv.set", fmt.Sprint(i), "v"))
	}
	const bad = 7
	raws[bad] = tamper(t, raws[bad], func(e map[string]any) { e["sig"] = "A" + e["sig"].(string)[1:] })
	app.PreVerify(raws, rand.Reader)
	for i, raw := range raws {
		pub := keys.priv[keys.dids[i]].Public().(ed25519.PublicKey)
		if got, want := preVerified(t, app, raw, pub), i != bad; got != want {
			t.Errorf("tx %d: signature noted = %v, want %v", i, got, want)
		}
	}
}

// TestPreDecodedByIdentity: CheckTx finds PreVerify's envelope only for the
// very slice PreVerify decoded (as CometBFT's mempool hands it on); equal
// bytes in another slice, or a prefix of the slice, are decoded again —
// and admitted all the same.
func TestPreDecodedByIdentity(t *testing.T) {
	keys := newTestKeys(2)
	app := MustApp(t, keys)
	raw := MustTx(t, keys, keys.dids[0], 0, "kv.set", "a", "1")
	app.PreVerify([][]byte{raw}, rand.Reader)
	if got := app.pre.take(bytes.Clone(raw)); got != nil {
		t.Error("an equal copy found the envelope")
	}
	if got := app.pre.take(raw[:len(raw)-1]); got != nil {
		t.Error("a prefix of the slice found the envelope")
	}
	app.PreVerify([][]byte{raw}, rand.Reader) // the prefix took it out
	got := app.pre.take(raw)
	if got == nil || !bytes.Equal(got.Hash, tx.Hash(raw)) {
		t.Fatalf("the slice itself: %+v", got)
	}
	if app.pre.take(raw) != nil {
		t.Error("taken twice")
	}
	other := MustTx(t, keys, keys.dids[1], 0, "kv.set", "b", "2")
	app.PreVerify([][]byte{other}, rand.Reader)
	if r := checkTx(t, app, bytes.Clone(other)); r.Code != 0 {
		t.Errorf("a copy of a pre-verified transaction: code %d (%s)", r.Code, r.Log)
	}
	if r := checkTx(t, app, raw); r.Code != 0 {
		t.Errorf("a transaction whose envelope was taken: code %d (%s)", r.Code, r.Log)
	}
}

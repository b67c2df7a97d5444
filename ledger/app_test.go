package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	cc "carechain"
	"carechain/ledger/store"
	"carechain/ledger/tx"
)

const testChain = "carechain-test"

// testKeys is a deterministic set of signers for tests.
type testKeys struct {
	priv map[cc.DID]ed25519.PrivateKey
	dids []cc.DID
}

func newTestKeys(n int) *testKeys {
	k := &testKeys{priv: map[cc.DID]ed25519.PrivateKey{}}
	for i := 0; i < n; i++ {
		seed := bytes.Repeat([]byte{byte(i + 1)}, ed25519.SeedSize)
		priv := ed25519.NewKeyFromSeed(seed)
		d := tx.DeriveDID(priv.Public().(ed25519.PublicKey))
		k.priv[d] = priv
		k.dids = append(k.dids, d)
	}
	return k
}

// testConfig registers a tiny domain: "kv.set" writes kv/{key}, "kv.copy"
// copies kv/{key} to kv/{value} (both TimeFree), "kv.panic" panics,
// "kv.fail" returns an Invalid error after writing.
func testConfig(keys *testKeys) Config {
	type setPayload struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	return Config{
		Handlers: map[string]cc.Handler{
			"kv.set": func(ctx cc.TxContext, kv cc.KV, p json.RawMessage) (cc.Result, error) {
				var sp setPayload
				if err := json.Unmarshal(p, &sp); err != nil || sp.Key == "" {
					return cc.Result{}, cc.Errorf("kv.set", cc.Malformed, "bad payload")
				}
				kv.Set("kv/"+sp.Key, []byte(sp.Value))
				return cc.Result{Events: []cc.Event{{Type: "kv.set", Attributes: []cc.Attribute{{Key: "key", Value: sp.Key}}}}}, nil
			},
			"kv.copy": func(ctx cc.TxContext, kv cc.KV, p json.RawMessage) (cc.Result, error) {
				// kv/{value} = kv/{key}: a write that depends on a read
				var sp setPayload
				if err := json.Unmarshal(p, &sp); err != nil || sp.Key == "" || sp.Value == "" {
					return cc.Result{}, cc.Errorf("kv.copy", cc.Malformed, "bad payload")
				}
				v, err := kv.Get("kv/" + sp.Key)
				if err != nil {
					return cc.Result{}, err
				}
				kv.Set("kv/"+sp.Value, append([]byte("copy:"), v...))
				return cc.Result{}, nil
			},
			"kv.fail": func(ctx cc.TxContext, kv cc.KV, p json.RawMessage) (cc.Result, error) {
				kv.Set("kv/should-not-exist", []byte("x"))
				return cc.Result{}, cc.Errorf("kv.fail", cc.Invalid, "always fails")
			},
			"kv.panic": func(ctx cc.TxContext, kv cc.KV, p json.RawMessage) (cc.Result, error) {
				panic("boom")
			},
		},
		TimeFree: map[string]bool{"kv.set": true, "kv.copy": true},
		SignerKey: func(kv cc.Reader, signer cc.DID, typ string, payload json.RawMessage) (ed25519.PublicKey, error) {
			priv, ok := keys.priv[signer]
			if !ok {
				return nil, cc.Errorf("signer", cc.UnknownSigner, "unknown signer %s", signer)
			}
			return priv.Public().(ed25519.PublicKey), nil
		},
	}
}

// MustApp returns a fresh App on an in-memory Pebble store, after InitChain.
func MustApp(t testing.TB, keys *testKeys) *App {
	t.Helper()
	return mustAppWith(t, testConfig(keys))
}

// mustAppWith is MustApp with another Config.
func mustAppWith(t testing.TB, cfg Config) *App {
	t.Helper()
	st, err := store.OpenInMemory()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	app := New(st, cfg)
	if _, err := app.InitChain(context.Background(), &abci.InitChainRequest{ChainId: testChain, AppStateBytes: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	deliver(t, app) // block 1 commits the genesis writes
	return app
}

// MustTx builds a signed kv.set transaction.
func MustTx(t testing.TB, keys *testKeys, signer cc.DID, seq uint64, typ, key, value string) []byte {
	t.Helper()
	raw, err := tx.Build(testChain, signer, keys.priv[signer], seq, typ, map[string]string{"key": key, "value": value})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

var blockTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// deliver runs FinalizeBlock and Commit for one block and returns the results.
func deliver(t testing.TB, app *App, txs ...[]byte) *abci.FinalizeBlockResponse {
	t.Helper()
	resp := finalize(t, app, txs...)
	if _, err := app.Commit(context.Background(), &abci.CommitRequest{}); err != nil {
		t.Fatal(err)
	}
	return resp
}

// finalize executes the next block of txs (FinalizeBlock, no Commit).
func finalize(t testing.TB, app *App, txs ...[]byte) *abci.FinalizeBlockResponse {
	t.Helper()
	h := app.Store().LastHeight() + 1
	resp, err := app.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: h, Time: blockTime.Add(time.Duration(h) * time.Second), Txs: txs})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func checkTx(t testing.TB, app *App, raw []byte) *abci.CheckTxResponse {
	t.Helper()
	resp, err := app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: raw, Type: abci.CHECK_TX_TYPE_CHECK})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestCycleCheckFinalizeCommitQuery(t *testing.T) {
	keys := newTestKeys(2)
	app := MustApp(t, keys)
	a := keys.dids[0]
	tx0 := MustTx(t, keys, a, 0, "kv.set", "colour", "blue")
	tx1 := MustTx(t, keys, a, 1, "kv.set", "shape", "round")
	for _, raw := range [][]byte{tx0, tx1} {
		if r := checkTx(t, app, raw); r.Code != 0 {
			t.Fatalf("CheckTx: code %d %s", r.Code, r.Log)
		}
	}
	resp := deliver(t, app, tx0, tx1)
	for i, r := range resp.TxResults {
		if r.Code != 0 {
			t.Fatalf("tx %d: code %d %s", i, r.Code, r.Log)
		}
	}
	if got, want := app.Store().LastHeight(), int64(2); got != want {
		t.Fatalf("height = %d, want %d", got, want)
	}
	if !bytes.Equal(app.Store().LastAppHash(), resp.AppHash) {
		t.Fatalf("committed app hash differs from FinalizeBlock's")
	}
	q, err := app.Query(context.Background(), &abci.QueryRequest{Path: QueryState, Data: []byte("kv/colour"), Prove: true})
	if err != nil || q.Code != 0 {
		t.Fatalf("query: %v %d %s", err, q.Code, q.Log)
	}
	if got, want := string(q.Value), "blue"; got != want {
		t.Errorf("value = %q, want %q", got, want)
	}
	var p store.Proof
	if err := json.Unmarshal([]byte(q.Info), &p); err != nil {
		t.Fatal(err)
	}
	got, err := store.VerifyProof(&p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, resp.AppHash) {
		t.Errorf("proof recomputes app hash %x, want %x", got, resp.AppHash)
	}
	seq, _ := app.Query(context.Background(), &abci.QueryRequest{Path: QuerySequence, Data: []byte(a)})
	if got, want := string(seq.Value), "2"; got != want {
		t.Errorf("sequence = %s, want %s", got, want)
	}
	// A transaction's inclusion is provable by its hash.
	if _, err := app.Store().Proof(txIndexKey(tx.Hash(tx0))); err != nil {
		t.Errorf("no proof for tx index: %v", err)
	}
}

// tamper re-encodes raw's envelope after applying f to it.
func tamper(t testing.TB, raw []byte, f func(env map[string]any)) []byte {
	t.Helper()
	var env map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&env); err != nil {
		t.Fatal(err)
	}
	body := map[string]any{}
	bd := json.NewDecoder(bytes.NewReader([]byte(mustJSON(t, env["body"]))))
	bd.UseNumber()
	_ = bd.Decode(&body)
	env["body"] = body
	f(env)
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustJSON(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBadInputTable(t *testing.T) {
	keys := newTestKeys(3)
	a, b := keys.dids[0], keys.dids[1]
	good := func(seq uint64) []byte { return MustTx(t, keys, a, seq, "kv.set", "k", "v") }
	otherChain, _ := tx.Build("other-chain", a, keys.priv[a], 0, "kv.set", map[string]string{"key": "k", "value": "v"})
	unknownType, _ := tx.Build(testChain, a, keys.priv[a], 0, "kv.nope", map[string]string{"key": "k"})
	wrongKey, _ := tx.Build(testChain, a, keys.priv[b], 0, "kv.set", map[string]string{"key": "k", "value": "v"})
	unknownSigner := newTestKeys(9).dids[8]
	unknown, _ := tx.Build(testChain, unknownSigner, newTestKeys(9).priv[unknownSigner], 0, "kv.set", map[string]string{"key": "k", "value": "v"})
	big := MustTx(t, keys, a, 0, "kv.set", "k", strings.Repeat("x", tx.MaxTxBytes))
	flipped := good(0)
	flipped = bytes.Replace(flipped, []byte(`"value":"v"`), []byte(`"value":"w"`), 1)
	nonCanon := tamper(t, good(0), func(env map[string]any) {
		env["body"] = json.RawMessage(`{"type":"kv.set","chain_id":"` + testChain + `","sequence":0,"payload":{"key":"k","value":"v"}}`)
	})
	badSigEncoding := tamper(t, good(0), func(env map[string]any) { env["sig"] = "!!" })
	sigOfOther := tamper(t, good(0), func(env map[string]any) {
		env["sig"] = base64.RawURLEncoding.EncodeToString(make([]byte, 64))
	})

	tests := []struct {
		name string
		pre  [][]byte // committed first
		raw  []byte
		want cc.Kind
	}{
		{"malformed JSON", nil, []byte(`{"body":`), cc.Malformed},
		{"not an object", nil, []byte(`[1,2]`), cc.Malformed},
		{"empty", nil, nil, cc.Malformed},
		{"oversize", nil, big, cc.TooLarge},
		{"non-canonical body", nil, nonCanon, cc.NonCanonical},
		{"bad signature bytes", nil, badSigEncoding, cc.Malformed},
		{"bad signature", nil, sigOfOther, cc.BadSignature},
		{"tampered body", nil, flipped, cc.BadSignature},
		{"signed by another key", nil, wrongKey, cc.BadSignature},
		{"wrong chain id", nil, otherChain, cc.WrongChain},
		{"unknown type", nil, unknownType, cc.UnknownType},
		{"unknown signer", nil, unknown, cc.UnknownSigner},
		{"replayed sequence", [][]byte{good(0)}, good(0), cc.SequenceReplay},
		{"skipped sequence", nil, good(5), cc.SequenceGap},
		{"handler error", nil, MustTx(t, keys, a, 0, "kv.fail", "k", "v"), cc.Invalid},
		{"handler panic", nil, MustTx(t, keys, a, 0, "kv.panic", "k", "v"), cc.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := MustApp(t, keys)
			if len(tt.pre) > 0 {
				deliver(t, app, tt.pre...)
			}
			digestBefore := MustDigest(t, app)
			seqBefore, _ := Sequence(app.Store().Committed(), a)

			if r := checkTx(t, app, tt.raw); r.Code != tt.want.Code() {
				t.Errorf("CheckTx code = %d (%s), want %d (%v)", r.Code, r.Log, tt.want.Code(), tt.want)
			} else if r.Log == "" {
				t.Errorf("CheckTx rejection has no log")
			}
			resp := deliver(t, app, tt.raw)
			if got := resp.TxResults[0].Code; got != tt.want.Code() {
				t.Errorf("FinalizeBlock code = %d (%s), want %d", got, resp.TxResults[0].Log, tt.want.Code())
			}
			if got := MustDigest(t, app); !bytes.Equal(got, digestBefore) {
				t.Errorf("state changed by a rejected transaction")
			}
			if seq, _ := Sequence(app.Store().Committed(), a); seq != seqBefore {
				t.Errorf("sequence moved from %d to %d", seqBefore, seq)
			}
			if v, _ := app.Store().Committed().Get("kv/should-not-exist"); v != nil {
				t.Errorf("failed handler's write leaked")
			}
		})
	}
}

// MustDigest returns the committed state digest recomputed from a full scan.
func MustDigest(t testing.TB, app *App) []byte {
	t.Helper()
	d, err := app.Store().RecomputeDigest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestReplayDeterminism(t *testing.T) {
	keys := newTestKeys(4)
	var blocks [][][]byte
	seqs := map[cc.DID]uint64{}
	for h := 0; h < 12; h++ {
		var txs [][]byte
		for i, d := range keys.dids {
			if (h+i)%3 == 0 {
				continue
			}
			txs = append(txs, MustTx(t, keys, d, seqs[d], "kv.set", fmt.Sprintf("k%d", (h*7+i)%5), fmt.Sprintf("v%d-%d", h, i)))
			seqs[d]++
		}
		if h%4 == 1 { // a failing and a replayed tx: same outcome everywhere
			txs = append(txs, MustTx(t, keys, keys.dids[0], seqs[keys.dids[0]], "kv.fail", "x", "y"))
			txs = append(txs, txs[0])
		}
		blocks = append(blocks, txs)
	}
	a1, a2 := MustApp(t, keys), MustApp(t, keys)
	var hashes [][]byte
	for h, txs := range blocks {
		r1, r2 := deliver(t, a1, txs...), deliver(t, a2, txs...)
		hashes = append(hashes, r1.AppHash)
		if !bytes.Equal(r1.AppHash, r2.AppHash) {
			t.Fatalf("height %d: AppHash %x != %x", h+1, r1.AppHash, r2.AppHash)
		}
		for i := range r1.TxResults {
			if r1.TxResults[i].Code != r2.TxResults[i].Code {
				t.Fatalf("height %d tx %d: code %d != %d", h+1, i, r1.TxResults[i].Code, r2.TxResults[i].Code)
			}
		}
	}
	// A third app that ran CheckTx first (signatures noted on the admitted envelopes) agrees too.
	a3 := MustApp(t, keys)
	for h, txs := range blocks {
		for _, raw := range txs {
			checkTx(t, a3, raw)
		}
		if r := deliver(t, a3, txs...); !bytes.Equal(r.AppHash, hashes[h]) || !bytes.Equal(r.AppHash, mustAppHashAt(t, a1, int64(h+2))) {
			t.Fatalf("height %d: app with warm cache diverged", h+1)
		}
	}
}

func TestRestartContinues(t *testing.T) {
	keys := newTestKeys(1)
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	app := New(st, testConfig(keys))
	app.InitChain(context.Background(), &abci.InitChainRequest{ChainId: testChain, AppStateBytes: []byte(`{}`)})
	d := keys.dids[0]
	r := deliver(t, app, MustTx(t, keys, d, 0, "kv.set", "a", "1"))
	// A block finalized but not committed is lost on crash; Info reports the last commit.
	app.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: 2, Time: blockTime, Txs: [][]byte{MustTx(t, keys, d, 1, "kv.set", "b", "2")}})
	st.Close()

	st2, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	app2 := New(st2, testConfig(keys))
	info, _ := app2.Info(context.Background(), &abci.InfoRequest{})
	if info.LastBlockHeight != 1 || !bytes.Equal(info.LastBlockAppHash, r.AppHash) {
		t.Fatalf("Info after restart = %d %x, want 1 %x", info.LastBlockHeight, info.LastBlockAppHash, r.AppHash)
	}
	if got := app2.ChainID(); got != testChain {
		t.Errorf("chain id after restart = %q", got)
	}
	r2 := deliver(t, app2, MustTx(t, keys, d, 1, "kv.set", "b", "2"))
	if r2.TxResults[0].Code != 0 {
		t.Fatalf("replayed block 2 failed: %s", r2.TxResults[0].Log)
	}
}

func TestNotifierDeliversOutcome(t *testing.T) {
	keys := newTestKeys(1)
	app := MustApp(t, keys)
	raw := MustTx(t, keys, keys.dids[0], 0, "kv.set", "a", "1")
	ch := app.Notifier().Expect(tx.Hash(raw))
	deliver(t, app, raw)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := app.Notifier().Wait(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	if out.Height != 2 || out.Code != 0 {
		t.Errorf("outcome = %+v", out)
	}
	if got := app.Stats().CommittedTx.Load(); got != 1 {
		t.Errorf("committed count = %d", got)
	}
}

// TestNotifierWhenIncluded checks that a block's FinalizeBlock closes the
// WhenIncluded channels of its transactions — before their outcomes are
// published — and of no other, and that cancel unregisters.
func TestNotifierWhenIncluded(t *testing.T) {
	keys := newTestKeys(1)
	app := MustApp(t, keys)
	d := keys.dids[0]
	in := MustTx(t, keys, d, 0, "kv.set", "a", "1")
	out := MustTx(t, keys, d, 1, "kv.set", "b", "2")
	gone := MustTx(t, keys, d, 2, "kv.set", "c", "3")
	n := app.Notifier()
	inCh, _ := n.WhenIncluded(sha256.Sum256(in))
	outCh, cancelOut := n.WhenIncluded(sha256.Sum256(out))
	goneCh, cancelGone := n.WhenIncluded(sha256.Sum256(gone))
	cancelGone()
	done := n.Expect(tx.Hash(in))
	finalize(t, app, in)
	select {
	case <-inCh:
	default:
		t.Fatal("the included transaction's channel is open after FinalizeBlock")
	}
	select {
	case <-done:
		t.Fatal("the outcome was published before Commit")
	default:
	}
	if _, err := app.Commit(context.Background(), &abci.CommitRequest{}); err != nil {
		t.Fatal(err)
	}
	deliver(t, app, out)
	select {
	case <-outCh:
	default:
		t.Error("the second block did not close its transaction's channel")
	}
	cancelOut() // a no-op once closed
	deliver(t, app, gone)
	select {
	case <-goneCh:
		t.Error("a cancelled channel was closed")
	default:
	}
	n.mu.Lock()
	left := len(n.included)
	n.mu.Unlock()
	if left != 0 {
		t.Errorf("%d registrations left", left)
	}
}

func mustAppHashAt(t testing.TB, app *App, h int64) []byte {
	t.Helper()
	m, err := app.Store().BlockMeta(h)
	if err != nil {
		t.Fatal(err)
	}
	return m.AppHash
}

func TestMergeValidatorUpdates(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	got := mergeValidatorUpdates(nil, []cc.ValidatorUpdate{{PubKey: k1, Power: 10}, {PubKey: k2, Power: 5}})
	got = mergeValidatorUpdates(got, []cc.ValidatorUpdate{{PubKey: k1, Power: 0}})
	if len(got) != 2 || !bytes.Equal(got[0].PubKeyBytes, k1) || got[0].Power != 0 || got[1].Power != 5 {
		t.Errorf("merged %+v", got)
	}
}

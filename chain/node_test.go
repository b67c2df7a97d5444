package chain

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"

	cc "carechain"
	"carechain/ledger"
	"carechain/ledger/store"
	"carechain/ledger/tx"
	"carechain/node"
	"carechain/seed"
)

// MustNode initializes a one-validator home with the seed population's
// genesis and starts it (real CometBFT, real Pebble files).
func MustNode(t *testing.T, home string, pop *seed.Population) *Node {
	t.Helper()
	gen, _ := json.Marshal(pop.Genesis())
	if err := node.Init(node.InitOptions{Home: home, Moniker: "t", ChainID: "chain-test", AppState: gen, TimeoutCommit: 50 * time.Millisecond,
		P2PAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	n, err := Open(context.Background(), home, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func registerTx(t *testing.T, id seed.Identity) []byte {
	t.Helper()
	raw, err := tx.Build("chain-test", id.DID, id.Key, 0, "patient.register", map[string]string{"public_key": tx.EncodeKey(id.Key.Public().(ed25519.PublicKey))})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestNodeSubmitProofRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	home := t.TempDir()
	pop := seed.NewPopulation("chain-test", 4)
	n := MustNode(t, home, pop)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	txs := [][]byte{registerTx(t, pop.Patients[0]), registerTx(t, pop.Patients[1])}
	res := n.Submit(ctx, append(txs, txs[0]), true)
	for i, r := range res[:2] {
		if !r.Accepted || r.Height == 0 {
			t.Fatalf("tx %d: %+v", i, r)
		}
	}
	if res[2].Accepted || res[2].Kind != cc.Conflict.String() && res[2].Kind != cc.SequenceReplay.String() {
		// A duplicate is caught by the mempool cache (conflict) or, after
		// commit, by the sequence (replay).
		t.Errorf("duplicate: %+v", res[2])
	}

	// A proof bundle of the transaction verifies against the signed header,
	// and any tampering is caught.
	b, err := n.Proof(ctx, ledger.TxIndexKey(tx.Hash(txs[0])))
	if err != nil {
		t.Fatal(err)
	}
	v, err := VerifyBundle(b)
	if err != nil {
		t.Fatalf("VerifyBundle: %v", err)
	}
	if v.Height != res[0].Height || v.SignedPower != v.TotalPower || v.TotalPower == 0 {
		t.Errorf("verified %+v", v)
	}
	tampers := map[string]func(b *cc.ProofBundle){
		"store value": func(b *cc.ProofBundle) {
			b.StoreProof = bytes.Replace(b.StoreProof, []byte(`"value":"`), []byte(`"value":"AA`), 1)
		},
		"header app hash": func(b *cc.ProofBundle) {
			b.SignedHeader = bytes.Replace(b.SignedHeader, []byte(`"app_hash":"`), []byte(`"app_hash":"00`), 1)
		},
		"chain id": func(b *cc.ProofBundle) { b.ChainID = "other" },
		"validators": func(b *cc.ProofBundle) {
			b.Validators = bytes.Replace(b.Validators, []byte(`"voting_power":"10"`), []byte(`"voting_power":"11"`), 1)
		},
		"no header": func(b *cc.ProofBundle) { b.SignedHeader = nil },
	}
	for name, f := range tampers {
		c := *b
		f(&c)
		if _, err := VerifyBundle(&c); err == nil {
			t.Errorf("tampered %s: verified", name)
		}
	}

	m := n.Metrics()
	if m.PreVerifiedSigs < 2 {
		t.Errorf("metrics: %d signatures pre-verified, want at least the 2 admitted", m.PreVerifiedSigs)
	}
	for _, stage := range []string{"consensus", "execute", "commit"} {
		if d, ok := m.LastBlockStages[stage]; !ok || d < 0 {
			t.Errorf("metrics: last block's %s stage = %v (present %v)", stage, d, ok)
		}
	}

	st, _ := n.Status(ctx)
	if st.ChainID != "chain-test" || len(st.Validators) != 1 {
		t.Errorf("status %+v", st)
	}
	info, err := n.Tx(ctx, tx.Hash(txs[1]))
	if err != nil || !bytes.Equal(info.Tx, txs[1]) {
		t.Errorf("Tx lookup: %v %+v", err, info)
	}
	blk, err := n.Block(ctx, info.Height)
	if err != nil || blk.NumTxs == 0 {
		t.Errorf("Block: %v %+v", err, blk)
	}

	// Restart: the chain continues from the committed state.
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2, err := Open(context.Background(), home, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			n2.Close()
		}
	}()
	if seq, _ := n2.Sequence(ctx, pop.Patients[0].DID); seq != 1 {
		t.Errorf("sequence after restart = %d, want 1", seq)
	}
	res = n2.Submit(ctx, [][]byte{registerTx(t, pop.Patients[2])}, true)
	if !res[0].Accepted || res[0].Height <= st.LatestHeight {
		t.Errorf("after restart: %+v (height before %d)", res[0], st.LatestHeight)
	}
	st2, _ := n2.Status(ctx)
	if m, err := n2.App.Store().BlockMeta(st2.LatestHeight); err != nil || st2.LatestAppHash != hex.EncodeToString(m.AppHash) {
		t.Errorf("status app hash %s at %d != store's %v %v", st2.LatestAppHash, st2.LatestHeight, m, err)
	}

	// A state written under another application version is refused at
	// start, with what to do, before CometBFT runs anything.
	closed = true
	if err := n2.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(StateDir(home))
	if err != nil {
		t.Fatal(err)
	}
	s.Working().Set("meta/app_version", []byte("1"))
	if _, err := s.FinalizeBlock(s.LastHeight() + 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if n3, err := Open(context.Background(), home, slog.New(slog.DiscardHandler)); err == nil {
		n3.Close()
		t.Fatal("Open of a state written under application version 1 succeeded")
	} else if cc.KindOf(err) != cc.FailedPrecondition || !strings.Contains(err.Error(), "version 1") || !strings.Contains(err.Error(), "--fresh") {
		t.Errorf("Open of a version 1 state: %v", err)
	}
	// verify still replays it, and says first why it differs.
	rep, err := Verify(home, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Problems) == 0 || !strings.Contains(rep.Problems[0], "application version 1") {
		t.Errorf("Verify of a version 1 state: ok %v, problems %q", rep.OK(), rep.Problems)
	}
}

func TestVerifyCleanHome(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	home := t.TempDir()
	pop := seed.NewPopulation("chain-verify", 3)
	n := MustNode(t, home, pop)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, p := range pop.Patients {
		if r := n.Submit(ctx, [][]byte{registerTx(t, p)}, true); !r[0].Accepted {
			t.Fatalf("%+v", r[0])
		}
	}
	n.Close()
	rep, err := Verify(home, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.StateHeight == 0 {
		t.Fatalf("verify of an untouched home failed: %+v", rep)
	}
}

// TestPipelinedSubmitThen: one signer submits its sequences one after the
// other without waiting for commits (as a gatekeeper does with its node
// key), while blocks are committed in between; every one is admitted and
// commits successfully. This relies on the mempool state keeping admitted,
// not yet included transactions across Commit (see ledger.mempoolState).
func TestPipelinedSubmitThen(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	pop := seed.NewPopulation("chain-test", 4)
	n := MustNode(t, t.TempDir(), pop)
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pt := pop.Patients
	for i, r := range n.Submit(ctx, [][]byte{registerTx(t, pt[1]), registerTx(t, pt[2]), registerTx(t, pt[3])}, true) {
		if !r.Accepted {
			t.Fatalf("register %d: %+v", i+1, r)
		}
	}
	var waits []func(context.Context) cc.SubmitResult
	heights := map[int64]bool{}
	for seq := uint64(0); seq < 60; seq++ {
		raw := registerTx(t, pt[0])
		if seq > 0 {
			var err error
			raw, err = tx.Build("chain-test", pt[0].DID, pt[0].Key, seq, "did.guardians.set", map[string]any{
				"guardians": []cc.DID{pt[1].DID, pt[2].DID, pt[3].DID}, "threshold": 1 + seq%2, "delay_blocks": 10})
			if err != nil {
				t.Fatal(err)
			}
		}
		res, wait := n.SubmitThen(ctx, raw)
		if !res.Accepted {
			t.Fatalf("seq %d not admitted: %+v", seq, res)
		}
		waits = append(waits, wait)
		time.Sleep(5 * time.Millisecond)
	}
	for seq, wait := range waits {
		r := wait(ctx)
		if !r.Accepted || r.Height == 0 {
			t.Fatalf("seq %d: %+v", seq, r)
		}
		heights[r.Height] = true
	}
	if len(heights) < 3 {
		t.Fatalf("the 60 transactions committed in %d blocks; the test needs them spread over several", len(heights))
	}
}

// TestConcurrentSubmitKeepsPrediction submits from many goroutines at once
// and checks that every block was the one the application's admission log
// predicted: the mempool lists transactions in the order the application
// admitted them (node.mempoolCheckTx), so no block makes the App fall back to
// comparing sets or re-executing its pending admissions.
func TestConcurrentSubmitKeepsPrediction(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	const workers, each = 8, 400
	pop := seed.NewPopulation("chain-test", workers*each)
	n := MustNode(t, t.TempDir(), pop)
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	txs := make([][]byte, len(pop.Patients))
	for i, p := range pop.Patients {
		txs[i] = registerTx(t, p)
	}
	errs := make(chan string, workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			var bad string
			var waits []func(context.Context) cc.SubmitResult
			for i := w; i < len(txs); i += workers {
				res, wait := n.SubmitThen(ctx, txs[i])
				if !res.Accepted {
					bad = fmt.Sprintf("tx %d not admitted: %+v", i, res)
					break
				}
				waits = append(waits, wait)
			}
			for _, wait := range waits {
				if r := wait(ctx); bad == "" && (!r.Accepted || r.Height == 0) {
					bad = fmt.Sprintf("worker %d: %+v", w, r)
				}
			}
			errs <- bad
		}(w)
	}
	for w := 0; w < workers; w++ {
		if bad := <-errs; bad != "" {
			t.Fatal(bad)
		}
	}
	st := n.App.Stats()
	blocks, kept, indep := st.Blocks.Load(), st.KeptAdmissions.Load(), st.KeptIndependent.Load()
	if got, want := st.CommittedTx.Load(), uint64(len(txs)); got < want {
		t.Fatalf("committed %d transactions, want ≥ %d", got, want)
	}
	// Block 1 (genesis writes) resets the admission log; every later block
	// must have been predicted exactly.
	if indep != 0 || kept+1 < blocks {
		t.Fatalf("%d blocks: %d kept the admissions, %d of them only as independent; want every block after the first predicted", blocks, kept, indep)
	}
}

// TestSubmitShedsPastMempoolRoom: with room for 50 transactions, a batch
// of 120 has its first 50 admitted and the other 70 refused at once as
// "mempool full" (Unavailable, no signature verified, nothing changed); once
// the first ones commit the refused ones are admitted when sent again.
func TestSubmitShedsPastMempoolRoom(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	const room, batch = 50, 120
	home := t.TempDir()
	pop := seed.NewPopulation("chain-test", batch)
	gen, _ := json.Marshal(pop.Genesis())
	if err := node.Init(node.InitOptions{Home: home, Moniker: "t", ChainID: "chain-test", AppState: gen, TimeoutCommit: 50 * time.Millisecond,
		P2PAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	c, err := node.LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	c.Mempool.Size = room
	cmtcfg.WriteConfigFile(filepath.Join(home, "config", "config.toml"), c)
	n, err := Open(context.Background(), home, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	txs := make([][]byte, batch)
	for i, p := range pop.Patients {
		txs[i] = registerTx(t, p)
	}
	verified := n.App.Stats().PreVerified.Load()
	oversize := bytes.Repeat([]byte("x"), tx.MaxTxBytes+1)
	res := n.Submit(ctx, append(txs, oversize), true)
	// Past the room, an oversize transaction still gets its own answer.
	if r := res[batch]; r.Accepted || r.Kind != cc.TooLarge.String() {
		t.Errorf("oversize tx past the room: %+v, want too large", r)
	}
	res = res[:batch]
	for i, r := range res {
		if got, want := r.Hash, hex.EncodeToString(tx.Hash(txs[i])); got != want {
			t.Errorf("tx %d: hash %s, want %s", i, got, want)
		}
		if i < room {
			if !r.Accepted || r.Height == 0 {
				t.Errorf("tx %d: %+v, want committed", i, r)
			}
			continue
		}
		if r.Accepted || r.Code != cc.Unavailable.Code() || r.Kind != cc.Unavailable.String() || !strings.Contains(r.Log, "mempool is full") {
			t.Errorf("tx %d: %+v, want refused as mempool full", i, r)
		}
	}
	if got := n.App.Stats().PreVerified.Load() - verified; got != room {
		t.Errorf("%d signatures verified, want %d (only the admitted)", got, room)
	}
	if info, err := n.Tx(ctx, tx.Hash(txs[room])); !cc.Is(cc.NotFound, err) {
		t.Errorf("refused tx: %+v, %v; want not found", info, err)
	}
	for i, r := range n.Submit(ctx, txs[room:room+room], true) {
		if !r.Accepted || r.Height == 0 {
			t.Errorf("resent tx %d: %+v", room+i, r)
		}
	}
	if rt, rb := n.reservedTxs.Load(), n.reservedBytes.Load(); rt != 0 || rb != 0 {
		t.Errorf("after the submissions %d transactions (%d bytes) still reserved", rt, rb)
	}
}

package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	cmtcfg "github.com/cometbft/cometbft/config"

	"carechain"
)

func TestTuneAndLoadConfig(t *testing.T) {
	c := cmtcfg.DefaultConfig()
	Tune(c, 0)
	if c.Consensus.TimeoutCommit != DefaultTimeoutCommit || c.TxIndex.Indexer != "null" ||
		c.Mempool.Size != 10000 || c.Mempool.MaxTxBytes != 1<<20 || !c.Mempool.Recheck ||
		!c.Consensus.CreateEmptyBlocks || c.Consensus.CreateEmptyBlocksInterval != DefaultEmptyBlocksInterval ||
		c.Instrumentation.Prometheus || c.LogLevel != "error" || c.P2P.SendRate != 100<<20 || c.P2P.RecvRate != 100<<20 {
		t.Fatalf("Tune left %+v %+v %+v", c.Consensus, c.Mempool, c.TxIndex)
	}
	if !strings.HasPrefix(c.RPC.ListenAddress, "tcp://127.0.0.1:") || !strings.HasPrefix(c.P2P.ListenAddress, "tcp://127.0.0.1:") {
		t.Fatalf("not loopback: rpc %s p2p %s", c.RPC.ListenAddress, c.P2P.ListenAddress)
	}
	Tune(c, -1)
	if c.Consensus.TimeoutCommit != 0 {
		t.Fatalf("negative timeout commit should mean 0, got %v", c.Consensus.TimeoutCommit)
	}

	// What Init writes, LoadConfig reads back (durations, lists, nested tables).
	home := t.TempDir()
	if err := Init(InitOptions{Home: home, ChainID: "cfg-test", TimeoutCommit: 150 * time.Millisecond,
		RPCAddr: "127.0.0.1:36657", PrometheusAddr: "127.0.0.1:36660"}); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	if got.Consensus.TimeoutCommit != 150*time.Millisecond || got.Mempool.MaxTxsBytes != 256<<20 || got.P2P.SendRate != 100<<20 ||
		got.RPC.ListenAddress != "tcp://127.0.0.1:36657" || !got.Instrumentation.Prometheus ||
		got.RootDir != home || got.Storage.Pruning.Interval != cmtcfg.DefaultConfig().Storage.Pruning.Interval {
		t.Fatalf("round trip: consensus %+v rpc %s root %s", got.Consensus, got.RPC.ListenAddress, got.RootDir)
	}
	if _, err := LoadConfig(t.TempDir()); !carechain.Is(carechain.NotFound, err) {
		t.Fatalf("LoadConfig of an empty dir: %v", err)
	}
}

func TestInitIdempotent(t *testing.T) {
	home := t.TempDir()
	created := map[string]bool{}
	report := func(p string, c bool) { created[filepath.Base(p)] = c }
	app := json.RawMessage(`{"hello":"world"}`)
	if err := Init(InitOptions{Home: home, ChainID: "idem", AppState: app, Report: report}); err != nil {
		t.Fatal(err)
	}
	want := []string{"config.toml", "genesis.json", "node_key.json", "priv_validator_key.json", "priv_validator_state.json"}
	for _, f := range want {
		if !created[f] {
			t.Fatalf("%s not created: %v", f, created)
		}
	}
	clear(created)
	if err := Init(InitOptions{Home: home, Report: report}); err != nil {
		t.Fatal(err)
	}
	for _, f := range want {
		if c, ok := created[f]; !ok || c {
			t.Fatalf("%s not kept on re-init: %v", f, created)
		}
	}
	if err := Init(InitOptions{Home: home, ChainID: "other"}); !carechain.Is(carechain.Conflict, err) {
		t.Fatalf("re-init with another chain id: %v", err)
	}
	g, err := ReadGenesis(home)
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, g.AppState); err != nil {
		t.Fatal(err)
	}
	if g.ChainID != "idem" || compact.String() != string(app) || len(g.Validators) != 1 || g.Validators[0].Power != validatorPower {
		t.Fatalf("genesis %+v", g)
	}
}

// TestSingleValidator: init, start, submit through the in-process mempool,
// see the txs committed, stop, restart on the same home, height continues.
func TestSingleValidator(t *testing.T) {
	home := initHome(t, "single")
	n := startKV(t, home)

	var txs [][]byte
	for i := range 20 {
		tx := fmt.Appendf(nil, "k%d=v%d", i, i)
		code, log, err := n.CheckTx(tx)
		if err != nil || code != 0 {
			t.Fatalf("CheckTx(%s) = %d %q %v", tx, code, log, err)
		}
		txs = append(txs, tx)
	}
	// Rejections: the app's code comes back as a code, the node's as an error.
	if code, _, err := n.CheckTx([]byte("no-equals-sign")); err != nil || code != kvstore.CodeTypeInvalidTxFormat {
		t.Fatalf("invalid tx: code %d err %v", code, err)
	}
	if _, _, err := n.CheckTx(txs[0]); !errors.Is(err, ErrDuplicateTx) || !carechain.Is(carechain.Conflict, err) {
		t.Fatalf("duplicate tx: %v", err)
	}
	if _, _, err := n.CheckTx(make([]byte, 1<<20+1)); !errors.Is(err, ErrTxTooLarge) || !carechain.Is(carechain.TooLarge, err) {
		t.Fatalf("oversize tx: %v", err)
	}

	// Async admission keeps submission order and reports each result once.
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	for i := range 20 {
		tx := fmt.Appendf(nil, "a%d=b%d", i, i)
		txs = append(txs, tx)
		wg.Add(1)
		err := n.CheckTxAsync(tx, func(code uint32, log string, err error) {
			defer wg.Done()
			if code != 0 || err != nil {
				t.Errorf("async %s: %d %q %v", tx, code, log, err)
			}
			mu.Lock()
			order = append(order, string(tx))
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i, s := range order {
		if s != fmt.Sprintf("a%d=b%d", i, i) {
			t.Fatalf("async order %v", order)
		}
	}

	heights := waitTxs(t, n, txs)
	var top int64
	for _, h := range heights {
		top = max(top, h)
	}
	if err := n.WaitForHeight(t.Context(), top); err != nil {
		t.Fatal(err)
	}
	st := n.Status()
	if st.ChainID != "single" || st.Moniker != "v0" || st.NodeID == "" || st.LatestHeight < 1 ||
		len(st.Validators) != 1 || len(st.Validators[0].PubKey) != 32 || st.CatchingUp || len(st.LatestAppHash) == 0 {
		t.Fatalf("status %+v", st)
	}

	// A header is provable as soon as its block is committed (seen commit).
	h := n.Height()
	sh, err := n.SignedHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := n.ValidatorSet(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := vals.VerifyCommitLight("single", sh.Commit.BlockID, h, sh.Commit); err != nil {
		t.Fatalf("signed header %d: %v", h, err)
	}
	if _, err := n.SignedHeader(h + 1000); !carechain.Is(carechain.NotFound, err) {
		t.Fatalf("future header: %v", err)
	}
	res, err := n.BlockResults(top)
	if err != nil || len(res.TxResults) == 0 {
		t.Fatalf("block results %d: %v", top, err)
	}

	// CometBFT's JSON-RPC is still there, on loopback.
	rpcURL := "http://" + strings.TrimPrefix(n.RPCAddr(), "tcp://") + "/status"
	resp, err := http.Get(rpcURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"network":"single"`) {
		t.Fatalf("rpc status %d %s", resp.StatusCode, body)
	}

	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, _, err := n.CheckTx([]byte("late=1")); !errors.Is(err, ErrStopped) {
		t.Fatalf("CheckTx after Stop: %v", err)
	}
	if err := n.CheckTxAsync([]byte("late=2"), nil); !errors.Is(err, ErrStopped) {
		t.Fatalf("CheckTxAsync after Stop: %v", err)
	}

	// Restart with a fresh in-memory app: CometBFT replays the stored
	// blocks into it during the handshake, then the chain goes on.
	n2 := startKV(t, home)
	if got := n2.Status().LatestHeight; got < h {
		t.Fatalf("restart: height %d < %d", got, h)
	}
	more := []byte("after=restart")
	if code, log, err := n2.CheckTx(more); err != nil || code != 0 {
		t.Fatalf("CheckTx after restart: %d %q %v", code, log, err)
	}
	if got := waitTxs(t, n2, [][]byte{more}); got[string(more)] <= h {
		t.Fatalf("tx after restart at height %d, not above %d", got[string(more)], h)
	}
	if err := n2.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(t.Context(), t.TempDir(), kvstore.NewInMemoryApplication(), nil); !carechain.Is(carechain.NotFound, err) {
		t.Fatalf("start of an empty home: %v", err)
	}
	if _, err := Start(t.Context(), t.TempDir(), nil, nil); !carechain.Is(carechain.Invalid, err) {
		t.Fatalf("start without app: %v", err)
	}
}

// TestStopWithQueuedTxs stops the node while CheckTxAsync is feeding it:
// every queued tx gets exactly one callback (a result or ErrStopped), and
// calls after Stop fail cleanly.
func TestStopWithQueuedTxs(t *testing.T) {
	n := startKV(t, initHome(t, "stop"))
	var calls, stoppedCalls atomic.Int64
	queued := int64(0)
	for i := range 3000 {
		if i == 200 {
			go n.Stop()
		}
		err := n.CheckTxAsync(fmt.Appendf(nil, "s%d=v", i), func(_ uint32, _ string, err error) {
			calls.Add(1)
			if errors.Is(err, ErrStopped) {
				stoppedCalls.Add(1)
			}
		})
		switch {
		case err == nil:
			queued++
		case !errors.Is(err, ErrStopped):
			t.Fatalf("CheckTxAsync: %v", err)
		}
	}
	if err := n.Stop(); err != nil { // waits for the first Stop
		t.Fatal(err)
	}
	if calls.Load() != queued {
		t.Fatalf("%d callbacks for %d queued txs", calls.Load(), queued)
	}
	if _, err := n.Block(1); !errors.Is(err, ErrStopped) {
		t.Fatalf("Block after Stop: %v", err)
	}
	if st := n.Status(); st.ChainID != "stop" || st.LatestHeight != 0 {
		t.Fatalf("status after Stop: %+v", st)
	}
	t.Logf("%d txs queued, %d refused at stop", queued, stoppedCalls.Load())
}

// TestStartFailureReleasesHome: when CometBFT fails to come up (a busy P2P
// port; an app ahead of the home's chain) Start says why and leaves the home
// usable by the next Start in the same process.
func TestStartFailureReleasesHome(t *testing.T) {
	home := initHome(t, "fail")
	c, err := LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", strings.TrimPrefix(c.P2P.ListenAddress, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Start(t.Context(), home, kvstore.NewInMemoryApplication(), nil); !carechain.Is(carechain.FailedPrecondition, err) {
		t.Fatalf("start with a busy P2P port: %v", err)
	}
	busy.Close()

	app := kvstore.NewInMemoryApplication()
	n, err := Start(t.Context(), home, app, nil)
	if err != nil {
		t.Fatalf("start after the port is free: %v", err)
	}
	if err := n.WaitForHeight(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}

	// app has executed block 1 of "fail"; a fresh home has no blocks.
	other := initHome(t, "fail")
	_, err = Start(t.Context(), other, app, nil)
	if !carechain.Is(carechain.FailedPrecondition, err) || !strings.Contains(err.Error(), "AppHash") {
		t.Fatalf("start with an app ahead of the chain: %v", err)
	}
	n = startKV(t, other)
	if err := n.WaitForHeight(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
}

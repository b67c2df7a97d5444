// Package chain runs the carechain ledger application and presents it as a
// carechain.Chain to the edges (HTTP API, CLI, benchmarks): either inside a
// real embedded CometBFT node (Node) or, for tests and tools that need no
// consensus, driven directly block by block in memory (Local).
package chain

import (
	"context"
	"encoding/hex"
	"sync"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	cc "carechain"
	"carechain/ledger"
	"carechain/ledger/tx"
)

// Local drives a ledger.App without CometBFT: every Submit call that admits
// at least one transaction is executed as its own block, at a block time
// taken from Clock. It is deterministic given its inputs and is the in-memory
// CheckTx → FinalizeBlock → Commit → Query cycle the tests use. It has no
// validator signatures, so Proof bundles carry no signed header.
type Local struct {
	App   *ledger.App
	Clock func() time.Time // block time source; defaults to one second per block from 2026-01-01

	mu     sync.Mutex
	blocks []localBlock
}

type localBlock struct {
	info cc.BlockInfo
	txs  [][]byte
}

// NewLocal initializes app's chain (InitChain with chainID and appState)
// unless it already has committed blocks, and returns a Local over it.
func NewLocal(app *ledger.App, chainID string, appState []byte) (*Local, error) {
	l := &Local{App: app}
	if app.Store().LastHeight() == 0 {
		if _, err := app.InitChain(context.Background(), &abci.InitChainRequest{ChainId: chainID, AppStateBytes: appState, Time: l.now(0)}); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *Local) now(h int64) time.Time {
	if l.Clock != nil {
		return l.Clock()
	}
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(h) * time.Second)
}

// Submit checks each transaction and executes the admitted ones as one block.
func (l *Local) Submit(ctx context.Context, txs [][]byte, wait bool) []cc.SubmitResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	results := make([]cc.SubmitResult, len(txs))
	var admitted [][]byte
	var idx []int
	for i, raw := range txs {
		results[i].Hash = hex.EncodeToString(tx.Hash(raw))
		r, _ := l.App.CheckTx(ctx, &abci.CheckTxRequest{Tx: raw, Type: abci.CHECK_TX_TYPE_CHECK})
		if r.Code != 0 {
			results[i].Code, results[i].Log, results[i].Kind = r.Code, r.Log, cc.KindFromCode(r.Code).String()
			continue
		}
		results[i].Accepted = true
		admitted = append(admitted, raw)
		idx = append(idx, i)
	}
	if len(admitted) == 0 {
		return results
	}
	h := l.App.Store().LastHeight() + 1
	t := l.now(h)
	resp, err := l.App.FinalizeBlock(ctx, &abci.FinalizeBlockRequest{Height: h, Time: t, Txs: admitted})
	if err == nil {
		_, err = l.App.Commit(ctx, &abci.CommitRequest{})
	}
	if err != nil {
		for _, i := range idx {
			results[i] = cc.SubmitResult{Hash: results[i].Hash, Code: cc.Internal.Code(), Kind: cc.Internal.String(), Log: "block execution failed"}
		}
		return results
	}
	info := cc.BlockInfo{Height: h, Time: t, NumTxs: len(admitted), AppHash: hex.EncodeToString(resp.AppHash)}
	for j, i := range idx {
		info.TxHashes = append(info.TxHashes, results[i].Hash)
		r := resp.TxResults[j]
		if wait {
			results[i].Height = h
			if r.Code != 0 {
				results[i].Accepted = false
				results[i].Code, results[i].Log, results[i].Kind = r.Code, r.Log, cc.KindFromCode(r.Code).String()
			}
			results[i].Data = jsonOrNil(r.Data)
		}
	}
	l.blocks = append(l.blocks, localBlock{info: info, txs: admitted})
	return results
}

// Status reports the local chain's height and AppHash.
func (l *Local) Status(context.Context) (cc.Status, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := cc.Status{ChainID: l.App.ChainID(), NodeID: "local", Moniker: "local",
		LatestHeight: l.App.Store().LastHeight(), LatestAppHash: hex.EncodeToString(l.App.Store().LastAppHash())}
	if n := len(l.blocks); n > 0 {
		st.LatestBlockTime = l.blocks[n-1].info.Time
	}
	return st, nil
}

// State is the committed state.
func (l *Local) State() cc.Reader { return l.App.Store().Committed() }

// Sequence returns signer's next sequence.
func (l *Local) Sequence(_ context.Context, signer cc.DID) (uint64, error) {
	return ledger.Sequence(l.State(), signer)
}

// Block returns a block executed by this Local (since it was created).
func (l *Local) Block(_ context.Context, height int64) (*cc.BlockInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.blocks {
		if b.info.Height == height {
			info := b.info
			return &info, nil
		}
	}
	return nil, cc.Errorf("block", cc.NotFound, "no block %d", height)
}

// Tx locates a committed transaction by hash.
func (l *Local) Tx(ctx context.Context, hash []byte) (*cc.TxInfo, error) {
	info, err := ledger.LookupTx(l.State(), hash)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.blocks {
		if b.info.Height == info.Height && info.Index < len(b.txs) {
			info.Tx = b.txs[info.Index]
		}
	}
	return info, nil
}

// Proof returns the store proof of key; Local has no signed headers.
func (l *Local) Proof(_ context.Context, key string) (*cc.ProofBundle, error) {
	return storeProofBundle(l.App, key)
}

// Metrics returns the App's counters.
func (l *Local) Metrics() cc.Metrics { return appMetrics(l.App, 0, 0) }

// WhenIncluded returns a channel closed when a block holding the
// transaction with hash begins executing (see Node.WhenIncluded).
func (l *Local) WhenIncluded(hash [32]byte) (<-chan struct{}, func()) {
	return l.App.Notifier().WhenIncluded(hash)
}

// SubmitThen executes raw in its own block (Local has no mempool) and
// returns its result and a function that returns the same, committed,
// result; see Node.SubmitThen.
func (l *Local) SubmitThen(ctx context.Context, raw []byte) (cc.SubmitResult, func(context.Context) cc.SubmitResult) {
	r := l.Submit(ctx, [][]byte{raw}, true)[0]
	if !r.Accepted {
		return r, nil
	}
	return r, func(context.Context) cc.SubmitResult { return r }
}

package chain

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cmtjson "github.com/cometbft/cometbft/libs/json"

	cc "carechain"
	"carechain/ledger"
	"carechain/ledger/store"
	"carechain/ledger/tx"
	"carechain/node"
)

// StateDir is where a home keeps the application state (Pebble), beside
// CometBFT's own data.
func StateDir(home string) string { return filepath.Join(home, "data", "carechain-state") }

// Node is a carechain ledger inside a real embedded CometBFT node.
type Node struct {
	App  *ledger.App
	Node *node.Node
	st   *store.Store

	submitting atomic.Int32 // Submit calls pre-verifying or checking their transactions

	// reservedTxs and reservedBytes are the mempool room that submissions
	// between their room check and CheckTx's answer count on (see reserve).
	reservedTxs, reservedBytes atomic.Int64

	mu                  sync.Mutex
	lastBlock, interval time.Duration
	lastSeen            time.Time
	cancelSub           func()
}

// Open opens home's application state and starts its CometBFT node with
// the ledger in-process.
func Open(ctx context.Context, home string, log *slog.Logger) (*Node, error) {
	st, err := store.Open(StateDir(home))
	if err != nil {
		return nil, err
	}
	if err := ledger.CheckStateVersion(st); err != nil {
		st.Close()
		return nil, err
	}
	app := ledger.New(st, ledger.Domain(log))
	n := &Node{App: app, st: st}
	n.cancelSub = app.Notifier().Subscribe(func([]ledger.TxOutcome) {
		now := time.Now()
		n.mu.Lock()
		if !n.lastSeen.IsZero() {
			n.interval = now.Sub(n.lastSeen)
		}
		n.lastSeen = now
		n.mu.Unlock()
	})
	cn, err := node.Start(ctx, home, app, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	n.Node = cn
	return n, nil
}

// Close stops the node and closes the state store.
func (n *Node) Close() error {
	err := n.Node.Stop()
	n.cancelSub()
	if cerr := n.st.Close(); err == nil {
		err = cerr
	}
	return err
}

// Submit hands each transaction to the in-process mempool (CheckTx), then,
// with wait, waits until each admitted one is committed.
//
// When the mempool has no room for all of them (less what other
// submissions in flight are about to add), the transactions past the room
// are refused at once, with the answer CheckTx gives when the mempool is
// full (Unavailable, retry; TooLarge for one over the size limit, which
// CometBFT checks first), before their signatures are verified: an
// overloaded node spends its CPU on transactions it can admit.
func (n *Node) Submit(ctx context.Context, txs [][]byte, wait bool) []cc.SubmitResult {
	hashes := make([][]byte, len(txs))
	for i, raw := range txs {
		hashes[i] = tx.Hash(raw)
	}
	results := make([]cc.SubmitResult, len(txs))
	room, _ := n.reserve(txs)
	for i := room; i < len(txs); i++ {
		results[i] = n.refuse(txs[i], hashes[i])
	}
	txs = txs[:room]
	others := int(n.submitting.Add(1)) - 1
	n.preVerify(txs, hashes[:room], others)
	chans := make([]chan ledger.TxOutcome, len(txs))
	for i := range txs {
		results[i].Hash = hex.EncodeToString(hashes[i])
		if wait {
			chans[i] = n.App.Notifier().Expect(hashes[i])
		}
	}
	n.Node.CheckTxs(txs, func(i int, code uint32, log string, err error) {
		n.release(1, int64(len(txs[i]))) // now in the mempool's own count, or refused
		if err != nil {
			code, log = mempoolError(err)
		}
		if code != 0 {
			results[i].Code, results[i].Log, results[i].Kind = code, log, cc.KindFromCode(code).String()
			if wait {
				n.App.Notifier().Forget(hashes[i], chans[i])
				chans[i] = nil
			}
			return
		}
		results[i].Accepted = true
	})
	n.submitting.Add(-1)
	// Hash the accepted transactions' writes here, beside CheckTx and the
	// consensus goroutine, for the block that will include them.
	for i := range txs {
		if results[i].Accepted {
			n.App.PrepareSums(hashes[i])
		}
	}
	if !wait {
		return results
	}
	for i, ch := range chans {
		if ch == nil {
			continue
		}
		out, err := n.App.Notifier().Wait(ctx, ch)
		if err != nil {
			n.App.Notifier().Forget(hashes[i], ch)
			results[i].Log = "accepted, but not committed before the wait ended; check GET /v1/txs/" + results[i].Hash
			continue
		}
		results[i].Height = out.Height
		results[i].Data = jsonOrNil(out.Data)
		if out.Code != 0 {
			results[i].Accepted = false
			results[i].Code, results[i].Log, results[i].Kind = out.Code, out.Log, cc.KindFromCode(out.Code).String()
		}
	}
	return results
}

// errMempoolFull is what Submit answers for a transaction the mempool has
// no room for, as node.CheckTx does.
var errMempoolFull = &cc.Error{Op: "chain.Submit", Kind: cc.FailedPrecondition, Msg: node.ErrMempoolFull.Error(), Err: node.ErrMempoolFull}

// refuse answers a transaction (hash = tx.Hash(raw)) the mempool has no
// room for, without checking it: as CheckTx would when the mempool is full,
// or, for one over the size limit, which CometBFT checks first, as it does.
func (n *Node) refuse(raw, hash []byte) cc.SubmitResult {
	var err error = errMempoolFull
	if len(raw) > tx.MaxTxBytes {
		_, _, err = n.Node.CheckTx(raw)
	}
	code, log := mempoolError(err)
	return cc.SubmitResult{Hash: hex.EncodeToString(hash), Code: code, Log: log, Kind: cc.KindFromCode(code).String()}
}

// reserve returns how many of txs, from the first, the mempool has room
// for — its room (node.MempoolRoom) less what other submissions have
// reserved and not yet released — and reserves that room, count and bytes,
// until release (a transaction's, once CheckTx has answered for it).
// Submissions racing between the two reads may reserve a little more than
// there is; CheckTx still refuses what does not fit.
func (n *Node) reserve(txs [][]byte) (k int, size int64) {
	roomTxs, roomBytes := n.Node.MempoolRoom()
	roomTxs -= int(n.reservedTxs.Load())
	roomBytes -= n.reservedBytes.Load()
	for k < len(txs) && k < roomTxs && size+int64(len(txs[k])) <= roomBytes {
		size += int64(len(txs[k]))
		k++
	}
	n.reservedTxs.Add(int64(k))
	n.reservedBytes.Add(size)
	return k, size
}

// release gives back room reserved by reserve.
func (n *Node) release(k int, size int64) {
	n.reservedTxs.Add(-int64(k))
	n.reservedBytes.Add(-size)
}

// mempoolError classifies an error from CometBFT's mempool.
func mempoolError(err error) (uint32, string) {
	if errors.Is(err, node.ErrMempoolFull) || errors.Is(err, node.ErrCatchingUp) || errors.Is(err, node.ErrStopped) {
		return cc.Unavailable.Code(), err.Error() + "; retry shortly"
	}
	var ce *cc.Error
	if errors.As(err, &ce) && ce.Kind != cc.Internal {
		return ce.Kind.Code(), err.Error()
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "already exists in cache"), strings.Contains(msg, "tx already exists"):
		return cc.Conflict.Code(), "transaction already submitted (it is in the mempool or was recently committed)"
	case strings.Contains(msg, "mempool is full"):
		return cc.FailedPrecondition.Code(), "mempool is full; retry shortly"
	case strings.Contains(msg, "too large"):
		return cc.TooLarge.Code(), msg
	}
	return cc.Internal.Code(), "mempool: " + msg
}

// Status reports the node's view of the chain.
func (n *Node) Status(context.Context) (cc.Status, error) {
	s := n.Node.Status()
	st := cc.Status{
		ChainID: s.ChainID, NodeID: s.NodeID, Moniker: s.Moniker,
		LatestHeight: s.LatestHeight, LatestAppHash: hex.EncodeToString(s.LatestAppHash),
		LatestBlockTime: s.LatestBlockTime, CatchingUp: s.CatchingUp, MempoolSize: s.MempoolSize,
	}
	for _, v := range s.Validators {
		st.Validators = append(st.Validators, cc.Validator{Address: hex.EncodeToString(v.Address), PubKey: v.PubKey, Power: v.Power})
	}
	return st, nil
}

// State is the committed application state.
func (n *Node) State() cc.Reader { return n.st.Committed() }

// Sequence returns signer's next sequence in committed state.
func (n *Node) Sequence(_ context.Context, signer cc.DID) (uint64, error) {
	return ledger.Sequence(n.State(), signer)
}

// Block summarizes a committed block.
func (n *Node) Block(_ context.Context, height int64) (*cc.BlockInfo, error) {
	b, err := n.Node.Block(height)
	if err != nil || b == nil {
		return nil, cc.Errorf("block", cc.NotFound, "no block %d", height)
	}
	info := &cc.BlockInfo{Height: b.Height, Hash: hex.EncodeToString(b.Hash()), Time: b.Time, AppHash: hex.EncodeToString(b.AppHash),
		Proposer: hex.EncodeToString(b.ProposerAddress), NumTxs: len(b.Txs), TxHashes: []string{}}
	for _, t := range b.Txs {
		info.TxHashes = append(info.TxHashes, hex.EncodeToString(t.Hash()))
	}
	return info, nil
}

// Tx locates a committed transaction and returns its envelope.
func (n *Node) Tx(_ context.Context, hash []byte) (*cc.TxInfo, error) {
	info, err := ledger.LookupTx(n.State(), hash)
	if err != nil {
		return nil, err
	}
	if b, err := n.Node.Block(info.Height); err == nil && b != nil && info.Index < len(b.Txs) {
		info.Tx = []byte(b.Txs[info.Index])
	}
	return info, nil
}

// Proof returns key's store proof with the signed header of the next
// height, which carries the AppHash the proof recomputes. If that header is
// not yet committed it waits for it (up to ctx's deadline or 15 s).
func (n *Node) Proof(ctx context.Context, key string) (*cc.ProofBundle, error) {
	b, err := storeProofBundle(n.App, key)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		sh, err := n.Node.SignedHeader(b.Height + 1)
		if err == nil && sh != nil {
			vals, err := n.Node.ValidatorSet(b.Height + 1)
			if err != nil {
				return nil, cc.E("proof", cc.Internal, err)
			}
			if b.SignedHeader, err = cmtjson.Marshal(sh); err != nil {
				return nil, cc.E("proof", cc.Internal, err)
			}
			if b.Validators, err = cmtjson.Marshal(vals); err != nil {
				return nil, cc.E("proof", cc.Internal, err)
			}
			return b, nil
		}
		select {
		case <-ctx.Done():
			return nil, cc.Errorf("proof", cc.FailedPrecondition, "the header of height %d is not signed yet; retry after the next block", b.Height+1)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Metrics returns the node's counters.
func (n *Node) Metrics() cc.Metrics {
	n.mu.Lock()
	iv := n.interval
	n.mu.Unlock()
	m := appMetrics(n.App, n.Node.Status().MempoolSize, iv)
	m.CheckBatches, m.CheckBatchedTxs = n.Node.CheckBatches()
	if ps := n.Node.BlockPhases(max(m.Height-1, 0)); len(ps) > 0 {
		m.LastBlockStages = ps[len(ps)-1].Stages()
	}
	return m
}

// Predecode decodes a payload of type typ for its handler ahead of the
// transaction that will carry it (ledger.App.Predecode): a submitter calls
// it before it signs, outside the stages that take one transaction at a
// time.
func (n *Node) Predecode(typ string, payload []byte) { n.App.Predecode(typ, payload) }

// SubmitThen checks one transaction into the mempool and returns its
// CheckTx result at once, with, when it was accepted, a function that
// waits until it is committed and returns the final result (as Submit
// with wait). A caller that orders its transactions by sequence can
// release its lock after SubmitThen and wait outside it, so several of its
// transactions share a block.
func (n *Node) SubmitThen(ctx context.Context, raw []byte) (cc.SubmitResult, func(context.Context) cc.SubmitResult) {
	hash := tx.Hash(raw)
	res := cc.SubmitResult{Hash: hex.EncodeToString(hash)}
	room, size := n.reserve([][]byte{raw})
	if room == 0 { // as Submit
		return n.refuse(raw, hash), nil
	}
	// Decode and verify here, on the caller's goroutine: CheckTx, one
	// transaction at a time, then finds both done.
	n.preVerify([][]byte{raw}, [][]byte{hash}, 0)
	ch := n.App.Notifier().Expect(hash)
	code, log, err := n.Node.CheckTx(raw)
	n.release(room, size)
	if err != nil {
		code, log = mempoolError(err)
	}
	if code != 0 {
		n.App.Notifier().Forget(hash, ch)
		res.Code, res.Log, res.Kind = code, log, cc.KindFromCode(code).String()
		return res, nil
	}
	res.Accepted = true
	return res, func(ctx context.Context) cc.SubmitResult {
		// See Submit; here once the caller has released the lock that
		// orders its transactions, before waiting for the commit.
		n.App.PrepareSums(hash)
		out, err := n.App.Notifier().Wait(ctx, ch)
		r := res
		if err != nil {
			n.App.Notifier().Forget(hash, ch)
			r.Log = "accepted, but not committed before the wait ended; check GET /v1/txs/" + r.Hash
			return r
		}
		r.Height, r.Data = out.Height, jsonOrNil(out.Data)
		if out.Code != 0 {
			r.Accepted = false
			r.Code, r.Log, r.Kind = out.Code, out.Log, cc.KindFromCode(out.Code).String()
		}
		return r
	}
}

// WhenIncluded returns a channel closed when a block holding the
// transaction with hash (SHA-256 of its bytes) begins executing, and its
// cancel function (see ledger.Notifier.WhenIncluded).
func (n *Node) WhenIncluded(hash [32]byte) (<-chan struct{}, func()) {
	return n.App.Notifier().WhenIncluded(hash)
}

// preVerify decodes txs (hashes[i] = tx.Hash(txs[i])) and batch-verifies
// their signatures before they are checked one by one (see
// ledger.App.PreVerify). A submission alone
// is split across the cores, in batches of at least 64; with other
// submissions in flight (pre-verifying or waiting for CheckTx) the cores
// have work already, and it stays one batch on its caller's goroutine:
// curve25519-voi verifies one batch of 200 for ~14.5 µs a signature, two
// of 100 for ~16.5 (bench.BenchmarkVerify).
func (n *Node) preVerify(txs, hashes [][]byte, others int) {
	w := min(runtime.GOMAXPROCS(0), (len(txs)+63)/64)
	if others > 0 {
		w = 1
	}
	if w <= 1 {
		n.App.PreVerifyHashed(txs, hashes, rand.Reader)
		return
	}
	var wg sync.WaitGroup
	for g := range w {
		lo, hi := g*len(txs)/w, (g+1)*len(txs)/w
		wg.Go(func() {
			n.App.PreVerifyHashed(txs[lo:hi], hashes[lo:hi], rand.Reader)
		})
	}
	wg.Wait()
}

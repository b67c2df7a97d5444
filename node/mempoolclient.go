package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	abcicli "github.com/cometbft/cometbft/abci/client"
	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/proxy"

	"carechain"
)

const (
	// maxCheckQueue is how many transactions the mempool connection
	// queues before CheckTxAsync makes its caller (a peer's receive
	// routine) wait.
	maxCheckQueue = 8192
	// fullBatch and batchLinger: the worker waits up to batchLinger for a
	// batch of fullBatch transactions to verify together, unless a Flush
	// is waiting or a request whose caller waits (a recheck, an API
	// submission) is queued. Ed25519 batch verification costs 34 µs per signature in
	// batches of 2, 24 in batches of 4, 19 in batches of 16 and 18 in
	// batches of 64 (29 alone); transactions gossiped at a few thousand
	// per second come a fraction of a millisecond apart, and a few
	// milliseconds more before the mempool takes them are nothing next to
	// a block interval.
	fullBatch   = 64
	batchLinger = 5 * time.Millisecond
)

// BatchVerifier is what an application may implement to have the
// transactions that peers gossip verified in batches: PreVerify gets the
// queued transactions just before their CheckTx calls, in order, and may
// decode them and verify their signatures together (it must not change
// what CheckTx decides, only how fast). ledger.App implements it.
type BatchVerifier interface {
	PreVerify(raws [][]byte, rnd io.Reader)
}

// mempoolClient is the ABCI client of CometBFT's mempool connection, in
// process. CometBFT's own local client answers CheckTxAsync synchronously,
// so every transaction a peer gossips is checked — and its signature
// verified — alone, on that peer's receive routine. mempoolClient instead
// queues what peers send and answers it on one goroutine, a batch at a
// time: the batch is first handed to the application's PreVerify (one
// Ed25519 batch verification instead of one verification per transaction),
// then each transaction gets its CheckTx, in arrival order, and its
// response and callback — as CometBFT's socket client does. Flush returns
// when nothing is queued or being answered, which is what CometBFT relies
// on before it commits a block and rechecks the mempool.
//
// Transactions this node's own API submits (Node.CheckTx marks them with
// inline) and rechecks are answered on the caller's goroutine when nothing
// is queued: they are verified already (PreVerify runs before Node.CheckTx)
// or answered from the application's admission log, and a hand-over would
// only add a goroutine switch per transaction.
//
// CheckTx calls are serialized (one at a time, like the local client's
// mutex) and each transaction's callback — the mempool's insertion — runs
// before the next CheckTx starts, so the mempool lists transactions in the
// order the application admitted them whenever the callback is set by then.
type mempoolClient struct {
	abcicli.Client // a local client on app: every call but the ones below

	app    abci.Application
	verify func(raws [][]byte) // nil: the application does not batch-verify

	appMu sync.Mutex // held across one CheckTx and its callbacks

	mu      sync.Mutex
	cond    *sync.Cond // broadcast on every change of queue, busy, closed
	queue   []*abcicli.ReqRes
	busy    bool // a batch or an inline check is being answered
	closed  bool
	running bool // the worker goroutine has started
	flushes int  // Flush calls waiting
	urgent  bool // a recheck or an API submission is queued: no waiting for a fuller batch
	wake    chan struct{}
	done    chan struct{}
	cb      abcicli.Callback

	inline atomic.Pointer[byte] // first byte of the transaction Node.CheckTx is submitting

	batches, batched atomic.Uint64 // batches the worker answered, new transactions in them
}

var _ abcicli.Client = (*mempoolClient)(nil)

// newMempoolClient returns the mempool connection's client for app. If
// verifier is not nil, queued batches go to its PreVerify first.
func newMempoolClient(app abci.Application, verifier BatchVerifier) *mempoolClient {
	c := &mempoolClient{Client: abcicli.NewLocalClient(nil, app), app: app, wake: make(chan struct{}, 1), done: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	if verifier != nil {
		c.verify = func(raws [][]byte) { verifier.PreVerify(raws, rand.Reader) }
	}
	return c
}

// SetResponseCallback sets the callback every response is also given to.
func (c *mempoolClient) SetResponseCallback(cb abcicli.Callback) {
	c.mu.Lock()
	c.cb = cb
	c.mu.Unlock()
}

// CheckTxAsync queues req and returns its ReqRes, to be answered by the
// worker. A recheck, the transaction Node.CheckTx is submitting, and every
// request after Stop are answered before it returns when nothing is queued
// or in progress (an application error is then returned, as the local
// client does); a queued request whose CheckTx fails gets a non-zero code.
func (c *mempoolClient) CheckTxAsync(ctx context.Context, req *abci.CheckTxRequest) (*abcicli.ReqRes, error) {
	rr := abcicli.NewReqRes(abci.ToCheckTxRequest(req))
	now := req.Type == abci.CHECK_TX_TYPE_RECHECK || c.isInline(req.Tx)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.checkNow(ctx, rr)
	}
	if now && len(c.queue) == 0 && !c.busy {
		c.busy = true
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			c.busy = false
			c.cond.Broadcast()
			c.mu.Unlock()
		}()
		return c.checkNow(ctx, rr)
	}
	for len(c.queue) >= maxCheckQueue && !c.closed {
		c.cond.Wait()
	}
	c.queue = append(c.queue, rr)
	if !c.running {
		c.running = true
		go c.run()
	}
	if now {
		c.urgent = true // its caller waits for it: do not hold it back
	}
	if now || len(c.queue) >= fullBatch {
		c.hurry()
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	return rr, nil
}

// hurry ends the worker's wait for a fuller batch.
func (c *mempoolClient) hurry() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *mempoolClient) checkNow(ctx context.Context, rr *abcicli.ReqRes) (*abcicli.ReqRes, error) {
	if err := c.check(ctx, rr, true); err != nil {
		return nil, err
	}
	return rr, nil
}

func (c *mempoolClient) isInline(tx []byte) bool {
	p := c.inline.Load()
	return p != nil && len(tx) > 0 && &tx[0] == p
}

// submitting marks tx as the one Node.CheckTx hands to the mempool now
// (nil: none). Node.CheckTx calls it under admitMu.
func (c *mempoolClient) submitting(tx []byte) {
	if len(tx) == 0 {
		c.inline.Store(nil)
		return
	}
	c.inline.Store(&tx[0])
}

// Flush returns once no request is queued or being answered.
func (c *mempoolClient) Flush(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushes++
	c.hurry()
	for len(c.queue) > 0 || c.busy {
		c.cond.Wait()
	}
	c.flushes--
	return nil
}

// Stop answers what is still queued, ends the worker and stops the local
// client. Later requests are answered on their caller's goroutine.
func (c *mempoolClient) Stop() error {
	c.mu.Lock()
	c.closed = true
	running := c.running
	c.hurry()
	c.cond.Broadcast()
	c.mu.Unlock()
	if running {
		<-c.done
	}
	return c.Client.Stop()
}

// run answers the queue a batch at a time, after any inline check in
// progress, until Stop has been called and the queue is empty.
func (c *mempoolClient) run() {
	defer close(c.done)
	lingered := false
	for {
		c.mu.Lock()
		for (len(c.queue) == 0 || c.busy) && !c.closed {
			c.cond.Wait()
		}
		for c.busy { // closed: let an inline check finish first
			c.cond.Wait()
		}
		if len(c.queue) == 0 {
			c.mu.Unlock()
			return
		}
		if !lingered && c.verify != nil && len(c.queue) < fullBatch && c.flushes == 0 && !c.urgent && !c.closed {
			select { // hurry is called under mu: a wake now is stale
			case <-c.wake:
			default:
			}
			c.mu.Unlock()
			c.linger()
			lingered = true
			continue
		}
		lingered = false
		batch := c.queue
		c.queue = nil
		c.urgent = false
		c.busy = true
		c.cond.Broadcast() // room in the queue
		c.mu.Unlock()

		c.answer(batch)

		c.mu.Lock()
		c.busy = false
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

// linger waits batchLinger for more transactions, or less if hurried.
func (c *mempoolClient) linger() {
	t := time.NewTimer(batchLinger)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.wake:
	}
}

// answer pre-verifies a batch and checks its transactions in order.
func (c *mempoolClient) answer(batch []*abcicli.ReqRes) {
	raws := make([][]byte, 0, len(batch))
	for _, rr := range batch {
		if req := rr.Request.GetCheckTx(); req.Type != abci.CHECK_TX_TYPE_RECHECK {
			raws = append(raws, req.Tx)
		}
	}
	if c.verify != nil {
		c.verify(raws)
	}
	c.batches.Add(1)
	c.batched.Add(uint64(len(raws)))
	for _, rr := range batch {
		_ = c.check(context.Background(), rr, false)
	}
}

// check runs the application's CheckTx for rr and completes it: the
// client's callback, rr's callback, then rr's waiters. With inline set an
// application error is returned (rr stays incomplete, as the local client
// returns no ReqRes then); otherwise it becomes a rejection.
func (c *mempoolClient) check(ctx context.Context, rr *abcicli.ReqRes, inline bool) error {
	req := rr.Request.GetCheckTx()
	c.appMu.Lock()
	defer c.appMu.Unlock()
	res, err := c.appCheckTx(ctx, req, !inline)
	if err != nil {
		if inline {
			return err
		}
		res = &abci.CheckTxResponse{Code: carechain.Internal.Code(), Log: "application failed to check the transaction: " + err.Error(), Codespace: "carechain"}
	}
	resp := abci.ToCheckTxResponse(res)
	c.mu.Lock()
	cb := c.cb
	c.mu.Unlock()
	if cb != nil {
		cb(rr.Request, resp)
	}
	rr.Response = resp
	rr.InvokeCallback()
	rr.Done()
	return nil
}

// stats returns how many batches the worker has answered and how many new
// (not rechecked) transactions they held.
func (c *mempoolClient) stats() (batches, txs uint64) {
	return c.batches.Load(), c.batched.Load()
}

// appCheckTx calls the application's CheckTx; with recovering set, a panic
// is returned as an error (on the worker nothing else would recover it).
func (c *mempoolClient) appCheckTx(ctx context.Context, req *abci.CheckTxRequest, recovering bool) (res *abci.CheckTxResponse, err error) {
	if recovering {
		defer func() {
			if r := recover(); r != nil {
				res, err = nil, fmt.Errorf("panic: %v", r)
			}
		}()
	}
	return c.app.CheckTx(ctx, req)
}

// clientCreator gives CometBFT a local client per ABCI connection (one
// mutex each, as proxy.NewConnSyncLocalClientCreator does) and mempool as
// the mempool connection's.
type clientCreator struct {
	app     abci.Application
	mempool *mempoolClient
}

var _ proxy.ClientCreator = clientCreator{}

func (c clientCreator) NewABCIConsensusClient() (abcicli.Client, error) {
	return abcicli.NewLocalClient(nil, c.app), nil
}
func (c clientCreator) NewABCIMempoolClient() (abcicli.Client, error) { return c.mempool, nil }
func (c clientCreator) NewABCIQueryClient() (abcicli.Client, error) {
	return abcicli.NewLocalClient(nil, c.app), nil
}
func (c clientCreator) NewABCISnapshotClient() (abcicli.Client, error) {
	return abcicli.NewLocalClient(nil, c.app), nil
}

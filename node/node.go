// Package node embeds CometBFT v1 in the carechain process: it writes
// standard CometBFT homes (Init, Testnet), starts a validator with the ABCI
// application in-process (Start), hands transactions to the in-process
// mempool without JSON-RPC (Node.CheckTx), serves blocks, signed headers and
// validator sets for proofs, and opens a stopped home's stores offline to
// re-verify the chain (OpenStores, Stores.VerifyCommits).
//
// It imports no carechain package but the root one (for errors): the ABCI
// application is whatever the caller passes to Start.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	abci "github.com/cometbft/cometbft/abci/types"
	cmtcfg "github.com/cometbft/cometbft/config"
	mempl "github.com/cometbft/cometbft/mempool"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	sm "github.com/cometbft/cometbft/state"
	"github.com/cometbft/cometbft/store"
	"github.com/cometbft/cometbft/types"

	"carechain"
)

// asyncQueue is how many transactions CheckTxAsync buffers before it
// blocks its caller.
const asyncQueue = 8192

// Node is a running CometBFT validator (or full node) with its ABCI
// application in-process. Its methods are safe for concurrent use.
type Node struct {
	home    string
	cfg     *cmtcfg.Config
	node    *cmtnode.Node
	blocks  *store.BlockStore
	mempool *mempoolClient // the mempool connection's ABCI client
	app     *proposalApp   // the application as CometBFT calls it
	state   sm.Store
	chainID string

	mu      sync.RWMutex // CheckTx holds it shared; Stop takes it to set stopped
	stopped bool

	// admitMu makes the application's CheckTx and the mempool's insertion
	// of the transaction one step (see mempoolCheckTx).
	admitMu sync.Mutex

	asyncMu    sync.RWMutex // CheckTxAsync holds it shared while enqueueing
	closing    bool
	jobs       chan asyncJob
	quit       chan struct{}
	workerDone chan struct{}

	stopOnce sync.Once
	stopErr  error
}

type asyncJob struct {
	tx []byte
	cb func(code uint32, log string, err error)
}

// Start loads home's config.toml, validator key and genesis, and starts a
// CometBFT node whose ABCI connections all go to app in-process.
//
// The app is reached through one in-process client per ABCI connection,
// as with proxy.NewConnSyncLocalClientCreator: consensus calls are
// serialized with each other and mempool calls with each other, but CheckTx
// (and Query, Info) run while a block executes. The mempool connection's
// client queues what peers gossip and answers it in batches, which an app
// implementing BatchVerifier verifies together (see mempoolClient). The app
// must be safe for that — ledger.App is (its mempool state has its own
// lock) — and CometBFT's mempool still keeps CheckTx out of Commit and the
// recheck that follows (it flushes the connection first). PrepareProposal
// waits for the CheckTx in progress and the queue, and reaps the mempool
// again, so that the transactions being checked are not left out (see
// proposalApp).
//
// ctx bounds start-up only (the handshake may replay stored blocks into
// app); the node then runs until Stop. CometBFT's own log lines go to logger
// (nil discards them), filtered by log_level in config.toml.
func Start(ctx context.Context, home string, app abci.Application, logger *slog.Logger) (*Node, error) {
	const op = "node.Start"
	if app == nil {
		return nil, carechain.Errorf(op, carechain.Invalid, "no ABCI application")
	}
	c, err := LoadConfig(home)
	if err != nil {
		return nil, err
	}
	for _, f := range []string{c.GenesisFile(), c.NodeKeyFile(), c.PrivValidatorKeyFile(), c.PrivValidatorStateFile()} {
		if !fileExists(f) {
			return nil, carechain.Errorf(op, carechain.NotFound, "%s is missing (run init first)", f)
		}
	}
	// privval.LoadFilePV exits the process on a bad file: check them first.
	if _, err := readPVKey(c.PrivValidatorKeyFile()); err != nil {
		return nil, err
	}
	if _, err := readPVState(c.PrivValidatorStateFile()); err != nil {
		return nil, err
	}
	nodeKey, err := p2p.LoadNodeKey(c.NodeKeyFile())
	if err != nil {
		return nil, carechain.Errorf(op, carechain.Malformed, "%s: %v", c.NodeKeyFile(), err)
	}
	lg, err := cmtLogger(logger, c.LogLevel)
	if err != nil {
		return nil, carechain.Errorf(op, carechain.Invalid, "log_level: %v", err)
	}

	// Remember the databases CometBFT opens, to close them if it fails to
	// come up (NewNode leaves them open, and Pebble locks its directory).
	var opened []dbm.DB
	provider := dbProvider(logger, func(db dbm.DB) { opened = append(opened, db) })

	pa := &proposalApp{Application: app}
	bv, _ := app.(BatchVerifier)
	mc := newMempoolClient(pa, bv)
	pa.flush = mc.Flush
	cn, err := func() (cn *cmtnode.Node, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		pv := privval.LoadFilePV(c.PrivValidatorKeyFile(), c.PrivValidatorStateFile())
		return cmtnode.NewNode(ctx, c, pv, nodeKey,
			clientCreator{app: pa, mempool: mc},
			cmtnode.DefaultGenesisDocProviderFunc(c),
			provider,
			cmtnode.DefaultMetricsProvider(c.Instrumentation),
			lg)
	}()
	if err != nil {
		for _, db := range opened {
			_ = db.Close()
		}
		// Handshake failures (e.g. an app hash that does not match the
		// stored chain) are for the operator to see, so the text is kept.
		return nil, &carechain.Error{Op: op, Kind: carechain.FailedPrecondition,
			Msg: fmt.Sprintf("creating CometBFT node: %v", err), Err: err}
	}
	mp := cn.Mempool()
	pa.mempool.Store(&mp)
	if err := cn.Start(); err != nil {
		cn.OnStop() // closes listeners and stores opened so far
		_ = cn.ProxyApp().Stop()
		return nil, carechain.Errorf(op, carechain.FailedPrecondition, "starting CometBFT node: %v", err)
	}
	env, err := cn.ConfigureRPC() // the node's own state store, without RPC
	if err != nil {
		_ = cn.Stop()
		cn.Wait()
		_ = cn.ProxyApp().Stop()
		return nil, carechain.E(op, carechain.Internal, err)
	}
	n := &Node{
		home:       c.RootDir,
		cfg:        c,
		node:       cn,
		mempool:    mc,
		app:        pa,
		blocks:     cn.BlockStore(),
		state:      env.StateStore,
		chainID:    cn.GenesisDoc().ChainID,
		jobs:       make(chan asyncJob, asyncQueue),
		quit:       make(chan struct{}),
		workerDone: make(chan struct{}),
	}
	go n.admit()
	return n, nil
}

// Stop stops the node and waits until CometBFT has shut down and closed its
// stores. Transactions still queued by CheckTxAsync get ErrStopped in their
// callback. Stop is idempotent (later calls return the first result) and
// must not be called from a CheckTxAsync callback. It does not close app.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() {
		close(n.quit)
		n.asyncMu.Lock()
		n.closing = true
		n.asyncMu.Unlock()
		<-n.workerDone
		for drained := false; !drained; {
			select {
			case j := <-n.jobs:
				j.cb(0, "", stopped("node.CheckTxAsync"))
			default:
				drained = true
			}
		}
		n.mu.Lock()
		n.stopped = true
		n.mu.Unlock()
		if err := n.node.Stop(); err != nil {
			n.stopErr = carechain.E("node.Stop", carechain.Internal, err)
		}
		n.node.Wait()
		_ = n.node.ProxyApp().Stop() // ends its watchdog goroutine
	})
	return n.stopErr
}

// Errors CheckTx wraps (test with errors.Is); each comes inside a
// *carechain.Error whose Kind says how to answer the submitter.
var (
	ErrStopped     = errors.New("node is stopped")                             // FailedPrecondition
	ErrCatchingUp  = errors.New("node is catching up with the network")        // FailedPrecondition
	ErrDuplicateTx = errors.New("transaction already received")                // Conflict
	ErrMempoolFull = errors.New("mempool is full, retry later")                // FailedPrecondition
	ErrTxTooLarge  = errors.New("transaction too large")                       // TooLarge
	ErrAppFailed   = errors.New("application failed to check the transaction") // Internal
)

func stopped(op string) error {
	return &carechain.Error{Op: op, Kind: carechain.FailedPrecondition, Msg: ErrStopped.Error(), Err: ErrStopped}
}

// CheckTx hands tx to the in-process mempool (no JSON-RPC) and waits for
// the application's CheckTx. It returns the app's code and log: code 0 means
// the tx is in the mempool and will be proposed; a non-zero code is the
// app's rejection (err is nil). err is set, with code 0, when the node
// refused the tx before or after the app saw it: ErrDuplicateTx (already in
// the mempool or recently seen/committed), ErrMempoolFull, ErrTxTooLarge
// (over 1 MiB or the block size), ErrCatchingUp, ErrStopped, ErrAppFailed
// (the app returned an error or panicked).
//
// CheckTx runs while a block is executed (one ABCI client per connection,
// see Start), but waits while a block is committed and the mempool
// rechecked: CometBFT locks the mempool then.
func (n *Node) CheckTx(tx []byte) (code uint32, log string, err error) {
	n.CheckTxs([][]byte{tx}, func(_ int, c uint32, l string, e error) { code, log, err = c, l, e })
	return code, log, err
}

// CheckTxs is CheckTx for each of txs in turn, answered to each(i, …) as
// soon as txs[i] is checked, with the application's CheckTx and the
// mempool's insertion held by this submission for the whole batch: other
// submitters wait once for it instead of taking turns at every
// transaction (a lock handed over thousands of times a second costs
// goroutine switches on every hand-over), and a batch's transactions
// stay consecutive in the mempool. each must be quick.
func (n *Node) CheckTxs(txs [][]byte, each func(i int, code uint32, log string, err error)) {
	const op = "node.CheckTx"
	n.mu.RLock()
	defer n.mu.RUnlock()
	var refuse error
	if n.stopped {
		refuse = stopped(op)
	} else if r, ok := n.node.MempoolReactor().(interface{ WaitSync() bool }); ok && r.WaitSync() {
		refuse = &carechain.Error{Op: op, Kind: carechain.FailedPrecondition, Msg: ErrCatchingUp.Error(), Err: ErrCatchingUp}
	}
	if refuse != nil {
		for i := range txs {
			each(i, 0, "", refuse)
		}
		return
	}
	n.admitMu.Lock()
	defer n.admitMu.Unlock()
	for i, tx := range txs {
		code, log, err := n.checkTx(tx)
		each(i, code, log, err)
	}
}

// checkTx is CheckTx's work for one transaction, under admitMu.
func (n *Node) checkTx(tx []byte) (code uint32, log string, err error) {
	const op = "node.CheckTx"
	res, err := n.mempoolCheckTx(tx)
	if err != nil {
		return 0, "", classify(op, err)
	}
	ctr := res.Response.GetCheckTx()
	if ctr == nil {
		return 0, "", &carechain.Error{Op: op, Kind: carechain.Internal, Err: ErrAppFailed}
	}
	if ctr.Code != abci.CodeTypeOK {
		return ctr.Code, ctr.Log, nil
	}
	if err := res.Error(); err != nil { // accepted by the app, refused by the mempool
		return 0, "", classify(op, err)
	}
	return 0, ctr.Log, nil
}

// reqRes is what CheckTx needs of abcicli.ReqRes.
type reqRes struct {
	Response *abci.Response
	Error    func() error
}

// mempoolCheckTx runs the mempool's CheckTx; its caller holds admitMu. CometBFT calls
// the application (under the ABCI connection's own lock) and then, after
// releasing that lock, inserts the transaction into its list; without
// admitMu two submitters could be admitted by the application in one order
// and listed, hence proposed, in the other, and the application's admission
// log (ledger.mempoolState) would no longer predict the block. It also
// keeps the mempool's fullness checks before and after the application's
// answer consistent, so the application does not admit a transaction the
// mempool then refuses. The application's CheckTx is serial anyway; only
// the list insertion joins it.
func (n *Node) mempoolCheckTx(tx []byte) (rr reqRes, err error) {
	defer func() {
		if r := recover(); r != nil { // the mempool panics when the app's CheckTx errors
			err = fmt.Errorf("%w: %v", ErrAppFailed, r)
		}
	}()
	n.mempool.submitting(tx) // answered on this goroutine, not queued behind gossip
	defer n.mempool.submitting(nil)
	res, err := n.node.Mempool().CheckTx(tx, "")
	if err != nil {
		return rr, err
	}
	res.Wait() // immediate with a local client; kept for other client kinds
	return reqRes{Response: res.Response, Error: res.Error}, nil
}

// classify maps a mempool error to a carechain error wrapping one of the
// node's sentinel errors.
func classify(op string, err error) error {
	var full mempl.ErrMempoolIsFull
	var large mempl.ErrTxTooLarge
	wrap := func(k carechain.Kind, sentinel error) error {
		return &carechain.Error{Op: op, Kind: k, Msg: sentinel.Error(), Err: fmt.Errorf("%w: %w", sentinel, err)}
	}
	switch {
	case errors.Is(err, ErrAppFailed):
		return &carechain.Error{Op: op, Kind: carechain.Internal, Err: err}
	case errors.Is(err, mempl.ErrTxInCache), errors.Is(err, mempl.ErrTxInMempool):
		return wrap(carechain.Conflict, ErrDuplicateTx)
	case errors.Is(err, mempl.ErrRecheckFull), errors.As(err, &full):
		return wrap(carechain.FailedPrecondition, ErrMempoolFull)
	case errors.As(err, &large), mempl.IsPreCheckError(err): // pre-check: over the block's max bytes
		return wrap(carechain.TooLarge, ErrTxTooLarge)
	}
	return &carechain.Error{Op: op, Kind: carechain.Internal, Err: err}
}

// CheckTxAsync queues tx for CheckTx and returns without waiting for the
// application; cb (which may be nil) later receives CheckTx's results
// exactly once, on the node's single admission goroutine, so transactions
// are admitted in the order they were queued (a signer's consecutive
// sequences stay in order). Txs still queued when Stop begins get ErrStopped
// instead, on Stop's goroutine. cb must be quick and must not call Stop.
// When the queue (8192 txs) is full CheckTxAsync waits for room; once Stop
// has begun it returns ErrStopped and never calls cb.
func (n *Node) CheckTxAsync(tx []byte, cb func(code uint32, log string, err error)) error {
	if cb == nil {
		cb = func(uint32, string, error) {}
	}
	n.asyncMu.RLock()
	defer n.asyncMu.RUnlock()
	if n.closing {
		return stopped("node.CheckTxAsync")
	}
	select {
	case n.jobs <- asyncJob{tx: tx, cb: cb}:
		return nil
	case <-n.quit:
		return stopped("node.CheckTxAsync")
	}
}

func (n *Node) admit() {
	defer close(n.workerDone)
	for {
		select {
		case <-n.quit:
			return
		case j := <-n.jobs:
			code, log, err := n.CheckTx(j.tx)
			j.cb(code, log, err)
		}
	}
}

// CheckBatches reports how many batches of queued transactions — those
// peers gossiped — the mempool connection has answered since Start, and
// how many transactions they held (see mempoolClient).
func (n *Node) CheckBatches() (batches, txs uint64) { return n.mempool.stats() }

// MempoolRoom reports how many more transactions, and how many more bytes
// of them, the mempool takes before CheckTx refuses with ErrMempoolFull
// (mempool size and max_txs_bytes in config.toml, less what it holds now;
// never negative). It is a hint for shedding load before costly work:
// CheckTx still decides, and the room may change at any moment.
func (n *Node) MempoolRoom() (txs int, bytes int64) {
	mp := n.node.Mempool()
	txs = max(0, n.cfg.Mempool.Size-mp.Size())
	bytes = max(0, n.cfg.Mempool.MaxTxsBytes-mp.SizeBytes())
	return txs, bytes
}

// Validator is one member of a validator set.
type Validator struct {
	Address []byte // CometBFT address: first 20 bytes of SHA-256(pubkey)
	PubKey  []byte // raw Ed25519 public key
	Power   int64
}

// Status is a consistent snapshot of the node's view of the chain.
type Status struct {
	ChainID, NodeID, Moniker string
	// LatestHeight is the last committed block; LatestAppHash is the app
	// hash the application returned after executing it, which the header
	// of block LatestHeight+1 will carry (and validators will sign).
	LatestHeight    int64
	LatestAppHash   []byte
	LatestBlockHash []byte
	LatestBlockTime time.Time
	CatchingUp      bool        // block-syncing from peers; CheckTx refuses txs meanwhile
	Validators      []Validator // the set that validates LatestHeight+1
	MempoolSize     int
	Peers           int
}

// Status reports the node's latest committed state. It reads the state
// store, so it does not wait for a block in progress. After Stop only the
// identity fields and CatchingUp are set.
func (n *Node) Status() Status {
	s := Status{
		ChainID:     n.chainID,
		NodeID:      string(n.node.NodeInfo().ID()),
		Moniker:     n.cfg.Moniker,
		CatchingUp:  n.node.ConsensusReactor().WaitSync(),
		MempoolSize: n.node.Mempool().Size(),
		Peers:       n.node.Switch().Peers().Size(),
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.stopped {
		return s
	}
	st, err := n.loadState()
	if err != nil {
		return s
	}
	s.LatestHeight = st.LastBlockHeight
	s.LatestAppHash = st.AppHash
	s.LatestBlockHash = st.LastBlockID.Hash
	s.LatestBlockTime = st.LastBlockTime
	if st.Validators != nil {
		for _, v := range st.Validators.Validators {
			s.Validators = append(s.Validators, Validator{Address: v.Address, PubKey: v.PubKey.Bytes(), Power: v.VotingPower})
		}
	}
	return s
}

func (n *Node) loadState() (st sm.State, err error) {
	err = guard("node.Status", func() error {
		var e error
		st, e = n.state.Load()
		return e
	})
	return st, err
}

// Height returns the height of the latest block in the block store. A
// block is stored just before the app executes it, so Height may briefly be
// one above Status().LatestHeight.
func (n *Node) Height() int64 { return n.blocks.Height() }

// WaitForHeight blocks until block h is committed and executed by the app
// (Status().LatestHeight ≥ h), ctx is done (its error is returned) or the
// node stops (ErrStopped).
func (n *Node) WaitForHeight(ctx context.Context, h int64) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if n.blocks.Height() >= h {
			var st sm.State
			err := n.read("node.WaitForHeight", func() (e error) { st, e = n.loadState(); return e })
			if errors.Is(err, ErrStopped) {
				return err
			}
			if err == nil && st.LastBlockHeight >= h {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-n.quit:
			return stopped("node.WaitForHeight")
		case <-t.C:
		}
	}
}

// Block returns the committed block at height (NotFound if the node does
// not have it).
func (n *Node) Block(height int64) (*types.Block, error) {
	var b *types.Block
	err := n.read("node.Block", func() error {
		b, _ = n.blocks.LoadBlock(height)
		if b == nil {
			return carechain.Errorf("node.Block", carechain.NotFound, "no block at height %d", height)
		}
		return nil
	})
	return b, err
}

// BlockResults returns what the application answered to FinalizeBlock for
// the block at height: per-tx codes, logs and events, validator updates and
// the app hash.
func (n *Node) BlockResults(height int64) (*abci.FinalizeBlockResponse, error) {
	var r *abci.FinalizeBlockResponse
	err := n.read("node.BlockResults", func() error {
		var e error
		if r, e = n.state.LoadFinalizeBlockResponse(height); e != nil {
			return carechain.Errorf("node.BlockResults", carechain.NotFound, "no results at height %d", height)
		}
		return nil
	})
	return r, err
}

// SignedHeader returns the header of block height with the commit (+2/3
// precommit signatures) for it. The commit for h is stored with block h+1;
// for the latest block the node's own seen commit is used, so a header is
// provable as soon as its block is committed. NotFound if neither exists.
func (n *Node) SignedHeader(height int64) (sh *types.SignedHeader, err error) {
	err = n.read("node.SignedHeader", func() error {
		sh, err = signedHeader(n.blocks, height)
		return err
	})
	return sh, err
}

// ValidatorSet returns the validator set that signed (or will sign) the
// block at height. NotFound if the state store has none for it.
func (n *Node) ValidatorSet(height int64) (vs *types.ValidatorSet, err error) {
	err = n.read("node.ValidatorSet", func() error {
		vs, err = validatorSet(n.state, height)
		return err
	})
	return vs, err
}

// read runs fn against the stores unless the node is stopped (ErrStopped);
// Stop waits for it, so the stores stay open while fn runs.
func (n *Node) read(op string, fn func() error) error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.stopped {
		return stopped(op)
	}
	return guard(op, fn)
}

// RPCAddr returns the CometBFT JSON-RPC listen address from config.toml
// (e.g. "tcp://127.0.0.1:26657"); empty if RPC is off.
func (n *Node) RPCAddr() string { return n.cfg.RPC.ListenAddress }

// Home returns the node's absolute home directory.
func (n *Node) Home() string { return n.home }

// ChainID returns the chain id from the genesis.
func (n *Node) ChainID() string { return n.chainID }

// CometBFT returns the embedded CometBFT node, for what this package does
// not wrap (e.g. subscribing to its event bus). Do not stop it directly.
func (n *Node) CometBFT() *cmtnode.Node { return n.node }

func signedHeader(bs *store.BlockStore, height int64) (*types.SignedHeader, error) {
	const op = "node.SignedHeader"
	var sh *types.SignedHeader
	err := guard(op, func() error {
		meta := bs.LoadBlockMeta(height)
		if meta == nil {
			return carechain.Errorf(op, carechain.NotFound, "no block at height %d", height)
		}
		commit := loadCommit(bs, height)
		if commit == nil {
			return carechain.Errorf(op, carechain.NotFound, "no commit for height %d yet", height)
		}
		sh = &types.SignedHeader{Header: &meta.Header, Commit: commit}
		return nil
	})
	return sh, err
}

// loadCommit returns the canonical commit for height (saved with block
// height+1) or, for the latest block, the locally seen commit.
func loadCommit(bs *store.BlockStore, height int64) *types.Commit {
	if c := bs.LoadBlockCommit(height); c != nil {
		return c
	}
	if height == bs.Height() {
		return bs.LoadSeenCommit(height)
	}
	return nil
}

func validatorSet(ss sm.Store, height int64) (*types.ValidatorSet, error) {
	const op = "node.ValidatorSet"
	var vs *types.ValidatorSet
	err := guard(op, func() error {
		var e error
		if vs, e = ss.LoadValidators(height); e != nil {
			return carechain.Errorf(op, carechain.NotFound, "no validator set for height %d", height)
		}
		return nil
	})
	return vs, err
}

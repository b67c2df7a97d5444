// Package ledger is carechain's ABCI++ application: it decodes and
// authenticates signed transactions, dispatches them to the domain handlers,
// and commits their writes to the store with an AppHash every node agrees on.
//
// The consensus path (CheckTx, FinalizeBlock, Commit) is deterministic: time
// is the block time, state is the injected store, and nothing else is read.
// CometBFT reaches the App through one local client per ABCI connection
// (node.Start): consensus calls (FinalizeBlock, Commit) are serialized with
// each other, mempool calls (CheckTx) with each other, and CheckTx runs
// beside FinalizeBlock. The mempool state (mp) has its own lock, which
// CheckTx holds throughout and Commit while it hands the state over;
// FinalizeBlock reads the admission log under a narrower one (mp.mu), so
// that the consensus goroutine does not wait for the CheckTx in progress.
// Read-only accessors for the HTTP API use the store's committed view and
// are safe to call concurrently.
package ledger

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	cc "carechain"
	"carechain/ledger/store"
	"carechain/ledger/tx"
)

// Config wires the domain into the App.
type Config struct {
	// Handlers maps each transaction type to its state transition.
	Handlers map[string]cc.Handler
	// SignerKey returns the key a transaction of type typ by signer must be
	// signed with, read from state (or from the payload for self-certifying
	// creation types).
	SignerKey func(kv cc.Reader, signer cc.DID, typ string, payload json.RawMessage) (ed25519.PublicKey, error)
	// InitGenesis writes the genesis app_state and the genesis validator
	// set into the state.
	InitGenesis func(kv cc.KV, appState json.RawMessage, validators []cc.ValidatorUpdate) error
	// Logger receives internal error details; nil discards them.
	Logger *slog.Logger
	// TimeFree names the transaction types whose handlers read neither
	// ctx.Time nor ctx.Check: what they write and return is a function of
	// the values they read, the payload and the rest of the context. For a
	// block's transaction of such a type that CheckTx admitted at the
	// block's height, FinalizeBlock checks that every state value the
	// admission read is still the value it reads now and, if so, takes the
	// admission's writes and result instead of running it again (see
	// reusable). A type named here wrongly would make nodes that admitted a
	// transaction disagree with nodes that did not, so each domain package
	// lists its own and tests the claim.
	TimeFree map[string]bool
	// Predecode maps transaction types to a function that decodes a
	// payload of that type ahead, outside CheckTx, so that the handler finds
	// it decoded (a cache keyed by the payload's bytes). PreVerify calls it
	// for the transactions it decodes, App.Predecode for a payload about to
	// be signed. It must not change any outcome: a handler that finds
	// nothing decodes the payload itself.
	Predecode map[string]func(payload []byte)
	// HotPrefixes are state key prefixes whose values a block writes and
	// the next blocks' transactions read (an EPC's custody item): the store
	// keeps them in its read cache once committed (store.CacheWritesUnder).
	// Where reads are answered from, never what they return.
	HotPrefixes []string
	// DisableTxCache makes apply decode and verify every transaction
	// itself instead of reusing CheckTx's decoded envelope and verified
	// signature (for tests that compare the two).
	DisableTxCache bool
}

// App is the carechain ABCI application.
type App struct {
	abci.BaseApplication

	cfg     Config
	store   *store.Store
	log     *slog.Logger
	chainID string

	// mpMu guards mp: CheckTx holds it throughout, Commit while it moves
	// the mempool state onto the new committed state. FinalizeBlock only
	// reads the admission log, under mp.mu, so it does not wait for the
	// CheckTx in progress (see mempoolState.mu); PrepareProposal and
	// ProcessProposal take no lock at all.
	mpMu sync.Mutex
	mp   *mempoolState // CheckTx's state: committed + admitted-but-uncommitted txs
	// lastTime is the last finalized block's time, for CheckTx (nil before
	// this process has finalized a block).
	lastTime atomic.Pointer[time.Time]
	// nextHeight is the height after the block being proposed or
	// finalized, from its proposal until its Commit (then LastHeight+1 is
	// the same): the first height a transaction admitted then can be in.
	// It only grows (raiseNextHeight).
	nextHeight atomic.Int64

	pre      *preDecoded // envelopes PreVerify decoded, until CheckTx takes them
	sums     pendingSums // admissions whose commitment hashes PrepareSums may compute
	block    *blockRun   // the block being finalized, until Commit (consensus connection only)
	notifier *Notifier
	stats    *Stats

	mu sync.RWMutex // guards chainID for concurrent readers
}

// New returns an App over st. The store must be open; the App does not close it.
func New(st *store.Store, cfg Config) *App {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &App{
		cfg:      cfg,
		store:    st,
		log:      log,
		pre:      newPreDecoded(1 << 16),
		notifier: NewNotifier(),
		stats:    newStats(),
	}
	st.CacheWritesUnder(cfg.HotPrefixes...)
	a.mp = newMempoolState(st.Committed())
	if b, _ := st.Committed().Get(keyChainID); b != nil {
		a.chainID = string(b)
	}
	return a
}

// Store returns the App's state store.
func (a *App) Store() *store.Store { return a.store }

// Notifier returns the App's commit notifier (for waiting on transactions).
func (a *App) Notifier() *Notifier { return a.notifier }

// Stats returns the App's counters.
func (a *App) Stats() *Stats { return a.stats }

// ChainID returns the chain id set at InitChain.
func (a *App) ChainID() string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.chainID
}

// keyChainID is the state key holding the chain id (written at genesis).
const keyChainID = "meta/chain_id"

// Info reports the last committed height and AppHash so CometBFT can replay
// any blocks the application has not committed.
func (a *App) Info(_ context.Context, _ *abci.InfoRequest) (*abci.InfoResponse, error) {
	return &abci.InfoResponse{
		Data:             "carechain",
		Version:          "1",
		AppVersion:       Version,
		LastBlockHeight:  a.store.LastHeight(),
		LastBlockAppHash: a.store.LastAppHash(),
	}, nil
}

// InitChain writes the genesis app_state. Its writes are committed with
// block 1; the genesis AppHash is the SHA-256 of the app_state bytes, so the
// chain's first header commits to the exact genesis state.
func (a *App) InitChain(_ context.Context, req *abci.InitChainRequest) (*abci.InitChainResponse, error) {
	a.store.Rollback()
	w := a.store.Working()
	w.Set(keyChainID, []byte(req.ChainId))
	w.Set(keyAppVersion, []byte(strconv.Itoa(Version)))
	if a.cfg.InitGenesis != nil && len(req.AppStateBytes) > 0 {
		vals := make([]cc.ValidatorUpdate, len(req.Validators))
		for i, v := range req.Validators {
			vals[i] = cc.ValidatorUpdate{PubKey: v.PubKeyBytes, Power: v.Power}
		}
		if err := a.cfg.InitGenesis(w, req.AppStateBytes, vals); err != nil {
			return nil, fmt.Errorf("carechain genesis: %w", err)
		}
	}
	h := tx.Hash(req.AppStateBytes)
	a.store.SetGenesisHash(h)
	a.mu.Lock()
	a.chainID = req.ChainId
	a.mu.Unlock()
	return &abci.InitChainResponse{AppHash: h}, nil
}

// CheckTx admits a transaction to the mempool only if it would succeed on
// the mempool state (see mempoolState): decodes, checks chain id, type,
// sequence and signature, and runs the handler on a scratch overlay. The
// decoded envelope and the signature check are kept so FinalizeBlock does
// not decode or verify it again. A recheck of a transaction whose
// admission still stands is answered without executing it again.
func (a *App) CheckTx(_ context.Context, req *abci.CheckTxRequest) (*abci.CheckTxResponse, error) {
	// PreVerify's envelope, if it decoded these very bytes, carries their
	// hash; otherwise hash them here.
	var t *tx.Tx
	if req.Type != abci.CHECK_TX_TYPE_RECHECK && !a.cfg.DisableTxCache {
		t = a.pre.take(req.Tx)
	}
	var hash [32]byte
	if t != nil {
		hash = [32]byte(t.Hash)
	} else {
		hash = sha256.Sum256(req.Tx)
	}
	a.mpMu.Lock()
	defer a.mpMu.Unlock()
	if req.Type == abci.CHECK_TX_TYPE_RECHECK {
		if a.recheck(hash) {
			return &abci.CheckTxResponse{Code: abci.CodeTypeOK}, nil
		}
	} else {
		a.closePass()
	}
	if c := a.cachedTx(hash); c != nil {
		t = c
	}
	if err := a.admit(req.Tx, hash, t); err != nil {
		code := cc.KindOf(err).Code()
		a.stats.reject(code)
		return &abci.CheckTxResponse{Code: code, Log: a.userText(err), Codespace: "carechain"}, nil
	}
	return &abci.CheckTxResponse{Code: abci.CodeTypeOK}, nil
}

// userText is the error text safe to return: internal details are logged.
func (a *App) userText(err error) string {
	if cc.KindOf(err) == cc.Internal {
		a.log.Error("internal error", "err", err)
	}
	return err.Error()
}

// apply authenticates raw (whose hash is hash; t is its decoded envelope
// when the caller has it, else nil) and runs its handler on kv. On success
// it bumps the signer's sequence in kv. It returns the decoded envelope and
// the handler result; on error the caller discards kv's writes.
func (a *App) apply(ctx cc.TxContext, kv cc.KV, raw, hash []byte, t *tx.Tx) (*tx.Tx, cc.Result, error) {
	if t == nil {
		var err error
		if t, err = tx.DecodeHashed(raw, hash); err != nil {
			return nil, cc.Result{}, err
		}
	}
	if t.Body.ChainID != ctx.ChainID {
		return nil, cc.Result{}, cc.Errorf("tx", cc.WrongChain, "transaction is for chain %q, this is %q", t.Body.ChainID, ctx.ChainID)
	}
	h, ok := a.cfg.Handlers[t.Body.Type]
	if !ok {
		return nil, cc.Result{}, cc.Errorf("tx", cc.UnknownType, "unknown transaction type %q", t.Body.Type)
	}
	next, err := Sequence(kv, t.Signer)
	if err != nil {
		return nil, cc.Result{}, err
	}
	switch {
	case t.Body.Sequence < next:
		return nil, cc.Result{}, cc.Errorf("tx", cc.SequenceReplay, "sequence %d already used by %s (next is %d)", t.Body.Sequence, t.Signer, next)
	case t.Body.Sequence > next:
		return nil, cc.Result{}, cc.Errorf("tx", cc.SequenceGap, "sequence %d is ahead of %s's next sequence %d", t.Body.Sequence, t.Signer, next)
	}
	pub, err := a.cfg.SignerKey(kv, t.Signer, t.Body.Type, t.Body.Payload)
	if err != nil {
		return nil, cc.Result{}, err
	}
	// t is the admission's or PreVerify's envelope when the App has one:
	// its note spares a second verification (tx.Tx.VerifyCached).
	if err := t.VerifyCached(pub); err != nil {
		return nil, cc.Result{}, err
	}
	ctx.Signer = t.Signer
	ctx.Sequence = t.Body.Sequence
	ctx.Type = t.Body.Type
	ctx.TxHash = t.Hash
	res, err := runHandler(h, ctx, kv, t.Body.Payload)
	if err != nil {
		return nil, cc.Result{}, err
	}
	setSequence(kv, t.Signer, next+1)
	return t, res, nil
}

// runHandler calls h, turning a panic or a foreign error into an Internal
// *cc.Error so a handler bug fails the transaction the same way on every
// node instead of crashing them.
func runHandler(h cc.Handler, ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (res cc.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = cc.Result{}, cc.E(ctx.Type, cc.Internal, fmt.Errorf("handler panic: %v", r))
		}
	}()
	res, err = h(ctx, kv, payload)
	var ce *cc.Error
	if err != nil && !errors.As(err, &ce) {
		err = cc.E(ctx.Type, cc.Internal, err)
	}
	return res, err
}

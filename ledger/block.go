package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/crypto/ed25519"

	cc "carechain"
	"carechain/ledger/store"
	"carechain/ledger/tx"
)

// TxOutcome is the committed result of one transaction.
type TxOutcome struct {
	Hash   []byte `json:"hash"`
	Height int64  `json:"height"`
	Index  int    `json:"index"`
	Code   uint32 `json:"code"`
	Log    string `json:"log,omitempty"`
	Data   []byte `json:"data,omitempty"`
}

// blockRun is the state of the block being finalized until Commit.
type blockRun struct {
	height   int64
	outcomes []TxOutcome
	keys     [][]string // state keys each successful transaction wrote (for the mempool state)
	fast     bool       // the block is what CheckTx predicted (see mempoolState)
}

// txIndexKey is the state key recording where a committed transaction is.
// It lets anyone prove a transaction's inclusion and result by its hash.
func txIndexKey(hash []byte) string { return "tx/" + hex.EncodeToString(hash) }

// txIndex is the value under txIndexKey.
type txIndex struct {
	Height int64  `json:"height"`
	Index  int    `json:"index"`
	Code   uint32 `json:"code"`
}

// AppendJSON appends ix as json.Marshal encodes it (cc.JSONAppender).
func (ix txIndex) AppendJSON(b []byte) []byte {
	b = append(b, `{"height":`...)
	b = strconv.AppendInt(b, ix.Height, 10)
	b = append(b, `,"index":`...)
	b = strconv.AppendInt(b, int64(ix.Index), 10)
	b = append(b, `,"code":`...)
	b = strconv.AppendUint(b, uint64(ix.Code), 10)
	return append(b, '}')
}

// FinalizeBlock executes the decided block's transactions in order against
// the working state. Each transaction's writes are kept only if it
// succeeds. It returns per-transaction results, validator updates and the
// AppHash; nothing is persisted until Commit.
func (a *App) FinalizeBlock(_ context.Context, req *abci.FinalizeBlockRequest) (*abci.FinalizeBlockResponse, error) {
	if a.block != nil {
		// CometBFT finalizes each height once and commits it before the
		// next; anything else is a bug we must not paper over (rolling back
		// would also drop the genesis writes staged for block 1).
		return nil, fmt.Errorf("FinalizeBlock(%d) while block %d is not committed", req.Height, a.block.height)
	}
	run := &blockRun{height: req.Height, outcomes: make([]TxOutcome, len(req.Txs)), keys: make([][]string, len(req.Txs))}
	// Hand-over with the mempool state: the recheck pass after the last
	// Commit is over; take the decoded envelopes CheckTx kept for the
	// block's transactions. CheckTx may run beside the rest.
	hashes := make([][32]byte, len(req.Txs))
	for i, raw := range req.Txs {
		hashes[i] = sha256.Sum256(raw)
	}
	a.notifier.including(hashes)
	cached := make([]*tx.Tx, len(req.Txs))
	a.mp.mu.Lock()
	open := a.mp.passOpen
	a.mp.mu.Unlock()
	if open {
		// No CheckTx since the last Commit (the first one closes the pass),
		// so none is in progress to wait for.
		a.mpMu.Lock()
		a.closePass()
		a.mpMu.Unlock()
	}
	blockTime := req.Time.UTC()
	a.lastTime.Store(&blockTime)
	admitted := make([]*admission, len(req.Txs)) // as CheckTx admitted them, for reusable
	a.mp.mu.Lock()
	for i := range req.Txs {
		cached[i] = a.cachedTx(hashes[i])
		if !a.cfg.DisableTxCache {
			admitted[i] = a.mp.byHash[hashes[i]]
		}
	}
	a.mp.mu.Unlock()
	a.raiseNextHeight(req.Height + 1)
	a.block = run
	working := a.store.Working()
	base := cc.TxContext{ChainID: a.ChainID(), Height: req.Height, Time: req.Time.UTC()}

	results := make([]*abci.ExecTxResult, len(req.Txs))
	var updates []abci.ValidatorUpdate
	for i, raw := range req.Txs {
		hash := hashes[i]
		out := TxOutcome{Hash: hash[:], Height: req.Height, Index: i}
		var res cc.Result
		var err error
		if ad := admitted[i]; ad != nil && a.reusable(ad, req.Height, base.Time, working) {
			res = ad.res
			run.keys[i] = make([]string, len(ad.writes))
			var sums []*store.Sums // ready if PrepareSums ran (see pendingSums)
			if p := ad.sums.Load(); p != nil {
				sums = *p
			}
			for j, w := range ad.writes {
				run.keys[i][j] = w.Key
				switch {
				case w.Deleted:
					working.Delete(w.Key)
				case sums != nil:
					working.SetSharedSums(w.Key, w.Value, sums[j]) // admission values are never modified
				default:
					working.SetShared(w.Key, w.Value)
				}
			}
			a.stats.Reused.Add(1)
		} else {
			scratch := store.NewOverlay(working)
			if _, res, err = a.apply(base, scratch, raw, hash[:], cached[i]); err != nil {
				scratch.Discard()
			} else {
				run.keys[i] = scratch.Keys()
				scratch.Flush(working)
			}
		}
		if err != nil {
			out.Code = cc.KindOf(err).Code()
			out.Log = a.userText(err)
			results[i] = &abci.ExecTxResult{Code: out.Code, Log: out.Log, Codespace: "carechain"}
		} else {
			out.Data = res.Data
			results[i] = &abci.ExecTxResult{Code: abci.CodeTypeOK, Data: res.Data, Events: abciEvents(res.Events)}
			updates = mergeValidatorUpdates(updates, res.Validators)
			if err := cc.SetJSON(working, txIndexKey(out.Hash), txIndex{Height: req.Height, Index: i, Code: 0}); err != nil {
				return nil, err
			}
		}
		run.outcomes[i] = out
	}
	a.mp.mu.Lock()
	run.fast = run.height > 1 && a.mp.predicted(run, working)
	a.mp.mu.Unlock()
	appHash, err := a.store.FinalizeBlock(req.Height)
	if err != nil {
		return nil, fmt.Errorf("finalize block %d: %w", req.Height, err)
	}
	return &abci.FinalizeBlockResponse{TxResults: results, ValidatorUpdates: updates, AppHash: appHash}, nil
}

// PrepareProposal answers as abci.BaseApplication does (the mempool's
// transactions up to the size limit). The proposal fixes what height
// req.Height holds, so CheckTx admits from now on at the next height
// (see admit).
func (a *App) PrepareProposal(ctx context.Context, req *abci.PrepareProposalRequest) (*abci.PrepareProposalResponse, error) {
	a.proposed(req.Height)
	return a.BaseApplication.PrepareProposal(ctx, req)
}

// ProcessProposal accepts every proposal (FinalizeBlock judges each
// transaction); like PrepareProposal it moves CheckTx to the next height.
func (a *App) ProcessProposal(_ context.Context, req *abci.ProcessProposalRequest) (*abci.ProcessProposalResponse, error) {
	a.proposed(req.Height)
	return &abci.ProcessProposalResponse{Status: abci.PROCESS_PROPOSAL_STATUS_ACCEPT}, nil
}

// proposed records that a block of height h was proposed: a transaction
// admitted from now on can be in h+1 at the earliest. It only sets the
// height CheckTx runs at, never a block's result, and does not wait for
// the CheckTx in progress (which keeps the height it started with: its
// transaction was not in the proposal, so a block that includes it
// executes it again, see reusable).
func (a *App) proposed(h int64) {
	a.raiseNextHeight(h + 1)
}

// raiseNextHeight sets nextHeight to h unless it is already higher.
func (a *App) raiseNextHeight(h int64) {
	for {
		cur := a.nextHeight.Load()
		if cur >= h || a.nextHeight.CompareAndSwap(cur, h) {
			return
		}
	}
}

// Commit persists the block's writes atomically, moves the mempool state
// onto the new committed state (see mempoolState) and notifies waiters of
// the outcomes.
func (a *App) Commit(_ context.Context, _ *abci.CommitRequest) (*abci.CommitResponse, error) {
	if err := a.store.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	a.mpMu.Lock()
	a.mp.mu.Lock()
	a.commitMempool(a.block)
	a.mp.mu.Unlock()
	a.mpMu.Unlock()
	if run := a.block; run != nil {
		a.block = nil
		a.stats.committed(run)
		a.notifier.publish(run.outcomes)
	}
	return &abci.CommitResponse{}, nil
}

// mergeValidatorUpdates adds vs to updates, keeping one update per key
// (the last one wins, at the position of the first): CometBFT rejects a
// block whose updates name a validator twice.
func mergeValidatorUpdates(updates []abci.ValidatorUpdate, vs []cc.ValidatorUpdate) []abci.ValidatorUpdate {
	for _, v := range vs {
		u := abci.ValidatorUpdate{Power: v.Power, PubKeyType: ed25519.KeyType, PubKeyBytes: v.PubKey}
		replaced := false
		for i := range updates {
			if bytes.Equal(updates[i].PubKeyBytes, v.PubKey) {
				updates[i] = u
				replaced = true
				break
			}
		}
		if !replaced {
			updates = append(updates, u)
		}
	}
	return updates
}

// abciEvents converts domain events to ABCI events.
func abciEvents(evs []cc.Event) []abci.Event {
	if len(evs) == 0 {
		return nil
	}
	out := make([]abci.Event, len(evs))
	for i, e := range evs {
		attrs := make([]abci.EventAttribute, len(e.Attributes))
		for j, at := range e.Attributes {
			attrs[j] = abci.EventAttribute{Key: at.Key, Value: at.Value, Index: true}
		}
		out[i] = abci.Event{Type: e.Type, Attributes: attrs}
	}
	return out
}

// LookupTx finds a committed transaction's height, index and code by hash.
// Only transactions that succeeded are indexed; others answer NotFound.
func LookupTx(kv cc.Reader, hash []byte) (*cc.TxInfo, error) {
	var ix txIndex
	ok, err := cc.GetJSON(kv, txIndexKey(hash), &ix)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, cc.Errorf("tx", cc.NotFound, "no committed transaction %x", hash)
	}
	return &cc.TxInfo{Hash: hex.EncodeToString(hash), Height: ix.Height, Index: ix.Index, Code: ix.Code}, nil
}

// TxIndexKey is the state key whose proof proves a transaction committed.
func TxIndexKey(hash []byte) string { return txIndexKey(hash) }

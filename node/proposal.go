package node

import (
	"context"
	"sync/atomic"

	abci "github.com/cometbft/cometbft/abci/types"
	mempl "github.com/cometbft/cometbft/mempool"
	"github.com/cometbft/cometbft/types"
)

// proposalApp is the application as CometBFT sees it: the caller's, with a
// PrepareProposal that does not leave out the transaction whose CheckTx is
// in progress.
//
// CometBFT reaps the mempool for a proposal and only then calls
// PrepareProposal. A transaction still in CheckTx at that moment misses
// the block although it is about to be admitted — with large transactions
// (an EPCIS document of 500 events is checked in tens of milliseconds) that
// is one transaction in most blocks, which then waits a whole block more,
// and whose admission, made for this height, cannot be reused by the next
// block (the ledger executes it again). So PrepareProposal first waits for
// the CheckTx calls in progress (they hold the mempool's lock shared;
// taking it exclusively waits for them, and makes new ones wait only that
// long), then for the transactions queued on the mempool connection
// (gossiped by peers, answered in batches: flush), and reaps the mempool
// again. Everything proposed is in the mempool, in mempool order, within
// the request's byte limit; with nothing in progress the wait is a lock
// round trip.
//
// Only the proposer runs PrepareProposal, and what it proposes is for the
// other validators to check (ProcessProposal, FinalizeBlock): consensus does
// not depend on it.
type proposalApp struct {
	abci.Application
	mempool atomic.Pointer[mempl.Mempool] // set once the node is built; nil: the request as it came
	// flush, if set, waits until the mempool connection has answered
	// every queued CheckTx (mempoolClient.Flush).
	flush  func(context.Context) error
	phases phaseLog // when each height went through the stages below
}

// PrepareProposal reaps the mempool again once the CheckTx calls in
// progress are over (see proposalApp) and passes the request on.
func (p *proposalApp) PrepareProposal(ctx context.Context, req *abci.PrepareProposalRequest) (*abci.PrepareProposalResponse, error) {
	p.markProposed(req.Height)
	if mp := p.mempool.Load(); mp != nil {
		(*mp).Lock()
		if p.flush != nil {
			_ = p.flush(ctx)
		}
		(*mp).Unlock()
		// Between the two reaps transactions can only have been added (the
		// consensus goroutine, here, is the one that removes them), so the
		// first reap is a prefix of the second.
		if txs := (*mp).ReapMaxBytesMaxGas(req.MaxTxBytes, -1); len(txs) > len(req.Txs) {
			r := *req
			r.Txs = txs.ToSliceOfBytes()
			req = &r
		}
	}
	return p.Application.PrepareProposal(ctx, req)
}

// FinalizeBlock takes the decided block's transactions out of the mempool,
// then passes the request on.
//
// CometBFT removes them only in its mempool Update, after Commit, so for as
// long as a block executes and commits its transactions still count
// against the mempool's size limit, though no other block can include them
// again: with a limit of 10,000 and blocks of ~5,000 that take ~130 ms to
// execute and commit, new submissions are refused as "mempool full" for
// part of every block. Removed here, under the mempool's lock as Update
// removes them (it waits for a CheckTx in progress and for the previous
// block's Update and recheck), their places are free for the whole
// execution. They stay in the mempool's cache, so a copy submitted
// meanwhile is still refused as a duplicate; Update later finds them gone,
// which it expects (a block proposed by another validator holds
// transactions this mempool never had), and caches or uncaches them by
// their results as before. Nothing here touches the application or its
// state: what the block does is unchanged.
func (p *proposalApp) FinalizeBlock(ctx context.Context, req *abci.FinalizeBlockRequest) (*abci.FinalizeBlockResponse, error) {
	p.phases.mark(stageFinalizeStart, req.Height, len(req.Txs), 0)
	if mp := p.mempool.Load(); mp != nil && len(req.Txs) > 0 {
		(*mp).Lock()
		for _, tx := range req.Txs {
			_ = (*mp).RemoveTxByKey(types.Tx(tx).Key())
		}
		(*mp).Unlock()
	}
	res, err := p.Application.FinalizeBlock(ctx, req)
	p.phases.mark(stageFinalizeEnd, req.Height, 0, 0)
	return res, err
}

// ProcessProposal records the proposal's arrival and passes it on.
func (p *proposalApp) ProcessProposal(ctx context.Context, req *abci.ProcessProposalRequest) (*abci.ProcessProposalResponse, error) {
	p.markProposed(req.Height)
	return p.Application.ProcessProposal(ctx, req)
}

// Commit passes the request on, recording its start and end.
func (p *proposalApp) Commit(ctx context.Context, req *abci.CommitRequest) (*abci.CommitResponse, error) {
	p.phases.mark(stageCommitStart, 0, 0, 0)
	res, err := p.Application.Commit(ctx, req)
	p.phases.mark(stageCommitEnd, 0, 0, 0)
	return res, err
}

// markProposed records that a proposal for height h was made or received,
// with the mempool's size then.
func (p *proposalApp) markProposed(h int64) {
	size := 0
	if mp := p.mempool.Load(); mp != nil {
		size = (*mp).Size()
	}
	p.phases.mark(stageProposed, h, 0, size)
}

package chain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/types"

	cc "carechain"
	"carechain/ledger"
	"carechain/ledger/store"
	"carechain/node"
)

// Report is the outcome of Verify.
type Report struct {
	Home          string   `json:"home"`
	ChainID       string   `json:"chain_id"`
	BlockHeight   int64    `json:"block_height"` // blocks in CometBFT's store
	StateHeight   int64    `json:"state_height"` // blocks committed to the application state
	CommitsOK     bool     `json:"commits_ok"`
	ReplayOK      bool     `json:"replay_ok"`
	StateOK       bool     `json:"state_ok"`
	DigestOK      bool     `json:"digest_ok"`
	FirstBadBlock int64    `json:"first_bad_height,omitempty"`
	FirstBadKey   string   `json:"first_bad_key,omitempty"`
	Problems      []string `json:"problems,omitempty"`
}

// OK reports whether every check passed.
func (r *Report) OK() bool { return r.CommitsOK && r.ReplayOK && r.StateOK && r.DigestOK }

func (r *Report) problem(h int64, key, format string, args ...any) {
	if h > 0 && (r.FirstBadBlock == 0 || h < r.FirstBadBlock) {
		r.FirstBadBlock = h
	}
	if key != "" && r.FirstBadKey == "" {
		r.FirstBadKey = key
	}
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// VerifyProgress is told how far each stage has come.
type VerifyProgress func(stage string, done, total int64)

// Verify re-verifies a stopped node's whole chain from genesis:
//  1. every block is well formed, links to its parent and carries a commit
//     signed by more than two thirds of that height's validators;
//  2. replaying every block into a fresh application reproduces, at every
//     height, the AppHash the next header carries and the one the node's
//     state recorded;
//  3. the node's application state equals the replayed state key by key,
//     and its state digest recomputed from a full scan equals the digest in
//     the last AppHash.
//
// It names the first height and key that diverge. The error is non-nil only
// if the checks could not run; a failed check is in the Report.
func Verify(home string, progress VerifyProgress) (*Report, error) {
	if progress == nil {
		progress = func(string, int64, int64) {}
	}
	stores, err := node.OpenStores(home)
	if err != nil {
		return nil, err
	}
	defer stores.Close()
	disk, err := store.Open(StateDir(home))
	if err != nil {
		return nil, err
	}
	defer disk.Close()

	r := &Report{Home: home, ChainID: stores.Genesis.ChainID, BlockHeight: stores.BlockStore.Height(), StateHeight: disk.LastHeight()}
	last := r.BlockHeight
	// A state written under another application version differs from this
	// binary's replay by design: say so first, before the differences.
	if err := ledger.CheckStateVersion(disk); err != nil {
		r.problem(0, "", "%v", err)
	}

	// 1. Blocks and commit signatures.
	var hErr *node.HeightError
	err = stores.VerifyCommits(1, last, func(h int64) { progress("commit signatures", h, last) })
	switch {
	case err == nil:
		r.CommitsOK = true
	case errors.As(err, &hErr):
		r.problem(hErr.Height, "", "block %d: %s", hErr.Height, hErr.Reason)
	default:
		r.problem(0, "", "blocks: %v", err)
	}

	// 2. Replay into a fresh application.
	mem, err := store.OpenInMemory()
	if err != nil {
		return nil, err
	}
	defer mem.Close()
	app := ledger.New(mem, ledger.Domain(slog.New(slog.DiscardHandler)))
	ctx := context.Background()
	vals := make([]abci.ValidatorUpdate, len(stores.Genesis.Validators))
	for i, v := range stores.Genesis.Validators {
		vals[i] = abci.ValidatorUpdate{Power: v.Power, PubKeyType: v.PubKey.Type(), PubKeyBytes: v.PubKey.Bytes()}
	}
	init, err := app.InitChain(ctx, &abci.InitChainRequest{ChainId: stores.Genesis.ChainID, AppStateBytes: stores.Genesis.AppState, Time: stores.Genesis.GenesisTime, Validators: vals})
	if err != nil {
		r.problem(1, "", "genesis app_state does not initialize: %v", err)
		return r, nil
	}
	r.ReplayOK = true
	prevHash := init.AppHash
	upto := min(r.StateHeight, last)
	for h := int64(1); h <= upto; h++ {
		b, err := loadBlock(stores, h)
		if err != nil {
			r.ReplayOK = false
			r.problem(h, "", "block %d: %v", h, err)
			break
		}
		if b == nil {
			r.ReplayOK = false
			r.problem(h, "", "block %d is missing from the block store", h)
			break
		}
		if !bytes.Equal(b.AppHash, prevHash) {
			r.ReplayOK = false
			r.problem(h, "", "height %d: header carries AppHash %X, replay computed %X for the state before it", h, []byte(b.AppHash), prevHash)
			break
		}
		txs := make([][]byte, len(b.Txs))
		for i, t := range b.Txs {
			txs[i] = t
		}
		resp, err := app.FinalizeBlock(ctx, &abci.FinalizeBlockRequest{Height: h, Time: b.Time, Txs: txs, Hash: b.Hash(),
			ProposerAddress: b.ProposerAddress, NextValidatorsHash: b.NextValidatorsHash})
		if err == nil {
			_, err = app.Commit(ctx, &abci.CommitRequest{})
		}
		if err != nil {
			return nil, err
		}
		if m, err := disk.BlockMeta(h); err != nil || !bytes.Equal(m.AppHash, resp.AppHash) {
			r.ReplayOK = false
			r.problem(h, "", "height %d: the node's state recorded a different AppHash than replaying the block gives (%X)", h, resp.AppHash)
		}
		prevHash = resp.AppHash
		progress("replay", h, upto)
	}
	if upto < last && r.ReplayOK {
		// The header after the last applied block carries its AppHash.
		if b, err := loadBlock(stores, upto+1); err == nil && b != nil && !bytes.Equal(b.AppHash, prevHash) {
			r.ReplayOK = false
			r.problem(upto+1, "", "height %d: header carries AppHash %X, replay computed %X", upto+1, []byte(b.AppHash), prevHash)
		}
	}

	// 3. State equality and digest.
	r.StateOK = true
	if key, ok, err := diffState(mem.Committed(), disk.Committed()); err != nil {
		return nil, err
	} else if !ok {
		r.StateOK = false
		h := int64(0)
		if p, err := disk.Proof(key); err == nil {
			h = p.Height
		}
		r.problem(h, key, "state key %q differs from the replayed state (last written at height %d)", key, h)
	}
	progress("state", 1, 1)
	digest, err := disk.RecomputeDigest()
	if err != nil {
		return nil, err
	}
	r.DigestOK = true
	if r.StateHeight > 0 {
		m, err := disk.BlockMeta(r.StateHeight)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(m.StateDigest, digest) {
			r.DigestOK = false
			r.problem(r.StateHeight, "", "state digest recomputed from a full scan (%X) is not the one committed at height %d (%X)", digest, r.StateHeight, m.StateDigest)
		}
	}
	return r, nil
}

// loadBlock loads a stored block; CometBFT panics on a stored block that
// fails validation (e.g. a changed transaction), which is tampering to
// report, not a reason to crash.
func loadBlock(stores *node.Stores, h int64) (b *types.Block, err error) {
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("stored block is corrupt: %v", p)
		}
	}()
	b, _ = stores.BlockStore.LoadBlock(h)
	return b, nil
}

// diffState walks two states in key order and returns the first key whose
// presence or value differs.
func diffState(a, b cc.Reader) (string, bool, error) {
	type kv struct {
		k string
		v []byte
	}
	var as, bs []kv
	if err := a.Iterate("", func(k string, v []byte) bool { as = append(as, kv{k, bytes.Clone(v)}); return true }); err != nil {
		return "", false, err
	}
	if err := b.Iterate("", func(k string, v []byte) bool { bs = append(bs, kv{k, bytes.Clone(v)}); return true }); err != nil {
		return "", false, err
	}
	i, j := 0, 0
	for i < len(as) || j < len(bs) {
		switch {
		case j >= len(bs) || (i < len(as) && as[i].k < bs[j].k):
			return as[i].k, false, nil
		case i >= len(as) || bs[j].k < as[i].k:
			return bs[j].k, false, nil
		case !bytes.Equal(as[i].v, bs[j].v):
			return as[i].k, false, nil
		}
		i++
		j++
	}
	return "", true, nil
}

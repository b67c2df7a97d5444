package node

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	cmtcfg "github.com/cometbft/cometbft/config"
	sm "github.com/cometbft/cometbft/state"
	"github.com/cometbft/cometbft/store"
	"github.com/cometbft/cometbft/types"

	"carechain"
)

// Stores gives offline access to a stopped node's block store and state
// store, e.g. for `carechain verify`.
type Stores struct {
	BlockStore *store.BlockStore
	StateStore sm.Store
	Genesis    *types.GenesisDoc
}

// OpenStores opens the block store and state store of home while its node
// is NOT running (CometBFT's Pebble databases allow one opener: a running
// node makes this fail with FailedPrecondition). It only reads, except that
// opening a block store records its key-layout version, as CometBFT does on
// every start. Close the Stores when done.
func OpenStores(home string) (*Stores, error) {
	const op = "node.OpenStores"
	c, err := LoadConfig(home)
	if err != nil {
		return nil, err
	}
	gen, err := ReadGenesis(home)
	if err != nil {
		return nil, err
	}
	for _, id := range []string{"blockstore", "state"} {
		if _, err := os.Stat(filepath.Join(c.DBDir(), id+".db")); err != nil {
			return nil, carechain.Errorf(op, carechain.NotFound, "%s has no %s database (never started?)", home, id)
		}
	}
	var s *Stores
	err = guard(op, func() error {
		open := dbProvider(nil, nil)
		bdb, err := open(&cmtcfg.DBContext{ID: "blockstore", Config: c})
		if err != nil {
			return carechain.Errorf(op, carechain.FailedPrecondition,
				"cannot open the block store (is the node running?): %v", err)
		}
		sdb, err := open(&cmtcfg.DBContext{ID: "state", Config: c})
		if err != nil {
			_ = bdb.Close()
			return carechain.Errorf(op, carechain.FailedPrecondition,
				"cannot open the state store (is the node running?): %v", err)
		}
		s = &Stores{
			BlockStore: store.NewBlockStore(bdb, store.WithDBKeyLayout(c.Storage.ExperimentalKeyLayout)),
			StateStore: sm.NewStore(sdb, sm.StoreOptions{
				DiscardABCIResponses: c.Storage.DiscardABCIResponses,
				DBKeyLayout:          c.Storage.ExperimentalKeyLayout,
			}),
			Genesis: gen,
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Close closes both stores.
func (s *Stores) Close() error {
	return errors.Join(s.BlockStore.Close(), s.StateStore.Close())
}

// SignedHeader is Node.SignedHeader on the offline stores.
func (s *Stores) SignedHeader(height int64) (*types.SignedHeader, error) {
	return signedHeader(s.BlockStore, height)
}

// ValidatorSet is Node.ValidatorSet on the offline stores.
func (s *Stores) ValidatorSet(height int64) (*types.ValidatorSet, error) {
	return validatorSet(s.StateStore, height)
}

// HeightError names the first height at which verification failed.
type HeightError struct {
	Height int64
	Reason string
}

func (e *HeightError) Error() string { return fmt.Sprintf("height %d: %s", e.Height, e.Reason) }

// VerifyCommits re-verifies the stored chain from height from to height to
// (0 means the store's first / last block), calling onHeight (if not nil)
// after each verified height. For every height h it checks that:
//
//   - the block decodes, is for this chain and height, and passes
//     Block.ValidateBasic (so its header commits to its transactions and to
//     its last commit);
//   - its hash equals the block id the commit for h signs, and its block
//     meta agrees;
//   - the validator set stored for h hashes to the header's ValidatorsHash
//     and, past the first checked height, to the previous header's
//     NextValidatorsHash, and the header links to the previous block id;
//   - that validator set's signatures in the commit for h are valid and
//     carry more than 2/3 of its power (ValidatorSet.VerifyCommit: every
//     signature present is checked, not only the first 2/3).
//
// The first checked validator set is trusted as stored; from there each set
// is bound to signed headers. The error, an Integrity *carechain.Error
// wrapping a *HeightError, names the first bad height.
func (s *Stores) VerifyCommits(from, to int64, onHeight func(h int64)) error {
	const op = "node.VerifyCommits"
	base, top := s.BlockStore.Base(), s.BlockStore.Height()
	if top == 0 {
		return carechain.Errorf(op, carechain.NotFound, "the block store is empty")
	}
	if from == 0 {
		from = base
	}
	if to == 0 {
		to = top
	}
	if from < base || to > top || from > to {
		return carechain.Errorf(op, carechain.Invalid, "range %d..%d is outside the stored blocks %d..%d", from, to, base, top)
	}
	var prev *types.Block
	for h := from; h <= to; h++ {
		var blk *types.Block
		err := verifyPanicFree(func() error {
			b, meta := s.BlockStore.LoadBlock(h)
			if b == nil || meta == nil {
				return errors.New("block is missing")
			}
			commit := loadCommit(s.BlockStore, h)
			if commit == nil {
				return errors.New("commit is missing")
			}
			vals, err := s.StateStore.LoadValidators(h)
			if err != nil {
				return fmt.Errorf("validator set is missing: %v", err)
			}
			if !meta.BlockID.Equals(commit.BlockID) {
				return fmt.Errorf("block meta id %v differs from the committed block id %v", meta.BlockID, commit.BlockID)
			}
			if err := VerifyBlock(s.Genesis.ChainID, h, b, commit, vals, prev); err != nil {
				return err
			}
			blk = b
			return nil
		})
		if err != nil {
			return &carechain.Error{Op: op, Kind: carechain.Integrity,
				Msg: fmt.Sprintf("height %d: %v", h, err), Err: &HeightError{Height: h, Reason: err.Error()}}
		}
		prev = blk
		if onHeight != nil {
			onHeight(h)
		}
	}
	return nil
}

// VerifyBlock checks one block against the commit that signs it and the
// validator set for its height, and (when prev, the block at height-1, is
// not nil) its links to prev. It is the per-height check of VerifyCommits,
// exported so a block obtained elsewhere (e.g. from a peer's RPC) can be
// checked the same way. Pass freshly decoded values: CometBFT caches a
// block's last-commit and evidence hashes on first use. The error text says
// what is wrong.
func VerifyBlock(chainID string, height int64, b *types.Block, commit *types.Commit, vals *types.ValidatorSet, prev *types.Block) error {
	return verifyPanicFree(func() error {
		if b.Height != height || b.ChainID != chainID {
			return fmt.Errorf("block says chain %q height %d", b.ChainID, b.Height)
		}
		if err := b.ValidateBasic(); err != nil {
			return fmt.Errorf("invalid block: %v", err)
		}
		// ValidateBasic uses a cached data hash; recompute it from the txs.
		if !bytes.Equal(b.DataHash, b.Txs.Hash()) {
			return errors.New("invalid block: transactions do not match the header's data hash")
		}
		if commit.Height != height {
			return fmt.Errorf("commit is for height %d", commit.Height)
		}
		if hash := b.Hash(); !bytes.Equal(hash, commit.BlockID.Hash) {
			return fmt.Errorf("block hash %X differs from the committed hash %X", hash, commit.BlockID.Hash)
		}
		if !bytes.Equal(b.ValidatorsHash, vals.Hash()) {
			return fmt.Errorf("stored validator set does not match the header's validators hash")
		}
		if prev != nil {
			if !bytes.Equal(b.ValidatorsHash, prev.NextValidatorsHash) {
				return fmt.Errorf("validators hash differs from the previous header's next validators hash")
			}
			if b.LastBlockID.Hash == nil || !bytes.Equal(b.LastBlockID.Hash, prev.Hash()) {
				return fmt.Errorf("last block id does not link to block %d", prev.Height)
			}
		}
		if err := vals.VerifyCommit(chainID, commit.BlockID, height, commit); err != nil {
			return fmt.Errorf("commit does not verify: %v", err)
		}
		return nil
	})
}

// verifyPanicFree runs fn, turning a panic (CometBFT's stores panic on data
// that does not decode or fails ValidateBasic) into an error.
func verifyPanicFree(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprint(r)
			if e, ok := r.(error); ok {
				msg = e.Error()
			}
			err = fmt.Errorf("stored data is corrupt: %s", strings.TrimSpace(msg))
		}
	}()
	return fn()
}

package chain

import (
	"bytes"
	"encoding/hex"
	"encoding/json"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"

	cc "carechain"
	"carechain/ledger/store"
)

// Verified is what a checked ProofBundle establishes.
type Verified struct {
	ChainID        string `json:"chain_id"`
	Key            string `json:"key"`
	Value          string `json:"value,omitempty"`
	Deleted        bool   `json:"deleted,omitempty"`
	Height         int64  `json:"height"`          // the block that wrote the key
	AppHash        string `json:"app_hash"`        // recomputed from the proof
	HeaderHeight   int64  `json:"header_height"`   // the signed header carrying AppHash
	BlockHash      string `json:"block_hash"`      // of that header
	ValidatorsHash string `json:"validators_hash"` // compare with a validator set you trust
	SignedPower    int64  `json:"signed_power"`
	TotalPower     int64  `json:"total_power"`
}

// VerifyBundle checks a ProofBundle offline: the store proof recomputes an
// AppHash; the signed header carries exactly that AppHash at the next
// height; the header's commit is signed by more than two thirds of the
// given validator set, whose hash the header commits to. Any mismatch is an
// Integrity error naming what failed. Trust in the validator set itself is
// the caller's: compare ValidatorsHash with a set you trust (e.g. genesis).
func VerifyBundle(b *cc.ProofBundle) (*Verified, error) {
	const op = "verify-proof"
	var p store.Proof
	if err := json.Unmarshal(b.StoreProof, &p); err != nil {
		return nil, cc.Errorf(op, cc.Malformed, "store proof: %v", err)
	}
	if p.Key != b.Key || p.Height != b.Height {
		return nil, cc.Errorf(op, cc.Integrity, "bundle names key %q at %d but the proof is for %q at %d", b.Key, b.Height, p.Key, p.Height)
	}
	appHash, err := store.VerifyProof(&p)
	if err != nil {
		return nil, err
	}
	v := &Verified{ChainID: b.ChainID, Key: p.Key, Value: string(p.Value), Deleted: p.Deleted, Height: p.Height, AppHash: hex.EncodeToString(appHash)}
	if len(b.SignedHeader) == 0 {
		return nil, cc.Errorf(op, cc.Integrity, "the bundle has no signed header, so nothing anchors AppHash %X", appHash)
	}
	var sh types.SignedHeader
	if err := cmtjson.Unmarshal(b.SignedHeader, &sh); err != nil {
		return nil, cc.Errorf(op, cc.Malformed, "signed header: %v", err)
	}
	var vals types.ValidatorSet
	if err := cmtjson.Unmarshal(b.Validators, &vals); err != nil {
		return nil, cc.Errorf(op, cc.Malformed, "validator set: %v", err)
	}
	if sh.Header == nil || sh.Commit == nil {
		return nil, cc.Errorf(op, cc.Malformed, "signed header lacks header or commit")
	}
	if err := sh.ValidateBasic(b.ChainID); err != nil {
		return nil, cc.Errorf(op, cc.Integrity, "signed header: %v", err)
	}
	if sh.Height != p.Height+1 {
		return nil, cc.Errorf(op, cc.Integrity, "header is for height %d; the AppHash of block %d is carried by header %d", sh.Height, p.Height, p.Height+1)
	}
	if !bytes.Equal(sh.AppHash, appHash) {
		return nil, cc.Errorf(op, cc.Integrity, "proof recomputes AppHash %X but the signed header carries %X", appHash, []byte(sh.AppHash))
	}
	if err := vals.ValidateBasic(); err != nil {
		return nil, cc.Errorf(op, cc.Malformed, "validator set: %v", err)
	}
	if !bytes.Equal(vals.Hash(), sh.ValidatorsHash) {
		return nil, cc.Errorf(op, cc.Integrity, "validator set hash %X is not the header's %X", vals.Hash(), []byte(sh.ValidatorsHash))
	}
	if err := vals.VerifyCommitLight(b.ChainID, sh.Commit.BlockID, sh.Height, sh.Commit); err != nil {
		return nil, cc.Errorf(op, cc.Integrity, "commit signatures: %v", err)
	}
	v.HeaderHeight = sh.Height
	v.BlockHash = hex.EncodeToString(sh.Hash())
	v.ValidatorsHash = hex.EncodeToString(vals.Hash())
	v.TotalPower = vals.TotalVotingPower()
	for i, s := range sh.Commit.Signatures {
		if s.BlockIDFlag == types.BlockIDFlagCommit && i < len(vals.Validators) {
			v.SignedPower += vals.Validators[i].VotingPower
		}
	}
	return v, nil
}

package store

import (
	"bytes"
	"crypto/sha256"
	"hash"
	"math/bits"
	"slices"
	"strings"

	"github.com/cometbft/cometbft/crypto/merkle"

	cc "carechain"
)

// Proof proves that Key was written (set to Value, or deleted when Deleted)
// in block Height whose AppHash is AppHash: the Merkle path links the write's
// leaf to WritesRoot, and AppHash = ComputeAppHash(PrevAppHash, WritesRoot,
// StateDigest). It is plain JSON ([]byte fields are base64).
//
// A proof is only as good as the AppHash it is checked against: compare
// AppHash with the AppHash in the validator-signed header of block
// Height+1 (CometBFT puts block h's AppHash in header h+1), or use
// VerifyProofAgainst.
type Proof struct {
	Key         string        `json:"key"`
	Value       []byte        `json:"value"`
	Deleted     bool          `json:"deleted"`
	Height      int64         `json:"height"`
	PrevAppHash []byte        `json:"prev_app_hash"`
	WritesRoot  []byte        `json:"writes_root"`
	StateDigest []byte        `json:"state_digest"`
	AppHash     []byte        `json:"app_hash"`
	Merkle      *merkle.Proof `json:"merkle"`
}

// Proof returns the inclusion proof of key's latest committed write (a
// value or a deletion) in the block that made it. It is a NotFound error if
// key was never written.
func (s *Store) Proof(key string) (*Proof, error) {
	const op = "store.Proof"
	if !s.acquire() {
		return nil, errClosed(op)
	}
	defer s.release()
	height, err := s.lastWrite(key)
	if err != nil {
		return nil, cc.E(op, err)
	}
	return s.proofAt(op, key, height)
}

// lastWrite returns the height of key's latest committed write: from its
// state entry if it is live, else from its deletion record. The caller
// holds an acquire.
func (s *Store) lastWrite(key string) (int64, error) {
	const op = "store.lastWrite"
	b, err := s.rawGet(stateKey(key))
	if err != nil {
		return 0, cc.E(op, cc.Internal, err)
	}
	if b != nil {
		h, _, err := splitStateValue(b)
		if err != nil {
			return 0, cc.Errorf(op, cc.Integrity, "state key %q: %v", key, err)
		}
		return h, nil
	}
	b, err = s.rawGet(appendLastWriteKey(nil, key))
	if err != nil {
		return 0, cc.E(op, cc.Internal, err)
	}
	if b == nil {
		return 0, cc.Errorf(op, cc.NotFound, "key %q was never written", key)
	}
	h, err := decodeHeight(b)
	if err != nil {
		return 0, cc.E(op, cc.Integrity, err)
	}
	return h, nil
}

// ProofAt returns the inclusion proof of key's write in committed block
// height. It is a NotFound error if there is no such block or the block did
// not write key.
func (s *Store) ProofAt(key string, height int64) (*Proof, error) {
	const op = "store.ProofAt"
	if !s.acquire() {
		return nil, errClosed(op)
	}
	defer s.release()
	return s.proofAt(op, key, height)
}

// proofAt builds the proof from the stored writes of the block, checking
// them against the block's WritesRoot. The caller holds an acquire.
func (s *Store) proofAt(op, key string, height int64) (*Proof, error) {
	m, err := s.blockMeta(op, height)
	if err != nil {
		return nil, err
	}
	writes, err := s.blockWrites(op, m)
	if err != nil {
		return nil, err
	}
	i, found := slices.BinarySearchFunc(writes, key, func(w Write, k string) int {
		return strings.Compare(w.Key, k)
	})
	if !found {
		return nil, cc.Errorf(op, cc.NotFound, "key %q was not written at height %d", key, height)
	}
	x := newHasher()
	leaves := make([][]byte, len(writes))
	for j, w := range writes {
		leaves[j] = x.leaf(w.Key, w.Deleted, w.Value)
	}
	root, path := merkleProof(leaves, i)
	if !bytes.Equal(root, m.WritesRoot) {
		return nil, cc.Errorf(op, cc.Integrity, "stored writes of block %d do not match its writes root", height)
	}
	w := writes[i]
	return &Proof{
		Key:         w.Key,
		Value:       w.Value,
		Deleted:     w.Deleted,
		Height:      height,
		PrevAppHash: m.PrevAppHash,
		WritesRoot:  m.WritesRoot,
		StateDigest: m.StateDigest,
		AppHash:     m.AppHash,
		Merkle:      path,
	}, nil
}

// merkleProof returns the root of the CometBFT (RFC 6962) Merkle tree over
// leaves, as merkle.HashFromByteSlices does, and the proof of leaves[index],
// equal to merkle.ProofsFromByteSlices(leaves)[index]. It builds only that
// one proof, so proving a write of a large block costs a few milliseconds
// instead of allocating a proof for every leaf. len(leaves) must be > 0.
func merkleProof(leaves [][]byte, index int) ([]byte, *merkle.Proof) {
	h := sha256.New()
	hashes := make([][]byte, len(leaves))
	for i, l := range leaves {
		h.Reset()
		h.Write([]byte{0}) // RFC 6962 leaf prefix
		h.Write(l)
		hashes[i] = h.Sum(nil)
	}
	var aunts [][]byte
	root := merklePath(h, hashes, index, &aunts)
	return root, &merkle.Proof{
		Total:    int64(len(leaves)),
		Index:    int64(index),
		LeafHash: hashes[index],
		Aunts:    aunts,
	}
}

// merklePath returns the root over leaf hashes and appends the aunts of
// hashes[index] to aunts, from the leaf's sibling up to the root's child.
func merklePath(h hash.Hash, hashes [][]byte, index int, aunts *[][]byte) []byte {
	if len(hashes) == 1 {
		return hashes[0]
	}
	k := splitPoint(len(hashes))
	var left, right []byte
	if index < k {
		left = merklePath(h, hashes[:k], index, aunts)
		right = merkleRoot(h, hashes[k:])
		*aunts = append(*aunts, right)
	} else {
		left = merkleRoot(h, hashes[:k])
		right = merklePath(h, hashes[k:], index-k, aunts)
		*aunts = append(*aunts, left)
	}
	return innerHash(h, left, right)
}

// writesRoot returns the root of the CometBFT (RFC 6962) Merkle tree whose
// leaves hash to hashes — merkle.HashFromByteSlices of the leaves — the
// hash of nothing when there are none.
func writesRoot(h hash.Hash, hashes [][]byte) []byte {
	if len(hashes) == 0 {
		h.Reset()
		return h.Sum(nil)
	}
	return merkleRoot(h, hashes)
}

// merkleRoot returns the root over leaf hashes (len > 0).
func merkleRoot(h hash.Hash, hashes [][]byte) []byte {
	if len(hashes) == 1 {
		return hashes[0]
	}
	k := splitPoint(len(hashes))
	return innerHash(h, merkleRoot(h, hashes[:k]), merkleRoot(h, hashes[k:]))
}

// innerHash is SHA256(0x01 ‖ left ‖ right), the RFC 6962 inner node.
func innerHash(h hash.Hash, left, right []byte) []byte {
	h.Reset()
	h.Write([]byte{1})
	h.Write(left)
	h.Write(right)
	return h.Sum(nil)
}

// splitPoint returns the largest power of two less than n (n > 1).
func splitPoint(n int) int {
	return 1 << (bits.Len(uint(n-1)) - 1)
}

// VerifyProof checks p on its own and returns the AppHash it proves: the
// write's leaf (recomputed from Key, Value, Deleted) must lead through the
// Merkle path to WritesRoot, and ComputeAppHash(PrevAppHash, WritesRoot,
// StateDigest) must equal p.AppHash. Any failure is an Integrity error. The
// caller must still compare the result with a trusted header's AppHash;
// VerifyProofAgainst does both. What is proven is the write (key, deletion
// flag, value) and the hashes; Merkle.Index and Merkle.Total only locate the
// leaf, and Height is not hashed (the header comparison pins it).
func VerifyProof(p *Proof) ([]byte, error) {
	const op = "store.VerifyProof"
	fail := func(format string, args ...any) ([]byte, error) {
		return nil, cc.Errorf(op, cc.Integrity, format, args...)
	}
	switch {
	case p == nil:
		return fail("no proof")
	case p.Merkle == nil:
		return fail("proof has no Merkle path")
	case p.Height < 1:
		return fail("height %d", p.Height)
	case len(p.WritesRoot) != hashSize:
		return fail("writes root of %d bytes", len(p.WritesRoot))
	case len(p.StateDigest) != hashSize:
		return fail("state digest of %d bytes", len(p.StateDigest))
	case p.Height > 1 && len(p.PrevAppHash) != hashSize:
		return fail("previous app hash of %d bytes", len(p.PrevAppHash))
	case p.Deleted && len(p.Value) > 0:
		return fail("a deletion carries a value")
	}
	if err := p.Merkle.ValidateBasic(); err != nil {
		return fail("merkle path: %v", err)
	}
	leaf := newHasher().leaf(p.Key, p.Deleted, p.Value)
	if err := p.Merkle.Verify(p.WritesRoot, leaf); err != nil {
		return fail("write of %q is not in the block's writes: %v", p.Key, err)
	}
	app := ComputeAppHash(p.PrevAppHash, p.WritesRoot, p.StateDigest)
	if !bytes.Equal(app, p.AppHash) {
		return fail("app hash %x does not match its parts (%x)", p.AppHash, app)
	}
	return app, nil
}

// VerifyProofAgainst verifies p with VerifyProof and checks that it proves
// appHash, the trusted AppHash of block p.Height (from header p.Height+1).
// Any failure is an Integrity error.
func VerifyProofAgainst(p *Proof, appHash []byte) error {
	got, err := VerifyProof(p)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, appHash) {
		return cc.Errorf("store.VerifyProof", cc.Integrity, "proof is for app hash %x, not %x", got, appHash)
	}
	return nil
}

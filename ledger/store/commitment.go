package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"math/bits"

	"github.com/cockroachdb/pebble/v2"

	cc "carechain"
)

// The commitment behind the AppHash (DESIGN §4):
//
//	AppHash(h)     = SHA256("carechain-apphash-v1" ‖ AppHash(h-1) ‖ WritesRoot(h) ‖ StateDigest(h))
//	WritesRoot(h)  = merkle.HashFromByteSlices(leaf(w) for the writes w of block h, sorted by key)
//	leaf(w)        = uvarint(len(key)) ‖ key ‖ flag ‖ valueHash
//	                 flag 0 and SHA256(value) for a value, flag 1 and 32 zero bytes for a deletion
//	StateDigest(h) = Σ SHA256("carechain-entry-v1" ‖ uvarint(len(key)) ‖ key ‖ value)  mod 2^256
//	                 over every live entry after block h, as a 32-byte big-endian integer
//
// The first property gives inclusion proofs of any write against the
// header carrying AppHash(h); the second lets a full state snapshot be
// checked against the same hash. StateDigest is a multiset hash: it is
// updated per write (subtract the old entry, add the new) and does not
// depend on the order entries are visited in.
const (
	appHashDomain = "carechain-apphash-v1"
	entryDomain   = "carechain-entry-v1"

	hashSize = sha256.Size
)

// digest is a StateDigest: a 256-bit integer, limbs most significant first.
type digest [4]uint64

// add adds the big-endian integer h modulo 2^256.
func (d *digest) add(h *[hashSize]byte) {
	var carry uint64
	for i := 3; i >= 0; i-- {
		d[i], carry = bits.Add64(d[i], binary.BigEndian.Uint64(h[i*8:]), carry)
	}
}

// sub subtracts the big-endian integer h modulo 2^256.
func (d *digest) sub(h *[hashSize]byte) {
	var borrow uint64
	for i := 3; i >= 0; i-- {
		d[i], borrow = bits.Sub64(d[i], binary.BigEndian.Uint64(h[i*8:]), borrow)
	}
}

// bytes returns d as 32 bytes big-endian.
func (d digest) bytes() []byte {
	b := make([]byte, 0, hashSize)
	for _, limb := range d {
		b = binary.BigEndian.AppendUint64(b, limb)
	}
	return b
}

// digestFrom is the inverse of digest.bytes.
func digestFrom(b []byte) (digest, bool) {
	var d digest
	if len(b) != hashSize {
		return d, false
	}
	for i := range d {
		d[i] = binary.BigEndian.Uint64(b[i*8:])
	}
	return d, true
}

// hasher computes the commitment's hashes with one reused SHA-256 state and
// scratch buffer. It is not safe for concurrent use.
type hasher struct {
	h   hash.Hash
	buf []byte
	sum [hashSize]byte
}

func newHasher() *hasher { return &hasher{h: sha256.New()} }

// entry returns the StateDigest term of the live entry (key, value). The
// result is valid until the next call.
func (x *hasher) entry(key string, value []byte) *[hashSize]byte {
	x.h.Reset()
	x.buf = append(x.buf[:0], entryDomain...)
	x.buf = binary.AppendUvarint(x.buf, uint64(len(key)))
	x.buf = append(x.buf, key...)
	x.h.Write(x.buf)
	x.h.Write(value)
	x.h.Sum(x.sum[:0])
	return &x.sum
}

// leaf returns the Merkle leaf of a write (a fresh slice).
func (x *hasher) leaf(key string, deleted bool, value []byte) []byte {
	return x.appendLeaf(make([]byte, 0, binary.MaxVarintLen64+len(key)+1+hashSize), key, deleted, value)
}

// appendLeaf appends the Merkle leaf of a write to b.
func (x *hasher) appendLeaf(b []byte, key string, deleted bool, value []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	if deleted {
		b = append(b, flagDelete)
		return append(b, make([]byte, hashSize)...)
	}
	b = append(b, flagSet)
	x.h.Reset()
	x.h.Write(value)
	return x.h.Sum(b)
}

// leafHash returns the RFC 6962 hash of a Merkle leaf: SHA256(0x00 ‖ leaf),
// what merkle.HashFromByteSlices hashes each of its items to.
func (x *hasher) leafHash(leaf []byte) []byte { return x.appendLeafHash(nil, leaf) }

// appendLeafHash appends leafHash(leaf) to b.
func (x *hasher) appendLeafHash(b, leaf []byte) []byte {
	x.h.Reset()
	x.h.Write([]byte{0})
	x.h.Write(leaf)
	return x.h.Sum(b)
}

// Sums are the two hashes a live write contributes to the commitment — the
// hash of its Merkle leaf (leafHash of Leaf) and its StateDigest term
// (EntryHash) — computed ahead of FinalizeBlock, which then need not: the
// ledger computes them when it admits a transaction, beside the consensus
// goroutine, and hands them over with the admission's writes
// (Overlay.SetSharedSums).
type Sums struct {
	leaf  [hashSize]byte
	entry [hashSize]byte
}

// SumsOf returns the Sums of each write of writes, nil for a deletion.
func SumsOf(writes []Write) []*Sums {
	out := make([]*Sums, len(writes))
	all := make([]Sums, len(writes))
	x := newHasher()
	var leaf []byte
	for i, w := range writes {
		if w.Deleted {
			continue
		}
		s := &all[i]
		s.entry = *x.entry(w.Key, w.Value)
		leaf = x.appendLeaf(leaf[:0], w.Key, false, w.Value) // one buffer for every write
		x.appendLeafHash(s.leaf[:0], leaf)
		out[i] = s
	}
	return out
}

// Leaf returns the Merkle leaf that commits to a write: uvarint(len(key)) ‖
// key ‖ flag ‖ valueHash, where a value has flag 0 and valueHash =
// SHA256(value), and a deletion flag 1 and 32 zero bytes.
func Leaf(w Write) []byte {
	return newHasher().leaf(w.Key, w.Deleted, w.Value)
}

// EntryHash returns the StateDigest term of the live entry (key, value):
// SHA256("carechain-entry-v1" ‖ uvarint(len(key)) ‖ key ‖ value).
func EntryHash(key string, value []byte) []byte {
	s := newHasher().entry(key, value)
	return s[:]
}

// BlockAppHash returns the AppHash of a block: ComputeAppHash of its parts,
// except that a block with no writes keeps the previous AppHash (when there
// is one). An idle chain's AppHash therefore stays put, so CometBFT does not
// keep making "proof blocks" for a hash that changes every height, and the
// AppHash changes exactly when the state does.
func BlockAppHash(prevAppHash, writesRoot, stateDigest []byte, numWrites int64) []byte {
	if numWrites == 0 && len(prevAppHash) > 0 {
		return bytes.Clone(prevAppHash)
	}
	return ComputeAppHash(prevAppHash, writesRoot, stateDigest)
}

// ComputeAppHash returns SHA256("carechain-apphash-v1" ‖ prevAppHash ‖
// writesRoot ‖ stateDigest). writesRoot and stateDigest are 32 bytes each,
// so the concatenation is unambiguous whatever prevAppHash's length.
func ComputeAppHash(prevAppHash, writesRoot, stateDigest []byte) []byte {
	h := sha256.New()
	h.Write([]byte(appHashDomain))
	h.Write(prevAppHash)
	h.Write(writesRoot)
	h.Write(stateDigest)
	return h.Sum(nil)
}

// RecomputeDigest scans every committed state entry and returns the
// StateDigest computed from scratch. On an intact store it equals
// StateDigest(); VerifyState compares the two.
func (s *Store) RecomputeDigest() ([]byte, error) {
	const op = "store.RecomputeDigest"
	if !s.acquire() {
		return nil, errClosed(op)
	}
	defer s.release()
	lo := []byte(statePrefix)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	x := newHasher()
	var d digest
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return nil, cc.E(op, cc.Internal, err)
		}
		k := string(it.Key()[len(statePrefix):])
		if _, v, err = splitStateValue(v); err != nil {
			it.Close()
			return nil, cc.Errorf(op, cc.Integrity, "state key %q: %v", k, err)
		}
		d.add(x.entry(k, v))
	}
	if err := it.Error(); err != nil {
		it.Close()
		return nil, cc.E(op, cc.Internal, err)
	}
	if err := it.Close(); err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	return d.bytes(), nil
}

// StateDigest returns the StateDigest after the last committed block (32
// zero bytes for an empty store).
func (s *Store) StateDigest() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.digest.bytes()
}

// VerifyState recomputes the state digest from a full scan and checks it
// against the last committed block's StateDigest, and that block's AppHash
// against its PrevAppHash, WritesRoot and StateDigest. A mismatch is an
// Integrity error. Run it while no block is being committed.
func (s *Store) VerifyState() error {
	const op = "store.VerifyState"
	got, err := s.RecomputeDigest()
	if err != nil {
		return err
	}
	s.mu.Lock()
	height, want := s.lastHeight, s.digest.bytes()
	s.mu.Unlock()
	if !bytes.Equal(got, want) {
		return cc.Errorf(op, cc.Integrity, "state digest %x does not match the committed digest %x at height %d", got, want, height)
	}
	if height == 0 {
		return nil
	}
	m, err := s.BlockMeta(height)
	if err != nil {
		return err
	}
	if !bytes.Equal(m.StateDigest, want) {
		return cc.Errorf(op, cc.Integrity, "block %d records state digest %x, want %x", height, m.StateDigest, want)
	}
	if app := BlockAppHash(m.PrevAppHash, m.WritesRoot, m.StateDigest, m.NumWrites); !bytes.Equal(app, m.AppHash) {
		return cc.Errorf(op, cc.Integrity, "block %d app hash %x does not match its parts (%x)", height, m.AppHash, app)
	}
	return nil
}

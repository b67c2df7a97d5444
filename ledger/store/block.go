package store

import (
	"bytes"

	"github.com/cockroachdb/pebble/v2"

	cc "carechain"
)

// BlockMeta is the commitment record of one committed block:
// AppHash = BlockAppHash(PrevAppHash, WritesRoot, StateDigest, NumWrites). In
// CometBFT the AppHash of block h is carried by the header of block h+1.
type BlockMeta struct {
	Height      int64  `json:"height"`
	PrevAppHash []byte `json:"prev_app_hash"`
	WritesRoot  []byte `json:"writes_root"`
	StateDigest []byte `json:"state_digest"`
	AppHash     []byte `json:"app_hash"`
	NumWrites   int64  `json:"num_writes"`
}

// stagedBlock is a finalized, not yet committed block.
type stagedBlock struct {
	batch  *pebble.Batch
	meta   *BlockMeta
	digest digest
	gen    uint64 // the working overlay's generation when finalized
	writes []Write
}

// FinalizeBlock computes AppHash(height) from the working overlay's writes
// and stages the block for Commit; nothing is persisted. height must be
// LastHeight()+1 and no other block may be staged (else FailedPrecondition).
// The working overlay must not change between FinalizeBlock and Commit.
func (s *Store) FinalizeBlock(height int64) ([]byte, error) {
	const op = "store.FinalizeBlock"
	if !s.acquire() {
		return nil, errClosed(op)
	}
	defer s.release()
	s.bmu.Lock()
	defer s.bmu.Unlock()
	if s.staged != nil {
		return nil, cc.Errorf(op, cc.FailedPrecondition, "block %d is already finalized; commit or roll back first", s.staged.meta.Height)
	}
	s.mu.Lock()
	last, prev, d, genesis := s.lastHeight, s.lastAppHash, s.digest, s.genesis
	s.mu.Unlock()
	if height != last+1 {
		return nil, cc.Errorf(op, cc.FailedPrecondition, "height %d, want %d", height, last+1)
	}

	writes := s.working.Writes()
	// Old values (for the state digest) come from oldValue.
	lo := []byte(statePrefix)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	defer it.Close()
	x := newHasher()
	leafHashes := make([][]byte, len(writes))
	var key []byte
	for i, w := range writes {
		key = appendStateKey(key[:0], w.Key)
		old, present, err := s.oldValue(it, w.Key, key)
		if err != nil {
			return nil, cc.E(op, cc.Internal, err)
		}
		if present {
			d.sub(x.entry(w.Key, old))
		}
		switch {
		case w.sums != nil: // hashed when its transaction was admitted
			d.add(&w.sums.entry)
			leafHashes[i] = w.sums.leaf[:]
		case !w.Deleted:
			d.add(x.entry(w.Key, w.Value))
			fallthrough
		default:
			leafHashes[i] = x.leafHash(x.leaf(w.Key, w.Deleted, w.Value))
		}
	}

	root := writesRoot(x.h, leafHashes)
	sd := d.bytes()
	meta := &BlockMeta{
		Height:      height,
		PrevAppHash: bytes.Clone(prev),
		WritesRoot:  root,
		StateDigest: sd,
		AppHash:     BlockAppHash(prev, root, sd, int64(len(writes))),
		NumWrites:   int64(len(writes)),
	}
	batch, err := s.blockBatch(height, meta, genesis, writes)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	s.staged = &stagedBlock{batch: batch, meta: meta, digest: d, gen: s.working.gen, writes: writes}
	return bytes.Clone(meta.AppHash), nil
}

// blockBatch returns the Pebble batch of a finalized block: its metadata,
// the deletion height of each key it deletes, the block's writes and the
// state changes. The records are added in Pebble key order (m/b/ < m/g < m/h <
// m/k/ < m/v < m/w/ < s/, each group sorted since writes is), so a large
// batch, which Pebble sorts before it becomes a memtable, is already
// sorted, and a small one inserts into the memtable in order.
//
// The batch is the last committed block's, reset, when there is one: a
// block's batch is megabytes (~5 MB for 6,000 registrations), and a fresh
// one each block was a large allocation the runtime zeroed and the copies
// into it first touched. The caller holds bmu.
func (s *Store) blockBatch(height int64, meta *BlockMeta, genesis []byte, writes []Write) (*pebble.Batch, error) {
	batch := s.spare
	s.spare = nil
	if batch == nil {
		batch = s.db.NewBatchWithSize(batchSize(writes), pebble.WithMaxRetainedSizeBytes(batchRetained))
	}
	hb := encodeHeight(height)
	err := batch.Set(blockKey(height), encodeMeta(meta), nil)
	if err == nil && height == 1 && len(genesis) > 0 {
		err = batch.Set(keyGenesis, genesis, nil)
	}
	if err == nil {
		err = batch.Set(keyHeight, hb, nil)
	}
	var key []byte
	for _, w := range writes {
		if err != nil {
			break
		}
		if w.Deleted {
			key = appendLastWriteKey(key[:0], w.Key)
			err = batch.Set(key, hb, nil)
		}
	}
	if err == nil && height == 1 {
		version := formatVersion
		if s.plainWrites {
			version = formatV3
		}
		err = batch.Set(keyVersion, []byte(version), nil)
	}
	if err == nil && len(writes) > 0 {
		err = batch.Set(writesKey(height), s.records.encode(writes, s.plainWrites), nil) // Set copies it
	}
	for _, w := range writes {
		if err != nil {
			break
		}
		if w.Deleted {
			err = batch.Delete(appendStateKey(key[:0], w.Key), nil)
			continue
		}
		op := batch.SetDeferred(len(statePrefix)+len(w.Key), heightLen+len(w.Value))
		appendStateKey(op.Key[:0], w.Key)
		appendStateValue(op.Value[:0], height, w.Value)
		err = op.Finish()
	}
	if err != nil {
		batch.Close()
		return nil, err
	}
	return batch, nil
}

// oldValue returns the committed value of state key k (Pebble key pk)
// that a block is about to overwrite. A key the block's transactions read
// is in the read cache (committed state: no Commit runs beside
// FinalizeBlock); a key the key filter has never seen has none; the others
// are found by it, an iterator that the sorted writes only move forward,
// far faster than a Get per key. The value is valid until it moves.
func (s *Store) oldValue(it *pebble.Iterator, k string, pk []byte) ([]byte, bool, error) {
	if !s.keys.mayHave(k) {
		return nil, false, nil
	}
	if c, ok, _ := s.reads.get(k); ok {
		return c.value, c.present, nil
	}
	if it.SeekGE(pk) && bytes.Equal(it.Key(), pk) {
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, false, err
		}
		_, v, err = splitStateValue(v)
		return v, err == nil, err
	}
	return nil, false, it.Error()
}

// batchRetained is the largest buffer a reset block batch keeps for the
// next block (Pebble's default keeps at most 1 MB, less than one busy
// block's batch).
const batchRetained = 64 << 20

// batchSize estimates the encoded size of a block's batch: a record per
// write (the state entry or, for a deletion, its tombstone and deletion
// height), the writes record and metadata.
func batchSize(writes []Write) int {
	n := 512 + writesSize(writes)
	for _, w := range writes {
		n += len(w.Key) + len(w.Value) + 32
		if w.Deleted {
			n += len(w.Key) + 32
		}
	}
	return n
}

// Commit persists the staged block — state changes, the block's writes,
// per-key write heights and BlockMeta — in one Pebble batch synced to disk,
// then empties the working overlay. It fails with FailedPrecondition if no
// block is staged or the working overlay changed after FinalizeBlock (the
// block then stays staged; Rollback to start over).
func (s *Store) Commit() error {
	const op = "store.Commit"
	if !s.acquire() {
		return errClosed(op)
	}
	defer s.release()
	s.bmu.Lock()
	defer s.bmu.Unlock()
	st := s.staged
	if st == nil {
		return cc.Errorf(op, cc.FailedPrecondition, "no finalized block to commit")
	}
	if s.working.gen != st.gen {
		return cc.Errorf(op, cc.FailedPrecondition, "working state changed after block %d was finalized", st.meta.Height)
	}
	s.staged = nil
	// Readers must see the block's keys as possibly present before they
	// are (key filter), and no cached value of them once they are.
	added := make([]string, 0, len(st.writes))
	for _, w := range st.writes {
		if !w.Deleted {
			added = append(added, w.Key)
		}
	}
	s.keys.add(added...)
	s.reads.begin(st.writes)
	err := st.batch.Commit(pebble.Sync)
	s.reads.end(err == nil)
	if err == nil {
		st.batch.Reset() // keeps its buffer for the next block (blockBatch)
		s.spare = st.batch
	} else {
		st.batch.Close()
	}
	s.working.Discard()
	if err != nil {
		// The block must be executed again; the committed summary is
		// unchanged. (Pebble treats a failed WAL sync as fatal anyway.)
		return cc.E(op, cc.Internal, err)
	}
	s.mu.Lock()
	s.lastHeight = st.meta.Height
	s.lastAppHash = st.meta.AppHash
	s.digest = st.digest
	s.mu.Unlock()
	return nil
}

// Rollback drops the working overlay's writes and any staged block, e.g.
// before a block is executed again. Committed state is untouched.
func (s *Store) Rollback() {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	s.dropStaged()
	s.working.Discard()
}

// dropStaged releases the staged block, if any. The caller holds bmu.
func (s *Store) dropStaged() {
	if s.staged != nil {
		s.staged.batch.Close()
		s.staged = nil
	}
}

// BlockMeta returns the commitment record of committed block height, or a
// NotFound error.
func (s *Store) BlockMeta(height int64) (*BlockMeta, error) {
	const op = "store.BlockMeta"
	if !s.acquire() {
		return nil, errClosed(op)
	}
	defer s.release()
	return s.blockMeta(op, height)
}

// blockMeta reads and checks a BlockMeta; the caller holds an acquire.
func (s *Store) blockMeta(op string, height int64) (*BlockMeta, error) {
	if height < 1 {
		return nil, cc.Errorf(op, cc.NotFound, "no block at height %d", height)
	}
	b, err := s.rawGet(blockKey(height))
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	if b == nil {
		return nil, cc.Errorf(op, cc.NotFound, "no block at height %d", height)
	}
	m, err := decodeMeta(b)
	if err != nil {
		return nil, cc.E(op, cc.Integrity, err)
	}
	if m.Height != height {
		return nil, cc.Errorf(op, cc.Integrity, "block meta at height %d claims height %d", height, m.Height)
	}
	return m, nil
}

// BlockWrites returns the writes of committed block height sorted by key,
// or a NotFound error if there is no such block.
func (s *Store) BlockWrites(height int64) ([]Write, error) {
	const op = "store.BlockWrites"
	if !s.acquire() {
		return nil, errClosed(op)
	}
	defer s.release()
	m, err := s.blockMeta(op, height)
	if err != nil {
		return nil, err
	}
	return s.blockWrites(op, m)
}

// blockWrites reads the writes of block m and checks their count; the
// caller holds an acquire.
func (s *Store) blockWrites(op string, m *BlockMeta) ([]Write, error) {
	b, err := s.rawGet(writesKey(m.Height))
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	if b == nil && m.NumWrites > 0 {
		return nil, cc.Errorf(op, cc.Integrity, "block %d has no stored writes, its meta says %d", m.Height, m.NumWrites)
	}
	out, err := decodeWritesRecord(b, s.plainWrites)
	if err != nil {
		return nil, cc.Errorf(op, cc.Integrity, "block %d: %v", m.Height, err)
	}
	if int64(len(out)) != m.NumWrites {
		return nil, cc.Errorf(op, cc.Integrity, "block %d has %d stored writes, its meta says %d", m.Height, len(out), m.NumWrites)
	}
	return out, nil
}

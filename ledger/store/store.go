// Package store is carechain's versioned application state: a key-value
// state in Pebble, the working overlay of the block being executed, and the
// commitment that makes every write provable and every snapshot checkable:
//
//	AppHash(h) = SHA256("carechain-apphash-v1" ‖ AppHash(h-1) ‖ WritesRoot(h) ‖ StateDigest(h))
//
// where WritesRoot is the CometBFT Merkle root of block h's writes sorted by
// key and StateDigest a multiset hash of every live entry (commitment.go
// has the exact encodings).
//
// A block's life: transactions write into Working(); FinalizeBlock(h)
// computes AppHash(h) from the working writes and stages them; Commit
// writes state, the block's writes and its metadata in one synced Pebble
// batch, so a crash leaves either the whole block or none of it; Rollback
// drops an unfinished block. Committed() reads committed state only and is
// safe for concurrent use while a block executes.
//
// Everything on the consensus path is deterministic: no clock, no
// randomness, no map-order output, no goroutines of its own.
package store

import (
	"bytes"
	"errors"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	cc "carechain"
)

// Store is the committed state in a Pebble database plus one working
// overlay for the block being executed.
//
// The block lifecycle (Working, FinalizeBlock, Commit, Rollback) belongs to
// one goroutine, the consensus one. Committed, LastHeight, LastAppHash,
// StateDigest, BlockMeta, BlockWrites, Proof and ProofAt may be called from
// any goroutine at any time.
type Store struct {
	db *pebble.DB

	// rmu guards closed and inflight: every database use is counted so Close
	// can wait for in-flight reads instead of closing Pebble under them.
	rmu      sync.Mutex
	drained  *sync.Cond
	closed   bool
	inflight int

	// mu guards the committed summary below.
	mu          sync.Mutex
	lastHeight  int64
	lastAppHash []byte
	digest      digest
	genesis     []byte // AppHash(0)

	// bmu serialises the block lifecycle; it guards staged.
	bmu     sync.Mutex
	working *Overlay
	staged  *stagedBlock
	spare   *pebble.Batch // the last committed block's batch, reset for the next (see blockBatch)
	records recordBuffers // blockBatch's scratch for the writes record

	// plainWrites keeps a store of layout v3 in it: block writes records
	// stored uncompressed (see formatVersion). Set by load, then fixed.
	plainWrites bool

	reads *readCache // committed values and absences read through Committed()
	keys  *keyFilter // every committed state key (and some deleted ones)
}

// Open opens (creating if needed) the store whose Pebble files are in dir.
func Open(dir string) (*Store, error) {
	return OpenFS(dir, vfs.Default)
}

// OpenInMemory opens a fresh store on an in-memory filesystem, for tests.
func OpenInMemory() (*Store, error) {
	return OpenFS("", vfs.NewMem())
}

// OpenFS opens the store in dir of the given filesystem. Tests use it with
// vfs.NewCrashableMem to simulate crashes.
func OpenFS(dir string, fs vfs.FS) (*Store, error) {
	const op = "store.Open"
	opts := &pebble.Options{
		FS:                 fs,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             quietLogger{},
		CacheSize:          256 << 20,
		MemTableSize:       64 << 20,
	}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	// Write-heavy tuning (bench epcis: compactions were ~20 % of the
	// node's CPU). Every block is one large batch whose keys span the
	// whole key space, so each L0 file overlaps all of Lbase: compacting
	// L0 after 8 files rather than 4 rewrites Lbase half as often, and a
	// 256 MB Lbase (default 64 MB) keeps a young store in fewer levels.
	// Measured over 80,000 captured events: compaction CPU −25 %. Reads
	// mostly hit the read cache and key filter, so the extra L0 files
	// cost little; writes stall only at 64 L0 sublevels (default 12).
	opts.L0CompactionThreshold = 8
	opts.L0StopWritesThreshold = 64
	opts.LBaseMaxBytes = 256 << 20
	opts.TargetFileSizes[0] = 8 << 20
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	s := &Store{db: db, reads: newReadCache(readCacheBytes)}
	s.drained = sync.NewCond(&s.rmu)
	s.working = NewOverlay(s.Committed())
	if err := s.load(); err != nil { // load's errors already name store.Open
		db.Close()
		return nil, err
	}
	if err := s.loadKeys(); err != nil {
		db.Close()
		return nil, cc.E(op, cc.Internal, err)
	}
	return s, nil
}

// loadKeys fills the key filter with every committed state key.
func (s *Store) loadKeys() error {
	lo := []byte(statePrefix)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return err
	}
	var keys []string
	for ok := it.First(); ok; ok = it.Next() {
		keys = append(keys, string(it.Key()[len(statePrefix):]))
	}
	if err := it.Close(); err != nil {
		return err
	}
	s.keys = newKeyFilter(2 * len(keys))
	s.keys.add(keys...)
	return nil
}

// quietLogger drops Pebble's routine informational messages (WAL recovery,
// compactions) and passes errors and fatal errors to Pebble's default
// logger.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}

func (quietLogger) Errorf(format string, args ...any) {
	pebble.DefaultLogger.Errorf(format, args...)
}

func (quietLogger) Fatalf(format string, args ...any) {
	pebble.DefaultLogger.Fatalf(format, args...)
}

// load reads the committed summary: height, AppHash and digest.
func (s *Store) load() error {
	const op = "store.Open"
	version, err := s.rawGet(keyVersion)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	heightRec, err := s.rawGet(keyHeight)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if version == nil {
		if heightRec != nil {
			return cc.Errorf(op, cc.Integrity, "store has blocks but no layout version")
		}
		return nil // a fresh store
	}
	switch string(version) {
	case formatVersion:
	case formatV3:
		s.plainWrites = true
	default:
		return cc.Errorf(op, cc.Integrity, "store layout %q, want %q: the home was written by another carechain version; start a new home (carechain demo --fresh; a validator re-syncs its chain from the others)", version, formatVersion)
	}
	height, err := decodeHeight(heightRec)
	if err != nil {
		return cc.E(op, cc.Integrity, err)
	}
	genesis, err := s.rawGet(keyGenesis)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	s.genesis = genesis
	s.lastAppHash = genesis
	if height == 0 {
		return nil
	}
	m, err := s.blockMeta(op, height)
	if err != nil {
		return err
	}
	d, ok := digestFrom(m.StateDigest)
	if !ok {
		return cc.Errorf(op, cc.Integrity, "block %d: bad state digest", height)
	}
	s.lastHeight, s.lastAppHash, s.digest = height, m.AppHash, d
	return nil
}

// Close waits for in-flight reads, drops any staged block and closes
// Pebble. Later calls on the store (and on its readers) fail with an
// Internal error; a second Close returns nil.
func (s *Store) Close() error {
	s.rmu.Lock()
	if s.closed {
		s.rmu.Unlock()
		return nil
	}
	s.closed = true
	for s.inflight > 0 {
		s.drained.Wait()
	}
	s.rmu.Unlock()

	s.bmu.Lock()
	s.dropStaged()
	if s.spare != nil {
		s.spare.Close()
		s.spare = nil
	}
	s.bmu.Unlock()
	if err := s.db.Close(); err != nil {
		return cc.E("store.Close", cc.Internal, err)
	}
	return nil
}

// acquire registers a database use; it reports false once the store is
// closed. Every successful acquire is paired with release. Nested acquires
// (a Get inside an Iterate callback) never block.
func (s *Store) acquire() bool {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.closed {
		return false
	}
	s.inflight++
	return true
}

func (s *Store) release() {
	s.rmu.Lock()
	s.inflight--
	if s.inflight == 0 && s.closed {
		s.drained.Broadcast()
	}
	s.rmu.Unlock()
}

func errClosed(op string) error {
	return cc.Errorf(op, cc.Internal, "store is closed")
}

// rawGet returns a copy of the value of a Pebble key, nil if absent. The
// caller holds an acquire (or is Open).
func (s *Store) rawGet(key []byte) ([]byte, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := clone(v)
	closer.Close()
	return out, nil
}

// LastHeight returns the last committed height, 0 before the first block.
func (s *Store) LastHeight() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastHeight
}

// LastAppHash returns AppHash(LastHeight()). At height 0 it is the genesis
// hash given to SetGenesisHash, or empty.
func (s *Store) LastAppHash() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.lastAppHash)
}

// SetGenesisHash sets AppHash(0), the PrevAppHash of block 1. It is kept in
// memory and persisted with block 1. Once a block is committed the genesis
// is fixed and the call is ignored.
func (s *Store) SetGenesisHash(h []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastHeight > 0 {
		return
	}
	s.genesis = bytes.Clone(h)
	s.lastAppHash = bytes.Clone(h)
}

// CacheWritesUnder makes the store keep, once a block is committed, the
// values it wrote under these key prefixes in its read cache, so that the
// next blocks' transactions that read them (the vials one block
// commissions, the next packs) find them there instead of in Pebble. It
// only changes where committed reads are answered from, never what they
// return. Later calls replace the prefixes; none (the default) caches only
// what was read before.
func (s *Store) CacheWritesUnder(prefixes ...string) { s.reads.setHot(prefixes) }

// Working returns the overlay of the block being executed, whose parent is
// the committed state. Commit and Rollback empty it; the pointer stays the
// same for the store's life.
func (s *Store) Working() *Overlay { return s.working }

// Committed returns a read-only view of the committed state. It is safe for
// concurrent use, never shows uncommitted writes, and an Iterate sees one
// consistent committed state. Returned values are the caller's to keep.
func (s *Store) Committed() cc.Reader { return committedReader{s} }

// committedReader reads state entries straight from Pebble. A Commit is one
// atomic batch, so each Get sees a whole block or none of it, and each
// Iterate runs on one Pebble iterator, a consistent snapshot.
type committedReader struct{ s *Store }

func (r committedReader) Get(key string) ([]byte, error) {
	const op = "store.Get"
	if !r.s.acquire() {
		return nil, errClosed(op)
	}
	defer r.s.release()
	if !r.s.keys.mayHave(key) {
		return nil, nil
	}
	c, ok, gen := r.s.reads.get(key)
	if ok {
		if !c.present {
			return nil, nil
		}
		return clone(c.value), nil
	}
	raw, err := r.s.rawGet(stateKey(key))
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	var v []byte
	if raw != nil {
		if _, v, err = splitStateValue(raw); err != nil {
			return nil, cc.Errorf(op, cc.Integrity, "state key %q: %v", key, err)
		}
	}
	if v == nil {
		r.s.reads.put(key, cachedValue{}, gen)
	} else {
		r.s.reads.put(key, cachedValue{value: clone(v), present: true}, gen)
	}
	return v, nil
}

func (r committedReader) Iterate(prefix string, fn func(key string, value []byte) bool) error {
	const op = "store.Iterate"
	if !r.s.acquire() {
		return errClosed(op)
	}
	defer r.s.release()
	lo := stateKey(prefix)
	it, err := r.s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return cc.E(op, cc.Internal, err)
		}
		k := string(it.Key()[len(statePrefix):])
		_, v, err = splitStateValue(v)
		if err != nil {
			it.Close()
			return cc.Errorf(op, cc.Integrity, "state key %q: %v", k, err)
		}
		if !fn(k, clone(v)) {
			break
		}
	}
	if err := it.Error(); err != nil {
		it.Close()
		return cc.E(op, cc.Internal, err)
	}
	if err := it.Close(); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	return nil
}

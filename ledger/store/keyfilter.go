package store

import (
	"hash/maphash"
	"math"
	"sync"
)

// keyFilter is a scalable Bloom filter over every committed state key: when
// it says a key is absent, the key is not in Pebble, so Committed().Get
// answers "absent" without a memtable and sstable search — the most common
// read of an admission (a new DID, a new record, a sequence number not used
// yet). A "maybe" goes to Pebble as before.
//
// It must hold every key Pebble holds: Open adds every state key, and
// Commit adds a block's keys before its batch is written, so no reader can
// see a committed key the filter misses. Deleted keys stay in the filter (a
// Bloom filter cannot forget); they only cost a Pebble lookup. When the
// current filter is full, a larger one is added and queries check all of
// them, so the false-positive rate stays near falsePositive for any size.
// Each layer is a cache miss for a key that is absent (every layer is
// asked), so layers start large (minFilterKeys) and grow fourfold: 1.1
// million keys (the one-validator benchmark's 15 s) took five layers with
// 65,536 and doubling, ~2.3 µs of filter per transaction; they take two.
//
// Each layer is blocked: all of a key's bits lie in one 512-bit block (one
// cache line), so a query costs one memory access per layer instead of up
// to k. Keys are hashed with hash/maphash under a seed chosen when the
// filter is made (it is rebuilt at every open and never persisted), so no
// one can craft colliding keys; a collision would only send a lookup to
// Pebble anyway, the answer never depends on the hash.
type keyFilter struct {
	mu     sync.RWMutex
	seed   maphash.Seed
	layers []*bloomLayer // oldest (smallest) first
}

// falsePositive is each layer's target false-positive rate (blocking
// raises the real rate, to about 0.3 %; with three layers about 0.7 %).
// Each false positive is a Pebble Get of an absent key, which walks the
// memtables and every L0 table's filter: at a 1 % target (1.4 % real,
// 2.7 % over three layers) those Gets cost the one-validator benchmark
// 0.45 s of CPU per 240,000 registrations, ~1.9 µs per transaction; the
// lower target costs 14.4 bits per key instead of 9.6 (18 MB for ten
// million keys) and the same one cache line per layer and query.
const falsePositive = 0.001

// minFilterKeys is the least capacity of the first layer: 1,048,576 keys
// in 1.8 MB.
const minFilterKeys = 1 << 20

// layerGrowth is how many times larger each new layer is than the last.
const layerGrowth = 4

// blockWords is the number of 64-bit words of one block (512 bits).
const blockWords = 8

// bloomLayer is one fixed-size blocked Bloom filter.
type bloomLayer struct {
	bits     []uint64 // len is a multiple of blockWords
	blocks   uint64
	k        int // bits per key
	capacity int // keys it takes before the next layer starts
	n        int
}

func newBloomLayer(capacity int) *bloomLayer {
	m := int(math.Ceil(-float64(capacity) * math.Log(falsePositive) / (math.Ln2 * math.Ln2)))
	blocks := (m + 64*blockWords - 1) / (64 * blockWords)
	k := int(math.Round(float64(blocks*64*blockWords) / float64(capacity) * math.Ln2))
	return &bloomLayer{bits: make([]uint64, blocks*blockWords), blocks: uint64(blocks), k: max(k, 1), capacity: capacity}
}

// block returns the words of h's block: the high 32 bits of h pick it
// (multiply-shift, no division).
func (l *bloomLayer) block(h uint64) []uint64 {
	b := ((h >> 32) * l.blocks) >> 32
	return l.bits[b*blockWords : (b+1)*blockWords : (b+1)*blockWords]
}

// has reports whether all of the layer's k bits for the 64-bit hash h are
// set (double hashing within the block: bit i is g + i·step mod 512).
func (l *bloomLayer) has(h uint64) bool {
	w := l.block(h)
	g, step := uint32(h), uint32(h>>16)|1
	for i := range l.k {
		p := (g + uint32(i)*step) & (64*blockWords - 1)
		if w[p/64]&(1<<(p%64)) == 0 {
			return false
		}
	}
	return true
}

func (l *bloomLayer) add(h uint64) {
	w := l.block(h)
	g, step := uint32(h), uint32(h>>16)|1
	for i := range l.k {
		p := (g + uint32(i)*step) & (64*blockWords - 1)
		w[p/64] |= 1 << (p % 64)
	}
	l.n++
}

// newKeyFilter returns an empty filter sized for about expected keys.
func newKeyFilter(expected int) *keyFilter { return newKeyFilterFrom(expected, minFilterKeys) }

// newKeyFilterFrom is newKeyFilter with least first-layer capacity least
// (tests use small layers).
func newKeyFilterFrom(expected, least int) *keyFilter {
	return &keyFilter{seed: maphash.MakeSeed(), layers: []*bloomLayer{newBloomLayer(max(expected, least))}}
}

// add records keys as present.
func (f *keyFilter) add(keys ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		h := maphash.String(f.seed, k)
		last := f.layers[len(f.layers)-1]
		if last.n >= last.capacity {
			last = newBloomLayer(layerGrowth * last.capacity)
			f.layers = append(f.layers, last)
		}
		last.add(h)
	}
}

// mayHave reports false only if key was never added.
func (f *keyFilter) mayHave(key string) bool {
	h := maphash.String(f.seed, key)
	f.mu.RLock()
	defer f.mu.RUnlock()
	for i := len(f.layers) - 1; i >= 0; i-- { // the newest holds the most keys
		if f.layers[i].has(h) {
			return true
		}
	}
	return false
}

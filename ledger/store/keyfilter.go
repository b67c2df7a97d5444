package store

import (
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
//
// Keys are hashed with 64-bit FNV-1a. Keys crafted to collide only make
// their lookups go to Pebble; the answer never depends on the hash.
type keyFilter struct {
	mu     sync.RWMutex
	layers []*bloomLayer
}

// hashKey is 64-bit FNV-1a of k.
func hashKey(k string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(k); i++ {
		h ^= uint64(k[i])
		h *= 1099511628211
	}
	return h
}

// falsePositive is each layer's target false-positive rate.
const falsePositive = 0.01

// minFilterKeys is the capacity of the first layer.
const minFilterKeys = 1 << 16

// bloomLayer is one fixed-size Bloom filter.
type bloomLayer struct {
	bits     []uint64
	k        int // hash functions
	capacity int // keys it takes before the next layer starts
	n        int
}

func newBloomLayer(capacity int) *bloomLayer {
	m := int(math.Ceil(-float64(capacity) * math.Log(falsePositive) / (math.Ln2 * math.Ln2)))
	m = (m + 63) &^ 63
	k := int(math.Round(float64(m) / float64(capacity) * math.Ln2))
	return &bloomLayer{bits: make([]uint64, m/64), k: max(k, 1), capacity: capacity}
}

// has reports whether all of the layer's k bits for the 64-bit hash h are
// set (double hashing: bit i is h1 + i·h2 mod m).
func (l *bloomLayer) has(h uint64) bool {
	m := uint64(len(l.bits) * 64)
	h1, h2 := h, (h>>33)|(h<<31)|1
	for i := range l.k {
		p := (h1 + uint64(i)*h2) % m
		if l.bits[p/64]&(1<<(p%64)) == 0 {
			return false
		}
	}
	return true
}

func (l *bloomLayer) add(h uint64) {
	m := uint64(len(l.bits) * 64)
	h1, h2 := h, (h>>33)|(h<<31)|1
	for i := range l.k {
		p := (h1 + uint64(i)*h2) % m
		l.bits[p/64] |= 1 << (p % 64)
	}
	l.n++
}

// newKeyFilter returns an empty filter sized for about expected keys.
func newKeyFilter(expected int) *keyFilter {
	return &keyFilter{layers: []*bloomLayer{newBloomLayer(max(expected, minFilterKeys))}}
}

// add records keys as present.
func (f *keyFilter) add(keys ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		h := hashKey(k)
		last := f.layers[len(f.layers)-1]
		if last.n >= last.capacity {
			last = newBloomLayer(2 * last.capacity)
			f.layers = append(f.layers, last)
		}
		last.add(h)
	}
}

// mayHave reports false only if key was never added.
func (f *keyFilter) mayHave(key string) bool {
	h := hashKey(key)
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, l := range f.layers {
		if l.has(h) {
			return true
		}
	}
	return false
}

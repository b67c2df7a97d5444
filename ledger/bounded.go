package ledger

import "sync"

// boundedMap is a concurrency-safe map keyed by a 32-byte hash that holds
// at most max entries: a put into a full map clears it first. The App's
// caches use it; a cache entry only ever saves work, so losing entries
// never changes a result.
type boundedMap[V any] struct {
	mu  sync.Mutex
	max int
	m   map[[32]byte]V
}

func newBoundedMap[V any](max int) *boundedMap[V] {
	return &boundedMap[V]{max: max, m: make(map[[32]byte]V, 1024)}
}

func (b *boundedMap[V]) get(k [32]byte) (V, bool) {
	b.mu.Lock()
	v, ok := b.m[k]
	b.mu.Unlock()
	return v, ok
}

func (b *boundedMap[V]) put(k [32]byte, v V) {
	b.mu.Lock()
	if len(b.m) >= b.max {
		clear(b.m)
	}
	b.m[k] = v
	b.mu.Unlock()
}

// take returns and removes the entry of k.
func (b *boundedMap[V]) take(k [32]byte) (V, bool) {
	b.mu.Lock()
	v, ok := b.m[k]
	if ok {
		delete(b.m, k)
	}
	b.mu.Unlock()
	return v, ok
}

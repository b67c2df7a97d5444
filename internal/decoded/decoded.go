// Package decoded remembers what json.Unmarshal made of a state value's
// bytes, keyed by the bytes themselves. A decoded value is a pure function
// of its bytes, so a hit returns exactly what decoding would and a miss
// decodes: a Cache can skip work but never change a result, and code on
// the consensus path that uses one stays deterministic whichever entries
// a node happens to hold. The value is always read from the state by the
// caller; only its decoding is remembered.
package decoded

import (
	"encoding/json"
	"sync"
)

// Cache maps stored bytes to their decoded *T, bounded by the bytes it
// holds: two generations of up to max bytes each. When the current one is
// full it becomes the previous one and the older one is dropped; a hit in
// the previous generation moves the entry to the current one. It is safe
// for concurrent use.
type Cache[T any] struct {
	clone func(*T) *T

	mu        sync.Mutex
	max, cost int
	hits      int
	cur, prev map[string]*T
}

// New returns a Cache of up to max bytes per generation. clone returns a
// copy of a decoded value that shares no memory a caller could change
// (slices, maps, pointers) with it.
func New[T any](max int, clone func(*T) *T) *Cache[T] {
	return &Cache[T]{clone: clone, max: max, cur: map[string]*T{}, prev: map[string]*T{}}
}

// Decode returns a fresh copy (the caller's) of what json.Unmarshal makes
// of b into a zero T, decoding b unless the same bytes were decoded
// before. Bytes that do not decode are not remembered.
func (c *Cache[T]) Decode(b []byte) (*T, error) {
	v, err := c.Shared(b)
	if err != nil {
		return nil, err
	}
	return c.clone(v), nil
}

// Shared is Decode without the copy: the value returned is the one the
// Cache holds and hands to every caller of Shared, so the caller must
// treat it as read-only (neither it nor anything it points to may be
// changed). For callers that only read fields on a hot path.
func (c *Cache[T]) Shared(b []byte) (*T, error) {
	c.mu.Lock()
	v, ok := c.cur[string(b)]
	if !ok {
		if v, ok = c.prev[string(b)]; ok {
			delete(c.prev, string(b))
			c.add(string(b), v)
		}
	}
	if ok {
		c.hits++
	}
	c.mu.Unlock()
	if !ok {
		v = new(T)
		if err := json.Unmarshal(b, v); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.add(string(b), v)
		c.mu.Unlock()
	}
	return v, nil
}

// add puts v under key (c.mu held), rotating first if the current
// generation is full.
func (c *Cache[T]) add(key string, v *T) {
	if _, ok := c.cur[key]; ok {
		return
	}
	if c.cost+len(key) > c.max && len(c.cur) > 0 {
		c.prev, c.cur, c.cost = c.cur, map[string]*T{}, 0
	}
	c.cur[key] = v
	c.cost += len(key)
}

// Stats returns the number of entries held, their bytes in the current
// generation and the number of hits so far.
func (c *Cache[T]) Stats() (entries, cost, hits int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.prev), c.cost, c.hits
}

// Reset empties c.
func (c *Cache[T]) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur, c.prev, c.cost, c.hits = map[string]*T{}, map[string]*T{}, 0, 0
}

package store

import (
	"slices"
	"strings"
	"sync"
)

// readCache remembers committed values — and absences — read through
// Committed().Get, so the keys a transaction reads in CheckTx are not
// looked up in Pebble again by recheck and FinalizeBlock. Keys the key
// filter has never seen (a new DID, record or sequence: the most common
// read of an admission) are answered by the filter before the cache and
// never enter it: caching those absences filled the map with keys read
// once, and lookups in a map of hundreds of thousands of entries (a cache
// miss each) cost more than the filter (−13 % CPU per transaction in
// `bench tx`). Absences the filter cannot rule out (deleted keys, false
// positives) are cached.
//
// It is bounded by total key and value bytes, in two generations: new
// entries go to the current one; when it is full it becomes the old one
// (the one before is dropped) and a hit in the old one moves the entry to
// the current one. So what the last blocks wrote or read stays cached
// (clearing everything at once, as before, also dropped what the block
// being committed had just cached).
//
// It is a faithful cache of committed state: before a block's batch goes
// to Pebble, Commit drops every key the block writes (begin), and until the
// batch is in (end) nothing is cached; a value read from Pebble while a
// Commit ran is never cached (generation check). So a Get returns what
// Pebble holds at some moment during the call, and successive Gets never go
// back in time, as without the cache. It cannot change any result.
//
// A key that was cached when a block wrote it is cached again with the
// block's value once the batch is in (end): the next block's transactions
// read the items the previous one wrote (a case shipped after it was
// packed). So is every key a block writes under a hot prefix
// (Store.CacheWritesUnder): the vials a block commissions are read by the
// next one, which packs them. Other keys nobody read (index markers, stored
// events, keys the filter answered absent before the block created them)
// are not cached.
type readCache struct {
	mu       sync.Mutex
	gen      uint64
	commit   bool                   // a block's batch is being committed: cache nothing
	maxBytes int                    // of both generations together
	bytes    int                    // of m
	oldBytes int                    // of old
	m, old   map[string]cachedValue // the current and the old generation
	pending  []Write                // written keys cached at end: cached at begin, or under a hot prefix
	hot      []string               // prefixes of the keys whose written values are cached at end
}

// cachedValue is one cached read; a nil value with present false records
// an absent key.
type cachedValue struct {
	value   []byte
	present bool
}

// readCacheBytes bounds the cache's keys and values (64 MiB).
const readCacheBytes = 64 << 20

// readCacheOverhead approximates a map entry's own cost in bytes.
const readCacheOverhead = 64

// entrySize is what caching v under key counts against the bound.
func entrySize(key string, v cachedValue) int {
	return len(key) + len(v.value) + readCacheOverhead
}

func newReadCache(maxBytes int) *readCache {
	return &readCache{maxBytes: maxBytes, m: make(map[string]cachedValue, 1024)}
}

// get returns the cached read of key, whether there is one, and the
// generation to pass to put after reading Pebble on a miss.
func (c *readCache) get(key string) (v cachedValue, ok bool, gen uint64) {
	c.mu.Lock()
	v, ok = c.m[key]
	if !ok {
		if v, ok = c.old[key]; ok {
			// Still valid (begin drops written keys from both generations):
			// move it to the current one.
			delete(c.old, key)
			c.oldBytes -= entrySize(key, v)
			c.putLocked(key, v)
		}
	}
	gen = c.gen
	c.mu.Unlock()
	return v, ok, gen
}

// put caches a read of key made after get returned gen, unless a Commit
// invalidated the cache since. The cache keeps value; the caller must not
// modify it afterwards.
func (c *readCache) put(key string, v cachedValue, gen uint64) {
	size := entrySize(key, v)
	if size > c.maxBytes/64 {
		return // one huge value would evict everything else
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.commit {
		return
	}
	c.putLocked(key, v)
}

// putLocked caches v under key; the caller holds mu.
func (c *readCache) putLocked(key string, v cachedValue) {
	size := entrySize(key, v)
	if size > c.maxBytes/64 {
		return
	}
	if old, ok := c.m[key]; ok {
		c.bytes -= entrySize(key, old)
	}
	if c.bytes+size > c.maxBytes/2 {
		// The current generation is full: it becomes the old one.
		c.old, c.oldBytes = c.m, c.bytes
		c.m, c.bytes = make(map[string]cachedValue, len(c.old)), 0
	}
	c.m[key] = v
	c.bytes += size
}

// begin drops the keys a block writes, before its batch is committed to
// Pebble, and stops caching until end: no read that overlaps the commit is
// cached, and none of the block's keys is answered from the cache. The
// writes of keys it dropped are kept for end; their values must not change.
func (c *readCache) begin(writes []Write) {
	c.mu.Lock()
	c.gen++
	c.commit = true
	c.pending = c.pending[:0]
	for _, w := range writes {
		if old, ok := c.m[w.Key]; ok {
			c.bytes -= entrySize(w.Key, old)
			delete(c.m, w.Key)
			c.pending = append(c.pending, w)
		} else if old, ok := c.old[w.Key]; ok {
			c.oldBytes -= entrySize(w.Key, old)
			delete(c.old, w.Key)
			c.pending = append(c.pending, w)
		} else if c.isHot(w.Key) {
			c.pending = append(c.pending, w)
		}
	}
	c.mu.Unlock()
}

// isHot reports whether key is under a hot prefix; the caller holds mu.
func (c *readCache) isHot(key string) bool {
	for _, p := range c.hot {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// setHot replaces the hot prefixes.
func (c *readCache) setHot(prefixes []string) {
	c.mu.Lock()
	c.hot = slices.Clone(prefixes)
	c.mu.Unlock()
}

// end is called once the batch begin announced is in Pebble (committed
// true) or failed. After a successful commit the keys begin dropped are
// cached with the values (or absences) the block wrote, which are now
// Pebble's.
func (c *readCache) end(committed bool) {
	c.mu.Lock()
	c.gen++
	c.commit = false
	if committed {
		for _, w := range c.pending {
			v := cachedValue{value: w.Value, present: !w.Deleted}
			if w.Deleted {
				v.value = nil
			}
			c.putLocked(w.Key, v)
		}
	}
	clear(c.pending)
	c.pending = c.pending[:0]
	c.mu.Unlock()
}

// len reports the number of cached reads (for tests).
func (c *readCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m) + len(c.old)
}

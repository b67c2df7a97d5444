package access

import (
	"crypto/ed25519"
	"crypto/sha256"
	"sync"

	"carechain/internal/signature"
)

// A node meets every read request three times: its gatekeeper verifies the
// signed read before it decides and logs it, then the ledger verifies it
// again in CheckTx and in FinalizeBlock of the access.log transaction that
// carries it. The caches of this package let the second and third meeting
// skip the work whose result cannot have changed:
//
//   - verifiedSigs remembers Ed25519 signatures that verified (see
//     verifySignature);
//   - parsedReads remembers the state-independent part of a signed read
//     (canonical form, strict decoding, rules; see parseRead);
//   - parsedLogs remembers the state-independent part of an access.log
//     payload (see parseLog).
//
// Each value is what a pure function of the key's bytes returned, so a hit
// returns exactly what recomputing would and a miss recomputes: a cache can
// only skip work, never change an outcome, and the ledger stays
// deterministic whichever entries a node happens to hold. Everything that
// depends on state (the requester's current key, anchors, memberships,
// consent) is read from the state on every call.

// Cache bounds, per generation (a cache holds at most two).
const (
	// maxVerifiedSigs is the most verified signatures per generation.
	maxVerifiedSigs = 1 << 16
	// maxParsedReadBytes bounds the cost of parsed read requests: the
	// request bytes plus parsedReadOverhead each.
	maxParsedReadBytes = 16 << 20
	// maxParsedLogBytes bounds the cost of parsed access.log payloads:
	// twice the payload bytes each (the decoded events hold a copy).
	maxParsedLogBytes = 32 << 20
	// parsedReadOverhead is the cost counted for a parsed read besides its
	// request bytes: the decoded request, the signed bytes and the hash.
	parsedReadOverhead = 512
)

// cache is a bounded, concurrency-safe map from K to V for values a pure
// function computed from the key. It holds two generations: put adds to
// the current one; when the current one's cost reaches max it becomes the
// previous one and the older previous one is dropped, so at most about
// 2×max is held. get finds an entry in either generation and moves a
// previous-generation entry to the current one, so an entry in use
// survives rotations. It never reads a clock and never iterates a map.
type cache[K comparable, V any] struct {
	mu   sync.Mutex
	max  int
	cost int // of cur
	hits int // gets that found a value (for tests and profiles)
	cur  map[K]cached[V]
	prev map[K]cached[V]
}

// cached is one cache entry and the cost it was put with.
type cached[V any] struct {
	v    V
	cost int
}

// newCache returns an empty cache whose generations hold up to limit cost.
func newCache[K comparable, V any](limit int) *cache[K, V] {
	return &cache[K, V]{max: limit, cur: map[K]cached[V]{}, prev: map[K]cached[V]{}}
}

// get returns the value put for k and whether there is one.
func (c *cache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.cur[k]; ok {
		c.hits++
		return e.v, true
	}
	if e, ok := c.prev[k]; ok {
		delete(c.prev, k)
		c.add(k, e)
		c.hits++
		return e.v, true
	}
	var zero V
	return zero, false
}

// put remembers v for k at cost (at least 1).
func (c *cache[K, V]) put(k K, v V, cost int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.add(k, cached[V]{v: v, cost: max(cost, 1)})
}

// add puts e into the current generation (c.mu held), rotating first if
// it is full.
func (c *cache[K, V]) add(k K, e cached[V]) {
	if old, ok := c.cur[k]; ok {
		c.cost -= old.cost
	} else if c.cost+e.cost > c.max && len(c.cur) > 0 {
		c.prev, c.cur, c.cost = c.cur, map[K]cached[V]{}, 0
	}
	c.cur[k] = e
	c.cost += e.cost
}

// stats returns the number of entries held and of hits so far.
func (c *cache[K, V]) stats() (entries, hits int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.prev), c.hits
}

// reset empties c and zeroes its hit count.
func (c *cache[K, V]) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur, c.prev, c.cost, c.hits = map[K]cached[V]{}, map[K]cached[V]{}, 0, 0
}

// verifiedSigs holds sigKey(pub, msg, sig) of every signature that
// verifySignature verified, in this process.
var verifiedSigs = newCache[[sha256.Size]byte, struct{}](maxVerifiedSigs)

// sigKey is the verified-signature cache key: SHA-256 of msg ‖ sig ‖ pub
// (sig and pub have fixed sizes, so the concatenation is unambiguous).
func sigKey(pub ed25519.PublicKey, msg, sig []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(msg)
	h.Write(sig)
	h.Write(pub)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// verifySignature reports whether sig is a valid Ed25519 signature of msg
// by pub (false for a key or signature of the wrong size). It is the only
// signature check of signed requests in this package — the gatekeeper's,
// CheckTx's and FinalizeBlock's verification of a read all come here — and
// it calls signature.Verify (crypto/ed25519's rules) unless the very same (pub, msg, sig) verified
// before in this process, in which case it answers true without verifying
// again: signature.Verify is a pure function of those bytes, so a hit never
// changes an answer. Only signatures that verified are remembered.
func verifySignature(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	k := sigKey(pub, msg, sig)
	if _, ok := verifiedSigs.get(k); ok {
		return true
	}
	if !signature.Verify(pub, msg, sig) {
		return false
	}
	verifiedSigs.put(k, struct{}{}, 1)
	return true
}

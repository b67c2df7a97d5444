package ledger

import (
	"crypto/sha256"
	"sync"

	"crypto/ed25519"
)

// sigCache remembers (transaction hash, public key) pairs whose signature
// verified, so a transaction admitted by CheckTx is not verified again in
// FinalizeBlock. It only ever skips work: a miss verifies, so the cache
// cannot change any consensus outcome. It is bounded: when full, it is
// cleared.
type sigCache struct {
	mu  sync.Mutex
	max int
	m   map[[32]byte]struct{}
}

func newSigCache(max int) *sigCache {
	return &sigCache{max: max, m: make(map[[32]byte]struct{}, 1024)}
}

func cacheKey(txHash []byte, pub ed25519.PublicKey) [32]byte {
	h := sha256.New()
	h.Write(txHash)
	h.Write(pub)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (c *sigCache) verified(txHash []byte, pub ed25519.PublicKey) bool {
	k := cacheKey(txHash, pub)
	c.mu.Lock()
	_, ok := c.m[k]
	c.mu.Unlock()
	return ok
}

func (c *sigCache) add(txHash []byte, pub ed25519.PublicKey) {
	k := cacheKey(txHash, pub)
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = struct{}{}
	c.mu.Unlock()
}

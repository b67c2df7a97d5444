package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
)

// sigCache remembers (transaction hash, public key) pairs whose signature
// verified, so a transaction admitted by CheckTx is not verified again in
// FinalizeBlock. It only ever skips work: a miss verifies, so the cache
// cannot change any consensus outcome. It is bounded: when full, it is
// cleared.
type sigCache struct{ m *boundedMap[struct{}] }

func newSigCache(max int) *sigCache { return &sigCache{m: newBoundedMap[struct{}](max)} }

func cacheKey(txHash []byte, pub ed25519.PublicKey) [32]byte {
	h := sha256.New()
	h.Write(txHash)
	h.Write(pub)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (c *sigCache) verified(txHash []byte, pub ed25519.PublicKey) bool {
	_, ok := c.m.get(cacheKey(txHash, pub))
	return ok
}

func (c *sigCache) add(txHash []byte, pub ed25519.PublicKey) {
	c.m.put(cacheKey(txHash, pub), struct{}{})
}

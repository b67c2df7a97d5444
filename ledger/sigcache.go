package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
)

// sigCache remembers, by transaction hash, the public key a transaction's
// signature verified against, so a transaction admitted by CheckTx is not
// verified again in FinalizeBlock. It only ever skips work: a miss (another
// key, as after a rotation, or an entry cleared) verifies, so the cache
// cannot change any consensus outcome. The hash identifies the signed
// bytes and the key is compared in full, so no pair that did not verify is
// ever reported as verified. It is bounded: when full, it is cleared.
//
// Keyed by the hash alone (the transaction's SHA-256, already computed)
// rather than a hash of (hash, key), a lookup costs no hashing: it was
// three SHA-256 computations per transaction.
type sigCache struct {
	m *boundedMap[[ed25519.PublicKeySize]byte]
}

func newSigCache(max int) *sigCache {
	return &sigCache{m: newBoundedMap[[ed25519.PublicKeySize]byte](max)}
}

func (c *sigCache) verified(txHash []byte, pub ed25519.PublicKey) bool {
	if len(txHash) != sha256.Size || len(pub) != ed25519.PublicKeySize {
		return false
	}
	k, ok := c.m.get([sha256.Size]byte(txHash))
	return ok && bytes.Equal(k[:], pub)
}

func (c *sigCache) add(txHash []byte, pub ed25519.PublicKey) {
	if len(txHash) != sha256.Size || len(pub) != ed25519.PublicKeySize {
		return
	}
	c.m.put([sha256.Size]byte(txHash), [ed25519.PublicKeySize]byte(pub))
}

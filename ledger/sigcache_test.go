package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"testing"
)

// TestSigCache: a pair is verified only after it was added, with the very
// same key; a later key for the same hash replaces the earlier one;
// malformed hashes and keys are never cached.
func TestSigCache(t *testing.T) {
	h1, h2 := sha256.Sum256([]byte("tx one")), sha256.Sum256([]byte("tx two"))
	k1 := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	k2 := ed25519.NewKeyFromSeed(append(make([]byte, 31), 1)).Public().(ed25519.PublicKey)
	c := newSigCache(16)
	if c.verified(h1[:], k1) {
		t.Fatal("verified before anything was added")
	}
	c.add(h1[:], k1)
	c.add(h2[:5], k1) // not a hash
	c.add(h2[:], k2[:31])
	for _, tt := range []struct {
		name string
		hash []byte
		pub  ed25519.PublicKey
		want bool
	}{
		{"added", h1[:], k1, true},
		{"other key", h1[:], k2, false},
		{"other hash", h2[:], k1, false},
		{"short hash", h2[:5], k1, false},
		{"short key", h2[:], k2[:31], false},
		{"short key, added hash", h1[:], k1[:31], false},
	} {
		if got := c.verified(tt.hash, tt.pub); got != tt.want {
			t.Errorf("%s: verified = %v, want %v", tt.name, got, tt.want)
		}
	}
	c.add(h1[:], k2) // a rotation: the hash now verified against k2
	if got, want := [2]bool{c.verified(h1[:], k1), c.verified(h1[:], k2)}, [2]bool{false, true}; got != want {
		t.Errorf("after another key: verified (k1, k2) = %v, want %v", got, want)
	}
}

// BenchmarkSigCache is a CheckTx's use of the cache: a lookup that hits.
func BenchmarkSigCache(b *testing.B) {
	c := newSigCache(1 << 16)
	h := sha256.Sum256([]byte("tx"))
	k := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	c.add(h[:], k)
	for b.Loop() {
		if !c.verified(h[:], k) {
			b.Fatal("miss")
		}
	}
}

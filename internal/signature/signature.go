// Package signature signs Ed25519 as crypto/ed25519 does (the same
// deterministic RFC 8032 signatures, about twice as fast with
// curve25519-voi's base-point tables), and verifies Ed25519 signatures with exactly the
// acceptance rules of crypto/ed25519 (RFC 8032 cofactorless verification,
// non-canonical and small-order public keys accepted as the standard
// library does), faster: curve25519-voi with its VerifyOptionsStdLib
// preset, and each public key's decompressed, precomputed form remembered.
//
// Signed reads, link approvals and claim proofs use it; transactions use
// ledger/tx's ZIP-215 rules instead. Which signatures verify never depends
// on what the cache holds, so it is safe on the consensus path.
package signature

import (
	"crypto/ed25519"
	"strconv"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// stdLib is crypto/ed25519's acceptance rules in curve25519-voi's terms.
var stdLib = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// maxKeys bounds the remembered public keys (about 1.4 KB each); when full
// the cache starts over.
const maxKeys = 4096

var (
	mu   sync.Mutex
	keys = make(map[[ed25519.PublicKeySize]byte]*voi.ExpandedPublicKey)
)

// Verify reports whether sig is pub's signature of msg, as ed25519.Verify
// does; a key or signature of the wrong length is false, never a panic.
func Verify(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	k := [ed25519.PublicKeySize]byte(pub)
	mu.Lock()
	x := keys[k]
	mu.Unlock()
	if x == nil {
		var err error
		x, err = voi.NewExpandedPublicKey(voi.PublicKey(pub))
		if err != nil { // not a point: the general path words the same verdict
			return voi.VerifyWithOptions(voi.PublicKey(pub), msg, sig, stdLib)
		}
		mu.Lock()
		if len(keys) >= maxKeys {
			clear(keys)
		}
		keys[k] = x
		mu.Unlock()
	}
	return voi.VerifyExpandedWithOptions(x, msg, sig, stdLib)
}

// Sign signs msg with key exactly as ed25519.Sign does (pure Ed25519 is
// deterministic, so the bytes are the same), with curve25519-voi's faster
// base-point multiplication. Like ed25519.Sign it panics if key is not
// ed25519.PrivateKeySize bytes.
func Sign(key ed25519.PrivateKey, msg []byte) []byte {
	if len(key) != ed25519.PrivateKeySize {
		panic("ed25519: bad private key length: " + strconv.Itoa(len(key)))
	}
	return voi.Sign(voi.PrivateKey(key), msg)
}

package signature

import (
	"crypto/ed25519"
	"encoding/hex"
	"testing"
)

// mustHex decodes a hex constant of the test.
func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVerifyMatchesStdLib: valid and tampered signatures, malformed
// lengths, non-canonical S, and public keys the standard library treats
// specially (small order, non-canonical encoding, not a point) get the
// verdict crypto/ed25519 gives, on a first (uncached) and a second
// (cached) call.
func TestVerifyMatchesStdLib(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("GET /fhir/Observation/1 purpose=TREAT")
	sig := ed25519.Sign(priv, msg)
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 1
		return c
	}
	highS := append([]byte(nil), sig...)
	highS[63] |= 0xf0 // S ≥ L
	identity := mustHex(t, "0100000000000000000000000000000000000000000000000000000000000000")
	nonCanonical := mustHex(t, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
	notPoint := mustHex(t, "0200000000000000000000000000000000000000000000000000000000000000")
	// A signature by the identity key: R = identity, S = 0 verifies for
	// any message under cofactorless rules with a small-order key.
	smallSig := append(append([]byte(nil), identity...), make([]byte, 32)...)
	tests := []struct {
		name     string
		pub      []byte
		msg, sig []byte
	}{
		{"valid", pub, msg, sig},
		{"other message", pub, flip(msg, 0), sig},
		{"tampered R", pub, msg, flip(sig, 3)},
		{"tampered S", pub, msg, flip(sig, 40)},
		{"S not reduced", pub, msg, highS},
		{"other key", flip(pub, 5), msg, sig},
		{"short key", pub[:31], msg, sig},
		{"short signature", pub, msg, sig[:63]},
		{"identity key", identity, msg, smallSig},
		{"identity key, real signature", identity, msg, sig},
		{"non-canonical key", nonCanonical, msg, smallSig},
		{"not a point", notPoint, msg, sig},
		{"empty message", pub, nil, ed25519.Sign(priv, nil)},
	}
	for _, tt := range tests {
		want := len(tt.pub) == ed25519.PublicKeySize && ed25519.Verify(tt.pub, tt.msg, tt.sig)
		for round := range 2 {
			if got := Verify(tt.pub, tt.msg, tt.sig); got != want {
				t.Errorf("%s, call %d: Verify = %v, crypto/ed25519 says %v", tt.name, round+1, got, want)
			}
		}
	}
}

// FuzzVerifyMatchesStdLib: for any key, message and signature bytes
// (mutations of a valid triple), Verify agrees with crypto/ed25519.
func FuzzVerifyMatchesStdLib(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := []byte("seed message")
	f.Add([]byte(pub), msg, ed25519.Sign(priv, msg))
	f.Add(make([]byte, 32), msg, make([]byte, 64))
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		want := len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig)
		if got := Verify(pub, msg, sig); got != want {
			t.Fatalf("Verify(%x, %x, %x) = %v, crypto/ed25519 says %v", pub, msg, sig, got, want)
		}
	})
}

// TestSignMatchesStdLib: Sign gives crypto/ed25519's bytes for keys and
// messages of every length class, and panics on a bad key as it does.
func TestSignMatchesStdLib(t *testing.T) {
	for i := range 64 {
		seed := make([]byte, ed25519.SeedSize)
		seed[0], seed[31] = byte(i), byte(255-i)
		key := ed25519.NewKeyFromSeed(seed)
		msg := make([]byte, i*37)
		for j := range msg {
			msg[j] = byte(i + j)
		}
		got, want := Sign(key, msg), ed25519.Sign(key, msg)
		if string(got) != string(want) {
			t.Fatalf("key %d, %d-byte message: Sign = %x, crypto/ed25519 %x", i, len(msg), got, want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Sign with a 32-byte key did not panic")
		}
	}()
	Sign(make([]byte, 32), nil)
}

// FuzzSignMatchesStdLib: for any seed and message, Sign's signature is
// crypto/ed25519's.
func FuzzSignMatchesStdLib(f *testing.F) {
	f.Add(make([]byte, 32), []byte("seed message"))
	f.Fuzz(func(t *testing.T, seed, msg []byte) {
		if len(seed) != ed25519.SeedSize {
			return
		}
		key := ed25519.NewKeyFromSeed(seed)
		if got, want := Sign(key, msg), ed25519.Sign(key, msg); string(got) != string(want) {
			t.Fatalf("Sign(%x, %x) = %x, crypto/ed25519 %x", seed, msg, got, want)
		}
	})
}

func BenchmarkSign(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 300)
	b.Run("stdlib", func(b *testing.B) {
		for b.Loop() {
			ed25519.Sign(priv, msg)
		}
	})
	b.Run("signature", func(b *testing.B) {
		for b.Loop() {
			Sign(priv, msg)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 300)
	sig := ed25519.Sign(priv, msg)
	b.Run("stdlib", func(b *testing.B) {
		for b.Loop() {
			ed25519.Verify(pub, msg, sig)
		}
	})
	b.Run("signature", func(b *testing.B) {
		for b.Loop() {
			Verify(pub, msg, sig)
		}
	})
}

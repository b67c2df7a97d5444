package tx

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"

	cc "carechain"
)

// MustSigned returns n decoded transactions, each signed by its own key,
// and those keys' public halves.
func MustSigned(t testing.TB, n int) ([]*Tx, []ed25519.PublicKey) {
	t.Helper()
	txs := make([]*Tx, n)
	pubs := make([]ed25519.PublicKey, n)
	for i := range n {
		did, priv := MustKey(t, byte(i+1))
		raw, err := Build("c1", did, priv, 0, "kv.set", map[string]any{"i": i})
		if err != nil {
			t.Fatal(err)
		}
		if txs[i], err = Decode(raw); err != nil {
			t.Fatal(err)
		}
		pubs[i] = priv.Public().(ed25519.PublicKey)
	}
	return txs, pubs
}

// forge returns t with another signature: a fresh *Tx with no note.
func forge(t testing.TB, tx *Tx) *Tx {
	t.Helper()
	f := &Tx{Body: tx.Body, BodyBytes: tx.BodyBytes, Signer: tx.Signer, Sig: append([]byte(nil), tx.Sig...), Hash: tx.Hash, Raw: tx.Raw}
	f.Sig[0] ^= 1
	return f
}

// TestVerifyCached: a success is noted for exactly that key on that *Tx; a
// failure, another key or a short key notes nothing and is verified in
// full (a forged signature still fails after a good one was noted on
// another *Tx).
func TestVerifyCached(t *testing.T) {
	txs, pubs := MustSigned(t, 2)
	good, other := txs[0], pubs[1]
	if good.VerifiedBy(pubs[0]) {
		t.Fatal("noted before any verification")
	}
	if err := good.VerifyCached(other); !cc.Is(cc.BadSignature, err) {
		t.Fatalf("VerifyCached with another key: %v, want BadSignature", err)
	}
	if good.VerifiedBy(other) || good.VerifiedBy(pubs[0]) {
		t.Fatal("a failed verification was noted")
	}
	if err := good.VerifyCached(pubs[0]); err != nil {
		t.Fatalf("VerifyCached: %v", err)
	}
	for _, c := range []struct {
		name string
		pub  ed25519.PublicKey
		want bool
	}{
		{"the key", pubs[0], true},
		{"another key", other, false},
		{"short key", pubs[0][:31], false},
		{"no key", nil, false},
	} {
		if got := good.VerifiedBy(c.pub); got != c.want {
			t.Errorf("%s: VerifiedBy = %v, want %v", c.name, got, c.want)
		}
	}
	if err := good.VerifyCached(other); !cc.Is(cc.BadSignature, err) {
		t.Errorf("after a note, VerifyCached with another key: %v, want BadSignature", err)
	}
	if err := forge(t, good).VerifyCached(pubs[0]); !cc.Is(cc.BadSignature, err) {
		t.Errorf("a forged copy: %v, want BadSignature", err)
	}
}

// TestVerifyBatch: one forged signature among n (single verifications
// below MinBatch, a batch with expanded keys, Pippenger's method without)
// is reported and left unnoted; every other is reported valid and noted
// for its key only.
func TestVerifyBatch(t *testing.T) {
	for _, n := range []int{1, MinBatch - 1, MinBatch, 20, pippengerBatch, pippengerBatch + 6} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			txs, pubs := MustSigned(t, n)
			bad := n / 2
			txs[bad] = forge(t, txs[bad])
			valid := VerifyBatch(txs, pubs, rand.Reader)
			if len(valid) != n {
				t.Fatalf("%d verdicts for %d transactions", len(valid), n)
			}
			for i, tx := range txs {
				want := i != bad
				if valid[i] != want || tx.VerifiedBy(pubs[i]) != want {
					t.Errorf("tx %d: valid %v, noted %v; want %v", i, valid[i], tx.VerifiedBy(pubs[i]), want)
				}
				if n > 1 && tx.VerifiedBy(pubs[(i+1)%n]) {
					t.Errorf("tx %d noted for another key", i)
				}
				if got := tx.Verify(pubs[i]) == nil; got != want {
					t.Errorf("tx %d: single verification %v, batch %v", i, got, want)
				}
			}
		})
	}
	if got := VerifyBatch(nil, nil, rand.Reader); len(got) != 0 {
		t.Errorf("empty batch: %v", got)
	}
}

// TestVerifyBatchReusesVerifiers: VerifyBatch keeps its verifiers for
// reuse; a batch verified after a larger one that failed (by the same
// verifier or, concurrently, by others) is judged on its own signatures.
func TestVerifyBatchReusesVerifiers(t *testing.T) {
	big, bigPubs := MustSigned(t, pippengerBatch+10)
	big[3] = forge(t, big[3])
	small, smallPubs := MustSigned(t, 20)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 3 {
				if valid := VerifyBatch(big, bigPubs, rand.Reader); valid[3] || !valid[4] {
					t.Errorf("big batch: forged %v, good %v", valid[3], valid[4])
				}
				for i, ok := range VerifyBatch(small, smallPubs, rand.Reader) {
					if !ok {
						t.Errorf("small batch after a failed one: tx %d invalid", i)
					}
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkVerifiedBy is what CheckTx and FinalizeBlock pay for a
// transaction PreVerify already verified.
func BenchmarkVerifiedBy(b *testing.B) {
	txs, pubs := MustSigned(b, 1)
	if err := txs[0].VerifyCached(pubs[0]); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := txs[0].VerifyCached(pubs[0]); err != nil {
			b.Fatal(err)
		}
	}
}

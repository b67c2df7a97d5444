package tx

import (
	"crypto/ed25519"
	"io"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	cc "carechain"
)

// VerifyOptions are carechain's Ed25519 rules for transaction signatures:
// ZIP-215 (as CometBFT uses for votes), under which one-at-a-time and
// batch verification accept exactly the same signatures. A verification
// remembered from a batch (VerifyBatch) therefore can never make one node
// accept what another, verifying singly, rejects. It is a consensus rule:
// every node must use it.
var VerifyOptions = &voi.Options{Verify: voi.VerifyOptionsZIP_215}

// Verify checks t's signature against pub under VerifyOptions.
func (t *Tx) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize || !voi.VerifyWithOptions(voi.PublicKey(pub), t.SignBytes(), t.Sig, VerifyOptions) {
		return cc.Errorf("tx.verify", cc.BadSignature, "signature does not verify for %s", t.Signer)
	}
	return nil
}

// VerifiedBy reports whether t's signature was found valid under exactly
// pub by VerifyCached or VerifyBatch on this very *Tx. It only ever saves
// work: a false answer means "verify", never "invalid".
func (t *Tx) VerifiedBy(pub ed25519.PublicKey) bool {
	k := t.verified.Load()
	return k != nil && len(pub) == ed25519.PublicKeySize && *k == [ed25519.PublicKeySize]byte(pub)
}

// VerifyCached is Verify that remembers a success on t: the same t with
// the same key then verifies without the curve arithmetic (the ledger
// verifies an admitted transaction once, in CheckTx or before it, and
// FinalizeBlock finds the note on the admission's *Tx). A key that
// differs from the remembered one (a rotation in between) is verified in
// full.
func (t *Tx) VerifyCached(pub ed25519.PublicKey) error {
	if t.VerifiedBy(pub) {
		return nil
	}
	if err := t.Verify(pub); err != nil {
		return err
	}
	t.markVerified(pub)
	return nil
}

func (t *Tx) markVerified(pub ed25519.PublicKey) {
	k := [ed25519.PublicKeySize]byte(pub)
	t.verified.Store(&k)
}

// VerifyBatch verifies the signature of each txs[i] under pubs[i] and
// remembers each success on its *Tx as VerifyCached does; it reports
// which verified. Under VerifyOptions (ZIP-215) a batch accepts exactly
// the signatures single verification accepts, so the result is the same
// as calling Verify on each. rnd (crypto/rand.Reader in production) only
// weights the batch equation; the verdicts do not depend on it. Fewer than
// MinBatch signatures are verified one by one (cheaper).
func VerifyBatch(txs []*Tx, pubs []ed25519.PublicKey, rnd io.Reader) []bool {
	valid := make([]bool, len(txs))
	if len(txs) < MinBatch {
		for i, t := range txs {
			valid[i] = t.VerifyCached(pubs[i]) == nil
		}
		return valid
	}
	b := batches.Get().(*batch)
	defer batches.Put(b)
	bv := b.v.Reset()
	if len(txs) >= pippengerBatch {
		bv.ForceNoPublicKeyExpansion()
	}
	for i, t := range txs {
		// The verifier hashes the message as it is added: one buffer
		// serves every transaction's signing bytes.
		b.msg = appendSignBytes(b.msg[:0], t.Signer, t.BodyBytes)
		bv.AddWithOptions(voi.PublicKey(pubs[i]), b.msg, t.Sig, VerifyOptions)
	}
	_, valid = bv.Verify(rnd)
	for i, ok := range valid {
		if ok {
			txs[i].markVerified(pubs[i])
		}
	}
	return valid
}

// batch is a batch verifier and a signing-bytes buffer, kept for reuse:
// a verifier holds ~420 bytes per signature (decoded points and scalars),
// a fresh one per batch was a tenth of the admission path's allocations.
type batch struct {
	v   *voi.BatchVerifier
	msg []byte
}

// batches holds idle batches (VerifyBatch runs on several goroutines).
var batches = sync.Pool{New: func() any { return &batch{v: voi.NewBatchVerifier()} }}

// MinBatch is the fewest signatures VerifyBatch batch-verifies: with
// curve25519-voi on this project's machine a batch of 2 costs 34 µs per
// signature, a single verification 29 µs, a batch of 4 24 µs and of 64
// 18 µs (bench.BenchmarkVerify).
const MinBatch = 3

// pippengerBatch is the smallest batch curve25519-voi verifies with
// Pippenger's method, on each public key as it is: below it, the batch
// uses a table it precomputes per key as the key is added; from it on,
// AddWithOptions would still precompute the tables of the first 93 keys
// and the batch would not use them (~2 µs each), so VerifyBatch turns the
// expansion off (BatchVerifier.ForceNoPublicKeyExpansion). A batch of 100:
// 19.0 → 17.3 µs per signature (bench.BenchmarkVerify).
const pippengerBatch = (190 - 1) / 2 // voi's batchPippengerThreshold

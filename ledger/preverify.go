package ledger

import (
	"crypto/ed25519"
	"io"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	"carechain/ledger/tx"
)

// PreVerify decodes transactions about to be submitted and batch-verifies
// their signatures, before CheckTx and outside the ABCI connection's
// mutex, so CheckTx, recheck and FinalizeBlock neither decode nor verify
// them again: the decoded envelopes go to the pre-decoded cache that
// CheckTx consults, the valid signatures to the signature cache, and the
// payloads of types with a Config.Predecode function to that function.
//
// It rejects nothing and changes no state: a transaction that does not
// decode, whose signer key cannot be resolved on committed state, or whose
// signature fails is judged by CheckTx as if PreVerify had not seen it. The
// signer key is resolved on committed state; if the mempool state gives
// another key by the time CheckTx runs (a rotation in flight), the cache
// simply misses. Batch and single verification follow the same rules
// (tx.VerifyOptions, ZIP-215), so the cache cannot change any outcome.
//
// It is safe for concurrent use; callers split large batches across
// goroutines. rnd (crypto/rand.Reader in production) only weights the
// batch equation: the verdict for each signature does not depend on it.
func (a *App) PreVerify(raws [][]byte, rnd io.Reader) {
	if a.cfg.DisableTxCache || len(raws) == 0 {
		return
	}
	kv := a.store.Committed()
	type item struct {
		t   *tx.Tx
		pub ed25519.PublicKey
	}
	items := make([]item, 0, len(raws))
	for _, raw := range raws {
		if len(raw) > tx.MaxTxBytes {
			continue
		}
		t, err := tx.Decode(raw)
		if err != nil {
			continue
		}
		a.pre.put(t)
		a.Predecode(t.Body.Type, t.Body.Payload)
		// The signature cache is not asked first: what reaches PreVerify
		// is about to be checked for the first time (CometBFT's mempool
		// cache turns duplicates away before the mempool connection), and
		// the lookup, a miss in a map of 2^18 entries, cost ~1 µs per
		// transaction to save a verification only for a resubmission.
		pub, err := a.cfg.SignerKey(kv, t.Signer, t.Body.Type, t.Body.Payload)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			continue
		}
		items = append(items, item{t, pub})
	}
	if len(items) < minBatch { // a batch of one or two costs more than single verifications
		for _, it := range items {
			if it.t.Verify(it.pub) == nil {
				a.sigs.add(it.t.Hash, it.pub)
			}
		}
		return
	}
	bv := voi.NewBatchVerifierWithCapacity(len(items))
	if len(items) >= pippengerBatch {
		bv.ForceNoPublicKeyExpansion()
	}
	for _, it := range items {
		bv.AddWithOptions(voi.PublicKey(it.pub), it.t.SignBytes(), it.t.Sig, tx.VerifyOptions)
	}
	_, valid := bv.Verify(rnd)
	for i, ok := range valid {
		if ok {
			a.sigs.add(items[i].t.Hash, items[i].pub)
		}
	}
}

// minBatch is the fewest signatures PreVerify batch-verifies: with
// curve25519-voi on this project's machine a batch of 2 costs 34 µs per
// signature, a single verification 29 µs, a batch of 4 24 µs and of 64
// 18 µs (bench.BenchmarkVerify).
const minBatch = 3

// pippengerBatch is the smallest batch curve25519-voi verifies with
// Pippenger's method, on each public key as it is: below it, the batch
// uses a table it precomputes per key as the key is added; from it on,
// AddWithOptions would still precompute the tables of the first 93 keys
// and the batch would not use them (~2 µs each), so PreVerify turns the
// expansion off (BatchVerifier.ForceNoPublicKeyExpansion). A batch of 100:
// 19.0 → 17.3 µs per signature (bench.BenchmarkVerify).
const pippengerBatch = (190 - 1) / 2 // voi's batchPippengerThreshold

// preDecoded holds envelopes PreVerify decoded, by the SHA-256 of their
// bytes, until CheckTx takes them. tx.Decode is a pure function of the
// bytes and a *tx.Tx is never modified, so using one instead of decoding
// again cannot change a result. It is bounded: when full it is cleared
// (the transactions are then decoded by CheckTx, as without it).
type preDecoded struct{ m *boundedMap[*tx.Tx] }

func newPreDecoded(max int) *preDecoded { return &preDecoded{m: newBoundedMap[*tx.Tx](max)} }

func (c *preDecoded) put(t *tx.Tx) { c.m.put([32]byte(t.Hash), t) }

// take returns and forgets the envelope of hash, nil if it has none.
func (c *preDecoded) take(hash [32]byte) *tx.Tx {
	t, _ := c.m.take(hash)
	return t
}

// Predecode decodes a payload of type typ ahead for its handler, through
// Config.Predecode, if the type has such a function (else it does
// nothing). A submitter calls it before it signs and submits, outside the
// stages that take one transaction at a time. It is safe for concurrent
// use and changes no outcome.
func (a *App) Predecode(typ string, payload []byte) {
	if f := a.cfg.Predecode[typ]; f != nil && !a.cfg.DisableTxCache {
		f(payload)
	}
}

package ledger

import (
	"crypto/ed25519"
	"io"
	"sync"

	"carechain/ledger/tx"
)

// PreVerify decodes transactions about to be submitted and batch-verifies
// their signatures, before CheckTx and outside the ABCI connection's
// mutex, so CheckTx, recheck and FinalizeBlock neither decode nor verify
// them again: the decoded envelopes go to the pre-decoded cache that
// CheckTx consults, each carrying the note of the key its signature
// verified under (tx.VerifyBatch; CheckTx's tx.Tx.VerifyCached then finds
// it, and FinalizeBlock finds it on the admission's envelope), and the
// payloads of types with a Config.Predecode function go to that function.
//
// It rejects nothing and changes no state: a transaction that does not
// decode, whose signer key cannot be resolved on committed state, or whose
// signature fails is judged by CheckTx as if PreVerify had not seen it. The
// signer key is resolved on committed state; if the mempool state gives
// another key by the time CheckTx runs (a rotation in flight), the note
// does not match and CheckTx verifies. Batch and single verification
// follow the same rules (tx.VerifyOptions, ZIP-215), so the note cannot
// change any outcome.
//
// It is safe for concurrent use; callers split large batches across
// goroutines. rnd (crypto/rand.Reader in production) only weights the
// batch equation: the verdict for each signature does not depend on it.
func (a *App) PreVerify(raws [][]byte, rnd io.Reader) { a.PreVerifyHashed(raws, nil, rnd) }

// PreVerifyHashed is PreVerify for a caller that has computed each
// hashes[i] = tx.Hash(raws[i]) already (nil: PreVerify computes them).
// The hashes are trusted, not checked: CheckTx admits a pre-verified
// envelope under its hash, and FinalizeBlock reuses admissions by hash, so
// a wrong one would attach a transaction's admission to other bytes.
func (a *App) PreVerifyHashed(raws, hashes [][]byte, rnd io.Reader) {
	if a.cfg.DisableTxCache || len(raws) == 0 {
		return
	}
	kv := a.store.Committed()
	decoded := make([]*tx.Tx, 0, len(raws))
	txs := make([]*tx.Tx, 0, len(raws))
	pubs := make([]ed25519.PublicKey, 0, len(raws))
	for i, raw := range raws {
		if len(raw) > tx.MaxTxBytes || len(raw) == 0 {
			continue
		}
		var t *tx.Tx
		var err error
		if hashes != nil {
			t, err = tx.DecodeHashed(raw, hashes[i])
		} else {
			t, err = tx.Decode(raw)
		}
		if err != nil {
			continue
		}
		decoded = append(decoded, t)
		a.Predecode(t.Body.Type, t.Body.Payload)
		pub, err := a.cfg.SignerKey(kv, t.Signer, t.Body.Type, t.Body.Payload)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			continue
		}
		txs, pubs = append(txs, t), append(pubs, pub)
	}
	tx.VerifyBatch(txs, pubs, rnd)
	a.stats.PreVerified.Add(uint64(len(txs)))
	for _, t := range decoded {
		a.pre.put(t)
	}
}

// preDecoded holds envelopes PreVerify decoded until CheckTx takes them,
// by the identity of their bytes (the address and length of the slice
// PreVerify was given — the one CometBFT's mempool then hands CheckTx, so
// CheckTx finds its envelope without hashing the bytes). tx.Decode is a
// pure function of the bytes and a *tx.Tx's fields are never modified
// (only its note of a verified key is set, see tx.Tx.VerifiedBy), so using
// one instead of decoding again cannot change a result: even bytes changed
// in place after PreVerify would only have CheckTx admit the envelope's
// transaction under its own hash, which a block holding other bytes never
// finds. It is bounded: when full it is cleared (the transactions are then
// decoded by CheckTx, as without it).
type preDecoded struct {
	mu  sync.Mutex
	max int
	m   map[*byte]*tx.Tx
}

func newPreDecoded(max int) *preDecoded {
	return &preDecoded{max: max, m: make(map[*byte]*tx.Tx, 1024)}
}

func (c *preDecoded) put(t *tx.Tx) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[&t.Raw[0]] = t
	c.mu.Unlock()
}

// take returns and forgets the envelope PreVerify decoded from the very
// slice raw (same address and length), nil if it has none.
func (c *preDecoded) take(raw []byte) *tx.Tx {
	if len(raw) == 0 {
		return nil
	}
	k := &raw[0]
	c.mu.Lock()
	t := c.m[k]
	if t != nil {
		delete(c.m, k)
	}
	c.mu.Unlock()
	if t == nil || len(t.Raw) != len(raw) {
		return nil
	}
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

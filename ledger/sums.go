package ledger

import (
	"sync"

	"carechain/ledger/store"
)

// pendingSums hands admissions from CheckTx to PrepareSums. CheckTx runs
// under mpMu (and CometBFT's own locks): one transaction at a time. The
// commitment hashes of an admission's writes (store.SumsOf) are a pure
// function of those writes, so they need not be computed there: the
// submitter's goroutine computes them once CheckTx has returned, beside
// the next admission and the consensus goroutine, and FinalizeBlock takes
// them if they are ready (else it hashes the writes itself, as for a
// transaction that came by gossip). Without this, hashing every write
// of a bench epcis block cost FinalizeBlock a sixth of its time; inside
// CheckTx it lengthened the one stage every document passes in turn.
type pendingSums struct {
	mu sync.Mutex
	m  map[[32]byte]*admission // admitted since the last Commit, not yet summed
}

// add records an admission whose Sums nobody has computed yet.
func (p *pendingSums) add(ad *admission) {
	p.mu.Lock()
	if p.m == nil {
		p.m = map[[32]byte]*admission{}
	}
	p.m[ad.hash] = ad
	p.mu.Unlock()
}

// take removes and returns the admission of hash, nil if there is none.
func (p *pendingSums) take(hash [32]byte) *admission {
	p.mu.Lock()
	ad := p.m[hash]
	delete(p.m, hash)
	p.mu.Unlock()
	return ad
}

// reset forgets every admission (at Commit: what is left was included,
// and hashed by FinalizeBlock, or came by another way than Submit).
func (p *pendingSums) reset() {
	p.mu.Lock()
	clear(p.m)
	p.mu.Unlock()
}

// PrepareSums computes the commitment hashes of the writes of the
// transactions with these hashes (SHA-256 of the raw bytes) that CheckTx
// has just admitted, so that a block reusing their admissions need not
// hash those writes on the consensus goroutine. Calling it is optional (a
// block hashes whatever is not ready); it does nothing for a transaction
// that was not admitted, or was already prepared. It is safe for
// concurrent use and takes no lock CheckTx or FinalizeBlock holds for
// long.
func (a *App) PrepareSums(hashes ...[]byte) {
	for _, h := range hashes {
		var key [32]byte
		if copy(key[:], h) != len(key) {
			continue
		}
		if ad := a.sums.take(key); ad != nil {
			s := store.SumsOf(ad.writes) // ad.writes is never modified after push
			ad.sums.Store(&s)
		}
	}
}

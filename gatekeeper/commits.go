package gatekeeper

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"

	cc "carechain"
	"carechain/ledger"
)

// Committed tells the gatekeeper that the node committed a block whose
// transactions had outs, as the node's commit notifier reports them
// (ledger.Notifier.Subscribe; outs is empty for a block without
// transactions). It never blocks and never reads the state, so it may run
// inside the notifier's callback, in the ledger's Commit. A gatekeeper that
// is told of commits
//
//   - reads the chain's status (the latest block time its consent
//     decisions use) once per block instead of once per read (status);
//   - loads the consent facts of a (requester, organization, patient,
//     action, purpose) once per block (decider);
//   - shreds records erased by a committed record.erase when Watch next
//     runs, promptly and without walking the vault (see Watch).
//
// The caller must deliver every block from the moment it first calls
// Committed: call it from a subscription taken before the startup sweep
// (RecoverAmong or SweepErased).
func (g *Gatekeeper) Committed(outs []ledger.TxOutcome) {
	var height int64
	var erased []string
	for _, o := range outs {
		height = max(height, o.Height)
		if o.Code == 0 {
			erased = append(erased, erasedIDs(o.Data)...)
		}
	}
	g.head.committed(height)
	g.decisions.committed()
	g.erasures.add(erased)
}

// erasedIDs returns the record ids a record.erase result names ({"patient",
// "erased": [ids], …}), nil for any other result. It is a hint only: the
// sweep shreds a record only if the committed state marks it erased.
func erasedIDs(data []byte) []string {
	if !bytes.Contains(data, []byte(`"erased"`)) {
		return nil
	}
	var r struct {
		Patient cc.DID   `json:"patient"`
		Erased  []string `json:"erased"`
	}
	if json.Unmarshal(data, &r) != nil || r.Patient == "" {
		return nil
	}
	return r.Erased
}

// headCache remembers the chain's status between commits. Without commit
// notices (Committed never called) it does not cache: every read asks the
// chain, as before.
type headCache struct {
	mu        sync.Mutex
	following bool      // Committed was called: commits invalidate st
	valid     bool      // st is the status after the latest commit noticed
	notified  int64     // the highest height Committed reported
	st        cc.Status //
}

// committed invalidates the cached status after the commit of a block at
// height (0: unknown, a block without transactions).
func (h *headCache) committed(height int64) {
	h.mu.Lock()
	h.following, h.valid = true, false
	h.notified = max(h.notified, height)
	h.mu.Unlock()
}

// status returns the chain's status: the one read after the latest commit
// noticed, or a fresh one. A status read before the node saved the block
// just noticed (lower height) is not kept, so the next call asks again.
// After a block without transactions (height unknown) the status kept may
// be one block old until the next commit: only its block time is used,
// for the gatekeeper's own consent pre-check (the ledger decides again
// with the block's time).
func (g *Gatekeeper) status(ctx context.Context) (cc.Status, error) {
	h := &g.head
	h.mu.Lock()
	if h.following && h.valid {
		st := h.st
		h.mu.Unlock()
		return st, nil
	}
	h.mu.Unlock()
	st, err := g.cfg.Chain.Status(ctx)
	if err != nil {
		return st, err
	}
	h.mu.Lock()
	if h.following && !h.valid && st.LatestHeight >= h.notified {
		h.st, h.valid = st, true
	}
	h.mu.Unlock()
	return st, nil
}

// maxQueuedErasures bounds the erasure queue; past it, the queue is
// dropped and Watch sweeps the whole vault once instead.
const maxQueuedErasures = 100_000

// eraseQueue holds the record ids of committed erasures not yet swept. It
// keeps ids only once enabled (by the first SweepErased: a gatekeeper that
// never sweeps, such as a node's second custodian sharing the first one's
// vault, keeps nothing); erasures committed before are that sweep's.
type eraseQueue struct {
	mu       sync.Mutex
	fed      bool     // Committed was called: Watch relies on the queue
	enabled  bool     // a sweep ran: keep ids from now on
	ids      []string // to sweep, in commit order
	overflow bool     // ids were dropped: sweep everything
	wake     chan struct{}
}

// wakeup returns the channel signalled when ids are queued.
func (q *eraseQueue) wakeup() chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.wake == nil {
		q.wake = make(chan struct{}, 1)
	}
	return q.wake
}

// enable makes the queue keep the ids added from now on.
func (q *eraseQueue) enable() {
	q.mu.Lock()
	q.enabled = true
	q.mu.Unlock()
}

// add queues ids (possibly none: it still marks the queue fed).
func (q *eraseQueue) add(ids []string) {
	wake := q.wakeup()
	q.mu.Lock()
	q.fed = true
	keep := q.enabled && len(ids) > 0
	if keep {
		q.put(ids, false)
	}
	q.mu.Unlock()
	if keep {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// put adds ids (q.mu held) at the back, or at the front when again (a
// retry); past maxQueuedErasures it drops the queue for a full sweep.
func (q *eraseQueue) put(ids []string, again bool) {
	switch {
	case len(q.ids)+len(ids) > maxQueuedErasures:
		q.ids, q.overflow = nil, true
	case again:
		q.ids = append(ids, q.ids...)
	default:
		q.ids = append(q.ids, ids...)
	}
}

// take returns and clears the queue: whether it is fed, the ids, and
// whether a full sweep is needed instead.
func (q *eraseQueue) take() (fed bool, ids []string, full bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	fed, ids, full = q.fed, q.ids, q.overflow
	q.ids, q.overflow = nil, false
	return fed, ids, full
}

// again puts back what a failed sweep did not finish: ids, or a full sweep.
func (q *eraseQueue) again(ids []string, full bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if full {
		q.ids, q.overflow = nil, true
		return
	}
	q.put(ids, true)
}

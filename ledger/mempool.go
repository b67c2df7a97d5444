package ledger

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"

	cc "carechain"
	"carechain/ledger/store"
	"carechain/ledger/tx"
)

// The mempool state: what CheckTx judges a new transaction against.
//
// It is the committed state plus the admission-time writes of every
// transaction CheckTx admitted that no block has included yet, in admission
// order. That is what lets one signer pipeline transactions (sequence n+1
// is admitted while n waits in the mempool) and lets a transaction depend
// on an admitted one (a registration, then the new DID's first consent).
//
// After a block, CometBFT's mempool recheck (mempool.recheck = true, see
// node.Tune) sends every transaction still in the mempool to CheckTx again
// (CHECK_TX_TYPE_RECHECK), in mempool order. Re-executing them all after
// every block cost 5 % (patient.register) to 16 % (supply.capture) of the
// node's CPU, so Commit keeps the state when it can:
//
//   - Fast path: the block is exactly the oldest pending admissions, every
//     one succeeded in FinalizeBlock, and they ran in admission order (or,
//     in another order, left every key they wrote with the value admission
//     order gave it; see predicted). The committed state then holds what
//     CheckTx predicted for them, so Commit only forgets the keys whose
//     last pending writer was included (they read through to the new
//     committed state), and a recheck of a transaction still pending is
//     answered from the admission log without executing it.
//   - Independent blocks (another proposer's block, with several
//     validators): the block holds some pending admissions, in any order,
//     and perhaps transactions this node never admitted, succeeding or
//     failing. If every remaining admission reads, for each key the block
//     changed, what it read at admission (keys read are recorded at
//     admission; an admission that iterated a prefix disables this path),
//     the remaining admissions would execute exactly as they did, so Commit
//     drops the included ones, forgets their keys and keeps the rest (see
//     independent).
//   - Otherwise (a transaction that failed in FinalizeBlock or a
//     reordering that mattered, with a remaining admission depending on
//     it; the genesis block): the state is reset to the committed state,
//     the log is emptied, and every recheck re-executes its transaction as
//     before, in mempool order, evicting those that became invalid.
//
// A pending admission that no recheck confirmed since the last Commit is
// no longer in CometBFT's mempool (it refused it after CheckTx, e.g. when
// full, or recheck is off): closePass, run before the next new CheckTx or
// FinalizeBlock, drops it and rebuilds the state by re-admitting the others.
//
// In admission order, the fast path differs from a re-execution only in
// values a handler derives from the CheckTx context (height = last + 1, time
// = last block's time), which CheckTx only approximates anyway (a pending
// transaction may land in any later block): time-bound rules are exact only
// in FinalizeBlock. Nothing here reaches FinalizeBlock's results: it reads only
// the decoded envelope of an admission (see App.apply), which is what
// tx.Decode returns for the same bytes.
//
// The state is used from CheckTx (the mempool connection) and from
// FinalizeBlock and Commit (the consensus connection), which CometBFT runs
// concurrently (see node.Start): App.mpMu guards it. CheckTx holds mpMu
// while it executes a transaction, which takes tens of milliseconds for a
// large capture; FinalizeBlock, which only reads the admission log (which
// transactions were admitted, their writes and whether the pass is open),
// takes mu instead, so that the consensus goroutine does not wait for it.
// Whoever changes pending, byHash, prev or passOpen holds both mpMu and
// mu; a reader holds either.
type mempoolState struct {
	mu       sync.Mutex
	kv       *store.Overlay
	pending  []*admission // oldest first
	byHash   map[[32]byte]*admission
	prev     map[[32]byte]*tx.Tx // decoded envelopes of the admissions the last reset dropped, until closePass
	serial   uint64
	passOpen bool // committed since the last closePass: rechecks mark the admissions still in the mempool
}

// admission is a transaction CheckTx admitted that no block has included.
type admission struct {
	serial uint64
	hash   [32]byte
	raw    []byte
	tx     *tx.Tx                        // decoded envelope (its signature verified against the signer's key)
	writes []store.Write                 // its admission's writes, sorted by key (values shared with kv)
	sums   atomic.Pointer[[]*store.Sums] // store.SumsOf(writes) once PrepareSums has run, for FinalizeBlock
	reads  []string                      // state keys its admission read from the mempool state
	vals   [][]byte                      // the value each read returned (nil: absent)
	iter   bool                          // its admission iterated a prefix of the mempool state
	seen   bool                          // rechecked since the last Commit
	height int64                         // the height CheckTx ran it at
	res    cc.Result                     // its result at admission
}

// readRecorder is the parent of an admission's scratch overlay: it records
// the keys the admission reads from the mempool state.
type readRecorder struct {
	r     cc.Reader
	reads []string
	vals  [][]byte
	iter  bool
}

// recordedReads is the reads an admission's recorder has room for before
// it grows: enough for an identity transaction (signer's DID, sequence,
// record; an organization's admin and member), so most grow never.
const recordedReads = 8

func (rr *readRecorder) Get(key string) ([]byte, error) {
	v, err := rr.r.Get(key)
	rr.reads = append(rr.reads, key)
	rr.vals = append(rr.vals, v)
	return v, err
}

func (rr *readRecorder) Iterate(prefix string, fn func(key string, value []byte) bool) error {
	rr.iter = true
	return rr.r.Iterate(prefix, fn)
}

func newMempoolState(committed cc.Reader) *mempoolState {
	return &mempoolState{
		kv:     store.NewOverlay(committed),
		byHash: map[[32]byte]*admission{},
	}
}

// reset drops every admission: the state is the committed state again.
// Their decoded envelopes are kept for the rechecks that follow (until
// closePass).
func (m *mempoolState) reset(committed cc.Reader) {
	m.kv.Discard()
	m.kv = store.NewOverlay(committed)
	m.prev = make(map[[32]byte]*tx.Tx, len(m.pending))
	for i, ad := range m.pending {
		m.prev[ad.hash] = ad.tx
		m.pending[i] = nil
	}
	m.pending = m.pending[:0]
	clear(m.byHash)
}

// push records an admission whose writes scratch holds and flushes them
// into the state, tagged with the admission's serial: a key's tag in m.kv
// is the serial of the last pending admission that wrote it. The caller
// holds App.mpMu; push takes mu to publish the admission.
func (m *mempoolState) push(ad *admission, scratch *store.Overlay) {
	m.serial++
	ad.serial = m.serial
	ad.writes = scratch.Writes()
	scratch.FlushTagged(m.kv, ad.serial)
	m.mu.Lock()
	m.pending = append(m.pending, ad)
	m.byHash[ad.hash] = ad
	m.mu.Unlock()
}

// predicted reports whether the block run, executed on working, left the
// state CheckTx predicted: its transactions are the len(run.outcomes)
// oldest pending admissions and all succeeded, and
//
//   - either they ran in admission order: the same transactions in the same
//     order on the same state (context-derived values aside, see
//     mempoolState);
//   - or, in another order, every key they wrote (at admission or in the
//     block) holds the value the admissions left, in admission order. This
//     catches reorderings that mattered, and, strictly, also differences in
//     context-derived values: those blocks take the slow path.
func (m *mempoolState) predicted(run *blockRun, working cc.Reader) bool {
	k := len(run.outcomes)
	if k > len(m.pending) {
		return false
	}
	inOrder := true
	for i, o := range run.outcomes {
		if o.Code != 0 {
			return false
		}
		if !bytes.Equal(o.Hash, m.pending[i].hash[:]) {
			inOrder = false
		}
	}
	if inOrder {
		return true
	}
	oldest := make(map[[32]byte]bool, k)
	for _, ad := range m.pending[:k] {
		oldest[ad.hash] = true
	}
	for _, o := range run.outcomes {
		if !oldest[[32]byte(o.Hash)] {
			return false
		}
	}
	want := map[string]store.Write{}
	for _, ad := range m.pending[:k] {
		for _, w := range ad.writes {
			want[w.Key] = w
		}
	}
	for _, keys := range run.keys {
		for _, key := range keys {
			if _, ok := want[key]; !ok {
				return false
			}
		}
	}
	for key, w := range want {
		v, err := working.Get(key)
		if err != nil || (v == nil) != w.Deleted || !bytes.Equal(v, w.Value) {
			return false
		}
	}
	return true
}

// independent reports whether the block run, which was not what CheckTx
// predicted, still leaves every admission it did not include executing
// exactly as it did at admission, on the new committed state. It returns
// the included admissions' hashes.
//
// Only keys the block changed matter ("touched": what it wrote, each
// successful transaction's index entry, and what the included admissions
// wrote at admission). For each touched key, take the pending admissions
// that read or wrote it, in admission order: the included ones must come
// first, and if any remaining one follows, the last included writer's
// value must be the committed value now — then every remaining admission
// reads what it read at admission (a signer's pipelined sequences qualify:
// the included n wrote the sequence n+1 reads). An admission that iterated
// a prefix makes the answer no.
func (m *mempoolState) independent(run *blockRun, committed cc.Reader) (map[[32]byte]bool, bool) {
	touched := map[string]bool{}
	included := map[[32]byte]bool{}
	for i, o := range run.outcomes {
		h := [32]byte(o.Hash)
		if ad := m.byHash[h]; ad != nil {
			included[h] = true
			for _, w := range ad.writes {
				touched[w.Key] = true
			}
		}
		for _, k := range run.keys[i] {
			touched[k] = true
		}
		if o.Code == 0 {
			touched[txIndexKey(o.Hash)] = true
		}
	}
	type access struct {
		remaining bool // the first remaining accessor has been seen
		last      *store.Write
	}
	keys := map[string]*access{}
	visit := func(ad *admission, k string, w *store.Write) bool {
		if !touched[k] {
			return true
		}
		a := keys[k]
		if a == nil {
			a = &access{}
			keys[k] = a
		}
		if !included[ad.hash] {
			a.remaining = true
			return true
		}
		if a.remaining {
			return false // an included admission after a remaining one
		}
		if w != nil {
			a.last = w
		}
		return true
	}
	for _, ad := range m.pending {
		if ad.iter {
			return nil, false
		}
		for i := range ad.writes {
			if !visit(ad, ad.writes[i].Key, &ad.writes[i]) {
				return nil, false
			}
		}
		for _, k := range ad.reads {
			if !visit(ad, k, nil) {
				return nil, false
			}
		}
	}
	for k, a := range keys {
		if !a.remaining {
			continue
		}
		if a.last == nil {
			return nil, false // the block changed what a remaining admission read
		}
		v, err := committed.Get(k)
		if err != nil || (v == nil) != a.last.Deleted || !bytes.Equal(v, a.last.Value) {
			return nil, false
		}
	}
	return included, true
}

// dropSet removes the included admissions, now committed (or failed):
// each key one of them wrote last reads through to the committed state
// again. independent has checked that no other admission wrote them.
func (m *mempoolState) dropSet(included map[[32]byte]bool) {
	kept := m.pending[:0]
	for _, ad := range m.pending {
		if !included[ad.hash] {
			kept = append(kept, ad)
			continue
		}
		for _, w := range ad.writes {
			m.kv.ForgetTagged(w.Key, ad.serial)
		}
		delete(m.byHash, ad.hash)
	}
	clear(m.pending[len(kept):])
	m.pending = kept
}

// dropIncluded removes the n oldest admissions, now committed: each key
// whose last pending writer was one of them reads through to the committed
// state again.
func (m *mempoolState) dropIncluded(n int) {
	if n == len(m.pending) {
		// Every pending admission was included (the usual block): each key
		// of the state was written last by one of them, so all read
		// through again — the same as forgetting them one by one, without
		// a map lookup per write.
		m.kv.Discard()
		clear(m.byHash)
		clear(m.pending)
		m.pending = m.pending[:0]
		return
	}
	included, rest := 0, 0
	for i, ad := range m.pending {
		if i < n {
			included += len(ad.writes)
		} else {
			rest += len(ad.writes)
		}
	}
	if rest < included {
		// Fewer writes remain than go (the admissions that came after the
		// proposal): rebuild the state from them, in admission order, as
		// they were flushed at admission, instead of forgetting the
		// included ones key by key.
		m.kv.Discard()
		for _, ad := range m.pending[n:] {
			m.kv.PutTagged(ad.writes, ad.serial)
		}
	} else {
		for _, ad := range m.pending[:n] {
			for _, w := range ad.writes {
				m.kv.ForgetTagged(w.Key, ad.serial)
			}
		}
	}
	for i, ad := range m.pending[:n] {
		delete(m.byHash, ad.hash)
		m.pending[i] = nil
	}
	m.pending = m.pending[n:]
}

// admit runs raw (decoded as t, or decoded here when t is nil) on the
// mempool state and, if it succeeds, records it as admitted.
func (a *App) admit(raw []byte, hash [32]byte, t *tx.Tx) error {
	for again := false; ; again = true {
		// CheckTx has no block: it uses the next height the transaction
		// can be in and the last block's time (zero until this process has
		// seen a block), so time-bound rules are enforced exactly only in
		// FinalizeBlock. Once block h is proposed, its transactions are
		// fixed: the next height is h+1 (nextHeight), not the committed
		// h-1+1.
		height := a.checkHeight()
		ctx := cc.TxContext{ChainID: a.ChainID(), Height: height, Time: a.checkTime(), Check: true}
		rec := &readRecorder{r: a.mp.kv, reads: make([]string, 0, recordedReads), vals: make([][]byte, 0, recordedReads)}
		scratch := store.NewOverlay(rec)
		decoded, res, err := a.apply(ctx, scratch, raw, hash[:], t)
		if err != nil {
			scratch.Discard()
			return err
		}
		if !again && a.checkHeight() != height {
			// A block was proposed while it ran, without it: it can be in
			// the next one at the earliest, whose FinalizeBlock would have
			// to execute it again (see reusable). Run it at that height
			// now, beside the consensus goroutine rather than on it.
			scratch.Discard()
			t = decoded
			a.stats.Readmitted.Add(1)
			continue
		}
		ad := &admission{hash: hash, raw: raw, tx: decoded, reads: rec.reads, vals: rec.vals, iter: rec.iter, seen: true, height: height, res: res}
		a.mp.push(ad, scratch)
		a.sums.add(ad)
		return nil
	}
}

// checkHeight is the height CheckTx runs at: the height after the last
// committed block, or after the block proposed since (nextHeight).
func (a *App) checkHeight() int64 {
	return max(a.store.LastHeight()+1, a.nextHeight.Load())
}

// checkTime is the time CheckTx runs at: the last finalized block's time,
// zero until this process has finalized a block.
func (a *App) checkTime() time.Time {
	if p := a.lastTime.Load(); p != nil {
		return *p
	}
	return time.Time{}
}

// reusable reports whether FinalizeBlock, executing block height on kv,
// may take ad's admission writes and result instead of running the
// transaction: it was admitted at this height, its type is TimeFree or its
// handler vouched for a window holding the block time (cc.Result.SameFor),
// so the rest of the CheckTx context — chain, height, signer, sequence,
// type, hash — is what FinalizeBlock gives it, it iterated nothing, and every
// read of its admission (the sequence, the signer's key, the handler's
// reads) returns on kv the value it returned then. A deterministic
// execution that reads the same values in the same context makes the same
// reads in the same order and the same writes, so it would compute exactly
// what it computed at admission (validation as in optimistic concurrency
// control: whatever happened in between, only the values read matter).
func (a *App) reusable(ad *admission, height int64, blockTime time.Time, kv cc.Reader) bool {
	if ad.height != height || ad.iter {
		return false
	}
	if !a.cfg.TimeFree[ad.tx.Body.Type] && !ad.res.SameFor.Contains(blockTime) {
		return false
	}
	for i, key := range ad.reads {
		v, err := kv.Get(key)
		if err != nil || (v == nil) != (ad.vals[i] == nil) || !bytes.Equal(v, ad.vals[i]) {
			return false
		}
	}
	return true
}

// recheck answers a CHECK_TX_TYPE_RECHECK of a transaction still pending
// since the fast path kept it; false means it must be executed.
func (a *App) recheck(hash [32]byte) bool {
	ad := a.mp.byHash[hash]
	if ad == nil {
		return false
	}
	ad.seen = true
	a.stats.RechecksAnswered.Add(1)
	return true
}

// closePass ends the recheck pass that followed the last Commit: admissions
// no recheck confirmed are not in the mempool any more, so the state is
// rebuilt from the committed state with the others, re-admitted in order
// (one that fails now stays out; the next recheck evicts it).
//
// The caller holds mpMu (and not mp.mu).
func (a *App) closePass() {
	m := a.mp
	if !m.passOpen {
		return
	}
	m.mu.Lock()
	m.passOpen = false
	m.prev = nil // the rechecks that could use them are over
	var kept []*admission
	for _, ad := range m.pending {
		if ad.seen {
			kept = append(kept, ad)
		}
	}
	if len(kept) == len(m.pending) {
		m.mu.Unlock()
		return
	}
	m.reset(a.store.Committed())
	m.mu.Unlock()
	for _, ad := range kept {
		_ = a.admit(ad.raw, ad.hash, ad.tx)
	}
}

// commitMempool updates the mempool state after the block run was
// committed (see mempoolState). The caller holds mpMu and mp.mu.
func (a *App) commitMempool(run *blockRun) {
	a.sums.reset()
	m := a.mp
	switch {
	case run != nil && run.fast:
		m.dropIncluded(len(run.outcomes))
		a.stats.KeptAdmissions.Add(1)
	case run != nil && run.height > 1:
		if included, ok := m.independent(run, a.store.Committed()); ok {
			m.dropSet(included)
			a.stats.KeptAdmissions.Add(1)
			a.stats.KeptIndependent.Add(1)
			break
		}
		m.reset(a.store.Committed())
	default:
		m.reset(a.store.Committed())
	}
	for _, ad := range m.pending {
		ad.seen = false
	}
	m.passOpen = true
}

// cachedTx returns the decoded envelope of a pending (or just dropped)
// admission with this hash, or nil; the caller holds mpMu or mp.mu. A hash is the SHA-256 of the exact bytes, so the envelope
// is what tx.Decode would return for them.
func (a *App) cachedTx(hash [32]byte) *tx.Tx {
	if a.cfg.DisableTxCache {
		return nil
	}
	if ad := a.mp.byHash[hash]; ad != nil {
		return ad.tx
	}
	return a.mp.prev[hash]
}

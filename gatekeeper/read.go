package gatekeeper

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/fhir"
	"carechain/records"
)

// Released is one record version handed to a requester, with its anchor.
type Released struct {
	ID      string           `json:"id"`
	Version int              `json:"version"`
	JSON    json.RawMessage  `json:"resource"`
	Anchor  *cc.RecordAnchor `json:"anchor"`
}

// Release is the answer to a read: the records and the committed access
// event that logged them. A search that matched nothing the requester may
// see releases nothing and logs nothing (Event is zero).
type Release struct {
	Records []Released         `json:"records"`
	Event   access.EventResult `json:"event"`
	Height  int64              `json:"height"`
}

// notFound is the one answer for "missing" and "not allowed": a denied
// record must look exactly like a record that does not exist.
func notFound() error { return cc.Errorf("read", cc.NotFound, "no such record") }

// Read releases the records a requester's signed read names (action
// "read"), in order: the signature is verified; each record must be held
// by this custodian, belong to the request's patient and be allowed by the
// committed consent state (else NotFound — the same answer as a missing
// record); then the access event is committed on the ledger (which decides
// again, in the block) and only a "logged" event releases the data. An
// erased record the requester may see answers Gone (and its keys are
// shredded here if they were not yet).
func (g *Gatekeeper) Read(ctx context.Context, sr access.SignedRead) (*Release, error) {
	return g.ReadVersion(ctx, sr, 0)
}

// ReadVersion is Read for one record at one version (vread); version 0 is
// the current version and -1 every version, oldest first (_history).
func (g *Gatekeeper) ReadVersion(ctx context.Context, sr access.SignedRead, version int) (*Release, error) {
	state := g.cfg.Chain.State()
	req, err := g.verifyRead(sr, access.ActionRead)
	if err != nil {
		return nil, err
	}
	if version != 0 && len(req.Records) != 1 {
		return nil, cc.Errorf("read", cc.Invalid, "a version read names one record")
	}
	d, err := g.decider(ctx, req)
	if err != nil {
		return nil, err
	}
	anchors := make([]*cc.RecordAnchor, len(req.Records))
	for i, id := range req.Records {
		a, err := records.GetAnchor(state, id)
		if err != nil || a.Patient != req.Patient || a.Org != g.cfg.Org || !d.allow(a) {
			return nil, notFound()
		}
		if a.Erased {
			g.shredErased(a.ID)
			return nil, cc.Errorf("read", cc.Gone, "%s was erased at the patient's request", id)
		}
		anchors[i] = a
	}
	if version != 0 {
		all, err := records.History(state, anchors[0].ID)
		if err != nil {
			return nil, err
		}
		var pick []*cc.RecordAnchor
		for i := range all {
			if version < 0 || all[i].Version == version {
				pick = append(pick, &all[i])
			}
		}
		if len(pick) == 0 {
			return nil, notFound()
		}
		anchors = pick
	}
	return g.release(ctx, sr, req.Records, anchors)
}

// verifyRead checks a signed read's signature and that it asks for action
// on this chain.
func (g *Gatekeeper) verifyRead(sr access.SignedRead, action string) (*access.ReadRequest, error) {
	req, _, err := access.VerifyRead(g.cfg.Chain.State(), sr)
	if err != nil {
		return nil, err
	}
	if req.Action != action {
		return nil, cc.Errorf("read", cc.Invalid, "this request must be signed for action %q, not %q", action, req.Action)
	}
	return req, nil
}

// release logs one access event for ids (the records the event names) and
// then returns the versions of anchors from the vault (the current
// version of an e-prescription's MedicationRequest with the ledger's
// status, see withRxLedger). Only a "logged" event releases anything;
// otherwise the answer is NotFound. The versions are read from the vault
// while the block holding the event executes (see accessLogger.log), so
// that a committed block's reads are answered at once; the ledger's
// prescription status is read once the block is committed.
func (g *Gatekeeper) release(ctx context.Context, sr access.SignedRead, ids []string, anchors []*cc.RecordAnchor) (*Release, error) {
	var ready [][]byte // the anchors' versions, read while the block executes
	prepare := func() { ready = g.fetch(anchors) }
	ev, height, err := g.logger().log(ctx, logItem{Read: sr, Records: ids}, prepare)
	if err != nil {
		return nil, err
	}
	if ev.Status != access.StatusLogged {
		g.log.Info("read not logged", "status", ev.Status, "reason", ev.Reason)
		return nil, notFound()
	}
	out := &Release{Event: ev, Height: height}
	for i, a := range anchors {
		var b []byte
		if ready != nil {
			b = ready[i]
		} else if b, err = g.version(a); err != nil {
			return nil, err
		}
		if b, err = g.withRxLedger(a, b); err != nil {
			return nil, err
		}
		out.Records = append(out.Records, Released{ID: a.ID, Version: a.Version, JSON: b, Anchor: a})
	}
	return out, nil
}

// version returns an anchored version from the vault as a FHIR server
// answers it: with the version and when it was anchored in its meta.
func (g *Gatekeeper) version(a *cc.RecordAnchor) ([]byte, error) {
	b, err := g.cfg.Vault.Get(a.ID, a.Version, a.ContentHash)
	if err != nil {
		return nil, err
	}
	return fhir.WithMeta(b, a.Version, a.Time), nil
}

// fetch returns version of each anchor, or nil if any fails (release then
// reads them again once the event is logged, and reports the error).
func (g *Gatekeeper) fetch(anchors []*cc.RecordAnchor) [][]byte {
	out := make([][]byte, len(anchors))
	for i, a := range anchors {
		b, err := g.version(a)
		if err != nil {
			return nil
		}
		out[i] = b
	}
	return out
}

func onlyOrg(ms []cc.Member, org string) []cc.Member {
	for _, m := range ms {
		if m.Org == org {
			return []cc.Member{m}
		}
	}
	return nil
}

// logItem is one event for the access log.
type logItem struct {
	Read    access.SignedRead `json:"read"`
	Records []string          `json:"records"`
}

// accessLogger batches the access events of concurrent reads into
// access.log transactions. One flusher takes what is pending (after
// gathering for interval, at most maxBatch events) and submits it; since
// submit holds the node key only until the mempool accepts, the next batch
// can follow in the same block. A read waits about one block.
//
// The gathering interval is 10 ms: a few percent of a 200 ms block, so a
// read rarely misses the block it would have made, while a transaction
// carries ~2–3 times more events than at 2 ms (16 rather than 6–7 at
// ~3,500 reads/s), and the per-transaction work (signing, the signature
// check, the mempool's bookkeeping) is shared by more reads.
type accessLogger struct {
	g        *Gatekeeper
	interval time.Duration
	maxBatch int

	mu      sync.Mutex
	pending []pendingEvent
	wake    chan struct{} // signalled when pending becomes non-empty

	// prep bounds how many reads prepare their answers at once while a
	// block executes: one core fewer than the process has, so the
	// consensus goroutine executing the block keeps one.
	prep chan struct{}
	// prepared counts the reads that prepared their answer before their
	// block's outcome arrived.
	prepared atomic.Uint64
}

type pendingEvent struct {
	item     logItem
	done     chan logOutcome
	included chan struct{} // closed when a block holding the event begins executing
}

type logOutcome struct {
	ev     access.EventResult
	height int64
	err    error
}

func (g *Gatekeeper) logger() *accessLogger {
	g.loggerOnce.Do(func() {
		g.accessLog = &accessLogger{g: g, interval: 10 * time.Millisecond, maxBatch: 2000, wake: make(chan struct{}, 1),
			prep: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)-1))}
		go g.accessLog.run()
	})
	return g.accessLog
}

// log queues one event and waits for the transaction that carries it.
// When a block holding that transaction begins executing (and the chain
// can tell, see includer), prepare runs on the caller's goroutine — at most
// prep at a time, and only if the outcome has not arrived — so the work a
// read does after its commit overlaps the block's execution instead of
// delaying the next block's reads. prepare must not release anything.
func (l *accessLogger) log(ctx context.Context, it logItem, prepare func()) (access.EventResult, int64, error) {
	done := make(chan logOutcome, 1)
	included := make(chan struct{})
	l.mu.Lock()
	l.pending = append(l.pending, pendingEvent{item: it, done: done, included: included})
	first := len(l.pending) == 1
	l.mu.Unlock()
	if first {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	var inc <-chan struct{} = included
	if prepare == nil {
		inc = nil
	}
	for {
		select {
		case <-inc:
			inc = nil
			select {
			case l.prep <- struct{}{}:
				prepare()
				<-l.prep
				l.prepared.Add(1)
			case o := <-done:
				return o.ev, o.height, o.err
			case <-ctx.Done():
				return access.EventResult{}, 0, errLogTimeout()
			}
		case o := <-done:
			return o.ev, o.height, o.err
		case <-ctx.Done():
			return access.EventResult{}, 0, errLogTimeout()
		}
	}
}

func errLogTimeout() error {
	return cc.Errorf("read", cc.Unavailable, "the access log did not commit in time; nothing was released")
}

// run is the flusher: it lives as long as the process (a gatekeeper is
// created once per custodian).
func (l *accessLogger) run() {
	for range l.wake {
		time.Sleep(l.interval)
		for {
			l.mu.Lock()
			n := l.fits()
			batch := l.pending[:n:n]
			l.pending = l.pending[n:]
			l.mu.Unlock()
			if n == 0 {
				break
			}
			l.flush(batch)
		}
	}
}

// maxLogBytes keeps an access.log transaction well under the ledger's
// transaction size limit (tx.MaxTxBytes).
const maxLogBytes = 768 << 10

// fits returns how many pending events (l.mu held) the next transaction
// takes: at most maxBatch events, access.MaxRecordsPerTx records and about
// maxLogBytes, and at least one.
func (l *accessLogger) fits() int {
	records, size := 0, 0
	for i, p := range l.pending {
		r := len(p.item.Records)
		sz := len(p.item.Read.Request) + len(p.item.Read.Sig) + 64
		for _, id := range p.item.Records {
			sz += len(id) + 3
		}
		if i > 0 && (i >= l.maxBatch || records+r > access.MaxRecordsPerTx || size+sz > maxLogBytes) {
			return i
		}
		records, size = records+r, size+sz
	}
	return len(l.pending)
}

// flush submits one access.log transaction and answers its waiters once
// it is committed (in a goroutine, so the next batch can be submitted
// meanwhile).
func (l *accessLogger) flush(batch []pendingEvent) {
	items := make([]logItem, len(batch))
	for i, p := range batch {
		items[i] = p.item
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	raw, done, err := l.g.signWith(ctx, l.g.buildLog(items))
	if err != nil {
		cancel()
		answer(batch, cc.SubmitResult{}, err)
		return
	}
	p, ok := l.g.cfg.Chain.(pipeliner)
	if !ok {
		res := l.g.cfg.Chain.Submit(ctx, [][]byte{raw}, true)[0]
		done(res.Accepted && res.Height > 0)
		cancel()
		answer(batch, res, nil)
		return
	}
	// Registered before the transaction can reach a block.
	var inc <-chan struct{}
	forget := func() {}
	if in, ok := l.g.cfg.Chain.(includer); ok {
		inc, forget = in.WhenIncluded(sha256.Sum256(raw))
	}
	checked, wait := p.SubmitThen(ctx, raw)
	done(checked.Accepted)
	if wait == nil {
		forget()
		cancel()
		answer(batch, checked, nil)
		return
	}
	go func() {
		defer cancel()
		if inc != nil {
			// A committed transaction's block always began executing
			// first, so this ends before its outcome arrives.
			select {
			case <-inc:
				for _, p := range batch {
					close(p.included)
				}
			case <-ctx.Done():
			}
			forget()
		}
		answer(batch, wait(ctx), nil)
	}()
}

// answer hands each waiter of batch its event's outcome from res.
func answer(batch []pendingEvent, res cc.SubmitResult, err error) {
	var data struct {
		Events []access.EventResult `json:"events"`
	}
	if err == nil && (!res.Accepted || res.Height == 0) {
		k := cc.KindFromCode(res.Code)
		if res.Code == 0 {
			k = cc.Unavailable
		}
		err = &cc.Error{Op: access.TypeLog, Kind: k, Msg: trimLog(res.Log)}
	}
	if err == nil {
		if jerr := json.Unmarshal(res.Data, &data); jerr != nil || len(data.Events) != len(batch) {
			err = cc.Errorf("read", cc.Internal, "access.log result has %d events for %d reads", len(data.Events), len(batch))
		}
	}
	for i, p := range batch {
		if err != nil {
			p.done <- logOutcome{err: err}
			continue
		}
		p.done <- logOutcome{ev: data.Events[i], height: res.Height}
	}
}

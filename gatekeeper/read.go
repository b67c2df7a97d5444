package gatekeeper

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/consent"
	"carechain/identity"
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

// decision decides a requester's access to one patient's records with the
// committed state: the facts are loaded once.
type decision struct {
	req   cc.AccessRequest
	facts consent.Facts
}

func (d *decision) allow(a *cc.RecordAnchor) bool {
	d.req.Record = *a
	return consent.Can(d.req, d.facts).Allow
}

// decider loads what the consent decision needs for req.
func (g *Gatekeeper) decider(ctx context.Context, req *access.ReadRequest) (*decision, error) {
	state := g.cfg.Chain.State()
	st, err := g.cfg.Chain.Status(ctx)
	if err != nil {
		return nil, err
	}
	orgs, err := identity.MembershipsOf(state, req.Requester)
	if err != nil {
		return nil, err
	}
	if req.Org != "" {
		orgs = onlyOrg(orgs, req.Org)
	}
	ar := cc.AccessRequest{Requester: req.Requester, Orgs: orgs, Action: req.Action, Purpose: req.Purpose,
		Record: cc.RecordAnchor{Patient: req.Patient}, Time: st.LatestBlockTime}
	facts, err := consent.Load(state, ar)
	if err != nil {
		return nil, err
	}
	return &decision{req: ar, facts: facts}, nil
}

// release logs one access event for ids (the records the event names) and
// then returns the versions of anchors from the vault. Only a "logged"
// event releases anything; otherwise the answer is NotFound.
func (g *Gatekeeper) release(ctx context.Context, sr access.SignedRead, ids []string, anchors []*cc.RecordAnchor) (*Release, error) {
	ev, height, err := g.logger().log(ctx, logItem{Read: sr, Records: ids})
	if err != nil {
		return nil, err
	}
	if ev.Status != access.StatusLogged {
		g.log.Info("read not logged", "status", ev.Status, "reason", ev.Reason)
		return nil, notFound()
	}
	out := &Release{Event: ev, Height: height}
	for _, a := range anchors {
		b, err := g.cfg.Vault.Get(a.ID, a.Version, a.ContentHash)
		if err != nil {
			return nil, err
		}
		out.Records = append(out.Records, Released{ID: a.ID, Version: a.Version, JSON: b, Anchor: a})
	}
	return out, nil
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

// accessLogger batches the access events of concurrent reads into one
// access.log transaction: a read waits at most one flush interval plus one
// block.
type accessLogger struct {
	g        *Gatekeeper
	interval time.Duration
	maxBatch int

	mu      sync.Mutex
	pending []pendingEvent
	timer   *time.Timer
}

type pendingEvent struct {
	item logItem
	done chan logOutcome
}

type logOutcome struct {
	ev     access.EventResult
	height int64
	err    error
}

func (g *Gatekeeper) logger() *accessLogger {
	g.loggerOnce.Do(func() {
		g.accessLog = &accessLogger{g: g, interval: 5 * time.Millisecond, maxBatch: 500}
	})
	return g.accessLog
}

// log queues one event and waits for the transaction that carries it.
func (l *accessLogger) log(ctx context.Context, it logItem) (access.EventResult, int64, error) {
	done := make(chan logOutcome, 1)
	l.mu.Lock()
	l.pending = append(l.pending, pendingEvent{item: it, done: done})
	switch {
	case len(l.pending) >= l.maxBatch:
		batch := l.take()
		l.mu.Unlock()
		go l.flush(batch)
	case l.timer == nil:
		l.timer = time.AfterFunc(l.interval, func() {
			l.mu.Lock()
			batch := l.take()
			l.mu.Unlock()
			l.flush(batch)
		})
		l.mu.Unlock()
	default:
		l.mu.Unlock()
	}
	select {
	case o := <-done:
		return o.ev, o.height, o.err
	case <-ctx.Done():
		return access.EventResult{}, 0, cc.Errorf("read", cc.Unavailable, "the access log did not commit in time; nothing was released")
	}
}

// take removes the pending batch (l.mu held).
func (l *accessLogger) take() []pendingEvent {
	b := l.pending
	l.pending = nil
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	return b
}

// flush commits one access.log transaction and answers its waiters.
func (l *accessLogger) flush(batch []pendingEvent) {
	if len(batch) == 0 {
		return
	}
	items := make([]logItem, len(batch))
	for i, p := range batch {
		items[i] = p.item
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := l.g.submit(ctx, access.TypeLog, map[string]any{"events": items})
	var data struct {
		Events []access.EventResult `json:"events"`
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

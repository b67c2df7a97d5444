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

// Released is one record version handed to a requester.
type Released struct {
	ID      string          `json:"id"`
	Version int             `json:"version"`
	JSON    json.RawMessage `json:"resource"`
}

// Release is the answer to a read: the records and the committed access
// event that logged them.
type Release struct {
	Records []Released         `json:"records"`
	Event   access.EventResult `json:"event"`
	Height  int64              `json:"height"`
}

// notFound is the one answer for "missing" and "not allowed": a denied
// record must look exactly like a record that does not exist.
func notFound() error { return cc.Errorf("read", cc.NotFound, "no such record") }

// Read releases the records a requester's signed read names, in order:
// the signature is verified; each record must be held by this custodian,
// belong to the request's patient and be allowed by the committed consent
// state (else NotFound — the same answer as a missing record); then the
// access event is committed on the ledger (which decides again, in the
// block) and only a "logged" event releases the data. An erased record the
// requester may see answers Gone.
func (g *Gatekeeper) Read(ctx context.Context, sr access.SignedRead) (*Release, error) {
	state := g.cfg.Chain.State()
	req, _, err := access.VerifyRead(state, sr)
	if err != nil {
		return nil, err
	}
	if req.Action != "read" || len(req.Records) == 0 {
		return nil, cc.Errorf("read", cc.Invalid, "a read names its records (action \"read\")")
	}
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
	anchors := make([]*cc.RecordAnchor, len(req.Records))
	for i, id := range req.Records {
		a, err := records.GetAnchor(state, id)
		if err != nil || a.Patient != req.Patient || a.Org != g.cfg.Org {
			return nil, notFound()
		}
		ar := cc.AccessRequest{Requester: req.Requester, Orgs: orgs, Action: req.Action, Purpose: req.Purpose, Record: *a, Time: st.LatestBlockTime}
		facts, err := consent.Load(state, ar)
		if err != nil {
			return nil, err
		}
		if !consent.Can(ar, facts).Allow {
			return nil, notFound()
		}
		if a.Erased {
			return nil, cc.Errorf("read", cc.Gone, "%s was erased at the patient's request", id)
		}
		anchors[i] = a
	}
	ev, height, err := g.logger().log(ctx, logItem{Read: sr, Records: req.Records})
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
		out.Records = append(out.Records, Released{ID: a.ID, Version: a.Version, JSON: b})
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

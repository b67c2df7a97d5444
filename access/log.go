package access

import (
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	cc "carechain"
	"carechain/consent"
	"carechain/identity"
	"carechain/records"
)

// Limits of the access log.
const (
	// MaxEventsPerTx is the most events one access.log transaction may carry.
	MaxEventsPerTx = 5000
	// MaxEventRecords is the most records one event may release.
	MaxEventRecords = 1000
	// MaxRecordsPerTx is the most records all events of one transaction
	// may release together.
	MaxRecordsPerTx = 20000
	// MaxRefLen is the longest basis reference the gatekeeper may claim.
	MaxRefLen = 200
	// ReadWindow is how far a request's Issued time may lie from the block
	// time, either way, for the request to be logged.
	ReadWindow = 10 * time.Minute
)

// The statuses of an event in an access.log result. The gatekeeper releases
// the records of "logged" events only.
const (
	StatusLogged  = "logged"  // the access event is committed
	StatusDenied  = "denied"  // the committed consent state does not allow it (or a record is erased)
	StatusInvalid = "invalid" // the signed read or its records do not hold up
	StatusStale   = "stale"   // the request was issued more than ReadWindow from the block time
	StatusReplay  = "replay"  // the request was logged before
)

// LoggedRequest is the requester's signed read as the ledger keeps it with
// the access event, so that neither the reader nor the custodian can later
// deny the read: Read verifies (VerifyRead) with the requester's key of the
// time, and its hash is the event's Request.
type LoggedRequest struct {
	Event   string     `json:"event"` // access event id
	Patient cc.DID     `json:"patient"`
	Height  int64      `json:"height"`
	Read    SignedRead `json:"read"`
}

// logPayload is the payload of "access.log"; each element of Events is a
// logItem, decoded strictly on its own.
type logPayload struct {
	Events []json.RawMessage `json:"events"`
}

// logItem is one event of an access.log payload: the requester's signed
// read, the records the gatekeeper will release, and the basis and
// reference it decided on (informative: the ledger decides again and
// records its own decision).
type logItem struct {
	Read    json.RawMessage `json:"read"`
	Records []string        `json:"records"`
	Basis   cc.Basis        `json:"basis"`
	Ref     string          `json:"ref"`
}

// EventResult is the outcome of one event of an access.log transaction, in
// payload order, in the Data {"events": […]}. ID is the access event id
// ("acc-" + 32 hex digits of the request hash) whenever the signature
// verified; Basis and Ref are the ledger's decision for logged events;
// Reason is a short code for the gatekeeper's log (never for the requester).
type EventResult struct {
	ID     string   `json:"id,omitempty"`
	Status string   `json:"status"`
	Basis  cc.Basis `json:"basis,omitempty"`
	Ref    string   `json:"ref,omitempty"`
	Reason string   `json:"reason,omitempty"`
}

// logResult is the Data of an access.log transaction.
type logResult struct {
	Events []EventResult `json:"events"`
}

// EventID returns the access event id of a request hash.
func EventID(requestHash []byte) string {
	h := hex.EncodeToString(requestHash)
	return "acc-" + h[:min(32, len(h))]
}

// AccessLog returns patient's access log, newest first.
func AccessLog(kv cc.Reader, patient cc.DID) ([]cc.AccessEvent, error) {
	out := []cc.AccessEvent{}
	if !patient.Valid() {
		return out, nil
	}
	if err := iterateJSON(kv, eventsPrefix(patient), func(e cc.AccessEvent) { out = append(out, e) }); err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}

// GetLoggedRequest returns the signed read whose request hash is hash (an
// AccessEvent's Request), cc.NotFound if none was logged.
func GetLoggedRequest(kv cc.Reader, hash []byte) (*LoggedRequest, error) {
	var r LoggedRequest
	found, err := cc.GetJSON(kv, requestKey(hash), &r)
	if err != nil {
		return nil, err
	}
	if !found || len(hash) == 0 {
		return nil, cc.Errorf("access.request", cc.NotFound, "no logged request %x", hash)
	}
	return &r, nil
}

// logEvent is one decoded event with the anchors of its records (nil for
// an unknown record), read from the state of this execution; they are
// the process's shared decoded anchors (records.SharedAnchor): read-only.
type logEvent struct {
	*parsedEvent
	anchors []*cc.RecordAnchor
}

// decodeLog decodes and checks an access.log payload (cc.Malformed,
// cc.Invalid; parseLog, whose result is reused between CheckTx and
// FinalizeBlock), reads the anchors of its records and authorizes the
// signer for each existing record's custodian organization, or, when no
// record exists, as the node of some active organization
// (cc.Unauthorized). Everything after parseLog reads the state of kv.
func decodeLog(op string, ctx cc.TxContext, kv cc.Reader, payload []byte) ([]logEvent, error) {
	parsed, err := parseLog(op, payload)
	if err != nil {
		return nil, err
	}
	evs := make([]logEvent, len(parsed))
	for i := range parsed {
		evs[i].parsedEvent = &parsed[i]
	}
	nodeOf := map[string]bool{} // custodian org → the signer has the node role there
	for i := range evs {
		evs[i].anchors = make([]*cc.RecordAnchor, len(evs[i].records))
		for j, id := range evs[i].records {
			a, err := records.SharedAnchor(kv, id) // read-only: decide only reads anchors
			if cc.Is(cc.NotFound, err) {
				continue
			}
			if err != nil {
				return nil, cc.E(op, cc.Internal, err)
			}
			evs[i].anchors[j] = a
			ok, seen := nodeOf[a.Org]
			if !seen {
				if ok, err = identity.HasRole(kv, a.Org, ctx.Signer, cc.RoleNode); err != nil {
					return nil, cc.E(op, cc.Internal, err)
				}
				nodeOf[a.Org] = ok
			}
			if !ok {
				return nil, cc.Errorf(op, cc.Unauthorized, "events[%d]: %s is not the node of %q, the custodian of %s", i, ctx.Signer, a.Org, id)
			}
		}
	}
	if len(nodeOf) == 0 {
		// No record exists, so no custodian vouches for the signer: it
		// must at least be some active organization's node.
		ok, err := isSomeNode(kv, ctx.Signer)
		if err != nil {
			return nil, cc.E(op, cc.Internal, err)
		}
		if !ok {
			return nil, cc.Errorf(op, cc.Unauthorized, "%s is no organization's node", ctx.Signer)
		}
	}
	return evs, nil
}

// isSomeNode reports whether d has the node role in an active organization.
func isSomeNode(kv cc.Reader, d cc.DID) (bool, error) {
	ms, err := identity.MembershipsOf(kv, d)
	if err != nil {
		return false, err
	}
	for _, m := range ms {
		if !slices.Contains(m.Roles, cc.RoleNode) {
			continue
		}
		if ok, err := identity.HasRole(kv, m.Org, d, cc.RoleNode); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// validBasis reports whether b is one of the bases of an allowed access.
func validBasis(b cc.Basis) bool {
	switch b {
	case cc.BasisPatient, cc.BasisDelegate, cc.BasisAuthor, cc.BasisCustodian, cc.BasisConsent, cc.BasisAgreement, cc.BasisBreakGlass:
		return true
	}
	return false
}

// logDecision is the ledger's decision on one event.
type logDecision struct {
	EventResult
	hash  []byte
	event cc.AccessEvent
}

// decider decides the events of one access.log transaction. It remembers
// the request hashes logged earlier in the same transaction, so that a
// request repeated within one batch is a replay too.
type decider struct {
	op     string
	ctx    cc.TxContext
	kv     cc.Reader
	logged map[string]bool
	// members remembers memberships' answers within the transaction:
	// handleLog decides every event before it writes anything, so a
	// requester's memberships and their organizations read the same for
	// every event of the transaction.
	members map[membersKey]membersOf
}

type membersKey struct {
	requester cc.DID
	org       string
}

type membersOf struct {
	orgs []cc.Member
	org  string
}

// decide returns the ledger's decision on ev; only state read failures are
// errors (cc.Internal).
func (d *decider) decide(ev logEvent) (logDecision, error) {
	out := func(status, reason string) (logDecision, error) {
		return logDecision{EventResult: EventResult{Status: status, Reason: reason}}, nil
	}
	err := ev.parsed.verify(d.kv, ev.read.Sig)
	switch {
	case cc.Is(cc.Internal, err):
		return logDecision{}, cc.E(d.op, cc.Internal, err)
	case err != nil:
		return out(StatusInvalid, cc.KindOf(err).String())
	}
	req, hash := ev.parsed.req, ev.parsed.hash
	res := logDecision{EventResult: EventResult{ID: EventID(hash)}, hash: hash}
	set := func(status, reason string) (logDecision, error) {
		res.Status, res.Reason = status, reason
		return res, nil
	}
	if req.ChainID != d.ctx.ChainID {
		return set(StatusInvalid, "wrong_chain")
	}
	if skew := d.ctx.Time.Sub(req.Issued); skew > ReadWindow || skew < -ReadWindow {
		return set(StatusStale, "issued "+req.Issued.UTC().Format(time.RFC3339))
	}
	key := requestKey(hash)
	if d.logged[key] {
		return set(StatusReplay, "repeated in this transaction")
	}
	if b, err := d.kv.Get(key); err != nil {
		return logDecision{}, cc.E(d.op, cc.Internal, err)
	} else if b != nil {
		return set(StatusReplay, "logged before")
	}
	// A search that names no patient (a patient lookup by identifier)
	// releases Patient resources of one patient, whose event it is.
	patient := req.Patient
	if patient == "" && len(ev.anchors) > 0 && ev.anchors[0] != nil {
		patient = ev.anchors[0].Patient
	}
	for j, id := range ev.records {
		a := ev.anchors[j]
		switch {
		case req.Action == ActionRead && !slices.Contains(req.Records, id):
			return set(StatusInvalid, "not_requested")
		case a == nil:
			return set(StatusInvalid, "unknown_record")
		case a.Patient != patient || patient == "":
			return set(StatusInvalid, "other_patient")
		case req.Patient == "" && a.Type != "Patient":
			return set(StatusInvalid, "not_a_patient_lookup")
		case a.Erased:
			return set(StatusDenied, "erased")
		}
	}
	orgs, org, err := d.memberships(req)
	if err != nil {
		return logDecision{}, err
	}
	if orgs == nil {
		return set(StatusInvalid, "not_member")
	}
	// consent.Load reads what depends on the record's patient, the
	// requester and its organizations only, the same for every record of
	// this event, so the facts are loaded once per event.
	// Every record is the patient's (checked above), so a patient's own
	// read is decided without them (consent.ByPatient).
	areq := cc.AccessRequest{Requester: req.Requester, Orgs: orgs, Action: req.Action, Purpose: req.Purpose, Record: *ev.anchors[0], Time: d.ctx.Time}
	var facts consent.Facts
	if !consent.ByPatient(areq) {
		facts, err = consent.Load(d.kv, areq)
		if cc.Is(cc.Internal, err) {
			return logDecision{}, cc.E(d.op, cc.Internal, err)
		}
		if err != nil {
			return set(StatusDenied, "consent_state")
		}
	}
	var refs []string
	bases := make([]cc.Basis, len(ev.anchors))
	for j, a := range ev.anchors {
		areq.Record = *a
		dec := consent.Can(areq, facts)
		if !dec.Allow {
			return set(StatusDenied, "not_allowed")
		}
		bases[j] = dec.Basis
		if dec.Ref != "" && !slices.Contains(refs, dec.Ref) {
			refs = append(refs, dec.Ref)
		}
	}
	basis := bases[0]
	for _, b := range bases[1:] {
		if b != basis {
			basis = cc.BasisMixed
			break
		}
	}
	if basis != cc.BasisMixed {
		bases = nil
	}
	res.Basis, res.Ref = basis, strings.Join(refs, ",")
	if basis == cc.BasisBreakGlass && org == "" && len(refs) == 1 {
		if w, err := GetBreakGlass(d.kv, refs[0]); err == nil {
			org = w.Org
		} else if !cc.Is(cc.NotFound, err) {
			return logDecision{}, cc.E(d.op, cc.Internal, err)
		}
	}
	res.event = cc.AccessEvent{
		ID: res.ID, Patient: patient, Accessor: req.Requester, Org: org, Records: ev.records,
		Action: req.Action, Purpose: req.Purpose, Basis: basis, Bases: bases, Ref: res.Ref,
		BreakGlass: basis == cc.BasisBreakGlass || slices.Contains(bases, cc.BasisBreakGlass), Request: hash, Height: d.ctx.Height, Time: d.ctx.Time.UTC(),
	}
	d.logged[key] = true
	return set(StatusLogged, "")
}

// memberships returns the memberships that count for req and the
// organization the event names. With req.Org, that membership only (nil
// if the requester is not a member of it or it is not active); without,
// the memberships of active organizations (empty, not nil, for a patient
// or delegate), and the organization if there is exactly one.
//
// The answer is shared by the events of one transaction with the same
// requester and organization (see decider.members): read-only.
func (d *decider) memberships(req *ReadRequest) ([]cc.Member, string, error) {
	k := membersKey{req.Requester, req.Org}
	if m, ok := d.members[k]; ok {
		return m.orgs, m.org, nil
	}
	orgs, org, err := d.readMemberships(req)
	if err != nil {
		return nil, "", err
	}
	if d.members == nil {
		d.members = map[membersKey]membersOf{}
	}
	d.members[k] = membersOf{orgs, org}
	return orgs, org, nil
}

// readMemberships is memberships read from the state.
func (d *decider) readMemberships(req *ReadRequest) ([]cc.Member, string, error) {
	all, err := identity.MembershipsOf(d.kv, req.Requester)
	if err != nil {
		return nil, "", cc.E(d.op, cc.Internal, err)
	}
	active := []cc.Member{}
	for _, m := range all {
		o, err := identity.GetOrg(d.kv, m.Org)
		if err != nil {
			return nil, "", cc.E(d.op, cc.Internal, err)
		}
		if !o.Active {
			continue
		}
		if req.Org == m.Org {
			return []cc.Member{m}, m.Org, nil
		}
		active = append(active, m)
	}
	switch {
	case req.Org != "":
		return nil, "", nil
	case len(active) == 1:
		return active, active[0].Org, nil
	}
	return active, "", nil
}

// mayNotify reports whether an event of evs could be logged as a
// break-glass read, and so notify its patient: only a request that parsed
// and whose purpose of use allows break-glass access can
// (consent.MayBreakGlass); an event whose request did not parse is
// "invalid" in every state.
func mayNotify(evs []logEvent) bool {
	for _, ev := range evs {
		if ev.parsed.err == nil && consent.MayBreakGlass(ev.parsed.req.Purpose) {
			return true
		}
	}
	return false
}

// admitUndecided reports whether handleLog, in CheckTx (ctx.Check), may
// admit the transaction of evs without deciding its events: when none of
// them may be a break-glass read (mayNotify). It is then admitted once
// decodeLog passes — payload shape and limits, record ids, and the
// signer's node role for every existing record's custodian — without
// deciding its events or writing them to the mempool state. FinalizeBlock
// decides every event and gives it a status; with no break-glass read it
// can fail the transaction only where decodeLog would (the same checks,
// on the block's state) or on an internal error (a state read), which is
// also all a full CheckTx could have caught: the per-block notification
// cap is reached only by break-glass reads, and those transactions are
// still checked in full. So a transaction CheckTx admits here is as sure
// to succeed in its block as one it decided in full, and the gatekeeper's
// pipelined node sequence stays valid.
//
// What the mempool state misses by this, the events and logged requests
// (access/ev/, access/req/), only handleLog reads, and only for the status
// of events (replay), never to fail a transaction; CheckTx's statuses are
// discarded anyway (the gatekeeper answers from FinalizeBlock's).
func admitUndecided(ctx cc.TxContext, evs []logEvent) bool {
	return ctx.Check && !mayNotify(evs)
}

// handleLog applies "access.log" {events: [{read: SignedRead, records:
// [ids released], basis?, ref?}]}: 1..MaxEventsPerTx events that the
// custodian's gatekeeper commits before it releases any data.
//
// The signer must have the node role in the (active) custodian
// organization of every existing record of every event (and in some active
// organization when no record exists), else the whole transaction is
// cc.Unauthorized; a payload of the wrong shape is
// cc.Malformed, bad record lists or claimed bases cc.Invalid. Otherwise
// the transaction succeeds and each event, in order, gets a status:
// "invalid" if its signed read does not verify (VerifyRead), is for another
// chain, names a record the read did not ask for (action read), an unknown
// record or another patient's record, or names an organization the
// requester is not a member of; "stale" if issued more than ReadWindow from
// the block time; "replay" if the request was logged before (or earlier in
// this transaction); "denied" if a record is erased or consent.Can, run on
// the committed state for each record, denies one; else "logged" (with
// basis "mixed" and the basis of each record when they differ): the cc.AccessEvent is written at
// access/ev/{patient}/{height}/{id}, the signed read at access/req/{hash},
// and for a break-glass read the patient is notified.
func handleLog(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeLog
	evs, err := decodeLog(op, ctx, kv, payload)
	if err != nil {
		return cc.Result{}, err
	}
	if admitUndecided(ctx, evs) {
		return cc.Result{}, nil
	}
	d := &decider{op: op, ctx: ctx, kv: kv, logged: map[string]bool{}}
	decisions := make([]logDecision, len(evs))
	notices := map[cc.DID]int{} // break-glass notices per patient (a count, never iterated)
	var order []cc.DID          // patients to notify, in event order
	for i, ev := range evs {
		if decisions[i], err = d.decide(ev); err != nil {
			return cc.Result{}, err
		}
		if e := decisions[i].event; decisions[i].Status == StatusLogged && e.BreakGlass {
			if notices[e.Patient] == 0 {
				order = append(order, e.Patient)
			}
			notices[e.Patient]++
		}
	}
	for _, p := range order {
		n, err := records.NotificationsInBlock(kv, p, ctx.Height)
		if err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		if n+notices[p] > records.MaxNotificationsPerBlock {
			return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "%s would receive more than %d notifications in block %d; retry in a later block", p, records.MaxNotificationsPerBlock, ctx.Height)
		}
	}
	res := logResult{Events: make([]EventResult, len(decisions))}
	counts := map[string]int{}
	for i, dec := range decisions {
		res.Events[i] = dec.EventResult
		counts[dec.Status]++
		if dec.Status != StatusLogged {
			continue
		}
		e := dec.event
		if err := cc.SetJSON(kv, eventKey(e.Patient, e.Height, e.ID), e); err != nil {
			return cc.Result{}, err
		}
		lr := LoggedRequest{Event: e.ID, Patient: e.Patient, Height: e.Height, Read: evs[i].read}
		if err := cc.SetJSON(kv, requestKey(dec.hash), lr); err != nil {
			return cc.Result{}, err
		}
		if e.BreakGlass {
			text := "Emergency (break-glass) access: " + string(e.Accessor)
			if e.Org != "" {
				text += " of " + e.Org
			}
			text += " read " + strconv.Itoa(len(e.Records)) + " of your records for " + e.Purpose + " under window " + e.Ref
			if _, err := records.Notify(kv, ctx, e.Patient, records.NoticeBreakGlassRead, e.ID, text); err != nil {
				return cc.Result{}, err
			}
		}
	}
	data, err := cc.ResultData(op, res)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op,
			"signer", string(ctx.Signer),
			"events", strconv.Itoa(len(decisions)),
			StatusLogged, strconv.Itoa(counts[StatusLogged]),
			StatusDenied, strconv.Itoa(counts[StatusDenied]),
			StatusInvalid, strconv.Itoa(counts[StatusInvalid]),
			StatusStale, strconv.Itoa(counts[StatusStale]),
			StatusReplay, strconv.Itoa(counts[StatusReplay]))},
		Data: data,
	}, nil
}

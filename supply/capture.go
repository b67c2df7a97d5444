package supply

import (
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	cc "carechain"
	"carechain/identity"
)

// captureRoles are the member roles with which a member captures supply
// events for its organization.
var captureRoles = []cc.Role{cc.RoleLogistics, cc.RolePharmacist, cc.RolePhysician, cc.RoleNurse, cc.RoleNode}

// StoredEvent is an accepted event as the ledger keeps it.
type StoredEvent struct {
	Event
	Org    string `json:"org"`
	Signer cc.DID `json:"signer"`
	Height int64  `json:"height"`
	TxHash string `json:"tx_hash"`
	Index  int    `json:"index"` // in the transaction
}

// Rejection is an event of a successful capture that was rejected as a
// fraud signal (see the package documentation).
type Rejection struct {
	Event  int      `json:"event"`
	Kind   string   `json:"kind"` // cc.Kind name: conflict, not_found
	Reason string   `json:"reason"`
	Alerts []string `json:"alerts"` // the EPCs with a fraud alert
}

// CaptureResult is the Data of a supply.capture transaction.
type CaptureResult struct {
	Count    int         `json:"count"`
	Accepted int         `json:"accepted"`
	Rejected []Rejection `json:"rejected"`
	Height   int64       `json:"height"`
	// Quarantined lists the reported EPCs whose temperature reports
	// quarantined items (see Excursion), in order.
	Quarantined []string `json:"quarantined,omitempty"`
}

// handleCapture applies "supply.capture" {org, events: [Event…]}: 1 to
// MaxEventsPerTx events captured by organization org, in order, each seeing
// the effects of the ones before it.
//
// Authorization: the signer must be a member of the active organization
// org with role logistics, pharmacist, physician, nurse or node, else
// cc.Unauthorized. Field violations are cc.Invalid naming events[i].
//
// Custody rules, by event:
//   - ObjectEvent ADD (commissioning): creates each EPC held by org,
//     status active, with lot, expiry and biz_location. An EPC that exists
//     is a fraud signal (recommission, kind conflict).
//   - ObjectEvent OBSERVE, biz_step shipping: the destination organization
//     is the first owning_party (else possessing_party) destination, an
//     organization id or "org:<id>" (cc.Invalid otherwise, cc.NotFound if
//     unknown). Only the owner ships (cc.Unauthorized); an item in transit
//     cannot ship (cc.FailedPrecondition). Items and everything packed in
//     them become in_transit to the destination; the shipper stays owner.
//   - ObjectEvent OBSERVE, biz_step receiving: only the organization the
//     item is in transit to receives it (cc.FailedPrecondition); it becomes
//     the owner, status received, location biz_location. An unknown EPC is
//     a fraud signal (unknown_receipt, kind not_found).
//   - ObjectEvent DELETE, or biz_step decommissioning: the owner ends the
//     item (status decommissioned); any later event on it is cc.Gone.
//   - Shipping or receiving an item packed in a container moves it with
//     the container, which must be listed in the same event
//     (cc.FailedPrecondition otherwise).
//   - AggregationEvent ADD/DELETE: packs/unpacks child_epcs into/out of
//     parent_id (see pack and unpack); OBSERVE checks the container.
//   - Any other ObjectEvent OBSERVE: the owner observes its items (location
//     and disposition are updated).
//   - TransformationEvent: every input_epcs item must be live and held by
//     org, not in transit, quarantined or recalled (cc.FailedPrecondition)
//     and not a container holding items; each is decommissioned with
//     disposition "transformed". Each output_epcs item is then
//     commissioned to org like an ObjectEvent ADD (same recommission
//     fraud signal, which rejects the whole event), with the event's lot,
//     expiry, disposition and biz_location.
//   - TransactionEvent, AssociationEvent and class-level events (see the
//     package documentation): recorded without custody effect.
//
// A missing EPC is cc.NotFound, a decommissioned one cc.Gone.
// Commissioning with an expiry before the block date is cc.Invalid, into
// a recalled lot cc.FailedPrecondition (for the outputs of a
// TransformationEvent too). After each accepted event its
// temperature reports apply (see the package documentation, Cold chain).
//
// Writes the changed items sup/i/{epc}, new lot masters sup/lot/, the
// last-report times sup/lr/, each accepted event
// sup/ev/{height}/{tx hash}/{idx}, each fraud alert
// sup/fraud/{height}/{idx} and each excursion sup/exc/{height}/{idx};
// emits a supply.capture event, one supply.excursion event per excursion
// and one supply.fraud event per alert; Data is a CaptureResult. In
// CheckTx (ctx.Check) it applies every rule and buffers every write except
// the stored events sup/ev/, which no transition reads (the read model
// reads them from committed state); the decoded payload is kept for the
// transaction's FinalizeBlock (see decodedCaptures).
func handleCapture(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeCapture
	d, checked, err := decodeCapture(ctx, payload)
	if err != nil {
		if err := checkExpiry(ctx, checked); err != nil {
			return cc.Result{}, err
		}
		return cc.Result{}, err
	}
	if err := checkExpiry(ctx, d.events); err != nil {
		return cc.Result{}, err
	}
	p := struct{ Org string }{d.org}
	events := d.events
	allowed := false
	for _, r := range captureRoles {
		has, err := identity.HasRole(kv, p.Org, ctx.Signer, r)
		if err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		if has {
			allowed = true
			break
		}
	}
	if !allowed {
		return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s may not capture supply events for %q (needs a logistics, pharmacist, physician, nurse or node role in an active organization)", ctx.Signer, p.Org)
	}

	orgs := map[string]bool{}
	c := &capture{op: op, org: p.Org, height: ctx.Height, st: newState(kv),
		orgOK: func(org string) (bool, error) {
			if ok, seen := orgs[org]; seen {
				return ok, nil
			}
			_, err := identity.GetOrg(kv, org)
			if err != nil && !cc.Is(cc.NotFound, err) {
				return false, err
			}
			orgs[org] = err == nil
			return err == nil, nil
		}}
	c.ext.now = ctx.Time
	txHash := hex.EncodeToString(ctx.TxHash)
	if txHash == "" {
		txHash = "-"
	}
	blockTime := ctx.Time.UTC().Format(time.RFC3339Nano)
	res := CaptureResult{Count: len(events), Rejected: []Rejection{}, Height: ctx.Height}
	var alerts []FraudAlert
	var accepted []int
	for i := range events {
		out, err := c.event(i, &events[i])
		if err != nil {
			return cc.Result{}, err
		}
		if !out.rejected {
			if err := c.coldChain(i, &events[i]); err != nil {
				return cc.Result{}, err
			}
			accepted = append(accepted, i)
			continue
		}
		rej := Rejection{Event: i, Kind: out.kind.String(), Reason: out.reason, Alerts: []string{}}
		for _, a := range out.alerts {
			a.Org, a.Signer, a.Height, a.Time, a.Event, a.TxHash = p.Org, ctx.Signer, ctx.Height, blockTime, i, txHash
			alerts = append(alerts, a)
			rej.Alerts = append(rej.Alerts, a.EPC)
		}
		res.Rejected = append(res.Rejected, rej)
	}
	res.Accepted = len(accepted)

	// Every check has passed: write.
	first := 0
	if len(alerts) > 0 {
		n, err := countAlerts(kv, ctx.Height)
		if err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		first = n
	}
	if err := c.st.flush(kv); err != nil {
		return cc.Result{}, err
	}
	coldEvents, quarantined, err := c.ext.flush(kv, p.Org, ctx.Height, txHash, blockTime)
	if err != nil {
		return cc.Result{}, err
	}
	res.Quarantined = quarantined
	// An admission that wrote no time and whose time comparisons hold for
	// the rest of the day vouches for that window (cc.Result.SameFor), so
	// that FinalizeBlock may reuse it: every later block time t is at
	// least ctx.Time (the last block's), so no report dated up to ctx.Time
	// is clamped at t, and checkExpiry compares dates only.
	reusable := ctx.Check && !ctx.Time.IsZero() && len(alerts) == 0 && len(coldEvents) == 0 && len(quarantined) == 0 && !c.clamped
	for _, i := range accepted {
		if ctx.Check && !reusable {
			// Mempool admission: the stored events are read only from
			// committed state (EventsAt, by the read model), never by a
			// transition, so CheckTx does not encode them unless the
			// block may take this admission's writes.
			break
		}
		se := StoredEvent{Event: events[i], Org: p.Org, Signer: ctx.Signer, Height: ctx.Height, TxHash: txHash, Index: i}
		setStoredEvent(kv, &se)
	}
	result := cc.Result{Events: []cc.Event{cc.NewEvent("supply.capture",
		"org", p.Org, "events", strconv.Itoa(len(events)), "accepted", strconv.Itoa(res.Accepted),
		"rejected", strconv.Itoa(len(res.Rejected)))}}
	result.Events = append(result.Events, coldEvents...)
	for j, a := range alerts {
		if err := cc.SetJSON(kv, fraudKey(ctx.Height, first+j), a); err != nil {
			return cc.Result{}, err
		}
		result.Events = append(result.Events, cc.NewEvent("supply.fraud", "kind", a.Kind, "epc", a.EPC, "org", a.Org, "event", strconv.Itoa(a.Event)))
	}
	data, err := cc.ResultData(op, res)
	if err != nil {
		return cc.Result{}, err
	}
	result.Data = data
	if reusable {
		day := ctx.Time.UTC()
		result.SameFor = cc.TimeWindow{From: ctx.Time, Until: time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, time.UTC)}
	}
	return result, nil
}

// countAlerts returns how many fraud alerts the block at height has.
func countAlerts(kv cc.Reader, height int64) (int, error) {
	n := 0
	err := kv.Iterate(fraudBlockPrefix(height), func(string, []byte) bool { n++; return true })
	return n, err
}

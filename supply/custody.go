package supply

import (
	cc "carechain"
)

// The kinds of fraud alert.
const (
	FraudRecommission   = "recommission"    // an EPC commissioned twice
	FraudUnknownReceipt = "unknown_receipt" // an EPC received that was never commissioned
)

// FraudAlert is a recorded fraud signal, visible to the regulator.
type FraudAlert struct {
	Kind   string `json:"kind"`
	EPC    string `json:"epc"`
	Org    string `json:"org"`    // the capturing organization
	Signer cc.DID `json:"signer"` // who signed the capture
	Height int64  `json:"height"`
	Time   string `json:"time"`  // block time, RFC 3339
	Event  int    `json:"event"` // index of the event in the transaction
	TxHash string `json:"tx_hash"`
	Reason string `json:"reason"`
}

// outcome is the result of one event: applied, or rejected as a fraud
// signal with alerts.
type outcome struct {
	rejected bool
	kind     cc.Kind
	reason   string
	alerts   []FraudAlert // Kind, EPC and Reason set
}

// capture applies the events of one transaction to a state.
type capture struct {
	op     string
	org    string
	height int64
	st     *state
	orgOK  func(org string) (bool, error)
	ext    extras // buffered lots and cold-chain effects
	// clamped records that a temperature report was dated after the
	// context's time (and counted at that time instead).
	clamped bool
}

// errf is a custody error of events[i].
func (c *capture) errf(kind cc.Kind, i int, format string, args ...any) error {
	return cc.Errorf(c.op, kind, "events[%d]: "+format, append([]any{i}, args...)...)
}

// internal wraps a failing read.
func (c *capture) internal(err error) error { return cc.E(c.op, cc.Internal, err) }

// live returns the item of epc, which must exist (cc.NotFound) and not be
// decommissioned (cc.Gone).
func (c *capture) live(i int, epc string) (*Item, error) {
	it, err := c.st.get(epc)
	if err != nil {
		return nil, c.internal(err)
	}
	if it == nil {
		return nil, c.errf(cc.NotFound, i, "EPC %s was never commissioned", epc)
	}
	if it.Status == StatusDecommissioned {
		return nil, c.errf(cc.Gone, i, "EPC %s was decommissioned", epc)
	}
	return it, nil
}

// owned checks that the capturing organization holds it and that it is not
// in transit.
func (c *capture) owned(i int, it *Item, verb string) error {
	if it.Owner != c.org {
		return c.errf(cc.Unauthorized, i, "%s may not %s EPC %s: it is in the custody of %s", c.org, verb, it.EPC, it.Owner)
	}
	if custodyStatus(it) == StatusInTransit {
		return c.errf(cc.FailedPrecondition, i, "cannot %s EPC %s: it is in transit to %s", verb, it.EPC, it.InTransitTo)
	}
	if it.Status == StatusQuarantined {
		return c.errf(cc.FailedPrecondition, i, "cannot %s EPC %s: it is quarantined", verb, it.EPC)
	}
	return nil
}

// ancestorListed reports whether a container of it (at any depth) is in
// listed, so that it moves with that container.
func (c *capture) ancestorListed(it *Item, listed map[string]bool) (bool, error) {
	for d, p := 0, it.Parent; p != "" && d < maxWalk; d++ {
		if listed[p] {
			return true, nil
		}
		pi, err := c.st.get(p)
		if err != nil || pi == nil {
			return false, err
		}
		p = pi.Parent
	}
	return false, nil
}

// subtree calls fn on it and everything packed in it, depth first in
// children order.
func (c *capture) subtree(it *Item, fn func(*Item)) error {
	stack := []*Item{it}
	for len(stack) > 0 {
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		fn(top)
		c.st.put(top)
		for j := len(top.Children) - 1; j >= 0; j-- {
			ch, err := c.st.get(top.Children[j])
			if err != nil {
				return c.internal(err)
			}
			if ch != nil {
				stack = append(stack, ch)
			}
		}
	}
	return nil
}

// event applies events[i]. A returned error fails the transaction; a
// rejected outcome is a fraud signal.
func (c *capture) event(i int, ev *Event) (outcome, error) {
	switch {
	case ev.Type == TransformationEvent:
		return c.transform(i, ev)
	case ev.classLevel():
		return outcome{}, c.recorded(i, ev)
	case ev.Type == ObjectEvent:
		step := ev.BizStep
		switch {
		case ev.Action == ActionAdd:
			if step == StepShipping || step == StepReceiving || step == StepDecommissioning {
				return outcome{}, c.errf(cc.Invalid, i, "an ObjectEvent ADD commissions; biz_step %s needs action OBSERVE", step)
			}
			return c.commission(i, ev)
		case ev.Action == ActionDelete || step == StepDecommissioning:
			if step == StepShipping || step == StepReceiving {
				return outcome{}, c.errf(cc.Invalid, i, "an ObjectEvent DELETE decommissions; biz_step %s needs action OBSERVE", step)
			}
			return outcome{}, c.decommission(i, ev)
		case step == StepShipping:
			return outcome{}, c.ship(i, ev)
		case step == StepReceiving:
			return c.receive(i, ev)
		default:
			return outcome{}, c.observe(i, ev)
		}
	case ev.Type == AggregationEvent:
		switch ev.Action {
		case ActionAdd:
			return outcome{}, c.pack(i, ev)
		case ActionDelete:
			return outcome{}, c.unpack(i, ev)
		default:
			p, err := c.live(i, ev.ParentID)
			if err != nil {
				return outcome{}, err
			}
			if p.Owner != c.org {
				return outcome{}, c.errf(cc.Unauthorized, i, "%s may not observe EPC %s: it is in the custody of %s", c.org, p.EPC, p.Owner)
			}
			return outcome{}, nil
		}
	}
	return outcome{}, c.recorded(i, ev)
}

// recorded checks an event without custody effect (TransactionEvent,
// AssociationEvent, class-level events): nothing it names may be
// decommissioned (cc.Gone).
func (c *capture) recorded(i int, ev *Event) error {
	for _, list := range [][]string{ev.EPCs, ev.ChildEPCs, {ev.ParentID}} {
		for _, epc := range list {
			if epc == "" {
				continue
			}
			it, err := c.st.get(epc)
			if err != nil {
				return c.internal(err)
			}
			if it != nil && it.Status == StatusDecommissioned {
				return c.errf(cc.Gone, i, "EPC %s was decommissioned", epc)
			}
		}
	}
	return nil
}

// commission creates the items of an ObjectEvent ADD (see commissionEPCs).
func (c *capture) commission(i int, ev *Event) (outcome, error) {
	if out, err := c.recommissions(i, ev.EPCs); err != nil || out.rejected {
		return out, err
	}
	return outcome{}, c.commissionEPCs(i, ev, ev.EPCs)
}

// recommissions checks the EPCs an event commissions. An EPC that exists
// already (in any status) is a fraud signal: the event is rejected with
// cc.Conflict and an alert per such EPC. The one exception is a container
// that packing created (Item.Container) and that its creator still holds:
// commissioning it afterwards (SSCCs are often commissioned after packing)
// only records its lot, expiry and disposition.
func (c *capture) recommissions(i int, epcs []string) (outcome, error) {
	var out outcome
	for _, epc := range epcs {
		it, err := c.st.get(epc)
		if err != nil {
			return outcome{}, c.internal(err)
		}
		if it != nil && it.Container && it.CommissionedBy == c.org && it.Owner == c.org &&
			(it.Status == StatusActive || it.Status == StatusReceived) {
			continue // a container created by packing, commissioned afterwards by its creator
		}
		if it != nil {
			reason := cc.Errorf(c.op, cc.Conflict, "events[%d]: EPC %s was already commissioned by %s at height %d", i, epc, it.CommissionedBy, it.CommissionedAt).Error()
			if !out.rejected {
				out = outcome{rejected: true, kind: cc.Conflict, reason: reason}
			}
			out.alerts = append(out.alerts, FraudAlert{Kind: FraudRecommission, EPC: epc, Reason: reason})
		}
	}
	return out, nil
}

// commissionEPCs creates epcs, which recommissions accepted, held by the
// capturer, status active, with the event's lot, expiry, disposition and
// biz_location (noting the lot master, see noteLot).
func (c *capture) commissionEPCs(i int, ev *Event, epcs []string) error {
	for _, epc := range epcs {
		if err := c.noteLot(i, epc, ev); err != nil {
			return err
		}
		if it, _ := c.st.get(epc); it != nil {
			it.Container, it.UpdatedAt = false, c.height
			if ev.Lot != "" {
				it.Lot = ev.Lot
			}
			if ev.Expiry != "" {
				it.Expiry = ev.Expiry
			}
			if ev.Disposition != "" {
				it.Disposition = ev.Disposition
			}
			c.st.put(it)
			continue
		}
		c.st.put(&Item{
			EPC: epc, Owner: c.org, Status: StatusActive, Location: ev.BizLocation,
			Lot: ev.Lot, Expiry: ev.Expiry, Disposition: ev.Disposition,
			CommissionedAt: c.height, CommissionedBy: c.org, UpdatedAt: c.height,
		})
	}
	return nil
}

// decommission ends the EPCs of the event (see endable and end), with
// the event's disposition.
func (c *capture) decommission(i int, ev *Event) error {
	for _, epc := range ev.EPCs {
		it, err := c.endable(i, epc, "decommission")
		if err != nil {
			return err
		}
		if err := c.end(it, ev.Disposition); err != nil {
			return err
		}
	}
	return nil
}

// endable returns the item of epc if the capturer may end it: it is live
// (cc.NotFound, cc.Gone), held by the capturer (cc.Unauthorized), not in
// transit or quarantined and not a container that still holds items
// (cc.FailedPrecondition).
func (c *capture) endable(i int, epc, verb string) (*Item, error) {
	it, err := c.live(i, epc)
	if err != nil {
		return nil, err
	}
	if err := c.owned(i, it, verb); err != nil {
		return nil, err
	}
	if len(it.Children) > 0 {
		return nil, c.errf(cc.FailedPrecondition, i, "cannot %s EPC %s: it still holds %d packed items (unpack them first)", verb, epc, len(it.Children))
	}
	return it, nil
}

// end decommissions it, with disposition unless that is empty. A
// decommissioned item leaves its container.
func (c *capture) end(it *Item, disposition string) error {
	if it.Parent != "" {
		p, err := c.st.get(it.Parent)
		if err != nil {
			return c.internal(err)
		}
		if p != nil {
			p.Children = remove(p.Children, it.EPC)
			p.UpdatedAt = c.height
			c.st.put(p)
		}
		it.Parent = ""
	}
	it.Status, it.UpdatedAt = StatusDecommissioned, c.height
	if disposition != "" {
		it.Disposition = disposition
	}
	c.st.put(it)
	return nil
}

// observe checks an ObjectEvent OBSERVE without a custody step: the items
// exist, are not decommissioned and are held by the capturer; it updates
// their location and disposition.
func (c *capture) observe(i int, ev *Event) error {
	for _, epc := range ev.EPCs {
		it, err := c.live(i, epc)
		if err != nil {
			return err
		}
		if it.Owner != c.org {
			return c.errf(cc.Unauthorized, i, "%s may not observe EPC %s: it is in the custody of %s", c.org, epc, it.Owner)
		}
		if ev.BizLocation != "" && custodyStatus(it) != StatusInTransit {
			it.Location = ev.BizLocation
		}
		setCustody(it, custodyStatus(it), ev.Disposition)
		it.UpdatedAt = c.height
		c.st.put(it)
	}
	return nil
}

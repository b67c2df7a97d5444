package supply

import (
	cc "carechain"
)

// destination returns the organization an event ships to: the first
// owning_party destination, else the first possessing_party one.
func (c *capture) destination(i int, ev *Event) (string, error) {
	var id string
	for _, typ := range []string{PartyOwning, PartyPossessing} {
		for _, d := range ev.Destinations {
			if d.Type == typ && id == "" {
				id = d.ID
			}
		}
	}
	if id == "" {
		return "", c.errf(cc.Invalid, i, "a shipping event needs a destination of type owning_party or possessing_party naming the receiving organization")
	}
	org, ok := PartyOrg(id)
	if !ok {
		return "", c.errf(cc.Invalid, i, "destination %q must be an organization id or \"org:<id>\"", cc.Echo(id))
	}
	exists, err := c.orgOK(org)
	if err != nil {
		return "", c.internal(err)
	}
	if !exists {
		return "", c.errf(cc.NotFound, i, "destination organization %s is not on the ledger", org)
	}
	return org, nil
}

// moveCheck checks the EPCs of a shipping or receiving event that are
// packed in a container: each must move with a container listed in the
// same event. It reports whether it moves with one.
func (c *capture) moveCheck(i int, it *Item, listed map[string]bool, verb string) (bool, error) {
	if it.Parent == "" {
		return false, nil
	}
	ok, err := c.ancestorListed(it, listed)
	if err != nil {
		return false, c.internal(err)
	}
	if !ok {
		return false, c.errf(cc.FailedPrecondition, i, "cannot %s EPC %s alone: it is packed in %s (%s the container, or unpack it first)", verb, it.EPC, it.Parent, verb)
	}
	return true, nil
}

// listedSet is the set of an event's EPCs.
func listedSet(epcs []string) map[string]bool {
	m := make(map[string]bool, len(epcs))
	for _, e := range epcs {
		m[e] = true
	}
	return m
}

// ship puts the EPCs of a shipping event, and everything packed in them,
// in transit to the destination organization. Only the owner ships
// (cc.Unauthorized); an item in transit or quarantined cannot be shipped
// (cc.FailedPrecondition).
func (c *capture) ship(i int, ev *Event) error {
	dest, err := c.destination(i, ev)
	if err != nil {
		return err
	}
	listed := listedSet(ev.EPCs)
	var top []*Item
	for _, epc := range ev.EPCs {
		it, err := c.live(i, epc)
		if err != nil {
			return err
		}
		withParent, err := c.moveCheck(i, it, listed, "ship")
		if err != nil {
			return err
		}
		if withParent {
			continue
		}
		if it.Owner != c.org {
			return c.errf(cc.Unauthorized, i, "only the custodian %s may ship EPC %s, not %s", it.Owner, epc, c.org)
		}
		if err := c.owned(i, it, "ship"); err != nil {
			return err
		}
		top = append(top, it)
	}
	for _, it := range top {
		if err := c.subtree(it, func(x *Item) {
			x.InTransitTo, x.UpdatedAt = dest, c.height
			setCustody(x, StatusInTransit, ev.Disposition)
		}); err != nil {
			return err
		}
	}
	return nil
}

// receive hands the EPCs of a receiving event, and everything packed in
// them, to the capturing organization. An EPC the ledger has never seen
// is a fraud signal (the event is rejected with cc.NotFound and an alert
// per unknown EPC); an EPC not in transit to the capturer is
// cc.FailedPrecondition.
func (c *capture) receive(i int, ev *Event) (outcome, error) {
	listed := listedSet(ev.EPCs)
	var top []*Item
	var unknown []string
	for _, epc := range ev.EPCs {
		it, err := c.st.get(epc)
		if err != nil {
			return outcome{}, c.internal(err)
		}
		if it == nil {
			unknown = append(unknown, epc)
			continue
		}
		if it.Status == StatusDecommissioned {
			return outcome{}, c.errf(cc.Gone, i, "EPC %s was decommissioned", epc)
		}
		withParent, err := c.moveCheck(i, it, listed, "receive")
		if err != nil {
			return outcome{}, err
		}
		if withParent {
			continue
		}
		if custodyStatus(it) != StatusInTransit || it.InTransitTo != c.org {
			where := "it is not in transit"
			if custodyStatus(it) == StatusInTransit {
				where = "it is in transit to " + it.InTransitTo
			}
			return outcome{}, c.errf(cc.FailedPrecondition, i, "%s cannot receive EPC %s: %s (no matching shipment)", c.org, epc, where)
		}
		top = append(top, it)
	}
	if len(unknown) > 0 {
		out := outcome{rejected: true, kind: cc.NotFound}
		for j, epc := range unknown {
			reason := cc.Errorf(c.op, cc.NotFound, "events[%d]: received EPC %s was never commissioned", i, epc).Error()
			if j == 0 {
				out.reason = reason
			}
			out.alerts = append(out.alerts, FraudAlert{Kind: FraudUnknownReceipt, EPC: epc, Reason: reason})
		}
		return out, nil
	}
	for _, it := range top {
		if err := c.subtree(it, func(x *Item) {
			x.Owner, x.InTransitTo, x.UpdatedAt = c.org, "", c.height
			setCustody(x, StatusReceived, ev.Disposition)
			if ev.BizLocation != "" {
				x.Location = ev.BizLocation
			}
		}); err != nil {
			return outcome{}, err
		}
	}
	return outcome{}, nil
}

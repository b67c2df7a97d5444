package supply

import (
	"slices"

	cc "carechain"
)

// The custody statuses of an item.
const (
	StatusActive         = "active"         // commissioned (or created by packing), with its owner
	StatusInTransit      = "in_transit"     // shipped to InTransitTo, still owned by the shipper
	StatusReceived       = "received"       // received by its owner
	StatusDecommissioned = "decommissioned" // ended; every later event on it is cc.Gone
	StatusQuarantined    = "quarantined"    // held after a cold-chain excursion (see coldchain.go)
)

// MaxChildren is the most EPCs one container may hold directly.
const MaxChildren = 5000

// maxWalk bounds a walk up the packing hierarchy. Packing never creates a
// cycle, so a walk ends at the top; the bound only guards against a
// corrupted state.
const maxWalk = 100000

// Item is the custody state of one EPC.
type Item struct {
	EPC            string   `json:"epc"`
	Owner          string   `json:"owner"` // organization id of the custodian
	Status         string   `json:"status"`
	InTransitTo    string   `json:"in_transit_to,omitempty"` // organization id, when Status is in_transit
	Location       string   `json:"location,omitempty"`      // last biz_location (SGLN or Digital Link /414/)
	Parent         string   `json:"parent,omitempty"`        // the container the item is packed in
	Children       []string `json:"children,omitempty"`      // the EPCs packed directly in it, sorted
	Lot            string   `json:"lot,omitempty"`
	Expiry         string   `json:"expiry,omitempty"` // YYYY-MM-DD
	Disposition    string   `json:"disposition,omitempty"`
	Container      bool     `json:"container,omitempty"`  // created by packing, not by commissioning
	DosesUsed      int      `json:"doses_used,omitempty"` // doses administered from it (see handleAdminister)
	CommissionedAt int64    `json:"commissioned_at"`
	CommissionedBy string   `json:"commissioned_by"`
	UpdatedAt      int64    `json:"updated_at"`

	// Cold chain and holds: see coldchain.go.
	ExcursionSeconds int64  `json:"excursion_seconds,omitempty"`
	PrevStatus       string `json:"prev_status,omitempty"`
	PrevDisposition  string `json:"prev_disposition,omitempty"`
}

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

// state buffers the items a transaction reads and writes, so that nothing
// is written before the whole transaction has been checked. Its maps are
// lookups only; flush writes in key order.
type state struct {
	kv    cc.Reader
	items map[string]*Item // nil: absent
	orig  map[string]Item  // the stored item as loaded, for the index updates of flush
	dirty map[string]bool
}

func newState(kv cc.Reader) *state {
	return &state{kv: kv, items: map[string]*Item{}, orig: map[string]Item{}, dirty: map[string]bool{}}
}

// get returns the buffered or stored item of epc, nil if there is none.
// The caller may change it and must then call put.
func (s *state) get(epc string) (*Item, error) {
	if it, ok := s.items[epc]; ok {
		return it, nil
	}
	var it Item
	found, err := cc.GetJSON(s.kv, itemKey(epc), &it)
	if err != nil {
		return nil, err
	}
	if !found {
		s.items[epc] = nil
		return nil, nil
	}
	s.orig[epc] = it
	s.items[epc] = &it
	return &it, nil
}

// put marks it to be written.
func (s *state) put(it *Item) {
	s.items[it.EPC] = it
	s.dirty[it.EPC] = true
}

// flush writes the changed items in key order, and keeps the indexes that
// derive from them (see indexItem) in step.
func (s *state) flush(kv cc.KV) error {
	keys := make([]string, 0, len(s.dirty))
	for epc := range s.dirty {
		keys = append(keys, epc)
	}
	slices.Sort(keys)
	for _, epc := range keys {
		it := s.items[epc]
		if err := cc.SetJSON(kv, itemKey(epc), it); err != nil {
			return err
		}
		var old *Item
		if o, ok := s.orig[epc]; ok {
			old = &o
		}
		if err := indexItem(kv, old, it); err != nil {
			return err
		}
	}
	return nil
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
	switch ev.Type {
	case ObjectEvent:
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
	case AggregationEvent:
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
	// TransactionEvent, AssociationEvent: recorded, no custody effect, but
	// nothing may refer to a decommissioned item.
	for _, list := range [][]string{ev.EPCs, ev.ChildEPCs, {ev.ParentID}} {
		for _, epc := range list {
			if epc == "" {
				continue
			}
			it, err := c.st.get(epc)
			if err != nil {
				return outcome{}, c.internal(err)
			}
			if it != nil && it.Status == StatusDecommissioned {
				return outcome{}, c.errf(cc.Gone, i, "EPC %s was decommissioned", epc)
			}
		}
	}
	return outcome{}, nil
}

// commission creates the items of an ObjectEvent ADD. An EPC that exists
// already (in any status) is a fraud signal: the event is rejected with
// cc.Conflict and an alert per such EPC. The one exception is a container
// that packing created (Item.Container) and that its creator still holds:
// commissioning it afterwards (SSCCs are often commissioned after packing)
// only records its lot, expiry and disposition.
func (c *capture) commission(i int, ev *Event) (outcome, error) {
	var out outcome
	for _, epc := range ev.EPCs {
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
	if out.rejected {
		return out, nil
	}
	for _, epc := range ev.EPCs {
		if err := c.noteLot(i, epc, ev); err != nil {
			return outcome{}, err
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
	return out, nil
}

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

// decommission ends the EPCs of the event: the owner only
// (cc.Unauthorized), not in transit and not a container that still holds
// items (cc.FailedPrecondition). A decommissioned item leaves its
// container.
func (c *capture) decommission(i int, ev *Event) error {
	for _, epc := range ev.EPCs {
		it, err := c.live(i, epc)
		if err != nil {
			return err
		}
		if err := c.owned(i, it, "decommission"); err != nil {
			return err
		}
		if len(it.Children) > 0 {
			return c.errf(cc.FailedPrecondition, i, "cannot decommission EPC %s: it still holds %d packed items (unpack them first)", epc, len(it.Children))
		}
		if it.Parent != "" {
			p, err := c.st.get(it.Parent)
			if err != nil {
				return c.internal(err)
			}
			if p != nil {
				p.Children = remove(p.Children, epc)
				p.UpdatedAt = c.height
				c.st.put(p)
			}
			it.Parent = ""
		}
		it.Status, it.UpdatedAt = StatusDecommissioned, c.height
		if ev.Disposition != "" {
			it.Disposition = ev.Disposition
		}
		c.st.put(it)
	}
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

// pack puts child_epcs into parent_id (AggregationEvent ADD). A parent the
// ledger does not know is created as a container held by the capturer.
// Children must exist (cc.NotFound), be live (cc.Gone) and held by the
// capturer (cc.Unauthorized), not be in transit (cc.FailedPrecondition)
// and not be packed in another container or contain the parent
// (cc.Conflict).
func (c *capture) pack(i int, ev *Event) error {
	p, err := c.st.get(ev.ParentID)
	if err != nil {
		return c.internal(err)
	}
	if p == nil {
		p = &Item{EPC: ev.ParentID, Owner: c.org, Status: StatusActive, Location: ev.BizLocation,
			Container: true, CommissionedAt: c.height, CommissionedBy: c.org}
	} else {
		if p.Status == StatusDecommissioned {
			return c.errf(cc.Gone, i, "container %s was decommissioned", p.EPC)
		}
		if err := c.owned(i, p, "pack into"); err != nil {
			return err
		}
	}
	// The parent's ancestors may not be packed into it.
	ancestors := map[string]bool{}
	for d, a := 0, p.Parent; a != "" && d < maxWalk; d++ {
		ancestors[a] = true
		ai, err := c.st.get(a)
		if err != nil {
			return c.internal(err)
		}
		if ai == nil {
			break
		}
		a = ai.Parent
	}
	for _, epc := range ev.ChildEPCs {
		ch, err := c.live(i, epc)
		if err != nil {
			return err
		}
		if err := c.owned(i, ch, "pack"); err != nil {
			return err
		}
		if ch.Parent != "" && ch.Parent != p.EPC {
			return c.errf(cc.Conflict, i, "EPC %s is already packed in %s (unpack it first)", epc, ch.Parent)
		}
		if ancestors[epc] {
			return c.errf(cc.Conflict, i, "EPC %s contains %s, so it cannot be packed into it", epc, p.EPC)
		}
	}
	for _, epc := range ev.ChildEPCs {
		ch, _ := c.st.get(epc)
		if ch.Parent == p.EPC {
			continue
		}
		ch.Parent, ch.UpdatedAt = p.EPC, c.height
		c.st.put(ch)
		j, _ := slices.BinarySearch(p.Children, epc)
		p.Children = slices.Insert(p.Children, j, epc)
	}
	if len(p.Children) > MaxChildren {
		return c.errf(cc.FailedPrecondition, i, "container %s would hold more than %d items", p.EPC, MaxChildren)
	}
	p.UpdatedAt = c.height
	c.st.put(p)
	return nil
}

// unpack takes child_epcs (all children when empty) out of parent_id
// (AggregationEvent DELETE). The container must be live and held by the
// capturer; a listed child must be packed in it (cc.FailedPrecondition).
func (c *capture) unpack(i int, ev *Event) error {
	p, err := c.live(i, ev.ParentID)
	if err != nil {
		return err
	}
	if err := c.owned(i, p, "unpack"); err != nil {
		return err
	}
	children := ev.ChildEPCs
	if len(children) == 0 {
		children = slices.Clone(p.Children)
	}
	for _, epc := range children {
		if _, ok := slices.BinarySearch(p.Children, epc); !ok {
			return c.errf(cc.FailedPrecondition, i, "EPC %s is not packed in %s", epc, p.EPC)
		}
	}
	for _, epc := range children {
		ch, err := c.st.get(epc)
		if err != nil {
			return c.internal(err)
		}
		p.Children = remove(p.Children, epc)
		if ch != nil {
			ch.Parent, ch.UpdatedAt = "", c.height
			if ev.BizLocation != "" {
				ch.Location = ev.BizLocation
			}
			c.st.put(ch)
		}
	}
	if len(p.Children) == 0 {
		p.Children = nil
	}
	p.UpdatedAt = c.height
	c.st.put(p)
	return nil
}

// remove returns sorted without epc.
func remove(sorted []string, epc string) []string {
	if j, ok := slices.BinarySearch(sorted, epc); ok {
		sorted = slices.Delete(sorted, j, j+1)
	}
	if len(sorted) == 0 {
		return nil
	}
	return sorted
}

package supply

import (
	"slices"

	cc "carechain"
)

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

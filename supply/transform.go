package supply

import (
	cc "carechain"
)

// DispositionTransformed is the disposition of an item a
// TransformationEvent consumed.
const DispositionTransformed = "transformed"

// transform applies a TransformationEvent: its inputs are consumed and
// its outputs created.
//
// Every input EPC must be one the capturer may end (see endable: live,
// held by the capturer, not in transit, quarantined or recalled
// (cc.FailedPrecondition), not a container holding items). An output EPC
// that exists already is a recommission fraud signal, as for an
// ObjectEvent ADD: the event is rejected on its own (nothing is consumed)
// with an alert per such EPC. Otherwise each input is decommissioned with
// disposition "transformed" (the event's disposition is that of the
// outputs, as in EPCIS) and each output is commissioned to the capturer
// like an ObjectEvent ADD, with the event's lot, expiry, disposition and
// biz_location. Input and output quantities (classes) have no custody
// effect.
func (c *capture) transform(i int, ev *Event) (outcome, error) {
	inputs := make([]*Item, 0, len(ev.InputEPCs))
	for _, epc := range ev.InputEPCs {
		it, err := c.endable(i, epc, "transform")
		if err != nil {
			return outcome{}, err
		}
		if it.Status == StatusRecalled {
			return outcome{}, c.errf(cc.FailedPrecondition, i, "cannot transform EPC %s: it is recalled", epc)
		}
		inputs = append(inputs, it)
	}
	if out, err := c.recommissions(i, ev.OutputEPCs); err != nil || out.rejected {
		return out, err
	}
	for _, it := range inputs {
		if err := c.end(it, DispositionTransformed); err != nil {
			return outcome{}, err
		}
	}
	return outcome{}, c.commissionEPCs(i, ev, ev.OutputEPCs)
}

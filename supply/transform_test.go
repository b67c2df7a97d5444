package supply

import (
	"maps"
	"slices"
	"strings"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

// transformEv is a TransformationEvent of inputs into outputs, with
// overrides (nil deletes a field).
func transformEv(inputs, outputs []string, set obj) obj {
	fields := obj{"action": nil, "input_epcs": inputs, "output_epcs": outputs,
		"lot": "LOT-T1", "expiry": "2027-03-31", "disposition": "active", "biz_location": mfgSite}
	maps.Copy(fields, set)
	return ev(TransformationEvent, "", "commissioning", fields)
}

// TestTransformation: the inputs are consumed (decommissioned, leaving
// their container), the outputs commissioned to the capturer with the
// event's lot and expiry; quantities and the transformation id are kept.
func TestTransformation(t *testing.T) {
	e := baseEnv(t)
	qty := []obj{{"class": "urn:epc:class:lgtin:0614141.107346.LOT-A1", "quantity": "2.5", "uom": "KGM"}}
	r := e.mustCapture(t, mfg, "pharma-co", transformEv([]string{sgtin("v3"), sgtin("v1")}, []string{sgtin("t1"), sgtin("t2")},
		obj{"input_quantities": qty, "output_quantities": qty, "transformation_id": "urn:epc:id:gdti:0614141.12345.400"}))
	if r.Accepted != 1 || len(r.Rejected) != 0 {
		t.Fatalf("result %+v", r)
	}
	want := map[string]Item{
		sgtin("v3"):  {Owner: "pharma-co", Status: StatusDecommissioned, Disposition: DispositionTransformed, Lot: "LOT-A1", Expiry: "2027-06-30"},
		sgtin("v1"):  {Owner: "pharma-co", Status: StatusDecommissioned, Disposition: DispositionTransformed, Lot: "LOT-A1", Expiry: "2027-06-30"},
		sgtin("t1"):  {Owner: "pharma-co", Status: StatusActive, Disposition: "active", Lot: "LOT-T1", Expiry: "2027-03-31", Location: mfgSite},
		sgtin("t2"):  {Owner: "pharma-co", Status: StatusActive, Disposition: "active", Lot: "LOT-T1", Expiry: "2027-03-31", Location: mfgSite},
		sscc("1001"): {Owner: "pharma-co", Status: StatusActive, Parent: sscc("2001"), Children: []string{sgtin("v2")}},
	}
	for epc, w := range want {
		it := e.item(t, epc)
		if it.Owner != w.Owner || it.Status != w.Status || it.Disposition != w.Disposition || it.Lot != w.Lot ||
			it.Expiry != w.Expiry || it.Parent != w.Parent || !slices.Equal(it.Children, w.Children) || w.Location != "" && it.Location != w.Location {
			t.Errorf("%s = %+v, want %+v", epc, *it, w)
		}
	}
	if lots, err := GetLot(e.kv, "LOT-T1"); err != nil || len(lots) != 1 || lots[0].GTIN != vialGTIN || lots[0].Org != "pharma-co" {
		t.Errorf("lot master LOT-T1 = %+v, %v", lots, err)
	}
	evs, err := Events(e.kv)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Type != TransformationEvent || last.Action != "" || !slices.Equal(last.InputEPCs, []string{sgtin("v3"), sgtin("v1")}) ||
		len(last.InputQuantities) != 1 || len(last.OutputQuantities) != 1 || last.OutputQuantities[0].Quantity != "2.5" ||
		last.TransformationID != "urn:epc:id:gdti:0614141.12345.400" {
		t.Errorf("stored event %+v", last)
	}
	// A consumed input is gone for every later event.
	wantRejected(t, e, mfg, TypeCapture, events(ship("distrib", sgtin("v3"))), cc.Gone, "decommissioned")

	// Class-level inputs and outputs only: recorded, no custody effect.
	before := cctest.Copy(e.kv)
	e.mustCapture(t, mfg, "pharma-co", transformEv(nil, nil, obj{"input_quantities": qty, "output_quantities": qty}))
	onlyEvents(t, before, e.kv)
}

// TestTransformationRejections: the custody rules of inputs and outputs
// and the shape of a TransformationEvent.
func TestTransformationRejections(t *testing.T) {
	e := recallEnv(t) // v1, v2 in c1; v3, u1 at pharma-co; v4 at distrib; v5 decommissioned
	e.mustCapture(t, mfg, "pharma-co", commission(sgtin("w1"), sgtin("w2"), sgtin("w3")), ship("distrib", sgtin("w2")),
		observeTemps([]obj{temp(at("07:00"), 5000), temp(at("07:50"), 20000)}, sgtin("w3")))
	if it := e.item(t, sgtin("w3")); it.Status != StatusQuarantined {
		t.Fatalf("w3 = %+v, want quarantined", *it)
	}
	recalled := e.fork()
	recalled.mustRun(t, mfg, TypeRecall, obj{"org": "pharma-co", "lot": "LOT-A1", "gtin": vialGTIN, "reason": "particles"})

	tr := func(in, out []string, set obj) obj { return events(transformEv(in, out, set)) }
	tests := []struct {
		name    string
		e       *env
		signer  *actor
		payload any
		kind    cc.Kind
		msg     string
	}{
		{"unknown input", e, mfg, tr([]string{sgtin("zz")}, []string{sgtin("t1")}, nil), cc.NotFound, sgtin("zz") + " was never commissioned"},
		{"decommissioned input", e, mfg, tr([]string{sgtin("v5")}, []string{sgtin("t1")}, nil), cc.Gone, sgtin("v5") + " was decommissioned"},
		{"foreign input", e, mfg, tr([]string{sgtin("v4")}, []string{sgtin("t1")}, nil), cc.Unauthorized, "may not transform EPC " + sgtin("v4")},
		{"input in transit", e, mfg, tr([]string{sgtin("w2")}, []string{sgtin("t1")}, nil), cc.FailedPrecondition, "in transit to distrib"},
		{"quarantined input", e, mfg, tr([]string{sgtin("w3")}, []string{sgtin("t1")}, nil), cc.FailedPrecondition, "quarantined"},
		{"recalled input", recalled, mfg, tr([]string{sgtin("v3")}, []string{sgtin("t1")}, obj{"lot": "LOT-T1"}), cc.FailedPrecondition, "it is recalled"},
		{"container input", e, mfg, tr([]string{sscc("1001")}, []string{sgtin("t1")}, nil), cc.FailedPrecondition, "unpack them first"},
		{"output into a recalled lot", recalled, mfg, tr([]string{sgtin("w1")}, []string{sgtin("t1")}, obj{"lot": "LOT-A1"}), cc.FailedPrecondition, "recalled"},
		{"expired output", e, mfg, tr([]string{sgtin("w1")}, []string{sgtin("t1")}, obj{"expiry": "2025-12-31"}), cc.Invalid, "expired stock"},
		{"with an action", e, mfg, tr([]string{sgtin("w1")}, []string{sgtin("t1")}, obj{"action": ActionAdd}), cc.Invalid, "has no action"},
		{"no inputs or outputs", e, mfg, tr(nil, nil, nil), cc.Invalid, "at least one input or output"},
		{"with epcs", e, mfg, tr([]string{sgtin("w1")}, nil, obj{"epcs": []string{sgtin("t1")}}), cc.Invalid, "not epcs"},
		{"input and output", e, mfg, tr([]string{sgtin("w1")}, []string{sgtin("w1")}, nil), cc.Invalid, "listed twice"},
		{"bad output", e, mfg, tr(nil, []string{"urn:epc:idpat:sgtin:0614141.107346.*"}, nil), cc.Invalid, "EPC"},
		{"bad transformation id", e, mfg, tr(nil, []string{sgtin("t1")}, obj{"transformation_id": "a b"}), cc.Invalid, "transformation_id"},
		{"inputs on an ObjectEvent", e, mfg, events(ev(ObjectEvent, ActionObserve, "", obj{"epcs": []string{sgtin("w1")}, "input_epcs": []string{sgtin("v3")}})), cc.Invalid, "belong to a TransformationEvent"},
		{"good then bad", e, mfg, events(transformEv([]string{sgtin("w1")}, []string{sgtin("t1")}, nil), ship("clinic", sgtin("w1"))), cc.Gone, "events[1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantRejected(t, tc.e, tc.signer, TypeCapture, tc.payload, tc.kind, tc.msg)
		})
	}

	// An output that exists is a recommission: the event alone is
	// rejected with an alert and consumes nothing.
	r := e.mustCapture(t, mfg, "pharma-co", transformEv([]string{sgtin("w1")}, []string{sgtin("t1"), sgtin("v3")}, nil), commission(sgtin("n1")))
	if r.Accepted != 1 || len(r.Rejected) != 1 || r.Rejected[0].Kind != "conflict" || !slices.Equal(r.Rejected[0].Alerts, []string{sgtin("v3")}) {
		t.Fatalf("result %+v", r)
	}
	if it := e.item(t, sgtin("w1")); it.Status != StatusActive {
		t.Errorf("the input of a rejected transformation was consumed: %+v", *it)
	}
	if _, err := GetItem(e.kv, sgtin("t1")); !cc.Is(cc.NotFound, err) {
		t.Errorf("the output of a rejected transformation exists: %v", err)
	}
}

// onlyEvents checks that from before to after only stored events were
// written (no custody effect).
func onlyEvents(t *testing.T, before, after cc.Reader) {
	t.Helper()
	d := cctest.Diff(before, after)
	if d == "" {
		t.Errorf("nothing was recorded")
	}
	for _, line := range strings.Split(strings.TrimSpace(d), "\n") {
		if !strings.Contains(line, prefixEvent) {
			t.Errorf("a class-level event changed %s", line)
		}
	}
}

// TestClassLevelEvents: events that count classes (quantities,
// child_quantities) and list no instance EPCs where their custody effect
// would be are recorded without custody effect; naming instance EPCs too
// applies the instance rules.
func TestClassLevelEvents(t *testing.T) {
	e := baseEnv(t)
	qty := []obj{{"class": "urn:epc:class:lgtin:0614141.107346.LOT-A1", "quantity": "200"}}
	tests := []struct {
		name string
		ev   obj
	}{
		{"object add", ev(ObjectEvent, ActionAdd, StepCommissioning, obj{"quantities": qty, "lot": "LOT-Q", "expiry": "2020-01-01"})},
		{"object shipping without a destination", ev(ObjectEvent, ActionObserve, StepShipping, obj{"quantities": qty})},
		{"object receiving", ev(ObjectEvent, ActionObserve, StepReceiving, obj{"quantities": qty})},
		{"object delete", ev(ObjectEvent, ActionDelete, "", obj{"quantities": qty})},
		{"object add with shipping", ev(ObjectEvent, ActionAdd, StepShipping, obj{"quantities": qty})},
		{"transaction", ev(TransactionEvent, ActionAdd, "", obj{"quantities": qty})},
		{"aggregation add into an unknown parent", ev(AggregationEvent, ActionAdd, "packing", obj{"parent_id": sscc("1009"), "child_quantities": qty})},
		{"aggregation add into a foreign parent", ev(AggregationEvent, ActionAdd, "packing", obj{"parent_id": sgtin("v7"), "child_quantities": qty})},
		{"aggregation delete", ev(AggregationEvent, ActionDelete, "unpacking", obj{"parent_id": sscc("1001"), "child_quantities": qty})},
		{"aggregation observe", ev(AggregationEvent, ActionObserve, "", obj{"parent_id": sscc("1009"), "child_quantities": qty})},
		{"association", ev(AssociationEvent, ActionAdd, "", obj{"parent_id": sscc("1009"), "child_quantities": qty})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := e.fork()
			before := cctest.Copy(f.kv)
			r := f.mustCapture(t, mfg, "pharma-co", tc.ev)
			if r.Accepted != 1 {
				t.Fatalf("result %+v", r)
			}
			onlyEvents(t, before, f.kv)
		})
	}
	// The instance rules still apply to what is named by instance.
	rejections := []struct {
		name string
		ev   obj
		kind cc.Kind
		msg  string
	}{
		{"no epcs or quantities", ev(ObjectEvent, ActionObserve, "", nil), cc.Invalid, "must list epcs or quantities"},
		{"aggregation add without children", ev(AggregationEvent, ActionAdd, "", obj{"parent_id": sscc("1009")}), cc.Invalid, "child_epcs or child_quantities"},
		{"epcs and quantities: foreign", ev(ObjectEvent, ActionObserve, StepShipping, obj{"epcs": []string{sgtin("v7")}, "quantities": qty,
			"destinations": []obj{{"type": PartyOwning, "id": "clinic"}}}), cc.Unauthorized, "only the custodian distrib"},
		{"child epcs and quantities: decommissioned", ev(AggregationEvent, ActionAdd, "packing", obj{"parent_id": sscc("1009"),
			"child_epcs": []string{sgtin("v6")}, "child_quantities": qty}), cc.Gone, "decommissioned"},
		{"class-level into a decommissioned parent", ev(AggregationEvent, ActionAdd, "packing", obj{"parent_id": sgtin("v6"), "child_quantities": qty}), cc.Gone, "decommissioned"},
		{"quantities on an aggregation", ev(AggregationEvent, ActionAdd, "", obj{"parent_id": sscc("1009"), "quantities": qty}), cc.Invalid, "not epcs or quantities"},
	}
	for _, tc := range rejections {
		t.Run(tc.name, func(t *testing.T) {
			wantRejected(t, e, mfg, TypeCapture, events(tc.ev), tc.kind, tc.msg)
		})
	}
}

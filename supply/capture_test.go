package supply

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

// baseEnv is the state most rule tests start from, all at pharma-co:
// vials v1…v4 and v9 commissioned; v1 and v2 packed in case c1, c1 packed
// in pallet p1; v5 shipped to distrib; v6 decommissioned; v7 owned by
// distrib (shipped and received); v8 in transit to the clinic from distrib.
func baseEnv(t testing.TB) *env {
	t.Helper()
	e := newEnv(t)
	e.mustCapture(t, mfg, "pharma-co",
		commission(sgtin("v1"), sgtin("v2"), sgtin("v3"), sgtin("v4"), sgtin("v5"), sgtin("v6"), sgtin("v7"), sgtin("v8"), sgtin("v9")),
		pack(sscc("1001"), sgtin("v1"), sgtin("v2")),
		pack(sscc("2001"), sscc("1001")),
		ship("distrib", sgtin("v5")),
		decommission(sgtin("v6")),
		ship("org:distrib", sgtin("v7"), sgtin("v8")),
	)
	e.mustCapture(t, dist, "distrib", receive(distSite, sgtin("v7"), sgtin("v8")))
	e.mustCapture(t, dist, "distrib", ship("clinic", sgtin("v8")))
	return e
}

func TestBaseState(t *testing.T) {
	e := baseEnv(t)
	want := map[string]Item{
		sgtin("v1"):  {Owner: "pharma-co", Status: StatusActive, Parent: sscc("1001")},
		sscc("1001"): {Owner: "pharma-co", Status: StatusActive, Parent: sscc("2001"), Children: []string{sgtin("v1"), sgtin("v2")}},
		sscc("2001"): {Owner: "pharma-co", Status: StatusActive, Children: []string{sscc("1001")}},
		sgtin("v5"):  {Owner: "pharma-co", Status: StatusInTransit, InTransitTo: "distrib"},
		sgtin("v6"):  {Owner: "pharma-co", Status: StatusDecommissioned},
		sgtin("v7"):  {Owner: "distrib", Status: StatusReceived},
		sgtin("v8"):  {Owner: "distrib", Status: StatusInTransit, InTransitTo: "clinic"},
	}
	for epc, w := range want {
		it := e.item(t, epc)
		if it.Owner != w.Owner || it.Status != w.Status || it.InTransitTo != w.InTransitTo || it.Parent != w.Parent || !slices.Equal(it.Children, w.Children) {
			t.Errorf("%s = %+v, want %+v", epc, *it, w)
		}
	}
	v1 := e.item(t, sgtin("v1"))
	if v1.Lot != "LOT-A1" || v1.Expiry != "2027-06-30" || v1.Location != mfgSite || v1.CommissionedBy != "pharma-co" || v1.CommissionedAt != 11 {
		t.Errorf("v1 = %+v", *v1)
	}
	if !e.item(t, sscc("1001")).Container {
		t.Error("c1 created by packing is not marked a container")
	}
	if loc := e.item(t, sgtin("v7")).Location; loc != distSite {
		t.Errorf("v7 location %q after receipt, want %q", loc, distSite)
	}
	if kids, err := Children(e.kv, sscc("2001")); err != nil || !slices.Equal(kids, []string{sscc("1001")}) {
		t.Errorf("Children(p1) = %v, %v", kids, err)
	}
	if p, err := ParentOf(e.kv, sgtin("v2")); err != nil || p != sscc("1001") {
		t.Errorf("ParentOf(v2) = %q, %v", p, err)
	}
	if _, err := GetItem(e.kv, sgtin("nope")); !cc.Is(cc.NotFound, err) {
		t.Errorf("GetItem(unknown) = %v, want not_found", err)
	}
	if _, err := GetItem(e.kv, "not an epc"); !cc.Is(cc.NotFound, err) {
		t.Errorf("GetItem(bad) = %v, want not_found", err)
	}
	evs, err := Events(e.kv)
	if err != nil || len(evs) != 8 {
		t.Fatalf("Events = %d, %v; want 8", len(evs), err)
	}
	if evs[0].Org != "pharma-co" || evs[0].Signer != mfg.did || evs[0].Height != 11 || evs[0].Lot != "LOT-A1" {
		t.Errorf("first stored event %+v", evs[0])
	}
}

// TestCaptureRejections: every rule violation fails the whole transaction
// with its kind, names the event and EPC, and changes nothing.
func TestCaptureRejections(t *testing.T) {
	base := baseEnv(t)
	long := strings.Repeat("9", 200)
	many := make([]obj, MaxEventsPerTx+1)
	for i := range many {
		many[i] = commission(sgtin("m" + string(rune('a'+i%26))))
	}
	tests := []struct {
		name    string
		signer  *actor
		payload any // obj events or a raw payload
		kind    cc.Kind
		msg     string
	}{
		// shape
		{"not an object", mfg, []byte(`[]`), cc.Malformed, "JSON object"},
		{"unknown field", mfg, []byte(`{"org":"pharma-co","events":[],"x":1}`), cc.Malformed, "x"},
		{"case variant field", mfg, []byte(`{"org":"pharma-co","events":[{"Type":"ObjectEvent"}]}`), cc.Malformed, "Type"},
		{"float temperature", mfg, obj{"org": "pharma-co", "events": []obj{ev(ObjectEvent, ActionObserve, "", obj{"epcs": []string{sgtin("v3")}, "sensors": []obj{{"type": "Temperature", "value_milli_c": 4.5}}})}}, cc.Malformed, "value_milli_c"},
		// fields
		{"bad org", mfg, obj{"org": "Pharma Co", "events": []obj{commission(sgtin("n1"))}}, cc.Invalid, "org"},
		{"no events", mfg, obj{"org": "pharma-co", "events": []obj{}}, cc.Invalid, "1 to 1000"},
		{"too many events", mfg, obj{"org": "pharma-co", "events": many}, cc.Invalid, "1 to 1000"},
		{"unknown type", mfg, events(ev("SensorEvent", ActionAdd, "", obj{"epcs": []string{sgtin("n1")}})), cc.Invalid, "events[0]: type"},
		{"transformation with an action", mfg, events(ev(TransformationEvent, ActionAdd, "", obj{"output_epcs": []string{sgtin("n1")}})), cc.Invalid, "has no action"},
		{"unknown action", mfg, events(ev(ObjectEvent, "UPDATE", "", obj{"epcs": []string{sgtin("n1")}})), cc.Invalid, "action"},
		{"bad time", mfg, events(commission(sgtin("n1")), ev(ObjectEvent, ActionAdd, "", obj{"epcs": []string{sgtin("n2")}, "event_time": "yesterday"})), cc.Invalid, "events[1]: event_time"},
		{"time without zone", mfg, events(ev(ObjectEvent, ActionAdd, "", obj{"epcs": []string{sgtin("n2")}, "event_time": "2026-01-05T09:00:00"})), cc.Invalid, "event_time"},
		{"empty epc", mfg, events(commission("")), cc.Invalid, "EPC"},
		{"class-level epc", mfg, events(commission("urn:epc:idpat:sgtin:0614141.107346.*")), cc.Invalid, "EPC"},
		{"sgtin two parts", mfg, events(commission("urn:epc:id:sgtin:0614141.107346")), cc.Invalid, "EPC"},
		{"sscc letters", mfg, events(commission("urn:epc:id:sscc:0614141.12a")), cc.Invalid, "EPC"},
		{"dl without serial", mfg, events(commission("https://id.gs1.org/01/09506000134352")), cc.Invalid, "EPC"},
		{"dl short gtin", mfg, events(commission("https://id.gs1.org/01/123/21/x")), cc.Invalid, "EPC"},
		{"epc too long", mfg, events(commission(sgtin(long))), cc.Invalid, "EPC"},
		{"epc twice", mfg, events(commission(sgtin("n1"), sgtin("n1"))), cc.Invalid, "listed twice"},
		{"object with parent", mfg, events(ev(ObjectEvent, ActionObserve, "", obj{"epcs": []string{sgtin("v3")}, "parent_id": sscc("1001")})), cc.Invalid, "no parent_id"},
		{"object without epcs", mfg, events(ev(ObjectEvent, ActionAdd, "", nil)), cc.Invalid, "must list epcs"},
		{"aggregation without parent", mfg, events(ev(AggregationEvent, ActionAdd, "", obj{"child_epcs": []string{sgtin("v3")}})), cc.Invalid, "parent_id"},
		{"aggregation add without children", mfg, events(ev(AggregationEvent, ActionAdd, "", obj{"parent_id": sscc("1009")})), cc.Invalid, "child_epcs"},
		{"parent is child", mfg, events(pack(sscc("1009"), sscc("1009"))), cc.Invalid, "also listed"},
		{"bad location", mfg, events(ev(ObjectEvent, ActionObserve, "", obj{"epcs": []string{sgtin("v3")}, "biz_location": "warehouse 7"})), cc.Invalid, "biz_location"},
		{"bad read point", mfg, events(ev(ObjectEvent, ActionObserve, "", obj{"epcs": []string{sgtin("v3")}, "read_point": "urn:epc:id:sgln:abc"})), cc.Invalid, "read_point"},
		{"bad biz step", mfg, events(ev(ObjectEvent, ActionObserve, "Shipping Now", obj{"epcs": []string{sgtin("v3")}})), cc.Invalid, "biz_step"},
		{"bad expiry", mfg, events(ev(ObjectEvent, ActionAdd, "", obj{"epcs": []string{sgtin("n1")}, "expiry": "30/06/2027"})), cc.Invalid, "expiry"},
		{"bad lot", mfg, events(ev(ObjectEvent, ActionAdd, "", obj{"epcs": []string{sgtin("n1")}, "lot": "LOT A"})), cc.Invalid, "lot"},
		{"sensor out of range", mfg, events(ev(ObjectEvent, ActionObserve, "", obj{"epcs": []string{sgtin("v3")}, "sensors": []obj{{"type": "Temperature", "value_milli_c": -300000}}})), cc.Invalid, "sensors[0]"},
		{"add with shipping", mfg, events(ev(ObjectEvent, ActionAdd, StepShipping, obj{"epcs": []string{sgtin("n1")}})), cc.Invalid, "needs action OBSERVE"},
		{"delete with receiving", mfg, events(ev(ObjectEvent, ActionDelete, StepReceiving, obj{"epcs": []string{sgtin("v3")}})), cc.Invalid, "needs action OBSERVE"},
		// authorization
		{"admin has no capture role", mfgAdmin, events(commission(sgtin("n1"))), cc.Unauthorized, "may not capture"},
		{"member of another org", dist, events(commission(sgtin("n1"))), cc.Unauthorized, "may not capture"},
		{"suspended org", shady, obj{"org": "gone-org", "events": []obj{commission(sgtin("n1"))}}, cc.Unauthorized, "may not capture"},
		{"unknown org", mfg, obj{"org": "nowhere", "events": []obj{commission(sgtin("n1"))}}, cc.Unauthorized, "may not capture"},
		// shipping
		{"ship by non-owner", dist, obj{"org": "distrib", "events": []obj{ship("clinic", sgtin("v3"))}}, cc.Unauthorized, "only the custodian pharma-co may ship EPC " + sgtin("v3")},
		{"ship in transit", mfg, events(ship("clinic", sgtin("v5"))), cc.FailedPrecondition, "in transit to distrib"},
		{"ship unknown", mfg, events(commission(sgtin("n1")), ship("clinic", sgtin("n2"))), cc.NotFound, "events[1]: EPC " + sgtin("n2") + " was never commissioned"},
		{"ship decommissioned", mfg, events(ship("clinic", sgtin("v6"))), cc.Gone, "decommissioned"},
		{"ship without destination", mfg, events(ev(ObjectEvent, ActionObserve, StepShipping, obj{"epcs": []string{sgtin("v3")}})), cc.Invalid, "destination"},
		{"ship to location only", mfg, events(ev(ObjectEvent, ActionObserve, StepShipping, obj{"epcs": []string{sgtin("v3")}, "destinations": []obj{{"type": "location", "id": distSite}}})), cc.Invalid, "destination"},
		{"ship to pgln", mfg, events(ship("urn:epc:id:pgln:0614141.00000", sgtin("v3"))), cc.Invalid, "org:<id>"},
		{"ship to unknown org", mfg, events(ship("org:nowhere", sgtin("v3"))), cc.NotFound, "nowhere"},
		{"ship packed child alone", mfg, events(ship("distrib", sgtin("v1"))), cc.FailedPrecondition, "packed in " + sscc("1001")},
		{"ship case inside pallet", mfg, events(ship("distrib", sscc("1001"))), cc.FailedPrecondition, "packed in " + sscc("2001")},
		// receiving
		{"receive by wrong org", nurse, obj{"org": "clinic", "events": []obj{receive(clinicSite, sgtin("v5"))}}, cc.FailedPrecondition, "in transit to distrib"},
		{"receive not shipped", dist, obj{"org": "distrib", "events": []obj{receive(distSite, sgtin("v3"))}}, cc.FailedPrecondition, "not in transit"},
		{"receive twice", dist, obj{"org": "distrib", "events": []obj{receive(distSite, sgtin("v7"))}}, cc.FailedPrecondition, "not in transit"},
		{"receive decommissioned", mfg, events(receive(mfgSite, sgtin("v6"))), cc.Gone, "decommissioned"},
		{"receive packed child alone", mfg, events(receive(mfgSite, sgtin("v1"))), cc.FailedPrecondition, "packed in"},
		// packing
		{"pack unknown child", mfg, events(pack(sscc("1009"), sgtin("v3"), sgtin("zz"))), cc.NotFound, sgtin("zz")},
		{"pack decommissioned", mfg, events(pack(sscc("1009"), sgtin("v6"))), cc.Gone, sgtin("v6")},
		{"pack foreign child", mfg, events(pack(sscc("1009"), sgtin("v7"))), cc.Unauthorized, "custody of distrib"},
		{"pack in transit", mfg, events(pack(sscc("1009"), sgtin("v5"))), cc.FailedPrecondition, "in transit"},
		{"pack packed elsewhere", mfg, events(pack(sscc("1009"), sgtin("v1"))), cc.Conflict, "already packed in " + sscc("1001")},
		{"pack into foreign container", dist, obj{"org": "distrib", "events": []obj{pack(sscc("1001"), sgtin("v7"))}}, cc.Unauthorized, "custody of pharma-co"},
		{"pack cycle", mfg, events(pack(sscc("1001"), sscc("2001"))), cc.Conflict, "contains"},
		{"pack into decommissioned", mfg, events(pack(sgtin("v6"), sgtin("v3"))), cc.Gone, "decommissioned"},
		// unpacking
		{"unpack not packed", mfg, events(unpack(sscc("1001"), sgtin("v3"))), cc.FailedPrecondition, "not packed in"},
		{"unpack unknown container", mfg, events(unpack(sscc("1009"))), cc.NotFound, sscc("1009")},
		{"unpack foreign", dist, obj{"org": "distrib", "events": []obj{unpack(sscc("1001"))}}, cc.Unauthorized, "custody of pharma-co"},
		// decommissioning and gone
		{"decommission foreign", dist, obj{"org": "distrib", "events": []obj{decommission(sgtin("v3"))}}, cc.Unauthorized, "custody of pharma-co"},
		{"decommission twice", mfg, events(decommission(sgtin("v6"))), cc.Gone, "events[0]: EPC " + sgtin("v6") + " was decommissioned"},
		{"decommission full container", mfg, events(decommission(sscc("1001"))), cc.FailedPrecondition, "unpack them first"},
		{"decommission in transit", mfg, events(decommission(sgtin("v5"))), cc.FailedPrecondition, "in transit"},
		{"delete is decommission", dist, obj{"org": "distrib", "events": []obj{ev(ObjectEvent, ActionDelete, "", obj{"epcs": []string{sgtin("v3")}})}}, cc.Unauthorized, "decommission"},
		{"observe decommissioned", mfg, events(ev(ObjectEvent, ActionObserve, "inspecting", obj{"epcs": []string{sgtin("v6")}})), cc.Gone, "decommissioned"},
		{"observe foreign", dist, obj{"org": "distrib", "events": []obj{ev(ObjectEvent, ActionObserve, "", obj{"epcs": []string{sgtin("v3")}})}}, cc.Unauthorized, "custody of pharma-co"},
		{"transaction event on decommissioned", mfg, events(ev(TransactionEvent, ActionAdd, "", obj{"epcs": []string{sgtin("v6")}})), cc.Gone, "decommissioned"},
		// all or nothing: a good event before a bad one writes nothing
		{"good then bad", mfg, events(commission(sgtin("n1")), pack(sscc("1009"), sgtin("n1")), ship("clinic", sgtin("v5"))), cc.FailedPrecondition, "events[2]"},
		// a fraud-signal event in a failing transaction records nothing either
		{"fraud then bad", mfg, events(commission(sgtin("v3")), ship("clinic", sgtin("v5"))), cc.FailedPrecondition, "events[1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &env{kv: cctest.Copy(base.kv), height: base.height, time: base.time}
			before := cctest.Copy(e.kv)
			_, err := e.apply(t, tc.signer, tc.payload)
			cctest.WantKind(t, err, tc.kind)
			if err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
			if d := cctest.Diff(before, e.kv); d != "" {
				t.Errorf("state changed:\n%s", d)
			}
		})
	}
}

// events wraps events as a pharma-co capture payload.
func events(evs ...obj) obj { return obj{"org": "pharma-co", "events": evs} }

// TestFraudAlerts: commissioning an existing EPC and receiving an unknown
// one reject that event only, record alerts and let the rest apply.
func TestFraudAlerts(t *testing.T) {
	e := baseEnv(t)
	r := e.mustCapture(t, mfg, "pharma-co",
		commission(sgtin("n1")),
		commission(sgtin("v3"), sgtin("n2"), sgtin("v6")), // v3 exists, v6 was decommissioned: both fraud
		commission(sgtin("n3")),
	)
	if r.Count != 3 || r.Accepted != 2 || len(r.Rejected) != 1 {
		t.Fatalf("result %+v", r)
	}
	rej := r.Rejected[0]
	if rej.Event != 1 || rej.Kind != "conflict" || !slices.Equal(rej.Alerts, []string{sgtin("v3"), sgtin("v6")}) || !strings.Contains(rej.Reason, sgtin("v3")) {
		t.Errorf("rejection %+v", rej)
	}
	if _, err := GetItem(e.kv, sgtin("n2")); !cc.Is(cc.NotFound, err) {
		t.Errorf("n2 of the rejected event was commissioned: %v", err)
	}
	e.item(t, sgtin("n1"))
	e.item(t, sgtin("n3"))
	if it := e.item(t, sgtin("v3")); it.CommissionedAt != 11 {
		t.Errorf("v3 was overwritten: %+v", it)
	}
	h1 := e.height

	res, err := e.capture(t, dist, "distrib", receive(distSite, sgtin("v5"), sgtin("ghost")))
	if err != nil {
		t.Fatal(err)
	}
	r = cctest.DecodeData[CaptureResult](t, res)
	if r.Accepted != 0 || len(r.Rejected) != 1 || r.Rejected[0].Kind != "not_found" || !slices.Equal(r.Rejected[0].Alerts, []string{sgtin("ghost")}) {
		t.Fatalf("result %+v", r)
	}
	if got := cctest.Attr(res, "supply.fraud", "kind"); got != FraudUnknownReceipt {
		t.Errorf("fraud event kind %q", got)
	}
	if it := e.item(t, sgtin("v5")); it.Status != StatusInTransit {
		t.Errorf("v5 received by a rejected event: %+v", it)
	}
	// Two alerts in one block get distinct indexes.
	e2 := &env{kv: cctest.Copy(e.kv), height: e.height - 1, time: e.time}
	e2.mustCapture(t, mfg, "pharma-co", commission(sgtin("v4")))
	alerts, err := FraudAlerts(e.kv)
	if err != nil {
		t.Fatal(err)
	}
	want := []FraudAlert{
		{Kind: FraudRecommission, EPC: sgtin("v3"), Org: "pharma-co", Signer: mfg.did, Height: h1, Event: 1},
		{Kind: FraudRecommission, EPC: sgtin("v6"), Org: "pharma-co", Signer: mfg.did, Height: h1, Event: 1},
		{Kind: FraudUnknownReceipt, EPC: sgtin("ghost"), Org: "distrib", Signer: dist.did, Height: h1 + 1, Event: 0},
	}
	if len(alerts) != len(want) {
		t.Fatalf("alerts %+v", alerts)
	}
	for i, w := range want {
		a := alerts[i]
		if a.Kind != w.Kind || a.EPC != w.EPC || a.Org != w.Org || a.Signer != w.Signer || a.Height != w.Height || a.Event != w.Event || a.Reason == "" || a.TxHash == "" || a.Time == "" {
			t.Errorf("alert %d = %+v, want %+v", i, a, w)
		}
	}
	all, _ := FraudAlerts(e2.kv)
	if len(all) != 4 || all[3].EPC != sgtin("v4") || all[3].Height != all[2].Height {
		t.Fatalf("same-block alerts %+v", all)
	}
	if keys := cctest.Keys(e2.kv, fraudBlockPrefix(all[3].Height)); len(keys) != 2 {
		t.Errorf("alert keys of the block %v", keys)
	}
}

// TestScenario: manufacturer → distributor → clinic with pack, ship,
// receive, unpack and decommission (administration).
func TestScenario(t *testing.T) {
	e := newEnv(t)
	vials := []string{sgtin("s1"), sgtin("s2"), sgtin("s3"), sgtin("s4")}
	dl := "https://id.gs1.org/01/09506000134352/21/DL7"
	caseA, caseB, pallet := sscc("100"), sscc("101"), "https://id.gs1.org/00/106141412345678908"
	e.mustCapture(t, mfg, "pharma-co",
		commission(append(slices.Clone(vials), dl)...),
		pack(caseA, vials[0], vials[1]),
		pack(caseB, vials[2], vials[3], dl),
		pack(pallet, caseA, caseB),
		ship("distrib", pallet, caseA), // listing a packed case with its pallet is fine
	)
	for _, epc := range append(slices.Clone(vials), dl, caseA, caseB, pallet) {
		if it := e.item(t, epc); it.Status != StatusInTransit || it.InTransitTo != "distrib" || it.Owner != "pharma-co" {
			t.Fatalf("%s after shipping: %+v", epc, it)
		}
	}
	// The clinic cannot take the pallet meant for the distributor.
	if _, err := e.capture(t, nurse, "clinic", receive(clinicSite, pallet)); !cc.Is(cc.FailedPrecondition, err) {
		t.Fatalf("clinic receiving the distributor's pallet: %v", err)
	}
	e.mustCapture(t, dist, "distrib", receive(distSite, pallet))
	for _, epc := range append(slices.Clone(vials), dl, caseA, caseB, pallet) {
		if it := e.item(t, epc); it.Status != StatusReceived || it.Owner != "distrib" || it.Location != distSite || it.InTransitTo != "" {
			t.Fatalf("%s after receiving: %+v", epc, it)
		}
	}
	// The distributor breaks the pallet and sends case B to the clinic.
	e.mustCapture(t, dist, "distrib", unpack(pallet), ship("clinic", caseB))
	if p, _ := ParentOf(e.kv, caseB); p != "" {
		t.Errorf("case B still in %s", p)
	}
	if kids, _ := Children(e.kv, pallet); len(kids) != 0 {
		t.Errorf("pallet still holds %v", kids)
	}
	if it := e.item(t, caseA); it.Status != StatusReceived || it.Owner != "distrib" {
		t.Errorf("case A %+v", it)
	}
	// The manufacturer no longer holds anything.
	if _, err := e.capture(t, mfg, "pharma-co", ship("clinic", caseA)); !cc.Is(cc.Unauthorized, err) {
		t.Errorf("former owner shipping: %v", err)
	}
	e.mustCapture(t, nurse, "clinic", receive(clinicSite, caseB))
	e.mustCapture(t, nurse, "clinic", unpack(caseB, vials[2]), decommission(vials[2]))
	if it := e.item(t, vials[2]); it.Status != StatusDecommissioned || it.Parent != "" || it.Owner != "clinic" {
		t.Errorf("administered vial %+v", it)
	}
	if kids, _ := Children(e.kv, caseB); !slices.Equal(kids, []string{dl, vials[3]}) {
		t.Errorf("case B holds %v", kids)
	}
	// Decommissioning a packed vial directly takes it out of its case.
	e.mustCapture(t, nurse, "clinic", decommission(dl))
	if kids, _ := Children(e.kv, caseB); !slices.Equal(kids, []string{vials[3]}) {
		t.Errorf("case B holds %v", kids)
	}
	_, err := e.capture(t, nurse, "clinic", ev(ObjectEvent, ActionObserve, "inspecting", obj{"epcs": []string{vials[2]}}))
	cctest.WantKind(t, err, cc.Gone)
	// Events are stored in order; the escaped Digital Link key is readable.
	if it := e.item(t, dl); it.EPC != dl {
		t.Errorf("digital link item %+v", it)
	}
	evs, _ := Events(e.kv)
	if len(evs) != 12 {
		t.Errorf("%d stored events, want 12", len(evs))
	}
	if alerts, _ := FraudAlerts(e.kv); len(alerts) != 0 {
		t.Errorf("alerts in a clean scenario: %+v", alerts)
	}
}

// TestCommissionContainer: a container created by packing may be
// commissioned afterwards by its creator, not by anyone else.
func TestCommissionContainer(t *testing.T) {
	e := baseEnv(t)
	r := e.mustCapture(t, mfg, "pharma-co", commission(sscc("1001")))
	if len(r.Rejected) != 0 {
		t.Fatalf("commissioning a packed container: %+v", r)
	}
	c1 := e.item(t, sscc("1001"))
	if c1.Container || c1.Lot != "LOT-A1" || len(c1.Children) != 2 || c1.Parent != sscc("2001") || c1.CommissionedAt != 11 {
		t.Errorf("c1 = %+v", c1)
	}
	// Once commissioned, a second commissioning is fraud.
	r = e.mustCapture(t, mfg, "pharma-co", commission(sscc("1001")))
	if len(r.Rejected) != 1 {
		t.Errorf("recommissioning a commissioned container: %+v", r)
	}
	// A container the distributor received is not the distributor's to commission.
	e.mustCapture(t, mfg, "pharma-co", pack(sscc("3001"), sgtin("v3")), ship("distrib", sscc("3001")))
	e.mustCapture(t, dist, "distrib", receive(distSite, sscc("3001")))
	r = e.mustCapture(t, dist, "distrib", commission(sscc("3001")))
	if len(r.Rejected) != 1 || r.Rejected[0].Alerts[0] != sscc("3001") {
		t.Errorf("commissioning someone else's container: %+v", r)
	}
}

func TestCaptureResultAndEvents(t *testing.T) {
	e := newEnv(t)
	res, err := e.capture(t, mfg, "pharma-co", commission(sgtin("a")), ev(AssociationEvent, ActionAdd, "", obj{"parent_id": "urn:epc:id:grai:0614141.12345.400", "child_epcs": []string{sgtin("a")}}))
	if err != nil {
		t.Fatal(err)
	}
	r := cctest.DecodeData[CaptureResult](t, res)
	if r.Count != 2 || r.Accepted != 2 || r.Rejected == nil || len(r.Rejected) != 0 || r.Height != e.height {
		t.Errorf("result %+v", r)
	}
	if cctest.Attr(res, "supply.capture", "accepted") != "2" || cctest.Attr(res, "supply.capture", "org") != "pharma-co" {
		t.Errorf("events %+v", res.Events)
	}
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), `"rejected":[]`) {
		t.Errorf("data %s", b)
	}
}

func TestValidEPC(t *testing.T) {
	good := []string{sgtin("1"), sscc("1234567890"), "urn:epc:id:grai:0614141.12345.400", "urn:epc:id:giai:0614141.A1",
		"https://id.gs1.org/01/09506000134352/21/abc", "https://id.gs1.org/00/106141412345678908"}
	bad := []string{"", "urn:epc:id:sgtin:", "urn:epc:id:sgtin:a.b.c", "urn:epc:id:sgtin:1..3", "urn:epc:id:sgln:0614141.00777.0",
		"https://id.gs1.org/01/09506000134352/21/", "https://id.gs1.org/01/09506000134352/21/a/b", "https://id.gs1.org/00/123",
		"http://id.gs1.org/00/106141412345678908", "urn:epc:id:sgtin:0614141.107346.a b"}
	for _, s := range good {
		if !ValidEPC(s) {
			t.Errorf("ValidEPC(%q) = false", s)
		}
	}
	for _, s := range bad {
		if ValidEPC(s) {
			t.Errorf("ValidEPC(%q) = true", s)
		}
	}
	if epcSegment("https://id.gs1.org/00/1%2") != "https:%2F%2Fid.gs1.org%2F00%2F1%252" {
		t.Errorf("epcSegment = %q", epcSegment("https://id.gs1.org/00/1%2"))
	}
	if org, ok := PartyOrg("org:clinic"); !ok || org != "clinic" {
		t.Errorf("PartyOrg = %q, %v", org, ok)
	}
}

// TestFailingState: a state whose reads fail gives an Internal error, no panic.
func TestFailingState(t *testing.T) {
	kv := cctest.NewFailingKV()
	raw, _ := json.Marshal(events(commission(sgtin("a"))))
	_, err := handleCapture(newEnv(t).ctx(mfg.did, TypeCapture), kv, raw)
	cctest.WantKind(t, err, cc.Internal)
	if keys := cctest.Keys(kv.Overlay, ""); len(keys) != 0 {
		t.Errorf("wrote %v", keys)
	}
}

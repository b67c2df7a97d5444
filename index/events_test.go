package index

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/supply"
)

const (
	epcA1 = "urn:epc:id:sgtin:0614141.107346.1"
	epcA2 = "urn:epc:id:sgtin:0614141.107346.2"
	epcA3 = "urn:epc:id:sgtin:0614141.107346.3"
	epcB1 = "urn:epc:id:sgtin:0614141.107346.9"
	epcD1 = "https://id.gs1.org/01/00614141073467/21/D1" // a Digital Link: '/' in the EPC
	ssc1  = "urn:epc:id:sscc:0614141.1234567890"
	locM  = "urn:epc:id:sgln:0614141.00777.0"
	locC  = "urn:epc:id:sgln:0614141.00888.0"
)

type obj = map[string]any

// supplyChain writes the supply story to l (event positions in
// brackets, all at index 0 unless said):
//
//	[1,0] mfg commissions A1..A3 lot L1 at locM; [1,1] B1 and D1 lot L2
//	(expiring 2026-03-10)
//	[2] mfg packs A1, A2 into S1   [3] mfg ships S1 to clinic
//	(two empty blocks)
//	[6] clinic receives S1 at locC [7] clinic unpacks S1
//	[8] clinic quarantines A1      [9] mfg destroys A3
//	[10] administrations at the clinic: 3 in March, 1 in January
func supplyChain(t testing.TB, l *ledger) {
	t.Helper()
	l.capture(t, mfgLog.did, "mfg",
		obj{"type": "ObjectEvent", "action": "ADD", "event_time": "2026-03-01T08:00:00Z", "epcs": []string{epcA1, epcA2, epcA3},
			"biz_step": "commissioning", "disposition": "active", "read_point": locM, "biz_location": locM,
			"lot": "L1", "expiry": "2027-06-30"},
		obj{"type": "ObjectEvent", "action": "ADD", "event_time": "2026-03-01T08:05:00Z", "epcs": []string{epcB1, epcD1},
			"biz_step": "commissioning", "disposition": "active", "read_point": locM, "biz_location": locM,
			"lot": "L2", "expiry": "2026-03-10"})
	l.capture(t, mfgLog.did, "mfg", obj{"type": "AggregationEvent", "action": "ADD", "event_time": "2026-03-02T08:00:00Z",
		"parent_id": ssc1, "child_epcs": []string{epcA1, epcA2}, "biz_step": "packing"})
	l.capture(t, mfgLog.did, "mfg", obj{"type": "ObjectEvent", "action": "OBSERVE", "event_time": "2026-03-03T08:00:00Z",
		"epcs": []string{ssc1}, "biz_step": "shipping", "disposition": "in_transit", "read_point": locM,
		"destinations": []obj{{"type": "owning_party", "id": "org:clinic"}}})
	l.empty(2)
	l.capture(t, nurse.did, "clinic", obj{"type": "ObjectEvent", "action": "OBSERVE", "event_time": "2026-03-04T10:00:00+01:00",
		"epcs": []string{ssc1}, "biz_step": "receiving", "disposition": "in_progress", "read_point": locC, "biz_location": locC})
	l.capture(t, nurse.did, "clinic", obj{"type": "AggregationEvent", "action": "DELETE", "event_time": "2026-03-04T12:00:00Z",
		"parent_id": ssc1, "child_epcs": []string{epcA1, epcA2}, "biz_step": "unpacking"})
	l.capture(t, nurse.did, "clinic", obj{"type": "ObjectEvent", "action": "OBSERVE", "event_time": "2026-03-05T00:00:00Z",
		"epcs": []string{epcA1}, "biz_step": "holding", "disposition": "quarantined", "biz_location": locC})
	l.capture(t, mfgLog.did, "mfg", obj{"type": "ObjectEvent", "action": "DELETE", "event_time": "2026-03-06T00:00:00Z",
		"epcs": []string{epcA3}, "biz_step": "decommissioning", "disposition": "destroyed"})
	adm := func(i int, when string) supply.Administration {
		return supply.Administration{RecordID: fmt.Sprint("Immunization/kpi-", i), Patient: did(fmt.Sprint("kpi", i)),
			Org: "clinic", Lot: "L1", Vaccine: cvx140, Year: 2026, Time: when, Linked: true}
	}
	l.administer(t, adm(0, "2026-03-20T10:00:00Z"), adm(1, "2026-03-21T10:00:00Z"), adm(2, "2026-04-01T00:00:00Z"),
		adm(3, "2026-01-15T10:00:00Z"))
}

func positions(evs []supply.StoredEvent) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%d,%d", e.Height, e.Index))
	}
	return out
}

func TestQueryEvents(t *testing.T) {
	l := newLedger(t)
	supplyChain(t, l)
	d, _ := openDB(t)
	mustSync(t, d, l)
	tests := []struct {
		name string
		q    EventQuery
		want string
	}{
		{"all", EventQuery{}, "1,0 1,1 2,0 3,0 6,0 7,0 8,0 9,0"},
		{"epc item", EventQuery{EPC: epcA1}, "1,0 2,0 7,0 8,0"},
		{"epc container", EventQuery{EPC: ssc1}, "2,0 3,0 6,0 7,0"},
		{"epc digital link", EventQuery{EPC: epcD1}, "1,1"},
		{"epc unknown", EventQuery{EPC: "urn:epc:id:sgtin:0614141.107346.404"}, ""},
		{"lot", EventQuery{Lot: "L1"}, "1,0 2,0 7,0 8,0 9,0"},
		{"lot 2", EventQuery{Lot: "L2"}, "1,1"},
		{"biz step", EventQuery{BizStep: "shipping"}, "3,0"},
		{"biz step urn", EventQuery{BizStep: "urn:epcglobal:cbv:bizstep:shipping"}, "3,0"},
		{"disposition", EventQuery{Disposition: "in_transit"}, "3,0"},
		{"disposition uri", EventQuery{Disposition: "https://ref.gs1.org/cbv/Disp-destroyed"}, "9,0"},
		{"location", EventQuery{Location: locC}, "6,0 8,0"},
		{"read point", EventQuery{ReadPoint: locM}, "1,0 1,1 3,0"},
		{"biz location", EventQuery{BizLocation: locM}, "1,0 1,1"},
		{"org", EventQuery{Org: "clinic"}, "6,0 7,0 8,0"},
		{"type", EventQuery{Type: "AggregationEvent"}, "2,0 7,0"},
		{"time window", EventQuery{TimeGE: "2026-03-04T09:00:00Z", TimeLT: "2026-03-05T00:00:00Z"}, "6,0 7,0"},
		{"time offset", EventQuery{TimeGE: "2026-03-04T10:00:00+01:00", TimeLT: "2026-03-04T10:00:01+01:00"}, "6,0"},
		{"org and type", EventQuery{Org: "mfg", Type: "ObjectEvent"}, "1,0 1,1 3,0 9,0"},
		{"epc and org", EventQuery{EPC: epcA1, Org: "clinic"}, "7,0 8,0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := d.QueryEvents(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(positions(page.Events), " "); got != tt.want || page.Next != "" {
				t.Errorf("got %q (next %q), want %q", got, page.Next, tt.want)
			}
		})
	}
	// The stored event comes back whole.
	page, _ := d.QueryEvents(EventQuery{BizStep: "shipping"})
	if e := page.Events[0]; e.Org != "mfg" || e.Signer != mfgLog.did || len(e.Destinations) != 1 || e.TxHash == "" {
		t.Errorf("shipping event = %+v", e)
	}
}

func TestQueryEventsPaging(t *testing.T) {
	l := newLedger(t)
	supplyChain(t, l)
	d, _ := openDB(t)
	mustSync(t, d, l)
	all, _ := d.QueryEvents(EventQuery{})
	for _, size := range []int{1, 2, 3, 7, 8} {
		var got []supply.StoredEvent
		q := EventQuery{Limit: size}
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatalf("size %d: too many pages", size)
			}
			p, err := d.QueryEvents(q)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Events) > size {
				t.Fatalf("size %d: page of %d", size, len(p.Events))
			}
			got = append(got, p.Events...)
			if p.Next == "" {
				break
			}
			q.Token = p.Next
		}
		if !reflect.DeepEqual(got, all.Events) {
			t.Errorf("size %d: pages give %v, want %v", size, positions(got), positions(all.Events))
		}
	}
	for _, q := range []EventQuery{
		{Limit: -1}, {Limit: MaxPageSize + 1}, {Token: "not a token!"}, {Token: "eHl6"},
		{TimeGE: "yesterday"}, {TimeLT: "2026-03-04"},
	} {
		if _, err := d.QueryEvents(q); !cc.Is(cc.Invalid, err) {
			t.Errorf("%+v: err = %v, want invalid", q, err)
		}
	}
}

func TestSupplyKPIs(t *testing.T) {
	l := newLedger(t)
	supplyChain(t, l)
	// The A and B items' product holds 10 doses a vial (D1's GTIN is not
	// registered); B1 then has a cold-chain excursion at mfg (31 minutes
	// above 8 °C, budget 30).
	l.run(t, mfgLog.did, supply.TypeProductRegister, obj{"org": "mfg", "gtin": "10614141073464", "name": "Vaccine 10-dose vial",
		"cvx": "140", "storage_min_milli_c": 2000, "storage_max_milli_c": 8000, "excursion_minutes": 30, "doses_per_vial": 10})
	for _, at := range []string{"2026-03-02T08:00:00Z", "2026-03-02T08:31:00Z"} {
		l.capture(t, mfgLog.did, "mfg", obj{"type": "ObjectEvent", "action": "OBSERVE", "event_time": at, "epcs": []string{epcB1},
			"sensors": []obj{{"type": "Temperature", "time": at, "value_milli_c": 9000}}})
	}
	d, _ := openDB(t)
	mustSync(t, d, l)
	asOf := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	r, err := d.SupplyKPIs(l.kv, asOf)
	if err != nil {
		t.Fatal(err)
	}
	wantStock := []StockRow{
		{Org: "clinic", Location: locC, Lot: "L1", Expiry: "2027-06-30", Items: 2, Usable: 1, Quarantined: 1, Doses: 10},
		{Org: "mfg", Location: locM, Lot: "L2", Expiry: "2026-03-10", Items: 2, Quarantined: 1, Expired: 1},
	}
	if !reflect.DeepEqual(r.Stock, wantStock) {
		t.Errorf("stock:\n got %+v\nwant %+v", r.Stock, wantStock)
	}
	if len(r.Orgs) != 2 {
		t.Fatalf("orgs = %+v", r.Orgs)
	}
	clinic, mfg := r.Orgs[0], r.Orgs[1]
	if clinic.Org != "clinic" || clinic.UsableItems != 1 || clinic.UsableDoses != 10 || clinic.Administered != 3 ||
		clinic.Received != 2 || clinic.Commissioned != 0 || clinic.Wasted != 0 || clinic.Excursions != 0 ||
		clinic.QuarantineEvents != 1 || !near(clinic.WastageRate, 0) || !near(clinic.DaysOfSupply, 280.0/3) ||
		!near(&clinic.DailyDoses, 3.0/28) {
		t.Errorf("clinic = %+v", clinic)
	}
	if mfg.Org != "mfg" || mfg.UsableItems != 0 || mfg.Administered != 0 || mfg.DaysOfSupply != nil ||
		mfg.Commissioned != 5 || mfg.Received != 0 || mfg.Wasted != 1 || !near(mfg.WastageRate, 0.2) ||
		mfg.Excursions != 1 || mfg.QuarantineEvents != 0 {
		t.Errorf("mfg = %+v", mfg)
	}
	if r.Height != l.height || r.AsOf != "2026-04-01T00:00:00Z" {
		t.Errorf("report header = %+v", r)
	}

	var buf bytes.Buffer
	if err := WriteKPICSV(&buf, r); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 5 {
		t.Fatalf("KPI CSV: %d records, %v", len(recs), err)
	}
	if got := strings.Join(recs[1][:14], ","); got != "stock,clinic,"+locC+",L1,2027-06-30,2,1,0,1,0,0,0,10,0" {
		t.Errorf("stock row = %s", got)
	}
	if got := strings.Join(recs[3][14:], ","); got != "1,10,3,0.1071,93.3333,0,2,0,0.0000,0,1" {
		t.Errorf("clinic KPI columns = %s", got)
	}
}

func TestWriteCoverageCSV(t *testing.T) {
	d := covFixture(t)
	r, err := d.Coverage(CoverageQuery{Vaccine: cvx140, Dose: 1, By: []string{DimRegion}, Target: 900})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteCoverageCSV(&buf, r); err != nil {
		t.Fatal(err)
	}
	want := `region,denominator,numerator,rate,suppressed,rate_ratio,rate_difference,gap_to_target
all,136,89,0.6544,false,,,0.2456
East,,,,true,,,
North,70,50,0.7143,false,0.8929,-0.0857,0.1857
South,25,20,0.8000,false,1.0000,0.0000,0.1000
unknown,,,,true,,,
`
	if got := buf.String(); got != want {
		t.Errorf("CSV:\n%s\nwant:\n%s", got, want)
	}
}

// TestPackSequence: pack applies packing, repacking and unpacking events
// to the packing table as one statement per child did.
func TestPackSequence(t *testing.T) {
	agg := func(action, parent string, children ...string) supply.StoredEvent {
		return supply.StoredEvent{Event: supply.Event{Type: supply.AggregationEvent, Action: action, ParentID: parent, ChildEPCs: children}}
	}
	many := make([]string, 300) // more than one statement's worth
	for i := range many {
		many[i] = fmt.Sprintf("m%03d", i)
	}
	tests := []struct {
		name   string
		events []supply.StoredEvent
		want   []string // parent>child, sorted
	}{
		{"pack", []supply.StoredEvent{agg(supply.ActionAdd, "P1", "a", "b", "c")}, []string{"P1>a", "P1>b", "P1>c"}},
		{"repack moves children", []supply.StoredEvent{agg(supply.ActionAdd, "P1", "a", "b", "c"), agg(supply.ActionAdd, "P2", "b", "c", "d")},
			[]string{"P1>a", "P2>b", "P2>c", "P2>d"}},
		{"pack again is idempotent", []supply.StoredEvent{agg(supply.ActionAdd, "P1", "a", "b"), agg(supply.ActionAdd, "P1", "a", "b")}, []string{"P1>a", "P1>b"}},
		{"repeated child", []supply.StoredEvent{agg(supply.ActionAdd, "P1", "a", "a")}, []string{"P1>a"}},
		{"unpack listed", []supply.StoredEvent{agg(supply.ActionAdd, "P1", "a", "b", "c"), agg(supply.ActionAdd, "P2", "d"), agg(supply.ActionDelete, "P1", "a", "c", "d")},
			[]string{"P1>b", "P2>d"}},
		{"unpack all", []supply.StoredEvent{agg(supply.ActionAdd, "P1", "a", "b"), agg(supply.ActionAdd, "P2", "c"), agg(supply.ActionDelete, "P1")}, []string{"P2>c"}},
		{"observe changes nothing", []supply.StoredEvent{agg(supply.ActionAdd, "P1", "a"), agg(supply.ActionObserve, "P1", "a")}, []string{"P1>a"}},
		{"many children", []supply.StoredEvent{agg(supply.ActionAdd, "P0", many[:10]...), agg(supply.ActionAdd, "P1", many...), agg(supply.ActionDelete, "P1", many[:290]...)},
			[]string{"P1>m290", "P1>m291", "P1>m292", "P1>m293", "P1>m294", "P1>m295", "P1>m296", "P1>m297", "P1>m298", "P1>m299"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustBatch(t)
			for i := range tt.events {
				if err := b.pack(&tt.events[i]); err != nil {
					t.Fatal(err)
				}
			}
			rows, err := b.tx.QueryContext(b.ctx, "SELECT parent || '>' || child FROM packing ORDER BY 1")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			got := []string{}
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				got = append(got, s)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("packing = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLeaves: leaves counts every EPC reachable through the packing table
// that holds nothing, each once.
func TestLeaves(t *testing.T) {
	// pallet > case1 > v1, v2; pallet > case2 > v3; pallet > v4; big > 300 vials
	packs := [][]string{{"pallet", "case1", "case2", "v4"}, {"case1", "v1", "v2"}, {"case2", "v3"}}
	big := []string{"big"}
	for i := range 300 {
		big = append(big, fmt.Sprintf("b%03d", i))
	}
	packs = append(packs, big)
	tests := []struct {
		epcs []string
		want int
	}{
		{nil, 0},
		{[]string{"v1"}, 1},
		{[]string{"case1"}, 2},
		{[]string{"pallet"}, 4},
		{[]string{"pallet", "case1", "v1"}, 4},
		{[]string{"case1", "case2", "unknown"}, 4},
		{[]string{"v1", "v1"}, 1},
		{[]string{"big", "pallet"}, 304},
		{big[1:], 300},
	}
	b := mustBatch(t)
	for _, p := range packs {
		e := supply.StoredEvent{Event: supply.Event{Type: supply.AggregationEvent, Action: supply.ActionAdd, ParentID: p[0], ChildEPCs: p[1:]}}
		if err := b.pack(&e); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range tests {
		got, err := b.leaves(tt.epcs)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("leaves(%q) = %d, want %d", tt.epcs, got, tt.want)
		}
	}
}

// TestEventBodies: the read model keeps each event in the ledger's compact
// binary form (supply.EncodeEvent), and still reads a body an earlier
// version stored in JSON; both give the event as synced.
func TestEventBodies(t *testing.T) {
	l := newLedger(t)
	supplyChain(t, l)
	d, _ := openDB(t)
	mustSync(t, d, l)
	want, err := d.QueryEvents(EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var body []byte
	if err := d.sql.QueryRow("SELECT body FROM events WHERE height = 3").Scan(&body); err != nil {
		t.Fatal(err)
	}
	ship := want.Events[3]
	if ship.Height != 3 || !bytes.Equal(body, supply.EncodeEvent(&ship)) {
		t.Fatalf("stored body of %+v is %q, want its binary form", ship, body)
	}
	js, err := json.Marshal(ship)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.sql.Exec("UPDATE events SET body = ? WHERE height = 3", js); err != nil {
		t.Fatal(err)
	}
	got, err := d.QueryEvents(EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("with a JSON body: %+v, want %+v", got.Events[3], want.Events[3])
	}
	if _, err := d.sql.Exec("UPDATE events SET body = x'7f00' WHERE height = 3"); err != nil {
		t.Fatal(err)
	}
	if _, err = d.QueryEvents(EventQuery{}); cc.KindOf(err) != cc.Internal {
		t.Errorf("a malformed body: %v, want an Internal error", err)
	}
}

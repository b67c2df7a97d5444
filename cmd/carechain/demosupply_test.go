package main

import (
	"context"
	"testing"
	"time"

	"carechain/index"
	"carechain/records"
	"carechain/seed"
	"carechain/supply"
)

// TestDemoSupplyChain runs the demo's records, supply chain and campaign
// on an in-memory ledger behind a real HTTP API, and checks the stories it
// tells: stock at every site, the excursion's quarantine at the South
// store, the recall with its patients notified, every campaign dose
// linked to stock, and coverage from the read model.
func TestDemoSupplyChain(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds a demo world")
	}
	da := mustDemoAPI(t, "demo-supply", 45)
	w, idx, c := da.w, da.idx, da.c
	ctx := context.Background()
	now := time.Now()
	pop := w.Pop
	if err := seedRecords(ctx, func(string) string { return "" }, c, pop, now, nil); err != nil {
		t.Fatal(err)
	}
	if err := seedSupply(ctx, c, pop, now, nil); err != nil {
		t.Fatal(err)
	}
	state := w.Chain.State()

	// The freezer failure quarantined LotExcursion's case at the South store.
	exc, err := supply.Excursions(state)
	if err != nil || len(exc) != 1 {
		t.Fatalf("excursions %+v, %v; want one", exc, err)
	}
	held, _ := supply.HeldOfLot(state, seed.SouthStore, seed.LotExcursion)
	if len(held) != 10 { // the vials (the case carries no lot)
		t.Errorf("the South store holds %d items of %s, want 10", len(held), seed.LotExcursion)
	}
	for _, epc := range held {
		if it, _ := supply.GetItem(state, epc); it.Status != supply.StatusQuarantined {
			t.Errorf("%s is %s, want quarantined", epc, it.Status)
		}
	}

	// Every campaign dose was taken from stock.
	want := map[string]int{}
	recalledDoses := 0
	for i := range pop.Patients {
		want[string(pop.Patients[i].DID)] += pop.CampaignDoses(i + 1)
	}
	trace, err := supply.Trace(state, seed.LotRecalled)
	if err != nil {
		t.Fatal(err)
	}
	recalledDoses = len(trace.Administrations)
	good, err := supply.AdministrationsOfLot(state, seed.LotGood)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, a := range append(good, func() []supply.Administration {
		as, _ := supply.AdministrationsOfLot(state, seed.LotRecalled)
		return as
	}()...) {
		if !a.Linked || a.Vaccine != supply.CVXSystem+"|"+seed.CampaignCVX {
			t.Errorf("campaign administration %+v, want linked CVX 208", a)
		}
		got[string(a.Patient)]++
	}
	for d, n := range want {
		if got[d] != n {
			t.Errorf("patient %s: %d campaign doses recorded, want %d", d, got[d], n)
		}
	}
	if recalledDoses == 0 {
		t.Fatal("no dose was given from the recalled lot")
	}

	// The recall: the lot's items are recalled and its patients notified.
	if rs, _ := supply.Recalls(state); len(rs) != 1 {
		t.Errorf("recalls %+v, want one", rs)
	}
	for _, d := range trace.Patients {
		ns, _ := records.Notifications(state, d)
		found := false
		for _, n := range ns {
			found = found || n.Kind == supply.NoticeRecall
		}
		if !found {
			t.Errorf("patient %s received a dose of %s but no recall notification", d, seed.LotRecalled)
		}
	}

	// Coverage from the read model, with the register the demo's
	// gatekeepers would fill (here from the same synthetic patients).
	var people []index.Person
	for i, p := range pop.Patients {
		people = append(people, index.Person{DID: p.DID, Area: pop.District(i + 1), Sex: "unknown"})
	}
	if err := idx.UpsertPeople(people); err != nil {
		t.Fatal(err)
	}
	st, _ := w.Chain.Status(ctx)
	if err := idx.Sync(ctx, state, st.LatestHeight, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := idx.Coverage(index.CoverageQuery{Vaccine: seed.CampaignCVX, Dose: 1, MinCell: 1})
	if err != nil {
		t.Fatal(err)
	}
	vaccinated := 0
	for _, n := range want {
		if n > 0 {
			vaccinated++
		}
	}
	if rep.Total.Numerator != int64(vaccinated) || rep.Total.Denominator != int64(len(pop.Patients)) || rep.Linked == 0 {
		t.Errorf("coverage %d / %d (%d linked), want %d / %d", rep.Total.Numerator, rep.Total.Denominator, rep.Linked, vaccinated, len(pop.Patients))
	}
	if _, err := c.QueryEPCIS(ctx, nil); err != nil {
		t.Errorf("EPCIS query: %v", err)
	}
	for _, path := range []string{"/v1/supply/products", "/v1/supply/locations", "/v1/supply/lots", "/v1/supply/excursions", "/v1/supply/recalls"} {
		var list []map[string]any
		if err := c.Get(ctx, path, &list); err != nil || len(list) == 0 {
			t.Errorf("GET %s: %d entries, %v", path, len(list), err)
		}
	}
	var alerts []map[string]any
	if err := c.Get(ctx, "/v1/supply/fraud-alerts", &alerts); err != nil || alerts == nil {
		t.Errorf("GET /v1/supply/fraud-alerts: %v, %v (want an empty list)", alerts, err)
	}
	var kpis index.KPIReport
	if err := c.Get(ctx, "/v1/supply/kpis", &kpis); err != nil || len(kpis.Stock) == 0 {
		t.Errorf("kpis %+v, %v", kpis, err)
	}
}

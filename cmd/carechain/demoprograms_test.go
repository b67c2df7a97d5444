package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	cc "carechain"
	"carechain/client"
	"carechain/httpapi"
	"carechain/programs"
	"carechain/seed"
)

// TestDemoPrograms seeds the demo's programs on an in-memory ledger behind
// a real HTTP API, then the supply campaign, and checks through /v1 what
// they did: children in the childhood program, adults in the second-dose
// campaign, the MMR doses paid exactly, every adult campaign dose counted.
func TestDemoPrograms(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds a demo world")
	}
	da := mustDemoAPI(t, "demo-programs", 40)
	w, idx, c := da.w, da.idx, da.c
	ctx := context.Background()
	now := time.Now()
	pop := w.Pop
	areas, err := idx.Areas()
	if err != nil {
		t.Fatal(err)
	}
	if err := seedRecords(ctx, func(string) string { return "" }, c, pop, now, nil); err != nil {
		t.Fatal(err)
	}
	if err := seedPrograms(ctx, c, pop, areas, now); err != nil {
		t.Fatal(err)
	}
	if err := seedPrograms(ctx, c, pop, areas, now); err != nil { // a restart seeds nothing twice
		t.Fatal(err)
	}
	if err := seedSupply(ctx, c, pop, now, nil); err != nil {
		t.Fatal(err)
	}

	children, childDoses, adults, campaign, campaignOne := 0, 0, 0, 0, 0
	for i := range pop.Patients {
		if seed.IsChild(i + 1) {
			children++
			childDoses += 1 + (i/10)%2
			continue
		}
		adults++
		n := pop.CampaignDoses(i + 1)
		campaign += n
		if n > 0 {
			campaignOne++
		}
	}
	var child httpapi.ProgramView
	if err := c.Get(ctx, "/v1/programs/"+childhoodProgram, &child); err != nil {
		t.Fatal(err)
	}
	if p := child.Program; p.Status != programs.StatusActive || p.Enrolled != int64(children) || p.Doses != int64(childDoses) ||
		p.Spent != int64(20*childDoses) || p.Credits != int64(childDoses) {
		t.Errorf("childhood program = %+v; want %d children, %d doses paid 20 each", p, children, childDoses)
	}
	var paid int64
	for _, py := range child.Payees {
		paid += py.Credits
	}
	if paid != child.Program.Spent || len(child.Payees) == 0 {
		t.Errorf("payees %+v do not add up to %d", child.Payees, child.Program.Spent)
	}
	var d httpapi.Disbursements
	if err := c.Get(ctx, "/v1/programs/"+childhoodProgram+"/disbursements", &d); err != nil || len(d.Payments) != childDoses || d.Budget != 500 {
		t.Errorf("disbursements = %+v, %v", d, err)
	}

	var adult httpapi.ProgramView
	if err := c.Get(ctx, "/v1/programs/"+secondDoseProg, &adult); err != nil {
		t.Fatal(err)
	}
	if p := adult.Program; p.Enrolled != int64(adults) || p.Doses != int64(campaign) || p.Reached[0] != int64(campaignOne) {
		t.Errorf("second-dose campaign = %+v; want %d adults, %d doses, %d with dose 1", p, adults, campaign, campaignOne)
	}
	var enrolled int64
	for _, r := range adult.Regions {
		enrolled += r.Enrolled
	}
	if enrolled != int64(adults) || len(adult.Regions) < 2 {
		t.Errorf("regions %+v", adult.Regions)
	}
	// The ministry's runner: nothing is due yet, nothing missed.
	node := pop.Nodes[demoAgency]
	res, err := c.Do(ctx, client.NewSigner(node.DID, node.Key), programs.TypeRun, map[string]any{"id": secondDoseProg}, true)
	var rr programs.RunResult
	if err != nil || json.Unmarshal(res.Data, &rr) != nil || rr != (programs.RunResult{}) {
		t.Errorf("program.run = %+v (%s), %v", rr, res.Data, err)
	}
	if err := c.Get(ctx, "/v1/programs/no-such-program", nil); !cc.Is(cc.NotFound, err) {
		t.Errorf("unknown program: %v, want not found", err)
	}
	var ds []programs.Decision
	if err := c.Get(ctx, "/v1/programs/"+childhoodProgram+"/decisions?kind=credit&limit=2", &ds); err != nil || len(ds) != 2 || ds[1].Credits != 20 {
		t.Errorf("decisions = %+v, %v", ds, err)
	}
}

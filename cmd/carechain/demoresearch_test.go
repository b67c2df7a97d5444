package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"carechain/client"
	"carechain/research"
)

// TestDemoResearch seeds the demo's research project on an in-memory
// ledger behind the real HTTP API, checks who counts, asks a question as
// `carechain research ask` does and prints its answer.
func TestDemoResearch(t *testing.T) {
	da := mustDemoAPI(t, "demo-research", 30)
	w, c := da.w, da.c
	ctx := context.Background()
	for range 2 { // the second run finds the project and does nothing
		if err := seedResearch(ctx, c, w.Pop); err != nil {
			t.Fatal(err)
		}
	}
	var parts []client.ResearchParticipant
	if err := c.Get(ctx, "/v1/research/projects/"+demoProject+"/participants", &parts); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i, p := range w.Pop.Patients {
		if demoResearchChoice(i) == research.OptedIn {
			want[string(p.DID)] = true
		}
	}
	if len(parts) != len(want) || len(want) != 20 {
		t.Fatalf("%d participants, want the %d who opted in", len(parts), len(want))
	}
	for _, p := range parts {
		if !want[string(p.Patient)] || p.Basis != research.BasisProject {
			t.Errorf("participant %+v did not opt in", p)
		}
	}
	researcher := w.Staff(t, demoResearcher)
	res, err := c.Do(ctx, client.NewSigner(researcher.DID, researcher.Key), research.TypeAsk,
		map[string]any{"project": demoProject, "epsilon_micro": 4 * research.MicroPerEpsilon, "query": map[string]any{"measure": "count", "by": []string{"sex"}}}, true)
	if err != nil {
		t.Fatal(err)
	}
	var q research.Query
	if err := c.Get(ctx, fmt.Sprintf("/v1/research/projects/%s/queries/1", demoProject), &q); err != nil || q.Answer == nil || res.Height == 0 {
		t.Fatalf("question 1 = %+v, %v", q, err)
	}
	var out strings.Builder
	printAnswer(&out, &q)
	if !strings.Contains(out.String(), "discrete-laplace") || !strings.Contains(out.String(), "suppressed") {
		t.Errorf("printed answer:\n%s", out.String())
	}
	// Strata are outside the register here (unknown sex), so every sex
	// stratum but "unknown" is empty and suppressed; the total is about 20.
	if tot := q.Answer.Cells[0]; tot.Suppressed || tot.N < 14 || tot.N > 26 {
		t.Errorf("total = %+v, want about 20", tot)
	}
	// One more question of ε 2 is past the remaining budget of 1.
	_, err = c.Do(ctx, client.NewSigner(researcher.DID, researcher.Key), research.TypeAsk,
		map[string]any{"project": demoProject, "epsilon_micro": 2 * research.MicroPerEpsilon, "query": map[string]any{"measure": "count"}}, true)
	if err == nil || !strings.Contains(err.Error(), "privacy budget exhausted") {
		t.Errorf("over-budget question: %v", err)
	}
}

package main

import (
	"context"
	"fmt"
	"net/url"
	"time"

	cc "carechain"
	"carechain/client"
	"carechain/research"
	"carechain/seed"
)

// The demo's research project, of the seeded research institute.
const (
	demoInstitute  = "national-research-institute"
	demoResearcher = "nri-researcher"
	demoProject    = "covid-uptake"
)

// demoResearchChoice is what demo patient i (from 0) chose for the demo
// project: about two in three opt in, one in six opts out and the rest
// never choose (the default: out).
func demoResearchChoice(i int) string {
	switch i % 6 {
	case 0, 1, 3, 4:
		return research.OptedIn
	case 2:
		return research.OptedOut
	}
	return ""
}

// seedResearch registers the demo research project (a COVID-19 vaccine
// uptake study of the National Research Institute, aggregates and
// extracts, ε budget 5, a year long), has governance approve it and the
// demo patients opt in or out (demoResearchChoice), in batches of one
// block each. It does nothing when the project exists (a restarted demo).
func seedResearch(ctx context.Context, c *client.Client, pop *seed.Population) error {
	var existing research.Project
	if err := c.Get(ctx, "/v1/research/projects/"+url.PathEscape(demoProject), &existing); err == nil {
		return nil
	} else if !cc.Is(cc.NotFound, err) {
		return err
	}
	var researcher seed.Identity
	for _, s := range pop.Staff {
		if s.Name == demoResearcher {
			researcher = s
		}
	}
	if researcher.DID == "" {
		return fmt.Errorf("demo research: no %s in the population", demoResearcher)
	}
	now := time.Now().UTC().Truncate(time.Second)
	steps := []struct {
		who     seed.Identity
		typ     string
		payload any
	}{
		{researcher, research.TypeRegister, map[string]any{"id": demoProject, "org": demoInstitute,
			"title":    "COVID-19 vaccine uptake by region and deprivation",
			"protocol": "https://research.example.org/protocols/covid-uptake-v1", "ethics": "NRI-REC-2026-014",
			"purposes": []string{research.Purpose}, "resource_types": []string{"Patient", "Immunization"},
			"aggregates": true, "extracts": true, "budget_micro_epsilon": 5 * research.MicroPerEpsilon,
			"period": map[string]string{"start": now.Add(-time.Minute).Format(time.RFC3339), "end": now.AddDate(1, 0, 0).Format(time.RFC3339)}}},
		{pop.Governance, research.TypeApprove, map[string]string{"id": demoProject}},
	}
	for _, st := range steps {
		if _, err := c.Do(ctx, client.NewSigner(st.who.DID, st.who.Key), st.typ, st.payload, true); err != nil {
			return fmt.Errorf("demo research, %s: %w", st.typ, err)
		}
	}
	var txs [][]byte
	in, out := 0, 0
	for i, p := range pop.Patients {
		typ := research.TypeOptIn
		switch demoResearchChoice(i) {
		case research.OptedIn:
			in++
		case research.OptedOut:
			typ = research.TypeOptOut
			out++
		default:
			continue
		}
		raw, err := c.Build(ctx, client.NewSigner(p.DID, p.Key), typ, map[string]any{"project": demoProject, "patient": p.DID})
		if err != nil {
			return err
		}
		txs = append(txs, raw)
	}
	if len(txs) > 0 {
		res, err := c.Submit(ctx, txs, true)
		if err != nil {
			return fmt.Errorf("demo research, opt-ins: %w", err)
		}
		if res.Rejected > 0 {
			for _, r := range res.Results {
				if !r.Accepted {
					return fmt.Errorf("demo research, opt-ins: %d rejected: %s", res.Rejected, r.Log)
				}
			}
		}
	}
	fmt.Printf("research: project %s of %s approved; %d patients opted in, %d opted out, %d never chose\n", demoProject, demoInstitute, in, out, len(pop.Patients)-in-out)
	fmt.Printf("  try: carechain research ask %s --measure coverage --vaccine %s --by region --epsilon 0.5 --key %s --keystore HOME/keys\n", demoProject, seed.CampaignCVX, demoResearcher)
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	cc "carechain"
	"carechain/client"
	"carechain/seed"
)

// demoWorkers is how many demo requests run at once: the gatekeepers
// pipeline their transactions, so concurrent ingests share blocks.
const demoWorkers = 8

// seedSupply runs the demo supply chain through c's node (transactions
// through /v1/txs, EPCIS documents through POST /epcis/capture), then the
// vaccination campaign: every demo patient due a dose gets a FHIR
// Immunization with the lot's number at their vaccination site (their
// records' custodian), which takes the dose from the site's stock. The
// first doses at Northside come from LotRecalled, which Acme then recalls
// (its patients are notified); every later dose comes from LotGood. It
// does nothing when the product is registered already (a restarted demo).
func seedSupply(ctx context.Context, c *client.Client, pop *seed.Population, now time.Time, progress seed.Progress) error {
	var products []json.RawMessage
	if err := c.Get(ctx, "/v1/supply/products", &products); err != nil || len(products) > 0 {
		return err
	}
	run := func(st seed.SupplyStep) error {
		signer := client.NewSigner(st.Signer.DID, st.Signer.Key)
		var err error
		if st.Type != "" {
			_, err = c.Do(ctx, signer, st.Type, st.Payload, true)
		} else {
			var res *client.CaptureResult
			res, err = c.CaptureEPCIS(ctx, signer, st.Org, st.Doc)
			if err == nil && len(res.Rejected) > 0 {
				err = fmt.Errorf("%d events rejected: %s", len(res.Rejected), res.Rejected[0].Reason)
			}
		}
		if err != nil {
			return fmt.Errorf("demo supply chain, %s: %w", st.Label, err)
		}
		return nil
	}
	steps := pop.SupplyScript(now)
	type dose struct {
		patient int // from 1
		n       int // 1 or 2
	}
	var first, second []dose
	for i := range pop.Patients {
		n := pop.CampaignDoses(i + 1)
		for k := 1; k <= n; k++ {
			if k == 1 {
				first = append(first, dose{i + 1, k})
			} else {
				second = append(second, dose{i + 1, k})
			}
		}
	}
	total := len(steps) + 1 + len(first) + len(second)
	var mu sync.Mutex
	done := 0
	tick := func(step string) {
		mu.Lock()
		defer mu.Unlock()
		done++
		if progress != nil {
			progress(step, done, total)
		}
	}
	for _, st := range steps {
		if err := run(st); err != nil {
			return err
		}
		tick("supply chain")
	}
	patientRefs, err := demoPatientRefs(ctx, c, pop)
	if err != nil {
		return err
	}
	staff := map[string]seed.Identity{}
	for _, s := range pop.Staff {
		staff[s.Name] = s
	}
	recalledLeft := 3 * seed.DosesPerVial // the doses Northside gives from LotRecalled before the recall
	give := func(ds []dose, phase string) error {
		type job struct {
			d   dose
			lot string
		}
		jobs := make([]job, len(ds))
		for j, d := range ds {
			lot := seed.LotGood
			if demoCustodian(d.patient) == seed.Sites[0].Org && d.n == 1 && recalledLeft > 0 {
				lot, recalledLeft = seed.LotRecalled, recalledLeft-1
			}
			jobs[j] = job{d, lot}
		}
		return parallel(ctx, len(jobs), demoWorkers, func(j int) error {
			d := jobs[j].d
			site := demoSite(demoCustodian(d.patient))
			p := pop.Patients[d.patient-1]
			when := now.UTC().AddDate(0, 0, -14+7*(d.n-1)).Truncate(time.Minute)
			body, _ := json.Marshal(map[string]any{"resourceType": "Immunization", "status": "completed",
				"vaccineCode": map[string]any{"coding": []any{map[string]string{"system": "http://hl7.org/fhir/sid/cvx", "code": seed.CampaignCVX,
					"display": "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose"}}},
				"patient":            map[string]string{"reference": patientRefs[d.patient-1]},
				"occurrenceDateTime": when.Format(time.RFC3339), "primarySource": true,
				"lotNumber": jobs[j].lot, "protocolApplied": []any{map[string]any{"doseNumberPositiveInt": d.n}}})
			nurse := staff[site.Staff]
			if _, err := c.Ingest(ctx, client.NewSigner(nurse.DID, nurse.Key), site.Org, p.DID, "Immunization", body); err != nil {
				return fmt.Errorf("demo campaign, dose %d of %s at %s (lot %s): %w", d.n, p.Name, site.Org, jobs[j].lot, err)
			}
			tick(phase)
			return nil
		})
	}
	if err := give(first, "campaign: first doses"); err != nil {
		return err
	}
	if err := run(pop.RecallStep()); err != nil {
		return err
	}
	tick("recall")
	return give(second, "campaign: second doses")
}

// demoSite returns the vaccination site of an organization.
func demoSite(org string) seed.Site {
	for _, s := range seed.Sites {
		if s.Org == org {
			return s
		}
	}
	return seed.Sites[0]
}

// demoPatientRefs returns each demo patient's Patient resource reference
// ("Patient/{id}"), from their anchored records.
func demoPatientRefs(ctx context.Context, c *client.Client, pop *seed.Population) ([]string, error) {
	refs := make([]string, len(pop.Patients))
	err := parallel(ctx, len(pop.Patients), demoWorkers, func(i int) error {
		var as []cc.RecordAnchor
		if err := c.Get(ctx, "/v1/patients/"+string(pop.Patients[i].DID)+"/records", &as); err != nil {
			return err
		}
		for _, a := range as {
			if a.Type == "Patient" {
				refs[i] = a.ID
				return nil
			}
		}
		return fmt.Errorf("demo patient %s has no Patient record", pop.Patients[i].Name)
	})
	return refs, err
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first
// error (the remaining work is skipped once one fails).
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range min(workers, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return first
}

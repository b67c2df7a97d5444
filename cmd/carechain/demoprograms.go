package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	cc "carechain"
	"carechain/client"
	"carechain/consent"
	"carechain/index"
	"carechain/programs"
	"carechain/seed"
)

// The demo's intervention programs, deployed by the Ministry of Health.
const (
	demoAgency       = "ministry-of-health"
	childhoodProgram = "childhood-mmr-incentive"
	secondDoseProg   = "covid-second-dose"
	mmrVaccine       = "http://hl7.org/fhir/sid/cvx|03"
)

// demoProgramSpecs returns the specs of the two demo programs, dated from
// now: a childhood-immunization incentive (MMR, 20 credits per dose from a
// budget of 500, so the demo shows it running out) and a second-dose
// reminder campaign for the COVID-19 campaign's adults, with milestones
// and regional escalation.
func demoProgramSpecs(now time.Time) map[string]programs.Spec {
	day := func(d int) string { return now.AddDate(0, 0, d).UTC().Format(time.DateOnly) }
	return map[string]programs.Spec{
		childhoodProgram: {
			Title:    "Childhood MMR immunization incentive",
			Vaccines: []string{mmrVaccine},
			Target:   `person.age_band in ["0-1", "2-4", "5-11"]`,
			Goal:     programs.Goal{Dose: 2, Permille: 950, By: day(365)},
			Milestones: []programs.Milestone{
				{Name: "first-doses", Dose: 1, Permille: 900, By: day(120)},
			},
			Incentive:  &programs.Incentive{CreditsPerDose: 20, Budget: 500, When: "dose.number <= 2"},
			Reminder:   &programs.Reminder{IntervalDays: 28, FirstDays: 30},
			Escalation: &programs.Escalation{BehindPermille: 100},
		},
		secondDoseProg: {
			Title:    "COVID-19 second-dose reminder campaign",
			Vaccines: []string{"http://hl7.org/fhir/sid/cvx|" + seed.CampaignCVX},
			Target:   `!(person.age_band in ["0-1", "2-4", "5-11", "12-17"])`,
			Goal:     programs.Goal{Dose: 2, Permille: 800, By: day(90)},
			Milestones: []programs.Milestone{
				{Name: "first-doses", Dose: 1, Permille: 700, By: day(30)},
			},
			Reminder:   &programs.Reminder{IntervalDays: 21},
			Escalation: &programs.Escalation{BehindPermille: 100},
		},
	}
}

// seedDemoPrograms runs seedPrograms on the demo node r with a progress
// line.
func seedDemoPrograms(ctx context.Context, r *running, pop *seed.Population) error {
	areas, err := r.readModel.db.Areas()
	if err != nil {
		return err
	}
	bar := newBar(-1, "demo public-health programs")
	defer bar.Finish()
	return seedPrograms(ctx, client.New("http://"+r.addr), pop, areas, time.Now())
}

// seedPrograms sets up public-health programs in the demo, once: opt-out
// data-sharing agreements under which the custodians release Patient and
// Immunization records to the ministry for PUBHLTH (patients who deny it
// stay out), the two programs deployed and activated by the ministry's
// officer, every demo patient offered for enrollment (the targets pick
// children and adults) by the ministry's node key, and a first MMR dose
// for every child (a second for every other one) at their custodian, so
// that incentives are paid. The supply campaign that follows is counted
// by the second-dose campaign.
func seedPrograms(ctx context.Context, c *client.Client, pop *seed.Population, areas []index.Area, now time.Time) error {
	if err := c.Get(ctx, "/v1/programs/"+secondDoseProg, nil); err == nil {
		return nil // seeded before
	} else if !cc.Is(cc.NotFound, err) {
		return err
	}
	staff := map[string]seed.Identity{}
	for _, s := range pop.Staff {
		staff[s.Name] = s
	}
	agencyAdmin := pop.Admins[demoAgency]
	for _, org := range seed.LinkedOrgs {
		admin := pop.Admins[org]
		res, err := c.Do(ctx, client.NewSigner(admin.DID, admin.Key), consent.TypeAgreementPropose, map[string]any{
			"provider": org, "recipient": demoAgency, "resource_types": []string{"Patient", "Immunization"},
			"purposes": []string{programs.PurposeEnroll}, "opt_out": true,
			"terms": "Public-health immunization surveillance (demo statute, section 12)"}, true)
		if err != nil {
			return fmt.Errorf("demo agreement %s → %s: %w", org, demoAgency, err)
		}
		var id struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(res.Data, &id); err != nil {
			return fmt.Errorf("demo agreement %s: %s", org, res.Data)
		}
		if _, err := c.Do(ctx, client.NewSigner(agencyAdmin.DID, agencyAdmin.Key), consent.TypeAgreementSign, map[string]any{"id": id.ID}, true); err != nil {
			return fmt.Errorf("demo agreement %s: countersign: %w", id.ID, err)
		}
	}
	officer := staff["ministry-officer"]
	specs := demoProgramSpecs(now)
	for _, id := range []string{childhoodProgram, secondDoseProg} {
		if _, err := c.Do(ctx, client.NewSigner(officer.DID, officer.Key), programs.TypeDeploy, map[string]any{"org": demoAgency, "id": id, "spec": specs[id]}, true); err != nil {
			return fmt.Errorf("demo program %s: deploy: %w", id, err)
		}
		if _, err := c.Do(ctx, client.NewSigner(officer.DID, officer.Key), programs.TypeActivate, map[string]any{"id": id}, true); err != nil {
			return fmt.Errorf("demo program %s: activate: %w", id, err)
		}
	}
	members, err := demoEnrollees(pop, areas, now)
	if err != nil {
		return err
	}
	node := pop.Nodes[demoAgency]
	for _, id := range []string{childhoodProgram, secondDoseProg} {
		for start := 0; start < len(members); start += programs.MaxEnrollPerTx {
			batch := members[start:min(start+programs.MaxEnrollPerTx, len(members))]
			if _, err := c.Do(ctx, client.NewSigner(node.DID, node.Key), programs.TypeEnroll, map[string]any{"id": id, "members": batch}, true); err != nil {
				return fmt.Errorf("demo program %s: enroll: %w", id, err)
			}
		}
	}
	return demoMMRDoses(ctx, c, pop, staff, now)
}

// demoEnrollees are the enrollment entries of the demo patients: coarse
// strata from their Patient resources (age band, sex) and the area table
// (region and deprivation quintile of their district).
func demoEnrollees(pop *seed.Population, areas []index.Area, now time.Time) ([]map[string]any, error) {
	byName := map[string]index.Area{}
	for _, a := range areas {
		byName[strings.ToLower(a.Name)] = a
	}
	out := make([]map[string]any, 0, len(pop.Patients))
	for i, p := range pop.Patients {
		var b struct {
			Entry []struct {
				Resource struct {
					ResourceType string `json:"resourceType"`
					Gender       string `json:"gender"`
					BirthDate    string `json:"birthDate"`
				} `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(pop.PatientBundle(i+1, now), &b); err != nil {
			return nil, err
		}
		f := programs.Facts{AgeBand: "unknown", Sex: "unknown", Region: "unknown"}
		for _, e := range b.Entry {
			if e.Resource.ResourceType != "Patient" {
				continue
			}
			if y, err := strconv.Atoi(strings.SplitN(e.Resource.BirthDate, "-", 2)[0]); err == nil {
				f.AgeBand = index.AgeBand(now.Year(), y)
			}
			if e.Resource.Gender != "" {
				f.Sex = e.Resource.Gender
			}
		}
		if a, ok := byName[strings.ToLower(pop.District(i+1))]; ok {
			f.Region, f.Quintile = a.Region, a.Quintile
		}
		out = append(out, map[string]any{"patient": p.DID, "facts": f})
	}
	return out, nil
}

// demoMMRDoses records MMR doses of the demo's children at their
// custodian: one each, two for every other child.
func demoMMRDoses(ctx context.Context, c *client.Client, pop *seed.Population, staff map[string]seed.Identity, now time.Time) error {
	refs, err := demoPatientRefs(ctx, c, pop)
	if err != nil {
		return err
	}
	for i, p := range pop.Patients {
		if !seed.IsChild(i + 1) {
			continue
		}
		org := demoCustodian(i + 1)
		doc := staff[demoPhysicians[org]]
		for n := 1; n <= 1+(i/10)%2; n++ {
			body, _ := json.Marshal(map[string]any{"resourceType": "Immunization", "status": "completed",
				"vaccineCode": map[string]any{"coding": []any{map[string]string{"system": "http://hl7.org/fhir/sid/cvx", "code": "03",
					"display": "measles, mumps and rubella virus vaccine"}}},
				"patient":            map[string]string{"reference": refs[i]},
				"occurrenceDateTime": now.UTC().Truncate(time.Minute).Format(time.RFC3339), "primarySource": true,
				"protocolApplied": []any{map[string]any{"doseNumberPositiveInt": n}}})
			if _, err := c.Ingest(ctx, client.NewSigner(doc.DID, doc.Key), org, p.DID, "Immunization", body); err != nil {
				return fmt.Errorf("demo MMR dose %d of %s: %w", n, p.Name, err)
			}
		}
	}
	return nil
}

// runPrograms is the ministry node's program runner: every interval it
// submits program.run for each active program of the ministry (reminders
// falling due, milestone dates, escalations), until ctx ends.
func runPrograms(ctx context.Context, c *client.Client, node seed.Identity, org string, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var ps []programs.Program
		if err := c.Get(ctx, "/v1/programs", &ps); err != nil {
			log.Warn("program runner: list", "err", err)
			continue
		}
		for _, p := range ps {
			if p.Org != org || p.Status != programs.StatusActive {
				continue
			}
			if _, err := c.Do(ctx, client.NewSigner(node.DID, node.Key), programs.TypeRun, map[string]any{"id": p.ID}, true); err != nil && ctx.Err() == nil {
				log.Warn("program runner: run", "program", p.ID, "err", err)
			}
		}
	}
}

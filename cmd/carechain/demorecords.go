package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	cc "carechain"
	"carechain/client"
	"carechain/consent"
	"carechain/seed"
)

// demoPhysicians authors each linked organization's demo records.
var demoPhysicians = map[string]string{
	"st-mary-hospital":   "st-mary-physician",
	"riverside-hospital": "riverside-physician",
	"northside-clinic":   "northside-physician",
}

// demoCustodian is the organization that holds demo patient i's records.
func demoCustodian(i int) string { return seed.LinkedOrgs[(i-1)%len(seed.LinkedOrgs)] }

// seedRecords ingests every demo patient's synthetic FHIR bundle through
// the /fhir API of the node holding its custodian's records (apiFor(org);
// c's node when empty), signed by a physician of the custodian; has the
// first patient grant a Riverside physician treatment access to vital
// signs and immunizations (mental-health data excluded); and makes a few
// reads through c so the access log has something to show. It does
// nothing when the first patient already has records (a restarted demo).
func seedRecords(ctx context.Context, apiFor func(org string) string, c *client.Client, pop *seed.Population, now time.Time, progress seed.Progress) error {
	if len(pop.Patients) == 0 {
		return nil
	}
	anchors := func(d cc.DID) ([]cc.RecordAnchor, error) {
		var as []cc.RecordAnchor
		err := c.Get(ctx, "/v1/patients/"+string(d)+"/records", &as)
		return as, err
	}
	if as, err := anchors(pop.Patients[0].DID); err != nil || len(as) > 0 {
		return err
	}
	staff := map[string]seed.Identity{}
	for _, s := range pop.Staff {
		staff[s.Name] = s
	}
	var mu sync.Mutex
	done := 0
	err := parallel(ctx, len(pop.Patients), demoWorkers, func(i int) error {
		p := pop.Patients[i]
		org := demoCustodian(i + 1)
		doc := staff[demoPhysicians[org]]
		to := c
		if api := apiFor(org); api != "" {
			to = client.New(api)
		}
		if _, err := to.Ingest(ctx, client.NewSigner(doc.DID, doc.Key), org, p.DID, "", pop.PatientBundle(i+1, now)); err != nil {
			return fmt.Errorf("demo records of %s at %s: %w", p.Name, org, err)
		}
		if progress != nil {
			mu.Lock()
			done++
			progress("patient records", done, len(pop.Patients))
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return err
	}
	p1, rdoc := pop.Patients[0], staff["riverside-physician"]
	if _, err := c.Do(ctx, client.NewSigner(p1.DID, p1.Key), consent.TypeGrant, map[string]any{
		"patient": p1.DID,
		"provisions": []cc.Provision{
			{Type: cc.Permit, Actors: []cc.Actor{{DID: rdoc.DID}}, Actions: []string{"read", "search"}, Purposes: []string{"TREAT"},
				ResourceTypes: []string{"Observation", "Immunization", "Patient"}, Period: cc.Period{End: now.AddDate(1, 0, 0).UTC().Truncate(time.Second)}},
			{Type: cc.Deny, Categories: []string{"PSY"}},
		},
	}, true); err != nil {
		return fmt.Errorf("demo consent: %w", err)
	}
	// Riverside's physician reads patient-001's immunizations (held by
	// St Mary's) under that consent; the patient looks at everything.
	as, err := anchors(p1.DID)
	if err != nil {
		return err
	}
	var patientRef string
	for _, a := range as {
		if a.Type == "Patient" {
			patientRef = a.ID
		}
	}
	reads := []struct {
		who     seed.Identity
		purpose string
		path    string
	}{
		{rdoc, "TREAT", "/fhir/Immunization?patient=" + patientRef},
		{p1, "PATRQT", "/fhir/" + patientRef + "/$everything"},
	}
	for _, rd := range reads {
		if _, err := c.ReadFHIR(ctx, client.NewSigner(rd.who.DID, rd.who.Key), client.ReadOptions{Patient: p1.DID, Purpose: rd.purpose}, rd.path); err != nil {
			return fmt.Errorf("demo read %s: %w", rd.path, err)
		}
	}
	return nil
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"

	cc "carechain"
	"carechain/client"
	"carechain/gatekeeper"
	"carechain/httpapi"
	"carechain/index"
	"carechain/internal/recordtest"
)

// TestCoverageTrend ingests Immunizations through a custodian's
// gatekeeper whose hooks feed the node's read model (as carechain start
// wires them), syncs the read model from the chain and asks for the
// trend by occurrence week.
func TestCoverageTrend(t *testing.T) {
	w := recordtest.MustWorld(t, "httpapi-trend", 3)
	idx, err := index.Open(filepath.Join(t.TempDir(), "readmodel.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	n := w.Pop.Nodes[stMary]
	gk := gatekeeper.New(gatekeeper.Config{Chain: w.Chain, Vault: w.Vault, Index: w.Index, Org: stMary, NodeDID: n.DID, NodeKey: n.Key,
		OnPatients: func(ps []gatekeeper.PatientDemographics) {
			people := make([]index.Person, len(ps))
			for i, p := range ps {
				people[i] = index.Person{DID: p.DID, BirthDate: p.BirthDate, Sex: p.Sex, Area: p.Area}
			}
			if err := idx.UpsertPeople(people); err != nil {
				t.Error(err)
			}
		},
		OnImmunizations: func(ds []gatekeeper.ImmunizationDate) {
			occ := make([]index.Occurrence, len(ds))
			for i, d := range ds {
				occ[i] = index.Occurrence{RecordID: d.RecordID, Date: d.Date}
			}
			if err := idx.UpsertOccurrences(occ); err != nil {
				t.Error(err)
			}
		}})
	api := httpapi.New(w.Chain, nil)
	api.SetRecords(gk)
	api.SetIndex(idx)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	c := client.New(srv.URL)
	ctx := context.Background()
	nurse := w.Staff(t, "st-mary-nurse")

	// Patient 0: doses on 03-03 and 03-17 (a Tuesday and the Tuesday two
	// weeks on); patient 1 on 03-10; patient 2 on 03-17 (+01:00, the
	// local date counts). All live in Northbridge (region North).
	doses := [][]string{{"2026-03-03T10:00:00Z", "2026-03-17T10:00:00Z"}, {"2026-03-10T09:00:00Z"}, {"2026-03-17T00:30:00+01:00"}}
	for i, ds := range doses {
		entries := []any{map[string]any{"fullUrl": fmt.Sprintf("urn:uuid:7c1e0000-0000-4000-8000-%012d", i),
			"resource": map[string]any{"resourceType": "Patient", "gender": "female", "birthDate": "1990-02-03",
				"address": []any{map[string]any{"city": "Northbridge"}}},
			"request": map[string]string{"method": "POST", "url": "Patient"}}}
		for k, when := range ds {
			entries = append(entries, map[string]any{"fullUrl": fmt.Sprintf("urn:uuid:7c1e0000-0000-4000-9000-%06d%06d", i, k),
				"resource": map[string]any{"resourceType": "Immunization", "status": "completed",
					"vaccineCode":        map[string]any{"coding": []any{map[string]string{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}}},
					"patient":            map[string]string{"reference": fmt.Sprintf("urn:uuid:7c1e0000-0000-4000-8000-%012d", i)},
					"occurrenceDateTime": when},
				"request": map[string]string{"method": "POST", "url": "Immunization"}})
		}
		body, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
		if _, err := c.Ingest(ctx, client.NewSigner(nurse.DID, nurse.Key), stMary, w.Pop.Patients[i].DID, "", body); err != nil {
			t.Fatalf("ingest patient %d: %v", i, err)
		}
	}
	st, err := w.Chain.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.Sync(ctx, w.Chain.State(), st.LatestHeight, nil); err != nil {
		t.Fatal(err)
	}

	var rep index.TrendReport
	if err := c.Get(ctx, "/v1/coverage/trend?vaccine=140&by=region&min_cell=1", &rep); err != nil {
		t.Fatal(err)
	}
	type row struct {
		period   string
		num, den int64
	}
	var got []row
	for _, p := range rep.Points {
		if len(p.Groups) != 1 || p.Groups[0].Group["region"] != "North" || p.Groups[0].Numerator != p.Total.Numerator {
			t.Fatalf("point %s: groups %+v, total %+v", p.Period, p.Groups, p.Total)
		}
		got = append(got, row{p.Period, p.Total.Numerator, p.Total.Denominator})
	}
	want := []row{{"2026-03-02", 1, 3}, {"2026-03-09", 2, 3}, {"2026-03-16", 3, 3}}
	if fmt.Sprint(got) != fmt.Sprint(want) || rep.Vaccine != "http://hl7.org/fhir/sid/cvx|140" || rep.Interval != "week" {
		t.Fatalf("trend: got %v (%s, %s), want %v", got, rep.Vaccine, rep.Interval, want)
	}

	// Dose 2 by month: patient 0 in March.
	if err := c.Get(ctx, "/v1/coverage/trend?vaccine=140&dose=2&interval=month&min_cell=1", &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Points) != 1 || rep.Points[0].Period != "2026-03-01" || rep.Points[0].Total.Numerator != 1 || len(rep.Points[0].Groups) != 0 {
		t.Fatalf("dose 2 by month: %+v", rep.Points)
	}

	// With the default threshold (11) a population of 3 shows nothing.
	if err := c.Get(ctx, "/v1/coverage/trend?vaccine=140&by=region", &rep); err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Points {
		if !p.Total.Suppressed || p.Total.Numerator != 0 || !p.Groups[0].Suppressed {
			t.Fatalf("unsuppressed small cell at %s: %+v", p.Period, p)
		}
	}

	for q, want := range map[string]cc.Kind{
		"?vaccine=140&interval=day":     cc.Invalid,
		"?vaccine=140&by=age_band":      cc.Invalid,
		"?dose=1":                       cc.Invalid,
		"?vaccine=140&dose=x":           cc.Invalid,
		"?vaccine=99999&interval=month": cc.NotFound,
	} {
		if err := c.Get(ctx, "/v1/coverage/trend"+q, &rep); !cc.Is(want, err) {
			t.Errorf("%s: %v, want %v", q, err, want)
		}
	}
}

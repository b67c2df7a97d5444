package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/client"
	"carechain/httpapi"
	"carechain/index"
	"carechain/internal/recordtest"
	"carechain/research"
)

const nri = "national-research-institute"

// synthea are the bundles ingested for patients 0, 1 and 2.
var synthea = []string{recordtest.SyntheaBob, "Cecelia952_Romaguera67_f1731e33-dc55-4ee8-72d7-cece2e49bedd.json",
	"Crista774_Schumm995_d82b9cf4-0d48-cdb6-75ff-a62361e3fb78.json"}

// collectIdentifiers gathers every person name part, identifier value,
// telecom value, address line and city, and birth date of a source bundle.
func collectIdentifiers(v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if typ, _ := x["resourceType"].(string); typ == "Patient" {
			if bd, ok := x["birthDate"].(string); ok {
				out[bd] = true
			}
			for _, n := range asList(x["name"]) {
				m, _ := n.(map[string]any)
				for _, g := range asList(m["given"]) {
					out[g.(string)] = true
				}
				if f, ok := m["family"].(string); ok {
					out[f] = true
				}
			}
			for _, tc := range asList(x["telecom"]) {
				if s, ok := tc.(map[string]any)["value"].(string); ok {
					out[s] = true
				}
			}
			for _, a := range asList(x["address"]) {
				m, _ := a.(map[string]any)
				for _, l := range asList(m["line"]) {
					out[l.(string)] = true
				}
				if c, ok := m["city"].(string); ok {
					out[c] = true
				}
			}
		}
		for _, id := range asList(x["identifier"]) {
			if m, ok := id.(map[string]any); ok {
				if s, ok := m["value"].(string); ok && len(s) >= 3 {
					out[s] = true
				}
			}
		}
		for _, e := range x {
			collectIdentifiers(e, out)
		}
	case []any:
		for _, e := range x {
			collectIdentifiers(e, out)
		}
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

// TestResearchOnNode runs a research project end to end on an in-process
// chain behind the real HTTP API: register and approve, opt-ins and
// opt-outs, a question answered once with its budget spent and a refused
// one past the budget, and a de-identified extract of the consenting
// patients only, logged in their access logs.
func TestResearchOnNode(t *testing.T) {
	w := recordtest.MustWorld(t, "httpapi-research", 16)
	api := httpapi.New(w.Chain, nil)
	api.SetRecords(w.All()...)
	idx, err := index.Open(filepath.Join(t.TempDir(), "readmodel.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	api.SetIndex(idx)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	c := client.New(srv.URL)
	ctx := context.Background()
	pats := w.Pop.Patients
	doc := w.Staff(t, "st-mary-physician")
	researcher := w.Staff(t, "nri-researcher")

	// Records of patients 0..2 (Synthea bundles) and the register.
	for _, f := range []string{recordtest.SyntheaHospitals, recordtest.SyntheaPractitioners} {
		if _, err := c.Ingest(ctx, client.NewSigner(doc.DID, doc.Key), stMary, "", "", recordtest.Read(t, filepath.Join(recordtest.Testdata(t, "synthea"), f))); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	sources := make([]map[string]bool, len(synthea))
	for i, f := range synthea {
		raw := recordtest.Read(t, filepath.Join(recordtest.Testdata(t, "synthea", "patients"), f))
		if _, err := c.Ingest(ctx, client.NewSigner(doc.DID, doc.Key), stMary, pats[i].DID, "", raw); err != nil {
			t.Fatalf("ingest %s: %v", f, err)
		}
		var src any
		json.Unmarshal(raw, &src)
		sources[i] = map[string]bool{}
		collectIdentifiers(src, sources[i])
	}
	var people []index.Person
	for i, p := range pats {
		people = append(people, index.Person{DID: p.DID, BirthDate: "1980-05-05", Sex: []string{"female", "male"}[i%2], Area: "Northbridge"})
	}
	if err := idx.UpsertPeople(people); err != nil {
		t.Fatal(err)
	}

	// The project, approved by governance (threshold 1).
	now := time.Now().UTC()
	w.MustTx(t, researcher, research.TypeRegister, map[string]any{"id": "uptake", "org": nri, "title": "Vaccine uptake",
		"protocol": "https://example.org/p", "ethics": "IRB-1", "purposes": []string{"HRESEARCH"},
		"resource_types": []string{"Patient", "Immunization", "Observation", "Encounter", "Condition"}, "aggregates": true, "extracts": true,
		"period":               map[string]string{"start": now.Add(-time.Hour).Format(time.RFC3339), "end": now.AddDate(1, 0, 0).Format(time.RFC3339)},
		"budget_micro_epsilon": 20 * research.MicroPerEpsilon})
	var pv httpapi.ProjectView
	if err := c.Get(ctx, "/v1/research/projects/uptake", &pv); err != nil || pv.Status != research.StatusPending || pv.Approval.Threshold != 1 {
		t.Fatalf("pending project = %+v, %v", pv, err)
	}
	w.MustTx(t, w.Pop.Governance, research.TypeApprove, map[string]string{"id": "uptake"})

	// Opt-ins: 0, 1 and 3..13 (13 patients); 2 opts in then out; 14 out; 15 never chooses.
	for i := range 14 {
		w.MustTx(t, pats[i], research.TypeOptIn, map[string]any{"project": "uptake", "patient": pats[i].DID})
	}
	w.MustTx(t, pats[2], research.TypeOptOut, map[string]any{"project": "uptake", "patient": pats[2].DID})
	w.MustTx(t, pats[14], research.TypeOptOut, map[string]any{"project": "uptake", "patient": pats[14].DID})
	// Patient 2 also holds a research consent for the institute's
	// researchers (consent.Can would allow their reads): the project
	// opt-out still wins, for counting and for extracts.
	w.MustTx(t, pats[2], "consent.grant", map[string]any{"patient": pats[2].DID, "provisions": []map[string]any{{"type": "permit",
		"actors": []map[string]string{{"org": nri, "role": "researcher"}}, "purposes": []string{"HRESEARCH"}}}})
	var parts []client.ResearchParticipant
	if err := c.Get(ctx, "/v1/research/projects/uptake/participants", &parts); err != nil {
		t.Fatal(err)
	}
	counted := map[cc.DID]bool{}
	for _, p := range parts {
		counted[p.Patient] = true
	}
	if len(parts) != 13 || counted[pats[2].DID] || counted[pats[14].DID] || counted[pats[15].DID] || !counted[pats[0].DID] {
		t.Fatalf("participants = %+v, want patients 0, 1, 3..13", parts)
	}

	// A question, answered once.
	w.MustTx(t, researcher, research.TypeAsk, map[string]any{"project": "uptake", "epsilon_micro": 19 * research.MicroPerEpsilon,
		"query": map[string]any{"measure": "count", "by": []string{"sex"}}})
	var q1, q2 json.RawMessage
	if err := c.Get(ctx, "/v1/research/projects/uptake/queries/1", &q1); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, "/v1/research/projects/uptake/queries/1", &q2); err != nil {
		t.Fatal(err)
	}
	if string(q1) != string(q2) {
		t.Errorf("refetching the answer changed it:\n%s\n%s", q1, q2)
	}
	var q research.Query
	json.Unmarshal(q1, &q)
	if q.Status != research.QueryAnswered || q.Answer == nil || len(q.Answer.Cells) != 5 {
		t.Fatalf("question 1 = %s", q1)
	}
	// ε = 19 makes the noise scale 2/19: the total is 13 (the 16 in the
	// register less the three who did not consent) up to ±1 with
	// overwhelming probability; strata of 6 and 7 are suppressed.
	if tot := q.Answer.Cells[0]; tot.Suppressed || tot.N < 12 || tot.N > 14 {
		t.Errorf("total = %+v, want about 13 consenting patients of 16", tot)
	}
	for _, cell := range q.Answer.Cells[1:] {
		if !cell.Suppressed || cell.N != 0 {
			t.Errorf("stratum %v = %+v, want suppressed (fewer than %d)", cell.Group, cell, research.MinCell)
		}
	}
	var b httpapi.Budget
	if err := c.Get(ctx, "/v1/research/projects/uptake/budget", &b); err != nil || b.SpentMicro != 19*research.MicroPerEpsilon || b.RemainingMicro != research.MicroPerEpsilon {
		t.Errorf("budget = %+v, %v", b, err)
	}
	// Past the budget: refused with a clear error, nothing spent.
	raw, err := c.Build(ctx, client.NewSigner(researcher.DID, researcher.Key), research.TypeAsk, map[string]any{"project": "uptake",
		"epsilon_micro": 2 * research.MicroPerEpsilon, "query": map[string]any{"measure": "count"}})
	if err != nil {
		t.Fatal(err)
	}
	res := w.Chain.Submit(ctx, [][]byte{raw}, true)[0]
	if res.Accepted && res.Code == 0 || cc.KindFromCode(res.Code) != cc.FailedPrecondition || !strings.Contains(res.Log, "privacy budget exhausted") {
		t.Errorf("over-budget question: %+v", res)
	}

	// A signed research export of patient 2 (opted out, though a consent
	// would let the researcher read, and their records are here) is never
	// read: the job skips it.
	sr, err := access.SignRead(access.ReadRequest{ChainID: recordtest.ChainID, Requester: researcher.DID, Patient: pats[2].DID,
		Action: access.ActionExport, Purpose: research.Purpose, Query: httpapi.ExtractQuery, Org: nri,
		Issued: time.Now().UTC(), Nonce: recordtest.Nonce()}, researcher.Key)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(httpapi.ExtractRequest{Reads: []httpapi.ExtractRead{{Custodian: stMary, Read: sr}}})
	if code, out := post(t, srv.URL+"/v1/research/projects/uptake/extracts", body); code != 202 {
		t.Fatalf("extract of patient 2: HTTP %d %s", code, out)
	} else {
		var kick struct{ Job string }
		json.Unmarshal(out, &kick)
		st, err := c.WaitResearchExtract(ctx, kick.Job)
		if err != nil || st.Patients != 0 || st.Skipped != 1 || len(st.Files) != 0 {
			t.Fatalf("extract of an opted-out patient = %+v, %v; want nothing released", st, err)
		}
	}

	// The extract: the researcher signs one export per participant and
	// custodian (patients 0 and 1 have records here).
	job, err := c.StartResearchExtract(ctx, client.NewSigner(researcher.DID, researcher.Key), "uptake", nri)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitResearchExtract(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if st.Patients != 2 || len(st.Events) != 2 || len(st.Files) == 0 {
		t.Fatalf("extract = %+v, want the records of patients 0 and 1", st)
	}
	var all strings.Builder
	for _, f := range st.Files {
		var body []byte
		if err := c.Get(ctx, strings.TrimPrefix(f.URL, srv.URL), &body); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(body), "\n"); n != f.Count {
			t.Errorf("%s: %d lines, manifest says %d", f.Type, n, f.Count)
		}
		all.Write(body)
	}
	text := all.String()
	for i, ids := range sources {
		for s := range ids {
			if strings.Contains(text, s) {
				t.Errorf("the extract contains %q, a direct identifier of source bundle %d", s, i)
			}
		}
	}
	if !strings.Contains(text, `"resourceType":"Immunization"`) || strings.Count(text, `"resourceType":"Patient"`) != 2 {
		t.Errorf("the extract lacks the consenting patients' data")
	}
	// Patient 2 (opted out) was never read; 0 and 1 see the research read.
	if n := strings.Count(text, `"birthDate":"`); n != 2 {
		t.Errorf("%d Patient birth dates in the extract, want 2", n)
	}
	for i, want := range []bool{true, true, false} {
		log, err := access.AccessLog(w.Chain.State(), pats[i].DID)
		if err != nil {
			t.Fatal(err)
		}
		got := false
		for _, ev := range log {
			if ev.Accessor == researcher.DID && ev.Purpose == research.Purpose && ev.Org == nri {
				got = true
			}
		}
		if got != want {
			t.Errorf("patient %d's access log shows the research read: %v, want %v", i, got, want)
		}
	}
}

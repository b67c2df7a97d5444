package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"carechain/client"
	"carechain/httpapi"
	"carechain/internal/recordtest"
)

// TestFHIRConformance pushes official FHIR R4 examples through each
// supported interaction, unchanged: the example Patient by a transaction
// (PUT Patient/example), then per example: create (POST /fhir/{type}),
// read, vread, _history and search by patient — each answer carries the
// submitted content with meta.versionId and meta.lastUpdated.
func TestFHIRConformance(t *testing.T) {
	w := recordtest.MustWorld(t, "httpapi-conformance", 1)
	api := httpapi.New(w.Chain, nil)
	api.SetRecords(w.All()...)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	c := client.New(srv.URL)
	ctx := context.Background()
	doc := w.Staff(t, "st-mary-physician")
	signer := client.NewSigner(doc.DID, doc.Key)
	patient := w.Pop.Patients[0]
	dir := recordtest.Testdata(t, "fhir-r4-examples")

	pat := recordtest.Read(t, filepath.Join(dir, "Patient-example.json"))
	put, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"resource": json.RawMessage(pat), "request": map[string]string{"method": "PUT", "url": "Patient/example"}}}})
	if _, err := c.Ingest(ctx, signer, "st-mary-hospital", patient.DID, "", put); err != nil {
		t.Fatalf("PUT Patient/example: %v", err)
	}
	read := func(path string) map[string]any {
		t.Helper()
		r, err := c.ReadFHIR(ctx, signer, client.ReadOptions{Patient: patient.DID, Purpose: "TREAT"}, path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		var m map[string]any
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return m
	}
	for _, file := range []string{"AllergyIntolerance-example.json", "Condition-example.json", "Encounter-example.json",
		"Immunization-example.json", "Observation-bmi.json", "Observation-body-temperature.json"} {
		t.Run(file, func(t *testing.T) {
			body := recordtest.Read(t, filepath.Join(dir, file))
			var in map[string]any
			json.Unmarshal(body, &in)
			typ := in["resourceType"].(string)
			sum, err := c.Ingest(ctx, signer, "st-mary-hospital", patient.DID, typ, body)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if sum.Created != 1 || len(sum.Refs) != 1 || !strings.HasPrefix(sum.Refs[0], typ+"/") {
				t.Fatalf("create: %+v", sum)
			}
			// create assigns the id (the example's own id is not kept).
			ref := sum.Refs[0]
			id := strings.TrimPrefix(ref, typ+"/")
			got := read("/fhir/" + ref)
			meta, _ := got["meta"].(map[string]any)
			if meta["versionId"] != "1" || meta["lastUpdated"] == nil {
				t.Errorf("read meta %v", meta)
			}
			for k, v := range in {
				if k == "meta" || k == "text" || k == "id" {
					continue
				}
				gb, _ := json.Marshal(got[k])
				wb, _ := json.Marshal(v)
				if string(gb) != string(wb) {
					t.Errorf("read %s: %s = %s, want %s", ref, k, gb, wb)
				}
			}
			if got["id"] != id {
				t.Errorf("read: id %v, want %s", got["id"], id)
			}
			if v := read("/fhir/" + ref + "/_history/1"); v["id"] != id {
				t.Errorf("vread: id %v", v["id"])
			}
			if h := read("/fhir/" + ref + "/_history"); h["type"] != "history" || len(h["entry"].([]any)) != 1 {
				t.Errorf("history: %v entries", h["entry"])
			}
			s := read("/fhir/" + typ + "?patient=Patient/example&_id=" + id)
			entries, _ := s["entry"].([]any)
			if s["type"] != "searchset" || len(entries) != 1 || !strings.HasSuffix(entries[0].(map[string]any)["fullUrl"].(string), ref) {
				t.Errorf("search: %v", s)
			}
		})
	}
}

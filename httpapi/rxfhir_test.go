package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"carechain/client"
	"carechain/fhir"
	"carechain/httpapi"
	"carechain/identity"
	"carechain/internal/recordtest"
	"carechain/rx"
)

// officialExample reads an official FHIR example without id and text and
// applies edit to it.
func officialExample(t *testing.T, name string, edit func(m map[string]any)) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(recordtest.Read(t, recordtest.Testdata(t, "fhir-r4-examples", name)), &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "id")
	delete(m, "text")
	edit(m)
	return m
}

// TestPrescriptionLedgerStatusInFHIR: a FHIR read, search, $everything
// and export of an e-prescription's MedicationRequest show the ledger's
// status and its dispensed, remaining and total quantities, the same in
// each, as dispenses and a cancellation change them.
func TestPrescriptionLedgerStatusInFHIR(t *testing.T) {
	w := recordtest.MustWorld(t, "httpapi-rx-fhir", 1)
	api := httpapi.New(w.Chain, nil)
	api.SetRecords(w.All()...)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	c := client.New(srv.URL)
	ctx := context.Background()
	pt, doc, pharmacist := w.Pop.Patients[0], w.Staff(t, "st-mary-physician"), w.Staff(t, "central-pharmacist")
	expires := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Second)
	w.MustTx(t, w.Pop.Nodes["central-pharmacy"], identity.TypePatientLink, map[string]any{"patient": pt.DID, "org": "central-pharmacy",
		"expires": expires.Format(time.RFC3339), "approval": identity.SignLinkApproval(pt.Key, recordtest.ChainID, pt.DID, "central-pharmacy", expires)})

	pURL := "urn:uuid:3e7b0a3c-0000-4000-8000-000000000001"
	mr := officialExample(t, "MedicationRequest-medrx0311.json", func(m map[string]any) {
		for _, k := range []string{"encounter", "requester", "reasonReference"} {
			delete(m, k)
		}
		m["subject"] = map[string]any{"reference": pURL}
		dr := m["dispenseRequest"].(map[string]any)
		delete(dr, "performer")
		dr["validityPeriod"] = map[string]any{"end": time.Now().UTC().AddDate(0, 0, 90).Format("2006-01-02")}
	})
	body, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"fullUrl": pURL, "resource": map[string]any{"resourceType": "Patient", "gender": "male", "birthDate": "1970-01-01"},
			"request": map[string]string{"method": "POST", "url": "Patient"}},
		map[string]any{"fullUrl": "urn:uuid:3e7b0a3c-0000-4000-8000-000000000002", "resource": mr,
			"request": map[string]string{"method": "POST", "url": "MedicationRequest"}}}})
	sum, err := c.Ingest(ctx, client.NewSigner(doc.DID, doc.Key), stMary, pt.DID, "", body)
	if err != nil {
		t.Fatal(err)
	}
	patient, id := sum.Refs[0], sum.Refs[1]
	dispense := func(quantity int) {
		t.Helper()
		md, _ := json.Marshal(officialExample(t, "MedicationDispense-meddisp0319.json", func(m map[string]any) {
			delete(m, "performer")
			m["subject"] = map[string]any{"reference": patient}
			m["authorizingPrescription"] = []any{map[string]any{"reference": id}}
			m["quantity"].(map[string]any)["value"] = quantity
		}))
		if _, err := c.Ingest(ctx, client.NewSigner(pharmacist.DID, pharmacist.Key), "central-pharmacy", "", "MedicationDispense", md); err != nil {
			t.Fatalf("dispensing %d: %v", quantity, err)
		}
	}

	// ledgerView is what a MedicationRequest shows of the ledger.
	type ledgerView struct {
		status                      string
		dispensed, remaining, total string
		fills                       int
	}
	viewOf := func(raw json.RawMessage) ledgerView {
		var r struct {
			Status    string `json:"status"`
			Extension []struct {
				URL       string `json:"url"`
				Extension []struct {
					URL      string          `json:"url"`
					Code     string          `json:"valueCode"`
					Fills    int             `json:"valueUnsignedInt"`
					Quantity json.RawMessage `json:"valueQuantity"`
				} `json:"extension"`
			} `json:"extension"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		v := ledgerView{status: r.Status}
		for _, e := range r.Extension {
			if e.URL != fhir.RxLedgerURL {
				continue
			}
			for _, s := range e.Extension {
				var q struct {
					Value json.Number `json:"value"`
					Unit  string      `json:"unit"`
				}
				_ = json.Unmarshal(s.Quantity, &q)
				switch s.URL {
				case "dispensed":
					v.dispensed = q.Value.String() + " " + q.Unit
				case "remaining":
					v.remaining = q.Value.String() + " " + q.Unit
				case "total":
					v.total = q.Value.String() + " " + q.Unit
				case "fills":
					v.fills = s.Fills
				}
			}
		}
		return v
	}
	// requests finds the MedicationRequests in a read's or a bundle's body.
	requests := func(body []byte) []json.RawMessage {
		var b struct {
			ResourceType string `json:"resourceType"`
			Entry        []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatal(err)
		}
		if b.ResourceType == "MedicationRequest" {
			return []json.RawMessage{body}
		}
		var out []json.RawMessage
		for _, e := range b.Entry {
			if strings.Contains(string(e.Resource), `"resourceType":"MedicationRequest"`) {
				out = append(out, e.Resource)
			}
		}
		return out
	}

	tests := []struct {
		name   string
		before func()
		want   ledgerView
	}{
		{"issued", func() {}, ledgerView{"active", "0 TAB", "60 TAB", "60 TAB", 0}},
		{"partly dispensed", func() { dispense(30); dispense(12) }, ledgerView{"active", "42 TAB", "18 TAB", "60 TAB", 2}},
		{"cancelled", func() {
			w.MustTx(t, doc, rx.TypeCancel, map[string]any{"prescription": id, "reason": "adverse-reaction"})
		}, ledgerView{"cancelled", "42 TAB", "0 TAB", "60 TAB", 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.before()
			for _, path := range []string{"/fhir/" + id, "/fhir/MedicationRequest?patient=" + patient, "/fhir/" + patient + "/$everything"} {
				r, err := c.ReadFHIR(ctx, client.NewSigner(pt.DID, pt.Key), client.ReadOptions{Patient: pt.DID, Purpose: "PATRQT"}, path)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				mrs := requests(r.Body)
				if len(mrs) != 1 {
					t.Fatalf("GET %s: %d MedicationRequests", path, len(mrs))
				}
				if _, err := fhir.Parse(mrs[0]); err != nil {
					t.Errorf("GET %s: not valid R4: %v", path, err)
				}
				if got := viewOf(mrs[0]); got != tt.want {
					t.Errorf("GET %s: %+v, want %+v", path, got, tt.want)
				}
			}
		})
	}
}

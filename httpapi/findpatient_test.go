package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	cc "carechain"
	"carechain/client"
	"carechain/consent"
	"carechain/httpapi"
	"carechain/internal/recordtest"
)

// TestFindPatientByIdentifier: a clinician finds a patient by medical
// record number through a search signed for no patient. Allowed by
// consent, the Patient is released under a logged access event of that
// patient; without consent, the answer is exactly the answer to an
// unknown identifier (an empty searchset, nothing logged); an identifier
// matching two patients the clinician may see is refused.
func TestFindPatientByIdentifier(t *testing.T) {
	w := recordtest.MustWorld(t, "httpapi-findpatient", 2)
	srv := httptest.NewServer(func() *httpapi.Server { a := httpapi.New(w.Chain, nil); a.SetRecords(w.All()...); return a }())
	t.Cleanup(srv.Close)
	c := client.New(srv.URL)
	ctx := context.Background()
	nurse := w.Staff(t, "st-mary-nurse")
	pats := w.Pop.Patients
	for i, p := range pats {
		body, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{map[string]any{
			"fullUrl": fmt.Sprintf("urn:uuid:5d0c0000-0000-4000-8000-%012d", i),
			"resource": map[string]any{"resourceType": "Patient", "gender": "female", "birthDate": "1990-02-03",
				"identifier": []any{map[string]string{"system": "urn:test:mrn", "value": fmt.Sprintf("MRN-%d", i)},
					map[string]string{"system": fmt.Sprintf("urn:test:other-%d", i), "value": "SHARED"}}},
			"request": map[string]string{"method": "POST", "url": "Patient"}}}})
		if _, err := c.Ingest(ctx, client.NewSigner(nurse.DID, nurse.Key), stMary, p.DID, "", body); err != nil {
			t.Fatal(err)
		}
	}
	doc, other := w.Staff(t, "northside-physician"), w.Staff(t, "riverside-physician")
	grant := func(p int) {
		w.MustTx(t, pats[p], consent.TypeGrant, map[string]any{"patient": pats[p].DID, "provisions": []cc.Provision{
			{Type: cc.Permit, Actors: []cc.Actor{{DID: doc.DID}}, Purposes: []string{"TREAT"}, ResourceTypes: []string{"Patient"}}}})
	}
	grant(0)
	find := func(who string, ident string) (*client.FHIRResponse, error) {
		s := map[string]*client.Signer{"doc": client.NewSigner(doc.DID, doc.Key), "other": client.NewSigner(other.DID, other.Key)}[who]
		return c.ReadFHIR(ctx, s, client.ReadOptions{Purpose: "TREAT"}, "/fhir/Patient?identifier="+url.QueryEscape(ident))
	}
	type bundle struct {
		Type  string `json:"type"`
		Total int    `json:"total"`
		Entry []struct {
			Resource map[string]any `json:"resource"`
		} `json:"entry"`
	}
	decode := func(r *client.FHIRResponse) bundle {
		var b bundle
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatal(err)
		}
		return b
	}

	// Allowed: system|value and a bare value both find patient 0.
	for _, ident := range []string{"urn:test:mrn|MRN-0", "MRN-0"} {
		r, err := find("doc", ident)
		if err != nil {
			t.Fatalf("%s: %v", ident, err)
		}
		b := decode(r)
		if b.Total != 1 || len(b.Entry) != 1 || b.Entry[0].Resource["resourceType"] != "Patient" || r.AccessEvent == "" ||
			r.Header.Get("Carechain-Patient") != string(pats[0].DID) {
			t.Fatalf("%s: %s (event %q, patient %q)", ident, r.Body, r.AccessEvent, r.Header.Get("Carechain-Patient"))
		}
		var log []struct {
			ID       string `json:"id"`
			Accessor cc.DID `json:"accessor"`
			Action   string `json:"action"`
		}
		if err := c.Get(ctx, "/v1/patients/"+string(pats[0].DID)+"/access-log", &log); err != nil {
			t.Fatal(err)
		}
		logged := false
		for _, e := range log {
			logged = logged || e.ID == r.AccessEvent && e.Accessor == doc.DID && e.Action == "search"
		}
		if !logged {
			t.Fatalf("%s: event %s is not in patient 0's access log %+v", ident, r.AccessEvent, log)
		}
	}

	// Denied (no consent for riverside, none from patient 1 for northside)
	// and unknown identifiers answer the same: an empty searchset, nothing logged.
	for _, q := range [][2]string{{"other", "urn:test:mrn|MRN-0"}, {"doc", "urn:test:mrn|MRN-1"}, {"doc", "urn:test:mrn|MRN-9"}, {"other", "nobody"}} {
		r, err := find(q[0], q[1])
		if err != nil {
			t.Fatalf("%v: %v", q, err)
		}
		b := decode(r)
		if r.Status != http.StatusOK || b.Type != "searchset" || b.Total != 0 || len(b.Entry) != 0 || r.AccessEvent != "" || r.Header.Get("Carechain-Patient") != "" {
			t.Fatalf("%v: HTTP %d %s (event %q)", q, r.Status, r.Body, r.AccessEvent)
		}
	}

	// "SHARED" (in two systems) matches patient 0 only while patient 1
	// shares nothing with northside, then both: refused.
	if r, err := find("doc", "SHARED"); err != nil || decode(r).Total != 1 || r.Header.Get("Carechain-Patient") != string(pats[0].DID) {
		t.Fatalf("SHARED with one patient visible: %v", err)
	}
	grant(1)
	if _, err := find("doc", "SHARED"); !cc.Is(cc.Invalid, err) {
		t.Fatalf("SHARED with two patients visible: %v, want Invalid", err)
	}
	if r, err := find("doc", "urn:test:other-1|SHARED"); err != nil || r.Header.Get("Carechain-Patient") != string(pats[1].DID) {
		t.Fatalf("urn:test:other-1|SHARED: %v", err)
	}

	// A search signed for no patient finds Patients only.
	_, err := c.ReadFHIR(ctx, client.NewSigner(doc.DID, doc.Key), client.ReadOptions{Purpose: "TREAT"}, "/fhir/Immunization?identifier=MRN-0")
	if !cc.Is(cc.Invalid, err) {
		t.Fatalf("an Immunization search signed for no patient: %v, want Invalid", err)
	}

	// The CapabilityStatement says so.
	var raw []byte
	if err := c.Get(ctx, "/fhir/metadata", &raw); err != nil || !strings.Contains(string(raw), `"name":"identifier"`) {
		t.Fatalf("metadata lists no identifier search: %v %s", err, raw)
	}
}

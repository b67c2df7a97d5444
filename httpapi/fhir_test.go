package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	cc "carechain"
	"carechain/access"
	"carechain/client"
	"carechain/fhir"
	"carechain/httpapi"
	"carechain/internal/recordtest"
	"carechain/records"
	"carechain/seed"
)

// fhirWorld is a recordtest world behind a real HTTP server on 127.0.0.1,
// with Synthea's provider directory and Bob's bundle ingested at St Mary's
// for the first demo patient.
type fhirWorld struct {
	*recordtest.World
	srv     *httptest.Server
	c       *client.Client
	patient seed.Identity
	doc     seed.Identity
	bobID   string // Patient/{id}
}

const stMary = "st-mary-hospital"

func mustFHIRWorld(t *testing.T) *fhirWorld {
	t.Helper()
	w := recordtest.MustWorld(t, "httpapi-fhir", 4)
	api := httpapi.New(w.Chain, nil)
	api.SetRecords(w.All()...)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	fw := &fhirWorld{World: w, srv: srv, c: client.New(srv.URL), patient: w.Pop.Patients[0], doc: w.Staff(t, "st-mary-physician")}
	ctx := context.Background()
	dir := recordtest.Testdata(t, "synthea")
	for _, f := range []string{recordtest.SyntheaHospitals, recordtest.SyntheaPractitioners} {
		if _, err := fw.c.Ingest(ctx, fw.signer(fw.doc), stMary, "", "", recordtest.Read(t, filepath.Join(dir, f))); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	bob := recordtest.Read(t, filepath.Join(dir, "patients", recordtest.SyntheaBob))
	sum, err := fw.c.Ingest(ctx, fw.signer(fw.doc), stMary, fw.patient.DID, "", bob)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Created != 238 || sum.ByType["Immunization"] != 46 || sum.ByType["Patient"] != 1 {
		t.Fatalf("ingest summary %+v, want 238 created (46 Immunization, 1 Patient)", sum)
	}
	records.PatientRecords(w.Chain.State(), fw.patient.DID, func(a cc.RecordAnchor) bool {
		if a.Type == "Patient" {
			fw.bobID = a.ID
			return false
		}
		return true
	})
	if fw.bobID == "" {
		t.Fatal("no Patient anchored for the patient")
	}
	return fw
}

func (fw *fhirWorld) signer(id seed.Identity) *client.Signer { return client.NewSigner(id.DID, id.Key) }

func (fw *fhirWorld) read(who seed.Identity, purpose, path string) (*client.FHIRResponse, error) {
	return fw.c.ReadFHIR(context.Background(), fw.signer(who), client.ReadOptions{Patient: fw.patient.DID, Purpose: purpose}, path)
}

func bundleOf(t *testing.T, b []byte) (total int, types map[string]int) {
	t.Helper()
	var doc struct {
		Type  string `json:"type"`
		Total int    `json:"total"`
		Entry []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("not a bundle: %v", err)
	}
	types = map[string]int{}
	for _, e := range doc.Entry {
		types[e.Resource.ResourceType]++
	}
	return doc.Total, types
}

func TestFHIRReadSearchEverything(t *testing.T) {
	fw := mustFHIRWorld(t)
	stranger := fw.Staff(t, "nri-researcher")

	// The patient reads their own Patient resource; the access event is
	// committed before the answer and named in it.
	r, err := fw.read(fw.patient, "PATRQT", "/fhir/"+fw.bobID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(r.Body, []byte(`"resourceType":"Patient"`)) || r.AccessEvent == "" || r.Basis != "patient" || r.Height == 0 {
		t.Errorf("patient read: event %q basis %q height %d", r.AccessEvent, r.Basis, r.Height)
	}

	// A stranger's read of an existing record and anyone's read of a
	// missing one answer the same 404.
	_, errDenied := fw.read(stranger, "TREAT", "/fhir/"+fw.bobID)
	_, errMissing := fw.read(stranger, "TREAT", "/fhir/Patient/doesnotexist")
	var d, m *cc.Error
	if !errors.As(errDenied, &d) || !errors.As(errMissing, &m) || d.Kind != cc.NotFound || d.Kind != m.Kind || d.Msg != m.Msg {
		t.Errorf("denied = %v, missing = %v: want the same not-found", errDenied, errMissing)
	}

	// The authoring organization's physician searches Bob's 29 survey
	// Observations by category, then 3 of them by code, then by date.
	r, err = fw.read(fw.doc, "TREAT", "/fhir/Observation?patient="+fw.bobID+"&category=survey")
	if err != nil {
		t.Fatal(err)
	}
	total, types := bundleOf(t, r.Body)
	if total != 29 || len(types) != 1 || types["Observation"] != total {
		t.Errorf("surveys: total %d types %v, want 29 Observations", total, types)
	}
	r, err = fw.read(fw.doc, "TREAT", "/fhir/Observation?patient="+fw.bobID+"&code=http://loinc.org|159800AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := bundleOf(t, r.Body); n != 3 {
		t.Errorf("by code: %d, want 3", n)
	}
	r, err = fw.read(fw.doc, "TREAT", "/fhir/Immunization?patient="+fw.bobID+"&date=1991-07-08")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := bundleOf(t, r.Body); n == 0 {
		t.Errorf("immunizations on the birth date (at day precision, from the node's index): none")
	}
	r, err = fw.read(fw.doc, "TREAT", "/fhir/Immunization?patient="+fw.bobID+"&date=ge2100")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := bundleOf(t, r.Body); n != 0 || r.AccessEvent != "" {
		t.Errorf("future immunizations: %d, event %q (an empty page logs nothing)", n, r.AccessEvent)
	}

	// $everything for the patient returns all 238 resources in pages.
	seen := 0
	for off := 0; off < 1000; off += 100 {
		r, err = fw.read(fw.patient, "PATRQT", "/fhir/Patient/"+strings.TrimPrefix(fw.bobID, "Patient/")+"/$everything?_count=100&_offset="+itoa(off))
		if err != nil {
			t.Fatal(err)
		}
		total, types = bundleOf(t, r.Body)
		page := 0
		for _, n := range types {
			page += n
		}
		seen += page
		if page < 100 {
			break
		}
	}
	if total != 238 || seen != 238 {
		t.Errorf("$everything: total %d, pages held %d, want 238", total, seen)
	}
	// The stranger's search finds nothing and logs nothing.
	r, err = fw.read(stranger, "TREAT", "/fhir/Observation?patient="+fw.bobID)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := bundleOf(t, r.Body); n != 0 || r.AccessEvent != "" {
		t.Errorf("stranger search: %d results, event %q", n, r.AccessEvent)
	}

	// The patient's access log lists exactly the logged reads, each with
	// a proof key, and renders as a valid AuditEvent bundle.
	var log []httpapi.LoggedAccess
	if err := fw.c.Get(context.Background(), "/v1/patients/"+string(fw.patient.DID)+"/access-log", &log); err != nil {
		t.Fatal(err)
	}
	if len(log) != 7 { // read, 3 searches with matches, 3 $everything pages
		t.Errorf("access log has %d events, want 7", len(log))
	}
	for _, e := range log {
		if e.ProofKey == "" || e.Accessor == stranger.DID {
			t.Errorf("event %+v", e)
		}
	}
	var audit []byte
	if err := fw.c.Get(context.Background(), "/fhir/AuditEvent?patient="+string(fw.patient.DID), &audit); err != nil {
		t.Fatal(err)
	}
	if _, err := fhir.ParseBundle(audit); err != nil {
		t.Errorf("AuditEvent bundle does not validate: %v", err)
	}

	// Reads carry meta.versionId and meta.lastUpdated; _id, _lastUpdated
	// and _sort search as FHIR says.
	r, err = fw.read(fw.doc, "TREAT", "/fhir/"+fw.bobID)
	if err != nil {
		t.Fatal(err)
	}
	var pat struct {
		Meta struct{ VersionID, LastUpdated string } `json:"meta"`
	}
	json.Unmarshal(r.Body, &pat)
	if pat.Meta.VersionID != "1" || pat.Meta.LastUpdated == "" {
		t.Errorf("read meta %+v, want versionId 1 and lastUpdated", pat.Meta)
	}
	for _, tt := range []struct {
		query string
		want  int
	}{
		{"/fhir/Patient?_id=" + strings.TrimPrefix(fw.bobID, "Patient/"), 1},
		{"/fhir/Immunization?patient=" + fw.bobID + "&_lastUpdated=ge2000", 46},
		{"/fhir/Immunization?patient=" + fw.bobID + "&_lastUpdated=lt2000", 0},
	} {
		r, err := fw.read(fw.doc, "TREAT", tt.query+"&subject="+fw.bobID)
		if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		if n, _ := bundleOf(t, r.Body); n != tt.want {
			t.Errorf("%s: %d results, want %d", tt.query, n, tt.want)
		}
	}
	for _, order := range []string{"date", "-date"} {
		r, err = fw.read(fw.doc, "TREAT", "/fhir/Immunization?patient="+fw.bobID+"&_sort="+order+"&_count=50")
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			Entry []struct {
				Resource struct{ OccurrenceDateTime string } `json:"resource"`
			} `json:"entry"`
		}
		json.Unmarshal(r.Body, &b)
		if len(b.Entry) != 46 {
			t.Fatalf("_sort=%s: %d entries, want 46", order, len(b.Entry))
		}
		for i := 1; i < len(b.Entry); i++ {
			prev, cur := b.Entry[i-1].Resource.OccurrenceDateTime, b.Entry[i].Resource.OccurrenceDateTime
			if order == "date" && prev > cur || order == "-date" && prev < cur {
				t.Errorf("_sort=%s: %s before %s", order, prev, cur)
				break
			}
		}
	}
	if _, err := fw.read(fw.doc, "TREAT", "/fhir/Immunization?patient="+fw.bobID+"&_sort=colour"); !cc.Is(cc.Invalid, err) {
		t.Errorf("_sort=colour: %v, want invalid", err)
	}
	// Paging links: next while more remain, previous after the first page.
	for _, tt := range []struct {
		offset     int
		next, prev bool
	}{{0, true, false}, {20, true, true}, {40, false, true}} {
		r, err := fw.read(fw.doc, "TREAT", "/fhir/Immunization?patient="+fw.bobID+"&_count=20&_offset="+itoa(tt.offset))
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			Link []struct{ Relation, URL string }
		}
		json.Unmarshal(r.Body, &b)
		has := map[string]string{}
		for _, l := range b.Link {
			has[l.Relation] = l.URL
		}
		if (has["next"] != "") != tt.next || (has["previous"] != "") != tt.prev || has["self"] == "" {
			t.Errorf("offset %d: links %v", tt.offset, has)
		}
		if tt.next && !strings.Contains(has["next"], "_offset="+itoa(tt.offset+20)) {
			t.Errorf("offset %d: next link %s", tt.offset, has["next"])
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestFHIRHistoryAndErasure(t *testing.T) {
	fw := mustFHIRWorld(t)
	ctx := context.Background()
	// An update of the Patient (PUT in a transaction) is version 2; the
	// history shows both, vread each.
	r, err := fw.read(fw.doc, "TREAT", "/fhir/"+fw.bobID)
	if err != nil {
		t.Fatal(err)
	}
	updated := bytes.Replace(r.Body, []byte(`"gender":"male"`), []byte(`"gender":"other"`), 1)
	put, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"resource": json.RawMessage(updated), "request": map[string]string{"method": "PUT", "url": fw.bobID}}}})
	sum, err := fw.c.Ingest(ctx, fw.signer(fw.doc), stMary, "", "", put)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Updated != 1 {
		t.Fatalf("update summary %+v", sum)
	}
	r, err = fw.read(fw.patient, "PATRQT", "/fhir/"+fw.bobID+"/_history")
	if err != nil {
		t.Fatal(err)
	}
	if n, types := bundleOf(t, r.Body); types["Patient"] != 2 {
		t.Errorf("history: %d entries %v, want 2 versions", n, types)
	}
	v1, err := fw.read(fw.patient, "PATRQT", "/fhir/"+fw.bobID+"/_history/1")
	if err != nil || !bytes.Contains(v1.Body, []byte(`"gender":"male"`)) {
		t.Errorf("vread 1: %v", err)
	}
	if v1.Header.Get("ETag") != `W/"1"` {
		t.Errorf("vread ETag %q", v1.Header.Get("ETag"))
	}

	// The patient erases an Observation: reads answer 410 Gone, the sweep
	// shreds its keys, the anchor stays.
	var obs string
	records.PatientRecords(fw.Chain.State(), fw.patient.DID, func(a cc.RecordAnchor) bool {
		if a.Type == "Observation" {
			obs = a.ID
			return false
		}
		return true
	})
	fw.MustTx(t, fw.patient, records.TypeErase, map[string]any{"patient": fw.patient.DID, "ids": []string{obs}})
	if _, err := fw.read(fw.patient, "PATRQT", "/fhir/"+obs); !cc.Is(cc.Gone, err) {
		t.Errorf("read after erasure: %v, want Gone", err)
	}
	if _, err := fw.read(fw.Staff(t, "nri-researcher"), "TREAT", "/fhir/"+obs); !cc.Is(cc.NotFound, err) {
		t.Errorf("stranger read after erasure: %v, want NotFound", err)
	}
	if _, err := fw.Gatekeepers[stMary].SweepErased(); err != nil {
		t.Fatal(err)
	}
	a, err := records.GetAnchor(fw.Chain.State(), obs)
	if err != nil || !a.Erased {
		t.Fatalf("anchor after erasure: %+v %v", a, err)
	}
	if _, err := fw.Vault.Get(obs, 1, a.ContentHash); !cc.Is(cc.Gone, err) {
		t.Errorf("vault after sweep: %v, want Gone", err)
	}
}

func TestFHIRBadRequests(t *testing.T) {
	fw := mustFHIRWorld(t)
	ctx := context.Background()
	body := []byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"` + fw.bobID + `"}}`)
	sw := fw.SignedWrite(t, fw.doc, stMary, "", body)
	post := func(path string, hdr map[string]string, body []byte) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, "POST", fw.srv.URL+path, bytes.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	other := fw.SignedWrite(t, fw.doc, stMary, "", body)
	tests := []struct {
		name   string
		path   string
		header map[string]string
		body   []byte
		want   int
	}{
		{"no signature", "/fhir/Observation", nil, body, http.StatusForbidden},
		{"garbled header", "/fhir/Observation", map[string]string{access.HeaderWrite: "nonsense"}, body, http.StatusBadRequest},
		{"other body", "/fhir/Observation", map[string]string{access.HeaderWrite: sw.Header()}, []byte(`{"resourceType":"Observation"}`), http.StatusBadRequest},
		{"wrong type in path", "/fhir/Condition", map[string]string{access.HeaderWrite: other.Header()}, body, http.StatusBadRequest},
		{"malformed JSON", "/fhir", map[string]string{access.HeaderWrite: fw.SignedWrite(t, fw.doc, stMary, "", []byte(`{"resourceType":`)).Header()}, []byte(`{"resourceType":`), http.StatusBadRequest},
		{"not a member", "/fhir/Observation", map[string]string{access.HeaderWrite: fw.SignedWrite(t, fw.Staff(t, "nri-researcher"), stMary, "", body).Header()}, body, http.StatusForbidden},
		{"created", "/fhir/Observation", map[string]string{access.HeaderWrite: sw.Header()}, body, http.StatusCreated},
		{"replayed", "/fhir/Observation", map[string]string{access.HeaderWrite: sw.Header()}, body, http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, out := post(tt.path, tt.header, tt.body)
			if got != tt.want || !strings.Contains(out, "OperationOutcome") {
				t.Errorf("status %d, want %d: %s", got, tt.want, out)
			}
		})
	}
	// An invalid resource is named with its FHIRPath location.
	bad := []byte(`{"resourceType":"Observation","status":"bogus","code":{"text":"x"},"subject":{"reference":"` + fw.bobID + `"}}`)
	_, err := fw.c.Ingest(ctx, fw.signer(fw.doc), stMary, "", "Observation", bad)
	if !cc.Is(cc.Invalid, err) || !strings.Contains(err.Error(), "Observation.status") {
		t.Errorf("invalid resource: %v", err)
	}
}

// TestFHIRMetadata checks the CapabilityStatement is valid FHIR R4 and
// names the search parameters the gatekeeper supports.
func TestFHIRMetadata(t *testing.T) {
	srv := httptest.NewServer(httpapi.New(nil, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/fhir/metadata")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/fhir+json" {
		t.Fatalf("metadata: %d %s", resp.StatusCode, ct)
	}
	r, err := fhir.Parse(buf.Bytes())
	if err != nil || r.Type != "CapabilityStatement" {
		t.Fatalf("metadata does not validate: %v", err)
	}
	for _, p := range []string{`"_id"`, `"_lastUpdated"`, `"subject"`, `"date"`, `"code"`} {
		if !bytes.Contains(buf.Bytes(), []byte(p)) {
			t.Errorf("metadata does not name search parameter %s", p)
		}
	}
}

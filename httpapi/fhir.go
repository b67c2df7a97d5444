package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/fhir"
	"carechain/gatekeeper"
	"carechain/records"
)

// MaxFHIRBytes bounds one FHIR request body (a Synthea patient bundle is
// a few MB).
const MaxFHIRBytes = 64 << 20

// fhirJSON is the FHIR JSON media type.
const fhirJSON = "application/fhir+json"

// SetRecords wires the FHIR R4 endpoints (/fhir) to the gatekeepers of the
// organizations whose records this node holds, one per organization.
func (s *Server) SetRecords(gks ...*gatekeeper.Gatekeeper) {
	s.gkMu.Lock()
	defer s.gkMu.Unlock()
	s.gks = map[string]*gatekeeper.Gatekeeper{}
	for _, g := range gks {
		s.gks[g.Org()] = g
	}
}

// gatekeeper returns the local gatekeeper of org, or NotFound: a record
// whose custodian this node does not serve answers as a missing one.
func (s *Server) gatekeeper(org string) (*gatekeeper.Gatekeeper, error) {
	s.gkMu.RLock()
	defer s.gkMu.RUnlock()
	if g := s.gks[org]; g != nil {
		return g, nil
	}
	return nil, cc.Errorf("fhir", cc.NotFound, "no such record")
}

func (s *Server) fhirRoutes() {
	s.mux.HandleFunc("POST /fhir", s.fhirIngest)
	s.mux.HandleFunc("POST /fhir/{$}", s.fhirIngest)
	s.mux.HandleFunc("POST /fhir/{type}", s.fhirIngest)
	s.mux.HandleFunc("GET /fhir/metadata", s.fhirMetadata)
	s.mux.HandleFunc("GET /fhir/Consent", s.fhirConsents)
	s.mux.HandleFunc("GET /fhir/AuditEvent", s.fhirAuditEvents)
	s.mux.HandleFunc("GET /fhir/{type}", s.fhirSearch)
	s.mux.HandleFunc("GET /fhir/{type}/{id}", s.fhirRead)
	s.mux.HandleFunc("GET /fhir/{type}/{id}/_history", s.fhirRead)
	s.mux.HandleFunc("GET /fhir/{type}/{id}/_history/{vid}", s.fhirRead)
	s.mux.HandleFunc("GET /fhir/Patient/{id}/$everything", s.fhirEverything)
	s.mux.HandleFunc("/fhir/", func(w http.ResponseWriter, r *http.Request) {
		writeOutcome(w, s.log, cc.Errorf("fhir", cc.NotFound, "no route %s %s", r.Method, r.URL.Path))
	})
}

// writeOutcome answers err as a FHIR OperationOutcome with its status.
func writeOutcome(w http.ResponseWriter, log interface{ Error(string, ...any) }, err error) {
	k := cc.KindOf(err)
	if k == cc.Internal || k == cc.Other {
		log.Error("fhir request failed", "err", err)
	}
	w.Header().Set("Content-Type", fhirJSON)
	w.WriteHeader(StatusOf(k))
	w.Write(fhir.Outcome(err))
}

// writeFHIR answers a FHIR resource or Bundle. The Content-Length lets
// the body go out unchunked, in one write where it fits the connection's
// buffer.
func writeFHIR(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", fhirJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// baseURL is the absolute /fhir base of a request, for fullUrls.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/fhir/"
}

// signed parses the signed request in header name.
func signed(r *http.Request, name string) (access.SignedRead, error) {
	v := r.Header.Get(name)
	if v == "" {
		return access.SignedRead{}, cc.Errorf("fhir", cc.Unauthorized, "sign the request: the %s header is missing (see carechain's README: signed requests)", name)
	}
	return access.ParseHeader(v)
}

// fhirIngest stores a Bundle (POST /fhir) or one resource (POST
// /fhir/{type}) through the custodian organization's gatekeeper named in
// the author's signed write request.
func (s *Server) fhirIngest(w http.ResponseWriter, r *http.Request) {
	sw, err := signed(r, access.HeaderWrite)
	if err != nil {
		writeOutcome(w, s.log, err)
		return
	}
	body, _, err := fhir.ReadJSON(r.Body, r.ContentLength, MaxFHIRBytes)
	if err != nil {
		writeOutcome(w, s.log, err)
		return
	}
	var wr access.WriteRequest
	if json.Unmarshal(sw.Request, &wr) != nil {
		writeOutcome(w, s.log, cc.Errorf("fhir", cc.Malformed, "the signed write request is not JSON"))
		return
	}
	g, err := s.gatekeeper(wr.Org)
	if err != nil {
		writeOutcome(w, s.log, cc.Errorf("fhir", cc.Invalid, "this node holds no records for %q", cc.Echo(wr.Org)))
		return
	}
	typ := r.PathValue("type")
	res, err := g.Ingest(r.Context(), body, sw, typ)
	if err != nil {
		writeOutcome(w, s.log, err)
		return
	}
	if res.ClaimCode != "" {
		// Shown once, to the practitioner who hands it to the person.
		w.Header().Set("Carechain-Patient", string(res.Patient))
		w.Header().Set("Carechain-Claim-Code", res.ClaimCode)
		w.Header().Set("Cache-Control", "no-store")
	}
	if typ != "" && len(res.Entries) == 1 {
		e := res.Entries[0]
		w.Header().Set("Location", baseURL(r)+e.Ref+"/_history/"+strconv.Itoa(e.Version))
		w.Header().Set("ETag", etag(e.Version))
		status := http.StatusCreated
		if e.Status != "201 Created" {
			status = http.StatusOK
		}
		writeFHIR(w, status, fhir.Outcome(nil))
		return
	}
	out := make([]fhir.EntryResponse, len(res.Entries))
	for i, e := range res.Entries {
		out[i] = fhir.EntryResponse{Status: e.Status, Location: e.Ref + "/_history/" + strconv.Itoa(e.Version), Etag: etag(e.Version)}
	}
	b, err := fhir.TransactionResponse(out)
	if err != nil {
		writeOutcome(w, s.log, err)
		return
	}
	w.Header().Set("Carechain-Height", strconv.FormatInt(res.Height, 10))
	writeFHIR(w, http.StatusOK, b)
}

func etag(version int) string { return `W/"` + strconv.Itoa(version) + `"` }

// signedRead returns a read's signed request (Carechain-Read) and the
// request inside it, decoded to route it and to check it is for this HTTP
// request (the gatekeeper verifies the signature), after checking the
// relay signature of a read another node forwarded.
func (s *Server) signedRead(r *http.Request) (access.SignedRead, *access.ReadRequest, error) {
	sr, err := signed(r, access.HeaderRead)
	if err != nil {
		return sr, nil, err
	}
	var req access.ReadRequest
	if json.Unmarshal(sr.Request, &req) != nil {
		return sr, nil, cc.Errorf("fhir", cc.Malformed, "the signed read request is not JSON")
	}
	return sr, &req, s.checkRelay(r)
}

// fhirRead answers read, vread and _history of one record.
func (s *Server) fhirRead(w http.ResponseWriter, r *http.Request) {
	sr, req, err := s.signedRead(r)
	if err != nil {
		writeOutcome(w, s.log, err)
		return
	}
	id := r.PathValue("type") + "/" + r.PathValue("id")
	if req.Action != access.ActionRead || !slices.Equal(req.Records, []string{id}) {
		writeOutcome(w, s.log, cc.Errorf("fhir", cc.Invalid, "the signed request must read exactly %s", id))
		return
	}
	version := 0
	history := r.PathValue("vid") == "" && len(r.URL.Path) > len("/_history") && r.URL.Path[len(r.URL.Path)-len("/_history"):] == "/_history"
	if history {
		version = -1
	} else if vid := r.PathValue("vid"); vid != "" {
		if version, err = strconv.Atoi(vid); err != nil || version < 1 {
			writeOutcome(w, s.log, cc.Errorf("fhir", cc.NotFound, "no such record"))
			return
		}
	}
	g, err := s.custodianOf(id)
	if err != nil {
		if !s.tryRelay(w, r, id) {
			writeOutcome(w, s.log, err)
		}
		return
	}
	rel, err := g.ReadVersion(r.Context(), sr, version)
	if err != nil {
		writeOutcome(w, s.log, err)
		return
	}
	setEventHeaders(w, &rel.Event, rel.Height)
	if !history {
		rec := rel.Records[0]
		w.Header().Set("ETag", etag(rec.Version))
		w.Header().Set("Last-Modified", rec.Anchor.Time.UTC().Format(http.TimeFormat))
		writeFHIR(w, http.StatusOK, rec.JSON)
		return
	}
	entries := make([]fhir.BundleEntry, 0, len(rel.Records))
	for i := len(rel.Records) - 1; i >= 0; i-- { // newest first
		rec := rel.Records[i]
		method := "PUT"
		if rec.Version == 1 {
			method = "POST"
		}
		entries = append(entries, fhir.BundleEntry{FullURL: baseURL(r) + rec.ID, Resource: rec.JSON, Method: method,
			URL: rec.ID, Etag: etag(rec.Version), LastModified: rec.Anchor.Time})
	}
	b, err := fhir.HistoryBundle(entries, baseURL(r)+id+"/_history")
	if err != nil {
		writeOutcome(w, s.log, err)
		return
	}
	writeFHIR(w, http.StatusOK, b)
}

// custodianOf returns the local gatekeeper holding record id; a record
// that does not exist or is held elsewhere answers NotFound.
func (s *Server) custodianOf(id string) (*gatekeeper.Gatekeeper, error) {
	a, err := records.SharedAnchor(s.chain.State(), id) // only its organization is read
	if err != nil {
		return nil, cc.Errorf("fhir", cc.NotFound, "no such record")
	}
	return s.gatekeeper(a.Org)
}

func setEventHeaders(w http.ResponseWriter, ev *access.EventResult, height int64) {
	if ev.ID == "" {
		return
	}
	w.Header().Set("Carechain-Access-Event", ev.ID)
	w.Header().Set("Carechain-Access-Basis", string(ev.Basis))
	w.Header().Set("Carechain-Height", strconv.FormatInt(height, 10))
}

// fhirSearch answers GET /fhir/{type}?patient=Patient/{id}&… (or
// subject=…, or for Patient itself _id={id}) through the gatekeeper of
// that Patient's custodian.
func (s *Server) fhirSearch(w http.ResponseWriter, r *http.Request) {
	typ, q := r.PathValue("type"), r.URL.Query()
	patient := q.Get("patient")
	if patient == "" {
		patient = q.Get("subject")
	}
	if id := q.Get("_id"); patient == "" && typ == "Patient" && id != "" && !strings.Contains(id, ",") {
		patient = "Patient/" + id
	}
	if patient != "" && !strings.HasPrefix(patient, "Patient/") {
		patient = "Patient/" + patient
	}
	s.searchOrExport(w, r, access.ActionSearch, typ, patient)
}

// fhirEverything answers GET /fhir/Patient/{id}/$everything.
func (s *Server) fhirEverything(w http.ResponseWriter, r *http.Request) {
	s.searchOrExport(w, r, access.ActionExport, "", "Patient/"+r.PathValue("id"))
}

func (s *Server) searchOrExport(w http.ResponseWriter, r *http.Request, action, typ, patientRef string) {
	sr, req, err := s.signedRead(r)
	if err != nil {
		writeOutcome(w, s.log, err)
		return
	}
	q := r.URL.Query()
	want := access.SearchQuery(typ, q)
	if req.Action != action || req.Query != want {
		writeOutcome(w, s.log, cc.Errorf("fhir", cc.Invalid, "the signed request must be a %s with query %q", action, want))
		return
	}
	if patientRef == "" && action == access.ActionSearch && typ == "Patient" && q.Has("identifier") && req.Patient == "" {
		s.findPatient(w, r, sr) // a lookup by identifier, signed for no patient
		return
	}
	if patientRef == "" {
		writeOutcome(w, s.log, cc.Errorf("fhir", cc.Invalid, "give the patient: ?patient=Patient/{id} (or subject=, or _id= for Patient)"))
		return
	}
	if len(patientRef) < 9 || patientRef[:8] != "Patient/" {
		patientRef = "Patient/" + patientRef
	}
	empty := func() {
		b, _ := fhir.SearchSet(nil, 0, baseURL(r)+r.URL.RequestURI()[len("/fhir/"):])
		writeFHIR(w, http.StatusOK, b)
	}
	g, err := s.custodianOf(patientRef)
	if err != nil {
		if !s.tryRelay(w, r, patientRef) {
			empty() // an unknown patient and one held by no known node look the same
		}
		return
	}
	var res *gatekeeper.SearchResult
	if action == access.ActionExport {
		res, err = g.Everything(r.Context(), sr)
	} else {
		res, err = g.Search(r.Context(), sr)
	}
	if err != nil {
		writeOutcome(w, s.log, err)
		return
	}
	setEventHeaders(w, &res.Event, res.Height)
	entries := make([]fhir.BundleEntry, len(res.Records))
	for i, rec := range res.Records {
		entries[i] = fhir.BundleEntry{FullURL: baseURL(r) + rec.ID, Resource: rec.JSON}
	}
	next, prev := pageLinks(r, res.Offset, res.Count, res.Total)
	b, err := fhir.SearchSetPage(entries, res.Total, baseURL(r)+r.URL.RequestURI()[len("/fhir/"):], next, prev)
	if err != nil {
		writeOutcome(w, s.log, err)
		return
	}
	writeFHIR(w, http.StatusOK, b)
}

// pageLinks returns the URLs of the next and previous pages of a search
// answered at offset with page size count over total matches ("" when
// there is none). Each page is its own signed request.
func pageLinks(r *http.Request, offset, count, total int) (next, prev string) {
	at := func(off int) string {
		q := r.URL.Query()
		q.Set("_offset", strconv.Itoa(off))
		q.Set("_count", strconv.Itoa(count))
		return baseURL(r) + strings.TrimPrefix(r.URL.Path, "/fhir/") + "?" + q.Encode()
	}
	if count > 0 && offset+count < total {
		next = at(offset + count)
	}
	if count > 0 && offset > 0 {
		prev = at(max(offset-count, 0))
	}
	return next, prev
}

// fhirMetadata answers a minimal CapabilityStatement.
func (s *Server) fhirMetadata(w http.ResponseWriter, r *http.Request) {
	search := []map[string]string{{"name": "patient", "type": "reference"}, {"name": "subject", "type": "reference"},
		{"name": "_id", "type": "token"}, {"name": "_lastUpdated", "type": "date"}, {"name": "_type", "type": "token"},
		{"name": "date", "type": "date"}, {"name": "code", "type": "token"}, {"name": "category", "type": "token"},
		{"name": "identifier", "type": "token", "documentation": "Identifiers this node indexed (system|value, value, |value or system|). Patient?identifier=… signed for no patient finds a patient by identifier: only a Patient the requester may see, released under a logged access event; none answers an empty searchset; more than one patient is refused (give system|value)."}}
	doc := map[string]any{
		"resourceType": "CapabilityStatement", "status": "active", "date": time.Now().UTC().Format("2006-01-02"),
		"kind": "instance", "fhirVersion": "4.0.1", "format": []string{"json"},
		"implementation": map[string]string{"description": "carechain gatekeeper: consent-checked, ledger-logged FHIR R4", "url": baseURL(r)},
		"rest": []any{map[string]any{
			"mode":          "server",
			"documentation": fmt.Sprintf("Sign every request: reads in the %s header, writes in %s. Searches are within one patient's compartment, except Patient?identifier=…, a lookup signed for no patient; results sort by _sort=date|_lastUpdated (prefix - for descending) and page with _count and _offset. Bulk Data: Patient/{id}/$export and the system-level $export (one signed %s header per patient; no Group export) take _type, _since and _outputFormat=application/fhir+ndjson; every exported resource is released under a logged access event.", access.HeaderRead, access.HeaderWrite, access.HeaderRead),
			"resource": []any{map[string]any{
				"type": "Resource", "interaction": []map[string]string{{"code": "read"}, {"code": "vread"}, {"code": "history-instance"}, {"code": "search-type"}, {"code": "create"}},
				"searchParam": search,
			}},
			"interaction": []map[string]string{{"code": "transaction"}, {"code": "batch"}},
			"operation": []map[string]string{{"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"},
				{"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"},
				{"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}},
		}},
	}
	b, _ := json.Marshal(doc)
	writeFHIR(w, http.StatusOK, b)
}

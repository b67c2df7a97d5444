package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	cc "carechain"
	"carechain/access"
	"carechain/gatekeeper"
	"carechain/records"
)

// MaxExportPatients is the most patients one system-level export names.
const MaxExportPatients = 100

// truncatedPatient names a patient of a system-level export whose matches
// were more than one release: Exported of Total were exported; a
// patient-level export with _offset gets the rest.
type truncatedPatient struct {
	Patient  cc.DID `json:"patient"`
	Total    int    `json:"total"`
	Exported int    `json:"exported"`
}

// systemExportKickOff starts a FHIR Bulk Data system-level export (GET
// /fhir/$export, Prefer: respond-async) over the patients the requester
// signed for. The ledger logs reads per patient (each access event is one
// signed request for one patient's records, re-decided on-chain against
// that patient's consents), so the kick-off carries one Carechain-Read
// header per patient, 1..MaxExportPatients of them, each an export
// request of the same requester for a different patient with the
// kick-off's query (_type, _since, _count; _outputFormat aside), as for a
// patient-level export. Anything else is cc.Invalid (400, an
// OperationOutcome), a missing header cc.Unauthorized.
//
// For each patient, the custodian on this node that holds the patient's
// Patient resource releases, under one logged access event, the records
// the requester may see, which go into NDJSON files per resource type
// shared by all patients; a patient unknown here or whose records the
// requester may not see adds nothing (as a denied read answers not found).
// The manifest names every access event (cc:accessEvents) and the patients
// whose matches were more than one release (cc:truncated).
func (s *Server) systemExportKickOff(w http.ResponseWriter, r *http.Request) {
	const op = "fhir.export"
	fail := func(err error) { writeOutcome(w, s.log, err) }
	if !strings.Contains(r.Header.Get("Prefer"), "respond-async") {
		fail(cc.Errorf(op, cc.Invalid, "a Bulk Data kick-off needs the header Prefer: respond-async"))
		return
	}
	q := r.URL.Query()
	if f := q.Get("_outputFormat"); f != "" && f != "application/fhir+ndjson" && f != "application/ndjson" && f != "ndjson" {
		fail(cc.Errorf(op, cc.Invalid, "_outputFormat %q is not supported (application/fhir+ndjson)", cc.Echo(f)))
		return
	}
	q.Del("_outputFormat")
	headers := r.Header.Values(access.HeaderRead)
	switch {
	case len(headers) == 0:
		fail(cc.Errorf(op, cc.Unauthorized, "sign the request: one %s header per patient to export (see carechain's README: signed requests)", access.HeaderRead))
		return
	case len(headers) > MaxExportPatients:
		fail(cc.Errorf(op, cc.Invalid, "a system-level export names at most %d patients (%d %s headers)", MaxExportPatients, len(headers), access.HeaderRead))
		return
	}
	if err := s.checkRelay(r); err != nil {
		fail(err)
		return
	}
	want := access.SearchQuery("", q)
	if _, err := gatekeeper.ParseQuery(want); err != nil {
		fail(err)
		return
	}
	reads := make([]access.SignedRead, len(headers))
	patients := make([]cc.DID, len(headers))
	var requester cc.DID
	for i, h := range headers {
		sr, err := access.ParseHeader(h)
		if err != nil {
			fail(err)
			return
		}
		var req access.ReadRequest
		if json.Unmarshal(sr.Request, &req) != nil {
			fail(cc.Errorf(op, cc.Malformed, "%s header %d: the signed read request is not JSON", access.HeaderRead, i+1))
			return
		}
		switch {
		case req.Action != access.ActionExport || req.Query != want:
			fail(cc.Errorf(op, cc.Invalid, "%s header %d: the signed request must be an export with query %q", access.HeaderRead, i+1, want))
			return
		case i > 0 && req.Requester != requester:
			fail(cc.Errorf(op, cc.Invalid, "%s header %d: every signed request must be by the same requester", access.HeaderRead, i+1))
			return
		case slices.Contains(patients[:i], req.Patient):
			fail(cc.Errorf(op, cc.Invalid, "%s header %d: patient %s is named twice", access.HeaderRead, i+1, req.Patient))
			return
		}
		requester, reads[i], patients[i] = req.Requester, sr, req.Patient
	}
	s.startExport(w, r, func(ctx context.Context, job *exportJob, _ string) error {
		return s.runSystemExport(ctx, job, reads, patients)
	})
}

// runSystemExport releases each patient's records through the custodian
// of the patient's Patient resource on this node, in the order signed.
// The signed requests were only parsed: the gatekeeper verifies each
// (signature, chain, freshness, replay) and the ledger decides and logs
// it; a request it refuses fails the job.
func (s *Server) runSystemExport(ctx context.Context, job *exportJob, reads []access.SignedRead, patients []cc.DID) error {
	for i, sr := range reads {
		g := s.patientCustodian(patients[i])
		if g == nil {
			continue // unknown here, or held elsewhere: nothing
		}
		res, err := g.Everything(ctx, sr)
		if err != nil {
			return err
		}
		job.mu.Lock()
		err = job.add(res.Records)
		if res.Event.ID != "" {
			job.events = append(job.events, res.Event.ID)
		}
		if n := res.Offset + len(res.Records); n < res.Total && len(res.Records) > 0 {
			job.truncated = append(job.truncated, truncatedPatient{Patient: patients[i], Total: res.Total, Exported: n})
		}
		job.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// patientCustodian returns the gatekeeper on this node of the
// organization that holds the Patient resource of patient (the first by
// record order when several do), nil when none here does.
func (s *Server) patientCustodian(patient cc.DID) *gatekeeper.Gatekeeper {
	var g *gatekeeper.Gatekeeper
	_ = records.PatientRecords(s.chain.State(), patient, func(a cc.RecordAnchor) bool {
		if a.Type != "Patient" || a.Erased {
			return true
		}
		if gk, err := s.gatekeeper(a.Org); err == nil {
			g = gk
			return false
		}
		return true
	})
	return g
}

package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/gatekeeper"
)

// Bulk Data export limits.
const (
	// MaxExportJobs is the most export jobs a node keeps at once.
	MaxExportJobs = 64
	// ExportTTL is how long a finished job's files stay available.
	ExportTTL = time.Hour
)

// exportJob is one FHIR Bulk Data export (patient level): the pages it
// released, as NDJSON per resource type. Its id is 128 random bits: the
// status and file URLs are capability URLs, released to whoever holds them
// (the requester who signed the kick-off; the release was logged on-chain
// then, like any read).
type exportJob struct {
	id      string
	request string // the kick-off URL
	started time.Time

	mu       sync.Mutex
	done     bool
	err      error
	finished time.Time
	files    map[string]*bytes.Buffer // resource type → NDJSON
	counts   map[string]int
	event    string // the access event that logged the release
	next     string // kick-off URL of the rest, when the export was capped
	// A system-level export (see systemExportKickOff) logs one access
	// event per patient, and names the patients whose records were more
	// than one release.
	events    []string
	truncated []truncatedPatient
	cancel    context.CancelFunc
}

// exports holds the node's export jobs.
type exports struct {
	mu   sync.Mutex
	jobs map[string]*exportJob
}

func (e *exports) get(id string) *exportJob {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sweep()
	return e.jobs[id]
}

// sweep forgets finished jobs older than ExportTTL. e.mu is held.
func (e *exports) sweep() {
	for id, j := range e.jobs {
		j.mu.Lock()
		old := j.done && time.Since(j.finished) > ExportTTL
		j.mu.Unlock()
		if old {
			delete(e.jobs, id)
		}
	}
}

func (s *Server) exportRoutes() {
	s.mux.HandleFunc("GET /fhir/Patient/{id}/$export", s.exportKickOff)
	s.mux.HandleFunc("GET /fhir/$export", s.systemExportKickOff)
	s.mux.HandleFunc("GET /fhir/$export-status/{job}", s.exportStatus)
	s.mux.HandleFunc("DELETE /fhir/$export-status/{job}", s.exportDelete)
	s.mux.HandleFunc("GET /v1/exports/{job}/{file}", s.exportFile)
}

// exportKickOff starts a FHIR Bulk Data patient-level export
// (GET /fhir/Patient/{id}/$export, Prefer: respond-async): the signed
// request is an export (as for $everything) with the same query (_type,
// _count up to 1000, _offset). The job releases what the requester may
// see under one logged access event, as NDJSON files per resource type;
// it answers 202 with Content-Location: the status URL. When more records
// match than one release holds, the manifest names the kick-off URL of the
// rest (cc:next), to be signed and started again.
func (s *Server) exportKickOff(w http.ResponseWriter, r *http.Request) {
	const op = "fhir.export"
	if !strings.Contains(r.Header.Get("Prefer"), "respond-async") {
		writeOutcome(w, s.log, cc.Errorf(op, cc.Invalid, "a Bulk Data kick-off needs the header Prefer: respond-async"))
		return
	}
	if f := r.URL.Query().Get("_outputFormat"); f != "" && f != "application/fhir+ndjson" && f != "application/ndjson" && f != "ndjson" {
		writeOutcome(w, s.log, cc.Errorf(op, cc.Invalid, "_outputFormat %q is not supported (application/fhir+ndjson)", cc.Echo(f)))
		return
	}
	q := r.URL.Query()
	q.Del("_outputFormat")
	sr, req, err := s.signedRead(r)
	if err != nil {
		writeOutcome(w, s.log, err)
		return
	}
	if want := access.SearchQuery("", q); req.Action != access.ActionExport || req.Query != want {
		writeOutcome(w, s.log, cc.Errorf(op, cc.Invalid, "the signed request must be an export with query %q", want))
		return
	}
	patientRef := "Patient/" + r.PathValue("id")
	s.startExport(w, r, func(ctx context.Context, job *exportJob, base string) error {
		return s.runExport(ctx, job, sr, patientRef, r.URL, base)
	})
}

// startExport registers a new export job for the kick-off r, runs it in
// the background with run, and answers 202 with Content-Location, the
// status URL (or 503 with Retry-After when MaxExportJobs run).
func (s *Server) startExport(w http.ResponseWriter, r *http.Request, run func(ctx context.Context, job *exportJob, base string) error) {
	var b [16]byte
	rand.Read(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	job := &exportJob{id: hex.EncodeToString(b[:]), request: baseURL(r) + r.URL.RequestURI()[len("/fhir/"):], started: time.Now(),
		files: map[string]*bytes.Buffer{}, counts: map[string]int{}, cancel: cancel}
	s.exports.mu.Lock()
	if s.exports.jobs == nil {
		s.exports.jobs = map[string]*exportJob{}
	}
	s.exports.sweep()
	if len(s.exports.jobs) >= MaxExportJobs {
		s.exports.mu.Unlock()
		cancel()
		w.Header().Set("Retry-After", "60")
		writeOutcome(w, s.log, cc.Errorf("fhir.export", cc.Unavailable, "too many export jobs; try again later"))
		return
	}
	s.exports.jobs[job.id] = job
	s.exports.mu.Unlock()
	base := baseURL(r)
	go func() {
		defer cancel()
		err := run(ctx, job, base)
		job.mu.Lock()
		job.done, job.err, job.finished = true, err, time.Now()
		job.mu.Unlock()
	}()
	w.Header().Set("Content-Location", base+"$export-status/"+job.id)
	w.WriteHeader(http.StatusAccepted)
}

// runExport releases the patient's records through their custodian's
// gatekeeper and writes them to job's files.
func (s *Server) runExport(ctx context.Context, job *exportJob, sr access.SignedRead, patientRef string, u *url.URL, base string) error {
	g, err := s.custodianOf(patientRef)
	if err != nil {
		return nil // an unknown patient, or one held elsewhere: an empty export
	}
	res, err := g.Everything(ctx, sr)
	if err != nil {
		return err
	}
	job.mu.Lock()
	defer job.mu.Unlock()
	job.event = res.Event.ID
	if err := job.add(res.Records); err != nil {
		return err
	}
	if res.Offset+len(res.Records) < res.Total && len(res.Records) > 0 {
		q := u.Query()
		q.Set("_offset", strconv.Itoa(res.Offset+len(res.Records)))
		job.next = base + strings.TrimPrefix(u.Path, "/fhir/") + "?" + q.Encode()
	}
	return nil
}

// add appends released records to the job's NDJSON files, one line each,
// by resource type. job.mu is held.
func (job *exportJob) add(recs []gatekeeper.Released) error {
	for _, rec := range recs {
		typ, _, _ := strings.Cut(rec.ID, "/")
		buf := job.files[typ]
		if buf == nil {
			buf = &bytes.Buffer{}
			job.files[typ] = buf
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, rec.JSON); err != nil {
			return cc.E("fhir.export", cc.Internal, err)
		}
		buf.Write(compact.Bytes())
		buf.WriteByte('\n')
		job.counts[typ]++
	}
	return nil
}

// exportStatus answers a job's status: 202 with X-Progress while it runs;
// when done, 200 with the Bulk Data manifest; a failed job, its error as
// an OperationOutcome.
func (s *Server) exportStatus(w http.ResponseWriter, r *http.Request) {
	job := s.exports.get(r.PathValue("job"))
	if job == nil {
		writeOutcome(w, s.log, cc.Errorf("fhir.export", cc.NotFound, "no such export job (finished jobs are kept for %s)", ExportTTL))
		return
	}
	job.mu.Lock()
	defer job.mu.Unlock()
	if !job.done {
		w.Header().Set("X-Progress", "releasing records")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if job.err != nil {
		writeOutcome(w, s.log, job.err)
		return
	}
	types := make([]string, 0, len(job.files))
	for t := range job.files {
		types = append(types, t)
	}
	sort.Strings(types)
	type output struct {
		Type  string `json:"type"`
		URL   string `json:"url"`
		Count int    `json:"count"`
	}
	outs := make([]output, len(types))
	for i, t := range types {
		outs[i] = output{Type: t, URL: strings.TrimSuffix(baseURL(r), "fhir/") + "v1/exports/" + job.id + "/" + t + ".ndjson", Count: job.counts[t]}
	}
	manifest := map[string]any{
		"transactionTime":     job.started.UTC().Format(time.RFC3339),
		"request":             job.request,
		"requiresAccessToken": false,
		"output":              outs,
		"error":               []any{},
	}
	if job.event != "" {
		manifest["cc:accessEvent"] = job.event
	}
	if job.next != "" {
		manifest["cc:next"] = job.next
	}
	if len(job.events) > 0 {
		manifest["cc:accessEvents"] = job.events
	}
	if len(job.truncated) > 0 {
		manifest["cc:truncated"] = job.truncated
	}
	writeJSON(w, http.StatusOK, manifest)
}

// exportDelete cancels a job and forgets it.
func (s *Server) exportDelete(w http.ResponseWriter, r *http.Request) {
	s.exports.mu.Lock()
	job := s.exports.jobs[r.PathValue("job")]
	delete(s.exports.jobs, r.PathValue("job"))
	s.exports.mu.Unlock()
	if job == nil {
		writeOutcome(w, s.log, cc.Errorf("fhir.export", cc.NotFound, "no such export job"))
		return
	}
	job.cancel()
	w.WriteHeader(http.StatusAccepted)
}

// exportFile serves one NDJSON file of a finished job.
func (s *Server) exportFile(w http.ResponseWriter, r *http.Request) {
	job := s.exports.get(r.PathValue("job"))
	typ, ok := strings.CutSuffix(r.PathValue("file"), ".ndjson")
	if job == nil || !ok {
		writeOutcome(w, s.log, cc.Errorf("fhir.export", cc.NotFound, "no such export file"))
		return
	}
	job.mu.Lock()
	defer job.mu.Unlock()
	buf := job.files[typ]
	if !job.done || buf == nil {
		writeOutcome(w, s.log, cc.Errorf("fhir.export", cc.NotFound, "no such export file"))
		return
	}
	w.Header().Set("Content-Type", "application/fhir+ndjson")
	w.Write(buf.Bytes())
}

package httpapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/fhir"
	"carechain/gatekeeper"
	"carechain/records"
	"carechain/research"
	"carechain/research/dp"
)

// ExtractQuery is the query every signed read of a research extract
// carries: one export of up to access.MaxEventRecords records.
var ExtractQuery = access.SearchQuery("", url.Values{"_count": {strconv.Itoa(access.MaxEventRecords)}})

// Limits of research extracts.
const (
	MaxExtractReads = 10000 // signed reads in one extract request
	MaxExtractJobs  = 16    // extract jobs a node keeps at once
)

// researchNode is a Server's research state: the lock that makes a
// question's noise drawn once per node, and the extract jobs.
type researchNode struct {
	answerMu sync.Mutex
	mu       sync.Mutex
	jobs     map[string]*extractJob
}

var (
	researchMu    sync.Mutex
	researchNodes = map[*Server]*researchNode{}
)

func (s *Server) research() *researchNode {
	researchMu.Lock()
	defer researchMu.Unlock()
	n := researchNodes[s]
	if n == nil {
		n = &researchNode{jobs: map[string]*extractJob{}}
		researchNodes[s] = n
	}
	return n
}

func (s *Server) researchRoutes() {
	s.mux.HandleFunc("GET /v1/research/projects", s.listResearchProjects)
	s.mux.HandleFunc("GET /v1/research/projects/{id}", s.getResearchProject)
	s.mux.HandleFunc("GET /v1/research/projects/{id}/budget", s.getResearchBudget)
	s.mux.HandleFunc("GET /v1/research/projects/{id}/participants", s.getResearchParticipants)
	s.mux.HandleFunc("GET /v1/research/projects/{id}/queries", s.listResearchQueries)
	s.mux.HandleFunc("GET /v1/research/projects/{id}/queries/{n}", s.getResearchQuery)
	s.mux.HandleFunc("POST /v1/research/projects/{id}/extracts", s.startExtract)
	s.mux.HandleFunc("GET /v1/research/extracts/{job}", s.extractStatus)
	s.mux.HandleFunc("GET /v1/research/extracts/{job}/{file}", s.extractFile)
}

// ProjectView is a project with its approval state and budget.
type ProjectView struct {
	research.Project
	Approval       research.ApprovalState `json:"approval"`
	RemainingMicro int64                  `json:"remaining_micro_epsilon"`
	Active         bool                   `json:"active"` // approved and within its period at the latest block
}

// Budget is a project's privacy budget.
type Budget struct {
	Project        string `json:"project"`
	BudgetMicro    int64  `json:"budget_micro_epsilon"`
	SpentMicro     int64  `json:"spent_micro_epsilon"`
	RemainingMicro int64  `json:"remaining_micro_epsilon"`
	Queries        int    `json:"queries"`
}

func (s *Server) projectView(ctx context.Context, p *research.Project) (ProjectView, error) {
	st, err := s.chain.Status(ctx)
	if err != nil {
		return ProjectView{}, err
	}
	ap, err := research.Approval(s.chain.State(), p)
	if err != nil {
		return ProjectView{}, err
	}
	return ProjectView{Project: *p, Approval: ap, RemainingMicro: p.BudgetMicro - p.SpentMicro, Active: p.Active(st.LatestBlockTime)}, nil
}

func (s *Server) listResearchProjects(w http.ResponseWriter, r *http.Request) {
	ps, err := research.ListProjects(s.chain.State())
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	out := []ProjectView{}
	for i := range ps {
		v, err := s.projectView(r.Context(), &ps[i])
		if err != nil {
			writeError(w, s.log, err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getResearchProject(w http.ResponseWriter, r *http.Request) {
	p, err := research.GetProject(s.chain.State(), r.PathValue("id"))
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	v, err := s.projectView(r.Context(), p)
	s.answer(w, v, err)
}

func (s *Server) getResearchBudget(w http.ResponseWriter, r *http.Request) {
	p, err := research.GetProject(s.chain.State(), r.PathValue("id"))
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, Budget{Project: p.ID, BudgetMicro: p.BudgetMicro, SpentMicro: p.SpentMicro,
		RemainingMicro: p.BudgetMicro - p.SpentMicro, Queries: p.Queries})
}

// ParticipantView is a patient who counts for a project and the
// custodians holding their records (one signed read each for an extract).
type ParticipantView struct {
	research.Participant
	Custodians []string `json:"custodians"`
}

// participants returns who counts for p at the latest block: the
// candidates are the patients who recorded a choice for p and the people
// of this node's population register (category consents are found
// among those).
func (s *Server) participants(ctx context.Context, p *research.Project) ([]research.Participant, int64, error) {
	st, err := s.chain.Status(ctx)
	if err != nil {
		return nil, 0, err
	}
	state := s.chain.State()
	parts, err := research.ListParticipations(state, p.ID)
	if err != nil {
		return nil, 0, err
	}
	var cands []cc.DID
	for _, pt := range parts {
		cands = append(cands, pt.Patient)
	}
	if x, err := s.readModel(); err == nil {
		reg, err := x.RegisterDIDs()
		if err != nil {
			return nil, 0, err
		}
		cands = append(cands, reg...)
	}
	out, err := research.Participants(state, p, st.LatestBlockTime, cands)
	return out, st.LatestHeight, err
}

func (s *Server) getResearchParticipants(w http.ResponseWriter, r *http.Request) {
	p, err := research.GetProject(s.chain.State(), r.PathValue("id"))
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	ps, _, err := s.participants(r.Context(), p)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	out := []ParticipantView{}
	state := s.chain.State()
	for _, pt := range ps {
		v := ParticipantView{Participant: pt, Custodians: []string{}}
		err := records.PatientRecords(state, pt.Patient, func(a cc.RecordAnchor) bool {
			if !a.Erased && !slices.Contains(v.Custodians, a.Org) {
				v.Custodians = append(v.Custodians, a.Org)
			}
			return true
		})
		if err != nil {
			writeError(w, s.log, err)
			return
		}
		slices.Sort(v.Custodians)
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listResearchQueries(w http.ResponseWriter, r *http.Request) {
	qs, err := research.ListQueries(s.chain.State(), r.PathValue("id"))
	s.answer(w, qs, err)
}

// getResearchQuery answers a question. A pending one is answered first,
// once: under the node's lock, the participants are chosen with the
// committed consent state, the noise drawn (research/dp, crypto/rand) and
// the answer recorded on the ledger by this node's gatekeeper key; only
// the committed answer is ever served, so refetching never redraws noise
// and a node that lost the race to another serves the winner's answer.
func (s *Server) getResearchQuery(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		writeError(w, s.log, cc.Errorf("research.query", cc.Invalid, "a question number is a positive integer"))
		return
	}
	q, err := research.GetQuery(s.chain.State(), r.PathValue("id"), n)
	if err == nil && q.Status == research.QueryPending {
		if err := s.answerQuery(r.Context(), q.Project, q.N); err != nil {
			writeError(w, s.log, err)
			return
		}
		q, err = research.GetQuery(s.chain.State(), q.Project, q.N)
	}
	s.answer(w, q, err)
}

// answerQuery computes and records the answer of a pending question.
func (s *Server) answerQuery(ctx context.Context, project string, n int) error {
	const op = "research.answer"
	node := s.research()
	node.answerMu.Lock()
	defer node.answerMu.Unlock()
	state := s.chain.State()
	q, err := research.GetQuery(state, project, n)
	if err != nil || q.Status != research.QueryPending {
		return err
	}
	g := s.anyGatekeeper()
	x, xerr := s.readModel()
	if g == nil || xerr != nil {
		return cc.Errorf(op, cc.Unavailable, "this node cannot answer research questions (it needs a custodian key and a read model); ask a custodian node")
	}
	p, err := research.GetProject(state, project)
	if err != nil {
		return err
	}
	parts, height, err := s.participants(ctx, p)
	if err != nil {
		return err
	}
	dids := make([]cc.DID, len(parts))
	for i, pt := range parts {
		dids[i] = pt.Patient
	}
	subs, err := x.Subjects(dids, q.Spec.AsOf, q.Spec.Vaccine)
	if err != nil {
		return err
	}
	domains, err := x.StrataDomains()
	if err != nil {
		return err
	}
	in := make([]dp.Subject, len(subs))
	for i, sb := range subs {
		in[i] = dp.Subject{Strata: sb.Strata, BirthYear: sb.BirthYear, Doses: sb.Doses}
	}
	ans, err := dp.Answer(q.Spec, q.EpsilonMicro, in, domains, height, nil)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, s.WaitTimeout)
	defer cancel()
	if _, err := g.RecordResearchAnswer(wctx, project, n, ans); err != nil && !cc.Is(cc.Conflict, err) {
		return err
	}
	return nil
}

// anyGatekeeper returns the gatekeeper of the first organization (by id)
// this node serves, nil when none.
func (s *Server) anyGatekeeper() *gatekeeper.Gatekeeper {
	s.gkMu.RLock()
	defer s.gkMu.RUnlock()
	var orgs []string
	for org := range s.gks {
		orgs = append(orgs, org)
	}
	if len(orgs) == 0 {
		return nil
	}
	slices.Sort(orgs)
	return s.gks[orgs[0]]
}

// ExtractRead is one signed export of a participant's records held by a
// custodian.
type ExtractRead struct {
	Custodian string            `json:"custodian"`
	Read      access.SignedRead `json:"read"`
}

// ExtractRequest is the body of POST /v1/research/projects/{id}/extracts.
type ExtractRequest struct {
	Reads []ExtractRead `json:"reads"`
}

// ExtractStatus is an extract job's state and, when done, its manifest.
type ExtractStatus struct {
	Job      string         `json:"job"`
	Project  string         `json:"project"`
	Done     bool           `json:"done"`
	Error    string         `json:"error,omitempty"`
	Patients int            `json:"patients"` // participants whose records were released
	Skipped  int            `json:"skipped"`  // reads refused: not a participant, not allowed, or nothing to release
	Events   []string       `json:"access_events"`
	Files    []ExtractFile  `json:"output"`
	Counts   map[string]int `json:"-"`
}

// ExtractFile is one NDJSON file of an extract.
type ExtractFile struct {
	Type  string `json:"type"`
	URL   string `json:"url"`
	Count int    `json:"count"`
}

type extractJob struct {
	mu       sync.Mutex
	status   ExtractStatus
	files    map[string]*bytes.Buffer
	finished time.Time
}

// startExtract kicks off a de-identified extract: every read must be an
// export (query ExtractQuery) with purpose HRESEARCH, signed by an admin or
// researcher of the project's institute acting for it, of a patient who
// counts for the project (research.Counts) — anyone else is skipped and
// never read. Each read goes through its custodian's gatekeeper, which
// decides with consent and logs the access on-chain (the patient sees it
// in their access log) before the records are released; each record is
// then de-identified (fhir.Deidentifier, with pseudonyms keyed per job).
// 202 with Content-Location: the status URL.
func (s *Server) startExtract(w http.ResponseWriter, r *http.Request) {
	const op = "research.extract"
	state := s.chain.State()
	p, err := research.GetProject(state, r.PathValue("id"))
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	st, err := s.chain.Status(r.Context())
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	if !p.Active(st.LatestBlockTime) || !p.Extracts {
		writeError(w, s.log, cc.Errorf(op, cc.FailedPrecondition, "research project %s is not active or did not request extracts", p.ID))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBatchBytes))
	if err != nil {
		writeError(w, s.log, cc.Errorf(op, cc.TooLarge, "request over %d bytes", MaxBatchBytes))
		return
	}
	var req ExtractRequest
	if err := cc.DecodeStrict(op, "body", body, &req); err != nil {
		writeError(w, s.log, err)
		return
	}
	if len(req.Reads) == 0 || len(req.Reads) > MaxExtractReads {
		writeError(w, s.log, cc.Errorf(op, cc.Invalid, "an extract names 1 to %d signed reads", MaxExtractReads))
		return
	}
	for i, rd := range req.Reads {
		rq, _, err := access.VerifyRead(state, rd.Read)
		if err != nil {
			writeError(w, s.log, cc.E(op, err))
			return
		}
		if rq.Action != access.ActionExport || rq.Purpose != research.Purpose || rq.Org != p.Org || rq.Query != ExtractQuery {
			writeError(w, s.log, cc.Errorf(op, cc.Invalid, "reads[%d] must be an export for purpose %s by the institute %s with query %q", i, research.Purpose, p.Org, ExtractQuery))
			return
		}
	}
	var b [16]byte
	rand.Read(b[:])
	job := &extractJob{status: ExtractStatus{Job: hex.EncodeToString(b[:]), Project: p.ID, Events: []string{}, Files: []ExtractFile{}, Counts: map[string]int{}},
		files: map[string]*bytes.Buffer{}}
	node := s.research()
	node.mu.Lock()
	for id, j := range node.jobs {
		j.mu.Lock()
		if j.status.Done && time.Since(j.finished) > ExportTTL {
			delete(node.jobs, id)
		}
		j.mu.Unlock()
	}
	if len(node.jobs) >= MaxExtractJobs {
		node.mu.Unlock()
		w.Header().Set("Retry-After", "60")
		writeError(w, s.log, cc.Errorf(op, cc.Unavailable, "too many extract jobs; try again later"))
		return
	}
	node.jobs[job.status.Job] = job
	node.mu.Unlock()
	base := "http://" + r.Host
	if r.TLS != nil {
		base = "https://" + r.Host
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		err := s.runExtract(ctx, job, p, req.Reads, base)
		job.mu.Lock()
		job.status.Done, job.finished = true, time.Now()
		if err != nil {
			job.status.Error = err.Error()
		}
		job.mu.Unlock()
	}()
	w.Header().Set("Content-Location", base+"/v1/research/extracts/"+job.status.Job)
	writeJSON(w, http.StatusAccepted, map[string]string{"job": job.status.Job, "status": base + "/v1/research/extracts/" + job.status.Job})
}

// runExtract releases and de-identifies the participants' records.
func (s *Server) runExtract(ctx context.Context, job *extractJob, p *research.Project, reads []ExtractRead, base string) error {
	var key [32]byte
	rand.Read(key[:])
	pseudonym := func(typ, id string) string {
		m := hmac.New(sha256.New, key[:])
		m.Write([]byte(typ + "/" + id))
		return hex.EncodeToString(m.Sum(nil)[:16])
	}
	st, err := s.chain.Status(ctx)
	if err != nil {
		return err
	}
	d := fhir.Deidentifier{AsOfYear: st.LatestBlockTime.Year(), Pseudonym: pseudonym}
	included := map[cc.DID]bool{}
	for _, rd := range reads {
		g, gerr := s.gatekeeper(rd.Custodian)
		var rel *gatekeeper.ResearchRelease
		if gerr == nil {
			rel, err = g.ResearchExport(ctx, rd.Read, p, d)
		}
		if gerr != nil || err != nil {
			// Not a participant, not allowed, nothing held here, or a
			// stale request: nothing released for this read.
			job.add(func() { job.status.Skipped++ })
			continue
		}
		job.add(func() {
			job.status.Events = append(job.status.Events, rel.Event)
			if !included[rel.Patient] {
				included[rel.Patient] = true
				job.status.Patients++
			}
			for _, r := range rel.Records {
				buf := job.files[r.Type]
				if buf == nil {
					buf = &bytes.Buffer{}
					job.files[r.Type] = buf
				}
				buf.Write(r.JSON)
				buf.WriteByte('\n')
				job.status.Counts[r.Type]++
			}
		})
	}
	job.add(func() {
		var types []string
		for t := range job.files {
			types = append(types, t)
		}
		slices.Sort(types)
		for _, t := range types {
			job.status.Files = append(job.status.Files, ExtractFile{Type: t, URL: base + "/v1/research/extracts/" + job.status.Job + "/" + t + ".ndjson", Count: job.status.Counts[t]})
		}
	})
	return nil
}

func (j *extractJob) add(fn func()) {
	j.mu.Lock()
	defer j.mu.Unlock()
	fn()
}

func (s *Server) extractJob(id string) (*extractJob, error) {
	node := s.research()
	node.mu.Lock()
	defer node.mu.Unlock()
	if j := node.jobs[id]; j != nil {
		return j, nil
	}
	return nil, cc.Errorf("research.extract", cc.NotFound, "no such extract job (finished jobs are kept for %s)", ExportTTL)
}

// extractStatus answers 202 while the job runs, then 200 with the
// manifest (or the job's error).
func (s *Server) extractStatus(w http.ResponseWriter, r *http.Request) {
	j, err := s.extractJob(r.PathValue("job"))
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.status.Done {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusAccepted, j.status)
		return
	}
	writeJSON(w, http.StatusOK, j.status)
}

func (s *Server) extractFile(w http.ResponseWriter, r *http.Request) {
	j, err := s.extractJob(r.PathValue("job"))
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	typ, ok := strings.CutSuffix(r.PathValue("file"), ".ndjson")
	j.mu.Lock()
	defer j.mu.Unlock()
	buf := j.files[typ]
	if !ok || !j.status.Done || buf == nil {
		writeError(w, s.log, cc.Errorf("research.extract", cc.NotFound, "no such file"))
		return
	}
	w.Header().Set("Content-Type", "application/fhir+ndjson")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

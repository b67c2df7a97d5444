package httpapi

import (
	"net/http"
	"strconv"

	cc "carechain"
	"carechain/programs"
)

// programRoutes serve the public-health programs read from ledger state.
// Programs are transparent contracts: their specs, counters, regional
// figures, payments and decision logs are public (decisions name patients
// by DID only). Changes go through POST /v1/txs (program.deploy, …).
func (s *Server) programRoutes() {
	s.mux.HandleFunc("GET /v1/programs", stateList(s, programs.List))
	s.mux.HandleFunc("GET /v1/programs/{id}", s.getProgram)
	s.mux.HandleFunc("GET /v1/programs/{id}/versions", programList(s, programs.Versions))
	s.mux.HandleFunc("GET /v1/programs/{id}/regions", programList(s, programs.Regions))
	s.mux.HandleFunc("GET /v1/programs/{id}/disbursements", s.getDisbursements)
	s.mux.HandleFunc("GET /v1/programs/{id}/decisions", s.getDecisions)
}

// ProgramView is the answer to GET /v1/programs/{id}: the header, the
// current version's spec, coverage per checkpoint dose, regions and
// payees.
type ProgramView struct {
	Program  *programs.Program `json:"program"`
	Spec     programs.Spec     `json:"spec"`
	Coverage []DoseCoverage    `json:"coverage"`
	Regions  []programs.Region `json:"regions"`
	Payees   []programs.Payee  `json:"payees"`
}

// DoseCoverage is the coverage of one dose among a program's members.
type DoseCoverage struct {
	Dose     int   `json:"dose"`
	Reached  int64 `json:"reached"`
	Permille int   `json:"permille"`
}

func (s *Server) getProgram(w http.ResponseWriter, r *http.Request) {
	kv := s.chain.State()
	id := r.PathValue("id")
	p, err := programs.Get(kv, id)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	v, err := programs.GetVersion(kv, id, p.Version)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	view := ProgramView{Program: p, Spec: v.Spec}
	for i, n := range p.Reached {
		view.Coverage = append(view.Coverage, DoseCoverage{Dose: i + 1, Reached: n, Permille: p.Coverage(i + 1)})
	}
	if view.Regions, err = programs.Regions(kv, id); err == nil {
		view.Payees, err = programs.Payees(kv, id)
	}
	s.answer(w, view, err)
}

// programList answers a per-program list, NotFound for an unknown program.
func programList[T any](s *Server, read func(cc.Reader, string) ([]T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		kv := s.chain.State()
		id := r.PathValue("id")
		if _, err := programs.Get(kv, id); err != nil {
			writeError(w, s.log, err)
			return
		}
		v, err := read(kv, id)
		s.answer(w, nonNilSlice(v), err)
	}
}

// Disbursements is the answer to GET /v1/programs/{id}/disbursements: the
// budget, what was spent, the total per organization and every payment
// with the dose that triggered it.
type Disbursements struct {
	Budget   int64               `json:"budget"`
	Spent    int64               `json:"spent"`
	Payees   []programs.Payee    `json:"payees"`
	Payments []programs.Decision `json:"payments"`
}

func (s *Server) getDisbursements(w http.ResponseWriter, r *http.Request) {
	kv := s.chain.State()
	id := r.PathValue("id")
	p, err := programs.Get(kv, id)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	d := Disbursements{Budget: p.Budget, Spent: p.Spent}
	if d.Payees, err = programs.Payees(kv, id); err == nil {
		d.Payments, err = programs.Decisions(kv, id, programs.DecisionCredit)
	}
	d.Payments = nonNilSlice(d.Payments)
	s.answer(w, d, err)
}

// getDecisions answers a program's decision log, oldest first; ?kind=
// keeps one kind and ?limit=N the last N.
func (s *Server) getDecisions(w http.ResponseWriter, r *http.Request) {
	kv := s.chain.State()
	id := r.PathValue("id")
	if _, err := programs.Get(kv, id); err != nil {
		writeError(w, s.log, err)
		return
	}
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, s.log, cc.Errorf("programs.decisions", cc.Invalid, "limit must be a positive number"))
			return
		}
		limit = n
	}
	ds, err := programs.Decisions(kv, id, r.URL.Query().Get("kind"))
	if limit > 0 && len(ds) > limit {
		ds = ds[len(ds)-limit:]
	}
	s.answer(w, nonNilSlice(ds), err)
}

package httpapi

import (
	"net/http"
	"strings"

	cc "carechain"
	"carechain/index"
	"carechain/supply"
)

// supplyRoutes wires the supply-chain reads (ledger state, network-visible
// and PHI-free: patients appear only as DIDs) and the coverage reports of
// the read model.
func (s *Server) supplyRoutes() {
	s.mux.HandleFunc("GET /v1/supply/items/{epc...}", s.getItem)
	s.mux.HandleFunc("GET /v1/supply/products", stateList(s, supply.Products))
	s.mux.HandleFunc("GET /v1/supply/locations", stateList(s, supply.Locations))
	s.mux.HandleFunc("GET /v1/supply/lots", stateList(s, supply.Lots))
	s.mux.HandleFunc("GET /v1/supply/lots/{lot}/trace", s.traceLot)
	s.mux.HandleFunc("GET /v1/supply/fraud-alerts", stateList(s, supply.FraudAlerts))
	s.mux.HandleFunc("GET /v1/supply/excursions", stateList(s, supply.Excursions))
	s.mux.HandleFunc("GET /v1/supply/recalls", stateList(s, supply.Recalls))
	s.mux.HandleFunc("GET /v1/supply/kpis", s.getKPIs)
	s.mux.HandleFunc("GET /v1/coverage", s.getCoverage)
}

// getItem answers the custody state of one EPC (a URN or a Digital Link,
// which may contain '/'), with its effective status at the latest block
// time ("expired" past its expiry date).
func (s *Server) getItem(w http.ResponseWriter, r *http.Request) {
	it, err := supply.GetItem(s.chain.State(), r.PathValue("epc"))
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	st, err := s.chain.Status(r.Context())
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		*supply.Item
		Effective string `json:"effective_status"`
	}{it, supply.EffectiveStatus(it, st.LatestBlockTime)})
}

// stateList answers, as a JSON list ([] when empty), what read returns
// from the committed ledger state.
func stateList[T any](s *Server, read func(cc.Reader) ([]T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := read(s.chain.State())
		s.answer(w, nonNilSlice(v), err)
	}
}

// traceLot answers where a lot's stock is and who received its doses
// (patient DIDs, administering organizations and years).
func (s *Server) traceLot(w http.ResponseWriter, r *http.Request) {
	v, err := supply.Trace(s.chain.State(), r.PathValue("lot"))
	s.answer(w, v, err)
}

// getKPIs answers the supply KPIs of the read model at the latest block
// time, as JSON or, with ?format=csv, CSV.
func (s *Server) getKPIs(w http.ResponseWriter, r *http.Request) {
	x, err := s.readModel()
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	st, err := s.chain.Status(r.Context())
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	rep, err := x.SupplyKPIs(s.chain.State(), st.LatestBlockTime)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	if r.URL.Query().Get("format") == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="supply-kpis.csv"`)
		if err := index.WriteKPICSV(w, rep); err != nil {
			s.log.Error("writing CSV", "err", err)
		}
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// getCoverage answers a coverage report: ?vaccine= (system|code or a bare
// code, required), dose (default 1), by (comma-separated: region,
// age_band, sex, quintile), as_of (year, default the latest block's),
// target (permille), min_cell (default 11), format=csv.
func (s *Server) getCoverage(w http.ResponseWriter, r *http.Request) {
	const op = "coverage"
	x, err := s.readModel()
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	q := r.URL.Query()
	cq := index.CoverageQuery{Dose: 1}
	if cq.Vaccine, err = readModelQuery(op, q, intParam{"dose", &cq.Dose}, intParam{"as_of", &cq.AsOf},
		intParam{"target", &cq.Target}, intParam{"min_cell", &cq.MinCell}); err != nil {
		writeError(w, s.log, err)
		return
	}
	if v := q.Get("by"); v != "" {
		cq.By = strings.Split(v, ",")
	}
	if err := s.defaultAsOf(r.Context(), &cq.AsOf); err != nil {
		writeError(w, s.log, err)
		return
	}
	rep, err := x.Coverage(cq)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	if q.Get("format") == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="coverage.csv"`)
		if err := index.WriteCoverageCSV(w, rep); err != nil {
			s.log.Error("writing CSV", "err", err)
		}
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// nonNilSlice answers an empty list as [] rather than null.
func nonNilSlice[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

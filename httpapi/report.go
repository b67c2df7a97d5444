package httpapi

import (
	"bytes"
	"net/http"

	cc "carechain"
	"carechain/index"
	"carechain/report"
)

// reportRoutes wires the reports of the read model.
func (s *Server) reportRoutes() {
	s.mux.HandleFunc("GET /v1/reports/disparities", s.getDisparities)
}

// getDisparities answers the disparities report (index.DB.Disparities):
// ?vaccine= (system|code or a bare code, required), dose (default 1),
// by (groupings, comma-separated, pairs joined by '+': region,
// quintile+sex; default region, age_band, sex, quintile), as_of (year,
// default the latest block's), target (permille), min_cell (default 11),
// top (length of the furthest-from-target ranking, default 5) and
// format: json (default), csv or html (a self-contained page with charts).
func (s *Server) getDisparities(w http.ResponseWriter, r *http.Request) {
	const op = "reports.disparities"
	x, err := s.readModel()
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	q := r.URL.Query()
	dq := index.DisparityQuery{Dose: 1}
	if dq.Vaccine, err = readModelQuery(op, q, intParam{"dose", &dq.Dose}, intParam{"as_of", &dq.AsOf},
		intParam{"target", &dq.Target}, intParam{"min_cell", &dq.MinCell}, intParam{"top", &dq.Top}); err != nil {
		writeError(w, s.log, err)
		return
	}
	format := q.Get("format")
	switch format {
	case "", "json", "csv", "html":
	default:
		writeError(w, s.log, cc.Errorf(op, cc.Invalid, "format must be json, csv or html"))
		return
	}
	if dq.Tables, err = index.ParseDisparityTables(q.Get("by")); err != nil {
		writeError(w, s.log, err)
		return
	}
	if err := s.defaultAsOf(r.Context(), &dq.AsOf); err != nil {
		writeError(w, s.log, err)
		return
	}
	rep, err := x.Disparities(dq)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	var buf bytes.Buffer
	switch format {
	case "csv":
		err = report.WriteCSV(&buf, rep)
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="disparities.csv"`)
	case "html":
		err = report.WriteHTML(&buf, rep)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	default:
		writeJSON(w, http.StatusOK, rep)
		return
	}
	if err != nil {
		w.Header().Del("Content-Disposition")
		writeError(w, s.log, err)
		return
	}
	w.Write(buf.Bytes())
}

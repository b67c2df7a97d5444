package httpapi

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

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
	dq := index.DisparityQuery{Vaccine: q.Get("vaccine"), Dose: 1}
	if dq.Vaccine == "" {
		writeError(w, s.log, cc.Errorf(op, cc.Invalid, "vaccine is required (a code such as 208, or system|code)"))
		return
	}
	format := q.Get("format")
	switch format {
	case "", "json", "csv", "html":
	default:
		writeError(w, s.log, cc.Errorf(op, cc.Invalid, "format must be json, csv or html"))
		return
	}
	ints := []struct {
		name string
		dst  *int
	}{{"dose", &dq.Dose}, {"as_of", &dq.AsOf}, {"target", &dq.Target}, {"min_cell", &dq.MinCell}, {"top", &dq.Top}}
	for _, p := range ints {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				writeError(w, s.log, cc.Errorf(op, cc.Invalid, "%s must be an integer", p.name))
				return
			}
			*p.dst = n
		}
	}
	if dq.Tables, err = index.ParseDisparityTables(q.Get("by")); err != nil {
		writeError(w, s.log, err)
		return
	}
	if dq.AsOf == 0 {
		st, err := s.chain.Status(r.Context())
		if err != nil {
			writeError(w, s.log, err)
			return
		}
		dq.AsOf = st.LatestBlockTime.Year()
		if st.LatestBlockTime.IsZero() {
			dq.AsOf = time.Now().Year()
		}
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

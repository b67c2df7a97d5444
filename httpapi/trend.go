package httpapi

import (
	"net/http"
	"strings"

	"carechain/index"
)

// trendRoutes wires the coverage trend of the read model.
func (s *Server) trendRoutes() {
	s.mux.HandleFunc("GET /v1/coverage/trend", s.getCoverageTrend)
}

// getCoverageTrend answers the cumulative coverage of one dose by
// occurrence week or month (index.DB.Trend): ?vaccine= (system|code or a
// bare code, required), dose (default 1), by (region, sex, quintile,
// comma-separated; default none: the overall series), interval (week,
// the default, or month) and min_cell (default 11). The dates are those
// of the doses this node's custodians ingested; the others are counted
// as undated.
func (s *Server) getCoverageTrend(w http.ResponseWriter, r *http.Request) {
	const op = "coverage.trend"
	x, err := s.readModel()
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	q := r.URL.Query()
	tq := index.TrendQuery{Dose: 1, Interval: q.Get("interval")}
	if tq.Vaccine, err = readModelQuery(op, q, intParam{"dose", &tq.Dose}, intParam{"min_cell", &tq.MinCell}); err != nil {
		writeError(w, s.log, err)
		return
	}
	if v := q.Get("by"); v != "" {
		tq.By = strings.Split(v, ",")
	}
	rep, err := x.Trend(tq)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

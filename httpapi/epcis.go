package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/epcis"
	"carechain/index"
)

// MaxEPCISBytes bounds one EPCIS capture request body.
const MaxEPCISBytes = 16 << 20

// epcisRoutes wires the EPCIS 2.0 capture interface. Capture goes through
// the gatekeeper of the capturing organization (SetRecords), which signs
// the ledger transactions with its node key.
func (s *Server) epcisRoutes() {
	s.mux.HandleFunc("POST /epcis/capture", s.epcisCapture)
	s.mux.HandleFunc("GET /epcis/events", s.epcisEvents)
}

// epcisCapture validates an EPCISDocument (the official JSON Schema and
// the semantic rules) and captures its events for the organization named
// in the author's signed write request (Carechain-Write). It answers 201
// with the counts, the fraud-signal rejections and the block height; a
// document that fails validation is 400 with every problem located, a
// custody violation the error of its kind (403, 404, 409, 410, 422)
// naming the event; nothing of a failed transaction is stored.
func (s *Server) epcisCapture(w http.ResponseWriter, r *http.Request) {
	const op = "epcis.capture"
	sw, err := signed(r, access.HeaderWrite)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxEPCISBytes+1))
	if err != nil || len(body) > MaxEPCISBytes {
		writeError(w, s.log, cc.Errorf(op, cc.TooLarge, "the document exceeds %d bytes", MaxEPCISBytes))
		return
	}
	var wr access.WriteRequest
	if json.Unmarshal(sw.Request, &wr) != nil {
		writeError(w, s.log, cc.Errorf(op, cc.Malformed, "the signed write request is not JSON"))
		return
	}
	g, err := s.gatekeeper(wr.Org)
	if err != nil {
		writeError(w, s.log, cc.Errorf(op, cc.Invalid, "this node does not capture events for %q", cc.Echo(wr.Org)))
		return
	}
	doc, err := epcis.Parse(body)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	events, err := epcis.SupplyEvents(doc)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	res, err := g.Capture(r.Context(), body, sw, events)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

// SetIndex wires the read model that answers GET /epcis/events (and the
// coverage and supply reports); without one those answer 503.
func (s *Server) SetIndex(x *index.DB) {
	s.gkMu.Lock()
	defer s.gkMu.Unlock()
	s.index = x
}

// readModel returns the index, or cc.Unavailable.
func (s *Server) readModel() (*index.DB, error) {
	s.gkMu.RLock()
	defer s.gkMu.RUnlock()
	if s.index == nil {
		return nil, cc.Errorf("index", cc.Unavailable, "this node keeps no read model (start it with an index)")
	}
	return s.index, nil
}

// eventQueryParams maps the EPCIS 2.0 REST query parameters this node
// answers to index.EventQuery fields.
var eventQueryParams = map[string]func(q *index.EventQuery, v string){
	"MATCH_anyEPC":      func(q *index.EventQuery, v string) { q.EPC = v },
	"MATCH_epc":         func(q *index.EventQuery, v string) { q.EPC = v },
	"EQ_ILMD_lotNumber": func(q *index.EventQuery, v string) { q.Lot = v },
	"lot":               func(q *index.EventQuery, v string) { q.Lot = v },
	"EQ_bizStep":        func(q *index.EventQuery, v string) { q.BizStep = v },
	"EQ_disposition":    func(q *index.EventQuery, v string) { q.Disposition = v },
	"EQ_readPoint":      func(q *index.EventQuery, v string) { q.ReadPoint = v },
	"EQ_bizLocation":    func(q *index.EventQuery, v string) { q.BizLocation = v },
	"eventType":         func(q *index.EventQuery, v string) { q.Type = v },
	"GE_eventTime":      func(q *index.EventQuery, v string) { q.TimeGE = v },
	"LT_eventTime":      func(q *index.EventQuery, v string) { q.TimeLT = v },
	"EQ_org":            func(q *index.EventQuery, v string) { q.Org = v },
	"nextPageToken":     func(q *index.EventQuery, v string) { q.Token = v },
}

// epcisEvents answers an EPCIS 2.0 REST style event query with an
// EPCISQueryDocument: every parameter given must match (see
// eventQueryParams; perPage sets the page size). An unknown parameter,
// a bad time or page size is 400; the next page's token is in the Link
// header (rel="next") and in the document (cc:nextPageToken).
func (s *Server) epcisEvents(w http.ResponseWriter, r *http.Request) {
	const op = "epcis.events"
	x, err := s.readModel()
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	var q index.EventQuery
	for name, vs := range r.URL.Query() {
		v := vs[len(vs)-1]
		if name == "perPage" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				writeError(w, s.log, cc.Errorf(op, cc.Invalid, "perPage must be a positive integer"))
				return
			}
			q.Limit = n
			continue
		}
		set, ok := eventQueryParams[name]
		if !ok {
			writeError(w, s.log, cc.Errorf(op, cc.Invalid, "unknown query parameter %q (known: MATCH_anyEPC, EQ_ILMD_lotNumber, EQ_bizStep, EQ_disposition, EQ_readPoint, EQ_bizLocation, eventType, GE_eventTime, LT_eventTime, EQ_org, perPage, nextPageToken)", cc.Echo(name)))
			return
		}
		set(&q, v)
	}
	page, err := x.QueryEvents(q)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	doc, err := epcis.QueryDocument("SimpleEventQuery", page.Events, time.Now(), page.Next)
	if err != nil {
		writeError(w, s.log, cc.E(op, cc.Internal, err))
		return
	}
	if page.Next != "" {
		next := *r.URL
		qv := next.Query()
		qv.Set("nextPageToken", page.Next)
		next.RawQuery = qv.Encode()
		w.Header().Set("Link", "<"+next.RequestURI()+`>; rel="next"`)
	}
	w.Header().Set("Content-Type", "application/ld+json")
	w.WriteHeader(http.StatusOK)
	w.Write(doc)
}

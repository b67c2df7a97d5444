// Package httpapi serves carechain's REST API (/v1) and Prometheus metrics
// over a cc.Chain. Errors are JSON problems (RFC 9457) whose kind and code
// are the carechain error Kind; nothing internal leaks to the caller.
package httpapi

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	cc "carechain"
	"carechain/gatekeeper"
	"carechain/identity"
	"carechain/index"
	"carechain/ledger/tx"
	"carechain/shc"
)

// MaxBatchBytes bounds one POST /v1/txs request.
const MaxBatchBytes = 64 << 20

// MaxBatchTxs bounds the number of transactions in one request.
const MaxBatchTxs = 10000

// Server is the HTTP API over a chain.
type Server struct {
	chain       cc.Chain
	log         *slog.Logger
	mux         *http.ServeMux
	WaitTimeout time.Duration // for ?commit=true; default 30 s

	metricsOnce    sync.Once
	metricsHandler http.Handler

	gkMu    sync.RWMutex
	gks     map[string]*gatekeeper.Gatekeeper // by custodian organization; see SetRecords
	peers   map[string]string                 // organization → its node's base URL; see SetPeers
	index   *index.DB                         // the read model; see SetIndex
	issuers map[string]*shc.Issuer            // SMART Health Card issuers by organization; see SetIssuers

	exports exports // FHIR Bulk Data export jobs
}

// New returns a Server for chain. Extra handlers (the web UI) can be added
// with Handle.
func New(chain cc.Chain, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{chain: chain, log: log, mux: http.NewServeMux(), WaitTimeout: 30 * time.Second}
	s.routes()
	return s
}

// Handle registers an extra handler on the server's mux.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() {
	s.mux.HandleFunc("POST /v1/txs", s.postTxs)
	s.mux.HandleFunc("GET /v1/txs/{hash}", s.getTx)
	s.mux.HandleFunc("GET /v1/status", s.getStatus)
	s.mux.HandleFunc("GET /v1/blocks", s.listBlocks)
	s.mux.HandleFunc("GET /v1/blocks/{height}", s.getBlock)
	s.mux.HandleFunc("GET /v1/dids/{did}", s.getDID)
	s.mux.HandleFunc("GET /v1/accounts/{did}", s.getAccount)
	s.mux.HandleFunc("GET /v1/orgs", s.listOrgs)
	s.mux.HandleFunc("GET /v1/orgs/{id}", s.getOrg)
	s.mux.HandleFunc("GET /v1/orgs/{id}/members", s.listMembers)
	s.mux.HandleFunc("GET /v1/patients/{did}", s.getPatient)
	s.mux.HandleFunc("GET /v1/governance", s.getGovernance)
	s.mux.HandleFunc("GET /v1/proposals", s.listProposals)
	s.mux.HandleFunc("GET /v1/proposals/{id}", s.getProposal)
	s.mux.HandleFunc("GET /v1/proofs", s.getProof)
	s.mux.HandleFunc("GET /metrics", s.metrics)
	s.patientRoutes()
	s.fhirRoutes()
	s.epcisRoutes()
	s.exportRoutes()
	s.supplyRoutes()
	s.shcRoutes()
	s.programRoutes()
	s.researchRoutes()
	s.reportRoutes()
	s.patientResearchRoutes()
	s.trendRoutes()
	s.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, s.log, cc.Errorf("http", cc.NotFound, "no route %s %s", r.Method, r.URL.Path))
	})
}

// SubmitResponse is the answer to POST /v1/txs.
type SubmitResponse struct {
	Results  []cc.SubmitResult `json:"results"`
	Accepted int               `json:"accepted"`
	Rejected int               `json:"rejected"`
}

// postTxs takes one envelope (a JSON object) or a batch (a JSON array of
// envelopes). ?commit=true waits until each accepted transaction is
// committed. A single rejected transaction answers its error status; a
// batch always answers 200 with a result per transaction.
func (s *Server) postTxs(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBatchBytes))
	if err != nil {
		writeError(w, s.log, cc.Errorf("submit", cc.TooLarge, "request over %d bytes", MaxBatchBytes))
		return
	}
	raws, single, err := splitTxs(body)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	wait := r.URL.Query().Get("commit") == "true"
	ctx := r.Context()
	if wait {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.WaitTimeout)
		defer cancel()
	}
	results := s.chain.Submit(ctx, raws, wait)
	resp := SubmitResponse{Results: results}
	for _, res := range results {
		if res.Accepted {
			resp.Accepted++
		} else {
			resp.Rejected++
		}
	}
	status := http.StatusOK
	if single && !results[0].Accepted {
		status = StatusOf(cc.KindFromCode(results[0].Code))
	}
	writeJSON(w, status, resp)
}

// splitTxs splits a request body into compacted transaction envelopes.
func splitTxs(body []byte) (txs [][]byte, single bool, err error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, false, cc.Errorf("submit", cc.Malformed, "empty request: send a transaction envelope or an array of them")
	}
	var elems []json.RawMessage
	if body[0] == '[' {
		if err := json.Unmarshal(body, &elems); err != nil {
			return nil, false, cc.Errorf("submit", cc.Malformed, "batch is not a JSON array of envelopes: %v", err)
		}
		if len(elems) == 0 {
			return nil, false, cc.Errorf("submit", cc.Malformed, "empty batch")
		}
		if len(elems) > MaxBatchTxs {
			return nil, false, cc.Errorf("submit", cc.TooLarge, "batch of %d transactions, limit %d", len(elems), MaxBatchTxs)
		}
	} else {
		single = true
		elems = []json.RawMessage{body}
	}
	txs = make([][]byte, len(elems))
	for i, e := range elems {
		var b bytes.Buffer
		if err := json.Compact(&b, e); err != nil {
			// Leave it as sent: the ledger answers Malformed for it.
			txs[i] = e
			continue
		}
		txs[i] = b.Bytes()
	}
	return txs, single, nil
}

func (s *Server) getTx(w http.ResponseWriter, r *http.Request) {
	h, err := hex.DecodeString(r.PathValue("hash"))
	if err != nil || len(h) != 32 {
		writeError(w, s.log, cc.Errorf("tx", cc.Invalid, "hash must be 64 hex characters"))
		return
	}
	info, err := s.chain.Tx(r.Context(), h)
	s.answer(w, info, err)
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.chain.Status(r.Context())
	s.answer(w, st, err)
}

func (s *Server) getBlock(w http.ResponseWriter, r *http.Request) {
	hs := r.PathValue("height")
	var h int64
	if hs == "latest" {
		st, err := s.chain.Status(r.Context())
		if err != nil {
			writeError(w, s.log, err)
			return
		}
		h = st.LatestHeight
	} else {
		var err error
		h, err = strconv.ParseInt(hs, 10, 64)
		if err != nil || h < 1 {
			writeError(w, s.log, cc.Errorf("block", cc.Invalid, "height must be a positive integer or \"latest\""))
			return
		}
	}
	b, err := s.chain.Block(r.Context(), h)
	s.answer(w, b, err)
}

// listBlocks answers the latest blocks, newest first: ?limit=N (default 20,
// at most 100) and ?before=HEIGHT to page back.
func (s *Server) listBlocks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, before := int64(20), int64(0)
	if v := q.Get("limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > 100 {
			writeError(w, s.log, cc.Errorf("blocks", cc.Invalid, "limit must be 1..100"))
			return
		}
		limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 2 {
			writeError(w, s.log, cc.Errorf("blocks", cc.Invalid, "before must be a height above 1"))
			return
		}
		before = n
	}
	st, err := s.chain.Status(r.Context())
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	top := st.LatestHeight
	if before > 0 && before-1 < top {
		top = before - 1
	}
	blocks := []*cc.BlockInfo{}
	for h := top; h >= 1 && int64(len(blocks)) < limit; h-- {
		b, err := s.chain.Block(r.Context(), h)
		if cc.Is(cc.NotFound, err) {
			continue
		}
		if err != nil {
			writeError(w, s.log, err)
			return
		}
		blocks = append(blocks, b)
	}
	writeJSON(w, http.StatusOK, map[string]any{"latest_height": st.LatestHeight, "blocks": blocks})
}

func (s *Server) getProof(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	key := q.Get("key")
	if th := q.Get("tx"); th != "" {
		if _, err := hex.DecodeString(th); err != nil || len(th) != 64 {
			writeError(w, s.log, cc.Errorf("proof", cc.Invalid, "tx must be 64 hex characters"))
			return
		}
		key = "tx/" + strings.ToLower(th)
	}
	if key == "" {
		writeError(w, s.log, cc.Errorf("proof", cc.Invalid, "give ?key=STATE-KEY or ?tx=HASH"))
		return
	}
	p, err := s.chain.Proof(r.Context(), key)
	s.answer(w, p, err)
}

// answer writes v as JSON with 200, or err as a problem.
func (s *Server) answer(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// didParam validates the {did} path value.
func didParam(r *http.Request) (cc.DID, error) {
	d := cc.DID(r.PathValue("did"))
	if !d.Valid() {
		return "", cc.Errorf("did", cc.Invalid, "%q is not a did:cc identifier", d)
	}
	return d, nil
}

func (s *Server) getDID(w http.ResponseWriter, r *http.Request) {
	d, err := didParam(r)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	rec, err := identity.GetDID(s.chain.State(), d)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	w.Header().Set("Content-Type", "application/did+json")
	b, _ := json.MarshalIndent(identity.Document(rec), "", "  ")
	w.Write(append(b, '\n'))
}

// Account is the answer to GET /v1/accounts/{did}.
type Account struct {
	DID         cc.DID          `json:"did"`
	Kind        cc.DIDKind      `json:"kind"`
	Sequence    uint64          `json:"sequence"` // the next sequence to sign with
	KeyVersion  int             `json:"key_version"`
	PublicKey   string          `json:"public_key"`
	Memberships []cc.Member     `json:"memberships"`
	Patient     *cc.Patient     `json:"patient,omitempty"`
	Recovery    *cc.Recovery    `json:"pending_recovery,omitempty"`
	Delegations []cc.Delegation `json:"delegations"`
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) {
	d, err := didParam(r)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	st := s.chain.State()
	rec, err := identity.GetDID(st, d)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	acct := Account{DID: d, Kind: rec.Kind, KeyVersion: rec.KeyVersion, PublicKey: tx.EncodeKey(rec.PublicKey)}
	if acct.Sequence, err = s.chain.Sequence(r.Context(), d); err != nil {
		writeError(w, s.log, err)
		return
	}
	if acct.Memberships, err = identity.MembershipsOf(st, d); err != nil {
		writeError(w, s.log, err)
		return
	}
	if p, err := identity.GetPatient(st, d); err == nil {
		acct.Patient = p
	}
	if rc, err := identity.GetRecovery(st, d); err == nil {
		acct.Recovery = rc
	}
	if acct.Delegations, err = identity.ListDelegations(st, d); err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, acct)
}

func (s *Server) listOrgs(w http.ResponseWriter, r *http.Request) {
	orgs, err := identity.ListOrgs(s.chain.State())
	s.answer(w, map[string]any{"organizations": orgs}, err)
}

func (s *Server) getOrg(w http.ResponseWriter, r *http.Request) {
	o, err := identity.GetOrg(s.chain.State(), r.PathValue("id"))
	s.answer(w, o, err)
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := identity.GetOrg(s.chain.State(), id); err != nil {
		writeError(w, s.log, err)
		return
	}
	ms, err := identity.ListMembers(s.chain.State(), id)
	s.answer(w, map[string]any{"org": id, "members": ms}, err)
}

func (s *Server) getPatient(w http.ResponseWriter, r *http.Request) {
	d, err := didParam(r)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	p, err := identity.GetPatient(s.chain.State(), d)
	s.answer(w, p, err)
}

func (s *Server) getGovernance(w http.ResponseWriter, r *http.Request) {
	g, err := identity.GetGovernance(s.chain.State())
	s.answer(w, g, err)
}

func (s *Server) listProposals(w http.ResponseWriter, r *http.Request) {
	ps, err := identity.ListProposals(s.chain.State())
	s.answer(w, map[string]any{"proposals": ps}, err)
}

func (s *Server) getProposal(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, s.log, cc.Errorf("proposal", cc.Invalid, "proposal id must be a number"))
		return
	}
	p, err := identity.GetProposal(s.chain.State(), id)
	s.answer(w, p, err)
}

package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/credential"
	"carechain/records"
	"carechain/shc"
)

// SHCIssueQuery is the query a patient's signed export request
// (Carechain-Read, action "export") must carry to be issued a SMART Health
// Card: their Patient resource and their Immunizations.
var SHCIssueQuery = access.SearchQuery("Patient,Immunization", url.Values{"_count": {strconv.Itoa(access.MaxEventRecords)}})

// MaxSHCBytes bounds a POST /v1/shc/verify body.
const MaxSHCBytes = 4 << 20

// SetIssuers wires the SMART Health Card issuers this node signs for (one
// per organization; their keys live in the node's home). Their public
// key sets are served from the ledger's registry at
// /shc/{org}/.well-known/jwks.json.
func (s *Server) SetIssuers(issuers ...*shc.Issuer) {
	s.gkMu.Lock()
	defer s.gkMu.Unlock()
	s.issuers = map[string]*shc.Issuer{}
	for _, is := range issuers {
		s.issuers[is.Org] = is
	}
}

func (s *Server) issuer(org string) (*shc.Issuer, error) {
	s.gkMu.RLock()
	defer s.gkMu.RUnlock()
	if is := s.issuers[org]; is != nil {
		return is, nil
	}
	return nil, cc.Errorf("shc", cc.NotFound, "this node issues no health cards for %q", cc.Echo(org))
}

func (s *Server) shcRoutes() {
	s.mux.HandleFunc("GET /shc/{org}/.well-known/jwks.json", s.shcJWKS)
	s.mux.HandleFunc("GET /shc/{org}/.well-known/crl/{file}", s.shcCRL)
	s.mux.HandleFunc("POST /v1/shc/verify", s.shcVerify)
	s.mux.HandleFunc("POST /v1/shc/issue", s.shcIssue)
	s.mux.HandleFunc("GET /v1/shc/issuers", s.shcIssuers)
}

// registered returns the ledger's registration of org's local issuer:
// only keys the ledger holds are published.
func (s *Server) registered(org string) (*credential.Issuer, error) {
	is, err := s.issuer(org)
	if err != nil {
		return nil, err
	}
	reg, err := credential.GetIssuer(s.chain.State(), is.URL)
	if err != nil {
		return nil, err
	}
	if reg.Org != org {
		return nil, cc.Errorf("shc", cc.NotFound, "issuer %s is not %s's on the ledger", is.URL, org)
	}
	return reg, nil
}

// shcJWKS serves the issuer's key set as the ledger holds it (with each
// key's crlVersion), CORS-enabled as the specification requires.
func (s *Server) shcJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	reg, err := s.registered(r.PathValue("org"))
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, credential.JWKS{Keys: reg.Keys})
}

// shcCRL serves the revocation list of one of the issuer's keys.
func (s *Server) shcCRL(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	kid, ok := strings.CutSuffix(r.PathValue("file"), ".json")
	reg, err := s.registered(r.PathValue("org"))
	if err == nil && (!ok || reg.Key(kid) == nil) {
		err = cc.Errorf("shc", cc.NotFound, "the issuer has no key %q", cc.Echo(kid))
	}
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	crl, err := credential.RevocationList(s.chain.State(), kid)
	s.answer(w, crl, err)
}

func (s *Server) shcIssuers(w http.ResponseWriter, r *http.Request) {
	v, err := credential.Issuers(s.chain.State())
	s.answer(w, v, err)
}

// SHCVerification is the answer to POST /v1/shc/verify: valid when every
// card in the input is.
type SHCVerification struct {
	Valid   bool          `json:"valid"`
	Results []*shc.Result `json:"results"`
}

// shcVerify verifies a .smart-health-card file, a compact JWS or the shc:/
// text of QR codes against the ledger's issuer registry and revocation
// lists. The input's form errors are 400; a card that fails a check is a
// 200 answer with valid false and the reasons.
func (s *Server) shcVerify(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxSHCBytes))
	if err != nil {
		writeError(w, s.log, cc.Errorf("shc.verify", cc.TooLarge, "request over %d bytes", MaxSHCBytes))
		return
	}
	jwss, err := shc.Extract(body)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	trust := shc.LedgerTrust(s.chain.State())
	out := SHCVerification{Valid: true}
	for _, jws := range jwss {
		res := shc.Verify(jws, trust)
		out.Valid = out.Valid && res.Valid
		out.Results = append(out.Results, res)
	}
	writeJSON(w, http.StatusOK, out)
}

// shcIssue issues a SMART Health Card of the requesting patient's
// immunizations, signed by ?org=ORG's issuer on this node. The patient
// signs an export of their own Patient and Immunizations (Carechain-Read,
// action export, query SHCIssueQuery); the node reads them through the
// custodian's gatekeeper, so the read is logged on the ledger before the
// card is made. The answer is the .smart-health-card file, or with
// ?format=qr the PNG of QR code ?chunk=N (default 1; the header
// Carechain-SHC-Chunks tells how many there are).
func (s *Server) shcIssue(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	is, err := s.issuer(q.Get("org"))
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	format := q.Get("format")
	chunk := 1
	if format != "" && format != "qr" && format != "file" {
		writeError(w, s.log, cc.Errorf("shc.issue", cc.Invalid, "format must be file or qr"))
		return
	}
	if c := q.Get("chunk"); c != "" {
		if chunk, err = strconv.Atoi(c); err != nil || chunk < 1 {
			writeError(w, s.log, cc.Errorf("shc.issue", cc.Invalid, "chunk must be a number from 1"))
			return
		}
	}
	sr, req, err := s.signedRead(r)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	if req.Action != access.ActionExport || req.Query != SHCIssueQuery {
		writeError(w, s.log, cc.Errorf("shc.issue", cc.Invalid, "the signed request must be an export with query %q", SHCIssueQuery))
		return
	}
	if req.Requester != req.Patient {
		writeError(w, s.log, cc.Errorf("shc.issue", cc.Unauthorized, "health cards are issued to the patient only"))
		return
	}
	if _, err := s.registered(is.Org); err != nil {
		writeError(w, s.log, cc.Errorf("shc.issue", cc.FailedPrecondition, "the issuer of %s is not registered on the ledger yet (credential.issuer.register)", is.Org))
		return
	}
	// The custodian holding the patient's Patient resource.
	var custodian string
	if err := records.PatientRecords(s.chain.State(), req.Patient, func(a cc.RecordAnchor) bool {
		if a.Type == "Patient" && !a.Erased {
			custodian = a.Org
			return false
		}
		return true
	}); err != nil {
		writeError(w, s.log, err)
		return
	}
	g, err := s.gatekeeper(custodian)
	if err != nil {
		writeError(w, s.log, cc.Errorf("shc.issue", cc.NotFound, "this node holds no Patient record of %s", req.Patient))
		return
	}
	res, err := g.Everything(r.Context(), sr)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	var patient json.RawMessage
	var imms []json.RawMessage
	for _, rec := range res.Records {
		switch rec.Anchor.Type {
		case "Patient":
			if patient == nil {
				patient = rec.JSON
			}
		case "Immunization":
			imms = append(imms, rec.JSON)
		}
	}
	if patient == nil {
		writeError(w, s.log, cc.Errorf("shc.issue", cc.NotFound, "no Patient record of %s to put on a card", req.Patient))
		return
	}
	card, err := is.IssueImmunizations(patient, imms, string(req.Patient), time.Now())
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	setEventHeaders(w, &res.Event, res.Height)
	w.Header().Set("Carechain-SHC-Chunks", strconv.Itoa(len(card.QR)))
	w.Header().Set("Carechain-SHC-Kid", card.Kid)
	w.Header().Set("Cache-Control", "no-store")
	if format == "qr" {
		if chunk > len(card.QR) {
			writeError(w, s.log, cc.Errorf("shc.issue", cc.NotFound, "the card has %d QR codes", len(card.QR)))
			return
		}
		img, err := shc.QRPNG(card.QR[chunk-1], 4)
		if err != nil {
			writeError(w, s.log, err)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write(img)
		return
	}
	w.Header().Set("Content-Type", shc.MediaType)
	w.Header().Set("Content-Disposition", `attachment; filename="immunizations.smart-health-card"`)
	w.Write(card.File)
}

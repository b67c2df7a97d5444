package httpapi

import (
	"io"
	"net/http"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/consent"
	"carechain/fhir"
	"carechain/gatekeeper"
	"carechain/identity"
	"carechain/records"
)

// The patient's view: who read what, when, why and on which basis; the
// notifications; consents as FHIR; break-glass windows and reviews. These
// are ledger state, readable like every other state key (and provable).

// LoggedAccess is one access-log entry with the state key whose proof
// (GET /v1/proofs?key=…, then carechain verify-proof) shows it committed.
type LoggedAccess struct {
	cc.AccessEvent
	ProofKey string `json:"proof_key"`
}

func (s *Server) patientRoutes() {
	s.mux.HandleFunc("GET /v1/patients/{did}/access-log", s.getAccessLog)
	s.mux.HandleFunc("GET /v1/patients/{did}/notifications", s.getNotifications)
	s.mux.HandleFunc("GET /v1/patients/{did}/consents", s.getConsents)
	s.mux.HandleFunc("GET /v1/patients/{did}/records", s.getPatientRecords)
	s.mux.HandleFunc("GET /v1/patients/{did}/breakglass", s.getBreakGlass)
	s.mux.HandleFunc("GET /v1/orgs/{id}/breakglass-reviews", s.getReviews)
	s.mux.HandleFunc("POST /v1/claims", s.postClaim)
	s.rxRoutes()
}

// postClaim relays a person's claim of a custodial DID (gatekeeper.Claim)
// through the gatekeeper of the organization that created it.
func (s *Server) postClaim(w http.ResponseWriter, r *http.Request) {
	var c gatekeeper.Claim
	if err := cc.DecodeStrict("claim", "claim", mustRead(r), &c); err != nil {
		writeError(w, s.log, err)
		return
	}
	links, err := identity.LinksOf(s.chain.State(), c.DID)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	for _, l := range links {
		if !l.Custodial {
			continue
		}
		g, err := s.gatekeeper(l.Org)
		if err != nil {
			writeError(w, s.log, cc.Errorf("claim", cc.NotFound, "%s is custodial at %s, whose records this node does not hold: claim at its node", c.DID, l.Org))
			return
		}
		if err := g.Claim(r.Context(), c); err != nil {
			writeError(w, s.log, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"did": c.DID, "claimed": true})
		return
	}
	writeError(w, s.log, cc.Errorf("claim", cc.NotFound, "%s is not a custodial DID awaiting its claim", cc.Echo(string(c.DID))))
}

// mustRead reads a small JSON request body (at most 64 KiB; more is cut
// and then fails to decode).
func mustRead(r *http.Request) []byte {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	return b
}

// getAccessLog answers the patient's access log, newest first, as JSON or,
// with ?format=fhir, as a FHIR searchset Bundle of AuditEvents.
func (s *Server) getAccessLog(w http.ResponseWriter, r *http.Request) {
	d, err := didParam(r)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	evs, err := access.AccessLog(s.chain.State(), d)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	if r.URL.Query().Get("format") == "fhir" {
		s.auditBundle(w, r, evs)
		return
	}
	out := make([]LoggedAccess, len(evs))
	for i, e := range evs {
		out[i] = LoggedAccess{AccessEvent: e, ProofKey: access.EventKey(e)}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) auditBundle(w http.ResponseWriter, r *http.Request, evs []cc.AccessEvent) {
	entries := make([]fhir.BundleEntry, 0, len(evs))
	for _, e := range evs {
		b, err := fhir.AuditEvent(e)
		if err != nil {
			writeOutcome(w, s.log, err)
			return
		}
		entries = append(entries, fhir.BundleEntry{FullURL: baseURL(r) + "AuditEvent/" + fhir.SafeID(e.ID), Resource: b})
	}
	b, err := fhir.SearchSet(entries, len(entries), "")
	if err != nil {
		writeOutcome(w, s.log, err)
		return
	}
	writeFHIR(w, http.StatusOK, b)
}

// fhirAuditEvents answers GET /fhir/AuditEvent?patient={did}.
func (s *Server) fhirAuditEvents(w http.ResponseWriter, r *http.Request) {
	d := cc.DID(r.URL.Query().Get("patient"))
	if !d.Valid() {
		writeOutcome(w, s.log, cc.Errorf("fhir", cc.Invalid, "give the patient's DID: ?patient=did:cc:…"))
		return
	}
	evs, err := access.AccessLog(s.chain.State(), d)
	if err != nil {
		writeOutcome(w, s.log, err)
		return
	}
	s.auditBundle(w, r, evs)
}

// fhirConsents answers GET /fhir/Consent?patient={did} as a searchset of
// FHIR Consent resources (revoked ones inactive).
func (s *Server) fhirConsents(w http.ResponseWriter, r *http.Request) {
	d := cc.DID(r.URL.Query().Get("patient"))
	if !d.Valid() {
		writeOutcome(w, s.log, cc.Errorf("fhir", cc.Invalid, "give the patient's DID: ?patient=did:cc:…"))
		return
	}
	cs, err := consent.ListConsents(s.chain.State(), d)
	if err != nil {
		writeOutcome(w, s.log, err)
		return
	}
	entries := make([]fhir.BundleEntry, 0, len(cs))
	for _, c := range cs {
		b, err := fhir.ConsentResource(c, "")
		if err != nil {
			writeOutcome(w, s.log, err)
			return
		}
		entries = append(entries, fhir.BundleEntry{FullURL: baseURL(r) + "Consent/" + fhir.SafeID(c.ID), Resource: b})
	}
	b, err := fhir.SearchSet(entries, len(entries), "")
	if err != nil {
		writeOutcome(w, s.log, err)
		return
	}
	writeFHIR(w, http.StatusOK, b)
}

func (s *Server) getNotifications(w http.ResponseWriter, r *http.Request) {
	d, err := didParam(r)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	ns, err := records.Notifications(s.chain.State(), d)
	s.answer(w, ns, err)
}

func (s *Server) getConsents(w http.ResponseWriter, r *http.Request) {
	d, err := didParam(r)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	cs, err := consent.ListConsents(s.chain.State(), d)
	s.answer(w, cs, err)
}

// getPatientRecords lists the anchors of a patient's records (no PHI:
// ids, types, custodians, versions, hashes).
func (s *Server) getPatientRecords(w http.ResponseWriter, r *http.Request) {
	d, err := didParam(r)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	out := []cc.RecordAnchor{}
	err = records.PatientRecords(s.chain.State(), d, func(a cc.RecordAnchor) bool {
		out = append(out, a)
		return true
	})
	s.answer(w, out, err)
}

func (s *Server) getBreakGlass(w http.ResponseWriter, r *http.Request) {
	d, err := didParam(r)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	ws, err := access.BreakGlassWindows(s.chain.State(), d)
	s.answer(w, ws, err)
}

// getReviews lists an organization's break-glass windows awaiting its
// privacy officer's review; ?overdue=24h marks those older than that.
func (s *Server) getReviews(w http.ResponseWriter, r *http.Request) {
	after := 72 * time.Hour
	if v := r.URL.Query().Get("overdue"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			writeError(w, s.log, cc.Errorf("reviews", cc.Invalid, "overdue must be a duration such as 72h"))
			return
		}
		after = d
	}
	st, err := s.chain.Status(r.Context())
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	items, err := access.PendingReviews(s.chain.State(), r.PathValue("id"), st.LatestBlockTime, after)
	s.answer(w, items, err)
}

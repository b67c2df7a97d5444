package httpapi

import (
	"net/http"
	"slices"

	cc "carechain"
	"carechain/access"
	"carechain/fhir"
	"carechain/gatekeeper"
)

// findPatient answers GET /fhir/Patient?identifier=… signed as a search
// that names no patient (gatekeeper/findpatient.go): each local custodian
// says which patients it holds that match and the requester may see; with
// none the answer is an empty searchset, exactly as for an unknown
// identifier; with one, that custodian's gatekeeper releases the Patient
// under a logged access event; with more, the search is ambiguous. The
// identifiers are node-local (never on the ledger), so the lookup is not
// relayed to other nodes.
func (s *Server) findPatient(w http.ResponseWriter, r *http.Request, sr access.SignedRead) {
	s.gkMu.RLock()
	orgs := make([]string, 0, len(s.gks))
	for org := range s.gks {
		orgs = append(orgs, org)
	}
	gks := make([]*gatekeeper.Gatekeeper, 0, len(orgs))
	slices.Sort(orgs)
	for _, org := range orgs {
		gks = append(gks, s.gks[org])
	}
	s.gkMu.RUnlock()
	var found []cc.DID
	var holder *gatekeeper.Gatekeeper
	for _, g := range gks {
		ps, err := g.PatientsFound(r.Context(), sr)
		if err != nil {
			writeOutcome(w, s.log, err)
			return
		}
		for _, p := range ps {
			if !slices.Contains(found, p) {
				found = append(found, p)
				holder = g
			}
		}
	}
	self := baseURL(r) + r.URL.RequestURI()[len("/fhir/"):]
	switch {
	case len(found) == 0:
		b, _ := fhir.SearchSet(nil, 0, self)
		writeFHIR(w, http.StatusOK, b)
		return
	case len(found) > 1:
		writeOutcome(w, s.log, cc.Errorf("fhir", cc.Invalid, "the identifier matches more than one patient you may see: give system|value"))
		return
	}
	res, err := holder.Search(r.Context(), sr)
	if err != nil {
		writeOutcome(w, s.log, err)
		return
	}
	setEventHeaders(w, &res.Event, res.Height)
	if len(res.Records) > 0 {
		// The patient the logged event names: the clinician may go on to
		// read their records by DID.
		w.Header().Set("Carechain-Patient", string(found[0]))
	}
	entries := make([]fhir.BundleEntry, len(res.Records))
	for i, rec := range res.Records {
		entries[i] = fhir.BundleEntry{FullURL: baseURL(r) + rec.ID, Resource: rec.JSON}
	}
	next, prev := pageLinks(r, res.Offset, res.Count, res.Total)
	b, err := fhir.SearchSetPage(entries, res.Total, self, next, prev)
	if err != nil {
		writeOutcome(w, s.log, err)
		return
	}
	writeFHIR(w, http.StatusOK, b)
}

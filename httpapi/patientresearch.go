package httpapi

import (
	"net/http"

	cc "carechain"
	"carechain/research"
)

// PatientResearch is one research project as a patient sees it: the
// project, and the patient's own choice (nil: never chosen, which counts
// as out unless a category consent covers the project).
type PatientResearch struct {
	Project       string                  `json:"project"`
	Title         string                  `json:"title"`
	Org           string                  `json:"org"`
	Status        string                  `json:"status"` // the project's
	Purposes      []string                `json:"purposes"`
	ResourceTypes []string                `json:"resource_types"`
	Period        cc.Period               `json:"period"`
	Participation *research.Participation `json:"participation,omitempty"`
}

// patientResearchRoutes serve a patient's research choices, for the
// portal's opt-in and opt-out (research.optin / research.optout
// transactions). Participations are ledger state, as public as
// GET /v1/research/projects/{id}/participants.
func (s *Server) patientResearchRoutes() {
	s.mux.HandleFunc("GET /v1/patients/{did}/research", s.getPatientResearch)
}

func (s *Server) getPatientResearch(w http.ResponseWriter, r *http.Request) {
	did := cc.DID(r.PathValue("did"))
	if !did.Valid() {
		writeError(w, s.log, cc.Errorf("research.patient", cc.Invalid, "%q is not a DID", cc.Echo(string(did))))
		return
	}
	state := s.chain.State()
	ps, err := research.ListProjects(state)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	out := []PatientResearch{}
	for _, p := range ps {
		part, err := research.GetParticipation(state, p.ID, did)
		if err != nil {
			writeError(w, s.log, err)
			return
		}
		out = append(out, PatientResearch{Project: p.ID, Title: p.Title, Org: p.Org, Status: p.Status, Purposes: p.Purposes,
			ResourceTypes: p.ResourceTypes, Period: p.Period, Participation: part})
	}
	writeJSON(w, http.StatusOK, out)
}

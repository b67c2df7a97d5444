package httpapi

import (
	"net/http"

	cc "carechain"
	"carechain/rx"
)

// E-prescriptions (package rx) as the ledger holds them: status, what was
// prescribed and dispensed, by whom and where. No PHI: record ids, DIDs,
// organization ids, medication codes, quantities (in thousandths of the
// unit) and dates of validity. The FHIR MedicationRequest itself is read
// through the gatekeeper (/fhir/MedicationRequest/{id}, logged).

// PrescriptionView is a prescription with its dispense history and what
// remains to dispense.
type PrescriptionView struct {
	rx.Prescription
	TotalMilli     int64         `json:"total_milli"`
	RemainingMilli int64         `json:"remaining_milli"`
	Dispenses      []rx.Dispense `json:"dispenses"`
}

func (s *Server) rxRoutes() {
	s.mux.HandleFunc("GET /v1/patients/{did}/prescriptions", s.getPatientPrescriptions)
	s.mux.HandleFunc("GET /v1/prescribers/{did}/prescriptions", s.getPrescriberPrescriptions)
	s.mux.HandleFunc("GET /v1/prescriptions/{id...}", s.getPrescription)
}

// prescriptionView reads the dispense history of p.
func prescriptionView(kv cc.Reader, p rx.Prescription) (PrescriptionView, error) {
	ds, err := rx.Dispenses(kv, p.ID)
	if err != nil {
		return PrescriptionView{}, err
	}
	return PrescriptionView{Prescription: p, TotalMilli: p.TotalMilli(), RemainingMilli: p.RemainingMilli(), Dispenses: ds}, nil
}

// getPrescription answers GET /v1/prescriptions/MedicationRequest/{id}.
func (s *Server) getPrescription(w http.ResponseWriter, r *http.Request) {
	kv := s.chain.State()
	p, err := rx.GetPrescription(kv, r.PathValue("id"))
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	v, err := prescriptionView(kv, *p)
	s.answer(w, v, err)
}

func (s *Server) getPatientPrescriptions(w http.ResponseWriter, r *http.Request) {
	s.listPrescriptions(w, r, rx.PatientPrescriptions)
}

func (s *Server) getPrescriberPrescriptions(w http.ResponseWriter, r *http.Request) {
	s.listPrescriptions(w, r, rx.PrescriberPrescriptions)
}

// listPrescriptions answers the prescriptions list reads of {did}, each
// with its dispense history: {"did", "prescriptions": [PrescriptionView…]}.
func (s *Server) listPrescriptions(w http.ResponseWriter, r *http.Request, list func(cc.Reader, cc.DID) ([]rx.Prescription, error)) {
	d, err := didParam(r)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	kv := s.chain.State()
	ps, err := list(kv, d)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	out := make([]PrescriptionView, 0, len(ps))
	for _, p := range ps {
		v, err := prescriptionView(kv, p)
		if err != nil {
			writeError(w, s.log, err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"did": d, "prescriptions": out})
}

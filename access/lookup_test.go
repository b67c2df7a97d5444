package access

import (
	"testing"

	cc "carechain"
	"carechain/records"
)

// TestLogPatientLookup: a search signed for no patient (a patient lookup by
// identifier) logs an event of the one patient whose Patient record it
// releases, decided by that patient's consent; it cannot release other
// record types, nor records of two patients; a read must name its patient.
func TestLogPatientLookup(t *testing.T) {
	e := newEnv(t)
	e.mustApply(t, doc, records.TypeAnchor, obj{"anchors": []obj{
		anchorItem("Patient/p1", pat, "st-marys", doc), anchorItem("Patient/p2", pat2, "st-marys", doc),
	}})
	e.next()
	cid := e.grant(t, pat, obj{"type": "permit", "actors": []obj{{"did": clindoc.did}}, "actions": []string{"search"}, "purposes": []string{"TREAT"}})
	e.next()
	lookup := func() SignedRead {
		r := e.request(clindoc, pat, "TREAT")
		r.Patient, r.Action, r.Query = "", ActionSearch, "_type=Patient&identifier=urn%3Amrn%7C1"
		return mustSign(t, r, clindoc)
	}
	s := lookup()
	got := e.logTx(t, node, logEv(s, "Patient/p1"))
	if got[0].Status != StatusLogged || got[0].Basis != cc.BasisConsent || got[0].Ref != cid {
		t.Fatalf("the lookup of pat's Patient: %+v, want logged under %s", got, cid)
	}
	log, err := AccessLog(e.kv, pat.did)
	if err != nil || len(log) != 1 || log[0].Patient != pat.did || log[0].Accessor != clindoc.did || log[0].Action != ActionSearch {
		t.Fatalf("pat's access log: %+v, %v", log, err)
	}
	for _, c := range []struct {
		ids    []string
		status string
		reason string
	}{
		{[]string{"Patient/p2"}, StatusDenied, "not_allowed"},                  // pat2 consented to nothing
		{[]string{"Observation/o1"}, StatusInvalid, "not_a_patient_lookup"},    // not a Patient
		{[]string{"Patient/p1", "Patient/p2"}, StatusInvalid, "other_patient"}, // two patients
		{[]string{"Patient/p1", "Observation/o1"}, StatusInvalid, "not_a_patient_lookup"},
	} {
		got := e.logTx(t, node, logEv(lookup(), c.ids...))
		if got[0].Status != c.status || got[0].Reason != c.reason {
			t.Errorf("%v: %+v, want %s (%s)", c.ids, got[0], c.status, c.reason)
		}
	}
	r := e.request(clindoc, pat, "TREAT", "Patient/p1")
	r.Patient = ""
	if _, err := SignRead(r, clindoc.priv); !cc.Is(cc.Invalid, err) {
		t.Errorf("a read naming no patient: %v, want Invalid", err)
	}
}

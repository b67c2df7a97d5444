package gatekeeper_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/identity"
	"carechain/internal/recordtest"
	"carechain/records"
	"carechain/rx"
	"carechain/seed"
)

const (
	central = "central-pharmacy"
	harbour = "harbour-pharmacy"
)

// rxWorld is a recordtest world whose first patient is linked to both
// pharmacies too, so that they may anchor its MedicationDispenses.
type rxWorld struct {
	*recordtest.World
	patient seed.Identity
}

func mustRxWorld(t *testing.T) *rxWorld { t.Helper(); return mustRxWorldOf(t, "gatekeeper-rx", 1) }

// mustRxWorldOf is mustRxWorld for a world of n patients, seeded by name.
func mustRxWorldOf(t *testing.T, name string, n int) *rxWorld {
	t.Helper()
	w := recordtest.MustWorld(t, name, n)
	pt := w.Pop.Patients[0]
	expires := time.Now().UTC().Add(365 * 24 * time.Hour).Truncate(time.Second)
	for _, org := range []string{central, harbour} {
		w.MustTx(t, w.Pop.Nodes[org], identity.TypePatientLink, map[string]any{"patient": pt.DID, "org": org,
			"expires": expires.Format(time.RFC3339), "approval": identity.SignLinkApproval(pt.Key, recordtest.ChainID, pt.DID, org, expires)})
	}
	return &rxWorld{World: w, patient: pt}
}

// example reads an official FHIR example and applies edit to it.
func example(t *testing.T, name string, edit func(m map[string]any)) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(recordtest.Read(t, recordtest.Testdata(t, "fhir-r4-examples", name)), &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "id")
	delete(m, "text")
	edit(m)
	return m
}

// prescribe posts, as St Mary's physician, a bundle with the patient and
// the official MedicationRequest medrx0311 (30 TAB, one repeat) valid for
// 90 days, and returns the patient's and the prescription's record ids.
func (w *rxWorld) prescribe(t *testing.T) (string, string) {
	t.Helper()
	patientURL := "urn:uuid:7c7b0a3c-0000-4000-8000-000000000001"
	mr := example(t, "MedicationRequest-medrx0311.json", func(m map[string]any) {
		for _, k := range []string{"encounter", "requester", "reasonReference"} {
			delete(m, k)
		}
		m["subject"] = map[string]any{"reference": patientURL}
		dr := m["dispenseRequest"].(map[string]any)
		delete(dr, "performer")
		dr["validityPeriod"] = map[string]any{"start": time.Now().UTC().Format("2006-01-02"), "end": time.Now().UTC().AddDate(0, 0, 90).Format("2006-01-02")}
	})
	body, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"fullUrl": patientURL,
			"resource": map[string]any{"resourceType": "Patient", "gender": "male", "birthDate": "1970-01-01"},
			"request":  map[string]string{"method": "POST", "url": "Patient"}},
		map[string]any{"fullUrl": "urn:uuid:7c7b0a3c-0000-4000-8000-000000000002", "resource": mr,
			"request": map[string]string{"method": "POST", "url": "MedicationRequest"}},
	}})
	doc := w.Staff(t, "st-mary-physician")
	res, err := w.Gatekeepers[stMary].Ingest(context.Background(), body, w.SignedWrite(t, doc, stMary, w.patient.DID, body), "")
	if err != nil {
		t.Fatalf("prescribing: %v", err)
	}
	var patient, request string
	for _, id := range res.IDs {
		switch {
		case strings.HasPrefix(id, "Patient/"):
			patient = id
		case strings.HasPrefix(id, "MedicationRequest/"):
			request = id
		}
	}
	return patient, request
}

// dispense posts, as org's pharmacist, the official MedicationDispense
// meddisp0319 adapted to the prescription, for quantity tablets.
func (w *rxWorld) dispense(t *testing.T, org, patient, prescription string, quantity float64) (*gatekeeperResult, error) {
	t.Helper()
	md := example(t, "MedicationDispense-meddisp0319.json", func(m map[string]any) {
		delete(m, "performer")
		m["subject"] = map[string]any{"reference": patient}
		m["authorizingPrescription"] = []any{map[string]any{"reference": prescription}}
		m["quantity"].(map[string]any)["value"] = quantity
	})
	body, _ := json.Marshal(md)
	pharmacist := w.Staff(t, strings.TrimSuffix(org, "-pharmacy")+"-pharmacist")
	res, err := w.Gatekeepers[org].Ingest(context.Background(), body, w.SignedWrite(t, pharmacist, org, "", body), "MedicationDispense")
	if err != nil {
		return nil, err
	}
	return &gatekeeperResult{ids: res.IDs, height: res.Height}, nil
}

type gatekeeperResult struct {
	ids    []string
	height int64
}

// dispenseRecords counts the patient's anchored MedicationDispenses.
func (w *rxWorld) dispenseRecords(t *testing.T) int {
	t.Helper()
	n := 0
	if err := records.PatientRecords(w.Chain.State(), w.patient.DID, func(a cc.RecordAnchor) bool {
		if a.Type == rx.DispenseType {
			n++
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPrescriptionDispensedAcrossPharmacies: a physician's FHIR
// MedicationRequest becomes an active e-prescription (30 TAB, one repeat:
// 60 in all); two pharmacies dispense it through FHIR MedicationDispenses;
// one that asks for more than remains is refused with the ledger's reason
// and stores nothing.
func TestPrescriptionDispensedAcrossPharmacies(t *testing.T) {
	w := mustRxWorld(t)
	patient, id := w.prescribe(t)
	p, err := rx.GetPrescription(w.Chain.State(), id)
	if err != nil {
		t.Fatalf("the MedicationRequest was not issued: %v", err)
	}
	doc := w.Staff(t, "st-mary-physician")
	if p.Status != rx.StatusActive || p.Prescriber != doc.DID || p.Patient != w.patient.DID || p.Org != stMary ||
		p.QuantityMilli != 30000 || p.Unit != "TAB" || p.Repeats != 1 || p.Medication != "http://snomed.info/sct|317935006" ||
		p.ValidUntil != time.Now().UTC().AddDate(0, 0, 90).Format("2006-01-02") {
		t.Errorf("prescription %+v", p)
	}

	if _, err := w.dispense(t, central, patient, id, 30); err != nil {
		t.Fatalf("central's dispense: %v", err)
	}
	if _, err := w.dispense(t, harbour, patient, id, 20); err != nil {
		t.Fatalf("harbour's dispense: %v", err)
	}
	before := w.dispenseRecords(t)
	_, err = w.dispense(t, central, patient, id, 20)
	if !cc.Is(cc.FailedPrecondition, err) || !strings.Contains(err.Error(), "only 10 TAB remain") {
		t.Fatalf("over-dispense: %v, want FailedPrecondition (only 10 TAB remain)", err)
	}
	if got := w.dispenseRecords(t); got != before {
		t.Errorf("a refused dispense anchored a record: %d, want %d", got, before)
	}
	// The ledger's reason is the ingest's error (the HTTP edge answers
	// it as an OperationOutcome).
	var ce *cc.Error
	if !errors.As(err, &ce) || ce.Op != rx.TypeDispense || !strings.HasPrefix(ce.Msg, "dispenses[0]: only 10 TAB remain") {
		t.Errorf("error %#v", err)
	}
	if _, err := w.dispense(t, harbour, patient, id, 10.0); err != nil {
		t.Fatalf("the last 10: %v", err)
	}
	if _, err := w.dispense(t, central, patient, id, 1); !cc.Is(cc.FailedPrecondition, err) || !strings.Contains(err.Error(), "is completed") {
		t.Errorf("after completion: %v", err)
	}

	p, _ = rx.GetPrescription(w.Chain.State(), id)
	if p.Status != rx.StatusCompleted || p.DispensedMilli != 60000 || p.Fills != 3 {
		t.Errorf("prescription after the dispenses %+v", p)
	}
	ds, err := rx.Dispenses(w.Chain.State(), id)
	if err != nil || len(ds) != 3 {
		t.Fatalf("dispenses %+v, %v", ds, err)
	}
	wantOrgs := []string{central, harbour, harbour}
	for i, d := range ds {
		pharmacist := w.Staff(t, strings.TrimSuffix(wantOrgs[i], "-pharmacy")+"-pharmacist")
		if d.Org != wantOrgs[i] || d.Pharmacist != pharmacist.DID || d.Signer != w.Pop.Nodes[wantOrgs[i]].DID ||
			!strings.HasPrefix(d.RecordID, rx.DispenseType+"/") || d.Unit != "TAB" {
			t.Errorf("dispense %d: %+v", i, d)
		}
		if got, _ := rx.DispenseOf(w.Chain.State(), d.RecordID); got != id {
			t.Errorf("DispenseOf(%s) = %q", d.RecordID, got)
		}
	}
	if ps, _ := rx.PatientPrescriptions(w.Chain.State(), w.patient.DID); len(ps) != 1 || ps[0].ID != id {
		t.Errorf("patient's prescriptions %+v", ps)
	}

	// A MedicationDispense for a prescription this ledger never issued is
	// a plain record.
	if _, err := w.dispense(t, central, patient, "MedicationRequest/on-paper", 5); err != nil {
		t.Errorf("a dispense of a paper prescription: %v", err)
	}
}

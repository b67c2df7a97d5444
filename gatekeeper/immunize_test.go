package gatekeeper_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	cc "carechain"
	"carechain/gatekeeper"
	"carechain/internal/recordtest"
	"carechain/records"
	"carechain/supply"
)

const (
	stMary = "st-mary-hospital"
	acme   = "acme-vaccines"
	// vial is the SGTIN of Acme's vaccine vials without the serial.
	vial = "urn:epc:id:sgtin:0614141.107346."
)

// immunizationWorld is a recordtest world in which Acme registered a
// two-dose vaccine (CVX 208) and St Mary's received vials of lot LOT-A.
type immunizationWorld struct {
	*recordtest.World
	gk      *gatekeeper.Gatekeeper
	patient cc.DID
}

func mustImmunizationWorld(t *testing.T, vials int) *immunizationWorld {
	t.Helper()
	w := recordtest.MustWorld(t, "gatekeeper-immunize", 2)
	iw := &immunizationWorld{World: w, gk: w.Gatekeepers[stMary], patient: w.Pop.Patients[0].DID}
	gtin, ok := supply.GTINOf(vial + "1")
	if !ok {
		t.Fatal("no GTIN for the vial")
	}
	logistics := w.Staff(t, "acme-logistics")
	w.MustTx(t, logistics, "supply.product.register", map[string]any{"org": acme, "gtin": gtin, "name": "Acme mRNA vaccine",
		"cvx": "208", "storage_min_milli_c": -90000, "storage_max_milli_c": -60000, "excursion_minutes": 30, "doses_per_vial": 2})
	var epcs []string
	for i := 1; i <= vials; i++ {
		epcs = append(epcs, vial+itoa(i))
	}
	ev := func(typ, action, step string, epcs []string) map[string]any {
		return map[string]any{"type": typ, "action": action, "event_time": "2026-01-05T09:00:00Z", "epcs": epcs, "biz_step": step}
	}
	commission := ev("ObjectEvent", "ADD", "commissioning", epcs)
	commission["lot"], commission["expiry"] = "LOT-A", "2099-12-31"
	ship := ev("ObjectEvent", "OBSERVE", "shipping", epcs)
	ship["destinations"] = []map[string]string{{"type": "owning_party", "id": "org:" + stMary}}
	w.MustTx(t, logistics, supply.TypeCapture, map[string]any{"org": acme, "events": []any{commission, ship}})
	w.MustTx(t, w.Pop.Nodes[stMary], supply.TypeCapture, map[string]any{"org": stMary, "events": []any{ev("ObjectEvent", "OBSERVE", "receiving", epcs)}})
	return iw
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// bundles numbers the bundles immunization makes, so that each has fresh
// fullUrls (a fullUrl seen before resolves to the resource it created).
var bundles int

// immunization is a transaction bundle with the patient and one
// Immunization (lot and identifiers optional).
func immunization(lot, cvx string, identifiers ...string) []byte {
	bundles++
	patientURL := fmt.Sprintf("urn:uuid:6b7b0a3c-0000-4000-8000-%012d", 2*bundles)
	immURL := fmt.Sprintf("urn:uuid:6b7b0a3c-0000-4000-8000-%012d", 2*bundles+1)
	imm := map[string]any{"resourceType": "Immunization", "status": "completed",
		"vaccineCode":        map[string]any{"coding": []any{map[string]string{"system": supply.CVXSystem, "code": cvx}}},
		"patient":            map[string]string{"reference": patientURL},
		"occurrenceDateTime": "2026-11-30T10:00:00Z"}
	if lot != "" {
		imm["lotNumber"] = lot
	}
	var ids []any
	for _, v := range identifiers {
		ids = append(ids, map[string]string{"system": "urn:ietf:rfc:3986", "value": v})
	}
	if ids != nil {
		imm["identifier"] = ids
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"fullUrl": patientURL,
			"resource": map[string]any{"resourceType": "Patient", "gender": "female", "birthDate": "1990-01-01"},
			"request":  map[string]string{"method": "POST", "url": "Patient"}},
		map[string]any{"fullUrl": immURL, "resource": imm,
			"request": map[string]string{"method": "POST", "url": "Immunization"}},
	}})
	return b
}

func (iw *immunizationWorld) ingest(t *testing.T, body []byte) (*gatekeeper.IngestResult, error) {
	t.Helper()
	doc := iw.Staff(t, "st-mary-nurse")
	return iw.gk.Ingest(context.Background(), body, iw.SignedWrite(t, doc, stMary, iw.patient, body), "")
}

func (iw *immunizationWorld) item(t *testing.T, epc string) *supply.Item {
	t.Helper()
	it, err := supply.GetItem(iw.Chain.State(), epc)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func TestImmunizationTakesADoseFromStock(t *testing.T) {
	iw := mustImmunizationWorld(t, 2)
	// Four doses in two two-dose vials: the first vial is used first.
	for n, want := range []struct {
		epc  string
		used int
		done bool
	}{{vial + "1", 1, false}, {vial + "1", 2, true}, {vial + "2", 1, false}, {vial + "2", 2, true}} {
		res, err := iw.ingest(t, immunization("LOT-A", "208"))
		if err != nil {
			t.Fatalf("dose %d: %v", n+1, err)
		}
		adm, err := supply.AdministrationsAt(iw.Chain.State(), res.Height)
		if err != nil || len(adm) != 1 {
			t.Fatalf("dose %d: administrations %+v, %v", n+1, adm, err)
		}
		a := adm[0]
		if !a.Linked || a.EPC != want.epc || a.Lot != "LOT-A" || a.Patient != iw.patient || a.Org != stMary ||
			a.Vaccine != supply.CVXSystem+"|208" || a.Year != 2026 || !strings.HasPrefix(a.RecordID, "Immunization/") {
			t.Errorf("dose %d: administration %+v", n+1, a)
		}
		byTx, err := supply.AdministrationsOfTx(iw.Chain.State(), res.Height, a.TxHash)
		if err != nil || len(byTx) != 1 || byTx[0] != a {
			t.Errorf("dose %d: AdministrationsOfTx = %+v, %v", n+1, byTx, err)
		}
		mine, err := supply.AdministrationsOfPatient(iw.Chain.State(), iw.patient)
		if err != nil || len(mine) != n+1 || mine[n] != a {
			t.Errorf("dose %d: AdministrationsOfPatient = %d administrations (last %+v), %v", n+1, len(mine), mine[len(mine)-1:], err)
		}
		it := iw.item(t, want.epc)
		if it.DosesUsed != want.used || (it.Status == supply.StatusDecommissioned) != want.done {
			t.Errorf("dose %d: vial %s used %d, status %s", n+1, want.epc, it.DosesUsed, it.Status)
		}
	}
	// The stock is used up: the next immunization of the lot is refused
	// and nothing of it is stored.
	before := countImmunizations(t, iw)
	_, err := iw.ingest(t, immunization("LOT-A", "208"))
	if !cc.Is(cc.FailedPrecondition, err) || !strings.Contains(err.Error(), "not in the custody") {
		t.Errorf("an immunization from used-up stock: %v, want FailedPrecondition (not in the custody)", err)
	}
	if got := countImmunizations(t, iw); got != before {
		t.Errorf("a refused immunization anchored a record: %d, want %d", got, before)
	}
}

func TestImmunizationRefusals(t *testing.T) {
	iw := mustImmunizationWorld(t, 2)
	// A vial Acme still holds: commissioned, never shipped to St Mary's.
	iw.MustTx(t, iw.Staff(t, "acme-logistics"), supply.TypeCapture, map[string]any{"org": acme, "events": []any{
		map[string]any{"type": "ObjectEvent", "action": "ADD", "event_time": "2026-01-05T09:00:00Z", "epcs": []string{vial + "99"},
			"biz_step": "commissioning", "lot": "LOT-A", "expiry": "2099-12-31"}}})
	tests := []struct {
		name  string
		body  []byte
		kind  cc.Kind
		text  string
		fraud string
	}{
		{"a lot the clinic does not hold", immunization("LOT-Z", "208"), cc.FailedPrecondition, "not in the custody", ""},
		{"another vaccine than the lot's", immunization("LOT-A", "140"), cc.Invalid, "CVX 208", ""},
		{"a serial never commissioned", immunization("LOT-A", "208", vial+"12345"), cc.Conflict, "never commissioned", supply.FraudUnknownAdministration},
		{"a serial never shipped here", immunization("LOT-A", "208", vial+"99"), cc.Conflict, "never shipped to", supply.FraudNotShippedHere},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := countImmunizations(t, iw)
			alerts, _ := supply.FraudAlerts(iw.Chain.State())
			_, err := iw.ingest(t, tt.body)
			if !cc.Is(tt.kind, err) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("got %v, want %v (%s)", err, tt.kind, tt.text)
			}
			if got := countImmunizations(t, iw); got != before {
				t.Errorf("a refused immunization anchored a record")
			}
			after, _ := supply.FraudAlerts(iw.Chain.State())
			switch {
			case tt.fraud == "" && len(after) != len(alerts):
				t.Errorf("alerts %d → %d, want none new", len(alerts), len(after))
			case tt.fraud != "" && (len(after) != len(alerts)+1 || after[len(after)-1].Kind != tt.fraud):
				t.Errorf("alerts %+v, want one new %s", after, tt.fraud)
			}
		})
	}
	// A named serial that St Mary's holds is used, whichever vial is first.
	res, err := iw.ingest(t, immunization("LOT-A", "208", vial+"2"))
	if err != nil {
		t.Fatal(err)
	}
	if adm, _ := supply.AdministrationsAt(iw.Chain.State(), res.Height); len(adm) != 1 || adm[0].EPC != vial+"2" {
		t.Errorf("administration %+v, want vial 2", adm)
	}
	// A lot recalled by its manufacturer is refused at once.
	iw.MustTx(t, iw.Staff(t, "acme-logistics"), "supply.recall", map[string]any{"org": acme, "lot": "LOT-A", "reason": "potency below specification"})
	if _, err := iw.ingest(t, immunization("LOT-A", "208")); !cc.Is(cc.FailedPrecondition, err) || !strings.Contains(err.Error(), "recalled") {
		t.Errorf("an immunization from a recalled lot: %v, want FailedPrecondition (recalled)", err)
	}
}

// TestSyntheaImmunizationsUnlinked ingests a Synthea bundle: its
// immunizations carry no lot, so they are recorded as unlinked, with
// their CVX code and year, at a hospital inside or outside the supply
// chain alike.
func TestSyntheaImmunizationsUnlinked(t *testing.T) {
	iw := mustImmunizationWorld(t, 1)
	dir := recordtest.Testdata(t, "synthea")
	doc := iw.Staff(t, "st-mary-physician")
	for _, f := range []string{recordtest.SyntheaHospitals, recordtest.SyntheaPractitioners} {
		b := recordtest.Read(t, filepath.Join(dir, f))
		if _, err := iw.gk.Ingest(context.Background(), b, iw.SignedWrite(t, doc, stMary, "", b), ""); err != nil {
			t.Fatal(err)
		}
	}
	bob := recordtest.Read(t, filepath.Join(dir, "patients", recordtest.SyntheaBob))
	res, err := iw.gk.Ingest(context.Background(), bob, iw.SignedWrite(t, doc, stMary, iw.patient, bob), "")
	if err != nil {
		t.Fatal(err)
	}
	adm, err := supply.AdministrationsAt(iw.Chain.State(), res.Height)
	if err != nil {
		t.Fatal(err)
	}
	if len(adm) != 46 {
		t.Fatalf("%d administrations, want Bob's 46 immunizations", len(adm))
	}
	for _, a := range adm {
		if a.Linked || a.Lot != "" || a.Patient != iw.patient || !strings.HasPrefix(a.Vaccine, supply.CVXSystem+"|") || a.Year < 1900 {
			t.Fatalf("administration %+v, want unlinked with a CVX code and a year", a)
		}
	}
	if it := iw.item(t, vial+"1"); it.DosesUsed != 0 {
		t.Errorf("an unlinked immunization took a dose: %+v", it)
	}
}

func countImmunizations(t *testing.T, iw *immunizationWorld) int {
	t.Helper()
	n := 0
	records.PatientRecords(iw.Chain.State(), iw.patient, func(a cc.RecordAnchor) bool {
		if a.Type == "Immunization" {
			n++
		}
		return true
	})
	return n
}

// TestOnPatients checks the population-register hook gets the
// demographics of the Patient a bundle creates, with the patient's DID.
func TestOnPatients(t *testing.T) {
	w := recordtest.MustWorld(t, "gatekeeper-onpatients", 1)
	var got []gatekeeper.PatientDemographics
	n := w.Pop.Nodes[stMary]
	gk := gatekeeper.New(gatekeeper.Config{Chain: w.Chain, Vault: w.Vault, Index: w.Index, Org: stMary, NodeDID: n.DID, NodeKey: n.Key,
		OnPatients: func(p []gatekeeper.PatientDemographics) { got = append(got, p...) }})
	body := immunization("", "140")
	patient := w.Pop.Patients[0].DID
	if _, err := gk.Ingest(context.Background(), body, w.SignedWrite(t, w.Staff(t, "st-mary-nurse"), stMary, patient, body), ""); err != nil {
		t.Fatal(err)
	}
	want := []gatekeeper.PatientDemographics{{DID: patient}}
	want[0].BirthDate, want[0].Sex = "1990-01-01", "female"
	if len(got) != 1 || got[0] != want[0] {
		t.Errorf("OnPatients got %+v, want %+v", got, want)
	}
}

// TestQuarantinedLotRefused: a temperature excursion beyond the product's
// budget quarantines St Mary's vials, and an immunization from the lot is
// refused until the regulator releases them.
func TestQuarantinedLotRefused(t *testing.T) {
	iw := mustImmunizationWorld(t, 1)
	// The product allows 30 minutes outside −90…−60 °C: 40 minutes at
	// +5 °C is beyond it.
	iw.MustTx(t, iw.Pop.Nodes[stMary], supply.TypeCapture, map[string]any{"org": stMary, "events": []any{
		map[string]any{"type": "ObjectEvent", "action": "OBSERVE", "event_time": "2026-01-06T10:00:00Z", "epcs": []string{vial + "1"},
			"sensors": []any{
				map[string]any{"type": "Temperature", "time": "2026-01-06T09:00:00Z", "value_milli_c": -70000},
				map[string]any{"type": "Temperature", "time": "2026-01-06T09:40:00Z", "value_milli_c": 5000},
			}}}})
	if it := iw.item(t, vial+"1"); it.Status != supply.StatusQuarantined {
		t.Fatalf("after the excursion the vial is %s, want quarantined", it.Status)
	}
	_, err := iw.ingest(t, immunization("LOT-A", "208"))
	if !cc.Is(cc.FailedPrecondition, err) || !strings.Contains(err.Error(), "quarantined") {
		t.Fatalf("an immunization from a quarantined lot: %v, want FailedPrecondition (quarantined)", err)
	}
	iw.MustTx(t, iw.Staff(t, "regulator-inspector"), "supply.quarantine.review", map[string]any{"org": "medicines-regulator",
		"epcs": []string{vial + "1"}, "decision": "release", "reason": "stability data cover 40 minutes at +5 °C"})
	if _, err := iw.ingest(t, immunization("LOT-A", "208")); err != nil {
		t.Errorf("after release: %v", err)
	}
}

package gatekeeper_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/identity"
	"carechain/internal/recordtest"
	"carechain/records"
	"carechain/rx"
	"carechain/seed"
	"carechain/supply"
)

// entry is a transaction bundle entry that creates resource r.
func entry(fullURL string, r map[string]any) map[string]any {
	return map[string]any{"fullUrl": fullURL, "resource": r,
		"request": map[string]string{"method": "POST", "url": r["resourceType"].(string)}}
}

// txBundle is a transaction bundle of entries.
func txBundle(entries ...any) []byte {
	b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
	return b
}

// dose is an Immunization of patient (a reference) from lot, CVX 208,
// from the vial epc when given.
func dose(patient, lot, epc string) map[string]any {
	m := map[string]any{"resourceType": "Immunization", "status": "completed", "lotNumber": lot,
		"vaccineCode":        map[string]any{"coding": []any{map[string]string{"system": supply.CVXSystem, "code": "208"}}},
		"patient":            map[string]string{"reference": patient},
		"occurrenceDateTime": "2026-11-30T10:00:00Z"}
	if epc != "" {
		m["identifier"] = []any{map[string]string{"system": "urn:ietf:rfc:3986", "value": epc}}
	}
	return m
}

// order is the official MedicationRequest medrx0311 (30 TAB, one repeat)
// for patient, valid for 90 days.
func order(t *testing.T, patient string) map[string]any {
	return example(t, "MedicationRequest-medrx0311.json", func(m map[string]any) {
		for _, k := range []string{"encounter", "requester", "reasonReference"} {
			delete(m, k)
		}
		m["subject"] = map[string]any{"reference": patient}
		dr := m["dispenseRequest"].(map[string]any)
		delete(dr, "performer")
		dr["validityPeriod"] = map[string]any{"start": time.Now().UTC().Format("2006-01-02"), "end": time.Now().UTC().AddDate(0, 0, 90).Format("2006-01-02")}
	})
}

// handOut is the official MedicationDispense meddisp0319 of quantity
// tablets of prescription for patient, received by the DIDs receivers.
func handOut(t *testing.T, patient, prescription string, quantity float64, receivers ...cc.DID) map[string]any {
	return example(t, "MedicationDispense-meddisp0319.json", func(m map[string]any) {
		delete(m, "performer")
		m["subject"] = map[string]any{"reference": patient}
		m["authorizingPrescription"] = []any{map[string]any{"reference": prescription}}
		m["quantity"].(map[string]any)["value"] = quantity
		var rs []any
		for _, d := range receivers {
			rs = append(rs, map[string]any{"identifier": map[string]any{"system": "urn:carechain:did", "value": string(d)}})
		}
		if rs != nil {
			m["receiver"] = rs
		}
	})
}

// countType counts the patient's anchored records of type typ.
func countType(t *testing.T, w *recordtest.World, patient cc.DID, typ string) int {
	t.Helper()
	n := 0
	if err := records.PatientRecords(w.Chain.State(), patient, func(a cc.RecordAnchor) bool {
		if a.Type == typ {
			n++
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestImmunizationsWithPrescriptions: a bundle that holds immunizations
// and e-prescription facts commits in one rx.bundle transaction — the
// doses come from stock and the prescription is issued or dispensed —
// or not at all: a refused dispense leaves the vial untouched, and a
// fraud signal records its alert and nothing of the bundle.
func TestImmunizationsWithPrescriptions(t *testing.T) {
	iw := mustImmunizationWorld(t, 2)
	ctx := context.Background()
	// Central pharmacy vaccinates too: it holds vials 50 and 51 of LOT-P,
	// and the patient is linked to it.
	expires := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Second)
	iw.MustTx(t, iw.Pop.Nodes[central], identity.TypePatientLink, map[string]any{"patient": iw.patient, "org": central,
		"expires": expires.Format(time.RFC3339), "approval": identity.SignLinkApproval(iw.Pop.Patients[0].Key, recordtest.ChainID, iw.patient, central, expires)})
	epcs := []string{vial + "50", vial + "51"}
	ev := func(action, step string) map[string]any {
		return map[string]any{"type": "ObjectEvent", "action": action, "event_time": "2026-01-05T09:00:00Z", "epcs": epcs, "biz_step": step}
	}
	commission, ship := ev("ADD", "commissioning"), ev("OBSERVE", "shipping")
	commission["lot"], commission["expiry"] = "LOT-P", "2099-12-31"
	ship["destinations"] = []map[string]string{{"type": "owning_party", "id": "org:" + central}}
	iw.MustTx(t, iw.Staff(t, "acme-logistics"), supply.TypeCapture, map[string]any{"org": acme, "events": []any{commission, ship}})
	iw.MustTx(t, iw.Pop.Nodes[central], supply.TypeCapture, map[string]any{"org": central, "events": []any{ev("OBSERVE", "receiving")}})

	doc, pharmacist := iw.Staff(t, "st-mary-physician"), iw.Staff(t, "central-pharmacist")
	write := func(author seed.Identity, org string, body []byte) (*gatekeeperResult, error) {
		res, err := iw.Gatekeepers[org].Ingest(ctx, body, iw.SignedWrite(t, author, org, iw.patient, body), "")
		if err != nil {
			return nil, err
		}
		return &gatekeeperResult{ids: res.IDs, height: res.Height}, nil
	}
	idOf := func(ids []string, typ string) string {
		for _, id := range ids {
			if strings.HasPrefix(id, typ+"/") {
				return id
			}
		}
		t.Fatalf("no %s among %v", typ, ids)
		return ""
	}

	// St Mary's vaccinates and prescribes in one bundle.
	pURL, iURL, mURL := "urn:uuid:5d7b0a3c-0000-4000-8000-000000000001", "urn:uuid:5d7b0a3c-0000-4000-8000-000000000002", "urn:uuid:5d7b0a3c-0000-4000-8000-000000000003"
	res, err := write(doc, stMary, txBundle(
		entry(pURL, map[string]any{"resourceType": "Patient", "gender": "female", "birthDate": "1990-01-01"}),
		entry(iURL, dose(pURL, "LOT-A", "")), entry(mURL, order(t, pURL))))
	if err != nil {
		t.Fatalf("immunization and prescription: %v", err)
	}
	patient, prescription := idOf(res.ids, "Patient"), idOf(res.ids, rx.RequestType)
	if p, err := rx.GetPrescription(iw.Chain.State(), prescription); err != nil || p.Status != rx.StatusActive || p.Prescriber != doc.DID {
		t.Errorf("prescription %+v, %v", p, err)
	}
	if adm, _ := supply.AdministrationsAt(iw.Chain.State(), res.height); len(adm) != 1 || adm[0].EPC != vial+"1" || adm[0].RecordID != idOf(res.ids, "Immunization") {
		t.Errorf("administrations %+v", adm)
	}

	tests := []struct {
		name   string
		author seed.Identity
		org    string
		body   func(n int) []byte
		kind   cc.Kind // 0: accepted
		text   string
		vial   string // its doses used after the bundle
		used   int
		alerts int // new fraud alerts
	}{
		{"a pharmacy vaccinates and dispenses", pharmacist, central, func(n int) []byte {
			return txBundle(entry(urn(n, 1), dose(patient, "LOT-P", "")), entry(urn(n, 2), handOut(t, patient, prescription, 10)))
		}, 0, "", vial + "50", 1, 0},
		{"a dispense over what remains refuses the dose too", pharmacist, central, func(n int) []byte {
			return txBundle(entry(urn(n, 1), dose(patient, "LOT-P", "")), entry(urn(n, 2), handOut(t, patient, prescription, 60)))
		}, cc.FailedPrecondition, "more than the 30 TAB of one fill", vial + "50", 1, 0},
		{"a dispense by a physician refuses the dose too", doc, stMary, func(n int) []byte {
			return txBundle(entry(urn(n, 1), dose(patient, "LOT-A", "")), entry(urn(n, 2), handOut(t, patient, prescription, 5)))
		}, cc.Unauthorized, "is not a pharmacist", vial + "1", 1, 0},
		{"a fraud signal refuses the prescription and records the alert", doc, stMary, func(n int) []byte {
			return txBundle(entry(urn(n, 1), dose(patient, "LOT-A", vial+"777")), entry(urn(n, 2), order(t, patient)))
		}, cc.Conflict, "suspected fraud", vial + "1", 1, 1},
		{"a bundle that issues and dispenses", pharmacist, central, func(n int) []byte {
			return txBundle(entry(urn(n, 1), dose(patient, "LOT-P", "")), entry(urn(n, 2), order(t, patient)), entry(urn(n, 3), handOut(t, patient, prescription, 5)))
		}, cc.Invalid, "cannot issue and dispense", vial + "50", 1, 0},
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := iw.Chain.State()
			imms, reqs, disps := countType(t, iw.World, iw.patient, "Immunization"), countType(t, iw.World, iw.patient, rx.RequestType), countType(t, iw.World, iw.patient, rx.DispenseType)
			alerts, _ := supply.FraudAlerts(state)
			before, _ := rx.GetPrescription(state, prescription)
			res, err := write(tt.author, tt.org, tt.body(n+10))
			if tt.kind == 0 {
				if err != nil {
					t.Fatalf("got %v, want it accepted", err)
				}
				ds, _ := rx.Dispenses(iw.Chain.State(), prescription)
				if len(ds) == 0 || ds[len(ds)-1].RecordID != idOf(res.ids, rx.DispenseType) || ds[len(ds)-1].Org != tt.org {
					t.Errorf("dispenses %+v", ds)
				}
			} else {
				if !cc.Is(tt.kind, err) || !strings.Contains(err.Error(), tt.text) {
					t.Fatalf("got %v, want %v (%s)", err, tt.kind, tt.text)
				}
				state := iw.Chain.State()
				after, _ := rx.GetPrescription(state, prescription)
				if after.DispensedMilli != before.DispensedMilli || after.Fills != before.Fills {
					t.Errorf("prescription %+v after a refused bundle, was %+v", after, before)
				}
				for _, c := range []struct {
					typ  string
					want int
				}{{"Immunization", imms}, {rx.RequestType, reqs}, {rx.DispenseType, disps}} {
					if got := countType(t, iw.World, iw.patient, c.typ); got != c.want {
						t.Errorf("%s records %d after a refused bundle, want %d", c.typ, got, c.want)
					}
				}
			}
			if it := iw.item(t, tt.vial); it.DosesUsed != tt.used {
				t.Errorf("vial %s used %d, want %d", tt.vial, it.DosesUsed, tt.used)
			}
			if got, _ := supply.FraudAlerts(iw.Chain.State()); len(got) != len(alerts)+tt.alerts {
				t.Errorf("fraud alerts %d → %d, want %d new", len(alerts), len(got), tt.alerts)
			}
		})
	}
}

// urn is a fresh fullUrl: entry k of bundle n.
func urn(n, k int) string { return fmt.Sprintf("urn:uuid:5d7b0a3c-0000-4000-8001-%06d%06d", n, k) }

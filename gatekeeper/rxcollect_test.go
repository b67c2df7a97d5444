package gatekeeper_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/identity"
	"carechain/rx"
)

// TestDispenseReceiverIsCollector: a MedicationDispense whose receiver
// names a carechain DID is dispensed with that DID as the collector, and
// the ledger decides: the patient always, a delegate with the rx.collect
// scope only once the patient allows delegate collection, anyone else
// never; a refused dispense stores nothing.
func TestDispenseReceiverIsCollector(t *testing.T) {
	w := mustRxWorldOf(t, "gatekeeper-rx-collect", 3)
	carer, reader := w.Pop.Patients[1], w.Pop.Patients[2]
	expires := time.Now().UTC().AddDate(1, 0, 0).Format(time.RFC3339)
	w.MustTx(t, w.patient, identity.TypeDelegateGrant, map[string]any{"delegate": carer.DID, "scopes": []string{rx.ScopeCollect}, "expires": expires})
	w.MustTx(t, w.patient, identity.TypeDelegateGrant, map[string]any{"delegate": reader.DID, "scopes": []string{"records.read"}, "expires": expires})
	patient, id := w.prescribe(t)
	pharmacist := w.Staff(t, "central-pharmacist")
	give := func(receivers ...cc.DID) (string, error) {
		body, _ := json.Marshal(handOut(t, patient, id, 5, receivers...))
		res, err := w.Gatekeepers[central].Ingest(context.Background(), body, w.SignedWrite(t, pharmacist, central, "", body), "MedicationDispense")
		if err != nil {
			return "", err
		}
		return res.IDs[0], nil
	}

	tests := []struct {
		name      string
		allow     *bool // the patient's rx.collection before the dispense
		receivers []cc.DID
		kind      cc.Kind // 0: dispensed
		text      string
		collector cc.DID
	}{
		{"no receiver", nil, nil, 0, "", ""},
		{"the patient", nil, []cc.DID{w.patient.DID}, 0, "", w.patient.DID},
		{"a delegate before the patient allows it", nil, []cc.DID{carer.DID}, cc.Unauthorized, "does not allow a delegate", ""},
		{"a delegate once allowed", ptr(true), []cc.DID{carer.DID}, 0, "", carer.DID},
		{"a delegate without the rx.collect scope", nil, []cc.DID{reader.DID}, cc.Unauthorized, "no active rx.collect delegation", ""},
		{"two receivers", nil, []cc.DID{carer.DID, w.patient.DID}, cc.Invalid, "name the one person", ""},
		{"a delegate after the patient withdrew", ptr(false), []cc.DID{carer.DID}, cc.Unauthorized, "does not allow a delegate", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.allow != nil {
				w.MustTx(t, w.patient, rx.TypeCollection, map[string]any{"prescription": id, "allow": *tt.allow})
			}
			before := w.dispenseRecords(t)
			rec, err := give(tt.receivers...)
			if tt.kind != 0 {
				if !cc.Is(tt.kind, err) || !strings.Contains(err.Error(), tt.text) {
					t.Fatalf("got %v, want %v (%s)", err, tt.kind, tt.text)
				}
				if got := w.dispenseRecords(t); got != before {
					t.Errorf("a refused dispense stored a record: %d, want %d", got, before)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want it dispensed", err)
			}
			ds, err := rx.Dispenses(w.Chain.State(), id)
			if err != nil || len(ds) == 0 {
				t.Fatalf("dispenses %+v, %v", ds, err)
			}
			if last := ds[len(ds)-1]; last.RecordID != rec || last.CollectedBy != tt.collector {
				t.Errorf("dispense %+v, want record %s collected by %q", last, rec, tt.collector)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

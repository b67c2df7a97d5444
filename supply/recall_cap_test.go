package supply

import (
	"fmt"
	"slices"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

// TestRecallCap: a lot larger than MaxRecallItems is recalled over
// several transactions; meanwhile its recalled lot master alone makes its
// unmarked items unusable.
func TestRecallCap(t *testing.T) {
	e := newMasterEnv(t)
	e.mustRun(t, mfg, TypeProductRegister, vaccine(nil))
	n := MaxRecallItems + 5
	var first, rest []string
	for j := range n {
		epc := sgtin(fmt.Sprintf("r%05d", j))
		if j < MaxEPCsPerEvent {
			first = append(first, epc)
		} else {
			rest = append(rest, epc)
		}
	}
	lotB := func(epcs ...string) obj {
		c := commission(epcs...)
		c["lot"] = "LOT-B"
		return c
	}
	e.mustCapture(t, mfg, "pharma-co", lotB(first...), lotB(append(rest, unreg("u1"))...))
	putAdministration(t, e.kv, Administration{RecordID: "Immunization/a1", Patient: patientA.did, Org: "clinic", Lot: "LOT-B", GTIN: vialGTIN, Doses: 1, Height: 20}, 0)
	recalledItems := func() int {
		k := 0
		if err := ItemsOfLot(e.kv, "LOT-B", func(epc string) bool {
			if e.item(t, epc).Status == StatusRecalled {
				k++
			}
			return true
		}); err != nil {
			t.Fatal(err)
		}
		return k
	}
	payload := obj{"org": "pharma-co", "lot": "LOT-B", "gtin": vialGTIN, "reason": "particles"}

	steps := []struct {
		name            string
		signer          *actor
		payload         obj
		gtins           []string
		items, patients int
		remaining       bool
		totalRecalled   int
	}{
		{"first batch", mfg, payload, []string{vialGTIN}, MaxRecallItems, 1, true, MaxRecallItems},
		{"continuation", mfg, payload, []string{vialGTIN}, 5, 0, false, n},
		{"the rest of the lot", regOfficer, obj{"org": "health-reg", "lot": "LOT-B", "reason": "whole lot"}, []string{"09506000134352"}, 1, 0, false, n + 1},
	}
	for k, s := range steps {
		rec := cctest.DecodeData[Recall](t, e.mustRun(t, s.signer, TypeRecall, s.payload))
		if !slices.Equal(rec.GTINs, s.gtins) || rec.Items != s.items || rec.Patients != s.patients || rec.Remaining != s.remaining {
			t.Errorf("%s: recall %+v, want gtins %v, %d items, %d patients, remaining %v", s.name, rec, s.gtins, s.items, s.patients, s.remaining)
		}
		if got := recalledItems(); got != s.totalRecalled {
			t.Errorf("%s: %d items recalled, want %d", s.name, got, s.totalRecalled)
		}
		if k == 0 {
			// The lot master is recalled; an item not marked yet cannot be used.
			last := e.item(t, rest[len(rest)-1])
			if last.Status != StatusActive {
				t.Fatalf("%s: the last item is %s, want still active", s.name, last.Status)
			}
			a := &administering{op: TypeAdminister, org: "pharma-co", at: e.time, kv: e.kv}
			if ok, why, err := a.usable(last); ok || err != nil || why != "lot LOT-B was recalled" {
				t.Errorf("usable(unmarked item of a recalled lot) = %v, %q, %v", ok, why, err)
			}
			wantRejected(t, e, mfg, TypeCapture, events(lotB(sgtin("new"))), cc.FailedPrecondition, "recalled")
		}
	}
	wantRejected(t, e, mfg, TypeRecall, payload, cc.Conflict, "already recalled")
	if recs, err := Recalls(e.kv); err != nil || len(recs) != 3 {
		t.Errorf("Recalls = %d, %v", len(recs), err)
	}
	if keys := cctest.Keys(e.kv, prefixUnrecal); len(keys) != 0 {
		t.Errorf("unrecalled index left %d keys: %v", len(keys), keys[:min(len(keys), 3)])
	}
}

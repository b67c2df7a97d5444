package chain

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	cc "carechain"
	"carechain/identity"
	"carechain/ledger/tx"
	"carechain/rx"
	"carechain/seed"
)

// TestPrescriptionRaceOnNode: on a real CometBFT node, two pharmacies
// submit the last repeat of one e-prescription at the same moment.
// Exactly one dispense commits; the other is refused with
// cc.FailedPrecondition and the ledger's reason, and the prescription's
// dispensed total is exactly what was prescribed.
func TestPrescriptionRaceOnNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	pop := seed.NewPopulation("rx-race", 1)
	n := MustNode(t, t.TempDir(), pop)
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := seed.Apply(ctx, n, pop, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	st, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	staff := func(name string) seed.Identity {
		for _, s := range pop.Staff {
			if s.Name == name {
				return s
			}
		}
		t.Fatalf("no staff %s", name)
		return seed.Identity{}
	}
	build := func(id seed.Identity, typ string, payload any) []byte {
		t.Helper()
		seq, err := n.Sequence(ctx, id.DID)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := tx.Build(st.ChainID, id.DID, id.Key, seq, typ, payload)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	commit := func(id seed.Identity, typ string, payload any) {
		t.Helper()
		if r := n.Submit(ctx, [][]byte{build(id, typ, payload)}, true)[0]; !r.Accepted || r.Height == 0 {
			t.Fatalf("%s: %+v", typ, r)
		}
	}
	anchor := func(id string, org string, author seed.Identity) map[string]any {
		h := sha256.Sum256([]byte(id))
		typ, _, _ := strings.Cut(id, "/")
		return map[string]any{"id": id, "type": typ, "patient": pop.Patients[0].DID, "org": org, "author": author.DID,
			"version": 1, "content_hash": base64.StdEncoding.EncodeToString(h[:])}
	}

	pt := pop.Patients[0]
	pharmacies := []string{"central-pharmacy", "harbour-pharmacy"}
	pharmacists := []seed.Identity{staff("central-pharmacist"), staff("harbour-pharmacist")}
	expires := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Second)
	for i, org := range pharmacies {
		commit(pharmacists[i], identity.TypePatientLink, map[string]any{"patient": pt.DID, "org": org,
			"expires": expires.Format(time.RFC3339), "approval": identity.SignLinkApproval(pt.Key, st.ChainID, pt.DID, org, expires)})
	}
	doc := staff("st-mary-physician")
	const rounds = 3
	for round := range rounds {
		id := fmt.Sprintf("MedicationRequest/race-%d", round)
		commit(doc, rx.TypeIssue, map[string]any{"org": "st-mary-hospital", "anchors": []any{anchor(id, "st-mary-hospital", doc)},
			"prescriptions": []any{map[string]any{"record_id": id, "quantity_milli": 30000, "unit": "TAB", "repeats": 1}}})
		dispense := func(i int, rec string) []byte {
			return build(pharmacists[i], rx.TypeDispense, map[string]any{"org": pharmacies[i], "pharmacist": pharmacists[i].DID,
				"anchors":   []any{anchor(rec, pharmacies[i], pharmacists[i])},
				"dispenses": []any{map[string]any{"record_id": rec, "prescription": id, "quantity_milli": 30000}}})
		}
		// The first fill, then both pharmacies race for the last repeat.
		if r := n.Submit(ctx, [][]byte{dispense(round%2, fmt.Sprintf("MedicationDispense/race-%d-first", round))}, true)[0]; !r.Accepted || r.Height == 0 {
			t.Fatalf("round %d: first fill: %+v", round, r)
		}
		raws := [][]byte{dispense(0, fmt.Sprintf("MedicationDispense/race-%d-a", round)), dispense(1, fmt.Sprintf("MedicationDispense/race-%d-b", round))}
		results := make([]cc.SubmitResult, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range raws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i] = n.Submit(ctx, [][]byte{raws[i]}, true)[0]
			}()
		}
		close(start)
		wg.Wait()

		won := 0
		for i, r := range results {
			if !r.Accepted {
				t.Logf("round %d: %s refused: %s", round, pharmacies[i], r.Log)
			}
			switch {
			case r.Accepted && r.Height > 0:
				won++
			case r.Kind != cc.FailedPrecondition.String() || !(strings.Contains(r.Log, "is completed") || strings.Contains(r.Log, "only")):
				t.Errorf("round %d: %s's refusal %+v, want failed_precondition (completed or only … remain)", round, pharmacies[i], r)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d dispenses of the last repeat committed, want exactly 1: %+v", round, won, results)
		}
		p, err := rx.GetPrescription(n.State(), id)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := rx.Dispenses(n.State(), id)
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, d := range ds {
			total += d.QuantityMilli
		}
		if p.Status != rx.StatusCompleted || p.DispensedMilli != p.TotalMilli() || total != p.TotalMilli() || len(ds) != 2 {
			t.Errorf("round %d: prescription %+v with %d dispenses totalling %d", round, p, len(ds), total)
		}
	}
}

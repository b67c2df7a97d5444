package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	cc "carechain"
	"carechain/client"
	"carechain/httpapi"
	"carechain/seed"
)

// TestRecordsAcrossNodes runs two validators as separate processes, each
// holding the records of different organizations, seeds the demo world
// (records of patient-002 are held by Riverside, on node1), and reads them
// through node0: node0 relays the signed read to node1's gatekeeper, which
// decides, logs on-chain and releases; a stranger gets the same 404 from
// either node; both nodes show the same committed access event.
func TestRecordsAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process network")
	}
	lap := stopwatch(t)
	nw := &network{dir: t.TempDir()}
	nw.base = freeBase(t, 2)
	mustCLI(t, "testnet", "--validators", "2", "--dir", nw.dir, "--base-port", strconv.Itoa(nw.base),
		"--timeout-commit", "100ms", "--demo", "--seed", "e2e-records", "--patients", "3")
	for i := range 2 {
		nw.add(filepath.Join(nw.dir, fmt.Sprintf("node%d", i)))
	}
	t.Cleanup(func() {
		if t.Failed() {
			nw.dumpLogs(t)
		}
	})
	for i := range 2 {
		nw.start(t, i)
	}
	t.Cleanup(func() { nw.stopAll(t) })
	nw.waitHeight(t, []int{0, 1}, 2)
	lap("network up")
	mustCLI(t, "testnet", "seed", "--dir", nw.dir)
	lap("demo world seeded")

	pop := seed.NewPopulation("e2e-records", 3)
	p2 := pop.Patients[1] // held by riverside-hospital: node1 (the linked organizations are spread first, in order)
	ctx := context.Background()
	var anchors []cc.RecordAnchor
	if err := nw.clients[0].Get(ctx, "/v1/patients/"+string(p2.DID)+"/records", &anchors); err != nil {
		t.Fatal(err)
	}
	var patientRef string
	for _, a := range anchors {
		if a.Org != "riverside-hospital" {
			t.Fatalf("record %s held by %s, want riverside-hospital", a.ID, a.Org)
		}
		if a.Type == "Patient" {
			patientRef = a.ID
		}
	}
	if patientRef == "" {
		t.Fatalf("no Patient among %d anchors", len(anchors))
	}
	me := client.NewSigner(p2.DID, p2.Key)
	opts := client.ReadOptions{Patient: p2.DID, Purpose: "PATRQT"}
	r, err := nw.clients[0].ReadFHIR(ctx, me, opts, "/fhir/"+patientRef+"/$everything")
	if err != nil {
		t.Fatalf("read through node0: %v", err)
	}
	if r.Header.Get("Carechain-Custodian") != "riverside-hospital" || r.AccessEvent == "" {
		t.Errorf("relayed answer: custodian %q, event %q", r.Header.Get("Carechain-Custodian"), r.AccessEvent)
	}
	direct, err := nw.clients[1].ReadFHIR(ctx, me, opts, "/fhir/"+patientRef)
	if err != nil {
		t.Fatalf("read at node1: %v", err)
	}
	if direct.Header.Get("Carechain-Custodian") != "" {
		t.Error("a direct read was relayed")
	}
	var stranger seed.Identity
	for _, s := range pop.Staff {
		if s.Name == "nri-researcher" {
			stranger = s
		}
	}
	for i := range 2 {
		_, err := nw.clients[i].ReadFHIR(ctx, client.NewSigner(stranger.DID, stranger.Key), client.ReadOptions{Patient: p2.DID, Purpose: "TREAT"}, "/fhir/"+patientRef)
		if !cc.Is(cc.NotFound, err) {
			t.Errorf("stranger via node%d: %v, want not found", i, err)
		}
	}
	lap("reads done")
	// Both nodes hold the same committed events (the chain replicates).
	nw.waitHeight(t, []int{0, 1}, nw.maxHeight(t, []int{0, 1})+1)
	for i := range 2 {
		var log []httpapi.LoggedAccess
		if err := nw.clients[i].Get(ctx, "/v1/patients/"+string(p2.DID)+"/access-log", &log); err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, e := range log {
			ids[e.ID] = true
		}
		if !ids[r.AccessEvent] || !ids[direct.AccessEvent] || len(log) != 2 {
			t.Errorf("node%d access log %d events, want the relayed and the direct read", i, len(log))
		}
		// Each event is provable against a validator-signed header, offline.
		var proof []byte
		if err := nw.clients[i].Get(ctx, "/v1/proofs?key="+url.QueryEscape(log[0].ProofKey), &proof); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "proof.json")
		if err := os.WriteFile(file, proof, 0o644); err != nil {
			t.Fatal(err)
		}
		mustCLI(t, "verify-proof", file, "--genesis", filepath.Join(nw.homes[i], "config", "genesis.json"))
	}
}

package gatekeeper

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/chain"
	"carechain/ledger"
	"carechain/ledger/store"
	"carechain/records"
	"carechain/seed"
	"carechain/vault"
)

func testdata(t *testing.T, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{"..", "..", "shared", "testdata"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared testdata not found beside the repository: %v", err)
	}
	return p
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// world is a seeded in-memory ledger with a gatekeeper for St Mary's.
type world struct {
	chain *chain.Local
	pop   *seed.Population
	gk    *Gatekeeper
	vault *vault.Vault
	doc   seed.Identity
}

// MustWorld seeds the demo organizations (with St Mary's node key and the
// patients linked to St Mary's) and opens a real vault and index in
// temporary directories.
func MustWorld(t *testing.T) *world {
	t.Helper()
	st, err := store.OpenInMemory()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pop := seed.NewPopulation("gatekeeper-test", 6)
	gen, _ := json.Marshal(pop.Genesis())
	l, err := chain.NewLocal(ledger.New(st, ledger.Domain(nil)), "gk-chain", gen)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := seed.Apply(ctx, l, pop, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), nil); err != nil {
		t.Fatal(err)
	}
	// The seed gives St Mary's a node-role member and links every demo
	// patient to it, so its gatekeeper may anchor their records.
	node := pop.Nodes["st-mary-hospital"]

	dir := t.TempDir()
	kek, err := vault.GenerateKEK(filepath.Join(dir, "kek.json"), "kek-1")
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(filepath.Join(dir, "vault"), kek)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	idx, err := OpenIndex(filepath.Join(dir, "index"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	var doc seed.Identity
	for _, s := range pop.Staff {
		if s.Name == "st-mary-physician" {
			doc = s
		}
	}
	gk := New(Config{Chain: l, Vault: v, Index: idx, Org: "st-mary-hospital", NodeDID: node.DID, NodeKey: node.Key})
	return &world{chain: l, pop: pop, gk: gk, vault: v, doc: doc}
}

func (w *world) submitter(patient cc.DID) Submitter {
	return Submitter{Author: w.doc.DID, AuthorOrg: "st-mary-hospital", Patient: patient}
}

func TestIngestSyntheaBundle(t *testing.T) {
	w := MustWorld(t)
	ctx := context.Background()
	dir := testdata(t, "synthea")
	hosp := mustRead(t, filepath.Join(dir, "hospitalInformation1633536936158.json"))
	prac := mustRead(t, filepath.Join(dir, "practitionerInformation1633536936158.json"))
	for _, b := range [][]byte{hosp, prac} {
		r, err := w.gk.IngestBundle(ctx, b, w.submitter(""))
		if err != nil {
			t.Fatal(err)
		}
		if r.Created == 0 {
			t.Fatalf("provider bundle created nothing: %+v", r)
		}
	}
	// Loading the provider directory twice creates nothing new.
	for _, b := range [][]byte{hosp, prac} {
		r, err := w.gk.IngestBundle(ctx, b, w.submitter(""))
		if err != nil {
			t.Fatal(err)
		}
		if r.Created != 0 || r.Existing == 0 {
			t.Errorf("second load: %+v", r)
		}
	}

	patient := w.pop.Patients[0].DID
	bob := mustRead(t, filepath.Join(dir, "patients", "Bob965_Keeling57_3f6fd0bb-6cd3-eb3f-4401-cd38ace25f2b.json"))
	r, err := w.gk.IngestBundle(ctx, bob, w.submitter(patient))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"Claim": 32, "DiagnosticReport": 32, "DocumentReference": 32, "Encounter": 32, "ExplanationOfBenefit": 32, "Immunization": 46, "Observation": 30, "Patient": 1, "Provenance": 1}
	for typ, n := range want {
		if r.ByType[typ] != n {
			t.Errorf("%s: stored %d, want %d", typ, r.ByType[typ], n)
		}
	}
	if r.Created != 238 {
		t.Errorf("created %d, want 238", r.Created)
	}
	// Every anchor belongs to the patient, and its blob decrypts and
	// verifies against the anchored (salted) hash.
	n := 0
	err = records.PatientRecords(w.chain.State(), patient, func(a cc.RecordAnchor) bool {
		n++
		if a.Org != "st-mary-hospital" || a.Author != w.doc.DID || a.Version != 1 {
			t.Errorf("anchor %+v", a)
			return false
		}
		b, err := w.vault.Get(a.ID, a.Version, a.ContentHash)
		if err != nil || !bytes.Contains(b, []byte(`"resourceType"`)) {
			t.Errorf("%s: %v", a.ID, err)
			return false
		}
		return n < 40
	})
	if err != nil || n == 0 {
		t.Fatalf("patient records: %d %v", n, err)
	}
}

func TestIngestTransactionAllOrNothing(t *testing.T) {
	w := MustWorld(t)
	ctx := context.Background()
	// A transaction whose Observation refers to a patient nobody holds
	// cannot be anchored: nothing is stored.
	bad := []byte(`{"resourceType":"Bundle","type":"transaction","entry":[
	 {"fullUrl":"urn:uuid:11111111-1111-1111-1111-111111111111","resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/nobody"}},"request":{"method":"POST","url":"Observation"}}]}`)
	if _, err := w.gk.IngestBundle(ctx, bad, w.submitter(w.pop.Patients[1].DID)); !cc.Is(cc.Invalid, err) {
		t.Fatalf("err = %v, want invalid", err)
	}
	// An invalid resource is rejected by validation with its location.
	invalid := []byte(`{"resourceType":"Bundle","type":"transaction","entry":[
	 {"fullUrl":"urn:uuid:22222222-2222-2222-2222-222222222222","resource":{"resourceType":"Observation","status":"not-a-status","code":{"text":"x"}},"request":{"method":"POST","url":"Observation"}}]}`)
	_, err := w.gk.IngestBundle(ctx, invalid, w.submitter(w.pop.Patients[1].DID))
	if err == nil || !strings.Contains(err.Error(), "status") {
		t.Fatalf("invalid resource: %v", err)
	}
	count := 0
	w.vault.Records(func(string, int) bool { count++; return true })
	if count != 0 {
		t.Errorf("%d blobs left behind", count)
	}
}

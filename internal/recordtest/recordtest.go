// Package recordtest builds a seeded in-memory ledger with real vaults,
// indexes and gatekeepers for the demo's record-holding organizations, for
// tests and benchmarks of the records path (gatekeeper, HTTP, CLI).
package recordtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/chain"
	"carechain/gatekeeper"
	"carechain/ledger"
	"carechain/ledger/store"
	"carechain/ledger/tx"
	"carechain/seed"
	"carechain/vault"
)

// ChainID is the world's chain id.
const ChainID = "recordtest-chain"

// World is a seeded ledger (chain.Local) with one gatekeeper per
// organization that has a seeded node-role member, sharing a real vault and
// index in a temporary directory.
type World struct {
	Chain       *chain.Local
	Pop         *seed.Population
	Vault       *vault.Vault
	Index       *gatekeeper.Index
	Gatekeepers map[string]*gatekeeper.Gatekeeper // by organization id
}

// MustWorld seeds the demo population (seed name, n patients) on a chain
// whose blocks carry the wall-clock time, and opens the vault and index under t.TempDir().
func MustWorld(t testing.TB, name string, patients int) *World {
	t.Helper()
	st, err := store.OpenInMemory()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pop := seed.NewPopulation(name, patients)
	gen, err := json.Marshal(pop.Genesis())
	if err != nil {
		t.Fatal(err)
	}
	l, err := chain.NewLocal(ledger.New(st, ledger.Domain(nil)), ChainID, gen)
	if err != nil {
		t.Fatal(err)
	}
	// Blocks carry the wall-clock time, as a real node's do, so requests
	// signed now are fresh.
	l.Clock = func() time.Time { return time.Now().UTC() }
	if err := seed.Apply(context.Background(), l, pop, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
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
	idx, err := gatekeeper.OpenIndex(filepath.Join(dir, "index"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	w := &World{Chain: l, Pop: pop, Vault: v, Index: idx, Gatekeepers: map[string]*gatekeeper.Gatekeeper{}}
	for org, n := range pop.Nodes {
		w.Gatekeepers[org] = gatekeeper.New(gatekeeper.Config{Chain: l, Vault: v, Index: idx, Org: org, NodeDID: n.DID, NodeKey: n.Key})
	}
	if len(w.Gatekeepers) == 0 {
		t.Fatal("the seeded population has no node keys")
	}
	return w
}

// All returns every gatekeeper.
func (w *World) All() []*gatekeeper.Gatekeeper {
	var out []*gatekeeper.Gatekeeper
	for _, org := range slices.Sorted(func(yield func(string) bool) {
		for k := range w.Gatekeepers {
			if !yield(k) {
				return
			}
		}
	}) {
		out = append(out, w.Gatekeepers[org])
	}
	return out
}

// Staff returns the seeded practitioner called name.
func (w *World) Staff(t testing.TB, name string) seed.Identity {
	t.Helper()
	for _, s := range w.Pop.Staff {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no staff %s", name)
	return seed.Identity{}
}

// MustTx commits one transaction signed by id or fails the test, and
// returns its result data.
func (w *World) MustTx(t testing.TB, id seed.Identity, typ string, payload any) []byte {
	t.Helper()
	ctx := context.Background()
	seq, err := w.Chain.Sequence(ctx, id.DID)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tx.Build(ChainID, id.DID, id.Key, seq, typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	r := w.Chain.Submit(ctx, [][]byte{raw}, true)[0]
	if !r.Accepted {
		t.Fatalf("%s: %s", typ, r.Log)
	}
	return r.Data
}

var nonces atomic.Int64

// Nonce returns a fresh nonce for a signed request.
func Nonce() string { return fmt.Sprintf("nonce-%016d", nonces.Add(1)) }

// SignedWrite returns author's signed write request for body to org's
// gatekeeper, for the patient.
func (w *World) SignedWrite(t testing.TB, author seed.Identity, org string, patient cc.DID, body []byte) access.SignedRead {
	t.Helper()
	sw, err := access.SignWrite(access.WriteRequest{ChainID: ChainID, Author: author.DID, Org: org, Patient: patient,
		Body: access.BodyHash(body), Issued: time.Now().UTC(), Nonce: Nonce()}, author.Key)
	if err != nil {
		t.Fatal(err)
	}
	return sw
}

// Testdata returns the path of a file under the shared testdata, skipping
// the test when the shared folder is not beside the repository.
func Testdata(t testing.TB, elem ...string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "testdata")
	p := filepath.Join(append([]string{root}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared testdata not found: %v", err)
	}
	return p
}

// Read returns a file's bytes or fails the test.
func Read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Synthea's provider directory and its smallest patient bundle (238
// resources).
const (
	SyntheaHospitals     = "hospitalInformation1633536936158.json"
	SyntheaPractitioners = "practitionerInformation1633536936158.json"
	SyntheaBob           = "Bob965_Keeling57_3f6fd0bb-6cd3-eb3f-4401-cd38ace25f2b.json"
)

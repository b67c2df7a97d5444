package seed_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/chain"
	"carechain/identity"
	"carechain/ledger"
	"carechain/ledger/store"
	"carechain/ledger/tx"
	"carechain/records"
	"carechain/seed"
)

// mustSeeded returns an in-memory chain with pop applied, and the final
// progress report.
func mustSeeded(t *testing.T, pop *seed.Population) (*chain.Local, [2]int) {
	t.Helper()
	st, err := store.OpenInMemory()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	gen, _ := json.Marshal(pop.Genesis())
	l, err := chain.NewLocal(ledger.New(st, ledger.Domain(nil)), "seed-chain", gen)
	if err != nil {
		t.Fatal(err)
	}
	var last [2]int
	if err := seed.Apply(context.Background(), l, pop, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), func(_ string, done, total int) {
		last = [2]int{done, total}
	}); err != nil {
		t.Fatal(err)
	}
	return l, last
}

func TestApplyNodesAndLinks(t *testing.T) {
	const seedStr = "seed-test"
	pop := seed.NewPopulation(seedStr, 4)
	l, progress := mustSeeded(t, pop)
	if progress[0] != progress[1] {
		t.Errorf("progress ended at %d of %d", progress[0], progress[1])
	}
	kv := l.State()

	tests := []struct {
		org  string
		node bool
	}{
		{"ministry-of-health", true},
		{"st-mary-hospital", true},
		{"riverside-hospital", true},
		{"northside-clinic", true},
		{"central-pharmacy", true},
		{"harbour-pharmacy", true},
		{"acme-vaccines", true},
		{"coldline-distribution", true},
		{"north-regional-store", true},
		{"south-regional-store", true},
		{"national-research-institute", false},
		{"medicines-regulator", true},
	}
	if len(tests) != len(seed.Orgs) {
		t.Fatalf("the table lists %d organizations, seed.Orgs %d", len(tests), len(seed.Orgs))
	}
	for _, tt := range tests {
		n, ok := pop.Nodes[tt.org]
		if ok != tt.node {
			t.Errorf("%s has a node key: %v, want %v", tt.org, ok, tt.node)
			continue
		}
		if !ok {
			continue
		}
		wantDID := tx.DeriveDID(seed.DeriveKey(seedStr, tt.org+"-node").Public().(ed25519.PublicKey))
		if n.Name != seed.NodeKey(tt.org) || n.Name != tt.org+"-node" || n.DID != wantDID || n.Kind != cc.KindNode {
			t.Errorf("node of %s = %s %s %s, want %s-node %s node", tt.org, n.Name, n.DID, n.Kind, tt.org, wantDID)
		}
		if ok, err := identity.HasRole(kv, tt.org, n.DID, cc.RoleNode); !ok || err != nil {
			t.Errorf("%s is not a node member of %s (%v)", n.Name, tt.org, err)
		}
		if !slices.ContainsFunc(pop.All(), func(id seed.Identity) bool { return id.DID == n.DID }) {
			t.Errorf("All() lacks %s", n.Name)
		}
	}

	wantOrgs := slices.Sorted(slices.Values(seed.LinkedOrgs))
	for _, pt := range pop.Patients {
		links, err := identity.LinksOf(kv, pt.DID)
		if err != nil {
			t.Fatal(err)
		}
		var orgs []string
		for _, lk := range links {
			orgs = append(orgs, lk.Org)
			if lk.Custodial {
				t.Errorf("%s's link to %s is custodial", pt.Name, lk.Org)
			}
		}
		if !slices.Equal(orgs, wantOrgs) {
			t.Errorf("%s is linked to %v, want %v", pt.Name, orgs, wantOrgs)
		}
	}
}

// TestNodesAnchorLinkedPatients checks what the demo relies on: a linked
// organization's node key anchors a patient's records, an unlinked one's
// cannot.
func TestNodesAnchorLinkedPatients(t *testing.T) {
	pop := seed.NewPopulation("seed-anchor", 2)
	l, _ := mustSeeded(t, pop)
	ctx := context.Background()
	pt := pop.Patients[0]
	tests := []struct {
		org     string
		wantLog string // "" when accepted
	}{
		{"st-mary-hospital", ""},
		{"riverside-hospital", ""},
		{"northside-clinic", ""},
		{"central-pharmacy", "is not linked to org central-pharmacy"},
	}
	for i, tt := range tests {
		node := pop.Nodes[tt.org]
		h := sha256.Sum256([]byte(tt.org))
		item := map[string]any{
			"id": "Observation/seed-" + tt.org, "type": "Observation", "patient": pt.DID, "org": tt.org,
			"author": node.DID, "version": 1, "content_hash": base64.StdEncoding.EncodeToString(h[:]),
		}
		seq, err := l.Sequence(ctx, node.DID)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := tx.Build("seed-chain", node.DID, node.Key, seq, records.TypeAnchor, map[string]any{"anchors": []any{item}})
		if err != nil {
			t.Fatal(err)
		}
		r := l.Submit(ctx, [][]byte{raw}, true)[0]
		if tt.wantLog == "" && !r.Accepted {
			t.Errorf("%d: %s's node: anchor rejected: %s", i, tt.org, r.Log)
		}
		if tt.wantLog != "" && (r.Accepted || !strings.Contains(r.Log, tt.wantLog)) {
			t.Errorf("%d: %s's node: accepted %v, log %q; want a rejection containing %q", i, tt.org, r.Accepted, r.Log, tt.wantLog)
		}
	}
}

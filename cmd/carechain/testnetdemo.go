package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/client"
	"carechain/keystore"
	"carechain/node"
	"carechain/seed"
)

// testnetDemo is what `carechain testnet --demo` records in DIR so that
// `carechain testnet seed` can put the demo world on the running network.
type testnetDemo struct {
	Seed     string            `json:"seed"`
	Patients int               `json:"patients"`
	APIs     []string          `json:"apis"`    // node i's API base URL
	Holders  map[string]string `json:"holders"` // organization → API base URL of the node holding its records
}

func testnetDemoPath(dir string) string { return filepath.Join(dir, "demo.json") }

// setUpTestnetDemo gives a testnet the demo population: every key in
// DIR/keys (passphrase "demo"), the records of the organizations that
// hold records spread over the nodes (custodian keys, round robin in org
// order) and each node's peers (where every other organization's records
// are).
func setUpTestnetDemo(dir string, homes []string, apis []string, pop *seed.Population) error {
	ks, err := keystore.Open(filepath.Join(dir, "keys"))
	if err != nil {
		return err
	}
	ks.SetScryptN(keystore.DemoScryptN)
	for _, id := range pop.All() {
		if _, err := ks.Import(id.Name, DemoPassphrase, id.Key, id.DID); err != nil && !cc.Is(cc.Conflict, err) {
			return err
		}
	}
	// The organizations that hold the demo patients' records go first, in
	// seed.LinkedOrgs order, so that they land on different nodes (node0
	// St Mary's, node1 Riverside, …) whatever other organizations exist;
	// then the others in id order.
	orgs := make([]string, 0, len(pop.Nodes))
	for _, org := range seed.LinkedOrgs {
		if _, ok := pop.Nodes[org]; ok {
			orgs = append(orgs, org)
		}
	}
	var rest []string
	for org := range pop.Nodes {
		if !slices.Contains(seed.LinkedOrgs, org) {
			rest = append(rest, org)
		}
	}
	sort.Strings(rest)
	orgs = append(orgs, rest...)
	holders := map[string]string{}
	for j, org := range orgs {
		i := j % len(homes)
		if _, err := writeNodeKey(homes[i], org, pop.Nodes[org].Key); err != nil && !cc.Is(cc.Conflict, err) {
			return err
		}
		if err := ensureKEK(homes[i]); err != nil {
			return err
		}
		holders[org] = apis[i]
	}
	for i, h := range homes {
		s := loadSettings(h)
		s.Peers = map[string]string{}
		for org, api := range holders {
			if api != apis[i] {
				s.Peers[org] = api
			}
		}
		if err := saveSettings(h, s); err != nil {
			return err
		}
	}
	b, _ := json.MarshalIndent(testnetDemo{Seed: pop.Seed, Patients: len(pop.Patients), APIs: apis, Holders: holders}, "", "  ")
	return os.WriteFile(testnetDemoPath(dir), append(b, '\n'), 0o644)
}

// httpLedger submits over a node's HTTP API: what seed.Apply needs.
type httpLedger struct{ c *client.Client }

func (h httpLedger) Status(ctx context.Context) (cc.Status, error) {
	st, err := h.c.Status(ctx)
	if err != nil {
		return cc.Status{}, err
	}
	return *st, nil
}

func (h httpLedger) Sequence(ctx context.Context, d cc.DID) (uint64, error) {
	return h.c.NextSequence(ctx, d)
}

func (h httpLedger) Submit(ctx context.Context, txs [][]byte, wait bool) []cc.SubmitResult {
	res, err := h.c.Submit(ctx, txs, wait)
	if err == nil && len(res.Results) == len(txs) {
		return res.Results
	}
	out := make([]cc.SubmitResult, len(txs))
	for i := range out {
		out[i] = cc.SubmitResult{Code: cc.Unavailable.Code(), Log: fmt.Sprintf("submit: %v", err)}
	}
	return out
}

func newTestnetSeedCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "seed --dir DIR",
		Short: "Put the demo world on a running `testnet --demo` network (organizations, people, records)",
		Long: `seed submits the demo population's transactions through node0's API (organizations
admitted by governance, practitioners, node keys, patients linked to the hospitals and the
clinic), then ingests every patient's synthetic FHIR records at the node that holds the
records of the patient's custodian organization, and makes a few consented reads. The
nodes of DIR must be running (carechain testnet start --dir DIR).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(testnetDemoPath(dir))
			if err != nil {
				return cc.Errorf("testnet seed", cc.NotFound, "%s: create the testnet with --demo first", testnetDemoPath(dir))
			}
			var d testnetDemo
			if err := json.Unmarshal(b, &d); err != nil || len(d.APIs) == 0 {
				return cc.Errorf("testnet seed", cc.Malformed, "%s is not a testnet demo description", testnetDemoPath(dir))
			}
			pop := seed.NewPopulation(d.Seed, d.Patients)
			ctx := context.Background()
			c := client.New(d.APIs[0])
			now := time.Now()
			bar := newBar(-1, "seeding demo world")
			err = seed.Apply(ctx, httpLedger{c}, pop, now, func(step string, done, total int) {
				bar.ChangeMax(total)
				bar.Describe("seeding: " + step)
				bar.Set(done)
			})
			bar.Finish()
			if err != nil {
				return err
			}
			bar = newBar(int64(len(pop.Patients)), "demo patient records")
			err = seedRecords(ctx, func(org string) string { return d.Holders[org] }, c, pop, now, func(_ string, done, _ int) { bar.Set(done) })
			bar.Finish()
			if err != nil {
				return err
			}
			fmt.Printf("seeded %d organizations, %d patients with records, on %d nodes\n", len(seed.Orgs), len(pop.Patients), len(d.APIs))
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "testnet directory")
	return c
}

// testnetAPIs returns the API base URLs of a new testnet's homes.
func testnetAPIs(homes []string, basePort int) []string {
	out := make([]string, len(homes))
	for i := range homes {
		out[i] = fmt.Sprintf("http://127.0.0.1:%d", basePort+i*node.PortStride+2)
	}
	return slices.Clip(out)
}

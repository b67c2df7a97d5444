package chain

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"carechain/node"
	"carechain/seed"
)

func mustFreeBase(t *testing.T, n int) int {
	t.Helper()
	base, err := node.FreeBase(n)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// TestGossipedTransactionsBatchVerified runs two validators of the real
// ledger in this process (loopback P2P), submits signed transactions to one
// and checks that both commit them in the same blocks, and that the other
// checked them as gossip, in batches whose signatures it verified together
// (node's mempool connection) — beside block execution, which the race
// detector watches when the test runs with -race.
func TestGossipedTransactionsBatchVerified(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two CometBFT nodes")
	}
	pop := seed.NewPopulation("chain-test", 30)
	gen, _ := json.Marshal(pop.Genesis())
	homes, err := node.Testnet(node.TestnetOptions{Dir: t.TempDir(), ChainID: "chain-test", Validators: 2,
		BasePort: mustFreeBase(t, 2), AppState: gen, TimeoutCommit: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nodes := make([]*Node, len(homes))
	errs := make([]error, len(homes))
	var wg sync.WaitGroup
	for i, h := range homes {
		wg.Go(func() { nodes[i], errs[i] = Open(ctx, h, slog.New(slog.DiscardHandler)) })
	}
	wg.Wait()
	for i, n := range nodes {
		if errs[i] != nil {
			t.Fatalf("node%d: %v", i, errs[i])
		}
		t.Cleanup(func() { _ = n.Close() })
	}
	if err := nodes[0].Node.WaitForHeight(ctx, 1); err != nil {
		t.Fatal(err)
	}

	var txs [][]byte
	for _, p := range pop.Patients {
		txs = append(txs, registerTx(t, p))
	}
	last := int64(0)
	for i, r := range nodes[0].Submit(ctx, txs, true) {
		if !r.Accepted || r.Height == 0 {
			t.Fatalf("tx %d: %+v", i, r)
		}
		last = max(last, r.Height)
	}
	if err := nodes[1].Node.WaitForHeight(ctx, last); err != nil {
		t.Fatal(err)
	}
	for h := int64(1); h <= last; h++ {
		b0, err0 := nodes[0].Node.Block(h)
		b1, err1 := nodes[1].Node.Block(h)
		if err0 != nil || err1 != nil {
			t.Fatalf("block %d: %v, %v", h, err0, err1)
		}
		if string(b0.Hash()) != string(b1.Hash()) || string(b0.AppHash) != string(b1.AppHash) {
			t.Fatalf("block %d differs between the validators", h)
		}
	}
	m := nodes[1].Metrics()
	if m.CheckBatchedTxs == 0 || m.CheckBatches == 0 {
		t.Errorf("node1 checked %d gossiped transactions in %d batches, want some", m.CheckBatchedTxs, m.CheckBatches)
	}
	t.Logf("node1 checked %d gossiped transactions in %d batches; %d txs committed by height %d",
		m.CheckBatchedTxs, m.CheckBatches, len(txs), last)
}

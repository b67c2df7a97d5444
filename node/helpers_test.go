package node

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
)

// testTimeoutCommit keeps test blocks quick.
const testTimeoutCommit = 100 * time.Millisecond

// freeBase finds a base port such that the P2P and RPC ports of n nodes
// (base+i*PortStride, +1) are free on 127.0.0.1 right now.
func freeBase(t *testing.T, n int) int {
	t.Helper()
	base, err := FreeBase(n)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// waitFor polls cond until it holds or timeout passes (then fails the test).
// Tests never assert on timing: the timeout only stops a hung test.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// txHeights returns, for each wanted tx found in blocks 1..latest of n, the
// height of the block that holds it.
func txHeights(t *testing.T, n *Node, want [][]byte) map[string]int64 {
	t.Helper()
	found := map[string]int64{}
	for h := int64(1); h <= n.Height(); h++ {
		b, err := n.Block(h)
		if err != nil {
			t.Fatalf("block %d: %v", h, err)
		}
		for _, tx := range b.Txs {
			for _, w := range want {
				if bytes.Equal(tx, w) {
					found[string(w)] = h
				}
			}
		}
	}
	return found
}

// waitTxs waits until every tx in want is in a committed block of n.
func waitTxs(t *testing.T, n *Node, want [][]byte) map[string]int64 {
	t.Helper()
	var found map[string]int64
	waitFor(t, 20*time.Second, fmt.Sprintf("%d txs to commit", len(want)), func() bool {
		found = txHeights(t, n, want)
		return len(found) == len(want)
	})
	return found
}

func startKV(t *testing.T, home string) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Start(ctx, home, kvstore.NewInMemoryApplication(), nil)
	if err != nil {
		t.Fatalf("Start(%s): %v", home, err)
	}
	t.Cleanup(func() { _ = n.Stop() })
	return n
}

func initHome(t *testing.T, chainID string) string {
	t.Helper()
	home := t.TempDir()
	base := freeBase(t, 1)
	err := Init(InitOptions{
		Home: home, Moniker: "v0", ChainID: chainID,
		P2PAddr: fmt.Sprintf("127.0.0.1:%d", base), RPCAddr: fmt.Sprintf("127.0.0.1:%d", base+1),
		TimeoutCommit: testTimeoutCommit,
	})
	if err != nil {
		t.Fatal(err)
	}
	return home
}

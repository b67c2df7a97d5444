package node

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"carechain"
)

// TestTestnet starts a 4-validator network in this process (separate Node
// values, loopback P2P) and checks that a tx submitted to one validator is
// committed in the same block by all of them.
func TestTestnet(t *testing.T) {
	const validators = 4
	dir := t.TempDir()
	base := freeBase(t, validators)
	homes, err := Testnet(TestnetOptions{
		Dir: dir, ChainID: "testnet", Validators: validators, BasePort: base,
		TimeoutCommit: testTimeoutCommit,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(homes) != validators {
		t.Fatalf("homes %v", homes)
	}
	if _, err := Testnet(TestnetOptions{Dir: dir, Validators: 1, BasePort: base}); !carechain.Is(carechain.Conflict, err) {
		t.Fatalf("second Testnet over the same dir: %v", err)
	}
	for i, h := range homes {
		c, err := LoadConfig(h)
		if err != nil {
			t.Fatal(err)
		}
		peers := strings.Split(c.P2P.PersistentPeers, ",")
		wantP2P := fmt.Sprintf("tcp://127.0.0.1:%d", base+i*PortStride)
		if len(peers) != validators-1 || strings.Contains(c.P2P.PersistentPeers, fmt.Sprintf(":%d", base+i*PortStride)) ||
			c.P2P.ListenAddress != wantP2P || c.P2P.AddrBookStrict || !c.P2P.AllowDuplicateIP ||
			c.Consensus.TimeoutCommit != testTimeoutCommit {
			t.Fatalf("node%d config: peers %q p2p %s", i, c.P2P.PersistentPeers, c.P2P.ListenAddress)
		}
		g, err := ReadGenesis(h)
		if err != nil || g.ChainID != "testnet" || len(g.Validators) != validators {
			t.Fatalf("node%d genesis: %v %+v", i, err, g)
		}
	}

	start := time.Now()
	nodes := make([]*Node, validators)
	var wg sync.WaitGroup
	for i, h := range homes {
		wg.Add(1)
		go func() { // start concurrently: each waits for its peers
			defer wg.Done()
			nodes[i] = startKV(t, h)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	waitFor(t, 30*time.Second, "the network to make blocks", func() bool {
		for _, n := range nodes {
			if n.Height() < 1 || n.Status().CatchingUp {
				return false
			}
		}
		return true
	})

	tx := []byte("shared=state")
	if code, log, err := nodes[1].CheckTx(tx); err != nil || code != 0 {
		t.Fatalf("CheckTx: %d %q %v", code, log, err)
	}
	var heights []int64
	for _, n := range nodes {
		heights = append(heights, waitTxs(t, n, [][]byte{tx})[string(tx)])
	}
	for i, n := range nodes {
		if heights[i] != heights[0] {
			t.Fatalf("tx at heights %v", heights)
		}
		b, err := n.Block(heights[0])
		if err != nil {
			t.Fatal(err)
		}
		b0, _ := nodes[0].Block(heights[0])
		if !bytes.Equal(b.Hash(), b0.Hash()) {
			t.Fatalf("node%d disagrees on block %d", i, heights[0])
		}
		if st := n.Status(); len(st.Validators) != validators {
			t.Fatalf("node%d status %+v", i, st)
		}
		// Three of four validators can commit: the last peer connection
		// may still be dialling.
		waitFor(t, 20*time.Second, fmt.Sprintf("node%d to have %d peers", i, validators-1), func() bool {
			return n.Status().Peers == validators-1
		})
	}
	// The block is signed by more than 2/3 of the four validators.
	sh, err := nodes[2].SignedHeader(heights[0])
	if err != nil {
		t.Fatal(err)
	}
	vals, _ := nodes[2].ValidatorSet(heights[0])
	if err := vals.VerifyCommitLight("testnet", sh.Commit.BlockID, heights[0], sh.Commit); err != nil {
		t.Fatal(err)
	}
	t.Logf("4 validators: tx committed at height %d, %v after start", heights[0], time.Since(start).Round(time.Millisecond))
	for _, n := range nodes {
		if err := n.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	cc "carechain"
	"carechain/chain"
)

// TestTestnetKillRestart runs four validators as separate processes on
// loopback, commits transactions through every one of them, SIGKILLs one
// and checks the other three keep committing, restarts it and checks it
// catches up to the same blocks and AppHashes, checks a proof from it
// offline, and finally re-verifies every stopped home from genesis.
func TestTestnetKillRestart(t *testing.T) {
	needBinary(t)
	logf := stopwatch(t)
	const n = 4
	all, survivors, victim := []int{0, 1, 2, 3}, []int{0, 1, 2}, 3

	nw := newTestnet(t, n)
	for i := range n {
		nw.start(t, i)
	}
	nw.waitHeight(t, all, 1)
	logf("4 validators up, base port %d", nw.base)

	// 1. Transactions through every validator are committed, and every
	// validator has them at the same height.
	before := nw.registerOn(t, "before", all, 2)
	nw.waitTxEverywhere(t, all, before)
	// They reached the other validators by gossip, which each mempool
	// checks in batches, verifying their signatures together.
	var gossiped float64
	for _, i := range all {
		gossiped += nw.metric(t, i, "carechain_mempool_check_batched_txs_total")
	}
	if gossiped == 0 {
		t.Error("no validator checked a gossiped transaction in a batch")
	}
	logf("%.0f gossiped transactions checked in batches", gossiped)

	// 2. SIGKILL one validator: the other three (30 of 40 voting power,
	// over two thirds) keep committing, blocks and transactions.
	nw.procs[victim].kill(t)
	killedAt := nw.maxHeight(t, survivors)
	logf("node%d killed at height %d", victim, killedAt)
	// Keep going for at least five heights, so that the proposer rotation
	// comes round to the dead validator and the others must skip its turn.
	var during []committed
	for round := 0; round < 20 && (round < 2 || nw.maxHeight(t, survivors) < killedAt+5); round++ {
		during = append(during, nw.registerOn(t, fmt.Sprintf("during%d", round), survivors, 1)...)
	}
	nw.waitTxEverywhere(t, survivors, during)
	nw.waitHeight(t, survivors, killedAt+5)
	logf("nodes 0-2 committed %d transactions without node%d, up to height %d", len(during), victim, nw.maxHeight(t, survivors))
	for _, c := range during {
		if c.height <= killedAt {
			t.Errorf("tx %s committed at height %d, not after the kill at %d", c.hash, c.height, killedAt)
		}
	}

	// 3. Restart it: it catches up to the others and agrees with them on
	// every block, hence every AppHash, and on the transactions it missed.
	nw.start(t, victim)
	target := nw.maxHeight(t, survivors)
	nw.waitHeight(t, []int{victim}, target)
	common := nw.minHeight(t, all)
	logf("node%d restarted and caught up to height %d (common height %d)", victim, target, common)
	for h := int64(1); h <= common; h++ {
		var want cc.BlockInfo
		for _, i := range all {
			var got cc.BlockInfo
			nw.getJSON(t, i, fmt.Sprintf("/v1/blocks/%d", h), &got)
			if i == all[0] {
				want = got
				continue
			}
			if got.Hash != want.Hash || got.AppHash != want.AppHash || got.NumTxs != want.NumTxs {
				t.Fatalf("block %d: node%d has hash %s app_hash %s txs %d; node0 has hash %s app_hash %s txs %d",
					h, i, got.Hash, got.AppHash, got.NumTxs, want.Hash, want.AppHash, want.NumTxs)
			}
		}
	}
	// And on the state after the latest block: once the four report the
	// same latest height, they report the same latest AppHash.
	waitFor(t, commitTimeout, "the four nodes to report one latest height", func() (bool, string) {
		sts := make([]*cc.Status, 0, n)
		var desc []string
		for _, i := range all {
			st, err := nw.status(i)
			if err != nil {
				return false, err.Error()
			}
			sts = append(sts, st)
			desc = append(desc, fmt.Sprintf("node%d: %d %.8s", i, st.LatestHeight, st.LatestAppHash))
		}
		for _, st := range sts[1:] {
			if st.LatestHeight != sts[0].LatestHeight {
				return false, fmt.Sprint(desc)
			}
		}
		for i, st := range sts[1:] {
			if st.LatestAppHash != sts[0].LatestAppHash {
				t.Fatalf("at height %d node%d has AppHash %s, node0 %s", st.LatestHeight, i+1, st.LatestAppHash, sts[0].LatestAppHash)
			}
		}
		return true, ""
	})
	nw.waitTxEverywhere(t, []int{victim}, append(before, during...))
	// The restarted validator takes transactions again, and so does the
	// network through it.
	after := nw.registerOn(t, "after", []int{victim}, 1)
	nw.waitTxEverywhere(t, all, after)

	logf("node%d agrees on blocks 1..%d and committed a transaction", victim, common)

	// 4. A proof, served by the restarted node, of a transaction committed
	// while it was down, checks offline against the genesis validators.
	proved := during[0]
	var bundle []byte
	nw.getJSON(t, victim, "/v1/proofs?tx="+proved.hash, &bundle)
	proofFile := filepath.Join(nw.dir, "proof.json")
	if err := os.WriteFile(proofFile, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustCLI(t, "verify-proof", proofFile, "--genesis", filepath.Join(nw.homes[0], "config", "genesis.json"), "--output", "json")
	var v chain.Verified
	if err := json.Unmarshal([]byte(r.Stdout), &v); err != nil {
		t.Fatalf("verify-proof output: %v\n%v", err, r)
	}
	if got, want := v.Key, "tx/"+proved.hash; got != want {
		t.Errorf("proof key = %q, want %q", got, want)
	}
	if got, want := v.Height, proved.height; got != want {
		t.Errorf("proof height = %d, want %d", got, want)
	}
	if v.TotalPower != 40 || 3*v.SignedPower <= 2*v.TotalPower {
		t.Errorf("proof signed by %d of %d voting power, want more than two thirds of 40", v.SignedPower, v.TotalPower)
	}

	logf("proof of tx %s (height %d) from node%d verified offline", proved.hash, proved.height, victim)

	// 5. Stop everything; every home, including the one that was killed,
	// re-verifies from genesis.
	nw.stopAll(t)
	for _, i := range all {
		t.Run(fmt.Sprintf("verify node%d", i), func(t *testing.T) {
			rep := mustVerifyOK(t, nw.homes[i])
			if rep.BlockHeight < common || rep.StateHeight < common {
				t.Errorf("verify node%d: %d blocks, state at %d; want at least the common height %d",
					i, rep.BlockHeight, rep.StateHeight, common)
			}
		})
	}
	logf("all homes verified")
}

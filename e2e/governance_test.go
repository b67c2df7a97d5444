package e2e

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/p2p"

	cc "carechain"
	"carechain/chain"
	"carechain/client"
	"carechain/keystore"
	"carechain/ledger/tx"
	"carechain/node"
)

// TestValidatorUpdateByGovernance grows a one-validator network to two by
// a governance transaction and shrinks it back. A second node joins as a
// full node (its own `carechain init` home with the network's genesis and
// node0 as persistent peer); the governance key proposes validator.update
// with its validator key (threshold 1: the proposal executes at once), the
// ledger returns the ABCI validator update, and both nodes then validate:
// with 10 of 20 voting power each, neither can commit alone, so blocks
// keep coming only because both sign. A second proposal removes the new
// validator again, after which node0 commits alone.
func TestValidatorUpdateByGovernance(t *testing.T) {
	needBinary(t)
	logf := stopwatch(t)
	nw := newTestnetSpare(t, 1, 1)
	joiner := joinFullNode(t, nw)
	both := []int{0, joiner}
	joinerKey := validatorPubKey(t, nw.homes[joiner])
	gov := unlockGovernance(t, nw.homes[0])

	for _, i := range both {
		nw.start(t, i)
	}
	nw.waitHeight(t, both, 1)
	logf("node0 (validator) and node1 (full node) up, base port %d", nw.base)
	for _, i := range both {
		if got := validatorPowers(t, nw, i); len(got) != 1 {
			t.Fatalf("%s: validators %v before the proposal, want node0 alone", nw.name(i), got)
		}
	}

	// 1. Governance adds node1's validator key with power 10. Once the
	// nodes report the new set (the one that validates the next height),
	// every later block needs both signatures: transactions sent through
	// either node still commit.
	r := propose(t, nw, gov, joinerKey, 10)
	logf("validator.update (power 10) executed at height %d", r.Height)
	waitValidators(t, nw, both, joinerKey, 10, 2)
	added := nw.maxHeight(t, both)
	pair := nw.registerOn(t, "validator-pair", both, 2)
	nw.waitTxEverywhere(t, both, pair)
	for _, c := range pair {
		if c.height <= added {
			t.Errorf("tx %s committed at height %d, not after the validator set changed at %d", c.hash, c.height, added)
		}
	}
	logf("2 validators from height %d; %d transactions committed through both nodes", added+1, len(pair))

	// The proof of a transaction sent to the new validator has a header
	// signed by both validators: 20 of 20 voting power. That is not the
	// genesis validator set, which verify-proof --genesis reports as a
	// verification failure.
	var reg committed
	for _, c := range pair {
		if c.node == joiner {
			reg = c
		}
	}
	var bundle []byte
	nw.getJSON(t, joiner, "/v1/proofs?tx="+reg.hash, &bundle)
	proofFile := filepath.Join(nw.dir, "proof.json")
	if err := os.WriteFile(proofFile, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustCLI(t, "verify-proof", proofFile, "--output", "json")
	var v chain.Verified
	if err := json.Unmarshal([]byte(out.Stdout), &v); err != nil {
		t.Fatalf("verify-proof output: %v\n%v", err, out)
	}
	if v.SignedPower != 20 || v.TotalPower != 20 {
		t.Errorf("proof header signed by %d of %d voting power, want 20 of 20", v.SignedPower, v.TotalPower)
	}
	genesis := filepath.Join(nw.homes[0], "config", "genesis.json")
	if got := runCLI(t, "verify-proof", proofFile, "--genesis", genesis); got.Code != 8 || !strings.Contains(got.Stderr, "not the genesis set") {
		t.Errorf("verify-proof --genesis of a header signed by the new set: want exit 8 naming the genesis set\n%v", got)
	}

	// 2. Governance removes it again (power 0); with node1 stopped, node0
	// commits alone.
	r = propose(t, nw, gov, joinerKey, 0)
	logf("validator.update (power 0) executed at height %d", r.Height)
	waitValidators(t, nw, both, joinerKey, 0, 1)
	if code := nw.procs[joiner].stop(t); code != 0 {
		t.Errorf("node1 exited with code %d after SIGTERM, want 0", code)
	}
	removed := nw.maxHeight(t, []int{0})
	for _, c := range nw.registerOn(t, "validator-alone", []int{0}, 2) {
		if c.height <= removed {
			t.Errorf("tx %s committed at height %d, not after node1 stopped at %d", c.hash, c.height, removed)
		}
	}
	logf("node1 stopped at height %d; node0 committed alone", removed)

	nw.stopAll(t)
	for _, i := range both {
		mustVerifyOK(t, nw.homes[i])
	}
	logf("both homes verified")
}

// joinFullNode adds to nw a node that is not a validator: `carechain init`
// of a new home that already holds the network's genesis.json (init keeps
// it), then config.toml pointed at node0 as its persistent peer.
func joinFullNode(t *testing.T, nw *network) int {
	t.Helper()
	home0 := nw.homes[0]
	i := nw.add(filepath.Join(nw.dir, fmt.Sprintf("node%d", len(nw.homes))))
	home := nw.homes[i]
	genesis, err := os.ReadFile(filepath.Join(home0, "config", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(home, "config"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "config", "genesis.json"), genesis, 0o644); err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Open(filepath.Join(home0, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	govKey, err := ks.Show("governance")
	if err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "init", "--home", home, "--moniker", nw.name(i),
		"--genesis-account", fmt.Sprintf("%s=%s", govKey.DID, tx.EncodeKey(govKey.PublicKey)),
		"--p2p", fmt.Sprintf("127.0.0.1:%d", nw.port(i, 0)),
		"--rpc", fmt.Sprintf("127.0.0.1:%d", nw.port(i, 1)),
		"--http", nw.apiAddr(i))
	if got, err := os.ReadFile(filepath.Join(home, "config", "genesis.json")); err != nil || !bytes.Equal(got, genesis) {
		t.Fatalf("init replaced the copied genesis.json (%v)", err)
	}

	nk, err := p2p.LoadNodeKey(filepath.Join(home0, "config", "node_key.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := node.LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	c.P2P.PersistentPeers = p2p.IDAddressString(nk.ID(), fmt.Sprintf("127.0.0.1:%d", nw.port(0, 0)))
	c.P2P.AddrBookStrict = false // every peer is on 127.0.0.1
	c.P2P.AllowDuplicateIP = true
	c.Consensus.TimeoutCommit = 100 * time.Millisecond
	if err := c.ValidateBasic(); err != nil {
		t.Fatal(err)
	}
	cmtcfg.WriteConfigFile(filepath.Join(home, "config", "config.toml"), c)
	return i
}

// validatorPubKey reads the Ed25519 public key of a home's validator.
func validatorPubKey(t *testing.T, home string) ed25519.PublicKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(home, "config", "priv_validator_key.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		PubKey struct {
			Type  string `json:"type"`
			Value []byte `json:"value"`
		} `json:"pub_key"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if f.PubKey.Type != "tendermint/PubKeyEd25519" || len(f.PubKey.Value) != ed25519.PublicKeySize {
		t.Fatalf("%s: validator key %s of %d bytes, want Ed25519", home, f.PubKey.Type, len(f.PubKey.Value))
	}
	return f.PubKey.Value
}

// unlockGovernance returns a signer for the "governance" key that
// `carechain testnet` created in home's keystore.
func unlockGovernance(t *testing.T, home string) *client.Signer {
	t.Helper()
	ks, err := keystore.Open(filepath.Join(home, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := ks.Unlock("governance", passphrase)
	if err != nil {
		t.Fatal(err)
	}
	return client.NewSigner(k.DID, k.PrivateKey())
}

// propose has gov propose validator.update {pub_key, power} through node0
// and checks the proposal executed in the committed transaction.
func propose(t *testing.T, nw *network, gov *client.Signer, pub ed25519.PublicKey, power int64) *cc.SubmitResult {
	t.Helper()
	r, err := doCommit(nw.clients[0], gov, "gov.propose", map[string]any{
		"action": "validator.update",
		"params": map[string]any{"pub_key": tx.EncodeKey(pub), "power": power},
	})
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Action string            `json:"action"`
		Status cc.ProposalStatus `json:"status"`
	}
	if err := json.Unmarshal(r.Data, &res); err != nil || res.Action != "validator.update" || res.Status != cc.ProposalExecuted {
		t.Fatalf("gov.propose result %s (%v), want an executed validator.update", r.Data, err)
	}
	return r
}

// validatorPowers is node i's current validator set: power by base64url key.
func validatorPowers(t *testing.T, nw *network, i int) map[string]int64 {
	t.Helper()
	st, err := nw.status(i)
	if err != nil {
		t.Fatalf("%s status: %v", nw.name(i), err)
	}
	out := map[string]int64{}
	for _, v := range st.Validators {
		out[tx.EncodeKey(v.PubKey)] = v.Power
	}
	return out
}

// waitValidators waits until every node in nodes reports a validator set of
// size n in which pub has power (absent when power is 0).
func waitValidators(t *testing.T, nw *network, nodes []int, pub ed25519.PublicKey, power int64, n int) {
	t.Helper()
	key := tx.EncodeKey(pub)
	for _, i := range nodes {
		waitFor(t, commitTimeout, fmt.Sprintf("%s to have %d validators, %s with power %d", nw.name(i), n, key, power), func() (bool, string) {
			st, err := nw.status(i)
			if err != nil {
				return false, err.Error()
			}
			got := map[string]int64{}
			for _, v := range st.Validators {
				got[tx.EncodeKey(v.PubKey)] = v.Power
			}
			return len(got) == n && got[key] == power, fmt.Sprintf("height %d validators %v", st.LatestHeight, got)
		})
	}
}

// TestValidatorRemovalByGovernanceMajority removes one of four validators
// by a proposal that needs three of the four governance members (each
// testnet home holds one member's key): the proposal and the first
// approval leave the set alone, the third approval executes it through a
// third node, and the remaining three validators commit without the
// removed one, which is then stopped.
func TestValidatorRemovalByGovernanceMajority(t *testing.T) {
	needBinary(t)
	logf := stopwatch(t)
	const n = 4
	all, rest, removed := []int{0, 1, 2, 3}, []int{0, 1, 2}, 3
	nw := newTestnet(t, n)
	for i := range n {
		nw.start(t, i)
	}
	nw.waitHeight(t, all, 1)
	logf("4 validators up, base port %d", nw.base)
	var g cc.Governance
	nw.getJSON(t, 0, "/v1/governance", &g)
	if len(g.Members) != n || g.Threshold != 3 {
		t.Fatalf("governance %+v, want 4 members with threshold 3", g)
	}
	govs := make([]*client.Signer, n)
	for i := range n {
		govs[i] = unlockGovernance(t, nw.homes[i])
	}
	key := validatorPubKey(t, nw.homes[removed])

	steps := []struct {
		node       int // submits through this node, signed by its governance key
		typ        string
		wantStatus cc.ProposalStatus
		wantVotes  int
	}{
		{0, "gov.propose", cc.ProposalOpen, 1},
		{1, "gov.approve", cc.ProposalOpen, 2},
		{2, "gov.approve", cc.ProposalExecuted, 3},
	}
	var id uint64
	for _, st := range steps {
		payload := any(map[string]any{"proposal": id})
		if st.typ == "gov.propose" {
			payload = map[string]any{"action": "validator.update", "params": map[string]any{"pub_key": tx.EncodeKey(key), "power": 0}}
		}
		r, err := doCommit(nw.clients[st.node], govs[st.node], st.typ, payload)
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			Proposal  uint64            `json:"proposal"`
			Status    cc.ProposalStatus `json:"status"`
			Approvals int               `json:"approvals"`
		}
		if err := json.Unmarshal(r.Data, &res); err != nil {
			t.Fatalf("%s result %s: %v", st.typ, r.Data, err)
		}
		if id == 0 {
			id = res.Proposal
		}
		if res.Proposal != id || res.Status != st.wantStatus || res.Approvals != st.wantVotes {
			t.Fatalf("%s by node%d's key: proposal %d %s with %d approvals, want proposal %d %s with %d",
				st.typ, st.node, res.Proposal, res.Status, res.Approvals, id, st.wantStatus, st.wantVotes)
		}
		logf("%s by node%d's key at height %d: proposal %d %s (%d of 3)", st.typ, st.node, r.Height, id, res.Status, res.Approvals)
		if st.wantStatus == cc.ProposalOpen {
			if got := validatorPowers(t, nw, st.node); len(got) != n {
				t.Fatalf("validators %v while the proposal is open, want all 4", got)
			}
		}
	}
	waitValidators(t, nw, all, key, 0, 3)
	at := nw.maxHeight(t, rest)

	// A fourth approval comes too late.
	_, err := nw.clients[removed].Do(t.Context(), govs[removed], "gov.approve", map[string]any{"proposal": id}, true)
	if !cc.Is(cc.FailedPrecondition, err) {
		t.Errorf("approval of an executed proposal: got %v, want a failed_precondition error", err)
	}

	// The three remaining validators commit without the removed one.
	if code := nw.procs[removed].stop(t); code != 0 {
		t.Errorf("node%d exited with code %d after SIGTERM, want 0", removed, code)
	}
	after := nw.registerOn(t, "three-validators", rest, 1)
	nw.waitTxEverywhere(t, rest, after)
	for _, c := range after {
		if c.height <= at {
			t.Errorf("tx %s committed at height %d, not after the removal took effect at %d", c.hash, c.height, at)
		}
	}
	logf("node%d removed from height %d and stopped; nodes 0-2 committed %d transactions", removed, at+1, len(after))

	nw.stopAll(t)
	for _, i := range all {
		mustVerifyOK(t, nw.homes[i])
	}
	logf("all homes verified")
}

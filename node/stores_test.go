package node

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/types"

	"carechain"
)

// chainOnDisk runs a single validator, commits each batch of txs before
// submitting the next (so later batches sit above height 1), waits for the
// block after the last tx block, stops the node, and returns the home and
// each tx's height.
func chainOnDisk(t *testing.T, batches ...[][]byte) (string, map[string]int64) {
	t.Helper()
	home := initHome(t, "verify")
	n := startKV(t, home)
	heights := map[string]int64{}
	for _, txs := range batches {
		for _, tx := range txs {
			if code, log, err := n.CheckTx(tx); err != nil || code != 0 {
				t.Fatalf("CheckTx(%s): %d %q %v", tx, code, log, err)
			}
		}
		for k, h := range waitTxs(t, n, txs) {
			heights[k] = h
		}
	}
	var top int64
	for _, h := range heights {
		top = max(top, h)
	}
	// The app hash changed, so CometBFT makes the next block at once; it
	// carries the canonical commit for the last tx block.
	waitFor(t, 20*time.Second, "the block after the last tx", func() bool { return n.Height() > top })
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	return home, heights
}

func TestVerifyCommitsDetectsTampering(t *testing.T) {
	evil := []byte("tamper=me")
	home, heights := chainOnDisk(t, [][]byte{[]byte("a=1")}, [][]byte{evil, []byte("c=3")})
	bad := heights[string(evil)]

	s, err := OpenStores(home)
	if err != nil {
		t.Fatal(err)
	}
	top := s.BlockStore.Height()
	var seen []int64
	if err := s.VerifyCommits(0, 0, func(h int64) { seen = append(seen, h) }); err != nil {
		t.Fatalf("untouched chain: %v", err)
	}
	if int64(len(seen)) != top || seen[0] != 1 || seen[len(seen)-1] != top {
		t.Fatalf("onHeight saw %v, store has 1..%d", seen, top)
	}
	if err := s.VerifyCommits(top, top+1, nil); !carechain.Is(carechain.Invalid, err) {
		t.Fatalf("range past the top: %v", err)
	}
	sh, err := s.SignedHeader(bad)
	if err != nil || sh.Height != bad {
		t.Fatalf("offline signed header: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Rewrite the transaction inside the stored block, as someone with
	// disk access might: same length, so the block still decodes.
	c, err := LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	db, err := dbProvider(nil, nil)(&cmtcfg.DBContext{ID: "blockstore", Config: c})
	if err != nil {
		t.Fatal(err)
	}
	it, err := db.Iterator(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	changed := map[string][]byte{}
	for ; it.Valid(); it.Next() {
		if v := it.Value(); bytes.Contains(v, evil) {
			changed[string(it.Key())] = bytes.ReplaceAll(v, evil, []byte("tamper=XX"))
		}
	}
	it.Close()
	if len(changed) != 1 {
		t.Fatalf("tx found under %d keys", len(changed))
	}
	for k, v := range changed {
		if err := db.SetSync([]byte(k), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = OpenStores(home)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seen = nil
	err = s.VerifyCommits(0, 0, func(h int64) { seen = append(seen, h) })
	var he *HeightError
	if !carechain.Is(carechain.Integrity, err) || !errors.As(err, &he) || he.Height != bad ||
		!strings.Contains(err.Error(), fmt.Sprintf("height %d", bad)) {
		t.Fatalf("tampered block %d: %v", bad, err)
	}
	if int64(len(seen)) != bad-1 {
		t.Fatalf("verified %v before failing at %d", seen, bad)
	}
	t.Logf("tampered chain: %v", err)
	// Verifying only the heights before the tampered block still passes.
	if err := s.VerifyCommits(1, bad-1, nil); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyBlock changes a block, a signature and the chain links in
// memory and checks that VerifyBlock says which part is wrong.
func TestVerifyBlock(t *testing.T) {
	home, heights := chainOnDisk(t, [][]byte{[]byte("w=0")}, [][]byte{[]byte("x=1")})
	s, err := OpenStores(home)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := heights["x=1"]
	load := func(h int64) (*types.Block, *types.Commit, *types.ValidatorSet) {
		b, _ := s.BlockStore.LoadBlock(h)
		sh, err := s.SignedHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		vals, err := s.ValidatorSet(h)
		if err != nil {
			t.Fatal(err)
		}
		return b, sh.Commit, vals
	}
	prev, _, _ := load(h - 1)
	b, commit, vals := load(h)
	if err := VerifyBlock("verify", h, b, commit, vals, prev); err != nil {
		t.Fatalf("good block: %v", err)
	}

	cases := []struct {
		name, want string
		mutate     func(b *types.Block, c *types.Commit, prev *types.Block)
	}{
		{"app hash", "differs from the committed hash", func(b *types.Block, _ *types.Commit, _ *types.Block) {
			b.AppHash = bytes.Repeat([]byte{1}, 32)
		}},
		{"signature", "commit does not verify", func(_ *types.Block, c *types.Commit, _ *types.Block) {
			sig := bytes.Clone(c.Signatures[0].Signature) // the store caches commits
			sig[0] ^= 0xff
			c.Signatures[0].Signature = sig
		}},
		{"chain link", "does not link", func(_ *types.Block, _ *types.Commit, p *types.Block) {
			p.Time = p.Time.Add(1)
		}},
		{"tx", "invalid block", func(b *types.Block, _ *types.Commit, _ *types.Block) {
			b.Txs[0] = []byte("x=2")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, _, _ := load(h - 1)
			b, c, v := load(h)
			c = c.Clone()
			tc.mutate(b, c, p)
			err := VerifyBlock("verify", h, b, c, v, p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if err := VerifyBlock("another-chain", h, b, commit, vals, nil); err == nil {
		t.Fatal("wrong chain id accepted")
	}
}

package chain

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"carechain/identity"
	"carechain/ledger"
	"carechain/ledger/store"
	"carechain/seed"
)

// MustLocal returns a Local over a fresh in-memory ledger with pop's genesis.
func MustLocal(t *testing.T, pop *seed.Population) (*Local, []byte) {
	t.Helper()
	st, err := store.OpenInMemory()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	gen, _ := json.Marshal(pop.Genesis())
	l, err := NewLocal(ledger.New(st, ledger.Domain(nil)), "replay-chain", gen)
	if err != nil {
		t.Fatal(err)
	}
	return l, gen
}

// TestReplayDomainDeterminism seeds the demo world (identities,
// organization admissions, memberships, attestations, guardians,
// delegations) through one application, then feeds the very same blocks to
// a fresh application and compares the AppHash and every result code at
// every height, and finally the whole state.
func TestReplayDomainDeterminism(t *testing.T) {
	pop := seed.NewPopulation("replay", 12)
	a, gen := MustLocal(t, pop)
	if err := seed.Apply(context.Background(), a, pop, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), nil); err != nil {
		t.Fatal(err)
	}
	if !seed.Seeded(a) {
		t.Fatal("not seeded")
	}
	orgs, _ := identity.ListOrgs(a.State())
	if got, want := len(orgs), len(seed.Orgs); got != want {
		t.Fatalf("%d organizations, want %d", got, want)
	}

	st, err := store.OpenInMemory()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := ledger.New(st, ledger.Domain(nil))
	ctx := context.Background()
	if _, err := b.InitChain(ctx, &abci.InitChainRequest{ChainId: "replay-chain", AppStateBytes: gen}); err != nil {
		t.Fatal(err)
	}
	for _, blk := range a.blocks {
		resp, err := b.FinalizeBlock(ctx, &abci.FinalizeBlockRequest{Height: blk.info.Height, Time: blk.info.Time, Txs: blk.txs})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Commit(ctx, &abci.CommitRequest{}); err != nil {
			t.Fatal(err)
		}
		want, err := a.App.Store().BlockMeta(blk.info.Height)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(resp.AppHash, want.AppHash) {
			t.Fatalf("height %d: replayed AppHash %x, original %x", blk.info.Height, resp.AppHash, want.AppHash)
		}
		for i, r := range resp.TxResults {
			if r.Code != 0 {
				t.Errorf("height %d tx %d: code %d on replay (%s)", blk.info.Height, i, r.Code, r.Log)
			}
		}
	}
	if key, same, err := diffState(a.State(), b.Store().Committed()); err != nil || !same {
		t.Fatalf("states differ at %q (%v)", key, err)
	}
}

package chain

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"carechain/ledger/store"
	"carechain/ledger/tx"
	"carechain/seed"
)

// TestStateBehindBlocksIsReplayed: a state store behind CometBFT's block
// store (restored from a backup, or one that lost writes the disk had not
// kept) is brought up to date at start-up: the node reports the store's
// height and the handshake replays the blocks it lacks. This test puts an
// older copy of the state store under a node whose chain has gone on and
// checks that the node reopens with the same AppHash and the replayed
// blocks' state, transactions and sequences.
func TestStateBehindBlocksIsReplayed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	home := t.TempDir()
	pop := seed.NewPopulation("chain-test", 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	reopen := func() *Node {
		t.Helper()
		n, err := Open(ctx, home, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	n := MustNode(t, home, pop)
	if r := n.Submit(ctx, [][]byte{registerTx(t, pop.Patients[0])}, true); !r[0].Accepted {
		t.Fatalf("first registration: %+v", r[0])
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(t.TempDir(), "state")
	if err := os.CopyFS(old, os.DirFS(StateDir(home))); err != nil {
		t.Fatal(err)
	}

	n = reopen()
	later := [][]byte{registerTx(t, pop.Patients[1]), registerTx(t, pop.Patients[2])}
	var height int64 // where the later registrations committed
	for i, r := range n.Submit(ctx, later, true) {
		if !r.Accepted {
			t.Fatalf("later registration %d: %+v", i, r)
		}
		height = max(height, r.Height)
	}
	m, err := n.App.Store().BlockMeta(height)
	if err != nil {
		t.Fatal(err)
	}
	appHash := m.AppHash
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	// The state store loses every block after the copy.
	behind, err := store.Open(old)
	if err != nil {
		t.Fatal(err)
	}
	behindHeight := behind.LastHeight()
	behind.Close()
	if behindHeight >= height {
		t.Fatalf("the copy is at height %d, the chain at %d: nothing to replay", behindHeight, height)
	}
	if err := os.RemoveAll(StateDir(home)); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(StateDir(home), os.DirFS(old)); err != nil {
		t.Fatal(err)
	}

	n = reopen()
	m, err = n.App.Store().BlockMeta(height)
	if err != nil {
		t.Fatalf("height %d after the replay: %v", height, err)
	}
	if !bytes.Equal(m.AppHash, appHash) {
		t.Errorf("AppHash(%d) after the replay = %x, before %x", height, m.AppHash, appHash)
	}
	for i, raw := range later {
		info, err := n.Tx(ctx, tx.Hash(raw))
		if err != nil || !bytes.Equal(info.Tx, raw) {
			t.Errorf("replayed tx %d: %v %+v", i, err, info)
		}
		if seq, _ := n.Sequence(ctx, pop.Patients[1+i].DID); seq != 1 {
			t.Errorf("patient %d's sequence after the replay = %d, want 1", 1+i, seq)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	replayed, err := store.Open(StateDir(home))
	if err != nil {
		t.Fatal(err)
	}
	defer replayed.Close()
	if err := replayed.VerifyState(); err != nil {
		t.Error(err)
	}
}

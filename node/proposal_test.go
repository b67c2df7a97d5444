package node

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	mempl "github.com/cometbft/cometbft/mempool"
	"github.com/cometbft/cometbft/types"
)

// fakeMempool is the part of CometBFT's mempool proposalApp uses: a lock
// that CheckTx holds shared, and the transactions in insertion order.
type fakeMempool struct {
	mempl.Mempool // other methods: unused (nil)
	lock          sync.RWMutex
	mu            sync.Mutex
	txs           types.Txs
}

func (m *fakeMempool) Size() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.txs)
}

func (m *fakeMempool) RemoveTxByKey(k types.TxKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, tx := range m.txs {
		if tx.Key() == k {
			m.txs = slices.Delete(m.txs, i, i+1)
			return nil
		}
	}
	return mempl.ErrTxNotFound
}

func (m *fakeMempool) Lock()   { m.lock.Lock() }
func (m *fakeMempool) Unlock() { m.lock.Unlock() }

func (m *fakeMempool) ReapMaxBytesMaxGas(maxBytes, _ int64) types.Txs {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out types.Txs
	var n int64
	for _, tx := range m.txs {
		if n += int64(len(tx)); maxBytes >= 0 && n > maxBytes {
			break
		}
		out = append(out, tx)
	}
	return out
}

// checkTx simulates CometBFT's CheckTx: the lock held shared while the
// application checks tx (for d), then tx joins the mempool.
func (m *fakeMempool) checkTx(tx []byte, d time.Duration, started chan<- struct{}) {
	m.lock.RLock()
	defer m.lock.RUnlock()
	close(started)
	time.Sleep(d)
	m.mu.Lock()
	m.txs = append(m.txs, tx)
	m.mu.Unlock()
}

// proposed records the transactions PrepareProposal was given.
type proposed struct {
	abci.BaseApplication
	got [][]byte
}

func (p *proposed) PrepareProposal(_ context.Context, req *abci.PrepareProposalRequest) (*abci.PrepareProposalResponse, error) {
	p.got = req.Txs
	return &abci.PrepareProposalResponse{Txs: req.Txs}, nil
}

func strs(txs [][]byte) []string {
	out := make([]string, len(txs))
	for i, tx := range txs {
		out[i] = string(tx)
	}
	return out
}

// TestProposalWaitsForCheckTx: a transaction whose CheckTx is in progress
// when the block is proposed is in the proposal (after the ones reaped
// before it), within the byte limit; without a mempool the request passes
// unchanged.
func TestProposalWaitsForCheckTx(t *testing.T) {
	tests := []struct {
		name     string
		maxBytes int64
		want     []string
	}{
		{"in progress joins", 100, []string{"tx-a", "tx-b", "tx-c"}},
		{"byte limit", 8, []string{"tx-a", "tx-b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mp := &fakeMempool{txs: types.Txs{[]byte("tx-a"), []byte("tx-b")}}
			app := &proposed{}
			pa := &proposalApp{Application: app}
			var m mempl.Mempool = mp
			pa.mempool.Store(&m)
			reaped := mp.ReapMaxBytesMaxGas(tt.maxBytes, -1) // what CometBFT passes
			started := make(chan struct{})
			done := make(chan struct{})
			go func() {
				mp.checkTx([]byte("tx-c"), 50*time.Millisecond, started)
				close(done)
			}()
			<-started
			if _, err := pa.PrepareProposal(context.Background(), &abci.PrepareProposalRequest{Txs: reaped.ToSliceOfBytes(), MaxTxBytes: tt.maxBytes}); err != nil {
				t.Fatal(err)
			}
			<-done
			if got := strs(app.got); !slices.Equal(got, tt.want) {
				t.Errorf("proposed %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("queued on the connection joins", func(t *testing.T) {
		mp := &fakeMempool{txs: types.Txs{[]byte("tx-a")}}
		app := &proposed{}
		pa := &proposalApp{Application: app}
		var m mempl.Mempool = mp
		pa.mempool.Store(&m)
		pa.flush = func(context.Context) error { // the queued gossip is answered
			mp.mu.Lock()
			mp.txs = append(mp.txs, []byte("tx-g"))
			mp.mu.Unlock()
			return nil
		}
		if _, err := pa.PrepareProposal(context.Background(), &abci.PrepareProposalRequest{Txs: [][]byte{[]byte("tx-a")}, MaxTxBytes: 100}); err != nil {
			t.Fatal(err)
		}
		if got, want := strs(app.got), []string{"tx-a", "tx-g"}; !slices.Equal(got, want) {
			t.Errorf("proposed %q, want %q", got, want)
		}
	})
	t.Run("no mempool", func(t *testing.T) {
		app := &proposed{}
		pa := &proposalApp{Application: app}
		in := [][]byte{[]byte("x")}
		if _, err := pa.PrepareProposal(context.Background(), &abci.PrepareProposalRequest{Txs: in, MaxTxBytes: 100}); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(strs(app.got)); got != "[x]" {
			t.Errorf("proposed %s, want [x]", got)
		}
	})
}

package node

import (
	"context"
	"errors"
	"slices"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	cfg "github.com/cometbft/cometbft/config"
	mempl "github.com/cometbft/cometbft/mempool"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/types"
)

// sizeAtFinalize accepts every transaction and records the mempool's size
// when FinalizeBlock reaches it.
type sizeAtFinalize struct {
	abci.BaseApplication
	mempool *mempl.CListMempool
	size    int
}

func (a *sizeAtFinalize) FinalizeBlock(_ context.Context, req *abci.FinalizeBlockRequest) (*abci.FinalizeBlockResponse, error) {
	a.size = a.mempool.Size()
	res := &abci.FinalizeBlockResponse{TxResults: make([]*abci.ExecTxResult, len(req.Txs))}
	for i := range req.Txs {
		res.TxResults[i] = &abci.ExecTxResult{Code: abci.CodeTypeOK}
	}
	return res, nil
}

// TestFinalizeBlockFreesMempool runs CometBFT's own mempool: when a block
// reaches the application's FinalizeBlock its transactions are no longer
// in the mempool (the others are, in order), a copy submitted meanwhile is
// still refused as cached, and CometBFT's Update afterwards — which finds
// them gone — keeps the rest and rechecks them as before.
func TestFinalizeBlockFreesMempool(t *testing.T) {
	app := &sizeAtFinalize{}
	conn, err := proxy.NewLocalClientCreator(app).NewABCIMempoolClient()
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Stop() })
	mp := mempl.NewCListMempool(cfg.DefaultMempoolConfig(), conn, 0)
	app.mempool = mp
	var mi mempl.Mempool = mp
	pa := &proposalApp{Application: app}
	pa.mempool.Store(&mi)

	txs := types.Txs{types.Tx("a=1"), types.Tx("b=2"), types.Tx("c=3"), types.Tx("d=4")}
	for _, tx := range txs {
		if _, err := mp.CheckTx(tx, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := mp.FlushAppConn(); err != nil {
		t.Fatal(err)
	}
	if got, want := mp.Size(), 4; got != want {
		t.Fatalf("mempool holds %d, want %d", got, want)
	}

	block := types.Txs{txs[0], txs[2], types.Tx("z=9")} // z: never in this mempool
	res, err := pa.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: 1, Txs: block.ToSliceOfBytes()})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := app.size, 2; got != want {
		t.Errorf("mempool held %d transactions when the block executed, want %d", got, want)
	}
	if got, want := strs(mp.ReapMaxTxs(-1).ToSliceOfBytes()), []string{"b=2", "d=4"}; !slices.Equal(got, want) {
		t.Errorf("mempool holds %q, want %q", got, want)
	}
	if _, err := mp.CheckTx(txs[0], ""); !errors.Is(err, mempl.ErrTxInCache) {
		t.Errorf("resubmitting a transaction of the executing block: %v, want %v", err, mempl.ErrTxInCache)
	}

	mp.Lock()
	err = mp.Update(1, block, res.TxResults, nil, nil)
	mp.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := mp.FlushAppConn(); err != nil {
		t.Fatal(err)
	}
	if got, want := strs(mp.ReapMaxTxs(-1).ToSliceOfBytes()), []string{"b=2", "d=4"}; !slices.Equal(got, want) {
		t.Errorf("after Update the mempool holds %q, want %q", got, want)
	}
	if _, err := mp.CheckTx(txs[2], ""); !errors.Is(err, mempl.ErrTxInCache) {
		t.Errorf("resubmitting a committed transaction: %v, want %v", err, mempl.ErrTxInCache)
	}

	// Without a mempool (the handshake's replay) the request passes as is.
	bare := &proposalApp{Application: app}
	if _, err := bare.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: 2, Txs: [][]byte{[]byte("b=2")}}); err != nil {
		t.Fatal(err)
	}
	if got, want := mp.Size(), 2; got != want {
		t.Errorf("without a mempool set, the mempool changed: %d, want %d", got, want)
	}
}

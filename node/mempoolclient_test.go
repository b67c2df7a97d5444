package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	abcicli "github.com/cometbft/cometbft/abci/client"
	abci "github.com/cometbft/cometbft/abci/types"

	"carechain"
)

// checkApp records the CheckTx calls and PreVerify batches it gets. A tx
// "bad" is rejected with code 7, "err" makes CheckTx fail and "panic"
// panic. PreVerify first sends on entered, then receives from gate (each
// if set).
type checkApp struct {
	abci.BaseApplication
	entered chan struct{}
	gate    chan struct{}

	mu      sync.Mutex
	checked []string
	batches [][]string
}

func (a *checkApp) CheckTx(_ context.Context, req *abci.CheckTxRequest) (*abci.CheckTxResponse, error) {
	a.mu.Lock()
	a.checked = append(a.checked, string(req.Tx))
	a.mu.Unlock()
	switch string(req.Tx) {
	case "bad":
		return &abci.CheckTxResponse{Code: 7, Log: "bad"}, nil
	case "err":
		return nil, errors.New("boom")
	case "panic":
		panic("kaboom")
	}
	return &abci.CheckTxResponse{Code: abci.CodeTypeOK}, nil
}

func (a *checkApp) PreVerify(raws [][]byte, _ io.Reader) {
	if a.entered != nil {
		a.entered <- struct{}{}
	}
	if a.gate != nil {
		<-a.gate
	}
	a.mu.Lock()
	a.batches = append(a.batches, strs(raws))
	a.mu.Unlock()
}

func (a *checkApp) calls() (checked []string, batches [][]string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.checked), slices.Clone(a.batches)
}

// MustMempoolClient returns a started client on app, stopped at cleanup.
func MustMempoolClient(t *testing.T, app *checkApp) *mempoolClient {
	t.Helper()
	c := newMempoolClient(app, app)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

// answers records the order in which ReqRes callbacks ran, as the
// mempool's insertion does.
type answers struct {
	mu   sync.Mutex
	list []string
}

func (a *answers) callback(tx string) func(*abci.Response) error {
	return func(r *abci.Response) error {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.list = append(a.list, fmt.Sprintf("%s:%d", tx, r.GetCheckTx().Code))
		return nil
	}
}

func (a *answers) got() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.list)
}

func checkReq(tx string) *abci.CheckTxRequest {
	return &abci.CheckTxRequest{Tx: []byte(tx), Type: abci.CHECK_TX_TYPE_CHECK}
}

func mustQueue(t *testing.T, c *mempoolClient, ans *answers, req *abci.CheckTxRequest) *abcicli.ReqRes {
	t.Helper()
	rr, err := c.CheckTxAsync(context.Background(), req)
	if err != nil {
		t.Fatalf("CheckTxAsync(%s): %v", req.Tx, err)
	}
	rr.SetCallback(ans.callback(string(req.Tx)))
	return rr
}

// TestMempoolClientBatches: what peers send while the worker is busy is
// pre-verified as one batch (rechecks left out) and then checked and
// answered in arrival order; Flush returns only when all is answered.
func TestMempoolClientBatches(t *testing.T) {
	app := &checkApp{entered: make(chan struct{}, 2), gate: make(chan struct{})}
	c := MustMempoolClient(t, app)
	ans := &answers{}
	first := mustQueue(t, c, ans, checkReq("a"))
	<-app.entered // the worker waits in PreVerify(["a"]); the rest queue behind it
	var rrs []*abcicli.ReqRes
	for _, tx := range []string{"b", "bad", "c"} {
		rrs = append(rrs, mustQueue(t, c, ans, checkReq(tx)))
	}
	rrs = append(rrs, mustQueue(t, c, ans, &abci.CheckTxRequest{Tx: []byte("r"), Type: abci.CHECK_TX_TYPE_RECHECK}))
	flushed := make(chan struct{})
	go func() {
		_ = c.Flush(context.Background())
		close(flushed)
	}()
	select {
	case <-flushed:
		t.Fatal("Flush returned while transactions were queued")
	default:
	}
	close(app.gate)
	<-flushed
	for _, rr := range append(rrs, first) {
		rr.Wait() // all answered: Wait returns
	}
	checked, batches := app.calls()
	if want := []string{"a", "b", "bad", "c", "r"}; !slices.Equal(checked, want) {
		t.Errorf("CheckTx order %q, want %q", checked, want)
	}
	if got, want := fmt.Sprint(batches), "[[a] [b bad c]]"; got != want {
		t.Errorf("PreVerify batches %s, want %s", got, want)
	}
	if got, want := ans.got(), []string{"a:0", "b:0", "bad:7", "c:0", "r:0"}; !slices.Equal(got, want) {
		t.Errorf("answers %q, want %q", got, want)
	}
	if batches, txs := c.stats(); batches != 2 || txs != 4 {
		t.Errorf("stats = %d batches, %d txs; want 2, 4 (the recheck not counted)", batches, txs)
	}
}

// TestMempoolClientInline: the transaction Node.CheckTx submits, and a
// recheck, are answered before CheckTxAsync returns, without PreVerify; an
// application error is returned then, as the local client does.
func TestMempoolClientInline(t *testing.T) {
	app := &checkApp{}
	c := MustMempoolClient(t, app)
	tx := []byte("mine")
	c.submitting(tx)
	rr, err := c.CheckTxAsync(context.Background(), &abci.CheckTxRequest{Tx: tx, Type: abci.CHECK_TX_TYPE_CHECK})
	c.submitting(nil)
	if err != nil {
		t.Fatal(err)
	}
	if rr.Response.GetCheckTx() == nil {
		t.Fatal("inline request returned unanswered")
	}
	if _, err := c.CheckTxAsync(context.Background(), &abci.CheckTxRequest{Tx: []byte("again"), Type: abci.CHECK_TX_TYPE_RECHECK}); err != nil {
		t.Fatal(err)
	}
	errTx := []byte("err")
	c.submitting(errTx)
	if _, err := c.CheckTxAsync(context.Background(), &abci.CheckTxRequest{Tx: errTx, Type: abci.CHECK_TX_TYPE_CHECK}); err == nil {
		t.Error("inline CheckTx error not returned")
	}
	c.submitting(nil)
	// The same bytes at another address are not the submitted transaction.
	c.submitting(tx)
	ans := &answers{}
	queued := mustQueue(t, c, ans, checkReq("mine"))
	c.submitting(nil)
	queued.Wait()
	checked, batches := app.calls()
	if want := []string{"mine", "again", "err", "mine"}; !slices.Equal(checked, want) {
		t.Errorf("CheckTx calls %q, want %q", checked, want)
	}
	if got, want := fmt.Sprint(batches), "[[mine]]"; got != want {
		t.Errorf("PreVerify batches %s, want %s (only the queued one)", got, want)
	}
}

// TestMempoolClientFailures: a queued transaction whose CheckTx fails or
// panics is rejected with the Internal code, and the worker goes on.
func TestMempoolClientFailures(t *testing.T) {
	app := &checkApp{}
	c := MustMempoolClient(t, app)
	ans := &answers{}
	for _, tx := range []string{"err", "panic", "ok"} {
		mustQueue(t, c, ans, checkReq(tx))
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	code := carechain.Internal.Code()
	want := []string{fmt.Sprintf("err:%d", code), fmt.Sprintf("panic:%d", code), "ok:0"}
	if got := ans.got(); !slices.Equal(got, want) {
		t.Errorf("answers %q, want %q", got, want)
	}
}

// TestMempoolClientStop: Stop answers what is queued; later requests are
// answered on the caller's goroutine.
func TestMempoolClientStop(t *testing.T) {
	app := &checkApp{gate: make(chan struct{})}
	c := newMempoolClient(app, app)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	ans := &answers{}
	for _, tx := range []string{"a", "b"} {
		mustQueue(t, c, ans, checkReq(tx))
	}
	stopped := make(chan error)
	go func() { stopped <- c.Stop() }()
	close(app.gate)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	rr, err := c.CheckTxAsync(context.Background(), checkReq("late"))
	if err != nil {
		t.Fatal(err)
	}
	if rr.Response.GetCheckTx() == nil {
		t.Error("request after Stop returned unanswered")
	}
	checked, _ := app.calls()
	if want := []string{"a", "b", "late"}; !slices.Equal(checked, want) {
		t.Errorf("CheckTx calls %q, want %q", checked, want)
	}
}

// TestMempoolClientInlineBehindQueue: with transactions queued, the one
// Node.CheckTx submits queues behind them (arrival order) and the worker
// does not wait for a fuller batch.
func TestMempoolClientInlineBehindQueue(t *testing.T) {
	app := &checkApp{entered: make(chan struct{}, 2), gate: make(chan struct{})}
	c := MustMempoolClient(t, app)
	ans := &answers{}
	mustQueue(t, c, ans, checkReq("a"))
	<-app.entered // the worker waits in PreVerify(["a"])
	mustQueue(t, c, ans, checkReq("b"))
	mine := []byte("mine")
	c.submitting(mine)
	rr := mustQueue(t, c, ans, &abci.CheckTxRequest{Tx: mine, Type: abci.CHECK_TX_TYPE_CHECK})
	c.submitting(nil)
	c.mu.Lock()
	urgent := c.urgent
	c.mu.Unlock()
	if !urgent {
		t.Error("a queued submission did not mark the queue urgent")
	}
	close(app.gate)
	rr.Wait()
	checked, batches := app.calls()
	if want := []string{"a", "b", "mine"}; !slices.Equal(checked, want) {
		t.Errorf("CheckTx order %q, want %q", checked, want)
	}
	if got, want := fmt.Sprint(batches), "[[a] [b mine]]"; got != want {
		t.Errorf("PreVerify batches %s, want %s", got, want)
	}
}

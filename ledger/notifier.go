package ledger

import (
	"context"
	"encoding/hex"
	"sync"
)

// Notifier delivers committed transaction outcomes to waiting callers (the
// HTTP API's ?commit=true). It sits beside the consensus path: publishing
// never blocks and never changes state.
type Notifier struct {
	mu      sync.Mutex
	waiters map[string][]chan TxOutcome
	subs    map[int]func([]TxOutcome)
	nextSub int

	// included holds the channels of WhenIncluded, by transaction hash.
	included map[[32]byte][]chan struct{}
}

// NewNotifier returns an empty Notifier.
func NewNotifier() *Notifier {
	return &Notifier{waiters: map[string][]chan TxOutcome{}, subs: map[int]func([]TxOutcome){},
		included: map[[32]byte][]chan struct{}{}}
}

// WhenIncluded returns a channel that is closed when a block holding the
// transaction with hash (SHA-256 of its bytes) begins executing
// (FinalizeBlock), before its outcome is known: a caller can prepare
// meanwhile what it will do once the block is committed, on a core the
// block's execution leaves free. Register before submitting; call cancel
// when no longer interested (it is a no-op once the channel closed). A
// block that is executed but never committed (a crash) still closes it.
func (n *Notifier) WhenIncluded(hash [32]byte) (ch <-chan struct{}, cancel func()) {
	c := make(chan struct{})
	n.mu.Lock()
	n.included[hash] = append(n.included[hash], c)
	n.mu.Unlock()
	return c, func() {
		n.mu.Lock()
		unlist(n.included, hash, c)
		n.mu.Unlock()
	}
}

// including closes the WhenIncluded channels of a block's transactions.
// It never blocks.
func (n *Notifier) including(hashes [][32]byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.included) == 0 {
		return
	}
	for _, h := range hashes {
		for _, c := range n.included[h] {
			close(c)
		}
		delete(n.included, h)
	}
}

// Wait blocks until the transaction with hash is committed or ctx ends.
// Register with Expect before submitting to avoid missing a fast commit.
func (n *Notifier) Wait(ctx context.Context, ch <-chan TxOutcome) (TxOutcome, error) {
	select {
	case out := <-ch:
		return out, nil
	case <-ctx.Done():
		return TxOutcome{}, ctx.Err()
	}
}

// Expect registers interest in hash and returns the channel its outcome
// will be sent on (buffered; delivered once). Call Forget if you stop
// waiting.
func (n *Notifier) Expect(hash []byte) chan TxOutcome {
	ch := make(chan TxOutcome, 1)
	k := hex.EncodeToString(hash)
	n.mu.Lock()
	n.waiters[k] = append(n.waiters[k], ch)
	n.mu.Unlock()
	return ch
}

// Forget removes a waiter registered with Expect.
func (n *Notifier) Forget(hash []byte, ch chan TxOutcome) {
	k := hex.EncodeToString(hash)
	n.mu.Lock()
	unlist(n.waiters, k, ch)
	n.mu.Unlock()
}

// unlist removes c from m[k], and m[k] once it is empty.
func unlist[K, C comparable](m map[K][]C, k K, c C) {
	list := m[k]
	for i, x := range list {
		if x == c {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(m, k)
	} else {
		m[k] = list
	}
}

// Subscribe calls fn with every committed block's outcomes (after Commit),
// until the returned cancel function is called. fn must not block.
func (n *Notifier) Subscribe(fn func([]TxOutcome)) (cancel func()) {
	n.mu.Lock()
	id := n.nextSub
	n.nextSub++
	n.subs[id] = fn
	n.mu.Unlock()
	return func() {
		n.mu.Lock()
		delete(n.subs, id)
		n.mu.Unlock()
	}
}

func (n *Notifier) publish(outs []TxOutcome) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.waiters) > 0 {
		for _, o := range outs {
			k := hex.EncodeToString(o.Hash)
			for _, ch := range n.waiters[k] {
				ch <- o
			}
			delete(n.waiters, k)
		}
	}
	for _, fn := range n.subs {
		fn(outs)
	}
}

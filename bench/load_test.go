package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeChain admits every transaction except those containing "bad" (code
// 8), fails those containing "fail" in the block (code 13), and commits a
// block of everything admitted every 20 ms. It checks the load generator's
// bookkeeping, not any timing.
type fakeChain struct {
	mu      sync.Mutex
	pending [][]byte
	height  int64
}

func (f *fakeChain) target() Target {
	return Target{
		Name: "fake",
		Submit: func(_ context.Context, txs [][]byte) []SubmitResult {
			out := make([]SubmitResult, len(txs))
			f.mu.Lock()
			defer f.mu.Unlock()
			for i, t := range txs {
				if bytes.Contains(t, []byte("bad")) {
					out[i] = SubmitResult{Code: 8, Kind: "sequence_replay"}
					continue
				}
				f.pending = append(f.pending, t)
			}
			return out
		},
		Watch: func(sink func(Block)) (func(), error) {
			done := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				tk := time.NewTicker(20 * time.Millisecond)
				defer tk.Stop()
				for {
					select {
					case <-done:
						return
					case <-tk.C:
					}
					f.mu.Lock()
					txs := f.pending
					f.pending = nil
					f.height++
					h := f.height
					f.mu.Unlock()
					b := Block{Height: h, Seen: time.Now(), Hashes: make([][32]byte, len(txs)), Codes: make([]uint32, len(txs))}
					for i, t := range txs {
						b.Hashes[i] = sha256.Sum256(t)
						if bytes.Contains(t, []byte("fail")) {
							b.Codes[i] = 13
						}
					}
					// One transaction nobody sent.
					b.Hashes = append(b.Hashes, sha256.Sum256(fmt.Appendf(nil, "foreign-%d", h)))
					b.Codes = append(b.Codes, 0)
					sink(b)
				}
			}()
			return func() { close(done); wg.Wait() }, nil
		},
	}
}

func TestRunCounts(t *testing.T) {
	var txs [][]byte
	for i := range 1000 {
		switch {
		case i%10 == 3:
			txs = append(txs, fmt.Appendf(nil, "bad-%d", i))
		case i%25 == 7:
			txs = append(txs, fmt.Appendf(nil, "fail-%d", i))
		default:
			txs = append(txs, fmt.Appendf(nil, "ok-%d", i))
		}
	}
	f := &fakeChain{}
	rep, err := Run(context.Background(), f.target(), NewLoad(txs), Config{Rate: 10000, Batch: 50, Workers: 3, Duration: 5 * time.Second, Drain: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Offered != 1000 || rep.Accepted != 900 {
		t.Errorf("offered %d accepted %d, want 1000 and 900", rep.Offered, rep.Accepted)
	}
	if rep.Rejected["code 8 sequence_replay"] != 100 {
		t.Errorf("rejected = %v, want 100 × code 8", rep.Rejected)
	}
	// i%25 == 7 and not i%10 == 3: 40 transactions.
	if rep.FailedBlock != 40 || rep.Rejected["code 13 (in block)"] != 40 {
		t.Errorf("failed in block %d (%v), want 40", rep.FailedBlock, rep.Rejected)
	}
	if rep.Committed != 860 || rep.Uncommitted != 0 {
		t.Errorf("committed %d uncommitted %d, want 860 and 0", rep.Committed, rep.Uncommitted)
	}
	if rep.Foreign == 0 {
		t.Errorf("foreign transactions not counted")
	}
	if rep.All.N != 860 || rep.All.P50 <= 0 || rep.All.P99 < rep.All.P50 || rep.All.Max < rep.All.P99 {
		t.Errorf("latency percentiles inconsistent: %+v", rep.All)
	}
	var buf bytes.Buffer
	rep.Print(&buf)
	if !bytes.Contains(buf.Bytes(), []byte("COMMITTED TX/S")) {
		t.Errorf("report lacks the throughput line:\n%s", buf.String())
	}
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	p := percentiles(d)
	if p.P50 != 50*time.Millisecond || p.P99 != 99*time.Millisecond || p.Max != 100*time.Millisecond || p.N != 100 {
		t.Errorf("percentiles = %+v", p)
	}
}

func TestKVTxs(t *testing.T) {
	txs := KVTxs("t", 100, 295)
	seen := map[string]bool{}
	for _, x := range txs {
		if len(x) != 295 || bytes.Count(x, []byte("=")) != 1 || bytes.Contains(x, []byte(":")) {
			t.Fatalf("bad kvstore tx %q", x)
		}
		seen[string(x)] = true
	}
	if len(seen) != 100 {
		t.Errorf("duplicates: %d distinct of 100", len(seen))
	}
}

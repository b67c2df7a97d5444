package bench

import (
	"context"
	stded25519 "crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	"carechain/ledger"
	"carechain/ledger/store"
	"carechain/ledger/tx"
)

// blockTxs is the size of the benchmark block.
const blockTxs = 5000

var (
	fixtureOnce sync.Once
	fixtureTxs  [][]byte
	fixtureErr  error
)

// fixture returns blockTxs patient.register transactions (built once).
func fixture(b *testing.B) [][]byte {
	b.Helper()
	fixtureOnce.Do(func() { fixtureTxs, fixtureErr = PatientRegisterTxs(ChainID, Seed, blockTxs) })
	if fixtureErr != nil {
		b.Fatal(fixtureErr)
	}
	return fixtureTxs
}

// newApp returns a ledger App on a fresh in-memory store after InitChain
// with the benchmark genesis.
func newApp(b *testing.B) (*ledger.App, *store.Store) {
	b.Helper()
	st, err := store.OpenInMemory()
	if err != nil {
		b.Fatal(err)
	}
	app := ledger.New(st, ledger.Domain(nil))
	gen, err := GenesisState()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := app.InitChain(context.Background(), &abci.InitChainRequest{ChainId: ChainID, AppStateBytes: gen, Time: time.Unix(0, 0)}); err != nil {
		b.Fatal(err)
	}
	return app, st
}

func checkAll(b *testing.B, app *ledger.App, txs [][]byte) {
	b.Helper()
	for _, t := range txs {
		r, err := app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: t, Type: abci.CHECK_TX_TYPE_CHECK})
		if err != nil || r.Code != 0 {
			b.Fatalf("CheckTx: %v %v", err, r)
		}
	}
}

func finalizeCommit(b *testing.B, app *ledger.App, txs [][]byte) {
	b.Helper()
	resp, err := app.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: 1, Time: time.Unix(1, 0), Txs: txs})
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range resp.TxResults {
		if r.Code != 0 {
			b.Fatalf("tx failed: %d %s", r.Code, r.Log)
		}
	}
	if _, err := app.Commit(context.Background(), &abci.CommitRequest{}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFinalizeBlock executes and commits one block of 5,000
// patient.register transactions on an in-memory store. warm: every
// transaction went through CheckTx first (its signature is in the App's
// cache, as on a validator that admitted it); cold: no CheckTx (a block
// proposed by another validator whose transactions this node never saw),
// so FinalizeBlock verifies every signature.
func BenchmarkFinalizeBlock(b *testing.B) {
	txs := fixture(b)
	for _, warm := range []bool{true, false} {
		name := "cold"
		if warm {
			name = "warm"
		}
		b.Run(name, func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				app, st := newApp(b)
				if warm {
					checkAll(b, app, txs)
				}
				b.StartTimer()
				t0 := time.Now()
				finalizeCommit(b, app, txs)
				total += time.Since(t0)
				b.StopTimer()
				st.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N*len(txs)), "ns/tx")
			b.ReportMetric(float64(b.N*len(txs))/total.Seconds(), "tx/s")
		})
	}
}

// BenchmarkCheckTx admits 5,000 fresh patient.register transactions to a
// new App's mempool state (decode, sequence, signature, handler on a
// scratch overlay): the per-transaction cost the node pays under the ABCI
// mutex before a block is even proposed.
func BenchmarkCheckTx(b *testing.B) {
	txs := fixture(b)
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		app, st := newApp(b)
		b.StartTimer()
		t0 := time.Now()
		checkAll(b, app, txs)
		total += time.Since(t0)
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N*len(txs)), "ns/tx")
}

// BenchmarkDecode is tx.Decode alone (JSON envelope, RFC 8785 check, body).
func BenchmarkDecode(b *testing.B) {
	txs := fixture(b)
	i := 0
	for b.Loop() {
		if _, err := tx.Decode(txs[i%len(txs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// signed is one decoded transaction's verification input.
type signed struct {
	pub      []byte
	msg, sig []byte
}

func signatures(b *testing.B) []signed {
	txs := fixture(b)
	out := make([]signed, len(txs))
	for i, raw := range txs {
		t, err := tx.Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		var p registerPayload
		if err := json.Unmarshal(t.Body.Payload, &p); err != nil {
			b.Fatal(err)
		}
		pub, err := tx.DecodeKey(p.PublicKey)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = signed{pub: pub, msg: t.SignBytes(), sig: t.Sig}
	}
	return out
}

// BenchmarkVerify compares Ed25519 verification of the transactions'
// signatures: the standard library (what tx.Verify uses), curve25519-voi
// one at a time (ZIP-215 rules, as CometBFT), and curve25519-voi batches of
// 2 to 1,000 (ns/sig is per signature).
func BenchmarkVerify(b *testing.B) {
	sigs := signatures(b)
	b.Run("stdlib", func(b *testing.B) {
		i := 0
		for b.Loop() {
			s := sigs[i%len(sigs)]
			if !stded25519.Verify(s.pub, s.msg, s.sig) {
				b.Fatal("bad signature")
			}
			i++
		}
	})
	zip215 := &voi.Options{Verify: voi.VerifyOptionsZIP_215}
	b.Run("voi", func(b *testing.B) {
		i := 0
		for b.Loop() {
			s := sigs[i%len(sigs)]
			if !voi.VerifyWithOptions(s.pub, s.msg, s.sig, zip215) {
				b.Fatal("bad signature")
			}
			i++
		}
	})
	// From 94 signatures on, voi uses Pippenger's method on the keys as
	// they are, yet AddWithOptions still expands (precomputes a table for)
	// the first 93 keys: "-noexpand" is the same batch with
	// ForceNoPublicKeyExpansion, as ledger/tx.VerifyBatch does it.
	type run struct {
		size     int
		noExpand bool
	}
	for _, r := range []run{{2, false}, {4, false}, {16, false}, {64, false}, {93, false}, {100, false}, {100, true}, {200, true}, {400, true}, {800, true}, {1000, false}, {1000, true}} {
		size := r.size
		name := "voi-batch-" + strconv.Itoa(size)
		if r.noExpand {
			name += "-noexpand"
		}
		b.Run(name, func(b *testing.B) {
			off := 0
			for b.Loop() {
				bv := voi.NewBatchVerifierWithCapacity(size)
				if r.noExpand {
					bv.ForceNoPublicKeyExpansion()
				}
				for j := range size {
					s := sigs[(off+j)%len(sigs)]
					bv.AddWithOptions(s.pub, s.msg, s.sig, zip215)
				}
				if ok, _ := bv.Verify(rand.Reader); !ok {
					b.Fatal("batch failed")
				}
				off += size
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/sig")
		})
	}
}

package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	abci "github.com/cometbft/cometbft/abci/types"

	cc "carechain"
	"carechain/chain"
	"carechain/client"
	"carechain/ledger"
	"carechain/node"
	"carechain/seed"
)

// ChainID is the chain id of benchmark homes; PatientRegisterTxs must be
// built for it.
const ChainID = "carechain-bench"

// Seed is the seed of the benchmark signers' keys.
const Seed = "carechain-bench"

// GenesisState is the benchmark genesis app_state: the demo world's
// governance member alone (patient.register needs nothing else).
func GenesisState() (json.RawMessage, error) {
	return json.Marshal(seed.NewPopulation(Seed, 0).Genesis())
}

// InitHome writes a one-validator home in dir for chain ChainID with the
// benchmark genesis, listening on free loopback ports, with CometBFT's
// timeout_commit set to timeoutCommit (0: carechain's default; negative:
// CometBFT's 0). The config is carechain's (node.Tune: tx indexer off,
// mempool 50,000, …) whichever application later runs in it.
func InitHome(dir string, timeoutCommit time.Duration) error {
	state, err := GenesisState()
	if err != nil {
		return err
	}
	ports, err := FreePorts(2)
	if err != nil {
		return err
	}
	return node.Init(node.InitOptions{
		Home: dir, Moniker: "bench", ChainID: ChainID, AppState: state,
		P2PAddr: fmt.Sprintf("127.0.0.1:%d", ports[0]), RPCAddr: fmt.Sprintf("127.0.0.1:%d", ports[1]),
		TimeoutCommit: timeoutCommit,
	})
}

// FreePorts returns n loopback TCP ports that were free a moment ago.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// PortsFree reports whether every given loopback port can be bound now.
func PortsFree(ports ...int) bool {
	for _, p := range ports {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// Carechain drives an embedded carechain node in this process: Submit is
// chain.Node.Submit without waiting (what POST /v1/txs does after parsing),
// commits come from the ledger's commit notifier (called in the App's
// Commit, so "committed" means persisted by the application).
func Carechain(n *chain.Node) Target {
	return Target{
		Name: "carechain, 1 validator, in-process mempool",
		Submit: func(ctx context.Context, txs [][]byte) []SubmitResult {
			res := n.Submit(ctx, txs, false)
			out := make([]SubmitResult, len(res))
			for i, r := range res {
				if !r.Accepted {
					out[i] = SubmitResult{Code: r.Code, Kind: r.Kind}
					if r.Code == 0 {
						out[i].Code = cc.Internal.Code()
					}
				}
			}
			return out
		},
		Watch: func(sink func(Block)) (func(), error) {
			cancel := n.App.Notifier().Subscribe(func(outs []ledger.TxOutcome) {
				b := Block{Seen: time.Now(), Height: n.App.Store().LastHeight(), Hashes: make([][32]byte, len(outs))}
				for i, o := range outs {
					copy(b.Hashes[i][:], o.Hash)
					if o.Code != 0 {
						if b.Codes == nil {
							b.Codes = make([]uint32, len(outs))
							b.Kinds = make([]string, len(outs))
						}
						b.Codes[i], b.Kinds[i] = o.Code, cc.KindFromCode(o.Code).String()
					}
				}
				sink(b)
			})
			return cancel, nil
		},
	}
}

// KVApp is CometBFT's kvstore example application with a commit hook: after
// each Commit it hands the block's transactions to a sink, the way
// carechain's ledger notifies its subscribers. Hashing happens in the
// sink's consumer, not in the application.
type KVApp struct {
	*kvstore.Application
	sink   atomic.Pointer[func(Block)]
	txs    [][]byte
	height int64
}

// NewKVApp returns kvstore.NewInMemoryApplication with a commit hook.
func NewKVApp() *KVApp { return &KVApp{Application: kvstore.NewInMemoryApplication()} }

// FinalizeBlock runs kvstore's and remembers the block's transactions.
func (a *KVApp) FinalizeBlock(ctx context.Context, req *abci.FinalizeBlockRequest) (*abci.FinalizeBlockResponse, error) {
	resp, err := a.Application.FinalizeBlock(ctx, req)
	a.txs, a.height = req.Txs, req.Height
	return resp, err
}

// Commit runs kvstore's and then tells the sink.
func (a *KVApp) Commit(ctx context.Context, req *abci.CommitRequest) (*abci.CommitResponse, error) {
	resp, err := a.Application.Commit(ctx, req)
	if s := a.sink.Load(); s != nil && err == nil {
		(*s)(Block{Seen: time.Now(), Height: a.height, Txs: a.txs})
	}
	a.txs = nil
	return resp, err
}

// KVStore drives CometBFT's kvstore app in an embedded node exactly as
// Carechain drives the ledger: node.Node.CheckTx per transaction, commits
// from an in-app hook.
func KVStore(n *node.Node, app *KVApp) Target {
	return Target{
		Name: "kvstore (CometBFT example), 1 validator, in-process mempool",
		Submit: func(ctx context.Context, txs [][]byte) []SubmitResult {
			out := make([]SubmitResult, len(txs))
			for i, t := range txs {
				code, _, err := n.CheckTx(t)
				if err != nil {
					k := cc.KindOf(err)
					out[i] = SubmitResult{Code: k.Code(), Kind: k.String()}
				} else if code != 0 {
					out[i] = SubmitResult{Code: code, Kind: "kvstore"}
				}
			}
			return out
		},
		Watch: func(sink func(Block)) (func(), error) {
			app.sink.Store(&sink)
			return func() { app.sink.Store(nil) }, nil
		},
	}
}

// HTTP drives a carechain network over its API: batches go to POST
// /v1/txs of each node in turn (the node hands them to its in-process
// mempool); commits are observed by polling GET /v1/blocks/{h} on
// watch every pollEvery (so latency includes up to one poll interval).
func HTTP(name string, nodes []*client.Client, watch *client.Client, pollEvery time.Duration) Target {
	var next atomic.Uint64
	return Target{
		Name: name,
		Submit: func(ctx context.Context, txs [][]byte) []SubmitResult {
			c := nodes[int(next.Add(1)-1)%len(nodes)]
			out := make([]SubmitResult, len(txs))
			resp, err := c.Submit(ctx, txs, false)
			if err != nil || len(resp.Results) != len(txs) {
				k := cc.KindOf(err)
				if err == nil {
					k = cc.Internal
				}
				for i := range out {
					out[i] = SubmitResult{Code: k.Code(), Kind: "http " + k.String()}
				}
				return out
			}
			for i, r := range resp.Results {
				if !r.Accepted {
					out[i] = SubmitResult{Code: r.Code, Kind: r.Kind}
					if r.Code == 0 {
						out[i].Code = cc.Internal.Code()
					}
				}
			}
			return out
		},
		Watch: func(sink func(Block)) (func(), error) {
			st, err := watch.Status(context.Background())
			if err != nil {
				return nil, err
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := st.LatestHeight + 1
				for ctx.Err() == nil {
					var b cc.BlockInfo
					err := watch.Get(ctx, fmt.Sprintf("/v1/blocks/%d", h), &b)
					if err != nil || b.Height != h {
						select {
						case <-ctx.Done():
						case <-time.After(pollEvery):
						}
						continue
					}
					blk := Block{Seen: time.Now(), Height: h, Hashes: make([][32]byte, len(b.TxHashes))}
					for i, s := range b.TxHashes {
						hex.Decode(blk.Hashes[i][:], []byte(s))
					}
					sink(blk)
					h++
				}
			}()
			return func() { cancel(); wg.Wait() }, nil
		},
	}
}

// hashTxs fills b.Hashes from b.Txs.
func hashTxs(b *Block) {
	if b.Hashes != nil || b.Txs == nil {
		return
	}
	b.Hashes = make([][32]byte, len(b.Txs))
	for i, t := range b.Txs {
		b.Hashes[i] = sha256.Sum256(t)
	}
}

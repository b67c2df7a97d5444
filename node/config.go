package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	cmtcfg "github.com/cometbft/cometbft/config"
	cmtflags "github.com/cometbft/cometbft/libs/cli/flags"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	"github.com/mitchellh/mapstructure"

	"carechain"
)

// Defaults carechain applies to every CometBFT config it writes (see Tune).
const (
	// DefaultTimeoutCommit is how long a validator waits after committing a
	// block before it starts the next height. It bounds the block interval
	// under load and so the commit latency (§7 of the design measured
	// ~210 ms p50 at 200 ms). CometBFT v1.0.1 still reads it from
	// config.toml [consensus] timeout_commit; the ABCI next_block_delay that
	// replaces it arrives only in later CometBFT releases.
	DefaultTimeoutCommit = 200 * time.Millisecond

	// DefaultEmptyBlocksInterval is how often an idle chain still makes a
	// block, so block time (the ledger's clock for expiries) advances and
	// liveness is visible. Blocks with transactions are proposed at once.
	DefaultEmptyBlocksInterval = 10 * time.Second

	// DefaultBasePort is the first loopback port Init and Testnet use:
	// P2P on DefaultBasePort, RPC on DefaultBasePort+1 (CometBFT's 26656/7).
	DefaultBasePort = 26656

	// PortStride separates the ports of consecutive Testnet nodes: node i
	// listens for P2P on base+i*PortStride and RPC on base+i*PortStride+1;
	// offsets 2..9 are left for the caller (e.g. carechain's HTTP API).
	PortStride = 10

	// DefaultLogLevel is CometBFT's log level in the configs carechain
	// writes: errors only, because embedded CometBFT at "info" logs several
	// lines per block. Edit log_level in config.toml (e.g. "info" or
	// "consensus:info,*:error") to see more.
	DefaultLogLevel = "error"

	// mempoolSize bounds the transactions waiting for a block: ~2 s of a
	// saturated single validator. It is the node's admission control: past
	// it a submission gets code 19 (unavailable, retry) instead of joining
	// a backlog that every validator must check and gossip — with 50,000,
	// four validators on two cores offered twice what they can commit
	// stopped making blocks (183 tx/s committed; 1,170 with 10,000).
	mempoolSize        = 10000
	mempoolCacheSize   = 100000    // ≥ mempool size, so duplicates are caught
	mempoolMaxTxBytes  = 1 << 20   // 1 MiB per transaction
	mempoolMaxTxsBytes = 256 << 20 // 10,000 txs of ~25 KiB, or 64 full 4 MiB blocks
	rpcMaxBodyBytes    = 4 << 20   // a 1 MiB tx hex/base64-encoded in JSON-RPC
	p2pRate            = 100 << 20 // bytes/s per peer connection, each way (CometBFT: 5 MB/s)
	configFileRel      = "config/config.toml"
	defaultChainPrefix = "carechain-"
)

// Tune applies carechain's defaults to a CometBFT config, in place:
//
//   - tx_index indexer "null" (carechain keeps its own read model);
//   - mempool: size 10,000, cache 100,000, max_tx_bytes 1 MiB,
//     max_txs_bytes 256 MiB, recheck on, broadcast on;
//   - consensus.timeout_commit = timeoutCommit, or DefaultTimeoutCommit when
//     it is 0 (pass a negative value for CometBFT's 0: "go on as soon as all
//     precommits are in"); create_empty_blocks true with
//     DefaultEmptyBlocksInterval between empty blocks;
//   - RPC and P2P listen on 127.0.0.1 (26657 / 26656); rpc.max_body_bytes
//     4 MiB; p2p send_rate and recv_rate 100 MiB/s per peer; pex on but
//     addr_book_strict off only in Testnet;
//   - Prometheus off, log_level DefaultLogLevel;
//   - storage keeps every block and every FinalizeBlock response (no
//     pruning), so the chain can be re-verified and re-indexed from genesis.
//
// Tune does not touch the moniker or the home directory.
func Tune(c *cmtcfg.Config, timeoutCommit time.Duration) {
	c.LogLevel = DefaultLogLevel
	c.TxIndex.Indexer = "null"

	c.Mempool.Size = mempoolSize
	c.Mempool.CacheSize = mempoolCacheSize
	c.Mempool.MaxTxBytes = mempoolMaxTxBytes
	c.Mempool.MaxTxsBytes = mempoolMaxTxsBytes
	// Recheck stays on. The ledger's CheckTx judges a transaction against
	// the committed state plus every admitted, not yet included one, so a
	// signer can pipeline sequences (the gatekeepers do with their node
	// keys, chain.Node.SubmitThen). With recheck off, after a block nothing
	// would tell the app which admitted transactions are still in the
	// mempool (CometBFT may refuse one after CheckTx said OK, e.g. when
	// full), and nothing would evict those a block made invalid until a
	// proposal fails them. The cost recheck had — re-executing every waiting
	// transaction after each block, 5–16 % of the node's CPU in bench/ — is
	// gone when the block is what CheckTx predicted: the app answers the
	// recheck of a transaction whose admission still stands from its
	// admission log, without executing it (ledger/mempool.go).
	c.Mempool.Recheck = true
	c.Mempool.Broadcast = true

	switch {
	case timeoutCommit == 0:
		c.Consensus.TimeoutCommit = DefaultTimeoutCommit
	case timeoutCommit < 0:
		c.Consensus.TimeoutCommit = 0
	default:
		c.Consensus.TimeoutCommit = timeoutCommit
	}
	c.Consensus.SkipTimeoutCommit = false //nolint:staticcheck // deprecated; 0 replaces it
	c.Consensus.CreateEmptyBlocks = true
	c.Consensus.CreateEmptyBlocksInterval = DefaultEmptyBlocksInterval

	c.RPC.ListenAddress = tcpAddr("", DefaultBasePort+1)
	c.RPC.MaxBodyBytes = rpcMaxBodyBytes
	c.RPC.Unsafe = false
	c.P2P.ListenAddress = tcpAddr("", DefaultBasePort)
	// CometBFT's default of 5 MB/s per peer connection throttles a
	// validator's gossip: a block of ~1 MB (3,000 transactions) reaches
	// each peer in ~0.2 s at best, sharing the connection with the
	// transactions themselves; four validators on two cores took at
	// 3,000 tx/s offered 1.0–1.8 s per block, 0.5–0.7 s with 100 MiB/s
	// (bench/README.md, session 18).
	c.P2P.SendRate = p2pRate
	c.P2P.RecvRate = p2pRate

	c.Instrumentation.Prometheus = false
	c.Storage.DiscardABCIResponses = false
}

// tcpAddr renders a CometBFT listen address on host (127.0.0.1 when empty).
func tcpAddr(host string, port int) string {
	if host == "" {
		host = "127.0.0.1"
	}
	return fmt.Sprintf("tcp://%s:%d", host, port)
}

// normalizeAddr accepts "host:port" or "tcp://host:port" and returns the
// tcp:// form CometBFT expects; an empty string stays empty.
func normalizeAddr(a string) string {
	if a == "" || strings.Contains(a, "://") {
		return a
	}
	return "tcp://" + a
}

// LoadConfig reads home/config/config.toml the way CometBFT itself does
// (defaults overlaid with the file, durations like "200ms" and
// comma-separated lists decoded), sets the home directory and validates the
// result. A home without config.toml is a NotFound error.
func LoadConfig(home string) (*cmtcfg.Config, error) {
	const op = "node.LoadConfig"
	home, err := filepath.Abs(home)
	if err != nil {
		return nil, carechain.E(op, carechain.Invalid, err)
	}
	path := filepath.Join(home, configFileRel)
	raw := map[string]any{}
	if _, err := toml.DecodeFile(path, &raw); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, carechain.Errorf(op, carechain.NotFound, "%s has no %s (run init first)", home, configFileRel)
		}
		return nil, carechain.Errorf(op, carechain.Malformed, "%s: %v", path, err)
	}
	c := cmtcfg.DefaultConfig()
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		// The hooks and weak typing viper applies when CometBFT loads it.
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
		WeaklyTypedInput: true,
		Result:           c,
	})
	if err != nil {
		return nil, carechain.E(op, carechain.Internal, err)
	}
	if err := dec.Decode(raw); err != nil {
		return nil, carechain.Errorf(op, carechain.Malformed, "%s: %v", path, err)
	}
	c.SetRoot(home)
	if err := c.ValidateBasic(); err != nil {
		return nil, carechain.Errorf(op, carechain.Invalid, "%s: %v", path, err)
	}
	return c, nil
}

// writeConfig renders c with CometBFT's own commented template. CometBFT's
// writer exits the process on an I/O error, so the file is created here
// first and the writer only replaces bytes in a file known to be writable.
func writeConfig(path string, c *cmtcfg.Config) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	cmtcfg.WriteConfigFile(path, c)
	return nil
}

// cmtLogger adapts a *slog.Logger to CometBFT's logger and applies the
// config's log_level (e.g. "error", "info", "consensus:info,*:error").
func cmtLogger(l *slog.Logger, level string) (cmtlog.Logger, error) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	if level == "" {
		level = DefaultLogLevel
	}
	return cmtflags.ParseLogLevel(level, slogAdapter{l}, cmtcfg.DefaultLogLevel)
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Debug(msg string, kv ...any) { a.log(slog.LevelDebug, msg, kv) }
func (a slogAdapter) Info(msg string, kv ...any)  { a.log(slog.LevelInfo, msg, kv) }
func (a slogAdapter) Error(msg string, kv ...any) { a.log(slog.LevelError, msg, kv) }

func (a slogAdapter) With(kv ...any) cmtlog.Logger { return slogAdapter{a.l.With(fixKV(kv)...)} }

func (a slogAdapter) log(level slog.Level, msg string, kv []any) {
	ctx := context.Background()
	if a.l.Enabled(ctx, level) {
		a.l.Log(ctx, level, msg, fixKV(kv)...)
	}
}

// fixKV makes CometBFT's key/value lists safe for slog: keys that are not
// strings are stringified and an odd trailing value gets a key.
func fixKV(kv []any) []any {
	out := make([]any, 0, len(kv)+1)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			k = fmt.Sprint(kv[i])
		}
		if i+1 == len(kv) {
			out = append(out, "!BADKEY", kv[i])
			break
		}
		out = append(out, k, kv[i+1])
	}
	return out
}

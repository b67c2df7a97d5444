package node

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/crypto"
	"github.com/cometbft/cometbft/crypto/ed25519"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"
	cmttime "github.com/cometbft/cometbft/types/time"

	"carechain"
)

// validatorPower is the voting power every genesis validator gets.
const validatorPower = 10

// InitOptions describe one validator's home for Init. Zero values pick the
// defaults documented on each field.
type InitOptions struct {
	Home    string // required; created if missing
	Moniker string // default: the host name
	// ChainID of a new genesis; default "carechain-" + 6 random hex
	// characters. When genesis.json already exists and ChainID is set, the
	// two must agree.
	ChainID  string
	AppState json.RawMessage // genesis app_state, passed to InitChain
	// P2PAddr and RPCAddr are "host:port" or "tcp://host:port"; default
	// 127.0.0.1:26656 and 127.0.0.1:26657 (loopback only). Set P2PAddr to
	// 0.0.0.0:26656 for a validator other organizations must reach.
	P2PAddr, RPCAddr string
	// TimeoutCommit: 0 means DefaultTimeoutCommit; negative means 0 (see Tune).
	TimeoutCommit time.Duration
	// PrometheusAddr turns on CometBFT's Prometheus metrics on this
	// address (e.g. "127.0.0.1:26660"); empty leaves them off.
	PrometheusAddr string
	// Report, if set, is told about every file Init considers: created is
	// false when an existing file was kept.
	Report func(path string, created bool)
}

// Init writes a standard CometBFT home for ONE validator: config/config.toml
// (tuned by Tune), config/genesis.json (this validator alone, power 10),
// config/node_key.json, config/priv_validator_key.json and
// data/priv_validator_state.json. It is idempotent: files that already exist
// are kept (and reported with created=false), and a new genesis is built
// around an existing validator key. Options that only affect config.toml are
// ignored when config.toml is kept.
func Init(opts InitOptions) error {
	const op = "node.Init"
	if opts.Home == "" {
		return carechain.Errorf(op, carechain.Invalid, "home directory is required")
	}
	return guard(op, func() error {
		home, err := filepath.Abs(opts.Home)
		if err != nil {
			return err
		}
		report := opts.Report
		if report == nil {
			report = func(string, bool) {}
		}
		if err := mkHome(home); err != nil {
			return err
		}

		var c *cmtcfg.Config
		cfgPath := filepath.Join(home, configFileRel)
		if fileExists(cfgPath) {
			if c, err = LoadConfig(home); err != nil {
				return err
			}
			report(cfgPath, false)
		} else {
			c = cmtcfg.DefaultConfig()
			Tune(c, opts.TimeoutCommit)
			if opts.Moniker != "" {
				c.Moniker = opts.Moniker
			}
			if opts.P2PAddr != "" {
				c.P2P.ListenAddress = normalizeAddr(opts.P2PAddr)
			}
			if opts.RPCAddr != "" {
				c.RPC.ListenAddress = normalizeAddr(opts.RPCAddr)
			}
			if opts.PrometheusAddr != "" {
				c.Instrumentation.Prometheus = true
				c.Instrumentation.PrometheusListenAddr = opts.PrometheusAddr
			}
			c.SetRoot(home)
			if err := c.ValidateBasic(); err != nil {
				return carechain.Errorf(op, carechain.Invalid, "config: %v", err)
			}
			if err := writeConfig(cfgPath, c); err != nil {
				return err
			}
			report(cfgPath, true)
		}

		pub, err := ensureValidatorKey(c, report)
		if err != nil {
			return err
		}
		if _, err := ensureNodeKey(c.NodeKeyFile(), report); err != nil {
			return err
		}

		genPath := c.GenesisFile()
		if fileExists(genPath) {
			doc, err := types.GenesisDocFromFile(genPath)
			if err != nil {
				return carechain.Errorf(op, carechain.Malformed, "%s: %v", genPath, err)
			}
			if opts.ChainID != "" && doc.ChainID != opts.ChainID {
				return carechain.Errorf(op, carechain.Conflict,
					"%s already holds chain id %q, not %q", genPath, doc.ChainID, opts.ChainID)
			}
			report(genPath, false)
			return nil
		}
		chainID := opts.ChainID
		if chainID == "" {
			chainID = randomChainID()
		}
		doc := newGenesis(chainID, opts.AppState, []types.GenesisValidator{{
			Address: pub.Address(), PubKey: pub, Power: validatorPower, Name: c.Moniker,
		}})
		if err := saveGenesis(doc, genPath); err != nil {
			return err
		}
		report(genPath, true)
		return nil
	})
}

// TestnetOptions describe a local network of validators for Testnet.
type TestnetOptions struct {
	Dir        string // required; node i's home is Dir/node<i>
	ChainID    string // default "carechain-" + 6 random hex characters
	Validators int    // ≥ 1
	// BasePort: node i listens for P2P on BasePort+i*PortStride and for RPC
	// on the next port, all on 127.0.0.1; default DefaultBasePort.
	BasePort      int
	AppState      json.RawMessage
	TimeoutCommit time.Duration // as in InitOptions
}

// Testnet writes the homes of opts.Validators validators (Dir/node0 …) that
// share one genesis (every validator with power 10), listen on distinct
// loopback ports, and dial each other through persistent_peers. Because all
// peers share 127.0.0.1, addr_book_strict is off and allow_duplicate_ip on.
// It returns the homes in node order, and refuses (Conflict) to overwrite a
// home that already has a genesis. Each home can be started by Start in this
// process or by a separate carechain process.
func Testnet(opts TestnetOptions) ([]string, error) {
	const op = "node.Testnet"
	if opts.Dir == "" || opts.Validators < 1 {
		return nil, carechain.Errorf(op, carechain.Invalid, "need a directory and at least one validator")
	}
	base := opts.BasePort
	if base == 0 {
		base = DefaultBasePort
	}
	if base < 1024 || base+(opts.Validators-1)*PortStride+1 > 65535 {
		return nil, carechain.Errorf(op, carechain.Invalid, "ports from %d do not fit %d validators", base, opts.Validators)
	}
	chainID := opts.ChainID
	if chainID == "" {
		chainID = randomChainID()
	}
	var homes []string
	err := guard(op, func() error {
		dir, err := filepath.Abs(opts.Dir)
		if err != nil {
			return err
		}
		n := opts.Validators
		cfgs := make([]*cmtcfg.Config, n)
		vals := make([]types.GenesisValidator, n)
		peers := make([]string, n)
		for i := range n {
			home := filepath.Join(dir, fmt.Sprintf("node%d", i))
			c := cmtcfg.DefaultConfig()
			Tune(c, opts.TimeoutCommit)
			c.SetRoot(home)
			c.Moniker = fmt.Sprintf("node%d", i)
			p2pPort := base + i*PortStride
			c.P2P.ListenAddress = tcpAddr("", p2pPort)
			c.RPC.ListenAddress = tcpAddr("", p2pPort+1)
			c.P2P.AddrBookStrict = false
			c.P2P.AllowDuplicateIP = true
			if fileExists(c.GenesisFile()) {
				return carechain.Errorf(op, carechain.Conflict, "%s already has a genesis", home)
			}
			if err := mkHome(home); err != nil {
				return err
			}
			quiet := func(string, bool) {}
			pub, err := ensureValidatorKey(c, quiet)
			if err != nil {
				return err
			}
			nk, err := ensureNodeKey(c.NodeKeyFile(), quiet)
			if err != nil {
				return err
			}
			vals[i] = types.GenesisValidator{Address: pub.Address(), PubKey: pub, Power: validatorPower, Name: c.Moniker}
			peers[i] = p2p.IDAddressString(nk.ID(), fmt.Sprintf("127.0.0.1:%d", p2pPort))
			cfgs[i] = c
			homes = append(homes, home)
		}
		doc := newGenesis(chainID, opts.AppState, vals)
		for i, c := range cfgs {
			others := make([]string, 0, n-1)
			for j, p := range peers {
				if j != i {
					others = append(others, p)
				}
			}
			c.P2P.PersistentPeers = strings.Join(others, ",")
			if err := c.ValidateBasic(); err != nil {
				return carechain.Errorf(op, carechain.Invalid, "config: %v", err)
			}
			if err := writeConfig(filepath.Join(homes[i], configFileRel), c); err != nil {
				return err
			}
			if err := saveGenesis(doc, c.GenesisFile()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return homes, nil
}

// ReadGenesis returns the genesis document of the home (its chain id,
// validators, consensus params and raw app_state), validated and completed
// by CometBFT (initial height 1 when unset).
func ReadGenesis(home string) (*types.GenesisDoc, error) {
	const op = "node.ReadGenesis"
	c, err := LoadConfig(home)
	if err != nil {
		return nil, err
	}
	doc, err := types.GenesisDocFromFile(c.GenesisFile())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, carechain.Errorf(op, carechain.NotFound, "%s has no genesis (run init first)", home)
		}
		return nil, carechain.Errorf(op, carechain.Malformed, "%s: %v", c.GenesisFile(), err)
	}
	return doc, nil
}

func newGenesis(chainID string, appState json.RawMessage, vals []types.GenesisValidator) *types.GenesisDoc {
	return &types.GenesisDoc{
		GenesisTime:     cmttime.Now(),
		ChainID:         chainID,
		InitialHeight:   1,
		ConsensusParams: types.DefaultConsensusParams(),
		Validators:      vals,
		AppState:        appState,
	}
}

func saveGenesis(doc *types.GenesisDoc, path string) error {
	if err := doc.ValidateAndComplete(); err != nil {
		return carechain.Errorf("node.genesis", carechain.Invalid, "%v", err)
	}
	return doc.SaveAs(path)
}

// ensureValidatorKey loads or creates the Ed25519 validator key and its
// sign state. A key without a state file gets a fresh state only when the
// home has no block store yet: otherwise a reset state could let the
// validator double-sign, so that is refused.
func ensureValidatorKey(c *cmtcfg.Config, report func(string, bool)) (crypto.PubKey, error) {
	keyFile, stateFile := c.PrivValidatorKeyFile(), c.PrivValidatorStateFile()
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(stateFile), 0o700); err != nil {
		return nil, err
	}
	if !fileExists(keyFile) {
		pv := privval.NewFilePV(ed25519.GenPrivKey(), keyFile, stateFile)
		pv.Save() // key and state; panics on I/O errors (see guard)
		report(keyFile, true)
		report(stateFile, true)
		return pv.Key.PubKey, nil
	}
	key, err := readPVKey(keyFile)
	if err != nil {
		return nil, err
	}
	report(keyFile, false)
	if fileExists(stateFile) {
		if _, err := readPVState(stateFile); err != nil {
			return nil, err
		}
		report(stateFile, false)
	} else {
		if fileExists(filepath.Join(c.DBDir(), "blockstore.db")) {
			return nil, carechain.Errorf("node.Init", carechain.FailedPrecondition,
				"%s is missing but the node has blocks; restore it (a fresh one risks double signing)", stateFile)
		}
		privval.NewFilePV(key.PrivKey, keyFile, stateFile).LastSignState.Save()
		report(stateFile, true)
	}
	return key.PrivKey.PubKey(), nil
}

func ensureNodeKey(path string, report func(string, bool)) (*p2p.NodeKey, error) {
	existed := fileExists(path)
	nk, err := p2p.LoadOrGenNodeKey(path)
	if err != nil {
		return nil, carechain.Errorf("node.Init", carechain.Malformed, "%s: %v", path, err)
	}
	report(path, !existed)
	return nk, nil
}

// readPVKey and readPVState decode the validator files the way privval
// does, but return errors: privval's loaders exit the process instead.
func readPVKey(path string) (*privval.FilePVKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k privval.FilePVKey
	if err := cmtjson.Unmarshal(b, &k); err != nil || k.PrivKey == nil {
		return nil, carechain.Errorf("node.key", carechain.Malformed, "%s is not a validator key: %v", path, err)
	}
	return &k, nil
}

func readPVState(path string) (*privval.FilePVLastSignState, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s privval.FilePVLastSignState
	if err := cmtjson.Unmarshal(b, &s); err != nil {
		return nil, carechain.Errorf("node.key", carechain.Malformed, "%s is not a validator sign state: %v", path, err)
	}
	return &s, nil
}

func mkHome(home string) error {
	for _, d := range []string{home, filepath.Join(home, "config"), filepath.Join(home, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func randomChainID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return defaultChainPrefix + hex.EncodeToString(b[:])
}

// guard runs fn, turning a panic (CometBFT panics on some I/O errors) into
// an Internal error and a plain error into an *carechain.Error of op.
func guard(op string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = carechain.E(op, carechain.Internal, fmt.Errorf("panic: %v", r))
		}
	}()
	if err = fn(); err != nil {
		var ce *carechain.Error
		if !errors.As(err, &ce) {
			err = carechain.E(op, carechain.Internal, err)
		}
	}
	return err
}

// FreeBase finds a BasePort for Testnet whose P2P and RPC ports for n
// nodes (base+i*PortStride and the next) are free on 127.0.0.1 now: the
// first port the system hands out that works, tried up to 50 times.
// Another process may still take a port before the nodes bind it.
func FreeBase(n int) (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, carechain.E("node.FreeBase", carechain.Internal, err)
		}
		base := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if base+(n-1)*PortStride+1 > 65535 {
			continue
		}
		ok := true
		for i := 0; ok && i < n; i++ {
			for _, p := range []int{base + i*PortStride, base + i*PortStride + 1} {
				l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
				if err != nil {
					ok = false
					break
				}
				l.Close()
			}
		}
		if ok {
			return base, nil
		}
	}
	return 0, carechain.Errorf("node.FreeBase", carechain.FailedPrecondition, "no free loopback ports for %d nodes", n)
}

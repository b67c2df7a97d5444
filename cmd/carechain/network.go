package main

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/keystore"
	"carechain/ledger/tx"
	"carechain/node"
	"carechain/seed"
)

// governanceKey creates (or reuses) the key "governance" in a home's
// keystore and returns it as a genesis account.
func governanceKey(home, pass string, scryptN int) (cc.GenesisAccount, error) {
	ks, err := keystore.Open(filepath.Join(home, "keys"))
	if err != nil {
		return cc.GenesisAccount{}, err
	}
	if scryptN > 0 {
		ks.SetScryptN(scryptN)
	}
	k, err := ks.Show("governance")
	if cc.Is(cc.NotFound, err) {
		k, err = ks.Create("governance", pass)
	}
	if err != nil {
		return cc.GenesisAccount{}, err
	}
	return cc.GenesisAccount{DID: k.DID, Kind: cc.KindOrganization, PublicKey: k.PublicKey}, nil
}

// genesisState builds an app_state whose governance is accounts with
// threshold.
func genesisState(accounts []cc.GenesisAccount, threshold int) (json.RawMessage, error) {
	members := make([]cc.DID, len(accounts))
	for i, a := range accounts {
		members[i] = a.DID
	}
	sort.Slice(members, func(i, j int) bool { return members[i] < members[j] })
	return json.Marshal(cc.GenesisState{Accounts: accounts, Governance: cc.Governance{Members: members, Threshold: threshold}})
}

// parseAccounts reads --genesis-account DID=BASE64URLKEY values.
func parseAccounts(vals []string) ([]cc.GenesisAccount, error) {
	var out []cc.GenesisAccount
	for _, v := range vals {
		d, k, ok := strings.Cut(v, "=")
		if !ok {
			return nil, usageError{fmt.Errorf("--genesis-account wants DID=PUBLICKEY, got %q", v)}
		}
		pub, err := tx.DecodeKey(k)
		if err != nil {
			return nil, usageError{fmt.Errorf("--genesis-account %s: %v", d, err)}
		}
		if tx.DeriveDID(pub) != cc.DID(d) {
			return nil, usageError{fmt.Errorf("--genesis-account %s: the key does not derive that DID (it derives %s)", d, tx.DeriveDID(pub))}
		}
		out = append(out, cc.GenesisAccount{DID: cc.DID(d), Kind: cc.KindOrganization, PublicKey: ed25519.PublicKey(pub)})
	}
	return out, nil
}

func newInitCmd(g *globals) *cobra.Command {
	var home, moniker, chainID, httpAddr, p2p, rpc string
	var accounts []string
	var threshold int
	c := &cobra.Command{
		Use:   "init",
		Short: "Write a validator home: CometBFT config.toml, genesis.json, keys",
		Long: `init writes a standard CometBFT home for one validator. The genesis names the
governance members who admit organizations and change validators: give them with
--genesis-account DID=PUBLICKEY (repeat) and --threshold, or leave them out to create
a "governance" key in HOME/keys and make it the only member.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if home == "" {
				return usageError{fmt.Errorf("--home is required")}
			}
			accts, err := parseAccounts(accounts)
			if err != nil {
				return err
			}
			if len(accts) == 0 {
				pass, err := passphrase("new passphrase for the governance key", true)
				if err != nil {
					return err
				}
				a, err := governanceKey(home, pass, 0)
				if err != nil {
					return err
				}
				accts = []cc.GenesisAccount{a}
				fmt.Printf("governance key: %s (in %s)\n", a.DID, filepath.Join(home, "keys"))
			}
			if threshold == 0 {
				threshold = len(accts)/2 + 1
			}
			state, err := genesisState(accts, threshold)
			if err != nil {
				return err
			}
			err = node.Init(node.InitOptions{Home: home, Moniker: moniker, ChainID: chainID, AppState: state, P2PAddr: p2p, RPCAddr: rpc,
				Report: func(p string, created bool) {
					verb := "kept   "
					if created {
						verb = "created"
					}
					fmt.Printf("%s %s\n", verb, p)
				}})
			if err != nil {
				return err
			}
			if err := saveSettings(home, settings{HTTP: httpAddr}); err != nil {
				return err
			}
			fmt.Printf("start it with: carechain start --home %s\n", home)
			return nil
		},
	}
	c.Flags().StringVar(&home, "home", "", "home directory to create")
	c.Flags().StringVar(&moniker, "moniker", "", "this validator's name")
	c.Flags().StringVar(&chainID, "chain-id", "", "chain id (default: carechain-<random>)")
	c.Flags().StringSliceVar(&accounts, "genesis-account", nil, "governance member DID=BASE64URL-PUBLIC-KEY (repeat)")
	c.Flags().IntVar(&threshold, "threshold", 0, "governance approvals needed (default: a majority)")
	c.Flags().StringVar(&httpAddr, "http", "127.0.0.1:8080", "carechain API listen address")
	c.Flags().StringVar(&p2p, "p2p", "", "CometBFT P2P address (default 127.0.0.1:26656)")
	c.Flags().StringVar(&rpc, "rpc", "", "CometBFT RPC address (default 127.0.0.1:26657)")
	return c
}

func newTestnetCmd(g *globals) *cobra.Command {
	var dir, chainID, seedStr string
	var n, basePort, patients int
	var demo bool
	var timeoutCommit time.Duration
	c := &cobra.Command{
		Use:   "testnet",
		Short: "Write N validator homes wired on loopback (then: carechain testnet start)",
		Long: `testnet writes DIR/node0 … DIR/node<N-1>, one validator each, sharing one genesis and
dialing each other on 127.0.0.1. Every node gets a "governance" key in its keystore
(passphrase from CARECHAIN_PASSPHRASE, default "testnet"); governance needs a majority.
Node i serves the carechain API on 127.0.0.1:<base+10i+2>.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" || n < 1 {
				return usageError{fmt.Errorf("--dir and --validators ≥ 1 are required")}
			}
			pass := envOr("CARECHAIN_PASSPHRASE", "testnet")
			var accts []cc.GenesisAccount
			for i := 0; i < n; i++ {
				a, err := governanceKey(filepath.Join(dir, fmt.Sprintf("node%d", i)), pass, keystore.DemoScryptN)
				if err != nil {
					return err
				}
				accts = append(accts, a)
			}
			state, err := genesisState(accts, n/2+1)
			if err != nil {
				return err
			}
			var pop *seed.Population
			if demo {
				pop = seed.NewPopulation(seedStr, patients)
				if state, err = json.Marshal(pop.Genesis()); err != nil {
					return err
				}
			}
			homes, err := node.Testnet(node.TestnetOptions{Dir: dir, ChainID: chainID, Validators: n, BasePort: basePort, AppState: state, TimeoutCommit: timeoutCommit})
			if err != nil {
				return err
			}
			for i, h := range homes {
				addr := fmt.Sprintf("127.0.0.1:%d", basePort+i*node.PortStride+2)
				if err := saveSettings(h, settings{HTTP: addr}); err != nil {
					return err
				}
				fmt.Printf("node%d  %s  API http://%s\n", i, h, addr)
			}
			if demo {
				if err := setUpTestnetDemo(dir, homes, testnetAPIs(homes, basePort), pop); err != nil {
					return err
				}
				fmt.Printf("demo world: keys in %s (passphrase %q); after starting, run: carechain testnet seed --dir %s\n",
					filepath.Join(dir, "keys"), DemoPassphrase, dir)
			}
			fmt.Printf("start all with: carechain testnet start --dir %s\n", dir)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "directory for the node homes")
	c.Flags().IntVar(&n, "validators", 4, "number of validators")
	c.Flags().StringVar(&chainID, "chain-id", "", "chain id (default: carechain-<random>)")
	c.Flags().IntVar(&basePort, "base-port", node.DefaultBasePort, "first loopback port")
	c.Flags().DurationVar(&timeoutCommit, "timeout-commit", 0, "CometBFT timeout_commit (default 200ms)")
	c.Flags().BoolVar(&demo, "demo", false, "use the demo world's genesis (governance: the ministry's admin) and spread the record-holding organizations over the nodes; then `testnet seed`")
	c.Flags().StringVar(&seedStr, "seed", "carechain-demo", "with --demo: seed of the demo identities")
	c.Flags().IntVar(&patients, "patients", 24, "with --demo: number of demo patients")
	c.AddCommand(newTestnetStartCmd(), newTestnetSeedCmd())
	return c
}

func newTestnetStartCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "start",
		Short: "Run every node of a testnet directory as a separate process until Ctrl-C",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sigs := stopSignals()
			homes, _ := filepath.Glob(filepath.Join(dir, "node*"))
			sort.Strings(homes)
			if len(homes) == 0 {
				return cc.Errorf("testnet start", cc.NotFound, "no node homes in %s (run carechain testnet first)", dir)
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			var procs []*exec.Cmd
			for _, h := range homes {
				logf, err := os.OpenFile(filepath.Join(h, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
				if err != nil {
					return err
				}
				p := exec.Command(self, "start", "--home", h)
				p.Stdout, p.Stderr = logf, logf
				if err := p.Start(); err != nil {
					return err
				}
				procs = append(procs, p)
				fmt.Printf("started %s (pid %d, API %s)\n", h, p.Process.Pid, loadSettings(h).HTTP)
			}
			fmt.Println("Ctrl-C stops all nodes.")
			<-sigs
			for _, p := range procs {
				p.Process.Signal(syscall.SIGTERM)
			}
			for _, p := range procs {
				p.Wait()
			}
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "testnet directory")
	return c
}

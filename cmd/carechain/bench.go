package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/bench"
	"carechain/chain"
	"carechain/client"
	"carechain/ledger"
	"carechain/node"
)

func newBenchCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput and commit latency (see bench/README.md)",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newBenchTxCmd())
	c.AddCommand(newBenchRecordsCmd(g))
	c.AddCommand(newBenchEPCISCmd(g))
	return c
}

// benchOptions are the flags of `carechain bench tx`.
type benchOptions struct {
	validators    int
	app           string
	rate, txs     int
	batch         int
	workers       int
	duration      time.Duration
	drain         time.Duration
	dir           string
	keep          bool
	timeoutCommit time.Duration
	cpuProfile    string
	memProfile    string
	sendTo        string
	poll          time.Duration
	nodes         []string
}

func newBenchTxCmd() *cobra.Command {
	var o benchOptions
	c := &cobra.Command{
		Use:   "tx",
		Short: "Send signed patient.register transactions at a target rate; report committed tx/s, commit latency, rejects",
		Long: `bench tx creates a fresh chain in DIR (a temporary directory by default), pre-signs
--txs patient.register transactions (each from a new deterministic key, sequence 0),
then sends them at --rate tx/s in batches of --batch from --workers goroutines for at
most --duration, waits for them to commit, and prints committed tx/s over the steady
window (after a warm-up, until sending ends), p50/p90/p99 submit→commit latency and
rejections by code.

  --validators 1   one embedded validator in this process; transactions go to the
                   in-process mempool (node CheckTx), commits are seen in the ledger's Commit.
  --app kvstore    the same node machinery running CometBFT's kvstore example app
                   with "key=value" transactions of the same size (for the ratio).
  --validators 4   a local testnet, one 'carechain start' process per validator;
                   batches go to POST /v1/txs (of every node in turn, or --send-to first),
                   commits are seen by polling GET /v1/blocks/{h} on node0.

Figures are printed, never judged: compare them with bench/README.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchTx(cmd.Context(), o)
		},
	}
	f := c.Flags()
	f.IntVar(&o.validators, "validators", 1, "number of validators: 1 (in-process) or more (separate processes, load over HTTP)")
	f.StringVar(&o.app, "app", "carechain", "application: carechain or kvstore (1 validator only)")
	f.IntVar(&o.rate, "rate", 0, "offered tx/s (default 12000 with 1 validator, 3500 with more)")
	f.IntVar(&o.txs, "txs", 0, "transactions to pre-sign (default rate × duration)")
	f.IntVar(&o.batch, "batch", 200, "transactions per submit call / HTTP request")
	f.IntVar(&o.workers, "workers", 4, "goroutines submitting batches")
	f.DurationVar(&o.duration, "duration", 20*time.Second, "longest sending time")
	f.DurationVar(&o.drain, "drain", 15*time.Second, "how long to wait for commits after sending")
	f.StringVar(&o.dir, "dir", "", "directory for the node homes (must not exist or be empty; default a temporary one, removed afterwards)")
	f.BoolVar(&o.keep, "keep", false, "keep the temporary directory")
	f.DurationVar(&o.timeoutCommit, "timeout-commit", 0, "CometBFT timeout_commit (default carechain's 200ms)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile during the load to FILE: of this process (node and load) with 1 validator, of node0's process (until it stops) with several")
	f.StringVar(&o.memProfile, "memprofile", "", "write a heap profile of this process (node and load) to FILE when the load ends (1 validator)")
	f.StringVar(&o.sendTo, "send-to", "all", "with several validators: send to all nodes in turn, or only the first")
	f.DurationVar(&o.poll, "poll", 20*time.Millisecond, "with several validators: block polling interval")
	f.StringSliceVar(&o.nodes, "nodes", nil, "load an already running network instead (API URLs; its chain id must be "+bench.ChainID+" and its state fresh)")
	return c
}

func runBenchTx(ctx context.Context, o benchOptions) (err error) {
	if o.validators < 1 || (o.app != "carechain" && o.app != "kvstore") || (o.app == "kvstore" && (o.validators != 1 || len(o.nodes) > 0)) {
		return usageError{fmt.Errorf("--validators ≥ 1 and --app carechain, or --app kvstore with --validators 1")}
	}
	if o.sendTo != "all" && o.sendTo != "first" {
		return usageError{fmt.Errorf("--send-to is all or first")}
	}
	if o.rate == 0 {
		o.rate = 12000
		if o.validators > 1 || len(o.nodes) > 0 {
			o.rate = 3500
		}
	}
	if o.txs == 0 {
		o.txs = int(float64(o.rate) * o.duration.Seconds())
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "carechain-bench-"); err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	} else if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return usageError{fmt.Errorf("--dir %s is not empty (the benchmark needs a fresh chain)", dir)}
	}

	tc := o.timeoutCommit
	if tc == 0 {
		tc = node.DefaultTimeoutCommit
	}
	fmt.Printf("carechain bench tx: %s, %d validator(s), timeout_commit %s, %d CPUs (GOMAXPROCS %d), %s\n",
		o.app, o.validators, tc, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Printf("command: %s\n", strings.Join(os.Args, " "))

	// Pre-sign before anything is timed.
	start := time.Now()
	var raw [][]byte
	if o.app == "kvstore" {
		one, err := bench.PatientRegister(bench.ChainID, bench.Seed, 0)
		if err != nil {
			return err
		}
		raw = bench.KVTxs("bench", o.txs, len(one))
	} else {
		if raw, err = bench.PatientRegisterTxs(bench.ChainID, bench.Seed, o.txs); err != nil {
			return err
		}
	}
	load := bench.NewLoad(raw)
	fmt.Printf("pre-built %d transactions of ~%d bytes in %.1f s\n", len(raw), load.AvgSize(), time.Since(start).Seconds())

	var target bench.Target
	var peers []*client.Client                     // the nodes of a multi-validator network
	var stats *ledger.Stats                        // the App's counters (carechain, 1 validator)
	var phases func(from int64) []node.BlockPhases // the node's block stages (1 validator)
	switch {
	case len(o.nodes) > 0:
		var cs []*client.Client
		for _, u := range o.nodes {
			cs = append(cs, client.New(u))
		}
		id, err := cs[0].ChainID(ctx)
		if err != nil {
			return err
		}
		if id != bench.ChainID {
			return usageError{fmt.Errorf("%s runs chain %q; the pre-signed load is for %q", o.nodes[0], id, bench.ChainID)}
		}
		nodes := cs
		if o.sendTo == "first" {
			nodes = nodes[:1]
		}
		peers = cs
		target = bench.HTTP(fmt.Sprintf("carechain at %s, POST /v1/txs to %s", strings.Join(o.nodes, ","), o.sendTo), nodes, cs[0], o.poll)
		target.CPU = bench.MachineCPU // the nodes' processes are not ours: count the whole machine
	case o.validators > 1:
		net, err := startBenchTestnet(ctx, dir, o)
		if err != nil {
			return err
		}
		defer net.stop()
		nodes := net.clients
		peers = net.clients
		if o.sendTo == "first" {
			nodes = nodes[:1]
		}
		target = bench.HTTP(fmt.Sprintf("carechain, %d validators (separate processes), POST /v1/txs to %s", o.validators, o.sendTo),
			nodes, net.clients[0], o.poll)
		target.CPU = net.cpu
	case o.app == "kvstore":
		home := filepath.Join(dir, "node")
		if err := bench.InitHome(home, o.timeoutCommit); err != nil {
			return err
		}
		app := bench.NewKVApp()
		n, err := node.Start(ctx, home, app, nil)
		if err != nil {
			return err
		}
		defer n.Stop()
		if err := n.WaitForHeight(ctx, 1); err != nil {
			return err
		}
		target = bench.KVStore(n, app)
		phases = n.BlockPhases
	default:
		home := filepath.Join(dir, "node")
		if err := bench.InitHome(home, o.timeoutCommit); err != nil {
			return err
		}
		n, err := chain.Open(ctx, home, nil)
		if err != nil {
			return err
		}
		defer n.Close()
		if err := n.Node.WaitForHeight(ctx, 1); err != nil {
			return err
		}
		target = bench.Carechain(n)
		stats = n.App.Stats()
		phases = n.Node.BlockPhases
	}

	if o.cpuProfile != "" && o.validators <= 1 {
		stop, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	cfg := bench.Config{Rate: o.rate, Batch: o.batch, Workers: o.workers, Duration: o.duration, Drain: o.drain,
		Progress: func(p bench.Progress) {
			fmt.Fprintf(os.Stderr, "  %4.0fs  sent %7d  committed %7d  height %d\n", p.Elapsed.Seconds(), p.Sent, p.Committed, p.Height)
		}}
	rep, err := bench.Run(ctx, target, load, cfg)
	if err != nil {
		return err
	}
	if o.memProfile != "" && o.validators <= 1 {
		if err := writeHeapProfile(o.memProfile); err != nil {
			return err
		}
	}
	fmt.Println()
	rep.Print(os.Stdout)
	if phases != nil {
		bench.SummarizePhases(phases(0), rep.WindowStart, rep.WindowStart.Add(rep.Window)).Print(os.Stdout)
	}
	if len(peers) > 1 {
		fmt.Println(gossipChecks(ctx, peers))
	}
	if stats != nil {
		fmt.Printf("admission log   %d blocks, %d kept the admissions (%d of them not as predicted), %d rechecks answered without executing, %d transactions' admissions reused by FinalizeBlock\n",
			stats.Blocks.Load(), stats.KeptAdmissions.Load(), stats.KeptIndependent.Load(), stats.RechecksAnswered.Load(), stats.Reused.Load())
	}
	return nil
}

// benchNet is a running multi-process testnet.
type benchNet struct {
	procs   []*exec.Cmd
	clients []*client.Client
}

// startBenchTestnet writes o.validators homes under dir (chain
// bench.ChainID, the benchmark genesis, loopback ports that are free now),
// starts one `carechain start` process per home and waits until every node
// answers and the chain has made a block.
func startBenchTestnet(ctx context.Context, dir string, o benchOptions) (*benchNet, error) {
	state, err := bench.GenesisState()
	if err != nil {
		return nil, err
	}
	base := 0
	for b := 36656; b < 60000; b += 100 {
		var ports []int
		for i := range o.validators {
			p := b + i*node.PortStride
			ports = append(ports, p, p+1, p+2)
		}
		if bench.PortsFree(ports...) {
			base = b
			break
		}
	}
	if base == 0 {
		return nil, cc.Errorf("bench", cc.FailedPrecondition, "no free loopback port range for %d validators", o.validators)
	}
	homes, err := node.Testnet(node.TestnetOptions{Dir: dir, ChainID: bench.ChainID, Validators: o.validators, BasePort: base,
		AppState: state, TimeoutCommit: o.timeoutCommit})
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	net := &benchNet{}
	for i, h := range homes {
		addr := fmt.Sprintf("127.0.0.1:%d", base+i*node.PortStride+2)
		if err := saveSettings(h, settings{HTTP: addr}); err != nil {
			net.stop()
			return nil, err
		}
		logf, err := os.OpenFile(filepath.Join(h, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			net.stop()
			return nil, err
		}
		args := []string{"start", "--home", h}
		if i == 0 && o.cpuProfile != "" {
			args = append(args, "--cpuprofile", o.cpuProfile) // node0, until it stops
		}
		p := exec.Command(self, args...)
		p.Stdout, p.Stderr = logf, logf
		if err := p.Start(); err != nil {
			logf.Close()
			net.stop()
			return nil, err
		}
		logf.Close() // the child has its own descriptor
		net.procs = append(net.procs, p)
		net.clients = append(net.clients, client.New("http://"+addr))
	}
	deadline := time.Now().Add(90 * time.Second)
	for _, c := range net.clients {
		for {
			st, err := c.Status(ctx)
			if err == nil && st.LatestHeight >= 2 {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				net.stop()
				return nil, cc.Errorf("bench", cc.FailedPrecondition, "%s did not come up (see %s/stdout.log): %v", c.Base, dir, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	fmt.Printf("testnet of %d validators up in %s (API %s …)\n", o.validators, dir, net.clients[0].Base)
	return net, nil
}

// cpu is the CPU time used so far by the node processes and this one.
func (n *benchNet) cpu() time.Duration {
	total := bench.ProcessCPU()
	for _, p := range n.procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Process.Pid))
		if err != nil {
			continue
		}
		// Fields after the ")" that ends the command name: state is the
		// 3rd field of stat, utime and stime the 14th and 15th.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		var ut, st int64
		fmt.Sscan(f[11], &ut)
		fmt.Sscan(f[12], &st)
		total += time.Duration(ut+st) * (time.Second / 100) // USER_HZ is 100 on Linux
	}
	return total
}

// stop sends SIGTERM to every node process it started, waits up to 20 s,
// then kills whatever is left.
func (n *benchNet) stop() {
	done := make(chan struct{})
	for _, p := range n.procs {
		p.Process.Signal(syscall.SIGTERM)
	}
	go func() {
		for _, p := range n.procs {
			p.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		for _, p := range n.procs {
			p.Process.Kill()
		}
		<-done
	}
	n.procs = nil
}

// startCPUProfile writes a CPU profile of this process to path until the
// returned stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// writeHeapProfile writes the heap profile (live objects as of the last
// garbage collection, and every allocation since the start) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// gossipChecks sums, over nodes, the transactions their mempools received
// from peers and checked in batches (GET /metrics), for the report.
func gossipChecks(ctx context.Context, nodes []*client.Client) string {
	var batches, txs float64
	for _, c := range nodes {
		var body []byte
		if err := c.Get(ctx, "/metrics", &body); err != nil {
			return "gossip checks   unknown: " + err.Error()
		}
		for line := range strings.Lines(string(body)) {
			f := strings.Fields(line)
			if len(f) != 2 {
				continue
			}
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				continue
			}
			switch f[0] {
			case "carechain_mempool_check_batches_total":
				batches += v
			case "carechain_mempool_check_batched_txs_total":
				txs += v
			}
		}
	}
	mean := 0.0
	if batches > 0 {
		mean = txs / batches
	}
	return fmt.Sprintf("gossip checks   %.0f transactions from peers checked in %.0f batches (%.1f per batch), all nodes", txs, batches, mean)
}

// Package bench measures carechain end to end: a load generator that sends
// pre-signed transactions at a target rate in batches, detects when each one
// is committed, and reports committed tx/s over the steady window, commit
// latency percentiles and rejections. The same load shape can be pointed at
// an embedded carechain node, at CometBFT's kvstore example application in
// the same embedded node machinery (for the ratio), or at a multi-process
// testnet over HTTP. See README.md for figures and how to reproduce them.
//
// Benchmarks print figures; nothing here passes or fails on timing.
package bench

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"carechain/node"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// SubmitResult is the admission outcome of one transaction: Code 0 means it
// was accepted into the mempool; otherwise Code (and Kind, a name for it)
// say why it was refused.
type SubmitResult struct {
	Code uint32
	Kind string
}

// SubmitFunc hands a batch of raw transactions to a node and returns one
// result per transaction, in order. It is called from several goroutines.
type SubmitFunc func(ctx context.Context, txs [][]byte) []SubmitResult

// Block is a committed block as a watcher saw it.
type Block struct {
	Height int64
	Seen   time.Time  // when the commit was observed
	Hashes [][32]byte // SHA-256 of each transaction (CometBFT's tx hash)
	Txs    [][]byte   // alternatively the raw transactions (hashed by Run)
	Codes  []uint32   // per transaction; nil means all succeeded
	Kinds  []string   // optional names of Codes
}

// Target is what a load run drives: how to submit and how to learn about
// commits.
type Target struct {
	Name   string
	Submit SubmitFunc
	// Watch starts delivering committed blocks to sink, in height order,
	// until stop is called. sink never blocks and is safe to call from any
	// goroutine (e.g. inside the application's Commit).
	Watch func(sink func(Block)) (stop func(), err error)
	// CPU, if set, returns the CPU time (user + system) used so far by
	// everything under test; Run reports the difference. Default: this
	// process (load generator included).
	CPU func() time.Duration
}

// MachineCPU is the CPU time all processes on this machine have used
// since boot (Linux /proc/stat; 0 elsewhere). Comparing it with the target's
// CPU shows whether something else ran during a measurement.
func MachineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for i, v := range f[1:8] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / 100) // USER_HZ
}

// ProcessCPU is the CPU time this process has used (user + system).
func ProcessCPU() time.Duration { return node.ProcessCPU() }

// Config shapes the load.
type Config struct {
	Rate     int           // offered transactions per second
	Batch    int           // transactions per Submit call (default 200)
	Workers  int           // goroutines calling Submit (default 4)
	Duration time.Duration // longest sending time (default 20 s)
	// Warmup is excluded from the steady window at its start (default 10%
	// of the sending time, at least one block interval's worth: 2 s max).
	Warmup time.Duration
	// Drain is how long to wait after sending for accepted transactions to
	// commit (default 15 s).
	Drain time.Duration
	// Progress, if set, is called about once a second while running.
	Progress func(p Progress)
}

// Progress is a running snapshot.
type Progress struct {
	Elapsed   time.Duration
	Sent      int
	Committed int
	Height    int64
}

func (c *Config) defaults() {
	if c.Batch <= 0 {
		c.Batch = 200
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Duration <= 0 {
		c.Duration = 20 * time.Second
	}
	if c.Warmup <= 0 {
		c.Warmup = min(c.Duration/10, 2*time.Second)
	}
	if c.Drain <= 0 {
		c.Drain = 15 * time.Second
	}
}

// Load is a set of pre-built transactions with their hashes.
type Load struct {
	Txs    [][]byte
	Hashes [][32]byte
	index  map[[32]byte]int32
	bytes  int
}

// NewLoad hashes txs (in parallel) and indexes them by hash. Transactions
// must be distinct.
func NewLoad(txs [][]byte) *Load {
	l := &Load{Txs: txs, Hashes: make([][32]byte, len(txs))}
	parallel(len(txs), func(i int) { l.Hashes[i] = sha256.Sum256(txs[i]) })
	l.index = make(map[[32]byte]int32, len(txs))
	for i, h := range l.Hashes {
		l.index[h] = int32(i)
		l.bytes += len(txs[i])
	}
	return l
}

// AvgSize is the mean transaction size in bytes.
func (l *Load) AvgSize() int {
	if len(l.Txs) == 0 {
		return 0
	}
	return l.bytes / len(l.Txs)
}

// Report is the outcome of a run.
type Report struct {
	Target      string
	Config      Config
	TxBytes     int // mean transaction size
	Offered     int // transactions handed to Submit
	SendTime    time.Duration
	SendLagMax  time.Duration // how far the sender fell behind its schedule
	Accepted    int
	Rejected    map[string]int // by "code kind", admission and in-block
	Committed   int            // in a block with code 0
	FailedBlock int            // in a block with a non-zero code
	Uncommitted int            // accepted but not seen in a block before the drain ended
	Foreign     int            // transactions in blocks that this run did not send

	Window       time.Duration // the steady window: warmup .. end of sending
	WindowStart  time.Time     // when the steady window began
	WindowTxs    int           // committed in the window
	TxPerSec     float64       // committed in the window / window length
	OverallTPS   float64       // all committed / (last commit − first submit)
	Blocks       int           // blocks in the window
	TxsPerBlock  float64       // mean over blocks in the window
	BlockGapMean time.Duration // mean interval between blocks in the window
	BlockGapMax  time.Duration

	CPU      time.Duration // CPU used from the first submit to the end of the drain
	CPUTime  time.Duration // wall time it was measured over
	CPUPerTx time.Duration // CPU / committed txs
	// MachineCPU is what every process on the machine used meanwhile; much
	// more than CPU means the measurement was disturbed.
	MachineCPU time.Duration

	Latency Percentiles // submit → commit of txs submitted in the window
	All     Percentiles // submit → commit of every committed tx
}

// Percentiles of commit latency.
type Percentiles struct {
	N                       int
	P50, P90, P99, Max, Avg time.Duration
}

func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	slices.Sort(d)
	at := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(d)))) - 1
		return d[max(0, min(i, len(d)-1))]
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return Percentiles{N: len(d), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: d[len(d)-1], Avg: sum / time.Duration(len(d))}
}

// collector gathers blocks from a watcher without ever blocking it.
type collector struct {
	mu     sync.Mutex
	queue  []Block
	wake   chan struct{}
	closed bool
}

func (c *collector) sink(b Block) {
	c.mu.Lock()
	if !c.closed {
		c.queue = append(c.queue, b)
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *collector) take() []Block {
	c.mu.Lock()
	q := c.queue
	c.queue = nil
	c.mu.Unlock()
	return q
}

// Run sends load's transactions to t at cfg.Rate in batches of cfg.Batch
// from cfg.Workers goroutines for at most cfg.Duration (fewer if the load
// runs out), then waits up to cfg.Drain for the accepted ones to commit, and
// reports. Only ctx's cancellation or a watcher failure returns an error.
func Run(ctx context.Context, t Target, load *Load, cfg Config) (*Report, error) {
	cfg.defaults()
	if cfg.Rate <= 0 {
		return nil, errors.New("bench: rate must be positive")
	}
	n := len(load.Txs)
	if n == 0 {
		return nil, errors.New("bench: no transactions")
	}
	const never = int64(-1)
	submitAt := make([]int64, n) // ns since t0, set by workers
	admCode := make([]uint32, n) // admission code, set by workers
	commitAt := make([]int64, n) // ns since t0, set by the collector
	blkCode := make([]uint32, n) // in-block code, set by the collector
	for i := range commitAt {
		commitAt[i] = never
	}

	col := &collector{wake: make(chan struct{}, 1)}
	stopWatch, err := t.Watch(col.sink)
	if err != nil {
		return nil, fmt.Errorf("bench: watching commits: %w", err)
	}
	var stopOnce sync.Once
	stop := func() { stopOnce.Do(stopWatch) }
	defer stop()

	rep := &Report{Target: t.Name, Config: cfg, TxBytes: load.AvgSize(), Rejected: map[string]int{}}
	var repMu sync.Mutex // guards rep.Rejected while workers and the collector run

	cpu := t.CPU
	if cpu == nil {
		cpu = ProcessCPU
	}
	cpu0, mcpu0 := cpu(), MachineCPU()
	t0 := time.Now()
	var (
		committed   atomic.Int64 // ours, code 0
		failed      atomic.Int64 // ours, non-zero code in a block
		lastHeight  atomic.Int64
		foreign     int
		blockTimes  []int64 // ns since t0 of each block seen
		blockCounts []int   // our committed txs in it
		colDone     = make(chan struct{})
		colStop     = make(chan struct{})
	)
	process := func(blocks []Block) {
		for _, b := range blocks {
			hashTxs(&b)
			at := int64(b.Seen.Sub(t0))
			ours, bad := 0, 0
			for j, h := range b.Hashes {
				i, ok := load.index[h]
				if !ok {
					foreign++
					continue
				}
				if commitAt[i] != never {
					continue
				}
				commitAt[i] = at
				if b.Codes != nil && b.Codes[j] != 0 {
					blkCode[i] = b.Codes[j]
					kind := ""
					if b.Kinds != nil {
						kind = b.Kinds[j]
					}
					repMu.Lock()
					rep.Rejected[codeName(b.Codes[j], kind)+" (in block)"]++
					repMu.Unlock()
					bad++
					continue
				}
				ours++
			}
			committed.Add(int64(ours))
			failed.Add(int64(bad))
			lastHeight.Store(b.Height)
			blockTimes = append(blockTimes, at)
			blockCounts = append(blockCounts, ours)
		}
	}
	// Collector: matches committed hashes to our transactions.
	go func() {
		defer close(colDone)
		for {
			process(col.take())
			select {
			case <-col.wake:
			case <-colStop:
				process(col.take())
				return
			}
		}
	}()

	// Sender: a scheduler releases batch k at t0 + k·Batch/Rate; workers
	// submit. If the workers fall behind, the schedule slips (SendLagMax).
	type batch struct{ lo, hi int }
	batches := make(chan batch, cfg.Workers)
	var accepted atomic.Int64
	var sent atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rejected := map[string]int{}
			for b := range batches {
				now := int64(time.Since(t0))
				for i := b.lo; i < b.hi; i++ {
					submitAt[i] = now
				}
				res := t.Submit(ctx, load.Txs[b.lo:b.hi])
				acc := 0
				for j, r := range res {
					if r.Code == 0 {
						acc++
						continue
					}
					admCode[b.lo+j] = r.Code
					rejected[codeName(r.Code, r.Kind)]++
				}
				accepted.Add(int64(acc))
				sent.Add(int64(b.hi - b.lo))
			}
			repMu.Lock()
			for k, v := range rejected {
				rep.Rejected[k] += v
			}
			repMu.Unlock()
		}()
	}

	progressDone := make(chan struct{})
	progressStop := make(chan struct{})
	go func() {
		defer close(progressDone)
		if cfg.Progress == nil {
			return
		}
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-progressStop:
				return
			case <-tk.C:
				cfg.Progress(Progress{Elapsed: time.Since(t0), Sent: int(sent.Load()), Committed: int(committed.Load()), Height: lastHeight.Load()})
			}
		}
	}()

	interval := time.Duration(float64(time.Second) * float64(cfg.Batch) / float64(cfg.Rate))
	var lagMax time.Duration
	offered := 0
	canceled := false
schedule:
	for k := 0; ; k++ {
		lo := k * cfg.Batch
		if lo >= n {
			break
		}
		due := time.Duration(k) * interval
		if due >= cfg.Duration || time.Since(t0) >= cfg.Duration {
			break // on schedule or not, sending stops after Duration
		}
		if wait := due - time.Since(t0); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				canceled = true
				break schedule
			}
		}
		hi := min(lo+cfg.Batch, n)
		select {
		case batches <- batch{lo, hi}:
		case <-ctx.Done():
			canceled = true
			break schedule
		}
		if lag := time.Since(t0) - due; lag > lagMax {
			lagMax = lag
		}
		offered = hi
	}
	close(batches)
	wg.Wait()
	sendEnd := time.Since(t0)
	rep.Offered = offered
	rep.SendTime = sendEnd
	rep.SendLagMax = lagMax
	rep.Accepted = int(accepted.Load())

	// Drain: wait until every accepted tx is seen in a block.
	deadline := time.Now().Add(cfg.Drain)
	for !canceled && int(committed.Load()+failed.Load()) < rep.Accepted && time.Now().Before(deadline) {
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			canceled = true
		}
	}
	rep.CPU, rep.CPUTime, rep.MachineCPU = cpu()-cpu0, time.Since(t0), MachineCPU()-mcpu0
	close(progressStop)
	<-progressDone
	stop()
	close(colStop)
	<-colDone
	if canceled {
		return nil, ctx.Err()
	}
	rep.Foreign = foreign
	rep.FailedBlock = int(failed.Load())

	// Figures.
	warm := int64(cfg.Warmup)
	end := int64(sendEnd)
	if warm >= end {
		warm = 0
	}
	var inWindow, all []time.Duration
	var lastCommit int64
	for i := 0; i < offered; i++ {
		if admCode[i] != 0 {
			continue
		}
		c := commitAt[i]
		if c == never {
			rep.Uncommitted++
			continue
		}
		if blkCode[i] != 0 {
			continue
		}
		rep.Committed++
		lat := time.Duration(c - submitAt[i])
		all = append(all, lat)
		if submitAt[i] >= warm && submitAt[i] <= end {
			inWindow = append(inWindow, lat)
		}
		if c >= warm && c <= end {
			rep.WindowTxs++
		}
		lastCommit = max(lastCommit, c)
	}
	rep.Window = time.Duration(end - warm)
	rep.WindowStart = t0.Add(time.Duration(warm))
	if rep.Window > 0 {
		rep.TxPerSec = float64(rep.WindowTxs) / rep.Window.Seconds()
	}
	if lastCommit > 0 {
		rep.OverallTPS = float64(rep.Committed) / time.Duration(lastCommit).Seconds()
	}
	var prev int64 = -1
	var gaps []time.Duration
	for j, at := range blockTimes {
		if at < warm || at > end {
			prev = at
			continue
		}
		rep.Blocks++
		rep.TxsPerBlock += float64(blockCounts[j])
		if prev >= 0 {
			gaps = append(gaps, time.Duration(at-prev))
		}
		prev = at
	}
	if rep.Blocks > 0 {
		rep.TxsPerBlock /= float64(rep.Blocks)
	}
	if len(gaps) > 0 {
		var sum time.Duration
		for _, g := range gaps {
			sum += g
			rep.BlockGapMax = max(rep.BlockGapMax, g)
		}
		rep.BlockGapMean = sum / time.Duration(len(gaps))
	}
	if rep.Committed > 0 {
		rep.CPUPerTx = rep.CPU / time.Duration(rep.Committed)
	}
	rep.Latency = percentiles(inWindow)
	rep.All = percentiles(all)
	return rep, nil
}

func codeName(code uint32, kind string) string {
	if kind == "" {
		return fmt.Sprintf("code %d", code)
	}
	return fmt.Sprintf("code %d %s", code, kind)
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	fmt.Fprintf(tw, "target\t%s\n", r.Target)
	fmt.Fprintf(tw, "load\t%d tx/s offered, batches of %d from %d workers, %d-byte txs\n", r.Config.Rate, r.Config.Batch, r.Config.Workers, r.TxBytes)
	fmt.Fprintf(tw, "sent\t%d txs in %.1f s (%.0f tx/s), max schedule lag %s\n", r.Offered, r.SendTime.Seconds(), float64(r.Offered)/r.SendTime.Seconds(), ms(r.SendLagMax))
	fmt.Fprintf(tw, "accepted\t%d\n", r.Accepted)
	fmt.Fprintf(tw, "committed\t%d (uncommitted after drain: %d, failed in block: %d)\n", r.Committed, r.Uncommitted, r.FailedBlock)
	fmt.Fprintf(tw, "COMMITTED TX/S\t%.0f  (steady window %.1f s after %.1f s warm-up: %d txs)\n", r.TxPerSec, r.Window.Seconds(), r.Config.Warmup.Seconds(), r.WindowTxs)
	fmt.Fprintf(tw, "overall tx/s\t%.0f  (all committed / first submit → last commit)\n", r.OverallTPS)
	fmt.Fprintf(tw, "COMMIT LATENCY\tp50 %s  p90 %s  p99 %s  max %s  (window, n=%d)\n", ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max), r.Latency.N)
	fmt.Fprintf(tw, "latency (all)\tp50 %s  p99 %s  max %s  (n=%d)\n", ms(r.All.P50), ms(r.All.P99), ms(r.All.Max), r.All.N)
	fmt.Fprintf(tw, "cpu\t%.1f s over %.1f s (%.2f cores), %.0f µs per committed tx\n", r.CPU.Seconds(), r.CPUTime.Seconds(),
		r.CPU.Seconds()/r.CPUTime.Seconds(), float64(r.CPUPerTx)/float64(time.Microsecond))
	if r.MachineCPU > 0 {
		other := (r.MachineCPU - r.CPU).Seconds() / r.CPUTime.Seconds()
		note := ""
		if other > 0.15 {
			note = "  ← other processes were busy: repeat on a quiet machine"
		}
		fmt.Fprintf(tw, "machine\t%.2f cores busy in all, %.2f by other processes%s\n", r.MachineCPU.Seconds()/r.CPUTime.Seconds(), max(other, 0), note)
	}
	fmt.Fprintf(tw, "blocks\t%d in window, %.0f txs/block, interval mean %s max %s\n", r.Blocks, r.TxsPerBlock, ms(r.BlockGapMean), ms(r.BlockGapMax))
	if len(r.Rejected) == 0 {
		fmt.Fprintf(tw, "rejected\tnone\n")
	} else {
		keys := make([]string, 0, len(r.Rejected))
		for k := range r.Rejected {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(tw, "rejected\t%d × %s\n", r.Rejected[k], k)
		}
	}
	if r.Foreign > 0 {
		fmt.Fprintf(tw, "other txs\t%d in blocks not sent by this run\n", r.Foreign)
	}
	tw.Flush()
}

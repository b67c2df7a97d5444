package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/bench"
	"carechain/client"
	"carechain/ledger"
)

// cpuUse is how busy the machine was during a phase.
type cpuUse struct {
	Cores      float64 `json:"cores"`       // used by this process (node and load generator)
	OtherCores float64 `json:"other_cores"` // used by other processes meanwhile
}

// cpuMeter measures a phase's CPU use.
type cpuMeter struct {
	wall          time.Time
	self, machine time.Duration
}

func startCPU() cpuMeter {
	return cpuMeter{wall: time.Now(), self: bench.ProcessCPU(), machine: bench.MachineCPU()}
}

func (m cpuMeter) stop() cpuUse {
	wall := time.Since(m.wall).Seconds()
	if wall <= 0 {
		return cpuUse{}
	}
	self := (bench.ProcessCPU() - m.self).Seconds()
	u := cpuUse{Cores: self / wall}
	if m.machine > 0 {
		u.OtherCores = max(0, ((bench.MachineCPU()-m.machine).Seconds()-self)/wall)
	}
	return u
}

// latencyMS are latency percentiles in milliseconds.
type latencyMS struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
	N   int     `json:"n"`
}

// latencies summarizes ds (which it sorts).
func latencies(ds []time.Duration) latencyMS {
	if len(ds) == 0 {
		return latencyMS{}
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		i := int(q*float64(len(ds))+0.5) - 1
		i = min(max(i, 0), len(ds)-1)
		return float64(ds[i]) / float64(time.Millisecond)
	}
	return latencyMS{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: float64(ds[len(ds)-1]) / float64(time.Millisecond), N: len(ds)}
}

// blockStats describes the blocks committed during a phase.
type blockStats struct {
	Blocks             int     `json:"blocks"`
	IntervalMeanMS     float64 `json:"interval_mean_ms"`
	IntervalMaxMS      float64 `json:"interval_max_ms"`
	Txs                int     `json:"txs"`
	AccessLogTxs       int     `json:"access_log_txs"`
	AccessEvents       int     `json:"access_events"`
	AccessLogTxsPerBlk float64 `json:"access_log_txs_per_block"`
	EventsPerBlock     float64 `json:"events_per_block"`
	EventsPerLogTx     float64 `json:"events_per_access_log_tx"`
}

// committedBlock is what the block watcher keeps of a committed block.
type committedBlock struct {
	at           time.Time
	txs, logTxs  int
	accessEvents int
}

// blockWatcher records every block the ledger commits (from its commit
// notifier, in the App's Commit: cheap, no HTTP).
type blockWatcher struct {
	mu     sync.Mutex
	blocks []committedBlock
}

var (
	eventsPrefix = []byte(`{"events":`)
	statusField  = []byte(`"status":`)
)

func (w *blockWatcher) commit(outs []ledger.TxOutcome) {
	b := committedBlock{at: time.Now(), txs: len(outs)}
	for _, o := range outs {
		// An access.log result is {"events":[{…,"status":…},…]}.
		if o.Code == 0 && bytes.HasPrefix(o.Data, eventsPrefix) {
			b.logTxs++
			b.accessEvents += bytes.Count(o.Data, statusField)
		}
	}
	w.mu.Lock()
	w.blocks = append(w.blocks, b)
	w.mu.Unlock()
}

// stats summarizes the blocks committed in [from, to).
func (w *blockWatcher) stats(from, to time.Time) blockStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	var s blockStats
	var prev time.Time
	var gaps []time.Duration
	for _, b := range w.blocks {
		if b.at.Before(from) {
			prev = b.at
			continue
		}
		if !b.at.Before(to) {
			break
		}
		s.Blocks++
		s.Txs += b.txs
		s.AccessLogTxs += b.logTxs
		s.AccessEvents += b.accessEvents
		if !prev.IsZero() {
			gaps = append(gaps, b.at.Sub(prev))
		}
		prev = b.at
	}
	if len(gaps) > 0 {
		var sum time.Duration
		for _, g := range gaps {
			sum += g
			s.IntervalMaxMS = max(s.IntervalMaxMS, float64(g)/float64(time.Millisecond))
		}
		s.IntervalMeanMS = float64(sum) / float64(len(gaps)) / float64(time.Millisecond)
	}
	if s.Blocks > 0 {
		s.AccessLogTxsPerBlk = float64(s.AccessLogTxs) / float64(s.Blocks)
		s.EventsPerBlock = float64(s.AccessEvents) / float64(s.Blocks)
	}
	if s.AccessLogTxs > 0 {
		s.EventsPerLogTx = float64(s.AccessEvents) / float64(s.AccessLogTxs)
	}
	return s
}

// benchReader is a patient reading its own records.
type benchReader struct {
	signer  *client.Signer
	patient cc.DID
	ids     []string
}

// readSample is one finished read.
type readSample struct {
	end     time.Time
	latency time.Duration
}

// read runs the readers for o.duration: o.readers closed-loop readers
// (each sends its next read when the last one is answered), or, with
// o.rate, an open loop: reads are due at o.rate per second whatever the
// answers, sent by at most o.readers at once, and a read's latency counts
// from when it was due (so a slow answer delays no measurement).
//
// Requests signed ahead (--presign) are signed first; then before is
// called and the clock starts.
func (rep *benchRecordsReport) read(ctx context.Context, c *client.Client, readers []benchReader, nrec int, o benchRecordsOptions, before func() error) (*readsPhase, error) {
	ph := &readsPhase{Readers: o.readers, Patients: len(readers), Records: nrec, DurationSeconds: o.duration.Seconds(),
		WarmupSeconds: o.warmup.Seconds(), Errors: map[string]int{}, Loop: "closed", OfferedPerSecond: o.rate}
	if o.rate > 0 {
		ph.Loop = "open"
	}
	samples := make([][]readSample, o.readers)
	errs := make([]map[string]int, o.readers)
	var sample atomic.Value
	var ok, failed, late, signedInLoop atomic.Int64
	pathOf := func(r, i int) string {
		rd := readers[r%len(readers)]
		return "/fhir/" + rd.ids[i%len(rd.ids)]
	}
	sign := func(r, i int) (access.SignedRead, error) {
		rd := readers[r%len(readers)]
		return c.SignFHIRRead(ctx, rd.signer, client.ReadOptions{Patient: rd.patient, Purpose: "PATRQT"}, pathOf(r, i))
	}
	pre, err := presign(ctx, o, len(readers), sign)
	if err != nil {
		return nil, fmt.Errorf("signing reads ahead: %w", err)
	}
	if err := before(); err != nil {
		return nil, err
	}
	ph.Presigned = pre.count()
	ph.HTTP = o.http
	senders := make([]readSender, o.readers)
	for k := range senders {
		if o.http == "raw" {
			senders[k] = newRawSender(rep.API)
		} else {
			senders[k] = clientSender{c}
		}
	}
	defer func() {
		for _, s := range senders {
			s.close()
		}
	}()
	start := time.Now()
	from, end := start.Add(o.warmup), start.Add(o.duration)
	// CPU over the window: a goroutine starts the meter after the warm-up
	// and stops it at the end (or at an interrupt).
	cpuCh := make(chan cpuUse, 1)
	go func() {
		select {
		case <-time.After(time.Until(from)):
		case <-ctx.Done():
			cpuCh <- cpuUse{}
			return
		}
		m := startCPU()
		select {
		case <-time.After(time.Until(end)):
		case <-ctx.Done():
		}
		cpuCh <- m.stop()
	}()
	done := make(chan struct{})
	go func() { // progress
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(os.Stderr, "  %4.0fs  reads %7d  errors %5d  blocks %d\n", time.Since(start).Seconds(), ok.Load(), failed.Load(), rep.blockWatcher.count())
			}
		}
	}()
	// one makes, for sender k, a read by reader r of its record i (modulo
	// their numbers) due at due, with sr if it was signed ahead.
	one := func(k, r, i int, due time.Time, sr access.SignedRead) {
		var err error
		if sr.Sig == "" {
			signedInLoop.Add(1)
			sr, err = sign(r, i)
		}
		if err == nil {
			err = senders[k].send(ctx, sr, pathOf(r, i))
		}
		now := time.Now()
		if err != nil {
			failed.Add(1)
			errs[k][errorKind(err)]++
			sample.CompareAndSwap(nil, err.Error())
			return
		}
		ok.Add(1)
		samples[k] = append(samples[k], readSample{end: now, latency: now.Sub(due)})
	}
	var wg sync.WaitGroup
	if o.rate == 0 {
		for k := range o.readers {
			errs[k] = map[string]int{}
			wg.Go(func() {
				for j := 0; ctx.Err() == nil; j++ {
					t := time.Now()
					if !t.Before(end) {
						return
					}
					one(k, k, k*7+j, t, pre.sender(k, j))
				}
			})
		}
	} else {
		// The schedule: read n is due at start + n/rate. A read due while
		// every sender is busy waits in the queue (its latency counts from
		// when it was due); one that finds the queue full too is counted
		// as not sent.
		queue := make(chan int, o.readers)
		for k := range o.readers {
			errs[k] = map[string]int{}
			wg.Go(func() {
				for n := range queue {
					one(k, n, n/len(readers), start.Add(time.Duration(float64(n)/o.rate*float64(time.Second))), pre.read(n))
				}
			})
		}
		t := time.NewTicker(time.Millisecond)
		for n := 0; ctx.Err() == nil; {
			now := time.Now()
			if !now.Before(end) {
				break
			}
			for due := int(now.Sub(start).Seconds() * o.rate); n <= due; n++ {
				select {
				case queue <- n:
				default:
					late.Add(1)
				}
			}
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
		t.Stop()
		close(queue)
	}
	wg.Wait()
	close(done)
	ph.CPU = <-cpuCh
	window := end.Sub(from)
	ph.WindowSeconds = window.Seconds()
	var lat []time.Duration
	for _, ss := range samples {
		ph.AllReads += len(ss)
		for _, s := range ss {
			if !s.end.Before(from) && s.end.Before(end) {
				lat = append(lat, s.latency)
			}
		}
	}
	for _, m := range errs {
		for k, n := range m {
			ph.Errors[k] += n
		}
	}
	if s, _ := sample.Load().(string); s != "" {
		ph.ErrorSample = s
	}
	ph.NotSent = int(late.Load())
	ph.SignedInLoop = int(signedInLoop.Load())
	ph.Reads = len(lat)
	ph.ReadsPerSecond = float64(ph.Reads) / window.Seconds()
	ph.Latency = latencies(lat)
	ph.Blocks = rep.blockWatcher.stats(from, end)
	if ph.Latency.P50 > 0 && o.rate == 0 {
		ph.BlockBound = float64(o.readers) / (ph.Latency.P50 / 1000)
	}
	return ph, nil
}

// count returns how many blocks the watcher has seen.
func (w *blockWatcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.blocks)
}

// print writes the report for people.
func (rep *benchRecordsReport) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	p("target", "carechain, 1 validator (embedded CometBFT, timeout_commit %.0f ms), HTTP API %s", rep.TimeoutCommitMS, rep.API)
	p("machine", "%d CPUs, GOMAXPROCS %d, %s, load average at start %s", rep.CPUs, rep.GOMAXPROCS, rep.Go, rep.LoadAverage)
	p("setup", "fresh demo home, node start, %d demo patients seeded: %.1f s", rep.DemoPatients, rep.SetupSeconds)
	d := rep.Directory
	p("directory", "%d bundles, %d resources in %.2f s (%.0f resources/s; not counted below)", d.Bundles, d.Resources, d.ElapsedSeconds, d.ResourcesPerSecond)
	in := rep.Ingest
	p("ingest", "%d patient bundles (%d entries) from %s, %d at a time, POST /fhir at %s signed by %s",
		in.Bundles, in.Entries, rep.Synthea, in.Workers, benchRecordsOrg, benchRecordsAuthor)
	p("INGEST RESOURCES/S", "%.0f  (%d resources anchored in %.2f s, first POST → last answer)", in.ResourcesPerSecond, in.Resources, in.ElapsedSeconds)
	p("bundle latency", "p50 %.0f ms  p90 %.0f ms  max %.0f ms  (POST → answer, n=%d)", in.BundleSeconds.P50, in.BundleSeconds.P90, in.BundleSeconds.Max, in.BundleSeconds.N)
	p("ingest cpu", "%s", cpuLine(in.CPU, ""))
	p("ingest blocks", "%d, %d txs, interval mean %.0f ms max %.0f ms", in.Blocks.Blocks, in.Blocks.Txs, in.Blocks.IntervalMeanMS, in.Blocks.IntervalMaxMS)
	if len(in.Errors) > 0 {
		p("ingest errors", "%s", countsLine(in.Errors))
	}
	if r := rep.Reads; r != nil {
		if r.Loop == "open" {
			p("reads", "open loop: %.0f reads/s due, at most %d in flight, over %d patients' %d records, GET /fhir/{Type}/{id} signed by the patient, purpose PATRQT",
				r.OfferedPerSecond, r.Readers, r.Patients, r.Records)
		} else {
			p("reads", "%d readers (closed loop) over %d patients' %d records, GET /fhir/{Type}/{id} signed by the patient, purpose PATRQT", r.Readers, r.Patients, r.Records)
		}
		p("load generator", "sends with %s; %d reads signed ahead (--presign), %d as they were made", httpName(r.HTTP), r.Presigned, r.SignedInLoop)
		p("READS/S", "%.0f  (successful reads finished in the %.1f s window after %.1f s warm-up: %d)", r.ReadsPerSecond, r.WindowSeconds, r.WarmupSeconds, r.Reads)
		p("READ LATENCY", "p50 %.0f ms  p90 %.0f ms  p99 %.0f ms  max %.0f ms  (window, n=%d)", r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max, r.Latency.N)
		if r.Loop == "open" {
			p("open loop", "latency from when each read was due; %d reads not sent (due while all %d senders were busy and the queue full)", r.NotSent, r.Readers)
		} else {
			p("closed loop", "readers / p50 = %.0f reads/s: more readers are needed for more reads/s at this latency", r.BlockBound)
		}
		if len(r.Errors) == 0 {
			p("read errors", "none (%d successful reads in all)", r.AllReads)
		} else {
			p("read errors", "%s (%d successful reads in all)", countsLine(r.Errors), r.AllReads)
			p("first error", "%s", r.ErrorSample)
		}
		p("reads cpu", "%s", cpuLine(r.CPU, fmt.Sprintf(", %.0f µs per read", perRead(r))))
		b := r.Blocks
		p("read blocks", "%d in window, interval mean %.0f ms max %.0f ms", b.Blocks, b.IntervalMeanMS, b.IntervalMaxMS)
		p("access.log", "%.1f txs/block, %.0f events/block, %.0f events/tx (%d txs, %d events in window)",
			b.AccessLogTxsPerBlk, b.EventsPerBlock, b.EventsPerLogTx, b.AccessLogTxs, b.AccessEvents)
	}
	if rep.Profile != "" {
		p("cpu profile", "%s (%s)", rep.Profile, rep.ProfilePhase)
	}
	if rep.Home != "" {
		p("home", "%s (kept)", rep.Home)
	}
	tw.Flush()
}

// perRead is the process CPU per successful read of the window, in µs.
func perRead(r *readsPhase) float64 {
	if r.ReadsPerSecond == 0 {
		return 0
	}
	return r.CPU.Cores / r.ReadsPerSecond * 1e6
}

// cpuLine renders u (extra goes before the warning about a busy machine).
func cpuLine(u cpuUse, extra string) string {
	s := fmt.Sprintf("%.2f cores (node + load generator)%s, %.2f by other processes", u.Cores, extra, u.OtherCores)
	if u.OtherCores > 0.15 {
		s += "  ← other processes were busy: repeat on a quiet machine"
	}
	return s
}

// countsLine renders counts by name, largest first.
func countsLine(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d × %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

// httpName describes a --http choice.
func httpName(h string) string {
	if h == "raw" {
		return "one keep-alive connection per reader (--http raw)"
	}
	return "carechain's client (net/http Transport)"
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/bench"
	"carechain/client"
	"carechain/ledger"
	"carechain/node"
	"carechain/records"
	"carechain/seed"
)

// benchRecordsOrg is the custodian every bundle is ingested at, and
// benchRecordsAuthor the practitioner who signs the ingests.
const (
	benchRecordsOrg    = "st-mary-hospital"
	benchRecordsAuthor = "st-mary-physician"
	benchRecordsSeed   = "bench-records"
)

// benchRecordsOptions are the flags of `carechain bench records`.
type benchRecordsOptions struct {
	synthea       string
	workers       int
	readers       int
	duration      time.Duration
	warmup        time.Duration
	patients      int
	timeoutCommit time.Duration
	keep          bool
	cpuProfile    string
	profile       string // which phase --cpuprofile covers: all, ingest or reads
}

func newBenchRecordsCmd(g *globals) *cobra.Command {
	var o benchRecordsOptions
	c := &cobra.Command{
		Use:   "records",
		Short: "Ingest Synthea bundles and make consent-checked reads over HTTP on a real node; report resources/s, reads/s, latency",
		Long: `bench records creates a fresh demo home in a temporary directory (seed "bench-records",
--patients demo patients), starts one embedded validator (CometBFT, timeout_commit
200 ms unless --timeout-commit) with its records service and HTTP API on a free
127.0.0.1 port, seeds the demo world, then:

  ingest  POST /fhir (client.Ingest) of Synthea's provider directory bundles (once,
          not timed in resources/s), then of every patient bundle of --synthea DIR,
          each for a different demo patient, at st-mary-hospital signed by
          st-mary-physician, --workers bundles at a time. Reports resources/s of
          the patient bundles (anchored resources / first POST → last answer).
  reads   --readers concurrent readers for --duration, each a demo patient reading
          one of its own records (GET /fhir/{Type}/{id}, signed, purpose PATRQT;
          ids from GET /v1/patients/{did}/records), closed loop. Every read is
          consent-checked and logged on-chain (access.log) before it is released.
          Reports successful reads/s over the window after --warmup, p50/p90/p99
          latency, errors by kind, and the access.log transactions per block.

The load generator runs in the same process as the node (its CPU is included in
the "cpu" lines). Figures are printed, never judged: compare them with
bench/README.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return err
			}
			rep, err := runBenchRecords(cmd.Context(), o)
			if err != nil {
				return err
			}
			return g.emit(rep, rep.print)
		},
	}
	f := c.Flags()
	f.StringVar(&o.synthea, "synthea", "", "Synthea folder: hospitalInformation*.json, practitionerInformation*.json and patients/*.json (default ../shared/testdata/synthea beside the repository)")
	f.IntVar(&o.workers, "workers", 2, "patient bundles ingested concurrently")
	f.IntVar(&o.readers, "readers", 64, "concurrent readers (0: no reads)")
	f.DurationVar(&o.duration, "duration", 15*time.Second, "how long the readers read (0: no reads)")
	f.DurationVar(&o.warmup, "warmup", 2*time.Second, "reads finished in this first part of --duration are not counted")
	f.IntVar(&o.patients, "patients", 16, "demo patients (raised to the number of patient bundles)")
	f.DurationVar(&o.timeoutCommit, "timeout-commit", 0, "CometBFT timeout_commit (default carechain's 200ms)")
	f.BoolVar(&o.keep, "keep", false, "keep the temporary home (its path is printed)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (node and load) to FILE")
	f.StringVar(&o.profile, "profile", "all", "what --cpuprofile covers: all (patient ingest and reads), ingest or reads")
	return c
}

// check validates the options.
func (o *benchRecordsOptions) check() error {
	switch {
	case o.workers < 1:
		return usageError{fmt.Errorf("--workers must be at least 1")}
	case o.readers < 0 || o.duration < 0 || o.warmup < 0:
		return usageError{fmt.Errorf("--readers, --duration and --warmup must not be negative")}
	case o.readers > 0 && o.duration > 0 && o.warmup >= o.duration:
		return usageError{fmt.Errorf("--warmup (%s) must be shorter than --duration (%s)", o.warmup, o.duration)}
	case o.patients < 1:
		return usageError{fmt.Errorf("--patients must be at least 1")}
	case o.profile != "all" && o.profile != "ingest" && o.profile != "reads":
		return usageError{fmt.Errorf("--profile is all, ingest or reads, not %q", o.profile)}
	}
	return nil
}

// reads reports whether the options ask for a read phase.
func (o *benchRecordsOptions) reads() bool { return o.readers > 0 && o.duration > 0 }

// findSynthea resolves --synthea: an explicit folder must exist; by default
// ../shared/testdata/synthea beside the repository, found from the working
// directory (its nearest ancestor with a go.mod) or from where this source
// file was built.
func findSynthea(flag string) (string, error) {
	if flag != "" {
		if st, err := os.Stat(flag); err != nil || !st.IsDir() {
			return "", usageError{fmt.Errorf("--synthea %s is not a folder", flag)}
		}
		return filepath.Abs(flag)
	}
	var tried []string
	try := func(root string) string {
		if root == "" {
			return ""
		}
		p := filepath.Clean(filepath.Join(root, "..", "shared", "testdata", "synthea"))
		if slices.Contains(tried, p) {
			return ""
		}
		tried = append(tried, p)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		return ""
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				if p := try(d); p != "" {
					return p, nil
				}
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		if p := try(filepath.Join(filepath.Dir(file), "..", "..")); p != "" {
			return p, nil
		}
	}
	where := "no repository found from the working directory"
	if len(tried) > 0 {
		where = "not found at " + strings.Join(tried, " or ")
	}
	return "", usageError{fmt.Errorf("Synthea test data %s: give --synthea DIR (a folder with hospitalInformation*.json, practitionerInformation*.json and patients/*.json)", where)}
}

// syntheaFiles lists a Synthea folder: the provider directory bundles
// (hospitals first, then practitioners) and the patient bundles (DIR/patients/*.json,
// and any other *.json in DIR), each group sorted.
func syntheaFiles(dir string) (directory, patients []string, err error) {
	top, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, nil, err
	}
	sub, err := filepath.Glob(filepath.Join(dir, "patients", "*.json"))
	if err != nil {
		return nil, nil, err
	}
	for _, p := range orderIngestFiles(append(top, sub...)) {
		if isDirectoryFile(p) {
			directory = append(directory, p)
		} else {
			patients = append(patients, p)
		}
	}
	if len(patients) == 0 {
		return nil, nil, usageError{fmt.Errorf("%s holds no patient bundles (patients/*.json)", dir)}
	}
	return directory, patients, nil
}

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

// bundleResult is the outcome of one ingested bundle.
type bundleResult struct {
	File      string  `json:"file"`
	Entries   int     `json:"entries"`  // in the file
	Anchored  int     `json:"anchored"` // created + updated
	Existing  int     `json:"existing"`
	Seconds   float64 `json:"seconds"` // POST → answer
	Height    int64   `json:"height,omitempty"`
	Patient   cc.DID  `json:"patient,omitempty"`
	Error     string  `json:"error,omitempty"`
	errorKind string
}

// ingestPhase is the outcome of ingesting a set of bundles.
type ingestPhase struct {
	Bundles            int            `json:"bundles"`
	Workers            int            `json:"workers"`
	Entries            int            `json:"entries"`   // in the files
	Resources          int            `json:"resources"` // anchored (created + updated)
	Existing           int            `json:"existing"`
	ElapsedSeconds     float64        `json:"elapsed_seconds"`
	ResourcesPerSecond float64        `json:"resources_per_second"`
	BundleSeconds      latencyMS      `json:"bundle_ms"` // per-bundle POST → answer, in ms
	Errors             map[string]int `json:"errors,omitempty"`
	CPU                cpuUse         `json:"cpu"`
	Blocks             blockStats     `json:"blocks"`
	Results            []bundleResult `json:"results"`
}

// readsPhase is the outcome of the readers.
type readsPhase struct {
	Readers         int            `json:"readers"`
	Patients        int            `json:"patients"`
	Records         int            `json:"records"` // distinct records read from
	DurationSeconds float64        `json:"duration_seconds"`
	WarmupSeconds   float64        `json:"warmup_seconds"`
	WindowSeconds   float64        `json:"window_seconds"`
	Reads           int            `json:"reads"` // successful, finished in the window
	ReadsPerSecond  float64        `json:"reads_per_second"`
	AllReads        int            `json:"all_reads"`  // successful, whole run
	Latency         latencyMS      `json:"latency_ms"` // successful reads of the window
	Errors          map[string]int `json:"errors"`     // by kind, whole run
	ErrorSample     string         `json:"error_sample,omitempty"`
	CPU             cpuUse         `json:"cpu"`
	Blocks          blockStats     `json:"blocks"`
	BlockBound      float64        `json:"closed_loop_bound"` // readers / p50: what a closed loop can reach
}

// benchRecordsReport is the outcome of `carechain bench records`.
type benchRecordsReport struct {
	Command         string      `json:"command"`
	Go              string      `json:"go"`
	CPUs            int         `json:"cpus"`
	GOMAXPROCS      int         `json:"gomaxprocs"`
	LoadAverage     string      `json:"load_average"` // /proc/loadavg at the start
	TimeoutCommitMS float64     `json:"timeout_commit_ms"`
	Synthea         string      `json:"synthea"`
	Home            string      `json:"home,omitempty"` // with --keep
	API             string      `json:"api"`
	SetupSeconds    float64     `json:"setup_seconds"` // home, node start, seeding
	DemoPatients    int         `json:"demo_patients"`
	Directory       ingestPhase `json:"directory"`
	Ingest          ingestPhase `json:"ingest"`
	Reads           *readsPhase `json:"reads,omitempty"`
	Profile         string      `json:"cpuprofile,omitempty"`
	ProfilePhase    string      `json:"cpuprofile_phase,omitempty"`
	blockWatcher    *blockWatcher
}

// loadAverage returns the first three fields of /proc/loadavg ("" elsewhere).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// benchProfile starts and stops the CPU profile around the phases
// --profile names ("all": from the patient ingest to the end of the reads).
type benchProfile struct {
	path, phase string
	f           *os.File
}

// start starts the profile before phase (ingest or reads) if it covers it.
func (p *benchProfile) start(phase string) error {
	if p.path == "" || p.f != nil || (p.phase != "all" && p.phase != phase) {
		return nil
	}
	f, err := os.Create(p.path)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	p.f = f
	return nil
}

// stop stops the profile after phase (ingest or reads) if it covers only
// that phase, and always after phase "end".
func (p *benchProfile) stop(phase string) {
	if p.f == nil || (p.phase != phase && phase != "end") {
		return
	}
	pprof.StopCPUProfile()
	p.f.Close()
	p.f = nil
}

func runBenchRecords(ctx context.Context, o benchRecordsOptions) (*benchRecordsReport, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	syn, err := findSynthea(o.synthea)
	if err != nil {
		return nil, err
	}
	dirFiles, patientFiles, err := syntheaFiles(syn)
	if err != nil {
		return nil, err
	}
	tc := o.timeoutCommit
	if tc == 0 {
		tc = node.DefaultTimeoutCommit
	}
	rep := &benchRecordsReport{Command: strings.Join(os.Args, " "), Go: runtime.Version(), CPUs: runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), LoadAverage: loadAverage(), TimeoutCommitMS: float64(tc) / float64(time.Millisecond),
		Synthea: syn, DemoPatients: max(o.patients, len(patientFiles)), blockWatcher: &blockWatcher{}}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	logf("carechain bench records: 1 validator (embedded CometBFT, timeout_commit %s), %d CPUs (GOMAXPROCS %d), %s, load average %s",
		tc, rep.CPUs, rep.GOMAXPROCS, rep.Go, rep.LoadAverage)
	logf("synthea: %s (%d directory bundles, %d patient bundles)", syn, len(dirFiles), len(patientFiles))

	// A fresh demo home: node.Init first, with free loopback ports and the
	// timeout_commit asked for (createDemoHome keeps that config.toml).
	setup := time.Now()
	dir, err := os.MkdirTemp("", "carechain-bench-records-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		rep.Home = filepath.Join(dir, "node")
		defer logf("kept %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	home := filepath.Join(dir, "node")
	pop := seed.NewPopulation(benchRecordsSeed, rep.DemoPatients)
	state, err := json.Marshal(pop.Genesis())
	if err != nil {
		return nil, err
	}
	ports, err := bench.FreePorts(3)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[2])
	if err := node.Init(node.InitOptions{Home: home, Moniker: "bench-records", ChainID: "carechain-demo", AppState: state,
		P2PAddr: fmt.Sprintf("127.0.0.1:%d", ports[0]), RPCAddr: fmt.Sprintf("127.0.0.1:%d", ports[1]), TimeoutCommit: o.timeoutCommit}); err != nil {
		return nil, err
	}
	if err := createDemoHome(home, addr, pop); err != nil {
		return nil, err
	}
	log, closeLog, err := newLogger(home)
	if err != nil {
		return nil, err
	}
	defer closeLog()
	r, err := startNode(ctx, home, addr, log)
	if err != nil {
		return nil, err
	}
	defer r.stop()
	rep.API = "http://" + r.addr
	cancelWatch := r.node.App.Notifier().Subscribe(rep.blockWatcher.commit)
	defer cancelWatch()
	if err := r.node.Node.WaitForHeight(ctx, 1); err != nil {
		return nil, err
	}
	if err := seed.Apply(ctx, r.node, pop, time.Now(), nil); err != nil {
		return nil, fmt.Errorf("seeding the demo world: %w", err)
	}
	rep.SetupSeconds = time.Since(setup).Seconds()
	logf("node up at %s, demo world seeded (%d patients) in %.1f s; home %s", rep.API, len(pop.Patients), rep.SetupSeconds, home)

	c := client.New(rep.API)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = o.readers + o.workers + 8
	c.HTTP = &http.Client{Timeout: 2 * time.Minute, Transport: tr}
	defer tr.CloseIdleConnections()
	var doc seed.Identity
	for _, s := range pop.Staff {
		if s.Name == benchRecordsAuthor {
			doc = s
		}
	}
	if doc.DID == "" {
		return nil, fmt.Errorf("the demo population has no %s", benchRecordsAuthor)
	}
	signer := client.NewSigner(doc.DID, doc.Key)
	prof := &benchProfile{path: o.cpuProfile, phase: o.profile}
	defer prof.stop("end")
	if o.cpuProfile != "" {
		rep.Profile, rep.ProfilePhase = o.cpuProfile, o.profile
	}

	// The provider directory: once, one bundle after the other (the
	// practitioners refer to the hospitals).
	logf("ingesting the provider directory (%d bundles)…", len(dirFiles))
	if rep.Directory, err = rep.ingest(ctx, c, signer, dirFiles, nil, 1, nil); err != nil {
		return nil, err
	}
	if len(rep.Directory.Errors) > 0 {
		return nil, fmt.Errorf("ingesting the provider directory: %s", firstError(rep.Directory.Results))
	}

	// The patient bundles, each for its own demo patient.
	logf("ingesting %d patient bundles, %d at a time…", len(patientFiles), o.workers)
	rep.Ingest, err = rep.ingest(ctx, c, signer, patientFiles, pop.Patients, o.workers, func() error { return prof.start("ingest") })
	prof.stop("ingest")
	if err != nil {
		return nil, err
	}
	if rep.Ingest.Resources == 0 {
		return nil, fmt.Errorf("no patient bundle was ingested: %s", firstError(rep.Ingest.Results))
	}
	logf("ingest: %d resources in %.2f s (%.0f resources/s)", rep.Ingest.Resources, rep.Ingest.ElapsedSeconds, rep.Ingest.ResourcesPerSecond)
	if ctx.Err() != nil || !o.reads() {
		return rep, ctx.Err()
	}

	// Reads: every demo patient with records reads its own.
	var readers []benchReader
	nrec := 0
	for i := range rep.Ingest.Results {
		if rep.Ingest.Results[i].Error != "" {
			continue
		}
		p := pop.Patients[i]
		var as []cc.RecordAnchor
		if err := c.Get(ctx, "/v1/patients/"+string(p.DID)+"/records", &as); err != nil {
			return nil, fmt.Errorf("records of %s: %w", p.DID, err)
		}
		var ids []string
		for _, a := range as {
			if a.Org == benchRecordsOrg && !a.Erased && !records.IsDirectoryType(a.Type) {
				ids = append(ids, a.ID)
			}
		}
		if len(ids) > 0 {
			readers = append(readers, benchReader{signer: client.NewSigner(p.DID, p.Key), patient: p.DID, ids: ids})
			nrec += len(ids)
		}
	}
	if len(readers) == 0 {
		return nil, fmt.Errorf("no patient has records at %s to read", benchRecordsOrg)
	}
	logf("reading: %d readers over %d patients' %d records for %s (warm-up %s)…", o.readers, len(readers), nrec, o.duration, o.warmup)
	if err := prof.start("reads"); err != nil {
		return nil, err
	}
	rep.Reads = rep.read(ctx, c, readers, nrec, o)
	prof.stop("end")
	return rep, ctx.Err()
}

// firstError returns the first error of results.
func firstError(results []bundleResult) string {
	for _, r := range results {
		if r.Error != "" {
			return filepath.Base(r.File) + ": " + r.Error
		}
	}
	return "no result"
}

// errorKind names an error for the "errors by kind" counts.
func errorKind(err error) string {
	switch {
	case errors.Is(err, client.ErrUnreachable):
		return "unreachable"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return cc.KindOf(err).String()
}

// ingest posts files through POST /fhir, workers at a time; file i is for
// patients[i] (no patient when patients is nil). The files are read and
// counted first; then before (if set) is called and the clock starts.
func (rep *benchRecordsReport) ingest(ctx context.Context, c *client.Client, s *client.Signer, files []string, patients []seed.Identity, workers int, before func() error) (ingestPhase, error) {
	ph := ingestPhase{Bundles: len(files), Workers: workers, Results: make([]bundleResult, len(files))}
	bodies := make([][]byte, len(files))
	for i, f := range files {
		ph.Results[i].File = f
		b, err := os.ReadFile(f)
		if err != nil {
			ph.Results[i].Error, ph.Results[i].errorKind = err.Error(), "read file"
			continue
		}
		bodies[i] = b
		if sc, ok, err := scanIngestFile(f); err == nil && ok {
			ph.Results[i].Entries = sc.Resources
		}
		if patients != nil {
			ph.Results[i].Patient = patients[i].DID
		}
	}
	if before != nil {
		if err := before(); err != nil {
			return ph, err
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu := startCPU()
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(files) || ctx.Err() != nil {
					return
				}
				res := &ph.Results[i]
				if bodies[i] == nil {
					continue
				}
				t := time.Now()
				sum, err := c.Ingest(ctx, s, benchRecordsOrg, res.Patient, "", bodies[i])
				res.Seconds = time.Since(t).Seconds()
				if err != nil {
					res.Error, res.errorKind = err.Error(), errorKind(err)
					continue
				}
				res.Anchored, res.Existing, res.Height = sum.Created+sum.Updated, sum.Existing, sum.Height
				fmt.Fprintf(os.Stderr, "  %5.1fs  %-40s %5d resources in %5.2f s, height %d\n", time.Since(start).Seconds(),
					trimName(filepath.Base(res.File), 40), res.Anchored, res.Seconds, res.Height)
			}
		}()
	}
	wg.Wait()
	end := time.Now()
	ph.CPU = cpu.stop()
	ph.ElapsedSeconds = end.Sub(start).Seconds()
	ph.Blocks = rep.blockWatcher.stats(start, end.Add(time.Millisecond))
	var secs []time.Duration
	for _, r := range ph.Results {
		ph.Entries += r.Entries
		if r.Error != "" {
			if ph.Errors == nil {
				ph.Errors = map[string]int{}
			}
			ph.Errors[r.errorKind]++
			continue
		}
		ph.Resources += r.Anchored
		ph.Existing += r.Existing
		secs = append(secs, time.Duration(r.Seconds*float64(time.Second)))
	}
	ph.BundleSeconds = latencies(secs)
	if ph.ElapsedSeconds > 0 {
		ph.ResourcesPerSecond = float64(ph.Resources) / ph.ElapsedSeconds
	}
	return ph, nil
}

// trimName shortens s to n characters.
func trimName(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
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

// read runs o.readers closed-loop readers for o.duration.
func (rep *benchRecordsReport) read(ctx context.Context, c *client.Client, readers []benchReader, nrec int, o benchRecordsOptions) *readsPhase {
	ph := &readsPhase{Readers: o.readers, Patients: len(readers), Records: nrec, DurationSeconds: o.duration.Seconds(),
		WarmupSeconds: o.warmup.Seconds(), Errors: map[string]int{}}
	samples := make([][]readSample, o.readers)
	errs := make([]map[string]int, o.readers)
	var sample atomic.Value
	var ok, failed atomic.Int64
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
	var wg sync.WaitGroup
	for k := range o.readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rd := readers[k%len(readers)]
			errs[k] = map[string]int{}
			opts := client.ReadOptions{Patient: rd.patient, Purpose: "PATRQT"}
			for i := k * 7; ctx.Err() == nil; i++ {
				t := time.Now()
				if !t.Before(end) {
					return
				}
				_, err := c.ReadFHIR(ctx, rd.signer, opts, "/fhir/"+rd.ids[i%len(rd.ids)])
				now := time.Now()
				if err != nil {
					failed.Add(1)
					errs[k][errorKind(err)]++
					sample.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
				samples[k] = append(samples[k], readSample{end: now, latency: now.Sub(t)})
			}
		}()
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
	ph.Reads = len(lat)
	ph.ReadsPerSecond = float64(ph.Reads) / window.Seconds()
	ph.Latency = latencies(lat)
	ph.Blocks = rep.blockWatcher.stats(from, end)
	if ph.Latency.P50 > 0 {
		ph.BlockBound = float64(o.readers) / (ph.Latency.P50 / 1000)
	}
	return ph
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
		p("reads", "%d readers (closed loop) over %d patients' %d records, GET /fhir/{Type}/{id} signed by the patient, purpose PATRQT", r.Readers, r.Patients, r.Records)
		p("READS/S", "%.0f  (successful reads finished in the %.1f s window after %.1f s warm-up: %d)", r.ReadsPerSecond, r.WindowSeconds, r.WarmupSeconds, r.Reads)
		p("READ LATENCY", "p50 %.0f ms  p90 %.0f ms  p99 %.0f ms  max %.0f ms  (window, n=%d)", r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max, r.Latency.N)
		p("closed loop", "readers / p50 = %.0f reads/s: more readers are needed for more reads/s at this latency", r.BlockBound)
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

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/access"
	"carechain/bench"
	"carechain/client"
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
	rounds        int
	readers       int
	rate          float64
	presign       bool
	http          string // how the load generator sends reads: client or raw
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
          st-mary-physician, --workers bundles at a time; with --rounds N, every
          bundle N times (each copy for another demo patient, so new records), for
          a steady state longer than a few blocks. Reports resources/s of the
          patient bundles (anchored resources / first POST → last answer).
  reads   --readers concurrent readers for --duration, each a demo patient reading
          one of its own records (GET /fhir/{Type}/{id}, signed, purpose PATRQT;
          ids from GET /v1/patients/{did}/records), closed loop: each reader sends
          its next read when the last one is answered. With --rate R, an open loop
          instead: a read is due every 1/R s whatever the answers (as independent
          users send them), at most --readers in flight, and its latency counts
          from when it was due. Every read is consent-checked and logged on-chain
          (access.log) before it is released. The load generator shares the
          node's cores: --presign signs every read before the clock starts (as
          patients' devices would), --http raw sends over one keep-alive
          connection per reader instead of net/http's Transport.
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
	f.IntVar(&o.rounds, "rounds", 1, "ingest every patient bundle this many times, each copy for another demo patient")
	f.IntVar(&o.readers, "readers", 64, "concurrent readers (0: no reads); with --rate, the most reads in flight")
	f.Float64Var(&o.rate, "rate", 0, "open loop: reads due per second, whatever the answers (0: closed loop, each reader waits for its answer)")
	f.BoolVar(&o.presign, "presign", false, "sign every read before the clock starts, as patients' devices would (not on the node's cores during the run)")
	f.StringVar(&o.http, "http", "client", "how reads are sent: client (carechain's client, net/http's Transport) or raw (one keep-alive connection per reader, answers parsed by http.ReadResponse)")
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
	case o.rounds < 1:
		return usageError{fmt.Errorf("--rounds must be at least 1")}
	case o.readers < 0 || o.duration < 0 || o.warmup < 0 || o.rate < 0:
		return usageError{fmt.Errorf("--readers, --rate, --duration and --warmup must not be negative")}
	case o.readers > 0 && o.duration > 0 && o.warmup >= o.duration:
		return usageError{fmt.Errorf("--warmup (%s) must be shorter than --duration (%s)", o.warmup, o.duration)}
	case o.patients < 1:
		return usageError{fmt.Errorf("--patients must be at least 1")}
	case o.presign && o.duration > access.ReadWindow/2:
		return usageError{fmt.Errorf("--presign needs --duration of at most %s: a signed read is good for %s from when it was signed", access.ReadWindow/2, access.ReadWindow)}
	case o.http != "client" && o.http != "raw":
		return usageError{fmt.Errorf("--http is client or raw, not %q", o.http)}
	case o.profile != "all" && o.profile != "ingest" && o.profile != "reads":
		return usageError{fmt.Errorf("--profile is all, ingest or reads, not %q", o.profile)}
	}
	return nil
}

// urnUUID matches the urn:uuid: references (and fullUrls) of a bundle.
var urnUUID = regexp.MustCompile(`urn:uuid:[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}`)

// roundCopy returns bundle as copy number round of it: round 0 is bundle
// unchanged; any other has every urn:uuid: replaced by another UUID (its
// first eight digits from SHA-256 of the round and the UUID), consistently
// within the bundle, so its entries are new resources to the ingest (which
// recognizes a bundle loaded before by its fullUrls) with the same
// references between them.
func roundCopy(bundle []byte, round int) []byte {
	if round == 0 {
		return bundle
	}
	return urnUUID.ReplaceAllFunc(bundle, func(m []byte) []byte {
		h := sha256.Sum256(append([]byte(strconv.Itoa(round)+"|"), m...))
		out := append([]byte(nil), m...)
		hex.Encode(out[len("urn:uuid:"):len("urn:uuid:")+8], h[:4])
		return out
	})
}

// repeatFiles returns files rounds times over, in order.
func repeatFiles(files []string, rounds int) []string {
	out := make([]string, 0, len(files)*rounds)
	for range rounds {
		out = append(out, files...)
	}
	return out
}

// timeoutCommit is the run's CometBFT timeout_commit.
func timeoutCommit(o benchRecordsOptions) time.Duration {
	if o.timeoutCommit == 0 {
		return node.DefaultTimeoutCommit
	}
	return o.timeoutCommit
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
	Readers          int            `json:"readers"`
	Patients         int            `json:"patients"`
	Records          int            `json:"records"` // distinct records read from
	DurationSeconds  float64        `json:"duration_seconds"`
	WarmupSeconds    float64        `json:"warmup_seconds"`
	WindowSeconds    float64        `json:"window_seconds"`
	Reads            int            `json:"reads"` // successful, finished in the window
	ReadsPerSecond   float64        `json:"reads_per_second"`
	AllReads         int            `json:"all_reads"`  // successful, whole run
	Latency          latencyMS      `json:"latency_ms"` // successful reads of the window
	Errors           map[string]int `json:"errors"`     // by kind, whole run
	ErrorSample      string         `json:"error_sample,omitempty"`
	CPU              cpuUse         `json:"cpu"`
	Blocks           blockStats     `json:"blocks"`
	BlockBound       float64        `json:"closed_loop_bound,omitempty"`  // readers / p50: what a closed loop can reach
	Loop             string         `json:"loop"`                         // closed or open
	OfferedPerSecond float64        `json:"offered_per_second,omitempty"` // open loop: reads due per second
	NotSent          int            `json:"not_sent,omitempty"`           // open loop: due while every sender was busy and the queue full
	Presigned        int            `json:"presigned"`                    // requests signed before the clock started
	SignedInLoop     int            `json:"signed_in_loop"`               // reads signed as they were made
	HTTP             string         `json:"http"`                         // client or raw
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
	end         func() // stops the running profile; nil when none runs
}

// start starts the profile before phase (ingest or reads) if it covers it.
func (p *benchProfile) start(phase string) error {
	if p.path == "" || p.end != nil || (p.phase != "all" && p.phase != phase) {
		return nil
	}
	end, err := startCPUProfile(p.path)
	if err != nil {
		return err
	}
	p.end = end
	return nil
}

// stop stops the profile after phase (ingest or reads) if it covers only
// that phase, and always after phase "end".
func (p *benchProfile) stop(phase string) {
	if p.end == nil || (p.phase != phase && phase != "end") {
		return
	}
	p.end()
	p.end = nil
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
	rounds := o.rounds
	patientFiles = repeatFiles(patientFiles, rounds)
	tc := timeoutCommit(o)
	rep := &benchRecordsReport{Command: strings.Join(os.Args, " "), Go: runtime.Version(), CPUs: runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), LoadAverage: loadAverage(), TimeoutCommitMS: float64(tc) / float64(time.Millisecond),
		Synthea: syn, DemoPatients: max(o.patients, len(patientFiles))}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	logf("carechain bench records: 1 validator (embedded CometBFT, timeout_commit %s), %d CPUs (GOMAXPROCS %d), %s, load average %s",
		tc, rep.CPUs, rep.GOMAXPROCS, rep.Go, rep.LoadAverage)
	logf("synthea: %s (%d directory bundles, %d patient bundles)", syn, len(dirFiles), len(patientFiles))

	d, err := startBenchDemo(ctx, "bench-records", benchRecordsSeed, rep.DemoPatients, o.timeoutCommit, o.keep, o.readers+o.workers, logf)
	if err != nil {
		return nil, err
	}
	defer d.close()
	rep.API, rep.SetupSeconds, rep.blockWatcher = d.api, d.setup.Seconds(), d.watcher
	if o.keep {
		rep.Home = d.home
	}
	pop, c := d.pop, d.client
	doc, err := d.staff(benchRecordsAuthor)
	if err != nil {
		return nil, err
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
	if rep.Directory, err = rep.ingest(ctx, c, signer, dirFiles, nil, 1, 1, nil); err != nil {
		return nil, err
	}
	if len(rep.Directory.Errors) > 0 {
		return nil, fmt.Errorf("ingesting the provider directory: %s", firstError(rep.Directory.Results))
	}

	// The patient bundles, each for its own demo patient.
	logf("ingesting %d patient bundles, %d at a time…", len(patientFiles), o.workers)
	rep.Ingest, err = rep.ingest(ctx, c, signer, patientFiles, pop.Patients, o.workers, rounds, func() error { return prof.start("ingest") })
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
	if rep.Reads, err = rep.read(ctx, c, readers, nrec, o, func() error { return prof.start("reads") }); err != nil {
		return nil, err
	}
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
//
// files are rounds copies of one list (see repeatFiles); copy k of a
// bundle is roundCopy(bundle, k).
func (rep *benchRecordsReport) ingest(ctx context.Context, c *client.Client, s *client.Signer, files []string, patients []seed.Identity, workers, rounds int, before func() error) (ingestPhase, error) {
	ph := ingestPhase{Bundles: len(files), Workers: workers, Results: make([]bundleResult, len(files))}
	bodies := make([][]byte, len(files))
	for i, f := range files {
		ph.Results[i].File = f
		b, err := os.ReadFile(f)
		if err != nil {
			ph.Results[i].Error, ph.Results[i].errorKind = err.Error(), "read file"
			continue
		}
		bodies[i] = roundCopy(b, i/(len(files)/rounds))
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

// benchDemo is a fresh demo world on one embedded validator with its HTTP
// API, for the end-to-end benchmarks (bench records, bench epcis).
type benchDemo struct {
	home    string
	pop     *seed.Population
	node    *running
	api     string         // http://127.0.0.1:port
	client  *client.Client // to api, with enough idle connections for the load
	watcher *blockWatcher  // every committed block from the start
	setup   time.Duration  // home, node start, seeding
	closers []func()
}

// startBenchDemo creates a demo home (seed seedName, patients demo
// patients) in a temporary directory, node.Init first with free loopback
// ports and timeoutCommit (createDemoHome keeps that config.toml), starts
// the node and its API, and seeds the demo world. conns is how many
// requests the load keeps in flight. The directory is removed by close
// unless keep.
func startBenchDemo(ctx context.Context, moniker, seedName string, patients int, timeoutCommit time.Duration, keep bool, conns int, logf func(string, ...any)) (_ *benchDemo, err error) {
	start := time.Now()
	d := &benchDemo{watcher: &blockWatcher{}}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	dir, err := os.MkdirTemp("", "carechain-"+moniker+"-")
	if err != nil {
		return nil, err
	}
	if keep {
		d.closers = append(d.closers, func() { logf("kept %s", dir) })
	} else {
		d.closers = append(d.closers, func() { os.RemoveAll(dir) })
	}
	d.home = filepath.Join(dir, "node")
	d.pop = seed.NewPopulation(seedName, patients)
	state, err := json.Marshal(d.pop.Genesis())
	if err != nil {
		return nil, err
	}
	ports, err := bench.FreePorts(3)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[2])
	if err := node.Init(node.InitOptions{Home: d.home, Moniker: moniker, ChainID: "carechain-demo", AppState: state,
		P2PAddr: fmt.Sprintf("127.0.0.1:%d", ports[0]), RPCAddr: fmt.Sprintf("127.0.0.1:%d", ports[1]), TimeoutCommit: timeoutCommit}); err != nil {
		return nil, err
	}
	if err := createDemoHome(d.home, addr, "", "", d.pop); err != nil {
		return nil, err
	}
	log, closeLog, err := newLogger(d.home)
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, closeLog)
	if d.node, err = startNode(ctx, d.home, addr, log); err != nil {
		return nil, err
	}
	d.closers = append(d.closers, func() { d.node.stop() })
	d.api = "http://" + d.node.addr
	d.closers = append(d.closers, d.node.node.App.Notifier().Subscribe(d.watcher.commit))
	if err := d.node.node.Node.WaitForHeight(ctx, 1); err != nil {
		return nil, err
	}
	if err := seed.Apply(ctx, d.node.node, d.pop, time.Now(), nil); err != nil {
		return nil, fmt.Errorf("seeding the demo world: %w", err)
	}
	d.client = client.New(d.api)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = conns + 8
	d.client.HTTP = &http.Client{Timeout: 2 * time.Minute, Transport: tr}
	d.closers = append(d.closers, tr.CloseIdleConnections)
	d.setup = time.Since(start)
	logf("node up at %s, demo world seeded (%d patients) in %.1f s; home %s", d.api, len(d.pop.Patients), d.setup.Seconds(), d.home)
	return d, nil
}

// close undoes startBenchDemo, last step first.
func (d *benchDemo) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}

// staff returns the demo staff member name.
func (d *benchDemo) staff(name string) (seed.Identity, error) {
	for _, s := range d.pop.Staff {
		if s.Name == name {
			return s, nil
		}
	}
	return seed.Identity{}, fmt.Errorf("the demo population has no %s", name)
}

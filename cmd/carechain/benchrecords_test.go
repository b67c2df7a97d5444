package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"carechain/ledger"
)

func TestBenchRecordsFlags(t *testing.T) {
	c := newBenchRecordsCmd(&globals{output: "text"})
	defaults := map[string]string{"workers": "2", "readers": "64", "duration": "15s", "warmup": "2s", "patients": "16",
		"synthea": "", "cpuprofile": "", "profile": "all", "keep": "false", "timeout-commit": "0s"}
	checkFlagDefaults(t, c, defaults)
	if err := c.ParseFlags([]string{"--readers", "1024", "--duration", "20s", "--profile", "reads"}); err != nil {
		t.Fatal(err)
	}
	if v := c.Flags().Lookup("readers").Value.String(); v != "1024" {
		t.Errorf("--readers parsed as %s", v)
	}
}

func TestBenchRecordsCheck(t *testing.T) {
	ok := benchRecordsOptions{workers: 2, readers: 64, duration: 15 * time.Second, warmup: 2 * time.Second, patients: 16, profile: "all"}
	if err := ok.check(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	noReads := ok
	noReads.duration, noReads.warmup = 0, 0
	if err := noReads.check(); err != nil || noReads.reads() {
		t.Errorf("--duration 0 (ingest only): err %v, reads %v", err, noReads.reads())
	}
	checkUsageErrors(t, ok, map[string]func(*benchRecordsOptions){
		"no workers":          func(o *benchRecordsOptions) { o.workers = 0 },
		"negative readers":    func(o *benchRecordsOptions) { o.readers = -1 },
		"warm-up too long":    func(o *benchRecordsOptions) { o.warmup = o.duration },
		"no patients":         func(o *benchRecordsOptions) { o.patients = 0 },
		"unknown profile arg": func(o *benchRecordsOptions) { o.profile = "setup" },
	})
}

func TestSyntheaFolder(t *testing.T) {
	dir := t.TempDir()
	if _, err := findSynthea(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "--synthea") {
		t.Errorf("a missing --synthea folder: %v", err)
	}
	if p, err := findSynthea(dir); err != nil || p != dir {
		t.Errorf("findSynthea(%s) = %s, %v", dir, p, err)
	}
	if _, _, err := syntheaFiles(dir); err == nil {
		t.Error("a folder without patient bundles is accepted")
	}
	os.Mkdir(filepath.Join(dir, "patients"), 0o755)
	for _, f := range []string{"practitionerInformation1.json", "hospitalInformation1.json", "patients/b.json", "patients/a.json", "LICENSE"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	directory, patients, err := syntheaFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	base := func(ps []string) (out []string) {
		for _, p := range ps {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	if got := strings.Join(base(directory), " "); got != "hospitalInformation1.json practitionerInformation1.json" {
		t.Errorf("directory bundles %s", got)
	}
	if got := strings.Join(base(patients), " "); got != "a.json b.json" {
		t.Errorf("patient bundles %s", got)
	}
}

func TestLatencies(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := latencies(ds)
	if l.P50 != 50 || l.P90 != 90 || l.P99 != 99 || l.Max != 100 || l.N != 100 {
		t.Errorf("latencies of 1..100 ms: %+v", l)
	}
	if l := latencies(nil); l.N != 0 {
		t.Errorf("no samples: %+v", l)
	}
}

func TestBlockWatcherStats(t *testing.T) {
	w := &blockWatcher{}
	logTx := func(events int) ledger.TxOutcome {
		d := `{"events":[` + strings.TrimSuffix(strings.Repeat(`{"id":"acc-1","status":"logged"},`, events), ",") + `]}`
		return ledger.TxOutcome{Data: []byte(d)}
	}
	t0 := time.Now()
	w.commit(nil) // before the window
	w.commit([]ledger.TxOutcome{logTx(10), logTx(20), {Data: []byte(`{"anchors":1}`)}})
	w.commit([]ledger.TxOutcome{logTx(30), {Code: 5, Data: []byte(`{"events":[{"status":"x"}]}`)}})
	s := w.stats(t0, time.Now().Add(time.Second))
	if s.Blocks != 3 || s.Txs != 5 || s.AccessLogTxs != 3 || s.AccessEvents != 60 {
		t.Errorf("stats %+v", s)
	}
	if s.EventsPerLogTx != 20 || s.AccessLogTxsPerBlk != 1 {
		t.Errorf("ratios %+v", s)
	}
	if n := w.stats(time.Now().Add(time.Second), time.Now().Add(2*time.Second)).Blocks; n != 0 {
		t.Errorf("%d blocks in an empty window", n)
	}
}

func TestBenchRecordsReportOutput(t *testing.T) {
	rep := &benchRecordsReport{CPUs: 2, GOMAXPROCS: 2, Go: "go1.26", LoadAverage: "0.10 0.20 0.30", TimeoutCommitMS: 200,
		API: "http://127.0.0.1:1", Synthea: "/data/synthea", DemoPatients: 16,
		Ingest: ingestPhase{Bundles: 11, Workers: 2, Entries: 3471, Resources: 3471, ElapsedSeconds: 2, ResourcesPerSecond: 1735.5,
			BundleSeconds: latencyMS{P50: 300, N: 11}, CPU: cpuUse{Cores: 1.5, OtherCores: 0.3}},
		Reads: &readsPhase{Readers: 64, Patients: 11, Records: 3471, WindowSeconds: 13, WarmupSeconds: 2, Reads: 3900,
			ReadsPerSecond: 300, Latency: latencyMS{P50: 213, P90: 240, P99: 400, Max: 500, N: 3900},
			Errors: map[string]int{"Unavailable": 2, "NotFound": 5}, ErrorSample: "boom", CPU: cpuUse{Cores: 0.6}, BlockBound: 300.5,
			Blocks: blockStats{Blocks: 60, AccessLogTxs: 300, AccessEvents: 3900, AccessLogTxsPerBlk: 5, EventsPerBlock: 65, EventsPerLogTx: 13}}}
	checkReport(t, rep, rep.print, []string{
		"INGEST RESOURCES/S  1736  (3471 resources anchored in 2.00 s",
		"READS/S             300  (successful reads finished in the 13.0 s window after 2.0 s warm-up: 3900)",
		"READ LATENCY        p50 213 ms  p90 240 ms  p99 400 ms  max 500 ms",
		"5 × NotFound, 2 × Unavailable",
		"0.30 by other processes  ← other processes were busy",
		"0.60 cores (node + load generator), 2000 µs per read, 0.00 by other processes\n",
		"5.0 txs/block, 65 events/block, 13 events/tx",
	}, "ingest", "reads", "directory", "load_average", "timeout_commit_ms")
}

func TestBenchProfilePhases(t *testing.T) {
	for _, phase := range []string{"all", "ingest", "reads"} {
		path := filepath.Join(t.TempDir(), "cpu.prof")
		p := &benchProfile{path: path, phase: phase}
		running := map[string]bool{}
		if err := p.start("ingest"); err != nil {
			t.Fatal(err)
		}
		running["ingest"] = p.end != nil
		p.stop("ingest")
		if err := p.start("reads"); err != nil {
			t.Fatal(err)
		}
		running["reads"] = p.end != nil
		p.stop("end")
		if p.end != nil {
			t.Errorf("%s: still profiling after the end", phase)
		}
		want := map[string]bool{"ingest": phase != "reads", "reads": phase != "ingest"}
		if running["ingest"] != want["ingest"] || running["reads"] != want["reads"] {
			t.Errorf("--profile %s: profiling during %v, want %v", phase, running, want)
		}
		if st, err := os.Stat(path); err != nil || st.Size() == 0 {
			t.Errorf("--profile %s: no profile written (%v)", phase, err)
		}
	}
}

// checkFlagDefaults checks that c has each flag of defaults with that
// default value.
func checkFlagDefaults(t *testing.T, c *cobra.Command, defaults map[string]string) {
	t.Helper()
	for name, want := range defaults {
		f := c.Flags().Lookup(name)
		if f == nil {
			t.Errorf("no --%s flag", name)
			continue
		}
		if f.DefValue != want {
			t.Errorf("--%s defaults to %q, want %q", name, f.DefValue, want)
		}
	}
}

// checkUsageErrors checks that each change of valid options makes check
// return a usage error.
func checkUsageErrors[O any, P interface {
	*O
	check() error
}](t *testing.T, valid O, changes map[string]func(P)) {
	t.Helper()
	for name, change := range changes {
		o := valid
		change(&o)
		var ue usageError
		if err := P(&o).check(); !errors.As(err, &ue) {
			t.Errorf("%s: %v, want a usage error", name, err)
		}
	}
}

// checkReport checks that the text report (print) has each of wants and
// that the JSON of rep has each of keys.
func checkReport(t *testing.T, rep any, print func(io.Writer), wants []string, keys ...string) {
	t.Helper()
	var b bytes.Buffer
	print(&b)
	out := b.String()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	j, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(j, &m)
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON report lacks %q: %s", k, j)
		}
	}
}

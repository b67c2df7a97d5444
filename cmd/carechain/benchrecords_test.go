package main

import (
	"bytes"
	"context"
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
		"synthea": "", "cpuprofile": "", "profile": "all", "keep": "false", "timeout-commit": "0s", "rounds": "1", "rate": "0", "presign": "false", "http": "client"}
	checkFlagDefaults(t, c, defaults)
	if err := c.ParseFlags([]string{"--readers", "1024", "--duration", "20s", "--profile", "reads"}); err != nil {
		t.Fatal(err)
	}
	if v := c.Flags().Lookup("readers").Value.String(); v != "1024" {
		t.Errorf("--readers parsed as %s", v)
	}
}

func TestBenchRecordsCheck(t *testing.T) {
	ok := benchRecordsOptions{workers: 2, rounds: 1, http: "client", readers: 64, duration: 15 * time.Second, warmup: 2 * time.Second, patients: 16, profile: "all"}
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
		"no rounds":           func(o *benchRecordsOptions) { o.rounds = 0 },
		"negative rate":       func(o *benchRecordsOptions) { o.rate = -1 },
		"unknown http":        func(o *benchRecordsOptions) { o.http = "h2" },
		"presigned too long":  func(o *benchRecordsOptions) { o.presign, o.duration = true, time.Hour },
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

func TestRoundCopy(t *testing.T) {
	b := []byte(`{"entry":[{"fullUrl":"urn:uuid:3f6fd0bb-6cd3-eb3f-4401-cd38ace25f2b","resource":{"resourceType":"Patient"}},` +
		`{"fullUrl":"urn:uuid:00000000-0000-0000-0000-000000000001","resource":{"subject":{"reference":"urn:uuid:3f6fd0bb-6cd3-eb3f-4401-cd38ace25f2b"}}}]}`)
	if got := roundCopy(b, 0); string(got) != string(b) {
		t.Errorf("round 0 changed the bundle: %s", got)
	}
	one, two := roundCopy(b, 1), roundCopy(b, 2)
	uuids := func(b []byte) []string { return urnUUID.FindAllString(string(b), -1) }
	u0, u1, u2 := uuids(b), uuids(one), uuids(two)
	if len(u1) != 3 || len(u2) != 3 {
		t.Fatalf("copies hold %d and %d urn:uuids, want 3", len(u1), len(u2))
	}
	for i := range u0 {
		if u1[i] == u0[i] || u2[i] == u0[i] || u1[i] == u2[i] {
			t.Errorf("uuid %d: %s, %s, %s: each copy needs its own", i, u0[i], u1[i], u2[i])
		}
		if u1[i][17:] != u0[i][17:] {
			t.Errorf("uuid %d: %s changed beyond its first eight digits (%s)", i, u1[i], u0[i])
		}
	}
	if u1[0] != u1[2] {
		t.Errorf("a fullUrl and its reference differ in the copy: %s, %s", u1[0], u1[2])
	}
	if !json.Valid(one) || len(one) != len(b) {
		t.Errorf("copy is not the same JSON shape: %s", one)
	}
	if got := repeatFiles([]string{"a", "b"}, 3); strings.Join(got, "") != "ababab" {
		t.Errorf("repeatFiles = %v", got)
	}
}

func TestBenchRecordsOpenLoopOutput(t *testing.T) {
	rep := &benchRecordsReport{CPUs: 2, GOMAXPROCS: 2, Go: "go1.26", TimeoutCommitMS: 200, API: "http://127.0.0.1:1",
		Reads: &readsPhase{Readers: 2048, Patients: 11, Records: 3471, WindowSeconds: 13, WarmupSeconds: 2, Reads: 39000,
			ReadsPerSecond: 3000, Latency: latencyMS{P50: 224, N: 39000}, Loop: "open", OfferedPerSecond: 3000, NotSent: 7,
			CPU: cpuUse{Cores: 1.5}}}
	var out bytes.Buffer
	rep.print(&out)
	for _, want := range []string{
		"open loop: 3000 reads/s due, at most 2048 in flight",
		"latency from when each read was due; 7 reads not sent",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "closed loop") {
		t.Errorf("an open loop's report speaks of a closed loop:\n%s", out.String())
	}
}

// TestBenchRecordsRun runs the benchmark briefly on a real node, both
// ways of loading it: two rounds of the Synthea patient bundles (the copies
// are new records, none existing) and an open loop of reads sent by the
// carechain client; then one round and a closed loop of reads signed ahead
// and sent over raw keep-alive connections. Every read is answered.
func TestBenchRecordsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nodes and ingests the Synthea bundles")
	}
	syn := filepath.Join("..", "..", "..", "shared", "testdata", "synthea")
	if _, err := os.Stat(syn); err != nil {
		t.Skipf("shared testdata not found: %v", err)
	}
	base := benchRecordsOptions{synthea: syn, workers: 2, rounds: 1, readers: 32, http: "client", duration: 3 * time.Second,
		warmup: time.Second, patients: 16, profile: "all"}
	open := base
	open.rounds, open.rate = 2, 200
	lean := base
	lean.presign, lean.http = true, "raw"
	tests := []struct {
		name    string
		o       benchRecordsOptions
		bundles int
		loop    string
	}{
		{"two rounds, open loop", open, 22, "open"},
		{"presigned, raw connections", lean, 11, "closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := runBenchRecords(context.Background(), tt.o)
			if err != nil {
				t.Fatal(err)
			}
			in := rep.Ingest
			if in.Bundles != tt.bundles || in.Errors != nil || in.Existing != 0 || in.Resources != in.Entries || in.Resources == 0 {
				t.Errorf("ingest: %d bundles, %d entries, %d anchored, %d existing, errors %v",
					in.Bundles, in.Entries, in.Resources, in.Existing, in.Errors)
			}
			r := rep.Reads
			if r == nil || r.Loop != tt.loop || r.Reads == 0 || len(r.Errors) != 0 {
				t.Fatalf("reads: %+v", r)
			}
			if tt.o.rate > 0 && r.ReadsPerSecond > 1.2*tt.o.rate {
				t.Errorf("open loop at %.0f/s made %.0f reads/s", tt.o.rate, r.ReadsPerSecond)
			}
			if tt.o.presign && (r.Presigned == 0 || r.SignedInLoop != 0 || r.HTTP != "raw") {
				t.Errorf("presigned %d, signed in the loop %d, http %q", r.Presigned, r.SignedInLoop, r.HTTP)
			}
		})
	}
}

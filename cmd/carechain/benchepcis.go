package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/client"
	"carechain/epcis"
	"carechain/ledger"
	"carechain/ledger/tx"
	"carechain/node"
	"carechain/seed"
	"carechain/supply"
)

// The supply chain of `carechain bench epcis`: the manufacturer
// commissions, packs and ships, the distributor receives.
const (
	benchEPCISSeed     = "bench-epcis"
	benchEPCISMaker    = "acme-vaccines"
	benchEPCISMakerBy  = "acme-logistics"
	benchEPCISDist     = "coldline-distribution"
	benchEPCISDistBy   = "coldline-logistics"
	benchEPCISPatients = 4

	// GS1 identifiers: Acme's company prefix (the GS1 US example prefix,
	// 7 digits) with indicator 1 + item reference 07346 (13 digits in
	// all); Coldline's site under the GS1 Germany example prefix.
	benchEPCISPrefix   = "0614141"
	benchEPCISItemRef  = "107346"
	benchEPCISMakerGLN = "urn:epc:id:sgln:0614141.00001.0"
	benchEPCISDistGLN  = "urn:epc:id:sgln:4012345.00002.0"
)

// The steps of the chain, in order: each group of cases goes through all
// four, each step's document sent once the one before it has committed.
var benchEPCISSteps = []string{"commissioning", "packing", "shipping", "receiving"}

// benchEPCISOptions are the flags of `carechain bench epcis`.
type benchEPCISOptions struct {
	clients       int
	perDoc        int // events per document (= cases per group)
	events        int // total, rounded up to whole groups of 4 documents
	vials         int // per case
	sensorEvery   int // a temperature report on every n-th shipping and receiving event (0: none)
	timeoutCommit time.Duration
	keep          bool
	cpuProfile    string
}

func newBenchEPCISCmd(g *globals) *cobra.Command {
	var o benchEPCISOptions
	c := &cobra.Command{
		Use:   "epcis",
		Short: "Capture generated EPCIS 2.0 documents over HTTP on a real node; report events/s committed, latency",
		Long: `bench epcis creates a fresh demo home in a temporary directory (seed "bench-epcis"),
starts one embedded validator (CometBFT, timeout_commit 200 ms unless --timeout-commit)
with its HTTP API on a free 127.0.0.1 port, seeds the demo world, registers the vaccine
product (GTIN 10614141073464, 2–8 °C) for acme-vaccines, then captures generated EPCIS
2.0 documents through POST /epcis/capture (client.CaptureEPCIS), --clients at a time.

Cases of --vials vials (SGTINs urn:epc:id:sgtin:0614141.107346.{serial}, unique
serials, one lot per group) go in groups of --per-doc cases through four documents of
--per-doc events each, each sent once the one before it has committed:

  commissioning  ObjectEvent ADD, one case's vials per event, lot and expiry (acme-logistics)
  packing        AggregationEvent ADD of the vials into an SSCC               (acme-logistics)
  shipping       ObjectEvent OBSERVE of the SSCC to coldline-distribution     (acme-logistics)
  receiving      ObjectEvent OBSERVE of the SSCC at Coldline's site           (coldline-logistics)

with a temperature report (5 °C) on every --sensor-every-th shipping and receiving
event. The node validates each document (official JSON Schema and semantic rules),
its gatekeeper signs supply.capture transactions and answers once they commit.

Reports events/s committed (all events / first request → last answer), p50/p99
request latency per step, CPU, blocks, what became of the ledger's CheckTx
executions (reused by FinalizeBlock, executed there again, or run again in
CheckTx because a block was proposed meanwhile), and the edge cost (parse +
convert, one core) measured on one document of each step before the run. The load generator
runs in the same process as the node. Figures are printed, never judged: compare
them with bench/README.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return err
			}
			rep, err := runBenchEPCIS(cmd.Context(), o)
			if err != nil {
				return err
			}
			return g.emit(rep, rep.print)
		},
	}
	f := c.Flags()
	f.IntVar(&o.clients, "clients", 8, "documents posted concurrently")
	f.IntVar(&o.perDoc, "per-doc", 500, "events per EPCIS document")
	f.IntVar(&o.events, "events", 40000, "events in all (rounded up to whole groups of four documents)")
	f.IntVar(&o.vials, "vials", 10, "vials per case (EPCs per commissioning event)")
	f.IntVar(&o.sensorEvery, "sensor-every", 4, "a temperature report on every n-th shipping and receiving event (0: none)")
	f.DurationVar(&o.timeoutCommit, "timeout-commit", 0, "CometBFT timeout_commit (default carechain's 200ms)")
	f.BoolVar(&o.keep, "keep", false, "keep the temporary home (its path is printed)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (node and load) during the capture to FILE")
	return c
}

// check validates the options.
func (o *benchEPCISOptions) check() error {
	switch {
	case o.clients < 1:
		return usageError{fmt.Errorf("--clients must be at least 1")}
	case o.perDoc < 1 || o.perDoc > supply.MaxEventsPerTx:
		return usageError{fmt.Errorf("--per-doc must be 1 to %d events", supply.MaxEventsPerTx)}
	case o.events < 1:
		return usageError{fmt.Errorf("--events must be at least 1")}
	case o.vials < 1 || o.vials+1 > supply.MaxEPCsPerEvent || o.perDoc*(o.vials+1) > supply.MaxEPCsPerTx:
		return usageError{fmt.Errorf("--vials must be 1 to %d, and --per-doc × (--vials + 1) at most %d EPCs",
			supply.MaxEPCsPerEvent-1, supply.MaxEPCsPerTx)}
	case o.sensorEvery < 0:
		return usageError{fmt.Errorf("--sensor-every must not be negative")}
	}
	return nil
}

// groups is how many groups of --per-doc cases make at least --events events.
func (o *benchEPCISOptions) groups() int {
	per := o.perDoc * len(benchEPCISSteps)
	return (o.events + per - 1) / per
}

// epcisDoc is one generated document.
type epcisDoc struct {
	group, step int
	events      int
	body        []byte
}

// epcisScenario generates the documents of the benchmark.
type epcisScenario struct {
	o    benchEPCISOptions
	base time.Time // event times are after it, before the run starts
}

func (s epcisScenario) sgtin(serial int) string {
	return fmt.Sprintf("urn:epc:id:sgtin:%s.%s.%d", benchEPCISPrefix, benchEPCISItemRef, serial)
}

// sscc is case k's SSCC: extension digit 0 and a 9-digit serial reference
// (17 digits with the company prefix).
func (s epcisScenario) sscc(k int) string {
	return fmt.Sprintf("urn:epc:id:sscc:%s.0%09d", benchEPCISPrefix, k)
}

// benchEPCISGTIN is the GTIN-14 of the benchmark's vials.
func benchEPCISGTIN() string {
	g, _ := supply.GTINOf(fmt.Sprintf("urn:epc:id:sgtin:%s.%s.1", benchEPCISPrefix, benchEPCISItemRef))
	return g
}

// The JSON shapes of the generated events (EPCIS 2.0 JSON-LD).
type (
	epcisID struct {
		ID string `json:"id"`
	}
	epcisReport struct {
		Type  string  `json:"type"`
		Value float64 `json:"value"`
		UOM   string  `json:"uom"`
		Time  string  `json:"time"`
	}
	epcisElement struct {
		SensorReport []epcisReport `json:"sensorReport"`
	}
	epcisEvent struct {
		Type        string              `json:"type"`
		Action      string              `json:"action"`
		BizStep     string              `json:"bizStep"`
		Disposition string              `json:"disposition"`
		EventTime   string              `json:"eventTime"`
		TZ          string              `json:"eventTimeZoneOffset"`
		EPCs        []string            `json:"epcList,omitempty"`
		ParentID    string              `json:"parentID,omitempty"`
		ChildEPCs   []string            `json:"childEPCs,omitempty"`
		ReadPoint   *epcisID            `json:"readPoint,omitempty"`
		BizLocation *epcisID            `json:"bizLocation,omitempty"`
		Dests       []map[string]string `json:"destinationList,omitempty"`
		ILMD        map[string]string   `json:"ilmd,omitempty"`
		Sensors     []epcisElement      `json:"sensorElementList,omitempty"`
	}
)

// doc generates the document of step for group g.
func (s epcisScenario) doc(g, step int) (*epcisDoc, error) {
	n := s.o.perDoc
	at := s.base.Add(time.Duration(g*len(benchEPCISSteps)+step) * time.Second)
	when := at.Format(time.RFC3339)
	lot := fmt.Sprintf("LOT-%04d", g+1)
	expiry := s.base.AddDate(2, 0, 0).Format(time.DateOnly)
	evs := make([]epcisEvent, n)
	for i := range n {
		k := g*n + i // case number
		e := epcisEvent{EventTime: when, TZ: "+00:00"}
		sensor := s.o.sensorEvery > 0 && k%s.o.sensorEvery == 0
		switch benchEPCISSteps[step] {
		case "commissioning":
			e.Type, e.Action, e.BizStep, e.Disposition = epcis.ObjectEvent, epcis.ActionAdd, "commissioning", "active"
			for v := range s.o.vials {
				e.EPCs = append(e.EPCs, s.sgtin(100000000+k*s.o.vials+v))
			}
			e.ReadPoint, e.BizLocation = &epcisID{benchEPCISMakerGLN}, &epcisID{benchEPCISMakerGLN}
			e.ILMD = map[string]string{"cbvmda:lotNumber": lot, "cbvmda:itemExpirationDate": expiry}
			sensor = false
		case "packing":
			e.Type, e.Action, e.BizStep, e.Disposition = epcis.AggregationEvent, epcis.ActionAdd, "packing", "in_progress"
			e.ParentID = s.sscc(k)
			for v := range s.o.vials {
				e.ChildEPCs = append(e.ChildEPCs, s.sgtin(100000000+k*s.o.vials+v))
			}
			e.BizLocation = &epcisID{benchEPCISMakerGLN}
			sensor = false
		case "shipping":
			e.Type, e.Action, e.BizStep, e.Disposition = epcis.ObjectEvent, epcis.ActionObserve, "shipping", "in_transit"
			e.EPCs = []string{s.sscc(k)}
			e.ReadPoint = &epcisID{benchEPCISMakerGLN}
			e.Dests = []map[string]string{{"type": "owning_party", "destination": "org:" + benchEPCISDist}}
		case "receiving":
			e.Type, e.Action, e.BizStep, e.Disposition = epcis.ObjectEvent, epcis.ActionObserve, "receiving", "in_progress"
			e.EPCs = []string{s.sscc(k)}
			e.ReadPoint, e.BizLocation = &epcisID{benchEPCISDistGLN}, &epcisID{benchEPCISDistGLN}
		}
		if sensor {
			e.Sensors = []epcisElement{{SensorReport: []epcisReport{{Type: "gs1:Temperature", UOM: "CEL", Time: when, Value: 5}}}}
		}
		evs[i] = e
	}
	body, err := json.Marshal(map[string]any{
		"@context":      []string{epcis.ContextURL},
		"type":          "EPCISDocument",
		"schemaVersion": "2.0",
		"creationDate":  at.Format(time.RFC3339),
		"epcisBody":     map[string]any{"eventList": evs},
	})
	if err != nil {
		return nil, err
	}
	return &epcisDoc{group: g, step: step, events: n, body: body}, nil
}

// docs generates every document: docs[g][step].
func (s epcisScenario) docs() ([][]*epcisDoc, error) {
	out := make([][]*epcisDoc, s.o.groups())
	for g := range out {
		out[g] = make([]*epcisDoc, len(benchEPCISSteps))
		for step := range benchEPCISSteps {
			d, err := s.doc(g, step)
			if err != nil {
				return nil, err
			}
			out[g][step] = d
		}
	}
	return out, nil
}

// epcisStepStats summarizes the documents of one step.
type epcisStepStats struct {
	Step      string    `json:"step"`
	Documents int       `json:"documents"`
	Events    int       `json:"events"` // accepted
	Rejected  int       `json:"rejected"`
	Latency   latencyMS `json:"latency_ms"` // POST → answer (after commit)
	ParseUS   float64   `json:"parse_us_per_event"`
}

// benchEPCISReport is the outcome of `carechain bench epcis`.
type benchEPCISReport struct {
	Command         string           `json:"command"`
	Go              string           `json:"go"`
	CPUs            int              `json:"cpus"`
	GOMAXPROCS      int              `json:"gomaxprocs"`
	LoadAverage     string           `json:"load_average"`
	TimeoutCommitMS float64          `json:"timeout_commit_ms"`
	API             string           `json:"api"`
	Home            string           `json:"home,omitempty"`
	SetupSeconds    float64          `json:"setup_seconds"`
	Clients         int              `json:"clients"`
	EventsPerDoc    int              `json:"events_per_document"`
	Vials           int              `json:"vials_per_case"`
	SensorEvery     int              `json:"sensor_every"`
	DocBytes        int              `json:"document_bytes_mean"`
	Documents       int              `json:"documents"`
	Events          int              `json:"events"` // accepted, in all
	Rejected        int              `json:"rejected"`
	ElapsedSeconds  float64          `json:"elapsed_seconds"` // first POST → last answer
	EventsPerSecond float64          `json:"events_per_second"`
	Latency         latencyMS        `json:"latency_ms"` // every document
	Steps           []epcisStepStats `json:"steps"`
	CPU             cpuUse           `json:"cpu"`
	CPUPerEventUS   float64          `json:"cpu_us_per_event"`
	Blocks          blockStats       `json:"blocks"`
	Admissions      admissionStats   `json:"admissions"`
	Errors          map[string]int   `json:"errors,omitempty"`
	ErrorSample     string           `json:"error_sample,omitempty"`
	Profile         string           `json:"cpuprofile,omitempty"`
}

// epcisResult is the outcome of one posted document.
type epcisResult struct {
	doc      *epcisDoc
	latency  time.Duration
	accepted int
	rejected int
	err      error
}

func runBenchEPCIS(ctx context.Context, o benchEPCISOptions) (*benchEPCISReport, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	tc := o.timeoutCommit
	if tc == 0 {
		tc = node.DefaultTimeoutCommit
	}
	rep := &benchEPCISReport{Command: strings.Join(os.Args, " "), Go: runtime.Version(), CPUs: runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), LoadAverage: loadAverage(), TimeoutCommitMS: float64(tc) / float64(time.Millisecond),
		Clients: o.clients, EventsPerDoc: o.perDoc, Vials: o.vials, SensorEvery: o.sensorEvery}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	logf("carechain bench epcis: 1 validator (embedded CometBFT, timeout_commit %s), %d CPUs (GOMAXPROCS %d), %s, load average %s",
		tc, rep.CPUs, rep.GOMAXPROCS, rep.Go, rep.LoadAverage)

	d, err := startBenchDemo(ctx, "bench-epcis", benchEPCISSeed, benchEPCISPatients, o.timeoutCommit, o.keep, o.clients, logf)
	if err != nil {
		return nil, err
	}
	defer d.close()
	rep.API, rep.SetupSeconds = d.api, d.setup.Seconds()
	if o.keep {
		rep.Home = d.home
	}
	maker, err := d.staff(benchEPCISMakerBy)
	if err != nil {
		return nil, err
	}
	dist, err := d.staff(benchEPCISDistBy)
	if err != nil {
		return nil, err
	}
	if err := registerBenchProduct(ctx, d, maker); err != nil {
		return nil, err
	}

	// Generate every document before the clock starts, and time the edge
	// (parse + convert) on the first document of each step.
	sc := epcisScenario{o: o, base: time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)}
	docs, err := sc.docs()
	if err != nil {
		return nil, err
	}
	total, bytes := 0, 0
	for _, g := range docs {
		for _, doc := range g {
			total += doc.events
			bytes += len(doc.body)
		}
	}
	rep.Documents, rep.DocBytes = len(docs)*len(benchEPCISSteps), bytes/(len(docs)*len(benchEPCISSteps))
	rep.Steps = make([]epcisStepStats, len(benchEPCISSteps))
	for step, name := range benchEPCISSteps {
		rep.Steps[step].Step = name
		us, err := edgeCost(docs[0][step])
		if err != nil {
			return nil, fmt.Errorf("generated %s document: %w", name, err)
		}
		rep.Steps[step].ParseUS = us
	}
	logf("%d documents of %d events (%d events, %d cases of %d vials, ~%d KB each), %d clients…",
		rep.Documents, o.perDoc, total, len(docs)*o.perDoc, o.vials, rep.DocBytes/1024, o.clients)

	signers := []*client.Signer{client.NewSigner(maker.DID, maker.Key), client.NewSigner(dist.DID, dist.Key)}
	orgs := []string{benchEPCISMaker, benchEPCISDist}
	// Warm the client's chain id cache outside the clock.
	if _, err := d.client.ChainID(ctx); err != nil {
		return nil, err
	}

	prof := &benchProfile{path: o.cpuProfile, phase: "all"}
	defer prof.stop("end")
	if err := prof.start("capture"); err != nil {
		return nil, err
	}
	rep.Profile = o.cpuProfile

	// A document is ready when the one before it in its group has
	// committed; ready holds them in the order they became ready.
	ready := make(chan *epcisDoc, rep.Documents)
	for _, g := range docs {
		ready <- g[0]
	}
	results := make(chan epcisResult, rep.Documents)
	bar := newBar(int64(total), "capturing EPCIS events")
	var wg sync.WaitGroup
	adm := startAdmissions(d.node.node.App.Stats())
	cpu := startCPU()
	start := time.Now()
	for range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for doc := range ready {
				who := 0
				if benchEPCISSteps[doc.step] == "receiving" {
					who = 1
				}
				t := time.Now()
				res, err := d.client.CaptureEPCIS(ctx, signers[who], orgs[who], doc.body)
				r := epcisResult{doc: doc, latency: time.Since(t), err: err}
				if err == nil {
					r.accepted, r.rejected = res.Accepted, len(res.Rejected)
				}
				results <- r
			}
		}()
	}
	var all []epcisResult
	pending := rep.Documents
	for pending > 0 {
		r := <-results
		all = append(all, r)
		pending--
		bar.Add(r.accepted + r.rejected)
		switch {
		case r.err != nil || r.rejected > 0:
			pending -= len(benchEPCISSteps) - 1 - r.doc.step // the rest of its group is not sent
		case r.doc.step+1 < len(benchEPCISSteps):
			ready <- docs[r.doc.group][r.doc.step+1]
		}
	}
	end := time.Now()
	close(ready)
	wg.Wait()
	bar.Finish()
	prof.stop("end")
	rep.CPU = cpu.stop()
	rep.Admissions = adm.stop()
	rep.ElapsedSeconds = end.Sub(start).Seconds()
	rep.Blocks = d.watcher.stats(start, end.Add(time.Millisecond))
	rep.summarize(all)
	if rep.EventsPerSecond > 0 {
		rep.CPUPerEventUS = rep.CPU.Cores / rep.EventsPerSecond * 1e6
	}
	return rep, ctx.Err()
}

// summarize fills the counts, rates and latencies from the results.
func (rep *benchEPCISReport) summarize(all []epcisResult) {
	var lat []time.Duration
	steps := make([][]time.Duration, len(rep.Steps))
	for _, r := range all {
		st := &rep.Steps[r.doc.step]
		if r.err != nil {
			if rep.Errors == nil {
				rep.Errors = map[string]int{}
			}
			rep.Errors[errorKind(r.err)]++
			if rep.ErrorSample == "" {
				rep.ErrorSample = fmt.Sprintf("%s document of group %d: %v", st.Step, r.doc.group, r.err)
			}
			continue
		}
		st.Documents++
		st.Events += r.accepted
		st.Rejected += r.rejected
		rep.Events += r.accepted
		rep.Rejected += r.rejected
		lat = append(lat, r.latency)
		steps[r.doc.step] = append(steps[r.doc.step], r.latency)
	}
	rep.Latency = latencies(lat)
	for i := range rep.Steps {
		rep.Steps[i].Latency = latencies(steps[i])
	}
	if rep.ElapsedSeconds > 0 {
		rep.EventsPerSecond = float64(rep.Events) / rep.ElapsedSeconds
	}
}

// edgeCost parses and converts doc as the capture endpoint does and
// returns the time per event in µs (one goroutine).
func edgeCost(doc *epcisDoc) (float64, error) {
	t := time.Now()
	parsed, err := epcis.Parse(doc.body)
	if err != nil {
		return 0, err
	}
	evs, err := epcis.SupplyEvents(parsed)
	if err != nil {
		return 0, err
	}
	if len(evs) != doc.events {
		return 0, fmt.Errorf("%d events converted, want %d", len(evs), doc.events)
	}
	return float64(time.Since(t).Microseconds()) / float64(doc.events), nil
}

// registerBenchProduct registers the vials' product (2–8 °C, a 60 minute
// excursion budget) for the manufacturer, signed by its logistics member,
// so that the temperature reports are checked against it.
func registerBenchProduct(ctx context.Context, d *benchDemo, id seed.Identity) error {
	n := d.node.node
	st, err := n.Status(ctx)
	if err != nil {
		return err
	}
	seq, err := n.Sequence(ctx, id.DID)
	if err != nil {
		return err
	}
	lo, hi := int64(2000), int64(8000)
	raw, err := tx.Build(st.ChainID, id.DID, id.Key, seq, supply.TypeProductRegister, map[string]any{
		"org": benchEPCISMaker, "gtin": benchEPCISGTIN(), "name": "Bench vaccine 10-dose vial",
		"storage_min_milli_c": lo, "storage_max_milli_c": hi, "excursion_minutes": 60, "doses_per_vial": 10})
	if err != nil {
		return err
	}
	res := n.Submit(ctx, [][]byte{raw}, true)[0]
	if !res.Accepted || res.Height == 0 {
		return cc.Errorf("bench", cc.KindFromCode(res.Code), "registering the bench product: %s", res.Log)
	}
	return nil
}

// print writes the report for people.
func (rep *benchEPCISReport) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	p("target", "carechain, 1 validator (embedded CometBFT, timeout_commit %.0f ms), HTTP API %s", rep.TimeoutCommitMS, rep.API)
	p("machine", "%d CPUs, GOMAXPROCS %d, %s, load average at start %s", rep.CPUs, rep.GOMAXPROCS, rep.Go, rep.LoadAverage)
	p("setup", "fresh demo home, node start, demo world seeded, product registered: %.1f s", rep.SetupSeconds)
	p("load", "%d EPCIS documents of %d events (~%d KB), %d clients, POST /epcis/capture; cases of %d vials; a temperature report on every %d. shipping/receiving event",
		rep.Documents, rep.EventsPerDoc, rep.DocBytes/1024, rep.Clients, rep.Vials, rep.SensorEvery)
	p("EVENTS/S", "%.0f  (%d events committed in %.2f s, first POST → last answer)", rep.EventsPerSecond, rep.Events, rep.ElapsedSeconds)
	l := rep.Latency
	p("LATENCY", "p50 %.0f ms  p99 %.0f ms  max %.0f ms  (POST → answer after commit, n=%d documents)", l.P50, l.P99, l.Max, l.N)
	for _, s := range rep.Steps {
		p("  "+s.Step, "%d documents, %d events, p50 %.0f ms p99 %.0f ms; parse + convert %.0f µs/event (one core)",
			s.Documents, s.Events, s.Latency.P50, s.Latency.P99, s.ParseUS)
	}
	p("cpu", "%s", cpuLine(rep.CPU, fmt.Sprintf(", %.0f µs per event", rep.CPUPerEventUS)))
	b := rep.Blocks
	p("blocks", "%d, %d txs, interval mean %.0f ms max %.0f ms", b.Blocks, b.Txs, b.IntervalMeanMS, b.IntervalMaxMS)
	a := rep.Admissions
	p("admissions", "%d reused by FinalizeBlock, %d executed there again, %d run again in CheckTx (a block was proposed meanwhile)",
		a.Reused, a.Executed, a.Readmitted)
	if rep.Rejected > 0 {
		p("rejected", "%d events rejected as fraud signals (a bug of the generated load)", rep.Rejected)
	}
	if len(rep.Errors) > 0 {
		p("errors", "%s (the rest of each failed group was not sent)", countsLine(rep.Errors))
		p("first error", "%s", rep.ErrorSample)
	}
	if rep.Profile != "" {
		p("cpu profile", "%s (capture)", rep.Profile)
	}
	if rep.Home != "" {
		p("home", "%s (kept)", rep.Home)
	}
	tw.Flush()
}

// admissionStats counts, over the capture, what became of the ledger's
// CheckTx executions (ledger.Stats): reused by FinalizeBlock, executed
// there again (admitted at another height, or not reusable), or run again
// in CheckTx because a block was proposed while they ran.
type admissionStats struct {
	Reused     uint64 `json:"reused"`
	Executed   uint64 `json:"executed_again"`
	Readmitted uint64 `json:"readmitted"`
}

// admissionCounter snapshots ledger.Stats at the start of the capture.
type admissionCounter struct {
	s                         *ledger.Stats
	reused, txs, failed, read uint64
}

func startAdmissions(s *ledger.Stats) admissionCounter {
	return admissionCounter{s: s, reused: s.Reused.Load(), txs: s.CommittedTx.Load(), failed: s.FailedTx.Load(), read: s.Readmitted.Load()}
}

// stop returns the counts since startAdmissions.
func (c admissionCounter) stop() admissionStats {
	reused := c.s.Reused.Load() - c.reused
	txs := c.s.CommittedTx.Load() - c.txs + c.s.FailedTx.Load() - c.failed
	return admissionStats{Reused: reused, Executed: txs - min(txs, reused), Readmitted: c.s.Readmitted.Load() - c.read}
}

package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"carechain/epcis"
	"carechain/supply"
)

func TestBenchEPCISFlags(t *testing.T) {
	c := newBenchEPCISCmd(&globals{output: "text"})
	defaults := map[string]string{"clients": "8", "per-doc": "500", "events": "40000", "vials": "10", "sensor-every": "4",
		"cpuprofile": "", "keep": "false", "timeout-commit": "0s"}
	checkFlagDefaults(t, c, defaults)
	if err := c.ParseFlags([]string{"--clients", "16", "--per-doc", "1000", "--cpuprofile", "cpu.prof"}); err != nil {
		t.Fatal(err)
	}
	if v := c.Flags().Lookup("per-doc").Value.String(); v != "1000" {
		t.Errorf("--per-doc parsed as %s", v)
	}
}

func TestBenchEPCISCheck(t *testing.T) {
	ok := benchEPCISOptions{clients: 8, perDoc: 500, events: 40000, vials: 10, sensorEvery: 4}
	if err := ok.check(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	if g := ok.groups(); g != 20 {
		t.Errorf("40000 events of 4 × 500: %d groups, want 20", g)
	}
	if o := (benchEPCISOptions{perDoc: 500, events: 2001}); o.groups() != 2 {
		t.Errorf("2001 events: %d groups, want 2 (rounded up)", o.groups())
	}
	checkUsageErrors(t, ok, map[string]func(*benchEPCISOptions){
		"no clients":          func(o *benchEPCISOptions) { o.clients = 0 },
		"empty documents":     func(o *benchEPCISOptions) { o.perDoc = 0 },
		"over a transaction":  func(o *benchEPCISOptions) { o.perDoc = supply.MaxEventsPerTx + 1 },
		"no events":           func(o *benchEPCISOptions) { o.events = 0 },
		"no vials":            func(o *benchEPCISOptions) { o.vials = 0 },
		"too many EPCs":       func(o *benchEPCISOptions) { o.perDoc, o.vials = 1000, 40 },
		"negative sensor gap": func(o *benchEPCISOptions) { o.sensorEvery = -1 },
	})
}

// TestBenchEPCISDocuments checks that the generated documents are valid
// EPCIS 2.0 (schema and semantic rules) and say what the benchmark claims.
func TestBenchEPCISDocuments(t *testing.T) {
	sc := epcisScenario{o: benchEPCISOptions{perDoc: 4, events: 32, vials: 3, sensorEvery: 2},
		base: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)}
	docs, err := sc.docs()
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || len(docs[0]) != 4 {
		t.Fatalf("%d groups of %d documents, want 2 of 4", len(docs), len(docs[0]))
	}
	seen := map[string]bool{}
	for g, group := range docs {
		for step, d := range group {
			doc, err := epcis.Parse(d.body)
			if err != nil {
				t.Fatalf("group %d %s: %v\n%s", g, benchEPCISSteps[step], err, d.body)
			}
			evs, err := epcis.SupplyEvents(doc)
			if err != nil {
				t.Fatalf("group %d %s: %v", g, benchEPCISSteps[step], err)
			}
			if len(evs) != 4 || d.events != 4 {
				t.Fatalf("group %d %s: %d events", g, benchEPCISSteps[step], len(evs))
			}
			sensors := 0
			for _, ev := range evs {
				if ev.BizStep != benchEPCISSteps[step] {
					t.Errorf("group %d: biz step %q in the %s document", g, ev.BizStep, benchEPCISSteps[step])
				}
				sensors += len(ev.Sensors)
				switch step {
				case 0:
					if len(ev.EPCs) != 3 || ev.Lot == "" || ev.Expiry == "" {
						t.Errorf("commissioning %+v", ev)
					}
					for _, epc := range ev.EPCs {
						if gtin, ok := supply.GTINOf(epc); !ok || gtin != benchEPCISGTIN() || seen[epc] {
							t.Errorf("vial %s: GTIN %s (want %s), seen before %v", epc, gtin, benchEPCISGTIN(), seen[epc])
						}
						seen[epc] = true
					}
				case 1:
					if !strings.HasPrefix(ev.ParentID, "urn:epc:id:sscc:0614141.") || len(ev.ChildEPCs) != 3 {
						t.Errorf("packing %+v", ev)
					}
				case 2:
					if len(ev.Destinations) != 1 || ev.Destinations[0].ID != "org:"+benchEPCISDist {
						t.Errorf("shipping destinations %+v", ev.Destinations)
					}
				}
			}
			if want := map[int]int{0: 0, 1: 0, 2: 2, 3: 2}[step]; sensors != want {
				t.Errorf("group %d %s: %d temperature reports, want %d", g, benchEPCISSteps[step], sensors, want)
			}
		}
	}
	if len(seen) != 2*4*3 {
		t.Errorf("%d distinct vials, want 24", len(seen))
	}
	if benchEPCISGTIN() != "10614141073464" {
		t.Errorf("GTIN %s", benchEPCISGTIN())
	}
}

func TestBenchEPCISReport(t *testing.T) {
	d := func(step int) *epcisDoc { return &epcisDoc{step: step, events: 500} }
	rep := &benchEPCISReport{CPUs: 2, GOMAXPROCS: 2, Go: "go1.26", LoadAverage: "0.10 0.20 0.30", TimeoutCommitMS: 200,
		API: "http://127.0.0.1:1", Clients: 8, EventsPerDoc: 500, Vials: 10, SensorEvery: 4, Documents: 4, DocBytes: 270000,
		ElapsedSeconds: 2, CPU: cpuUse{Cores: 1.8}}
	for _, name := range benchEPCISSteps {
		rep.Steps = append(rep.Steps, epcisStepStats{Step: name, ParseUS: 150})
	}
	rep.summarize([]epcisResult{
		{doc: d(0), latency: 800 * time.Millisecond, accepted: 500},
		{doc: d(1), latency: 900 * time.Millisecond, accepted: 500},
		{doc: d(2), latency: time.Second, accepted: 500},
		{doc: d(3), err: errors.New("boom")},
	})
	if rep.Events != 1500 || rep.EventsPerSecond != 750 || rep.Latency.N != 3 || rep.Errors["internal"] != 1 {
		t.Errorf("summary %+v", rep)
	}
	checkReport(t, rep, rep.print, []string{
		"EVENTS/S         750  (1500 events committed in 2.00 s, first POST → last answer)",
		"  packing        1 documents, 500 events, p50 900 ms p99 900 ms; parse + convert 150 µs/event",
		"1 × internal",
		"first error      receiving document of group 0: boom",
	}, "events_per_second", "latency_ms", "steps", "cpu", "blocks", "load_average")
}

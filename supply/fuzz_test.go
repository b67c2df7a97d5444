package supply

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"carechain/internal/cctest"
)

// supplySeeds are payloads that reach deep into the handler; they are also
// the files under testdata/fuzz/FuzzSupplyPayloads.
func supplySeeds() []string {
	seeds := []any{
		events(commission(sgtin("f1"), sgtin("f2")), pack(sscc("3001"), sgtin("f1"), sgtin("f2")), ship("distrib", sscc("3001"))),
		events(commission(sgtin("v3"))),
		obj{"org": "distrib", "events": []obj{receive(distSite, sgtin("v5"), sgtin("ghost"))}},
		obj{"org": "distrib", "events": []obj{receive(distSite, sgtin("v5"))}},
		events(unpack(sscc("1001")), decommission(sgtin("v1"))),
		events(pack(sscc("1001"), sscc("2001"))),
		events(ship("org:clinic", sscc("2001"), sgtin("v1"))),
		obj{"org": "clinic", "events": []obj{receive(clinicSite, sgtin("v8")), unpack(sgtin("v8"))}},
		events(ev(ObjectEvent, ActionObserve, "inspecting", obj{"epcs": []string{sgtin("v3")}, "sensors": []obj{{"type": "Temperature", "value_milli_c": 4500, "time": "2026-01-05T09:00:00Z"}}})),
		events(ev(TransactionEvent, ActionAdd, "", obj{"parent_id": sgtin("v6")})),
	}
	out := make([]string, 0, len(seeds)+3)
	for _, s := range seeds {
		b, _ := json.Marshal(s)
		out = append(out, string(b))
	}
	return append(out,
		`{"org":"pharma-co","events":[{"type":"ObjectEvent","type":"AggregationEvent"}]}`,
		`{"org":"pharma-co","events":[{"type":"ObjectEvent","action":"ADD","event_time":"2026-01-05T09:00:00Z","epcs":["https://id.gs1.org/01/09506000134352/21/%2F"],"sensors":[{"type":"T","value_milli_c":9223372036854775807}]}]}`,
		`{"org":"","events":null}`)
}

// FuzzSupplyPayloads feeds arbitrary payload bytes to supply.capture as
// several signers. Nothing may panic; every error must be a *cc.Error of
// a specific, non-Internal kind; a rejected transaction must leave the
// state untouched; and the handler must be deterministic.
func FuzzSupplyPayloads(f *testing.F) {
	base := baseEnv(f)
	for _, s := range supplySeeds() {
		f.Add([]byte(s))
	}
	h := Handlers()[TypeCapture]
	signers := []*actor{mfg, dist, nurse, mfgAdmin}
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, s := range signers {
			ctx := base.ctx(s.did, TypeCapture)
			cctest.RunTwiceStrict(t, TypeCapture+" by "+s.name, h, ctx, base.kv, payload)
		}
	})
}

func TestSupplySeedsAreCorpus(t *testing.T) {
	dir := "testdata/fuzz/FuzzSupplyPayloads"
	if os.Getenv("CARECHAIN_WRITE_SEEDS") != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range supplySeeds() {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	corpus := cctest.ReadCorpus(t, dir)
	for i, s := range supplySeeds() {
		if !slices.Contains(corpus, s) {
			t.Errorf("seed %d is not in %s: %s", i, dir, s)
		}
	}
}

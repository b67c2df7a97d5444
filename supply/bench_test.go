package supply

import (
	"encoding/json"
	"fmt"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

// BenchmarkCapture applies one supply.capture of MaxEventsPerTx events
// (commission, pack by ten, ship) and reports events per second of
// handler time (no signature check, in-memory state).
func BenchmarkCapture(b *testing.B) {
	e := newEnv(b)
	h := Handlers()[TypeCapture]
	b.ReportAllocs()
	for n := 0; b.Loop(); n++ {
		var evs []obj
		for i := 0; len(evs) < MaxEventsPerTx; i++ {
			var vials []string
			for j := range 10 {
				vials = append(vials, sgtin(fmt.Sprintf("b%d-%d-%d", n, i, j)))
			}
			box := sscc(fmt.Sprintf("%d%06d", n+1, i))
			evs = append(evs, commission(vials...), pack(box, vials...), ship("distrib", box))
		}
		raw, _ := json.Marshal(events(evs[:MaxEventsPerTx]...))
		kv := cctest.Fork(e.kv)
		if _, err := h(e.ctx(mfg.did, TypeCapture), kv, raw); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*MaxEventsPerTx)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodeCapture decodes and checks one supply.capture payload of
// MaxEventsPerTx events (commission, pack by ten, ship, with a temperature
// report on every shipment), as CheckTx does before any state is read.
func BenchmarkDecodeCapture(b *testing.B) {
	e := newEnv(b)
	var evs []obj
	for i := 0; len(evs) < MaxEventsPerTx; i++ {
		var vials []string
		for j := range 10 {
			vials = append(vials, sgtin(fmt.Sprintf("d%d-%d", i, j)))
		}
		box := sscc(fmt.Sprintf("9%06d", i))
		s := ship("distrib", box)
		s["sensors"] = []obj{{"type": "Temperature", "value_milli_c": 5000}}
		evs = append(evs, commission(vials...), pack(box, vials...), s)
	}
	js, _ := json.Marshal(events(evs[:MaxEventsPerTx]...))
	raw, err := cc.Canonical(js)
	if err != nil {
		b.Fatal(err)
	}
	ctx := e.ctx(mfg.did, TypeCapture)
	ctx.TxHash = nil
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := decodeCapture(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*MaxEventsPerTx), "ns/event")
}

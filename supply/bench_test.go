package supply

import (
	"encoding/json"
	"fmt"
	"testing"

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

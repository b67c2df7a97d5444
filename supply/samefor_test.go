package supply

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	cc "carechain"
	"carechain/internal/cctest"
)

// TestCaptureSameFor: a capture admitted in CheckTx vouches for the rest
// of its UTC day (cc.Result.SameFor) exactly when it wrote no time and no
// report was clamped, and then FinalizeBlock at a later time in that
// window makes the same writes and result; otherwise it claims nothing and
// buffers no stored event.
func TestCaptureSameFor(t *testing.T) {
	p1 := sscc("2001")
	tests := []struct {
		name   string
		events []obj
		vouch  bool
	}{
		{"custody only", []obj{commission(sgtin("sf1"), sgtin("sf2")), pack(sscc("3001"), sgtin("sf1"), sgtin("sf2"))}, true},
		{"in-range report before the admission", []obj{observeTemps([]obj{temp(at("08:00"), 5000)}, p1)}, true},
		{"report after the admission time", []obj{observeTemps([]obj{temp(at("23:00"), 5000)}, p1)}, false},
		{"an excursion", []obj{observeTemps([]obj{span("08:10", "08:41", 9000, nil)}, p1)}, false},
		{"a fraud alert", []obj{commission(sgtin("v1"))}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := coldEnv(t)
			e.next()
			raw, err := json.Marshal(events(tc.events...))
			if err != nil {
				t.Fatal(err)
			}
			h := Handlers()[TypeCapture]
			check := e.ctx(mfg.did, TypeCapture)
			check.Check = true
			ckv := cctest.Fork(e.kv)
			checked, err := h(check, ckv, raw)
			if err != nil {
				t.Fatalf("CheckTx: %v", err)
			}
			if !tc.vouch {
				if checked.SameFor != (cc.TimeWindow{}) {
					t.Errorf("SameFor = %+v, want none", checked.SameFor)
				}
				if n := len(cctest.Keys(ckv, prefixEvent)) - len(cctest.Keys(e.kv, prefixEvent)); n != 0 {
					t.Errorf("CheckTx buffered %d stored events", n)
				}
				return
			}
			want := cc.TimeWindow{From: check.Time, Until: time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)}
			if checked.SameFor != want {
				t.Fatalf("SameFor = %+v, want %+v", checked.SameFor, want)
			}
			for _, later := range []time.Time{check.Time, check.Time.Add(3 * time.Hour), want.Until.Add(-time.Second)} {
				block := check
				block.Check, block.Time = false, later
				bkv := cctest.Fork(e.kv)
				got, err := h(block, bkv, raw)
				if err != nil {
					t.Fatalf("FinalizeBlock at %v: %v", later, err)
				}
				admitted := checked
				admitted.SameFor = cc.TimeWindow{}
				if !reflect.DeepEqual(got, admitted) {
					t.Errorf("at %v: result %+v, admission's %+v", later, got, admitted)
				}
				if d := cctest.Diff(ckv, bkv); d != "" {
					t.Errorf("at %v: writes differ from the admission's: %s", later, d)
				}
			}
		})
	}
	// Without a last block time (a restarted node's first CheckTx) nothing
	// is claimed.
	e := coldEnv(t)
	e.next()
	check := e.ctx(mfg.did, TypeCapture)
	check.Check, check.Time = true, time.Time{}
	raw, _ := json.Marshal(events(commission(sgtin("sf9"))))
	if res, err := Handlers()[TypeCapture](check, cctest.Fork(e.kv), raw); err != nil || res.SameFor != (cc.TimeWindow{}) {
		t.Errorf("zero time: %+v, %v; want no window", res.SameFor, err)
	}
}

// FuzzCaptureSameFor: for any payload, an admission that vouches for a
// window (cc.Result.SameFor) makes exactly the writes and result of the
// block's execution at any time in that window.
func FuzzCaptureSameFor(f *testing.F) {
	base := coldEnv(f)
	base.next()
	for _, s := range supplySeeds() {
		f.Add([]byte(s), uint16(0))
	}
	p1 := sscc("2001")
	for i, evs := range [][]obj{
		{observeTemps([]obj{temp(at("08:00"), 5000), temp(at("09:59"), 9000)}, p1)},
		{observeTemps([]obj{span("08:10", "08:20", 9000, nil)}, p1), commission(sgtin("fz1"))},
		{observeTemps([]obj{temp(at("11:00"), 5000)}, p1)},
	} {
		raw, _ := json.Marshal(events(evs...))
		f.Add(raw, uint16(100*i))
	}
	h := Handlers()[TypeCapture]
	f.Fuzz(func(t *testing.T, payload []byte, minutes uint16) {
		for _, s := range []*actor{mfg, dist} {
			check := base.ctx(s.did, TypeCapture)
			check.Check = true
			ckv := cctest.Fork(base.kv)
			checked, err := h(check, ckv, payload)
			if err != nil || checked.SameFor == (cc.TimeWindow{}) {
				continue
			}
			block := check
			block.Check, block.Time = false, check.Time.Add(time.Duration(minutes)*time.Minute)
			if !checked.SameFor.Contains(block.Time) {
				continue
			}
			bkv := cctest.Fork(base.kv)
			got, err := h(block, bkv, payload)
			if err != nil {
				t.Fatalf("%s: admitted with a window, the block at %v fails: %v", s.name, block.Time, err)
			}
			checked.SameFor = cc.TimeWindow{}
			if !reflect.DeepEqual(got, checked) {
				t.Fatalf("%s at %v: result %+v, admission's %+v", s.name, block.Time, got, checked)
			}
			if d := cctest.Diff(ckv, bkv); d != "" {
				t.Fatalf("%s at %v: writes differ from the admission's: %s", s.name, block.Time, d)
			}
		}
	})
}

package supply

import (
	"slices"
	"strings"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

// unreg is an SGTIN of a product that is not registered (GTIN
// 09506000134352).
func unreg(serial string) string { return "urn:epc:id:sgtin:950600.0013435." + serial }

// coldEnv: the vaccine (2..8 °C, 30 minutes) registered; v1 and v2 packed
// in case c1 (sscc 1001), c1 in pallet p1 (sscc 2001); v3 and u1 (an
// unregistered product) alone; all held by pharma-co; block time 10:00.
func coldEnv(t testing.TB) *env {
	t.Helper()
	e := newMasterEnv(t)
	e.mustRun(t, mfg, TypeProductRegister, vaccine(nil))
	e.mustCapture(t, mfg, "pharma-co",
		commission(sgtin("v1"), sgtin("v2"), sgtin("v3"), unreg("u1")),
		pack(sscc("1001"), sgtin("v1"), sgtin("v2")),
		pack(sscc("2001"), sscc("1001")))
	e.time = day("10:00")
	return e
}

// span is a temperature report over [from, to].
func span(from, to string, value int64, set obj) obj {
	s := obj{"type": "Temperature", "time": at(to), "start_time": at(from), "end_time": at(to), "value_milli_c": value}
	for k, v := range set {
		s[k] = v
	}
	return s
}

func TestExcursionAccounting(t *testing.T) {
	p1, v1, v3, u1 := sscc("2001"), sgtin("v1"), sgtin("v3"), unreg("u1")
	type step struct {
		sensors []obj
		epcs    []string
	}
	tests := []struct {
		name    string
		product obj // re-registration of the vaccine, or nil
		extra   obj // a product registered for u1's GTIN, or nil
		steps   []step
		epc     string // the item to check
		wantSec int64
		wantQ   bool // quarantined
	}{
		{"in range", nil, nil, []step{{[]obj{temp(at("08:00"), 5000)}, []string{p1}}, {[]obj{temp(at("08:20"), 2000)}, []string{p1}}}, v1, 0, false},
		{"first report lasts 0", nil, nil, []step{{[]obj{temp(at("08:00"), 9000)}, []string{p1}}}, v1, 0, false},
		{"since the previous report", nil, nil, []step{{[]obj{temp(at("08:00"), 9000)}, []string{p1}}, {[]obj{temp(at("08:20"), 8001)}, []string{p1}}}, v1, 1200, false},
		{"budget exceeded", nil, nil, []step{{[]obj{temp(at("08:00"), 9000)}, []string{p1}}, {[]obj{temp(at("08:20"), 9000)}, []string{p1}}, {[]obj{temp(at("08:31"), 1999)}, []string{p1}}}, v1, 1860, true},
		{"budget reached is not exceeded", nil, nil, []step{{[]obj{temp(at("08:00"), 9000)}, []string{p1}}, {[]obj{temp(at("08:30"), 9000)}, []string{p1}}}, v1, 1800, false},
		{"in-range report moves the clock", nil, nil, []step{{[]obj{temp(at("08:00"), 9000)}, []string{p1}}, {[]obj{temp(at("08:20"), 5000)}, []string{p1}}, {[]obj{temp(at("08:30"), 9000)}, []string{p1}}}, v1, 600, false},
		{"reports of an event in time order", nil, nil, []step{{[]obj{temp(at("08:20"), 9000), temp(at("08:00"), 9000)}, []string{p1}}}, v1, 1200, false},
		{"event time when no time", nil, nil, []step{{[]obj{{"type": "Temperature", "value_milli_c": 9000}}, []string{p1}}, {[]obj{temp(at("08:10"), 9000)}, []string{p1}}}, v1, 600, false},
		{"out of order counts 0", nil, nil, []step{{[]obj{temp(at("08:20"), 9000)}, []string{p1}}, {[]obj{temp(at("08:00"), 9000)}, []string{p1}}, {[]obj{temp(at("08:30"), 9000)}, []string{p1}}}, v1, 600, false},
		{"future time clamped to the block", nil, nil, []step{{[]obj{temp("2030-01-01T00:00:00Z", 9000)}, []string{p1}}, {[]obj{temp(at("10:02"), 9000)}, []string{p1}}}, v1, 60, false},
		{"span", nil, nil, []step{{[]obj{span("08:00", "08:31", 5000, obj{"min_milli_c": 1000})}, []string{p1}}}, v1, 1860, true},
		{"span in range", nil, nil, []step{{[]obj{span("08:00", "09:00", 5000, obj{"min_milli_c": 2000, "max_milli_c": 8000})}, []string{p1}}}, v1, 0, false},
		{"span maximum", nil, nil, []step{{[]obj{span("08:00", "08:10", 5000, obj{"max_milli_c": 8500})}, []string{p1}}}, v1, 600, false},
		{"span then point", nil, nil, []step{{[]obj{span("08:00", "08:10", 9000, nil)}, []string{p1}}, {[]obj{temp(at("08:15"), 9000)}, []string{p1}}}, v1, 900, false},
		{"uri type", nil, nil, []step{{[]obj{{"type": "gs1:Temperature", "time": at("08:00"), "value_milli_c": 9000}, {"type": "https://gs1.org/voc/Temperature", "time": at("08:10"), "value_milli_c": 9000}}, []string{p1}}}, v1, 600, false},
		{"other sensor types", nil, nil, []step{{[]obj{temp(at("08:00"), 9000), {"type": "Humidity", "time": at("08:10"), "value_milli_c": 9000}, {"type": "urn:x:NotTemperature", "time": at("08:20"), "value_milli_c": 9000}}, []string{p1}}}, v1, 0, false},
		{"leaf listed with its container counts once", nil, nil, []step{{[]obj{temp(at("08:00"), 9000)}, []string{p1, v1}}, {[]obj{temp(at("08:20"), 9000)}, []string{v1, p1}}}, v1, 1200, false},
		{"clock per reported epc", nil, nil, []step{{[]obj{temp(at("08:00"), 9000)}, []string{p1}}, {[]obj{temp(at("08:20"), 9000)}, []string{v3}}}, v1, 0, false},
		{"item alone", nil, nil, []step{{[]obj{temp(at("08:00"), 9000)}, []string{v3}}, {[]obj{temp(at("08:40"), 9000)}, []string{v3}}}, v3, 2400, true},
		{"unregistered product", nil, nil, []step{{[]obj{temp(at("08:00"), 30000)}, []string{u1}}, {[]obj{temp(at("09:00"), 30000)}, []string{u1}}}, u1, 0, false},
		{"zero budget", nil, obj{"gtin": "09506000134352", "excursion_minutes": 0}, []step{{[]obj{temp(at("08:00"), 9000)}, []string{u1}}}, u1, 0, true},
		{"condition false", obj{"condition": "reading.max_milli_c > 25000"}, nil, []step{{[]obj{temp(at("08:00"), 9000)}, []string{p1}}, {[]obj{temp(at("09:00"), 9000)}, []string{p1}}}, v1, 0, false},
		{"condition true", obj{"condition": "reading.max_milli_c > 25000"}, nil, []step{{[]obj{temp(at("08:00"), 9000)}, []string{p1}}, {[]obj{temp(at("08:10"), 26000)}, []string{p1}}}, v1, 600, false},
		{"condition sees the item", obj{"condition": "item.excursion_seconds + reading.duration_seconds > 0 && reading.value_milli_c > product.storage_max_milli_c"}, nil,
			[]step{{[]obj{temp(at("08:00"), 9000)}, []string{p1}}, {[]obj{temp(at("08:40"), 9000)}, []string{p1}}}, v1, 2400, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := coldEnv(t)
			if tc.product != nil {
				e.mustRun(t, mfg, TypeProductRegister, vaccine(tc.product))
			}
			if tc.extra != nil {
				e.mustRun(t, mfg, TypeProductRegister, vaccine(tc.extra))
			}
			var last CaptureResult
			for _, s := range tc.steps {
				last = e.mustCapture(t, mfg, "pharma-co", observeTemps(s.sensors, s.epcs...))
			}
			it := e.item(t, tc.epc)
			if it.ExcursionSeconds != tc.wantSec {
				t.Errorf("%s excursion_seconds = %d, want %d", tc.epc, it.ExcursionSeconds, tc.wantSec)
			}
			if got := it.Status == StatusQuarantined; got != tc.wantQ {
				t.Errorf("%s status %s, quarantined %v, want %v", tc.epc, it.Status, got, tc.wantQ)
			}
			exc, err := Excursions(e.kv)
			if err != nil || (len(exc) == 1) != tc.wantQ || len(exc) > 1 {
				t.Errorf("Excursions = %+v, %v", exc, err)
			}
			if tc.wantQ != (len(last.Quarantined) == 1) {
				t.Errorf("result quarantined %v", last.Quarantined)
			}
		})
	}
}

func TestQuarantine(t *testing.T) {
	e := coldEnv(t)
	p1, c1, v1, v2 := sscc("2001"), sscc("1001"), sgtin("v1"), sgtin("v2")
	e.mustCapture(t, mfg, "pharma-co", observeTemps([]obj{temp(at("08:00"), 9000)}, p1))
	// In-range reports write the reported EPC's clock and nothing else.
	before := cctest.Copy(e.kv)
	e.mustCapture(t, mfg, "pharma-co", observeTemps([]obj{temp(at("08:10"), 5000)}, p1))
	var changed []string
	for _, k := range cctest.Keys(e.kv, "sup/") {
		if a, _ := before.Get(k); a == nil || string(a) != string(mustGet(t, e.kv, k)) {
			changed = append(changed, k)
		}
	}
	if len(changed) != 3 || changed[1] != "sup/i/"+p1 || changed[2] != "sup/lr/"+p1 || !strings.HasPrefix(changed[0], "sup/ev/") {
		t.Errorf("an in-range report changed %v", changed)
	}
	// A span of 31 minutes exceeds the budget: p1 and everything in it is quarantined.
	res, err := e.capture(t, mfg, "pharma-co", observeTemps([]obj{span("08:10", "08:41", 9000, nil)}, p1))
	if err != nil {
		t.Fatal(err)
	}
	if cctest.Attr(res, "supply.excursion", "top") != p1 || cctest.Attr(res, "supply.excursion", "quarantined") != "4" {
		t.Errorf("events %+v", res.Events)
	}
	for _, epc := range []string{p1, c1, v1, v2} {
		it := e.item(t, epc)
		if it.Status != StatusQuarantined || it.Disposition != DispositionQuarantined || it.PrevStatus != StatusActive {
			t.Errorf("%s = %+v", epc, *it)
		}
	}
	exc, err := Excursions(e.kv)
	if err != nil || len(exc) != 1 {
		t.Fatalf("Excursions = %+v, %v", exc, err)
	}
	want := Excursion{EPCs: []string{p1, c1, v1, v2}, Top: p1, EPC: v1, GTIN: vialGTIN, Lot: "LOT-A1",
		Readings:          []ExcursionReading{{Sensor: 0, Start: at("08:10"), Time: at("08:41"), ValueMilliC: 9000, MinMilliC: 9000, MaxMilliC: 9000, DurationSeconds: 1860}},
		CumulativeSeconds: 1860, BudgetSeconds: 1800, Org: "pharma-co", Height: e.height, Time: e.time.Format("2006-01-02T15:04:05Z07:00"), TxHash: exc[0].TxHash}
	if g := exc[0]; !slices.Equal(g.EPCs, want.EPCs) || g.Top != want.Top || g.EPC != want.EPC || g.GTIN != want.GTIN || g.Lot != want.Lot ||
		!slices.Equal(g.Readings, want.Readings) || g.CumulativeSeconds != want.CumulativeSeconds || g.BudgetSeconds != want.BudgetSeconds ||
		g.Org != want.Org || g.Height != want.Height || g.Time != want.Time || g.TxHash == "" {
		t.Errorf("excursion\n got %+v\nwant %+v", g, want)
	}
	// A further excursion on quarantined items writes no new evidence.
	e.mustCapture(t, mfg, "pharma-co", observeTemps([]obj{temp(at("09:00"), 9000)}, p1))
	if exc, _ := Excursions(e.kv); len(exc) != 1 {
		t.Errorf("%d excursions after a second one on quarantined items", len(exc))
	}
	// Quarantined items cannot move, be packed or be ended.
	for name, evt := range map[string]obj{
		"ship":         ship("distrib", p1),
		"unpack":       unpack(c1, v1),
		"pack":         pack(sscc("3001"), p1),
		"decommission": decommission(v1),
	} {
		t.Run(name, func(t *testing.T) {
			wantRejected(t, e, mfg, TypeCapture, events(evt), cc.FailedPrecondition, "quarantined")
		})
	}
}

// mustGet reads key.
func mustGet(t testing.TB, kv cc.Reader, key string) []byte {
	t.Helper()
	b, err := kv.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestColdChainScope(t *testing.T) {
	e := coldEnv(t)
	p1, v1 := sscc("2001"), sgtin("v1")
	// Another organization's report on pharma-co's pallet counts for nothing.
	res, err := e.capture(t, dist, "distrib", ev(TransactionEvent, ActionAdd, "", obj{"epcs": []string{p1}, "sensors": []obj{span("08:00", "09:00", 30000, nil)}}))
	if err != nil {
		t.Fatal(err)
	}
	if cctest.DecodeData[CaptureResult](t, res).Accepted != 1 {
		t.Error("the foreign report was not recorded")
	}
	if it := e.item(t, v1); it.ExcursionSeconds != 0 {
		t.Errorf("foreign report counted: %+v", *it)
	}
	if b := mustGet(t, e.kv, lastReadKey(p1)); b != nil {
		t.Errorf("foreign report set the clock: %s", b)
	}
	// Once p1 is in transit to distrib, distrib's reports count, and an
	// excursion in transit quarantines it; distrib still receives it, held.
	e.mustCapture(t, mfg, "pharma-co", ship("distrib", p1))
	e.mustCapture(t, dist, "distrib", ev(TransactionEvent, ActionAdd, "", obj{"epcs": []string{p1}, "sensors": []obj{span("09:00", "09:45", 30000, nil)}}))
	it := e.item(t, v1)
	if it.ExcursionSeconds != 2700 || it.Status != StatusQuarantined || it.PrevStatus != StatusInTransit || it.InTransitTo != "distrib" {
		t.Fatalf("v1 after an excursion in transit: %+v", *it)
	}
	e.mustCapture(t, dist, "distrib", receive(distSite, p1))
	it = e.item(t, v1)
	if it.Owner != "distrib" || it.Status != StatusQuarantined || it.PrevStatus != StatusReceived || it.PrevDisposition != "in_progress" || it.Location != distSite {
		t.Fatalf("v1 after receipt: %+v", *it)
	}
	// The regulator releases it: received again.
	e.mustRun(t, regOfficer, TypeQuarantineReview, obj{"org": "health-reg", "epcs": []string{p1}, "decision": DecisionRelease, "reason": "stability data supports use"})
	it = e.item(t, v1)
	if it.Status != StatusReceived || it.Disposition != "in_progress" || it.PrevStatus != "" || it.ExcursionSeconds != 2700 {
		t.Errorf("v1 after release: %+v", *it)
	}
	// The budget stays spent: the next excursion quarantines again.
	e.mustCapture(t, dist, "distrib", observeTemps([]obj{span("09:50", "09:51", 9000, nil)}, p1))
	if it := e.item(t, v1); it.Status != StatusQuarantined {
		t.Errorf("v1 after a further excursion: %+v", *it)
	}
}

func TestSensorValidation(t *testing.T) {
	e := coldEnv(t)
	p1 := sscc("2001")
	tests := []struct {
		name   string
		sensor obj
		msg    string
	}{
		{"start without end", obj{"type": "Temperature", "value_milli_c": 1, "start_time": at("08:00")}, "together"},
		{"end without start", obj{"type": "Temperature", "value_milli_c": 1, "end_time": at("08:00")}, "together"},
		{"bad start", obj{"type": "Temperature", "value_milli_c": 1, "start_time": "08:00", "end_time": at("08:00")}, "RFC 3339"},
		{"end before start", span("08:10", "08:00", 1, nil), "after start_time"},
		{"span too long", obj{"type": "Temperature", "value_milli_c": 1, "start_time": "2024-01-01T00:00:00Z", "end_time": at("08:00")}, "days"},
		{"min above max", span("08:00", "08:10", 5000, obj{"min_milli_c": 6000, "max_milli_c": 5500}), "minimum"},
		{"min above value", span("08:00", "08:10", 5000, obj{"min_milli_c": 6000}), "minimum"},
		{"min out of range", span("08:00", "08:10", 5000, obj{"min_milli_c": MinMilliC - 1}), "min_milli_c"},
		{"max out of range", span("08:00", "08:10", 5000, obj{"max_milli_c": MaxMilliC + 1}), "max_milli_c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantRejected(t, e, mfg, TypeCapture, events(observeTemps([]obj{tc.sensor}, p1)), cc.Invalid, tc.msg)
		})
	}
	t.Run("condition error fails the capture", func(t *testing.T) {
		f := e.fork()
		f.mustRun(t, mfg, TypeProductRegister, vaccine(obj{"condition": "reading.value_milli_c / reading.duration_seconds > 100"}))
		wantRejected(t, f, mfg, TypeCapture, events(commission(sgtin("n1")), observeTemps([]obj{temp(at("08:00"), 9000)}, p1)), cc.Invalid, "events[1]: sensors[0]: the excursion condition")
	})
}

func TestQuarantineReview(t *testing.T) {
	e := coldEnv(t)
	p1, c1, v1, v2, v3 := sscc("2001"), sscc("1001"), sgtin("v1"), sgtin("v2"), sgtin("v3")
	// Only c1 (inside p1) is reported on and quarantined.
	e.mustCapture(t, mfg, "pharma-co", observeTemps([]obj{span("08:00", "09:00", 9000, nil)}, c1))
	if it := e.item(t, p1); it.Status != StatusActive {
		t.Fatalf("p1 = %+v", *it)
	}
	review := func(set obj) obj {
		p := obj{"org": "health-reg", "epcs": []string{c1}, "decision": DecisionDestroy, "reason": "excursion of 60 minutes"}
		for k, v := range set {
			if v == nil {
				delete(p, k)
			} else {
				p[k] = v
			}
		}
		return p
	}
	tests := []struct {
		name    string
		signer  *actor
		payload any
		kind    cc.Kind
		msg     string
	}{
		{"unknown field", regAdmin, review(obj{"note": "x"}), cc.Malformed, "note"},
		{"bad decision", regAdmin, review(obj{"decision": "keep"}), cc.Invalid, "decision"},
		{"no reason", regAdmin, review(obj{"reason": nil}), cc.Invalid, "reason"},
		{"no epcs", regAdmin, review(obj{"epcs": []string{}}), cc.Invalid, "epcs"},
		{"bad epc", regAdmin, review(obj{"epcs": []string{"x"}}), cc.Invalid, "EPC"},
		{"epc twice", regAdmin, review(obj{"epcs": []string{c1, c1}}), cc.Invalid, "twice"},
		{"bad org", regAdmin, review(obj{"org": "R"}), cc.Invalid, "org"},
		{"manufacturer", mfgAdmin, review(obj{"org": "pharma-co"}), cc.Unauthorized, "not a regulator"},
		{"regulator without a review role", regClerk, review(nil), cc.Unauthorized, "public-health-officer"},
		{"not a member", mfgAdmin, review(nil), cc.Unauthorized, "needs role"},
		{"suspended regulator", oldReg, review(obj{"org": "old-reg"}), cc.Unauthorized, "suspended"},
		{"unknown epc", regAdmin, review(obj{"epcs": []string{sgtin("zz")}}), cc.NotFound, "never commissioned"},
		{"not quarantined", regAdmin, review(obj{"epcs": []string{c1, v3}}), cc.FailedPrecondition, "not quarantined"},
		{"release of an active item", regOfficer, review(obj{"epcs": []string{p1}, "decision": DecisionRelease}), cc.FailedPrecondition, "not quarantined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantRejected(t, e, tc.signer, TypeQuarantineReview, tc.payload, tc.kind, tc.msg)
		})
	}

	res := e.mustRun(t, regAdmin, TypeQuarantineReview, review(nil))
	rev := cctest.DecodeData[Review](t, res)
	if rev.Decision != DecisionDestroy || !slices.Equal(rev.Affected, []string{c1, v1, v2}) || rev.Org != "health-reg" || rev.Signer != regAdmin.did {
		t.Errorf("review %+v", rev)
	}
	for _, epc := range []string{c1, v1, v2} {
		if it := e.item(t, epc); it.Status != StatusDecommissioned || it.Disposition != DispositionDestroyed {
			t.Errorf("%s after destroy: %+v", epc, *it)
		}
	}
	if it := e.item(t, p1); len(it.Children) != 0 || it.Status != StatusActive {
		t.Errorf("p1 after destroying c1: %+v", *it)
	}
	if it := e.item(t, c1); it.Parent != "" {
		t.Errorf("c1 still packed in %s", it.Parent)
	}
	revs, err := Reviews(e.kv)
	if err != nil || len(revs) != 1 || revs[0].Reason != "excursion of 60 minutes" {
		t.Errorf("Reviews = %+v, %v", revs, err)
	}
	held, err := HeldOfLot(e.kv, "pharma-co", "LOT-A1")
	if err != nil || slices.Contains(held, v1) {
		t.Errorf("destroyed v1 still held: %v, %v", held, err)
	}
	wantRejected(t, e, mfg, TypeCapture, events(observeTemps([]obj{temp(at("09:00"), 5000)}, v1)), cc.Gone, "decommissioned")
}

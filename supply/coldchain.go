package supply

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	cc "carechain"
	"carechain/condition"
)

// Excursion is the on-chain evidence of a cold-chain excursion that
// quarantined items: which reported EPC, which leaf item's budget was
// exceeded, and the temperature reports that counted.
type Excursion struct {
	EPCs              []string           `json:"epcs"` // quarantined by it: Top and everything packed in it, depth first
	Top               string             `json:"top"`  // the EPC the reports were made on
	EPC               string             `json:"epc"`  // the first leaf item (depth first) whose budget was exceeded
	GTIN              string             `json:"gtin"`
	Lot               string             `json:"lot,omitempty"`
	Readings          []ExcursionReading `json:"readings"` // the event's temperature reports, in time order
	CumulativeSeconds int64              `json:"cumulative_seconds"`
	BudgetSeconds     int64              `json:"budget_seconds"` // excursion_minutes × 60
	Org               string             `json:"org"`            // the capturing organization
	Height            int64              `json:"height"`
	Time              string             `json:"time"` // block time, RFC 3339
	TxHash            string             `json:"tx_hash"`
	Event             int                `json:"event"` // index of the event in the transaction
}

// ExcursionReading summarizes one temperature report of an excursion, as
// counted: times are UTC at whole seconds, clamped to the block time.
type ExcursionReading struct {
	Sensor          int    `json:"sensor"` // index in the event's sensors
	Start           string `json:"start,omitempty"`
	Time            string `json:"time"` // the instant, or the end of the span
	ValueMilliC     int64  `json:"value_milli_c"`
	MinMilliC       int64  `json:"min_milli_c"`
	MaxMilliC       int64  `json:"max_milli_c"`
	DurationSeconds int64  `json:"duration_seconds"`
}

// extras buffers what a capture writes besides items: lot masters,
// last-report times and excursions. Its maps are lookups only; flush
// writes in key order.
type extras struct {
	now        time.Time              // block time
	lots       map[string]*pendingLot // by key
	lastRead   map[string]int64       // EPC → Unix second, -1 none (read or to write)
	readDirty  map[string]bool
	products   map[string]*Product // GTIN → product, nil when unregistered (read cache)
	conds      map[condKey]bool    // memoized condition results within the transaction
	excursions []Excursion
}

// condKey identifies a condition evaluation: everything it can see.
type condKey struct {
	gtin, lot                 string
	value, lo, hi, dur, spent int64
}

// reading is one temperature report as counted.
type reading struct {
	sensor int
	start  int64 // Unix second, span reports only
	at     int64 // Unix second of the instant or of the span's end
	span   bool
	value  int64
	lo, hi int64
	dur    int64 // seconds counted (set per reported EPC)
}

// isTemperature reports whether a sensor type is a temperature: the bare
// word "Temperature" or a URI whose last segment is Temperature
// ("gs1:Temperature", "https://gs1.org/voc/Temperature").
func isTemperature(typ string) bool {
	if typ == "Temperature" {
		return true
	}
	rest, ok := strings.CutSuffix(typ, "Temperature")
	return ok && rest != "" && strings.ContainsRune(":/#", rune(rest[len(rest)-1]))
}

// temperatureReadings returns the temperature reports of ev in time order
// (then sensor order), times truncated to Unix seconds and clamped to now;
// clamped reports whether a time was after now (in Unix seconds).
func temperatureReadings(ev *Event, now time.Time) (out []reading, clamped bool) {
	evTime, _ := time.Parse(time.RFC3339, ev.EventTime) // checked by checkEvent
	clamp := func(t time.Time) int64 {
		if t.Unix() > now.Unix() {
			clamped = true
		}
		return min(t.Unix(), now.Unix())
	}
	for j := range ev.Sensors {
		s := &ev.Sensors[j]
		if !isTemperature(s.Type) {
			continue
		}
		r := reading{sensor: j, value: s.ValueMilliC}
		r.lo, r.hi = s.extremes()
		if s.StartTime != "" {
			start, _ := time.Parse(time.RFC3339, s.StartTime)
			end, _ := time.Parse(time.RFC3339, s.EndTime)
			r.span, r.start, r.at = true, clamp(start), clamp(end)
		} else {
			t := evTime
			if s.Time != "" {
				t, _ = time.Parse(time.RFC3339, s.Time)
			}
			r.at = clamp(t)
		}
		out = append(out, r)
	}
	slices.SortStableFunc(out, func(a, b reading) int { return cmp.Compare(a.at, b.at) })
	return out, clamped
}

// lastReadOf returns the Unix second of the last temperature report on
// epc, -1 if there was none.
func (x *extras) lastReadOf(kv cc.Reader, epc string) (int64, error) {
	if t, ok := x.lastRead[epc]; ok {
		return t, nil
	}
	t := int64(-1)
	if _, err := cc.GetJSON(kv, lastReadKey(epc), &t); err != nil {
		return 0, err
	}
	if x.lastRead == nil {
		x.lastRead, x.readDirty = map[string]int64{}, map[string]bool{}
	}
	x.lastRead[epc] = t
	return t, nil
}

// product returns the registered product of gtin, nil if none.
func (x *extras) product(kv cc.Reader, gtin string) (*Product, error) {
	if p, ok := x.products[gtin]; ok {
		return p, nil
	}
	var p *Product
	var v Product
	found, err := cc.GetJSON(kv, productKey(gtin), &v)
	if err != nil {
		return nil, err
	}
	if found {
		p = &v
	}
	if x.products == nil {
		x.products = map[string]*Product{}
	}
	x.products[gtin] = p
	return p, nil
}

// coldChain applies the temperature reports of events[i], an accepted
// event, to the EPCs it reports on (epcs, output_epcs and parent_id) that the capturer
// holds or that are in transit to it; see the package documentation.
func (c *capture) coldChain(i int, ev *Event) error {
	rs, clamped := temperatureReadings(ev, c.ext.now)
	c.clamped = c.clamped || clamped
	if len(rs) == 0 {
		return nil
	}
	targets := append(slices.Clone(ev.EPCs), ev.OutputEPCs...)
	if ev.ParentID != "" {
		targets = append(targets, ev.ParentID)
	}
	listed := listedSet(targets)
	for _, epc := range targets {
		it, err := c.st.get(epc)
		if err != nil {
			return c.internal(err)
		}
		if it == nil || it.Status == StatusDecommissioned || it.Owner != c.org && it.InTransitTo != c.org {
			continue
		}
		if up, err := c.ancestorListed(it, listed); err != nil {
			return c.internal(err)
		} else if up {
			continue // counted with its listed container
		}
		if err := c.applyReadings(i, it, slices.Clone(rs)); err != nil {
			return err
		}
	}
	return nil
}

// applyReadings counts rs on top and every leaf item packed in it, and
// quarantines top's subtree when a leaf's budget is exceeded.
func (c *capture) applyReadings(i int, top *Item, rs []reading) error {
	prev, err := c.ext.lastReadOf(c.st.kv, top.EPC)
	if err != nil {
		return c.internal(err)
	}
	for k := range rs {
		r := &rs[k]
		switch {
		case r.span:
			r.dur = r.at - r.start
		case prev >= 0 && r.at > prev:
			r.dur = r.at - prev
		}
		prev = max(prev, r.at)
	}
	if prev != c.ext.lastRead[top.EPC] {
		c.ext.lastRead[top.EPC], c.ext.readDirty[top.EPC] = prev, true
	}
	var breach *Excursion
	if err := c.walk(top, func(x *Item) error {
		if len(x.Children) > 0 || x.Container {
			return nil
		}
		b, err := c.leafReadings(i, x, rs)
		if breach == nil {
			breach = b
		}
		return err
	}); err != nil || breach == nil {
		return err
	}
	if err := c.walk(top, func(x *Item) error {
		if x.Status == StatusDecommissioned || held(x) {
			return nil
		}
		x.PrevStatus, x.PrevDisposition = x.Status, x.Disposition
		x.Status, x.Disposition, x.UpdatedAt = StatusQuarantined, DispositionQuarantined, c.height
		c.st.put(x)
		breach.EPCs = append(breach.EPCs, x.EPC)
		return nil
	}); err != nil || len(breach.EPCs) == 0 {
		return err // already quarantined: no new evidence
	}
	breach.Top, breach.Event = top.EPC, i
	for _, r := range rs {
		er := ExcursionReading{Sensor: r.sensor, Time: unixTime(r.at), ValueMilliC: r.value,
			MinMilliC: r.lo, MaxMilliC: r.hi, DurationSeconds: r.dur}
		if r.span {
			er.Start = unixTime(r.start)
		}
		breach.Readings = append(breach.Readings, er)
	}
	c.ext.excursions = append(c.ext.excursions, *breach)
	return nil
}

// unixTime formats a Unix second as RFC 3339 UTC.
func unixTime(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }

// leafReadings counts rs on the leaf item x if its product is registered:
// each report that is an excursion (outside the storage range, or the
// product's condition is true) adds its duration to x.ExcursionSeconds.
// It returns the evidence skeleton when x's budget is exceeded.
func (c *capture) leafReadings(i int, x *Item, rs []reading) (*Excursion, error) {
	gtin, ok := GTINOf(x.EPC)
	if !ok {
		return nil, nil
	}
	p, err := c.ext.product(c.st.kv, gtin)
	if err != nil || p == nil {
		return nil, err
	}
	budget := p.ExcursionMinutes * 60
	changed, breached := false, false
	for _, r := range rs {
		exc := r.lo < p.StorageMinMilliC || r.hi > p.StorageMaxMilliC
		if p.Condition != "" {
			if exc, err = c.condition(i, p, x, r); err != nil {
				return nil, err
			}
		}
		if !exc {
			continue
		}
		if r.dur > 0 {
			x.ExcursionSeconds += r.dur
			changed = true
		}
		if budget == 0 || x.ExcursionSeconds > budget {
			breached = true
		}
	}
	if changed {
		x.UpdatedAt = c.height
		c.st.put(x)
	}
	if !breached {
		return nil, nil
	}
	return &Excursion{EPC: x.EPC, GTIN: gtin, Lot: x.Lot, CumulativeSeconds: x.ExcursionSeconds, BudgetSeconds: budget}, nil
}

// condition evaluates p's condition for reading r of leaf x (memoized on
// everything the condition sees). An evaluation error is cc.Invalid.
func (c *capture) condition(i int, p *Product, x *Item, r reading) (bool, error) {
	key := condKey{gtin: p.GTIN, lot: x.Lot, value: r.value, lo: r.lo, hi: r.hi, dur: r.dur, spent: x.ExcursionSeconds}
	if v, ok := c.ext.conds[key]; ok {
		return v, nil
	}
	v, err := evalCondition(p.Condition,
		celReading{ValueMilliC: r.value, MinMilliC: r.lo, MaxMilliC: r.hi, DurationSeconds: r.dur},
		celProduct{GTIN: p.GTIN, StorageMinMilliC: p.StorageMinMilliC, StorageMaxMilliC: p.StorageMaxMilliC,
			ExcursionMinutes: p.ExcursionMinutes, DosesPerVial: int64(p.DosesPerVial)},
		celItem{Lot: x.Lot, ExcursionSeconds: x.ExcursionSeconds})
	if err != nil {
		return false, c.errf(cc.Invalid, i, "sensors[%d]: the excursion condition of product %s fails on EPC %s: %s", r.sensor, p.GTIN, x.EPC, condition.Clip(err.Error(), 200))
	}
	if c.ext.conds == nil {
		c.ext.conds = map[condKey]bool{}
	}
	c.ext.conds[key] = v
	return v, nil
}

// walk calls fn on it and everything packed in it, depth first in
// children order, without marking anything to be written.
func (c *capture) walk(it *Item, fn func(*Item) error) error {
	stack := []*Item{it}
	for n := 0; len(stack) > 0 && n < maxWalk; n++ {
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if err := fn(top); err != nil {
			return err
		}
		for j := len(top.Children) - 1; j >= 0; j-- {
			ch, err := c.st.get(top.Children[j])
			if err != nil {
				return c.internal(err)
			}
			if ch != nil {
				stack = append(stack, ch)
			}
		}
	}
	return nil
}

// flush writes the buffered lot masters, last-report times and
// excursions (after the items) and returns the events to emit and the
// EPCs whose reports quarantined items.
func (x *extras) flush(kv cc.KV, org string, height int64, txHash, blockTime string) ([]cc.Event, []string, error) {
	for _, key := range sortedKeys(x.lots) {
		if pl := x.lots[key]; pl.write {
			if err := cc.SetJSON(kv, key, pl.lot); err != nil {
				return nil, nil, err
			}
		}
	}
	for _, epc := range sortedKeys(x.readDirty) {
		if err := cc.SetJSON(kv, lastReadKey(epc), x.lastRead[epc]); err != nil {
			return nil, nil, err
		}
	}
	if len(x.excursions) == 0 {
		return nil, nil, nil
	}
	first, err := countIn(kv, blockPrefix(prefixExcursion, height))
	if err != nil {
		return nil, nil, cc.E("supply.capture", cc.Internal, err)
	}
	var events []cc.Event
	var tops []string
	for j, e := range x.excursions {
		e.Org, e.Height, e.Time, e.TxHash = org, height, blockTime, txHash
		if err := cc.SetJSON(kv, blockKey(prefixExcursion, height, first+j), e); err != nil {
			return nil, nil, err
		}
		tops = append(tops, e.Top)
		events = append(events, cc.NewEvent("supply.excursion", "top", e.Top, "gtin", e.GTIN, "lot", e.Lot,
			"quarantined", strconv.Itoa(len(e.EPCs)), "cumulative_seconds", strconv.FormatInt(e.CumulativeSeconds, 10),
			"budget_seconds", strconv.FormatInt(e.BudgetSeconds, 10), "org", org))
	}
	return events, tops, nil
}

// Excursions returns every recorded excursion, oldest first.
func Excursions(kv cc.Reader) ([]Excursion, error) {
	out := []Excursion{}
	err := cc.IterateJSON("supply.excursions", kv, prefixExcursion, func(e Excursion) bool {
		out = append(out, e)
		return true
	})
	return out, err
}

// The dispositions this package sets.
const (
	DispositionQuarantined = "quarantined"
	DispositionDestroyed   = "destroyed"
	DispositionRecalled    = "recalled"
)

// StatusExpired is what EffectiveStatus reports for a held item past its
// expiry date; it is never stored.
const StatusExpired = "expired"

// EffectiveStatus returns the status of it as seen at t (block time):
// StatusExpired for an active or received item past its expiry date (see
// Expired), else it.Status.
func EffectiveStatus(it *Item, t time.Time) string {
	if (it.Status == StatusActive || it.Status == StatusReceived) && Expired(it, t) {
		return StatusExpired
	}
	return it.Status
}

// held reports whether it is on hold: quarantined or recalled. A hold
// keeps the custody status (and disposition) it replaced in PrevStatus
// (PrevDisposition).
func held(it *Item) bool { return it.Status == StatusQuarantined || it.Status == StatusRecalled }

// custodyStatus returns the custody status of it: its status, or for a
// held item the status its hold replaced.
func custodyStatus(it *Item) string {
	if held(it) && it.PrevStatus != "" {
		return it.PrevStatus
	}
	return it.Status
}

// setCustody sets the custody status of x, and its disposition when
// disposition is not empty. On a held item it changes what the hold will
// restore and leaves the hold in place, so that shipping or receiving a
// container moves held items without releasing them.
func setCustody(x *Item, status, disposition string) {
	if held(x) {
		x.PrevStatus = status
		if disposition != "" {
			x.PrevDisposition = disposition
		}
		return
	}
	x.Status = status
	if disposition != "" {
		x.Disposition = disposition
	}
}

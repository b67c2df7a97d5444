package supply

import (
	"strconv"
	"sync"
	"time"

	cc "carechain"
)

// A supply.capture payload is decoded strictly (decodeObject, the costliest
// step of the handler on a 500-event payload) when CheckTx admits the
// transaction, again when a recheck re-executes it and again in
// FinalizeBlock. decodedCaptures keeps the result of the first decode, keyed
// by the payload's bytes, so that the later runs of the same transaction
// reuse it — and so that a submitter can decode a payload before it signs
// and submits it (Predecode), outside the stages that take one
// transaction at a time.
//
// It stays deterministic: an entry is used only for a payload equal, byte
// for byte, to the one it was decoded from (it is the map key), decoding
// is a pure function of those bytes, and nothing changes a decoded Event
// afterwards, so a hit and a miss give the same events. Only payloads that
// decoded and passed checkEvent are kept; the checks that depend on the
// context (expiry before the block date) run on every execution. It is
// bounded: at most maxDecodedCaptures entries and maxDecodedBytes bytes of
// payload, the oldest dropped first; FinalizeBlock (ctx.Check false) takes
// its entry out, as the transaction is then spent. A mutex makes it safe
// for concurrent use.
var decodedCaptures = decodeCache{byPayload: map[string]*decodedCapture{}}

const (
	maxDecodedCaptures = 32
	maxDecodedBytes    = 64 << 20
)

// decodedCapture is a decoded and checked capture payload.
type decodedCapture struct {
	payload string // the payload's bytes: the cache key
	org     string
	events  []Event
	epcs    int // EPCs listed in all
}

type decodeCache struct {
	mu        sync.Mutex
	byPayload map[string]*decodedCapture
	order     []*decodedCapture // oldest first
	bytes     int
}

// take returns the entry of payload, nil if there is none; remove takes it
// out of the cache.
func (c *decodeCache) take(payload []byte, remove bool) *decodedCapture {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.byPayload[string(payload)]
	if d == nil {
		return nil
	}
	if remove {
		c.drop(d)
	}
	return d
}

// put adds d, dropping the oldest entries beyond the bounds.
func (c *decodeCache) put(d *decodedCapture) {
	if len(d.payload) > maxDecodedBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.byPayload[d.payload]; old != nil {
		c.drop(old)
	}
	for len(c.order) > 0 && (len(c.order) >= maxDecodedCaptures || c.bytes+len(d.payload) > maxDecodedBytes) {
		c.drop(c.order[0])
	}
	c.byPayload[d.payload] = d
	c.order = append(c.order, d)
	c.bytes += len(d.payload)
}

func (c *decodeCache) drop(d *decodedCapture) {
	delete(c.byPayload, d.payload)
	for i, x := range c.order {
		if x == d {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
	c.order = c.order[:len(c.order):len(c.order)] // the next append reallocates: no dropped entry stays reachable
	c.bytes -= len(d.payload)
}

// Predecode decodes and checks a supply.capture payload into
// decodedCaptures, as its CheckTx would, so that CheckTx — one transaction
// at a time — finds it done. Submitters call it before they submit (the
// gatekeeper before it signs, the ledger's PreVerify for transactions
// submitted signed); a payload that does not decode is left for CheckTx to
// reject.
func Predecode(payload []byte) {
	decodeCapture(cc.TxContext{Check: true}, payload)
}

// decodeCapture decodes and checks a supply.capture payload (everything
// that does not depend on the context or the state), using and filling
// decodedCaptures when the transaction has a hash. On error it also returns
// the decoded events whose context-dependent checks (see checkExpiry) come
// before the error in handleCapture's order.
func decodeCapture(ctx cc.TxContext, payload []byte) (*decodedCapture, []Event, error) {
	const op = TypeCapture
	if d := decodedCaptures.take(payload, !ctx.Check); d != nil {
		return d, nil, nil
	}
	var p capturePayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return nil, nil, err
	}
	if !cc.ValidOrgID(p.Org) {
		return nil, nil, cc.Errorf(op, cc.Invalid, "org %q must be an organization id", cc.Echo(p.Org))
	}
	if len(p.Events) == 0 || len(p.Events) > MaxEventsPerTx {
		return nil, nil, cc.Errorf(op, cc.Invalid, "events must list 1 to %d events", MaxEventsPerTx)
	}
	d := &decodedCapture{org: p.Org, events: make([]Event, len(p.Events))}
	for i, raw := range p.Events {
		if err := decodeObject(op, "events["+strconv.Itoa(i)+"]", raw, &d.events[i]); err != nil {
			return nil, d.events[:i], err
		}
		if err := checkEvent(op, i, &d.events[i]); err != nil {
			return nil, d.events[:i], err
		}
		if d.epcs += d.events[i].epcCount(); d.epcs > MaxEPCsPerTx {
			return nil, d.events[:i+1], cc.Errorf(op, cc.Invalid, "events[%d]: at most %d EPCs per transaction", i, MaxEPCsPerTx)
		}
	}
	if ctx.Check {
		d.payload = string(payload)
		decodedCaptures.put(d)
	}
	return d, nil, nil
}

// checkExpiry is the context-dependent check of the decoded events:
// commissioning with an expiry before the block date is cc.Invalid.
func checkExpiry(ctx cc.TxContext, events []Event) error {
	date := ""
	for i := range events {
		if ev := &events[i]; ev.Expiry != "" && len(ev.commissioned()) > 0 {
			if date == "" {
				date = ctx.Time.UTC().Format(time.DateOnly)
			}
			if ev.Expiry < date {
				return cc.Errorf(TypeCapture, cc.Invalid, "events[%d]: expiry %s is before the block date: expired stock cannot be commissioned", i, ev.Expiry)
			}
		}
	}
	return nil
}

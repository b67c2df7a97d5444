package supply

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

// TestCaptureDecodeCache: a capture run in CheckTx, then (the decoded
// payload reused) in FinalizeBlock, gives the same result and writes as a
// FinalizeBlock without CheckTx; the cache is bounded and ignores a payload that differs from the one it decoded.
func TestCaptureDecodeCache(t *testing.T) {
	e := newEnv(t)
	h := Handlers()[TypeCapture]
	var evs []obj
	for i := range 20 {
		vials := []string{sgtin(fmt.Sprintf("dc%d-a", i)), sgtin(fmt.Sprintf("dc%d-b", i))}
		box := sscc(fmt.Sprintf("77%08d", i))
		evs = append(evs, commission(vials...), pack(box, vials...), ship("distrib", box))
	}
	raw, err := json.Marshal(events(evs...))
	if err != nil {
		t.Fatal(err)
	}
	e.next()
	ctx := e.ctx(mfg.did, TypeCapture)

	check := ctx
	check.Check = true
	ckv := cctest.Fork(e.kv)
	if _, err := h(check, ckv, raw); err != nil {
		t.Fatalf("CheckTx: %v", err)
	}
	if decodedCaptures.take(raw, false) == nil {
		t.Fatal("CheckTx did not keep the decoded payload")
	}
	cached := cctest.Fork(e.kv)
	res1, err := h(ctx, cached, raw)
	if err != nil {
		t.Fatalf("FinalizeBlock (cached): %v", err)
	}
	if decodedCaptures.take(raw, false) != nil {
		t.Error("FinalizeBlock left its entry in the cache")
	}
	fresh := cctest.Fork(e.kv)
	res2, err := h(ctx, fresh, raw)
	if err != nil {
		t.Fatalf("FinalizeBlock (fresh): %v", err)
	}
	if !reflect.DeepEqual(res1, res2) {
		t.Errorf("results differ:\n%+v\n%+v", res1, res2)
	}
	if d := cctest.Diff(cached, fresh); d != "" {
		t.Errorf("writes differ: %s", d)
	}
	if len(cctest.Keys(fresh, prefixEvent)) != len(evs) {
		t.Errorf("FinalizeBlock stored %d events, want %d", len(cctest.Keys(fresh, prefixEvent)), len(evs))
	}

	// Other bytes (the same transaction hash): decoded afresh, not taken
	// from the cache.
	if _, err := h(check, cctest.Fork(e.kv), raw); err != nil {
		t.Fatal(err)
	}
	other := bytes.Replace(raw, []byte(`"distrib"`), []byte(`"nowhere"`), 1)
	if _, err := h(ctx, cctest.Fork(e.kv), other); !cc.Is(cc.NotFound, err) {
		t.Errorf("other payload under a cached hash: %v, want not found (unknown destination)", err)
	}

	// Bounded.
	for i := range maxDecodedCaptures + 5 {
		p, err := json.Marshal(events(commission(sgtin(fmt.Sprintf("bound-%d", i)))))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h(check, cctest.Fork(e.kv), p); err != nil {
			t.Fatal(err)
		}
	}
	decodedCaptures.mu.Lock()
	n, m := len(decodedCaptures.byPayload), len(decodedCaptures.order)
	decodedCaptures.mu.Unlock()
	if n != maxDecodedCaptures || m != n {
		t.Errorf("cache holds %d entries (%d in order), want %d", n, m, maxDecodedCaptures)
	}
}

// TestCaptureErrorOrder: the expiry check (context-dependent, not cached)
// still comes before a later event's decode error.
func TestCaptureErrorOrder(t *testing.T) {
	e := newEnv(t)
	expired := commission(sgtin("eo-1"))
	expired["lot"], expired["expiry"] = "L1", "2000-01-01"
	_, err := e.capture(t, mfg, "pharma-co", expired, obj{"type": "ObjectEvent", "bogus": 1})
	if !cc.Is(cc.Invalid, err) {
		t.Errorf("expired first, then malformed: %v, want invalid (expiry)", err)
	}
}

// TestPredecode: a payload Predecode decoded before it was signed is what
// the handler then takes from the cache, with the same result and writes as a
// run without it; a payload that does not decode is left out.
func TestPredecode(t *testing.T) {
	e := newEnv(t)
	h := Handlers()[TypeCapture]
	raw, err := json.Marshal(events(commission(sgtin("pd-a"), sgtin("pd-b"))))
	if err != nil {
		t.Fatal(err)
	}
	e.next()
	ctx := e.ctx(mfg.did, TypeCapture)
	Predecode(raw)
	if decodedCaptures.take(raw, false) == nil {
		t.Fatal("Predecode kept nothing")
	}
	ctx.Check = true
	pre := cctest.Fork(e.kv)
	res1, err := h(ctx, pre, raw)
	if err != nil {
		t.Fatal(err)
	}
	decodedCaptures.take(raw, true) // forget it
	fresh := cctest.Fork(e.kv)
	res2, err := h(ctx, fresh, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res1, res2) {
		t.Errorf("results differ:\n%+v\n%+v", res1, res2)
	}
	if d := cctest.Diff(pre, fresh); d != "" {
		t.Errorf("writes differ: %s", d)
	}
	bad := []byte(`{"org":"acme","events":[{"type":"NoSuchEvent"}]}`)
	Predecode(bad)
	if decodedCaptures.take(bad, true) != nil {
		t.Error("Predecode kept a payload that does not decode")
	}
}

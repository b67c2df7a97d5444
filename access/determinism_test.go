package access

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
	"carechain/ledger/store"
	"carechain/records"
)

// scenario runs a fixed sequence of transactions of every type on a fresh
// state and returns the state and the results.
func scenario(t *testing.T) (*store.Overlay, []cc.Result) {
	e := newEnv(t)
	var results []cc.Result
	run := func(a *actor, typ string, payload any) {
		results = append(results, e.mustApply(t, a, typ, payload))
	}
	cid := e.grant(t, pat, permitClindoc)
	w := e.declare(t, er, pat2, 90)
	e.next()
	events := []obj{
		logEv(mustSign(t, e.request(clindoc, pat, "TREAT", "Observation/o1", "Observation/o2"), clindoc), "Observation/o1", "Observation/o2"),
		logEv(mustSign(t, e.request(clindoc, pat2, "TREAT", "Observation/q1"), clindoc), "Observation/q1"),
		logEv(mustSign(t, e.request(pat, pat, "PATRQT", "Condition/c1"), pat), "Condition/c1"),
		logEv(mustSign(t, e.request(deleg, pat, "PATRQT", "Observation/o1"), deleg), "Observation/o1"),
	}
	run(node, TypeLog, obj{"events": events})
	run(labnode, TypeLog, obj{"events": []obj{logEv(mustSign(t, e.request(er, pat2, "ETREAT", "DiagnosticReport/d2"), er), "DiagnosticReport/d2")}})
	e.next()
	run(pat, "consent.revoke", obj{"id": cid})
	run(po, TypeBreakGlassReview, obj{"id": w.ID, "outcome": ReviewAccepted, "note": "ok"})
	run(pat, records.TypeErase, obj{"patient": pat.did, "ids": []string{"Observation/o2"}})
	e.next()
	run(node, TypeLog, obj{"events": []obj{logEv(mustSign(t, e.request(clindoc, pat, "TREAT", "Observation/o1"), clindoc), "Observation/o1")}})
	return e.kv, results
}

func TestDeterminism(t *testing.T) {
	kv1, res1 := scenario(t)
	kv2, res2 := scenario(t)
	if d := cctest.Diff(kv1, kv2); d != "" {
		t.Fatalf("two runs of the same transactions differ:\n%s", d)
	}
	if !reflect.DeepEqual(res1, res2) {
		t.Fatal("two runs of the same transactions returned different results")
	}
	// And the scenario did what it says: four reads logged in the first
	// batch but for pat2's unconsented one, a flagged break-glass read, the
	// last read denied after the revocation.
	var statuses []string
	for _, i := range []int{0, 1, 5} {
		var r logResult
		if err := jsonUnmarshal(res1[i].Data, &r); err != nil {
			t.Fatal(err)
		}
		for _, ev := range r.Events {
			statuses = append(statuses, ev.Status+"/"+string(ev.Basis))
		}
	}
	want := "[logged/consent denied/ logged/patient logged/delegate logged/break-glass denied/]"
	if got := fmt.Sprint(statuses); got != want {
		t.Errorf("statuses = %s, want %s", got, want)
	}
	log, _ := AccessLog(kv1, pat2.did)
	if len(log) != 1 || !log[0].BreakGlass {
		t.Errorf("pat2's log = %+v, want one break-glass read", log)
	}
}

func TestLogNotificationCapacity(t *testing.T) {
	e := newEnv(t)
	e.declare(t, er, pat2, 60)
	e.next()
	for i := range records.MaxNotificationsPerBlock {
		e.kv.Set(fmt.Sprintf("access/n/%s/%020d/%04d", pat2.did, e.height, i), []byte(`{}`))
	}
	s := mustSign(t, e.request(er, pat2, "ETREAT", "DiagnosticReport/d2"), er)
	_, err := e.apply(t, labnode, TypeLog, obj{"events": []obj{logEv(s, "DiagnosticReport/d2")}})
	cctest.WantKind(t, err, cc.FailedPrecondition)
}

func TestReadFailuresAreInternal(t *testing.T) {
	e := newEnv(t)
	seeds := accessSeeds(e)
	kv := cctest.NewFailingKV()
	for i, payload := range seeds {
		for typ, h := range Handlers() {
			for _, signer := range []*actor{node, er, po} {
				ctx := e.ctx(signer.did, typ)
				_, err := h(ctx, kv, []byte(payload))
				if k := cc.KindOf(err); k != cc.Internal && k != cc.Invalid && k != cc.Malformed {
					t.Errorf("seed %d, %s by %s: got %v", i, typ, signer.name, err)
				}
				if cc.KindOf(err) == cc.Internal && !errors.Is(err, cctest.ErrDisk) {
					t.Errorf("seed %d, %s: internal error %v does not wrap the I/O error", i, typ, err)
				}
			}
		}
	}
	if len(cctest.Keys(kv.Overlay, "")) != 0 {
		t.Errorf("handlers wrote after failed reads: %v", cctest.Keys(kv.Overlay, ""))
	}
	s := mustSign(t, e.request(pat, pat, "PATRQT", "Observation/o1"), pat)
	reads := map[string]func() error{
		"VerifyRead":        func() error { _, _, err := VerifyRead(kv, s); return err },
		"AccessLog":         func() error { _, err := AccessLog(kv, pat.did); return err },
		"GetLoggedRequest":  func() error { _, err := GetLoggedRequest(kv, []byte("x")); return err },
		"GetBreakGlass":     func() error { _, err := GetBreakGlass(kv, "bg-0000000000000000"); return err },
		"BreakGlassWindows": func() error { _, err := BreakGlassWindows(kv, pat.did); return err },
		"PendingReviews":    func() error { _, err := PendingReviews(kv, "st-marys", genTime, 0); return err },
	}
	for name, read := range reads {
		if err := read(); cc.KindOf(err) != cc.Internal || !errors.Is(err, cctest.ErrDisk) {
			t.Errorf("%s: got %v, want an Internal error wrapping the I/O error", name, err)
		}
	}
}

// jsonUnmarshal is json.Unmarshal that also rejects trailing data.
func jsonUnmarshal(b []byte, v any) error {
	return decodeObject("test", "data", bytes.TrimSpace(b), v)
}

package access

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/internal/cctest"
	"carechain/records"
	"github.com/gowebpki/jcs"
)

// TestLogCheckTxUndecided checks CheckTx's light admission of access.log
// (admitUndecided) against the transaction's execution in a block on the
// same state: CheckTx fails exactly when the block fails the transaction
// (same kind), so a transaction CheckTx admits cannot fail its block
// (where a failure would not consume the node's pipelined sequence); an
// admission without a possible break-glass read decides nothing and writes
// nothing; one with a possible break-glass read (purpose ETREAT) is
// decided in full, notification cap included.
func TestLogCheckTxUndecided(t *testing.T) {
	e := newEnv(t)
	e.grant(t, pat, permitClindoc)
	e.mustApply(t, pat, records.TypeErase, obj{"patient": pat.did, "ids": []string{"Condition/c1"}})
	e.declare(t, er, pat2, 0)
	e.next()
	req := func(mod func(*ReadRequest)) SignedRead {
		r := e.request(clindoc, pat, "TREAT", "Observation/o1")
		mod(&r)
		return mustSign(t, r, clindoc)
	}
	none := func(*ReadRequest) {}
	logged := req(none)
	e.logTx(t, node, logEv(logged, "Observation/o1"))
	tampered := req(none)
	tampered.Request = bytes.Replace(tampered.Request, []byte(`"TREAT"`), []byte(`"XTREAT"`), 1)
	fresh := req(none)
	own := mustSign(t, e.request(pat, pat, "PATRQT", "Observation/o1", "DiagnosticReport/d1"), pat)
	emergency := mustSign(t, e.request(er, pat2, "ETREAT", "DiagnosticReport/d2"), er)
	emergencyDenied := mustSign(t, e.request(doc, pat2, "ETREAT", "DiagnosticReport/d2"), doc)
	unknown := mustSign(t, e.request(pat, pat, "PATRQT", "Observation/zz"), pat)
	events := func(evs ...obj) obj { return obj{"events": evs} }

	// capped is e with pat2's notifications of the next block at the cap.
	capped := e.clone()
	for i := range records.MaxNotificationsPerBlock {
		key := fmt.Sprintf("access/n/%s/%020d/%04d", pat2.did, capped.height, i)
		capped.kv.Set(key, []byte(`{}`))
	}

	tests := []struct {
		name    string
		env     *env
		signer  *actor
		payload any
		decided bool    // CheckTx decides the events (a possible break-glass read)
		want    cc.Kind // 0: both succeed
	}{
		{"logged", e, node, events(logEv(fresh, "Observation/o1")), false, 0},
		{"the patient's own read of two custodians' records, one node each", e, node, events(logEv(own, "Observation/o1")), false, 0},
		{"replay", e, node, events(logEv(logged, "Observation/o1")), false, 0},
		{"repeated in the batch", e, node, events(logEv(fresh, "Observation/o1"), logEv(fresh, "Observation/o1")), false, 0},
		{"stale", e, node, events(logEv(req(func(r *ReadRequest) { r.Issued = e.time.Add(-time.Hour) }), "Observation/o1")), false, 0},
		{"signed by another key", e, node, events(logEv(mustSign(t, e.request(clindoc, pat, "TREAT", "Observation/o1"), doc), "Observation/o1")), false, 0},
		{"tampered request", e, node, events(logEv(tampered, "Observation/o1")), false, 0},
		{"another chain", e, node, events(logEv(req(func(r *ReadRequest) { r.ChainID = "other" }), "Observation/o1")), false, 0},
		{"record not requested", e, node, events(logEv(req(none), "Observation/o2")), false, 0},
		{"another patient's record", e, node, events(logEv(req(func(r *ReadRequest) { r.Records = []string{"Observation/q1"} }), "Observation/q1")), false, 0},
		{"not a member of the named org", e, node, events(logEv(req(func(r *ReadRequest) { r.Org = "st-marys" }), "Observation/o1")), false, 0},
		{"erased record", e, node, events(logEv(req(func(r *ReadRequest) { r.Records = []string{"Condition/c1"} }), "Condition/c1")), false, 0},
		{"denied by the consent state", e, node, events(logEv(req(func(r *ReadRequest) { r.Purpose = "HRESEARCH" }), "Observation/o1")), false, 0},
		{"unknown record, a node signs", e, labnode, events(logEv(unknown, "Observation/zz")), false, 0},
		{"many events, all statuses", e, node, events(logEv(fresh, "Observation/o1"), logEv(logged, "Observation/o1"), logEv(tampered, "Observation/o1"), logEv(own, "Observation/o1")), false, 0},

		{"break-glass read", e, labnode, events(logEv(emergency, "DiagnosticReport/d2")), true, 0},
		{"break-glass purpose, denied", e, labnode, events(logEv(emergencyDenied, "DiagnosticReport/d2")), true, 0},
		{"break-glass read beside others", e, node, events(logEv(fresh, "Observation/o1"), logEv(mustSign(t, e.request(er, pat2, "ETREAT", "Observation/q1"), er), "Observation/q1")), true, 0},
		{"break-glass read over the notification cap", capped, labnode, events(logEv(emergency, "DiagnosticReport/d2")), true, cc.FailedPrecondition},

		{"a physician signs", e, doc, events(logEv(fresh, "Observation/o1")), false, cc.Unauthorized},
		{"another organization's node", e, labnode, events(logEv(fresh, "Observation/o1")), false, cc.Unauthorized},
		{"the node of one of two custodians", e, node, events(logEv(own, "Observation/o1", "DiagnosticReport/d1")), false, cc.Unauthorized},
		{"unknown record, the patient signs", e, pat, events(logEv(unknown, "Observation/zz")), false, cc.Unauthorized},
		{"not an object", e, node, []byte(`[]`), false, cc.Malformed},
		{"unknown field", e, node, obj{"events": []obj{logEv(fresh, "Observation/o1")}, "x": 1}, false, cc.Malformed},
		{"no events", e, node, events(), false, cc.Invalid},
		{"no records", e, node, events(logEv(fresh)), false, cc.Invalid},
		{"repeated record", e, node, events(logEv(own, "Observation/o1", "Observation/o1")), false, cc.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			block, check := tt.env.clone(), tt.env.clone()
			blockRes, blockErr := block.apply(t, tt.signer, TypeLog, tt.payload)
			ctx := check.ctx(tt.signer.did, TypeLog)
			ctx.Check = true
			before := cctest.Copy(check.kv)
			checkRes, checkErr := cctest.Apply(t, Handlers()[TypeLog], ctx, check.kv, mustPayload(t, tt.payload))
			switch {
			case tt.want == 0 && (blockErr != nil || checkErr != nil):
				t.Fatalf("block: %v, CheckTx: %v; want both to succeed", blockErr, checkErr)
			case tt.want != 0:
				cctest.WantKind(t, blockErr, tt.want)
				cctest.WantKind(t, checkErr, tt.want)
				return
			}
			if decided := checkRes.Data != nil; decided != tt.decided {
				t.Errorf("CheckTx decided the events: %v, want %v", decided, tt.decided)
			}
			if d := cctest.Diff(before, check.kv); !tt.decided && d != "" {
				t.Errorf("CheckTx without deciding wrote:\n%s", d)
			}
			if tt.decided && string(checkRes.Data) != string(blockRes.Data) {
				t.Errorf("CheckTx decided %s, the block %s", checkRes.Data, blockRes.Data)
			}
		})
	}
}

// TestLogCheckTxThenBlock runs a node's pipelined access.log transactions
// as the ledger does: each admitted by CheckTx on the mempool state (the
// committed state plus earlier admissions), then all executed in the
// block. Every admitted transaction succeeds in the block, whatever its
// events' statuses, so the node's sequence stays in step.
func TestLogCheckTxThenBlock(t *testing.T) {
	e := newEnv(t)
	e.grant(t, pat, permitClindoc)
	e.next()
	sign := func(purpose string, issued time.Time) SignedRead {
		r := e.request(clindoc, pat, purpose, "Observation/o1")
		r.Issued = issued
		return mustSign(t, r, clindoc)
	}
	a, b := sign("TREAT", e.time), sign("TREAT", e.time)
	payloads := []obj{
		{"events": []obj{logEv(a, "Observation/o1"), logEv(sign("HRESEARCH", e.time), "Observation/o1")}},
		{"events": []obj{logEv(a, "Observation/o1"), logEv(b, "Observation/o1")}}, // a replays the first transaction's event
		{"events": []obj{logEv(sign("TREAT", e.time.Add(-9*time.Minute-30*time.Second)), "Observation/o1")}},
	}
	mempool := cctest.Fork(e.kv)
	for i, p := range payloads {
		ctx := e.ctx(node.did, TypeLog)
		ctx.Check = true
		if _, err := cctest.Apply(t, Handlers()[TypeLog], ctx, mempool, mustPayload(t, p)); err != nil {
			t.Fatalf("CheckTx of transaction %d: %v", i, err)
		}
	}
	if mempool.Len() != 0 {
		t.Errorf("light admissions wrote %v", mempool.Writes())
	}
	// The block, a minute later: the third read is stale there.
	e.next()
	var got []string
	for i, p := range payloads {
		res, err := e.apply(t, node, TypeLog, p)
		if err != nil {
			t.Fatalf("block, transaction %d: %v (admitted by CheckTx)", i, err)
		}
		for _, ev := range cctest.DecodeData[logResult](t, res).Events {
			got = append(got, ev.Status)
		}
	}
	want := []string{StatusLogged, StatusDenied, StatusReplay, StatusLogged, StatusStale}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("statuses = %v, want %v", got, want)
	}
}

// mustPayload is the canonical payload bytes of p, as env.apply makes
// them.
func mustPayload(t testing.TB, p any) []byte {
	t.Helper()
	if b, ok := p.([]byte); ok {
		return b
	}
	b := mustJSON(t, p)
	c, err := jcs.Transform(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

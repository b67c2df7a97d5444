package identity

import (
	"fmt"
	"testing"
	"time"

	cc "carechain"
	"carechain/ledger/store"
)

// TestTimeFreeHandlers checks TimeFree's claim: for each listed type, on
// the same state, a run with another block time and in CheckTx mode writes
// exactly what a FinalizeBlock run writes and returns the same result or
// error, for transactions that succeed and transactions that fail.
func TestTimeFreeHandlers(t *testing.T) {
	fresh := newActor("timefree-fresh")
	taken := newActor("timefree-taken")
	payloads := map[string][]struct {
		signer  *actor
		payload obj
	}{
		TypeDIDCreate: {
			{fresh, obj{"public_key": fresh.key(), "kind": cc.KindPatient}},
			{taken, obj{"public_key": taken.key(), "kind": cc.KindPatient}},        // exists: conflict
			{fresh, obj{"public_key": taken.key(), "kind": cc.KindPatient}},        // not fresh's key
			{fresh, obj{"public_key": fresh.key(), "kind": "spaceship"}},           // bad kind
			{hadmin, obj{"public_key": hadmin.key(), "kind": cc.KindPractitioner}}, // genesis account
		},
		TypePatientRegister: {
			{fresh, obj{"public_key": fresh.key()}},
			{taken, obj{"public_key": taken.key()}}, // DID exists, not yet a patient
			{doc, obj{"public_key": doc.key()}},
			{fresh, obj{"public_key": "not-a-key"}},
			{fresh, obj{"public_key": fresh.key(), "extra": 1}},
		},
	}
	for _, typ := range TimeFree() {
		cases, ok := payloads[typ]
		if !ok {
			t.Fatalf("TimeFree lists %s: add cases for it here", typ)
		}
		for i, c := range cases {
			run := func(at time.Time, check bool) (string, []store.Write) {
				e := newEnv(t, 1)
				e.mustCreate(t, taken, cc.KindPatient)
				kv := store.NewOverlay(e.kv)
				raw := mustJSON(t, c.payload)
				ctx := cc.TxContext{ChainID: testChain, Height: e.height, Time: at, Check: check, Signer: c.signer.did, Type: typ}
				key, kerr := SignerKey(kv, c.signer.did, typ, raw)
				res, err := Handlers()[typ](ctx, kv, raw)
				return fmt.Sprintf("key %x %v | %+v %v", key, kerr, res, err), kv.Writes()
			}
			want, wantW := run(genTime, false)
			for _, alt := range []struct {
				at    time.Time
				check bool
			}{{genTime.Add(90 * 24 * time.Hour), false}, {time.Time{}, true}, {genTime.Add(-time.Hour), true}} {
				got, gotW := run(alt.at, alt.check)
				if got != want || fmt.Sprint(gotW) != fmt.Sprint(wantW) {
					t.Errorf("%s case %d at %v check=%v:\n got %s %v\nwant %s %v", typ, i, alt.at, alt.check, got, gotW, want, wantW)
				}
			}
		}
	}
}

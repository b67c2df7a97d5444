package identity

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

// guardianEnv returns a state where patient pat has guardians ga, gb, gc
// (2 of 3, delay 10 blocks) and outsider is a DID that is not a guardian.
func guardianEnv(t *testing.T) (e *env, pat, ga, gb, gc, outsider *actor) {
	t.Helper()
	e = newEnv(t, 2)
	pat, ga, gb, gc, outsider = newActor("pat"), newActor("ga"), newActor("gb"), newActor("gc"), newActor("outsider")
	e.mustSubmit(t, pat, TypePatientRegister, obj{"public_key": pat.key()})
	for _, a := range []*actor{ga, gb, gc, outsider} {
		e.mustCreate(t, a, cc.KindPractitioner)
	}
	e.mustSubmit(t, pat, TypeGuardiansSet, obj{"guardians": []cc.DID{gc.did, ga.did, gb.did}, "threshold": 2, "delay_blocks": 10})
	return e, pat, ga, gb, gc, outsider
}

func TestGuardiansSet(t *testing.T) {
	e, pat, ga, gb, gc, _ := guardianEnv(t)
	rec := mustDID(t, e.kv, pat.did)
	wantGuardians := []cc.DID{ga.did, gb.did, gc.did}
	slices.Sort(wantGuardians)
	if !slices.Equal(rec.Guardians, wantGuardians) || rec.Threshold != 2 || rec.DelayBlock != 10 {
		t.Errorf("record = %+v", rec)
	}

	var eleven []cc.DID
	for i := range 11 {
		eleven = append(eleven, newActor(fmt.Sprint("g", i)).did)
	}
	tests := []struct {
		name    string
		payload obj
		want    cc.Kind
	}{
		{"threshold 0 with guardians", obj{"guardians": []cc.DID{ga.did}, "threshold": 0, "delay_blocks": 1}, cc.Invalid},
		{"threshold above guardians", obj{"guardians": []cc.DID{ga.did, gb.did}, "threshold": 3, "delay_blocks": 1}, cc.Invalid},
		{"negative threshold", obj{"guardians": []cc.DID{ga.did}, "threshold": -1, "delay_blocks": 1}, cc.Invalid},
		{"eleven guardians", obj{"guardians": eleven, "threshold": 1, "delay_blocks": 1}, cc.Invalid},
		{"self", obj{"guardians": []cc.DID{ga.did, pat.did}, "threshold": 1, "delay_blocks": 1}, cc.Invalid},
		{"duplicate", obj{"guardians": []cc.DID{ga.did, ga.did}, "threshold": 1, "delay_blocks": 1}, cc.Invalid},
		{"not a DID", obj{"guardians": []string{"alice"}, "threshold": 1, "delay_blocks": 1}, cc.Invalid},
		{"not on ledger", obj{"guardians": []cc.DID{ga.did, nobody.did}, "threshold": 1, "delay_blocks": 1}, cc.NotFound},
		{"delay 0", obj{"guardians": []cc.DID{ga.did}, "threshold": 1, "delay_blocks": 0}, cc.Invalid},
		{"delay missing", obj{"guardians": []cc.DID{ga.did}, "threshold": 1}, cc.Invalid},
		{"delay too long", obj{"guardians": []cc.DID{ga.did}, "threshold": 1, "delay_blocks": MaxDelayBlocks + 1}, cc.Invalid},
		{"clear with threshold", obj{"guardians": []cc.DID{}, "threshold": 1, "delay_blocks": 0}, cc.Invalid},
		{"clear with delay", obj{"guardians": []cc.DID{}, "threshold": 0, "delay_blocks": 5}, cc.Invalid},
		{"guardians omitted", obj{"threshold": 0, "delay_blocks": 0}, cc.Invalid},
		{"guardians null", obj{"guardians": nil, "threshold": 0, "delay_blocks": 0}, cc.Invalid},
		{"guardians not a list", obj{"guardians": ga.did, "threshold": 1, "delay_blocks": 1}, cc.Malformed},
		{"fractional threshold", obj{"guardians": []cc.DID{ga.did}, "threshold": 1.5, "delay_blocks": 1}, cc.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.submit(t, pat, TypeGuardiansSet, tt.payload)
			cctest.WantKind(t, err, tt.want)
		})
	}

	t.Run("clear", func(t *testing.T) {
		e.mustSubmit(t, pat, TypeGuardiansSet, obj{"guardians": []cc.DID{}, "threshold": 0, "delay_blocks": 0})
		rec := mustDID(t, e.kv, pat.did)
		if rec.Guardians != nil || rec.Threshold != 0 || rec.DelayBlock != 0 {
			t.Errorf("after clear: %+v", rec)
		}
		_, err := e.submit(t, ga, TypeRecoveryApprove, obj{"did": pat.did, "new_public_key": newActor("k").key()})
		cctest.WantKind(t, err, cc.FailedPrecondition)
	})
}

func TestRecoveryFlow(t *testing.T) {
	e, pat, ga, gb, gc, outsider := guardianEnv(t)
	newKey := pat.withKey("pat-recovered")
	approve := func(g *actor, key string) (cc.Result, error) {
		return e.submit(t, g, TypeRecoveryApprove, obj{"did": pat.did, "new_public_key": key})
	}
	execute := func(by *actor) error {
		_, err := e.submit(t, by, TypeRecoveryExecute, obj{"did": pat.did})
		return err
	}

	e.height = 100
	cctest.WantKind(t, execute(outsider), cc.NotFound)
	res, err := approve(ga, newKey.key())
	if err != nil {
		t.Fatal(err)
	}
	if got := cctest.DecodeData[recoveryResult](t, res); got.Approvals != 1 || got.Threshold != 2 || got.ReadyHeight != 0 {
		t.Errorf("first approval data = %+v", got)
	}
	err = execute(outsider)
	cctest.WantKind(t, err, cc.FailedPrecondition)
	wantErrText(t, err, "recovery has 1 of 2 approvals")

	_, err = approve(ga, newKey.key())
	cctest.WantKind(t, err, cc.Conflict) // duplicate
	_, err = approve(gb, newActor("other").key())
	cctest.WantKind(t, err, cc.Conflict) // different key while one is open
	_, err = approve(outsider, newKey.key())
	cctest.WantKind(t, err, cc.Unauthorized)
	_, err = approve(gb, pat.key())
	cctest.WantKind(t, err, cc.Invalid) // the current key
	_, err = e.submit(t, gb, TypeRecoveryApprove, obj{"did": nobody.did, "new_public_key": newKey.key()})
	cctest.WantKind(t, err, cc.NotFound)

	e.height = 101
	res, err = approve(gb, newKey.key())
	if err != nil {
		t.Fatal(err)
	}
	if got := cctest.DecodeData[recoveryResult](t, res); got.Approvals != 2 || got.ReadyHeight != 111 {
		t.Errorf("threshold approval data = %+v", got)
	}
	e.height = 105
	err = execute(outsider)
	cctest.WantKind(t, err, cc.FailedPrecondition)
	wantErrText(t, err, "height 111")

	// The key holder cancels; guardians cannot.
	_, err = e.submit(t, ga, TypeRecoveryCancel, obj{"did": pat.did})
	cctest.WantKind(t, err, cc.Unauthorized)
	e.mustSubmit(t, pat, TypeRecoveryCancel, obj{"did": pat.did})
	if _, err := GetRecovery(e.kv, pat.did); !cc.Is(cc.NotFound, err) {
		t.Errorf("after cancel: GetRecovery = %v", err)
	}
	_, err = e.submit(t, pat, TypeRecoveryCancel, obj{"did": pat.did})
	cctest.WantKind(t, err, cc.NotFound)
	cctest.WantKind(t, execute(outsider), cc.NotFound)

	// Start again: three approvals; the third leaves ready_height alone.
	e.height = 120
	approve(ga, newKey.key())
	approve(gc, newKey.key())
	e.height = 125
	if _, err := approve(gb, newKey.key()); err != nil {
		t.Fatal(err)
	}
	r, err := GetRecovery(e.kv, pat.did)
	if err != nil {
		t.Fatal(err)
	}
	want := []cc.DID{ga.did, gb.did, gc.did}
	slices.Sort(want)
	if r.ReadyHeight != 130 || r.Started != 120 || !slices.Equal(r.Approvals, want) || !bytes.Equal(r.NewKey, newKey.pub) {
		t.Errorf("recovery = %+v", r)
	}
	e.height = 129
	cctest.WantKind(t, execute(outsider), cc.FailedPrecondition)
	_, err = e.apply(t, nobody.did, TypeRecoveryExecute, mustJSON(t, obj{"did": pat.did}))
	cctest.WantKind(t, err, cc.UnknownSigner)

	e.height = 130
	if err := execute(outsider); err != nil {
		t.Fatalf("execute: %v", err)
	}
	rec := mustDID(t, e.kv, pat.did)
	if rec.KeyVersion != 2 || !bytes.Equal(rec.PublicKey, newKey.pub) || rec.Updated != 130 {
		t.Errorf("after recovery: %+v", rec)
	}
	if _, err := GetRecovery(e.kv, pat.did); !cc.Is(cc.NotFound, err) {
		t.Errorf("recovery not deleted: %v", err)
	}

	// Only the recovered key signs now.
	_, err = e.submit(t, pat, TypeDIDRotate, obj{"new_public_key": pat.withKey("pat-3").key()})
	cctest.WantKind(t, err, cc.BadSignature)
	e.mustSubmit(t, newKey, TypeDIDRotate, obj{"new_public_key": pat.withKey("pat-3").key()})
	key, err := SignerKey(e.kv, pat.did, TypeDIDRotate, nil)
	if err != nil || !bytes.Equal(key, pat.withKey("pat-3").pub) {
		t.Errorf("SignerKey = %x, %v", key, err)
	}
	if got := mustDID(t, e.kv, pat.did).KeyVersion; got != 3 {
		t.Errorf("key version = %d, want 3", got)
	}
}

func TestRecoveryCancelledByKeyChanges(t *testing.T) {
	for _, tt := range []struct {
		name    string
		typ     string
		payload func(ga *actor) obj
	}{
		{"rotate", TypeDIDRotate, func(*actor) obj { return obj{"new_public_key": newActor("fresh").key()} }},
		{"guardians.set", TypeGuardiansSet, func(ga *actor) obj { return obj{"guardians": []cc.DID{ga.did}, "threshold": 1, "delay_blocks": 3} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, pat, ga, _, _, _ := guardianEnv(t)
			e.mustSubmit(t, ga, TypeRecoveryApprove, obj{"did": pat.did, "new_public_key": newActor("lost").key()})
			res := e.mustSubmit(t, pat, tt.typ, tt.payload(ga))
			if got := cctest.Attr(res, tt.typ, "recovery_cancelled"); got != "true" {
				t.Errorf("recovery_cancelled = %q", got)
			}
			if _, err := GetRecovery(e.kv, pat.did); !cc.Is(cc.NotFound, err) {
				t.Errorf("GetRecovery = %v, want NotFound", err)
			}
		})
	}
}

func TestRecoveryPayloadErrors(t *testing.T) {
	e, pat, ga, _, _, _ := guardianEnv(t)
	tests := []struct {
		name    string
		signer  *actor
		typ     string
		payload any
		want    cc.Kind
	}{
		{"approve: bad did", ga, TypeRecoveryApprove, obj{"did": "did:cc:x", "new_public_key": ga.key()}, cc.Invalid},
		{"approve: bad key", ga, TypeRecoveryApprove, obj{"did": pat.did, "new_public_key": ""}, cc.Invalid},
		{"approve: extra field", ga, TypeRecoveryApprove, obj{"did": pat.did, "new_public_key": ga.key(), "force": true}, cc.Malformed},
		{"cancel: bad did", pat, TypeRecoveryCancel, obj{"did": 5}, cc.Malformed},
		{"cancel: empty did", pat, TypeRecoveryCancel, obj{}, cc.Invalid},
		{"execute: unknown DID", ga, TypeRecoveryExecute, obj{"did": nobody.did}, cc.NotFound},
		{"execute: no recovery", ga, TypeRecoveryExecute, obj{"did": pat.did}, cc.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.submit(t, tt.signer, tt.typ, tt.payload)
			cctest.WantKind(t, err, tt.want)
		})
	}
}

func TestLapsedRecoveryIsReplaced(t *testing.T) {
	e, pat, ga, gb, gc, _ := guardianEnv(t)
	bogus, good := newActor("bogus"), pat.withKey("pat-good")
	e.height = 1000
	e.mustSubmit(t, ga, TypeRecoveryApprove, obj{"did": pat.did, "new_public_key": bogus.key()})

	e.height = 1000 + RecoveryLapseBlocks - 1
	_, err := e.submit(t, gb, TypeRecoveryApprove, obj{"did": pat.did, "new_public_key": good.key()})
	cctest.WantKind(t, err, cc.Conflict)

	e.height = 1000 + RecoveryLapseBlocks
	res := e.mustSubmit(t, gb, TypeRecoveryApprove, obj{"did": pat.did, "new_public_key": good.key()})
	if got := cctest.Attr(res, TypeRecoveryApprove, "replaced_lapsed"); got != "true" {
		t.Errorf("replaced_lapsed = %q", got)
	}
	r, err := GetRecovery(e.kv, pat.did)
	if err != nil || !bytes.Equal(r.NewKey, good.pub) || !slices.Equal(r.Approvals, []cc.DID{gb.did}) || r.Started != e.height {
		t.Fatalf("recovery = %+v, %v", r, err)
	}

	// A recovery that reached its threshold never lapses.
	e.mustSubmit(t, gc, TypeRecoveryApprove, obj{"did": pat.did, "new_public_key": good.key()})
	e.height += 2 * RecoveryLapseBlocks
	_, err = e.submit(t, ga, TypeRecoveryApprove, obj{"did": pat.did, "new_public_key": bogus.key()})
	cctest.WantKind(t, err, cc.Conflict)
}

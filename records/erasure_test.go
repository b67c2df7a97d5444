package records

import (
	"slices"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

// erasureEnv is the fixture with three records of pat (o1 at version 2)
// and one of pat2.
func erasureEnv(t testing.TB) *env {
	t.Helper()
	e := newEnv(t)
	e.mustApply(t, doc, TypeAnchor, anchors(anchor("Observation/o1", nil), anchor("Observation/o2", nil),
		anchor("Condition/c1", obj{"type": "Condition"}), anchor("Observation/q1", obj{"patient": pat2.did})))
	e.next()
	e.mustApply(t, doc, TypeAnchor, anchors(anchor("Observation/o1", obj{"version": 2, "prev_hash": b64(hash("Observation/o1@1")), "content_hash": b64(hash("o1v2"))})))
	e.next()
	return e
}

func TestEraseByPatient(t *testing.T) {
	e := erasureEnv(t)
	res := e.mustApply(t, pat, TypeErase, obj{"patient": pat.did, "ids": []string{"Observation/o1"}})
	got := cctest.DecodeData[eraseResult](t, res)
	if !slices.Equal(got.Erased, []string{"Observation/o1"}) || got.Skipped != 0 || got.Height != e.height {
		t.Errorf("data = %+v", got)
	}
	a := mustAnchor(t, e.kv, "Observation/o1")
	if !a.Erased || a.ErasedAt != e.height || a.Version != 2 {
		t.Errorf("anchor after erasure = %+v, want erased at %d, still version 2", a, e.height)
	}
	hist, err := History(e.kv, "Observation/o1")
	if err != nil || len(hist) != 2 {
		t.Fatalf("History = %d versions, %v; want both versions kept", len(hist), err)
	}
	for _, v := range hist {
		if !v.Erased || v.ErasedAt != e.height {
			t.Errorf("version %d not shown as erased", v.Version)
		}
	}
	if v1, err := GetVersion(e.kv, "Observation/o1", 1); err != nil || !v1.Erased {
		t.Errorf("GetVersion(1) = %+v, %v; want erased", v1, err)
	}
	if o2 := mustAnchor(t, e.kv, "Observation/o2"); o2.Erased {
		t.Error("o2 was erased too")
	}
	er, err := Erasures(e.kv, pat.did)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Erasure{{Patient: pat.did, ID: "Observation/o1", By: pat.did, Height: e.height, Time: e.time}}; !slices.Equal(er, want) {
		t.Errorf("Erasures = %+v, want %+v", er, want)
	}
	ns, err := Notifications(e.kv, pat.did)
	if err != nil || len(ns) != 1 || ns[0].Kind != NoticeErasure || ns[0].Ref != "Observation/o1" {
		t.Errorf("notifications = %+v, %v; want one erasure notice", ns, err)
	}

	// Erasing it again with another record skips it; erasing only erased
	// records is a conflict.
	e.next()
	res = e.mustApply(t, pat, TypeErase, obj{"patient": pat.did, "ids": []string{"Observation/o1", "Observation/o2"}})
	if got := cctest.DecodeData[eraseResult](t, res); !slices.Equal(got.Erased, []string{"Observation/o2"}) || got.Skipped != 1 {
		t.Errorf("second erasure data = %+v, want o2 erased and one skipped", got)
	}
	e.next()
	_, err = e.apply(t, pat, TypeErase, obj{"patient": pat.did, "ids": []string{"Observation/o2", "Observation/o1"}})
	cctest.WantKind(t, err, cc.Conflict)
}

func TestEraseAllByDelegate(t *testing.T) {
	e := erasureEnv(t)
	res := e.mustApply(t, deleg, TypeErase, obj{"patient": pat.did, "all": true})
	want := []string{"Condition/c1", "Observation/o1", "Observation/o2"}
	if got := cctest.DecodeData[eraseResult](t, res); !slices.Equal(got.Erased, want) {
		t.Errorf("erased %v, want %v", got.Erased, want)
	}
	er, err := Erasures(e.kv, pat.did)
	if err != nil || len(er) != 3 || er[0].By != deleg.did {
		t.Errorf("Erasures = %+v, %v; want three by the delegate", er, err)
	}
	if q := mustAnchor(t, e.kv, "Observation/q1"); q.Erased {
		t.Error("pat2's record was erased")
	}
	ns, _ := Notifications(e.kv, pat.did)
	if len(ns) != 1 || ns[0].Ref != "" {
		t.Errorf("notifications = %+v, want one without a single ref", ns)
	}
	e.next()
	_, err = e.apply(t, pat, TypeErase, obj{"patient": pat.did, "all": true})
	cctest.WantKind(t, err, cc.Conflict)
	// A later anchor of an erased record is Gone.
	_, err = e.apply(t, doc, TypeAnchor, anchors(anchor("Observation/o2", obj{"version": 2, "prev_hash": b64(hash("Observation/o2@1"))})))
	cctest.WantKind(t, err, cc.Gone)
}

func TestEraseRejections(t *testing.T) {
	base := erasureEnv(t)
	tooMany := make([]string, MaxErasePerTx+1)
	for i := range tooMany {
		tooMany[i] = "Observation/o1"
	}
	tests := []struct {
		name    string
		signer  *actor
		payload any
		want    cc.Kind
	}{
		{"not an object", pat, []byte(`"x"`), cc.Malformed},
		{"unknown field", pat, obj{"patient": pat.did, "all": true, "why": "x"}, cc.Malformed},
		{"ids not strings", pat, obj{"patient": pat.did, "ids": []int{1}}, cc.Malformed},
		{"bad patient", pat, obj{"patient": "pat", "all": true}, cc.Invalid},
		{"neither ids nor all", pat, obj{"patient": pat.did}, cc.Invalid},
		{"both ids and all", pat, obj{"patient": pat.did, "all": true, "ids": []string{"Observation/o1"}}, cc.Invalid},
		{"bad id", pat, obj{"patient": pat.did, "ids": []string{"o1"}}, cc.Invalid},
		{"repeated id", pat, obj{"patient": pat.did, "ids": []string{"Observation/o1", "Observation/o1"}}, cc.Invalid},
		{"too many ids", pat, obj{"patient": pat.did, "ids": tooMany}, cc.Invalid},
		{"stranger", stranger, obj{"patient": pat.did, "all": true}, cc.Unauthorized},
		{"practitioner", doc, obj{"patient": pat.did, "ids": []string{"Observation/o1"}}, cc.Unauthorized},
		{"delegate without the erase scope", deleg, obj{"patient": pat2.did, "all": true}, cc.Unauthorized},
		{"unknown id", pat, obj{"patient": pat.did, "ids": []string{"Observation/o1", "Observation/zz"}}, cc.NotFound},
		{"another patient's record", pat, obj{"patient": pat.did, "ids": []string{"Observation/q1"}}, cc.NotFound},
		{"no records at all", stranger, obj{"patient": stranger.did, "all": true}, cc.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &env{kv: cctest.Copy(base.kv), height: base.height, time: base.time}
			_, err := e.apply(t, tt.signer, TypeErase, tt.payload)
			cctest.WantKind(t, err, tt.want)
		})
	}
}

func TestEraseByExpiredDelegate(t *testing.T) {
	e := erasureEnv(t)
	e.time = e.time.AddDate(2, 0, 0) // the delegation expired on 2026-01-01
	_, err := e.apply(t, deleg, TypeErase, obj{"patient": pat.did, "all": true})
	cctest.WantKind(t, err, cc.Unauthorized)
}

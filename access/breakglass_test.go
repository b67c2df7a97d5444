package access

import (
	"slices"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/internal/cctest"
	"carechain/records"
)

// declare opens a break-glass window by a for patient in st-marys and
// returns it.
func (e *env) declare(t testing.TB, a, patient *actor, minutes int) cc.BreakGlass {
	t.Helper()
	res := e.mustApply(t, a, TypeBreakGlassDeclare, obj{"patient": patient.did, "org": "st-marys", "reason_code": "unconscious", "minutes": minutes})
	return cctest.DecodeData[cc.BreakGlass](t, res)
}

func TestBreakGlassRead(t *testing.T) {
	e := newEnv(t)
	w := e.declare(t, er, pat2, 0)
	if !validWindowID(w.ID) || w.Clinician != er.did || w.Org != "st-marys" || w.Reason != "unconscious" ||
		!w.Start.Equal(e.time) || w.End.Sub(w.Start) != DefaultBreakGlassMinutes*time.Minute || w.Height != e.height {
		t.Errorf("window = %+v", w)
	}
	if v, _ := e.kv.Get("access/bg/" + string(pat2.did) + "/" + string(er.did) + "/" + w.ID); v == nil {
		t.Error("the window is not at the key consent.Load reads")
	}
	if got, err := GetBreakGlass(e.kv, w.ID); err != nil || got.ID != w.ID {
		t.Errorf("GetBreakGlass = %+v, %v", got, err)
	}
	ns, _ := records.Notifications(e.kv, pat2.did)
	if len(ns) != 1 || ns[0].Kind != records.NoticeBreakGlass || ns[0].Ref != w.ID {
		t.Errorf("notifications = %+v, want the declaration", ns)
	}
	e.next()

	// An emergency read in the window is logged, flagged and notified:
	// er of st-marys reads a city-lab record, logged by city-lab's node.
	s := mustSign(t, e.request(er, pat2, "ETREAT", "DiagnosticReport/d2"), er)
	got := e.logTx(t, labnode, logEv(s, "DiagnosticReport/d2"))
	if got[0].Status != StatusLogged || got[0].Basis != cc.BasisBreakGlass || got[0].Ref != w.ID {
		t.Fatalf("emergency read = %+v, want logged under %s", got[0], w.ID)
	}
	log, _ := AccessLog(e.kv, pat2.did)
	if len(log) != 1 || !log[0].BreakGlass || log[0].Org != "st-marys" || log[0].Basis != cc.BasisBreakGlass {
		t.Errorf("access log = %+v, want one flagged break-glass read by st-marys", log)
	}
	ns, _ = records.Notifications(e.kv, pat2.did)
	if len(ns) != 2 || ns[0].Kind != records.NoticeBreakGlassRead || ns[0].Ref != got[0].ID || !strings.Contains(ns[0].Text, w.ID) {
		t.Errorf("newest notification = %+v, want the break-glass read", ns[0])
	}

	// Not for treatment purposes other than ETREAT, not for another
	// clinician, not after the window.
	for _, tt := range []struct {
		name string
		r    ReadRequest
		a    *actor
	}{
		{"purpose TREAT", e.request(er, pat2, "TREAT", "DiagnosticReport/d2"), er},
		{"another clinician", e.request(doc, pat2, "ETREAT", "DiagnosticReport/d2"), doc},
	} {
		if got := e.logTx(t, labnode, logEv(mustSign(t, tt.r, tt.a), "DiagnosticReport/d2")); got[0].Status != StatusDenied {
			t.Errorf("%s: %+v, want denied", tt.name, got[0])
		}
	}
	e.time = w.End
	e.next()
	if got := e.logTx(t, labnode, logEv(mustSign(t, e.request(er, pat2, "ETREAT", "DiagnosticReport/d2"), er), "DiagnosticReport/d2")); got[0].Status != StatusDenied {
		t.Errorf("read after the window: %+v, want denied", got[0])
	}
	// A new window may be declared once the old one closed.
	e.declare(t, er, pat2, 30)
}

func TestBreakGlassDeclareRejections(t *testing.T) {
	base := newEnv(t)
	base.declare(t, er, pat, 60)
	valid := func(set obj) obj {
		p := obj{"patient": pat2.did, "org": "st-marys", "reason_code": "life-threatening", "reason": "arrived unresponsive", "minutes": 120}
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
		want    cc.Kind
	}{
		{"not an object", er, []byte(`1`), cc.Malformed},
		{"unknown field", er, valid(obj{"until": "x"}), cc.Malformed},
		{"minutes not a number", er, valid(obj{"minutes": "60"}), cc.Malformed},
		{"bad patient", er, valid(obj{"patient": "x"}), cc.Invalid},
		{"own records", er, valid(obj{"patient": er.did}), cc.Invalid},
		{"bad org", er, valid(obj{"org": "St"}), cc.Invalid},
		{"unknown reason code", er, valid(obj{"reason_code": "curiosity"}), cc.Invalid},
		{"other without reason", er, valid(obj{"reason_code": "other", "reason": nil}), cc.Invalid},
		{"long reason", er, valid(obj{"reason": strings.Repeat("é", MaxReasonLen+1)}), cc.Invalid},
		{"control character", er, valid(obj{"reason": "a\u0007"}), cc.Invalid},
		{"negative minutes", er, valid(obj{"minutes": -1}), cc.Invalid},
		{"too long", er, valid(obj{"minutes": MaxBreakGlassMinutes + 1}), cc.Invalid},
		{"physician", doc, valid(nil), cc.Unauthorized},
		{"emergency clinician of another org", er, valid(obj{"org": "city-lab"}), cc.Unauthorized},
		{"unregistered patient", er, valid(obj{"patient": stranger.did}), cc.NotFound},
		{"window already open", er, valid(obj{"patient": pat.did}), cc.Conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := base.clone().apply(t, tt.signer, TypeBreakGlassDeclare, tt.payload)
			cctest.WantKind(t, err, tt.want)
		})
	}
	e := base.clone()
	w := cctest.DecodeData[cc.BreakGlass](t, e.mustApply(t, er, TypeBreakGlassDeclare, valid(obj{"minutes": MaxBreakGlassMinutes, "reason_code": "other"})))
	if w.Reason != "other: arrived unresponsive" || w.End.Sub(w.Start) != 8*time.Hour {
		t.Errorf("window = %+v", w)
	}
}

func TestBreakGlassReview(t *testing.T) {
	e := newEnv(t)
	w1 := e.declare(t, er, pat, 60)
	e.next()
	w2 := e.declare(t, er, pat2, 60)
	e.next()
	w3 := e.declare(t, po, pat2, 60) // the privacy officer broke the glass too

	res := e.mustApply(t, po, TypeBreakGlassReview, obj{"id": w1.ID, "outcome": ReviewAccepted, "note": "patient arrived unconscious"})
	got := cctest.DecodeData[cc.BreakGlass](t, res)
	if got.Review != ReviewAccepted || got.ReviewedBy != po.did || got.ReviewedAt != e.height {
		t.Errorf("reviewed window = %+v", got)
	}
	if ns, _ := records.Notifications(e.kv, pat.did); ns[0].Kind != records.NoticeBreakGlassReview || ns[0].Ref != w1.ID {
		t.Errorf("newest notification = %+v, want the review", ns[0])
	}
	e.mustApply(t, po, TypeBreakGlassReview, obj{"id": w2.ID, "outcome": ReviewMisuse})
	e.next()
	// A window reviewed as misuse allows no more reads, though still open.
	s := mustSign(t, e.request(er, pat2, "ETREAT", "DiagnosticReport/d2"), er)
	if got := e.logTx(t, labnode, logEv(s, "DiagnosticReport/d2")); got[0].Status != StatusDenied {
		t.Errorf("read in a misuse window = %+v, want denied", got[0])
	}

	tests := []struct {
		name    string
		signer  *actor
		payload any
		want    cc.Kind
	}{
		{"not an object", po, []byte(`null`), cc.Malformed},
		{"unknown field", po, obj{"id": w3.ID, "outcome": ReviewAccepted, "by": "x"}, cc.Malformed},
		{"bad id", po, obj{"id": "bg-XYZ", "outcome": ReviewAccepted}, cc.Invalid},
		{"bad outcome", po, obj{"id": w3.ID, "outcome": "fine"}, cc.Invalid},
		{"long note", po, obj{"id": w3.ID, "outcome": ReviewAccepted, "note": strings.Repeat("x", MaxReasonLen+1)}, cc.Invalid},
		{"unknown window", po, obj{"id": "bg-0000000000000000", "outcome": ReviewAccepted}, cc.NotFound},
		{"not a privacy officer", hadmin, obj{"id": w3.ID, "outcome": ReviewAccepted}, cc.Unauthorized},
		{"another organization", labby, obj{"id": w3.ID, "outcome": ReviewAccepted}, cc.Unauthorized},
		{"own window", po, obj{"id": w3.ID, "outcome": ReviewAccepted}, cc.Unauthorized},
		{"reviewed twice", po, obj{"id": w1.ID, "outcome": ReviewMisuse}, cc.Conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.clone().apply(t, tt.signer, TypeBreakGlassReview, tt.payload)
			cctest.WantKind(t, err, tt.want)
		})
	}
}

func TestPendingReviews(t *testing.T) {
	e := newEnv(t)
	w1 := e.declare(t, er, pat, 60)
	e.time = e.time.Add(30 * time.Hour)
	e.next()
	w2 := e.declare(t, er, pat2, 60)
	type item struct {
		id      string
		overdue bool
	}
	pending := func(now time.Time) []item {
		t.Helper()
		rs, err := PendingReviews(e.kv, "st-marys", now, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var out []item
		for _, r := range rs {
			out = append(out, item{r.ID, r.Overdue})
		}
		return out
	}
	if got, want := pending(e.time), []item{{w1.ID, true}, {w2.ID, false}}; !slices.Equal(got, want) {
		t.Errorf("pending = %v, want %v (the first overdue)", got, want)
	}
	e.next()
	e.mustApply(t, po, TypeBreakGlassReview, obj{"id": w1.ID, "outcome": ReviewAccepted})
	if got, want := pending(w2.End.Add(24*time.Hour-time.Second)), []item{{w2.ID, false}}; !slices.Equal(got, want) {
		t.Errorf("pending after a review = %v, want %v", got, want)
	}
	if got, want := pending(w2.End.Add(24*time.Hour)), []item{{w2.ID, true}}; !slices.Equal(got, want) {
		t.Errorf("pending a day after the end = %v, want %v", got, want)
	}
	for _, org := range []string{"city-lab", "Not An Org"} {
		if rs, err := PendingReviews(e.kv, org, e.time, time.Hour); err != nil || len(rs) != 0 {
			t.Errorf("PendingReviews(%q) = %v, %v; want none", org, rs, err)
		}
	}
	ws, err := BreakGlassWindows(e.kv, pat2.did)
	if err != nil || len(ws) != 1 || ws[0].ID != w2.ID {
		t.Errorf("BreakGlassWindows(pat2) = %+v, %v", ws, err)
	}
	if ws, _ := BreakGlassWindows(e.kv, "x"); len(ws) != 0 {
		t.Errorf("windows of a bad DID: %v", ws)
	}
}

package records

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

func TestNotify(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx(doc.did, "test")
	for i := range 3 {
		n, err := Notify(e.kv, ctx, pat.did, NoticeBreakGlass, fmt.Sprintf("bg-%d", i), "text")
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("n-10-%d", i); n.ID != want || n.Height != 10 || !n.Time.Equal(genTime) {
			t.Errorf("notification %d = %+v, want id %s at height 10", i, n, want)
		}
	}
	e.next()
	n, err := Notify(e.kv, e.ctx(doc.did, "test"), pat.did, NoticeErasure, "", "later")
	if err != nil || n.ID != "n-11-0" {
		t.Errorf("first notification of the next block = %+v, %v; want n-11-0", n, err)
	}
	if v, _ := e.kv.Get(notificationKey(pat.did, 10, 2)); v == nil || notificationKey(pat.did, 10, 2) != "access/n/"+string(pat.did)+"/00000000000000000010/0002" {
		t.Errorf("key layout changed: %s", notificationKey(pat.did, 10, 2))
	}
	ns, err := Notifications(e.kv, pat.did)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range ns {
		ids = append(ids, n.ID)
	}
	if got, want := strings.Join(ids, " "), "n-11-0 n-10-2 n-10-1 n-10-0"; got != want {
		t.Errorf("feed = %s, want newest first %s", got, want)
	}
	if ns, _ := Notifications(e.kv, "bad"); len(ns) != 0 {
		t.Errorf("feed of a bad DID = %v", ns)
	}
}

func TestNotifyRejects(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx(doc.did, "test")
	tests := []struct {
		name            string
		patient         cc.DID
		kind, ref, text string
		want            cc.Kind
	}{
		{"bad patient", "x", NoticeErasure, "", "t", cc.Invalid},
		{"empty kind", pat.did, "", "", "t", cc.Invalid},
		{"bad kind", pat.did, "Break Glass", "", "t", cc.Invalid},
		{"empty text", pat.did, NoticeErasure, "", "", cc.Invalid},
		{"control character", pat.did, NoticeErasure, "", "a\nb", cc.Invalid},
		{"long text", pat.did, NoticeErasure, "", strings.Repeat("x", MaxNoticeTextLen+1), cc.Invalid},
		{"long ref", pat.did, NoticeErasure, strings.Repeat("x", MaxNoticeRefLen+1), "t", cc.Invalid},
		{"bad UTF-8", pat.did, NoticeErasure, "", "\xff", cc.Invalid},
	}
	for _, tt := range tests {
		before := cctest.Copy(e.kv)
		_, err := Notify(e.kv, ctx, tt.patient, tt.kind, tt.ref, tt.text)
		if cc.KindOf(err) != tt.want {
			t.Errorf("%s: got %v, want kind %v", tt.name, err, tt.want)
		}
		if d := cctest.Diff(before, e.kv); d != "" {
			t.Errorf("%s: wrote %s", tt.name, d)
		}
	}
	for i := range MaxNotificationsPerBlock {
		e.kv.Set(notificationKey(pat.did, ctx.Height, i), []byte(`{}`))
	}
	_, err := Notify(e.kv, ctx, pat.did, NoticeErasure, "", "one too many")
	cctest.WantKind(t, err, cc.FailedPrecondition)
}

func TestReadFailuresAreInternal(t *testing.T) {
	kv := cctest.NewFailingKV()
	payloads := []string{
		`{"anchors":[{"id":"Observation/o1","type":"Observation","patient":"` + string(pat.did) + `","org":"st-marys","author":"` + string(doc.did) + `","version":1,"content_hash":"` + b64(hash("x")) + `"}]}`,
		`{"patient":"` + string(pat.did) + `","all":true}`,
		`{"patient":"` + string(pat.did) + `","ids":["Observation/o1"]}`,
	}
	for i, payload := range payloads {
		for typ, h := range Handlers() {
			for _, signer := range []cc.DID{doc.did, pat.did, deleg.did} {
				ctx := cc.TxContext{ChainID: testChain, Height: 5, Time: genTime, Signer: signer, Type: typ}
				_, err := h(ctx, kv, []byte(payload))
				if k := cc.KindOf(err); k != cc.Internal && k != cc.Invalid && k != cc.Malformed {
					t.Errorf("payload %d, %s by %s: got %v", i, typ, signer, err)
				}
				if cc.KindOf(err) == cc.Internal && !errors.Is(err, cctest.ErrDisk) {
					t.Errorf("payload %d, %s: internal error %v does not wrap the I/O error", i, typ, err)
				}
			}
		}
	}
	if len(cctest.Keys(kv.Overlay, "")) != 0 {
		t.Errorf("handlers wrote after failed reads: %v", cctest.Keys(kv.Overlay, ""))
	}
	reads := map[string]func() error{
		"GetAnchor":      func() error { _, err := GetAnchor(kv, "Observation/o1"); return err },
		"GetVersion":     func() error { _, err := GetVersion(kv, "Observation/o1", 1); return err },
		"History":        func() error { _, err := History(kv, "Observation/o1"); return err },
		"PatientRecords": func() error { return PatientRecords(kv, pat.did, func(cc.RecordAnchor) bool { return true }) },
		"Erasures":       func() error { _, err := Erasures(kv, pat.did); return err },
		"Notifications":  func() error { _, err := Notifications(kv, pat.did); return err },
		"Notify": func() error {
			_, err := Notify(kv, cc.TxContext{Height: 1, Time: genTime}, pat.did, NoticeErasure, "", "t")
			return err
		},
	}
	for name, read := range reads {
		if err := read(); cc.KindOf(err) != cc.Internal || !errors.Is(err, cctest.ErrDisk) {
			t.Errorf("%s: got %v, want an Internal error wrapping the I/O error", name, err)
		}
	}
}

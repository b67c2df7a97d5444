package access

import (
	"testing"
	"time"

	cc "carechain"
)

func TestSignAndVerifyWrite(t *testing.T) {
	e := newEnv(t)
	body := []byte(`{"resourceType":"Bundle","type":"transaction"}`)
	good := WriteRequest{ChainID: testChain, Author: doc.did, Org: "st-marys", Patient: pat.did,
		Body: BodyHash(body), Issued: e.time, Nonce: "nonce-0123456789abcdef"}
	s, err := SignWrite(good, doc.priv)
	if err != nil {
		t.Fatal(err)
	}
	w, h, err := VerifyWrite(e.kv, s, body)
	if err != nil {
		t.Fatalf("VerifyWrite: %v", err)
	}
	if w.Author != doc.did || w.Org != "st-marys" || w.Patient != pat.did || len(h) != 32 {
		t.Errorf("VerifyWrite = %+v, %x", w, h)
	}
	// A read signature over the same bytes is not a write signature.
	if _, _, err := VerifyRead(e.kv, s); err == nil {
		t.Error("a write request verified as a read")
	}

	other, _ := SignWrite(good, pat.priv) // signed by the wrong key
	ghostActor := newActor("ghost")       // never on the ledger
	ghost := good
	ghost.Author = ghostActor.did
	ghostSig, _ := SignWrite(ghost, ghostActor.priv)
	tests := []struct {
		name string
		s    SignedRead
		body []byte
		want cc.Kind
	}{
		{"other body", s, []byte(`{}`), cc.Invalid},
		{"wrong key", other, body, cc.BadSignature},
		{"author not on the ledger", ghostSig, body, cc.UnknownSigner},
		{"tampered request", SignedRead{Request: []byte(string(s.Request[:len(s.Request)-1]) + ` }`), Sig: s.Sig}, body, cc.NonCanonical},
		{"bad signature encoding", SignedRead{Request: s.Request, Sig: "!!"}, body, cc.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := VerifyWrite(e.kv, tt.s, tt.body)
			if got := cc.KindOf(err); got != tt.want {
				t.Errorf("kind = %v (%v), want %v", got, err, tt.want)
			}
		})
	}

	invalid := []func(w *WriteRequest){
		func(w *WriteRequest) { w.ChainID = "" },
		func(w *WriteRequest) { w.Author = "did:x:1" },
		func(w *WriteRequest) { w.Org = "Not An Org" },
		func(w *WriteRequest) { w.Patient = "patient" },
		func(w *WriteRequest) { w.Body = "abc" },
		func(w *WriteRequest) { w.Issued = time.Time{} },
		func(w *WriteRequest) { w.Nonce = "short" },
	}
	for i, f := range invalid {
		w := good
		f(&w)
		if _, err := SignWrite(w, doc.priv); !cc.Is(cc.Invalid, err) {
			t.Errorf("case %d: SignWrite = %v, want Invalid", i, err)
		}
	}
}

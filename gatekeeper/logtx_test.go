package gatekeeper

import (
	"bytes"
	"testing"
	"time"

	"carechain/access"
	"carechain/internal/cctest"
	"carechain/ledger/tx"
)

// TestCanonicalLogBody checks that the access.log transaction built from
// canonicalLogBody is byte for byte the one tx.Build makes, and that it
// declines what it cannot vouch for.
func TestCanonicalLogBody(t *testing.T) {
	pub, key := cctest.Key("gatekeeper", "node")
	signer := tx.DeriveDID(pub)
	rpub, rkey := cctest.Key("gatekeeper", "reader")
	reader := tx.DeriveDID(rpub)
	read := func(mod func(*access.ReadRequest)) access.SignedRead {
		r := access.ReadRequest{ChainID: "gk-chain", Requester: reader, Patient: reader, Action: access.ActionRead, Purpose: "PATRQT",
			Records: []string{"Observation/o1", "Condition/c-1.2"}, Issued: time.Date(2026, 11, 30, 9, 30, 0, 123000000, time.UTC), Nonce: "nonce-0123456789abcdef"}
		if mod != nil {
			mod(&r)
		}
		s, err := access.SignRead(r, rkey)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := read(nil), read(func(r *access.ReadRequest) {
		r.Records, r.Org, r.Nonce = []string{"Patient/p"}, "st-mary-hospital", `nonce-<&>"\-0123456789` // escapes and HTML characters inside the request
	})
	b2 := read(func(r *access.ReadRequest) {
		r.Action, r.Records, r.Query = access.ActionSearch, nil, "code=1234-5&_count=10"
	})
	tests := []struct {
		name    string
		chainID string
		seq     uint64
		items   []logItem
		fast    bool
	}{
		{"one read", "gk-chain", 0, []logItem{{Read: a, Records: []string{"Observation/o1"}}}, true},
		{"several reads", "gk-chain", 12345, []logItem{{Read: a, Records: []string{"Observation/o1", "Condition/c-1.2"}}, {Read: b, Records: []string{"Patient/p"}}, {Read: b2, Records: []string{"Observation/x"}}}, true},
		{"largest exact sequence", "gk-chain", maxExactInt, []logItem{{Read: a, Records: []string{"Observation/o1"}}}, true},
		{"sequence past 2^53", "gk-chain", maxExactInt + 1, []logItem{{Read: a, Records: []string{"Observation/o1"}}}, false},
		{"chain id with an escape", `gk"chain`, 1, []logItem{{Read: a, Records: []string{"Observation/o1"}}}, false},
		{"record id with '<'", "gk-chain", 1, []logItem{{Read: a, Records: []string{"Observation/a<b"}}}, false},
		{"not canonical request", "gk-chain", 1, []logItem{{Read: access.SignedRead{Request: append([]byte(" "), a.Request...), Sig: a.Sig}, Records: []string{"Observation/o1"}}}, false},
		{"malformed request", "gk-chain", 1, []logItem{{Read: access.SignedRead{Request: []byte(`{"x":1}`), Sig: a.Sig}, Records: []string{"Observation/o1"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := tx.Build(tt.chainID, signer, key, tt.seq, access.TypeLog, map[string]any{"events": tt.items})
			if err != nil {
				t.Fatal(err)
			}
			body, ok := canonicalLogBody(tt.chainID, tt.seq, tt.items)
			if ok != tt.fast {
				t.Fatalf("canonicalLogBody ok = %v, want %v", ok, tt.fast)
			}
			g := &Gatekeeper{cfg: Config{NodeDID: signer, NodeKey: key}}
			got, err := g.buildLog(tt.items)(tt.chainID, tt.seq)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("built\n%s\nwant (tx.Build)\n%s", got, want)
			}
			if _, err := tx.Decode(got); err != nil && tt.fast {
				t.Errorf("tx.Decode: %v", err)
			}
			if ok && !bytes.Contains(want, body) {
				t.Errorf("the body is not the signed body")
			}
		})
	}
}

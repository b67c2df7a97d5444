package access

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gowebpki/jcs"

	cc "carechain"
	"carechain/identity"
	"carechain/internal/cctest"
	"carechain/ledger/tx"
)

func TestSignAndVerifyRead(t *testing.T) {
	e := newEnv(t)
	r := e.request(clindoc, pat, "TREAT", "Observation/o1")
	r.Issued = time.Date(2025, 3, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	s := mustSign(t, r, clindoc)
	// The signed bytes are the prefix, the requester and the canonical
	// request, keys sorted and no insignificant space.
	if !bytes.HasPrefix(s.Request, []byte(`{"action":"read","chain_id":"carechain-test","issued":"2025-03-01T13:00:00+01:00","nonce":`)) {
		t.Errorf("request = %s", s.Request)
	}
	got, hash, err := VerifyRead(e.kv, s)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(append([]byte(ReadPrefix+string(clindoc.did)+"\n"), s.Request...))
	if !bytes.Equal(hash, want[:]) {
		t.Errorf("hash = %x, want sha256 of the signed bytes %x", hash, want)
	}
	if !got.Issued.Equal(r.Issued) || got.Requester != r.Requester || got.Records[0] != "Observation/o1" {
		t.Errorf("request = %+v, want %+v", got, r)
	}
	// A signature stays valid in a tx payload: canonicalizing the whole
	// body leaves the embedded canonical request unchanged.
	b, _ := json.Marshal(obj{"read": s})
	var back struct{ Read SignedRead }
	if err := json.Unmarshal(b, &back); err != nil || !bytes.Equal(back.Read.Request, s.Request) {
		t.Errorf("round trip changed the request: %s", back.Read.Request)
	}
	// After a key rotation the old signature no longer verifies.
	newKey := newActor("clindoc-2")
	e.mustApply(t, clindoc, identity.TypeDIDRotate, obj{"new_public_key": tx.EncodeKey(newKey.pub)})
	_, _, err = VerifyRead(e.kv, s)
	cctest.WantKind(t, err, cc.BadSignature)
	if _, _, err := VerifyRead(e.kv, mustSign(t, r, newKey)); err != nil {
		t.Errorf("read signed with the rotated key: %v", err)
	}
}

func TestVerifyReadRejects(t *testing.T) {
	e := newEnv(t)
	base := e.request(clindoc, pat, "TREAT", "Observation/o1")
	good := mustSign(t, base, clindoc)
	// signed returns a SignedRead of the canonical form of raw, signed by
	// clindoc.
	signed := func(raw string) SignedRead {
		sig := ed25519.Sign(clindoc.priv, ReadSignBytes(clindoc.did, []byte(raw)))
		return SignedRead{Request: json.RawMessage(raw), Sig: encodeSig(sig)}
	}
	// edit returns base changed by mod, canonical and signed by clindoc
	// (SignRead refuses invalid requests, so it signs by hand).
	edit := func(mod func(*ReadRequest)) SignedRead {
		r := base
		mod(&r)
		b, _ := json.Marshal(r)
		canon, err := jcs.Transform(b)
		if err != nil {
			t.Fatal(err)
		}
		return signed(string(canon))
	}
	tests := []struct {
		name string
		s    SignedRead
		want cc.Kind
	}{
		{"too large", signed(`{"x":"` + strings.Repeat("a", MaxRequestBytes) + `"}`), cc.TooLarge},
		{"empty", SignedRead{Sig: good.Sig}, cc.Malformed},
		{"not an object", signed(`[1]`), cc.Malformed},
		{"not JSON", signed(`{"a":`), cc.Malformed},
		{"not canonical", signed(strings.Replace(string(good.Request), `{"action"`, `{ "action"`, 1)), cc.NonCanonical},
		{"unknown field", signed(`{"zzz":1}`), cc.Malformed},
		{"issued not a time", signed(strings.Replace(string(good.Request), `"issued":"2025-03-01T12:01:00Z"`, `"issued":"yesterday"`, 1)), cc.Malformed},
		{"bad sig encoding", SignedRead{Request: good.Request, Sig: "!!"}, cc.Malformed},
		{"short sig", SignedRead{Request: good.Request, Sig: good.Sig[:20]}, cc.Malformed},
		{"no chain", edit(func(r *ReadRequest) { r.ChainID = "" }), cc.Invalid},
		{"bad requester", edit(func(r *ReadRequest) { r.Requester = "did:x" }), cc.Invalid},
		{"bad patient", edit(func(r *ReadRequest) { r.Patient = "" }), cc.Invalid},
		{"unknown action", edit(func(r *ReadRequest) { r.Action = "write" }), cc.Invalid},
		{"bad purpose", edit(func(r *ReadRequest) { r.Purpose = "treat me" }), cc.Invalid},
		{"read without records", edit(func(r *ReadRequest) { r.Records = nil }), cc.Invalid},
		{"read with a query", edit(func(r *ReadRequest) { r.Query = "code=x" }), cc.Invalid},
		{"search without query", edit(func(r *ReadRequest) { r.Action, r.Records = ActionSearch, nil }), cc.Invalid},
		{"bad record id", edit(func(r *ReadRequest) { r.Records = []string{"o1"} }), cc.Invalid},
		{"repeated record", edit(func(r *ReadRequest) { r.Records = []string{"Observation/o1", "Observation/o1"} }), cc.Invalid},
		{"bad org", edit(func(r *ReadRequest) { r.Org = "Clinic" }), cc.Invalid},
		{"short nonce", edit(func(r *ReadRequest) { r.Nonce = "123" }), cc.Invalid},
		{"no issued time", edit(func(r *ReadRequest) { r.Issued = time.Time{} }), cc.Invalid},
		{"requester not on the ledger", mustSign(t, func() ReadRequest { r := base; r.Requester = newActor("ghost").did; return r }(), newActor("ghost")), cc.UnknownSigner},
		{"signed by someone else", mustSign(t, base, doc), cc.BadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := VerifyRead(e.kv, tt.s)
			cctest.CheckError(t, err)
			cctest.WantKind(t, err, tt.want)
		})
	}
	if _, err := SignRead(base, ed25519.PrivateKey("short")); !cc.Is(cc.Invalid, err) {
		t.Errorf("SignRead with a bad key: %v", err)
	}
	bad := base
	bad.Action = "write"
	if _, err := SignRead(bad, clindoc.priv); !cc.Is(cc.Invalid, err) {
		t.Errorf("SignRead of an invalid request: %v", err)
	}
	search := base
	search.Action, search.Records, search.Query = ActionSearch, nil, "category=laboratory&date=ge2024-01-01&_sort=-date"
	s := mustSign(t, search, clindoc)
	if _, _, err := VerifyRead(e.kv, s); err != nil {
		t.Errorf("search with & and <: %v", err)
	}
}

// encodeSig is base64url without padding, the signature encoding.
func encodeSig(sig []byte) string { return tx.EncodeKey(sig) }

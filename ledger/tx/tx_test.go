package tx

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	cc "carechain"
)

// MustKey returns a deterministic test key.
func MustKey(t testing.TB, b byte) (cc.DID, ed25519.PrivateKey) {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
	return DeriveDID(priv.Public().(ed25519.PublicKey)), priv
}

func TestBuildDecodeVerify(t *testing.T) {
	did, priv := MustKey(t, 1)
	raw, err := Build("c1", did, priv, 7, "did.rotate", map[string]any{"new_public_key": "abc", "z": 1, "a": "<&>"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.Body.ChainID != "c1" || got.Body.Type != "did.rotate" || got.Body.Sequence != 7 || got.Signer != did {
		t.Errorf("decoded %+v", got.Body)
	}
	if err := got.Verify(priv.Public().(ed25519.PublicKey)); err != nil {
		t.Errorf("Verify: %v", err)
	}
	_, other := MustKey(t, 2)
	if err := got.Verify(other.Public().(ed25519.PublicKey)); !cc.Is(cc.BadSignature, err) {
		t.Errorf("Verify with other key: %v, want BadSignature", err)
	}
	// The payload keys are in RFC 8785 order and HTML is not escaped.
	if !strings.Contains(string(got.BodyBytes), `"payload":{"a":"<&>","new_public_key":"abc","z":1}`) {
		t.Errorf("body not canonical: %s", got.BodyBytes)
	}
}

func TestDeriveDIDVectors(t *testing.T) {
	// did:cc is sha256("carechain-did-v1" ‖ key)[:20] in lowercase base32:
	// pin one vector so the derivation never changes silently.
	_, priv := MustKey(t, 1)
	got := DeriveDID(priv.Public().(ed25519.PublicKey))
	if !got.Valid() {
		t.Fatalf("%s is not valid", got)
	}
	if again := DeriveDID(priv.Public().(ed25519.PublicKey)); again != got {
		t.Errorf("not deterministic")
	}
	_, priv2 := MustKey(t, 2)
	if DeriveDID(priv2.Public().(ed25519.PublicKey)) == got {
		t.Errorf("two keys, one DID")
	}
	// Computed independently (Python's hashlib and base64).
	seq := make([]byte, 32)
	for i := range seq {
		seq[i] = byte(i)
	}
	for _, v := range []struct {
		key  []byte
		want cc.DID
	}{
		{make([]byte, 32), "did:cc:2rrj63zzqzs7esa7vadk3n4hyyig7vm4"},
		{seq, "did:cc:a4kimnt34vw6wi5ixuekd6lqabscytzr"},
	} {
		if got := DeriveDID(v.key); got != v.want {
			t.Errorf("DeriveDID(%x) = %s, want %s", v.key, got, v.want)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	did, priv := MustKey(t, 1)
	good, _ := Build("c1", did, priv, 0, "x.y", map[string]string{"k": "v"})
	var env map[string]json.RawMessage
	json.Unmarshal(good, &env)
	with := func(k, v string) []byte {
		m := map[string]json.RawMessage{}
		for a, b := range env {
			m[a] = b
		}
		m[k] = json.RawMessage(v)
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		name string
		raw  []byte
		want cc.Kind
	}{
		{"empty", nil, cc.Malformed},
		{"garbage", []byte("\x00\x01"), cc.Malformed},
		{"array", []byte(`[]`), cc.Malformed},
		{"trailing", append(append([]byte{}, good...), []byte(` {}`)...), cc.Malformed},
		{"unknown envelope field", with("extra", `1`), cc.Malformed},
		{"body not object", with("body", `"x"`), cc.Malformed},
		{"non-canonical body", with("body", `{"type":"x.y","chain_id":"c1","sequence":0,"payload":{"k":"v"}}`), cc.NonCanonical},
		{"unknown body field", with("body", `{"chain_id":"c1","extra":1,"payload":{},"sequence":0,"type":"x.y"}`), cc.Malformed},
		{"missing type", with("body", `{"chain_id":"c1","payload":{},"sequence":0}`), cc.Malformed},
		{"payload not object", with("body", `{"chain_id":"c1","payload":[],"sequence":0,"type":"x.y"}`), cc.Malformed},
		{"negative sequence", with("body", `{"chain_id":"c1","payload":{},"sequence":-1,"type":"x.y"}`), cc.Malformed},
		{"bad signer", with("signer", `"did:web:example.com"`), cc.Malformed},
		{"bad sig", with("sig", `"AAAA"`), cc.Malformed},
		{"oversize", bytes.Repeat([]byte(" "), MaxTxBytes+1), cc.TooLarge},
	}
	for _, tt := range tests {
		_, err := Decode(tt.raw)
		if got := cc.KindOf(err); got != tt.want {
			t.Errorf("%s: kind %v (%v), want %v", tt.name, got, err, tt.want)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to the decoder: it must never panic, and
// every failure must be a *carechain.Error with a non-zero kind.
func FuzzDecode(f *testing.F) {
	did, priv := MustKey(f, 1)
	good, _ := Build("c1", did, priv, 3, "did.create", map[string]string{"public_key": "x", "kind": "patient"})
	f.Add(good)
	f.Add([]byte(`{"body":{},"signer":"","sig":""}`))
	f.Add([]byte(`{"body":{"chain_id":"c","payload":{},"sequence":1e400,"type":"t"},"signer":"did:cc:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","sig":""}`))
	f.Add([]byte(`{"body":{"chain_id":"c","payload":{"a":[1,"\u0001"]},"sequence":12,"type":"t"},"signer":"did:cc:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","sig":"` + strings.Repeat("A", 86) + `"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		assertSameDecode(t, raw)
		tx, err := Decode(raw)
		if err != nil {
			var ce *cc.Error
			if !errors.As(err, &ce) || ce.Kind == 0 {
				t.Fatalf("error %v is not a *carechain.Error with a kind", err)
			}
			return
		}
		// Anything accepted re-encodes to the same canonical body.
		if !bytes.Equal(tx.BodyBytes, tx.SignBytes()[len(SignPrefix)+len(tx.Signer)+1:]) {
			t.Fatalf("sign bytes do not end with the body")
		}
	})
}

// assertSameDecode checks that whenever splitEncoded takes raw, the
// general encoding/json path decodes the same envelope and body from it.
func assertSameDecode(t *testing.T, raw []byte) bool {
	t.Helper()
	env, body, ok := splitEncoded(raw)
	if !ok {
		return false
	}
	wantEnv, wantBody, err := decodeJSON(raw)
	if err != nil {
		t.Fatalf("splitEncoded took %q, decodeJSON refuses it: %v", raw, err)
	}
	if !bytes.Equal(env.Body, wantEnv.Body) || env.Signer != wantEnv.Signer || env.Sig != wantEnv.Sig ||
		body.ChainID != wantBody.ChainID || body.Type != wantBody.Type || body.Sequence != wantBody.Sequence ||
		!bytes.Equal(body.Payload, wantBody.Payload) {
		t.Fatalf("%q: splitEncoded gives %+v %+v, decodeJSON %+v %+v", raw, env, body, wantEnv, wantBody)
	}
	return true
}

// TestDecodePaths: transactions as Encode writes them take the one-scan
// path and decode as the encoding/json path does; every variation of that
// form falls back to the general path and gets its verdict.
func TestDecodePaths(t *testing.T) {
	did, priv := MustKey(t, 1)
	sig := strings.Repeat("A", 86)
	env := func(body string) string {
		return `{"body":` + body + `,"signer":"` + string(did) + `","sig":"` + sig + `"}`
	}
	built, err := Build("c1", did, priv, 7, "x.y", map[string]any{"k": "v", "n": []int{1, 2}, "s": "é<&>"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		raw  string
		fast bool
		want cc.Kind // 0: decodes
	}{
		{"built", string(built), true, 0},
		{"encode form", env(`{"chain_id":"c1","payload":{},"sequence":0,"type":"x.y"}`), true, 0},
		{"big sequence", env(`{"chain_id":"c1","payload":{},"sequence":123456789012345,"type":"x.y"}`), true, 0},
		{"sequence over 15 digits", env(`{"chain_id":"c1","payload":{},"sequence":1234567890123456,"type":"x.y"}`), false, 0},
		{"negative sequence", env(`{"chain_id":"c1","payload":{},"sequence":-1,"type":"x.y"}`), false, cc.Malformed},
		{"escaped chain id", env(`{"chain_id":"c\u0001","payload":{},"sequence":0,"type":"x.y"}`), false, 0},
		{"non-ASCII type", env(`{"chain_id":"c1","payload":{},"sequence":0,"type":"é"}`), false, 0},
		{"extra body field", env(`{"chain_id":"c1","payload":{},"sequence":0,"type":"x.y","z":1}`), false, cc.Malformed},
		{"payload not object", env(`{"chain_id":"c1","payload":[],"sequence":0,"type":"x.y"}`), false, cc.Malformed},
		{"unsorted body", env(`{"payload":{},"chain_id":"c1","sequence":0,"type":"x.y"}`), false, cc.NonCanonical},
		{"space in body", env(`{"chain_id":"c1", "payload":{},"sequence":0,"type":"x.y"}`), false, cc.NonCanonical},
		{"space in envelope", strings.Replace(env(`{"chain_id":"c1","payload":{},"sequence":0,"type":"x.y"}`), `"sig":`, `"sig": `, 1), false, 0},
		{"trailing newline", env(`{"chain_id":"c1","payload":{},"sequence":0,"type":"x.y"}`) + "\n", false, 0},
		{"trailing data", env(`{"chain_id":"c1","payload":{},"sequence":0,"type":"x.y"}`) + "{}", false, cc.Malformed},
		{"escaped signer", strings.Replace(env(`{"chain_id":"c1","payload":{},"sequence":0,"type":"x.y"}`), `did:cc:`, `did\u003acc:`, 1), false, 0},
	}
	for _, tt := range tests {
		if got := assertSameDecode(t, []byte(tt.raw)); got != tt.fast {
			t.Errorf("%s: one-scan path %v, want %v", tt.name, got, tt.fast)
		}
		_, err := Decode([]byte(tt.raw))
		if got := cc.KindOf(err); err != nil && got != tt.want || err == nil && tt.want != 0 {
			t.Errorf("%s: %v (kind %v), want kind %v", tt.name, err, got, tt.want)
		}
	}
}

// FuzzEncodeMatchesEncoder checks Encode's direct path writes what
// encoding/json writes for the same envelope, for any body and signer.
func FuzzEncodeMatchesEncoder(f *testing.F) {
	for _, s := range []struct{ body, signer string }{
		{`{"a":1}`, "did:cc:abc"},
		{`{"a":"<&>\u2028"}`, "did:cc:abc"},
		{"{\"a\":\"\u2028\"}", "did:cc:abc"},
		{`{"b":1,"a":2}`, "did:cc:abc"},
		{`{"a": 1}`, "did:cc:abc"},
		{`{"a":1}`, "did:cc:<&>"},
		{`{"a":1}`, "did:cc:\"x"},
		{`not json`, "did:cc:abc"},
	} {
		f.Add([]byte(s.body), s.signer, []byte("sig"))
	}
	f.Fuzz(func(t *testing.T, body []byte, signer string, sig []byte) {
		got, gotErr := Encode(body, cc.DID(signer), sig)
		want, wantErr := encodeEnvelope(body, cc.DID(signer), base64.RawURLEncoding.EncodeToString(sig))
		if (gotErr == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("Encode(%q, %q) = %q, %v; encoding/json gives %q, %v", body, signer, got, gotErr, want, wantErr)
		}
	})
}

// TestBuildPayloadIsCanonical: the body BuildPayload assembles around a
// canonical payload is byte for byte the RFC 8785 form of the whole body
// (what canonicalizing it gives), for plain and non-plain chain ids and
// types, any sequence and payloads with HTML characters, escapes and
// non-ASCII text; a zero Payload is refused.
func TestBuildPayloadIsCanonical(t *testing.T) {
	did, priv := MustKey(t, 3)
	payloads := []any{
		map[string]any{"z": 1, "a": "<&>", "é": []any{1.5, "\u2028", nil, true}},
		struct {
			B string `json:"b"`
			A int    `json:"a"`
		}{"x\"y\\z", -3},
		map[string]any{},
	}
	for _, chain := range []string{"carechain-test", "chain <&>", "ch\"ain"} {
		for _, typ := range []string{"supply.capture", "kv<set>"} {
			for _, seq := range []uint64{0, 7, 1 << 53} {
				for _, pl := range payloads {
					p, err := NewPayload(pl)
					if err != nil {
						t.Fatal(err)
					}
					raw, err := BuildPayload(chain, did, priv, seq, typ, p)
					if err != nil {
						t.Fatal(err)
					}
					got, err := Decode(raw)
					if err != nil {
						t.Fatalf("%q %q %d %v: %v", chain, typ, seq, pl, err)
					}
					m, _ := json.Marshal(Body{ChainID: chain, Type: typ, Sequence: seq, Payload: p.canon})
					want, err := cc.Canonical(m)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got.BodyBytes, want) {
						t.Errorf("body %s, canonical %s", got.BodyBytes, want)
					}
					if err := got.Verify(priv.Public().(ed25519.PublicKey)); err != nil {
						t.Error(err)
					}
				}
			}
		}
	}
	if _, err := BuildPayload("c", did, priv, 1, "t", Payload{}); !cc.Is(cc.Invalid, err) {
		t.Errorf("zero Payload: %v, want Invalid", err)
	}

}

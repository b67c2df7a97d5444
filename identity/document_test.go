package identity

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	cc "carechain"
	"carechain/ledger/tx"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// golden compares got with testdata/name, rewriting the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestDocumentGolden(t *testing.T) {
	e, pat, ga, _, _, _ := guardianEnv(t)
	e.height = 40
	e.mustSubmit(t, doc, TypePatientAttest, obj{"patient": pat.did, "org": "st-marys"})
	e.mustSubmit(t, pat, TypeDIDRotate, obj{"new_public_key": pat.withKey("pat-2").key()})
	rec := mustDID(t, e.kv, pat.did)
	got, err := json.MarshalIndent(Document(rec), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "document.golden.json", append(got, '\n'))

	// A DID without guardians or attestations has no recovery block.
	plain, err := json.Marshal(Document(mustDID(t, e.kv, ga.did)))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(plain, []byte(`"recovery"`)) || bytes.Contains(plain, []byte(`"attestedBy"`)) {
		t.Errorf("plain document has recovery data: %s", plain)
	}
	if !bytes.Contains(plain, []byte(`"id":"`+string(ga.did)+`#key-1"`)) {
		t.Errorf("plain document lacks #key-1: %s", plain)
	}
	var doc struct {
		VerificationMethod []struct {
			PublicKeyJwk JWK `json:"publicKeyJwk"`
		} `json:"verificationMethod"`
	}
	if err := json.Unmarshal(plain, &doc); err != nil || len(doc.VerificationMethod) != 1 || doc.VerificationMethod[0].PublicKeyJwk.X != ga.key() {
		t.Errorf("jwk = %+v, %v", doc, err)
	}
}

func TestDocumentFollowsRecord(t *testing.T) {
	a := newActor("doc-subject")
	tests := []struct {
		name    string
		rec     cc.DIDRecord
		wantKey string
	}{
		{"new", cc.DIDRecord{ID: a.did, Kind: cc.KindPractitioner, PublicKey: a.pub, KeyVersion: 1}, "#key-1"},
		{"rotated twice", cc.DIDRecord{ID: a.did, Kind: cc.KindNode, PublicKey: a.withKey("k3").pub, KeyVersion: 3}, "#key-3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Document(&tt.rec)
			id := string(a.did) + tt.wantKey
			if d.ID != a.did || len(d.VerificationMethod) != 1 || d.VerificationMethod[0].ID != id ||
				d.Authentication[0] != id || d.AssertionMethod[0] != id || d.VerificationMethod[0].Controller != a.did {
				t.Errorf("document = %+v", d)
			}
			if got := d.VerificationMethod[0].PublicKeyJwk; got != (JWK{Kty: "OKP", Crv: "Ed25519", X: tx.EncodeKey(tt.rec.PublicKey)}) {
				t.Errorf("jwk = %+v", got)
			}
			if !slices.Equal(d.Context, []string{ContextDIDv1, ContextJWS2020}) || d.Carechain.Kind != tt.rec.Kind || d.Carechain.Recovery != nil {
				t.Errorf("document = %+v", d)
			}
		})
	}
}

package shc

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	cc "carechain"
	"carechain/credential"
)

const exampleIssuer = "https://spec.smarthealth.cards/examples/issuer"

// examples returns the shared SMART Health Cards examples directory,
// skipping the test when it is not beside the repository.
func examples(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "shared", "testdata", "smart-health-cards")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared testdata not found: %v", err)
	}
	return dir
}

func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exampleTrust trusts the example issuer's published key set, and only
// for that issuer.
func exampleTrust(t testing.TB) Trust {
	t.Helper()
	ks, err := ParseJWKS(read(t, filepath.Join("testdata", "examples-issuer-jwks.json")))
	if err != nil {
		t.Fatal(err)
	}
	return Trust{Keys: func(iss string) (*credential.JWKS, error) {
		if iss != exampleIssuer {
			return nil, cc.Errorf("test", cc.NotFound, "untrusted")
		}
		return ks, nil
	}}
}

func mustValid(t testing.TB, label string, r *Result) {
	t.Helper()
	if !r.Valid || len(r.Checks) != 7 {
		t.Fatalf("%s: not valid: %v (checks %+v)", label, r.Reasons, r.Checks)
	}
}

func TestOfficialExamples(t *testing.T) {
	dir := examples(t)
	trust := exampleTrust(t)
	for _, ex := range []string{"example-00", "example-02"} {
		jws := strings.TrimSpace(string(read(t, filepath.Join(dir, ex+"-d-jws.txt"))))
		r := Verify(jws, trust)
		mustValid(t, ex+" jws", r)
		if r.Issuer != exampleIssuer || r.Kid != "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s" {
			t.Errorf("%s: issuer %s kid %s", ex, r.Issuer, r.Kid)
		}
		// The payload is the published minified payload.
		var got, want Payload
		json.Unmarshal(read(t, filepath.Join(dir, ex+"-c-jws-payload-minified.json")), &want)
		obj, _ := strictB64(strings.Split(jws, ".")[1])
		raw, err := inflate(obj)
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(raw, &got)
		if !bytes.Equal(bytes.TrimSpace(read(t, filepath.Join(dir, ex+"-c-jws-payload-minified.json"))), raw) {
			t.Errorf("%s: inflated payload differs from the published minified payload", ex)
		}
		if string(r.Bundle) != string(want.VC.CredentialSubject.FHIRBundle) || r.RID != want.VC.RID {
			t.Errorf("%s: bundle or rid differ", ex)
		}
		// The .smart-health-card file.
		jwss, err := Extract(read(t, filepath.Join(dir, ex+"-e-file.smart-health-card")))
		if err != nil || len(jwss) != 1 || jwss[0] != jws {
			t.Fatalf("%s file: %v %d", ex, err, len(jwss))
		}
		// The QR codes' numeric text, reassembled (example-02 is chunked
		// into three), and our encoding gives the same text back.
		qrs, _ := filepath.Glob(filepath.Join(dir, ex+"-f-qr-code-numeric-value-*.txt"))
		var texts []string
		for _, q := range qrs {
			texts = append(texts, strings.TrimSpace(string(read(t, q))))
		}
		got2, err := DecodeQR(texts...)
		if err != nil || got2 != jws {
			t.Fatalf("%s QR: %v", ex, err)
		}
		enc, err := EncodeQR(jws)
		if err != nil || strings.Join(enc, "\n") != strings.Join(texts, "\n") {
			t.Errorf("%s: EncodeQR gives %d codes that differ from the published %d", ex, len(enc), len(texts))
		}
		reversed := append([]string(nil), texts...)
		for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
			reversed[i], reversed[j] = reversed[j], reversed[i]
		}
		if got3, err := Extract([]byte(strings.Join(reversed, "\n"))); err != nil || got3[0] != jws {
			t.Errorf("%s: chunks out of order: %v", ex, err)
		}
	}
	// Another issuer's key set does not verify them.
	other := exampleTrust(t)
	is := newTestIssuer(t)
	ks := is.JWKS()
	other.Keys = func(string) (*credential.JWKS, error) { return &ks, nil }
	r := Verify(strings.TrimSpace(string(read(t, filepath.Join(dir, "example-00-d-jws.txt")))), other)
	if r.Valid || !cc.Is(cc.Unauthorized, r.Err()) {
		t.Errorf("verified with the wrong key set: %+v", r)
	}
}

// TestExamplesTampering flips bytes of the official example JWS at many
// positions of the header, the payload and the signature: each altered
// JWS is rejected.
func TestExamplesTampering(t *testing.T) {
	dir := examples(t)
	trust := exampleTrust(t)
	jws := strings.TrimSpace(string(read(t, filepath.Join(dir, "example-00-d-jws.txt"))))
	d1 := strings.Index(jws, ".")
	d2 := strings.LastIndex(jws, ".")
	positions := map[string][]int{
		"header":    {0, 1, 5, d1 / 2, d1 - 2, d1 - 1},
		"payload":   {d1 + 1, d1 + 2, d1 + 10, (d1 + d2) / 2, d2 - 2, d2 - 1},
		"signature": {d2 + 1, d2 + 2, d2 + 40, len(jws) - 3, len(jws) - 2, len(jws) - 1},
		"dots":      {d1, d2},
	}
	for part, ps := range positions {
		for _, p := range ps {
			for _, repl := range []byte{'A', 'B', 'x', '-', '_', '.'} {
				if jws[p] == repl {
					continue
				}
				b := []byte(jws)
				b[p] = repl
				if r := Verify(string(b), trust); r.Valid {
					t.Errorf("%s byte %d changed to %q still verifies", part, p, repl)
				}
			}
			// Also flip one bit, whatever character it gives.
			b := []byte(jws)
			b[p] ^= 1
			if r := Verify(string(b), trust); r.Valid {
				t.Errorf("%s byte %d with a bit flipped still verifies", part, p)
			}
		}
	}
	// Every position, one altered character each (the last bits of a
	// base64url part included).
	for p := range len(jws) {
		b := []byte(jws)
		if b[p] == 'A' {
			b[p] = 'B'
		} else {
			b[p] = 'A'
		}
		if r := Verify(string(b), trust); r.Valid {
			t.Fatalf("byte %d altered still verifies", p)
		}
	}
	// Cut, extended or padded.
	for _, bad := range []string{jws[:len(jws)-1], jws + "A", jws + "=", " " + jws, jws[:d2], strings.Replace(jws, ".", "..", 1)} {
		if Verify(bad, trust).Valid {
			t.Errorf("%q… still verifies", bad[:10])
		}
	}
	// A flipped digit of the QR text either fails to decode or fails to verify.
	qr := strings.TrimSpace(string(read(t, filepath.Join(dir, "example-00-f-qr-code-numeric-value-0.txt"))))
	for _, p := range []int{5, 6, 100, len(qr) / 2, len(qr) - 1} {
		b := []byte(qr)
		b[p] = '0' + (b[p]-'0'+1)%10
		jwss, err := Extract(b)
		if err == nil && Verify(jwss[0], trust).Valid {
			t.Errorf("QR digit %d altered still verifies", p)
		}
	}
}

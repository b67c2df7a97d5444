package shc

import (
	"bytes"
	"encoding/json"
	"image/png"
	"strconv"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/credential"
)

func newTestIssuer(t testing.TB) *Issuer {
	t.Helper()
	is, err := NewIssuer("clinic", "https://clinic.example/shc")
	if err != nil {
		t.Fatal(err)
	}
	return is
}

const patientJSON = `{"resourceType":"Patient","id":"p1","meta":{"versionId":"3"},"text":{"status":"generated","div":"<div/>"},
 "identifier":[{"system":"urn:x","value":"123"}],"name":[{"use":"official","family":"Anyperson","given":["John","B."],"prefix":["Mr."]}],
 "gender":"male","birthDate":"1951-01-20","address":[{"city":"Boston"}]}`

func immunization(date, code, lot, status string) json.RawMessage {
	return json.RawMessage(`{"resourceType":"Immunization","id":"i-` + date + `","status":"` + status + `",
	 "vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"` + code + `","display":"COVID-19"}],"text":"COVID-19"},
	 "patient":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e1"},"occurrenceDateTime":"` + date + `",
	 "primarySource":true,"performer":[{"actor":{"reference":"Organization/o1","display":"ABC General Hospital"}}],"lotNumber":"` + lot + `"}`)
}

func ledgerLike(is *Issuer, crl *credential.CRL) Trust {
	ks := is.JWKS()
	return Trust{
		Keys: func(iss string) (*credential.JWKS, error) {
			if iss != is.URL {
				return nil, cc.Errorf("t", cc.NotFound, "no")
			}
			return &ks, nil
		},
		CRL: func(_, kid string) (*credential.CRL, error) { return crl, nil },
	}
}

func TestRoundTrip(t *testing.T) {
	is := newTestIssuer(t)
	// Key file round trip.
	is2, err := ParseIssuer(is.Marshal())
	if err != nil || is2.Kid() != is.Kid() || is2.RID("did:cc:x") != is.RID("did:cc:x") {
		t.Fatalf("ParseIssuer: %v", err)
	}
	if err := credential.CheckKey("t", "key", is.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mustJSON(t, is.JWKS())), `"d"`) {
		t.Fatal("the public key set holds d")
	}
	imms := []json.RawMessage{
		immunization("2021-01-29", "207", "0000007", "completed"),
		immunization("2021-01-01", "207", "0000001", "completed"),
		immunization("2021-02-01", "207", "bad", "entered-in-error"),
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	card, err := is2.IssueImmunizations(json.RawMessage(patientJSON), imms, "did:cc:patient", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(card.RID) != 11 || card.RID != is.RID("did:cc:patient") || card.Kid != is.Kid() {
		t.Errorf("rid %q kid %q", card.RID, card.Kid)
	}
	// Header as the specification says.
	h, _ := strictB64(strings.Split(card.JWS, ".")[0])
	var hdr map[string]string
	json.Unmarshal(h, &hdr)
	if hdr["alg"] != "ES256" || hdr["zip"] != "DEF" || hdr["kid"] != is.Kid() || len(hdr) != 3 {
		t.Errorf("header %s", h)
	}
	// file → extract → QR text → decode → verify.
	jwss, err := Extract(card.File)
	if err != nil || len(jwss) != 1 || jwss[0] != card.JWS {
		t.Fatalf("file: %v", err)
	}
	if len(card.QR) != 1 || !strings.HasPrefix(card.QR[0], "shc:/") || strings.Count(card.QR[0], "/") != 1 {
		t.Fatalf("QR %d codes: %.20s", len(card.QR), card.QR[0])
	}
	fromQR, err := Extract([]byte(card.QR[0]))
	if err != nil || fromQR[0] != card.JWS {
		t.Fatalf("QR decode: %v", err)
	}
	r := Verify(fromQR[0], Trust{Keys: ledgerLike(is, nil).Keys, Now: now})
	mustValid(t, "round trip", r)
	if r.NotBefore == nil || !r.NotBefore.Equal(now) || r.RID != card.RID || r.Kid != is.Kid() {
		t.Errorf("result %+v", r)
	}
	if !contains(r.Types, TypeImmunization) {
		t.Errorf("types %v", r.Types)
	}
	// The bundle: minimized, the two completed doses oldest first.
	want := `{"entry":[{"fullUrl":"resource:0","resource":{"birthDate":"1951-01-20","name":[{"family":"Anyperson","given":["John","B."]}],"resourceType":"Patient"}},` +
		`{"fullUrl":"resource:1","resource":{"lotNumber":"0000001","occurrenceDateTime":"2021-01-01","patient":{"reference":"resource:0"},"performer":[{"actor":{"display":"ABC General Hospital"}}],"resourceType":"Immunization","status":"completed","vaccineCode":{"coding":[{"code":"207","system":"http://hl7.org/fhir/sid/cvx"}]}}},` +
		`{"fullUrl":"resource:2","resource":{"lotNumber":"0000007","occurrenceDateTime":"2021-01-29","patient":{"reference":"resource:0"},"performer":[{"actor":{"display":"ABC General Hospital"}}],"resourceType":"Immunization","status":"completed","vaccineCode":{"coding":[{"code":"207","system":"http://hl7.org/fhir/sid/cvx"}]}}}],` +
		`"resourceType":"Bundle","type":"collection"}`
	if string(r.Bundle) != want {
		t.Errorf("bundle\n%s\nwant\n%s", r.Bundle, want)
	}
	// The PNG is a QR image.
	img, err := QRPNG(card.QR[0], 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(img)); err != nil {
		t.Fatal(err)
	}
	// A card of the future is not valid yet; another issuer's key fails.
	if r := Verify(card.JWS, Trust{Keys: ledgerLike(is, nil).Keys, Now: now.Add(-time.Hour)}); r.Valid || !strings.Contains(r.Reasons[0], "future") {
		t.Errorf("future card: %+v", r.Reasons)
	}
	if r := Verify(card.JWS, ledgerLike(newTestIssuer(t), nil)); r.Valid || !cc.Is(cc.Unauthorized, r.Err()) {
		t.Errorf("untrusted issuer: %+v", r.Reasons)
	}
	// A forged card: same kid header, another key's signature.
	forger, _ := newIssuer("clinic", is.URL, newTestIssuer(t).key, is.ridSecret)
	forger.pub.Kid = is.Kid()
	fc, err := forger.Sign(json.RawMessage(r.Bundle), now, card.RID)
	if err != nil {
		t.Fatal(err)
	}
	if r := Verify(fc.JWS, Trust{Keys: ledgerLike(is, nil).Keys, Now: now}); r.Valid || !cc.Is(cc.Integrity, r.Err()) {
		t.Errorf("forged: %+v", r.Reasons)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestChunkedQR(t *testing.T) {
	is := newTestIssuer(t)
	var imms []json.RawMessage
	for d := 1; d <= 28; d++ {
		imms = append(imms, immunization("2020-02-"+two(d), "2"+two(d), "LOT-"+two(d)+"-"+strings.Repeat("x", d%7), "completed"))
	}
	card, err := is.IssueImmunizations(json.RawMessage(patientJSON), imms, "did:cc:p", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(card.JWS) <= MaxSingleJWS || len(card.QR) < 2 {
		t.Fatalf("JWS of %d characters in %d codes: want a chunked card", len(card.JWS), len(card.QR))
	}
	total := 0
	for i, q := range card.QR {
		want := "shc:/" + itoa(i+1) + "/" + itoa(len(card.QR)) + "/"
		if !strings.HasPrefix(q, want) {
			t.Errorf("chunk %d: %.12s", i, q)
		}
		n := (len(q) - len(want)) / 2
		if n > MaxChunkJWS {
			t.Errorf("chunk %d carries %d characters", i, n)
		}
		total += n
		if _, err := QRPNG(q, 2); err != nil {
			t.Errorf("chunk %d PNG: %v", i, err)
		}
	}
	if total != len(card.JWS) {
		t.Errorf("chunks carry %d of %d characters", total, len(card.JWS))
	}
	jws, err := DecodeQR(card.QR...)
	if err != nil || jws != card.JWS {
		t.Fatal(err)
	}
	mustValid(t, "chunked", Verify(jws, ledgerLike(is, nil)))
	// Missing, repeated, inconsistent or bad chunks.
	bad := [][]string{
		card.QR[1:],
		append([]string{card.QR[0]}, card.QR...),
		{card.QR[0], strings.Replace(card.QR[1], "/"+itoa(len(card.QR))+"/", "/9/", 1)},
		{"shc:/0/2/5656", "shc:/2/2/5656"},
		{"shc:/1/2/565"},
		{"shc:/5699"},
		{"shc:/1/01/56"},
		{"http://x"},
		{"shc:/1/2/3/56"},
	}
	for i, b := range bad {
		if _, err := DecodeQR(b...); err == nil || !cc.Is(cc.Malformed, err) {
			t.Errorf("bad chunks %d: %v", i, err)
		}
	}
}

func two(n int) string {
	if n < 10 {
		return "0" + itoa(n)
	}
	return itoa(n)
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestRevocation(t *testing.T) {
	is := newTestIssuer(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	card, err := is.IssueImmunizations(json.RawMessage(patientJSON), []json.RawMessage{immunization("2021-01-01", "207", "1", "completed")}, "did:cc:p", now)
	if err != nil {
		t.Fatal(err)
	}
	other := is.RID("did:cc:someone-else")
	cases := []struct {
		name    string
		crl     *credential.CRL
		revoked bool
	}{
		{"no list", nil, false},
		{"empty list", &credential.CRL{Kid: is.Kid(), Method: "rid", Ctr: 0, RIDs: []string{}}, false},
		{"another rid", &credential.CRL{Kid: is.Kid(), Method: "rid", Ctr: 1, RIDs: []string{other}}, false},
		{"the rid", &credential.CRL{Kid: is.Kid(), Method: "rid", Ctr: 2, RIDs: []string{other, card.RID}}, true},
		{"issued before the timestamp", &credential.CRL{Kid: is.Kid(), Method: "rid", Ctr: 1, RIDs: []string{card.RID + "." + itoa(int(now.Unix()+1))}}, true},
		{"issued after the timestamp", &credential.CRL{Kid: is.Kid(), Method: "rid", Ctr: 1, RIDs: []string{card.RID + "." + itoa(int(now.Unix()))}}, false},
	}
	for _, tc := range cases {
		tr := ledgerLike(is, tc.crl)
		tr.Now = now
		r := Verify(card.JWS, tr)
		if r.Valid == tc.revoked || r.Revoked != tc.revoked {
			t.Errorf("%s: valid %v revoked %v (%v)", tc.name, r.Valid, r.Revoked, r.Reasons)
		}
		if tc.revoked && !cc.Is(cc.Gone, r.Err()) {
			t.Errorf("%s: %v", tc.name, r.Err())
		}
	}
	// A list of another key is refused, not ignored.
	tr := ledgerLike(is, &credential.CRL{Kid: "other", Method: "rid"})
	if r := Verify(card.JWS, tr); r.Valid {
		t.Error("a mismatched list was accepted")
	}
}

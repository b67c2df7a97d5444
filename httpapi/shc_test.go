package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"net/http"
	"strings"
	"testing"

	cc "carechain"
	"carechain/client"
	"carechain/credential"
	"carechain/httpapi"
	"carechain/shc"
)

// TestSHCIssueVerifyRevoke runs SMART Health Cards end to end on a real
// server on 127.0.0.1: St Mary's registers its issuer on the ledger, the
// patient is issued a card of the immunizations St Mary's holds (read
// through the gatekeeper, so logged), the card verifies against the
// ledger (file, JWS and QR text) and against the key set the node serves,
// an altered card does not, and once a physician revokes its rid the card
// is refused and the revocation list says so.
func TestSHCIssueVerifyRevoke(t *testing.T) {
	fw := mustFHIRWorld(t)
	ctx := context.Background()
	api := fw.srv.Config.Handler.(*httpapi.Server)
	if client.SHCIssueQuery != httpapi.SHCIssueQuery {
		t.Fatalf("client and server disagree on the issue query: %q, %q", client.SHCIssueQuery, httpapi.SHCIssueQuery)
	}
	is, err := shc.NewIssuer(stMary, fw.srv.URL+"/shc/"+stMary)
	if err != nil {
		t.Fatal(err)
	}
	api.SetIssuers(is)
	patient := fw.signer(fw.patient)

	// Not registered on the ledger yet: nothing is issued or served.
	if _, err := fw.c.IssueSHC(ctx, patient, stMary, "", 0); !cc.Is(cc.FailedPrecondition, err) {
		t.Fatalf("issue before registration: %v", err)
	}
	if code := getJSON(t, fw.srv.URL+"/shc/"+stMary+"/.well-known/jwks.json", nil); code != http.StatusNotFound {
		t.Errorf("jwks before registration: %d", code)
	}
	fw.MustTx(t, fw.Pop.Admins[stMary], credential.TypeIssuerRegister,
		map[string]any{"org": stMary, "issuer_url": is.URL, "jwks": is.JWKS()})

	// The node serves the ledger's key set.
	var served credential.JWKS
	if code := getJSON(t, fw.srv.URL+"/shc/"+stMary+"/.well-known/jwks.json", &served); code != 200 || len(served.Keys) != 1 || served.Keys[0] != is.PublicKey() {
		t.Fatalf("jwks %d %+v", code, served)
	}

	// The patient is issued a card; the read of the records is logged.
	card, err := fw.c.IssueSHC(ctx, patient, stMary, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if card.AccessEvent == "" || card.Kid != is.Kid() || card.Chunks < 1 {
		t.Errorf("card: event %q kid %q chunks %d", card.AccessEvent, card.Kid, card.Chunks)
	}
	jwss, err := shc.Extract(card.Body)
	if err != nil {
		t.Fatal(err)
	}
	qr, err := shc.EncodeQR(jwss[0])
	if err != nil || len(qr) != card.Chunks {
		t.Fatalf("QR: %v, %d codes, node said %d", err, len(qr), card.Chunks)
	}
	for name, input := range map[string][]byte{"file": card.Body, "jws": []byte(jwss[0]), "qr": []byte(strings.Join(qr, "\n"))} {
		v := verify(t, fw.c, input)
		if !v.Valid || len(v.Results) != 1 || v.Results[0].Issuer != is.URL {
			t.Fatalf("%s: %+v", name, v.Results[0].Reasons)
		}
		var b struct {
			Entry []struct {
				Resource struct {
					ResourceType string `json:"resourceType"`
				} `json:"resource"`
			} `json:"entry"`
		}
		json.Unmarshal(v.Results[0].Bundle, &b)
		if len(b.Entry) != 47 || b.Entry[0].Resource.ResourceType != "Patient" { // Bob's 46 immunizations
			t.Errorf("%s: %d entries", name, len(b.Entry))
		}
	}
	// Offline, with the key set the node published.
	if r := shc.Verify(jwss[0], shc.StaticTrust(&served)); !r.Valid {
		t.Errorf("offline: %v", r.Reasons)
	}
	// The QR image of chunk 1.
	img, err := fw.c.IssueSHC(ctx, patient, stMary, "qr", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(img.Body)); err != nil {
		t.Errorf("QR PNG: %v", err)
	}
	if _, err := fw.c.IssueSHC(ctx, patient, stMary, "qr", card.Chunks+1); !cc.Is(cc.NotFound, err) {
		t.Errorf("chunk past the end: %v", err)
	}
	// Someone without a Patient record here, and an org without an issuer.
	if _, err := fw.c.IssueSHC(ctx, fw.signer(fw.doc), stMary, "", 0); !cc.Is(cc.NotFound, err) {
		t.Errorf("doc's own card: %v", err)
	}
	if _, err := fw.c.IssueSHC(ctx, patient, "nowhere", "", 0); !cc.Is(cc.NotFound, err) {
		t.Errorf("unknown issuer org: %v", err)
	}

	// An altered card is not valid.
	bad := []byte(jwss[0])
	bad[len(bad)/2] ^= 1
	if v := verify(t, fw.c, bad); v.Valid {
		t.Error("altered card verified")
	}
	var junk map[string]any
	if err := fw.c.VerifySHC(ctx, []byte("{not json"), &junk); !cc.Is(cc.Malformed, err) {
		t.Errorf("junk: %v", err)
	}

	// The physician revokes the card's rid on the ledger.
	rid := verify(t, fw.c, card.Body).Results[0].RID
	fw.MustTx(t, fw.doc, credential.TypeRevoke, map[string]any{"org": stMary, "kid": is.Kid(), "rids": []string{rid}, "reason": "issued in error"})
	v := verify(t, fw.c, card.Body)
	if v.Valid || !v.Results[0].Revoked {
		t.Errorf("revoked card: %+v", v.Results[0])
	}
	var crl credential.CRL
	if code := getJSON(t, fw.srv.URL+"/shc/"+stMary+"/.well-known/crl/"+is.Kid()+".json", &crl); code != 200 || crl.Ctr != 1 || len(crl.RIDs) != 1 || crl.RIDs[0] != rid {
		t.Errorf("crl %d %+v", code, crl)
	}
	getJSON(t, fw.srv.URL+"/shc/"+stMary+"/.well-known/jwks.json", &served)
	if served.Keys[0].CRLVersion != 1 {
		t.Errorf("crlVersion %d", served.Keys[0].CRLVersion)
	}
	// Offline with the published list too.
	if r := shc.Verify(jwss[0], shc.StaticTrust(&served, &crl)); r.Valid || !r.Revoked {
		t.Errorf("offline with the list: %+v", r)
	}
	if code := getJSON(t, fw.srv.URL+"/shc/"+stMary+"/.well-known/crl/unknown.json", nil); code != http.StatusNotFound {
		t.Errorf("unknown key's list: %d", code)
	}
}

func verify(t *testing.T, c *client.Client, input []byte) httpapi.SHCVerification {
	t.Helper()
	var v httpapi.SHCVerification
	if err := c.VerifySHC(context.Background(), input, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func getJSON(t *testing.T, url string, out any) int {
	t.Helper()
	code, _, b := get(t, url)
	if out != nil && code == 200 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
	}
	return code
}

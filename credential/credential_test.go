package credential_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/credential"
	"carechain/identity"
	"carechain/internal/cctest"
	"carechain/ledger/store"
	"carechain/ledger/tx"
)

type actor struct {
	did cc.DID
}

func newActor(name string) (actor, cc.GenesisAccount) {
	pub, _ := cctest.Key("credential", name)
	d := tx.DeriveDID(pub)
	return actor{d}, cc.GenesisAccount{DID: d, Kind: cc.KindPractitioner, PublicKey: pub}
}

var (
	admin, adminAcct      = newActor("admin")
	doc, docAcct          = newActor("doc")
	nurse, nurseAcct      = newActor("nurse")
	otherAdmin, otherAcct = newActor("other-admin")
	shadyAdmin, shadyAcct = newActor("shady-admin")
	genTime               = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	issuerURL             = "https://clinic.example/shc"
)

func newKV(t *testing.T) *store.Overlay {
	t.Helper()
	g := cc.GenesisState{
		Accounts:   []cc.GenesisAccount{adminAcct, docAcct, nurseAcct, otherAcct, shadyAcct},
		Governance: cc.Governance{Members: []cc.DID{admin.did}, Threshold: 1},
		Organizations: []cc.Organization{
			{ID: "clinic", Name: "Clinic", Type: cc.OrgClinic, DID: admin.did, Active: true},
			{ID: "other", Name: "Other", Type: cc.OrgClinic, DID: otherAdmin.did, Active: true},
			{ID: "gone-org", Name: "Suspended", Type: cc.OrgClinic, DID: shadyAdmin.did, Active: false},
		},
		Members: []cc.Member{
			{Org: "clinic", DID: admin.did, Roles: []cc.Role{cc.RoleAdmin}},
			{Org: "clinic", DID: doc.did, Roles: []cc.Role{cc.RolePhysician}},
			{Org: "clinic", DID: nurse.did, Roles: []cc.Role{cc.RoleNurse}},
			{Org: "other", DID: otherAdmin.did, Roles: []cc.Role{cc.RoleAdmin}},
			{Org: "gone-org", DID: shadyAdmin.did, Roles: []cc.Role{cc.RoleAdmin}},
		},
	}
	kv := cctest.NewKV()
	if err := identity.InitGenesis(kv, g); err != nil {
		t.Fatal(err)
	}
	return kv
}

// testKey returns a deterministic public JWK named name.
func testKey(name string) credential.JWK {
	seed := sha256.Sum256([]byte("credential-test/" + name))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), seed[:])
	if err != nil {
		panic(err)
	}
	b, _ := k.PublicKey.Bytes()
	x, y := base64.RawURLEncoding.EncodeToString(b[1:33]), base64.RawURLEncoding.EncodeToString(b[33:])
	return credential.JWK{Kty: "EC", Kid: credential.Thumbprint(x, y), Use: "sig", Alg: "ES256", Crv: "P-256", X: x, Y: y}
}

var height int64 = 10

func ctx(signer cc.DID, typ string) cc.TxContext {
	height++
	h := sha256.Sum256([]byte(fmt.Sprint(typ, signer, height)))
	return cc.TxContext{ChainID: "t", Height: height, Time: genTime.Add(time.Duration(height) * time.Minute), Signer: signer, Type: typ, TxHash: h[:]}
}

func payload(t testing.TB, v any) []byte {
	if b, ok := v.([]byte); ok {
		return b
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func register(org, u string, keys ...credential.JWK) map[string]any {
	return map[string]any{"org": org, "issuer_url": u, "jwks": map[string]any{"keys": keys}}
}

func TestThumbprintRFC7638(t *testing.T) {
	// The example issuer's published key and kid (SMART Health Cards spec).
	got := credential.Thumbprint("11XvRWy1I2S0EyJlyf_bWfw_TQ5CJJNLw78bHXNxcgw", "eZXwxvO1hvCY0KucrPfKo7yAyMT6Ajc3N7OkAB6VYy8")
	if got != "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s" {
		t.Errorf("thumbprint %s", got)
	}
}

func TestIssuerRegister(t *testing.T) {
	kv := newKV(t)
	h := credential.Handlers()[credential.TypeIssuerRegister]
	k1, k2 := testKey("k1"), testKey("k2")
	bad := func(mut func(*credential.JWK)) credential.JWK { k := testKey("k1"); mut(&k); return k }
	withD := map[string]any{"org": "clinic", "issuer_url": issuerURL, "jwks": map[string]any{"keys": []map[string]any{{
		"kty": "EC", "kid": k1.Kid, "use": "sig", "alg": "ES256", "crv": "P-256", "x": k1.X, "y": k1.Y, "d": "c2VjcmV0"}}}}
	withCRL := map[string]any{"org": "clinic", "issuer_url": issuerURL, "jwks": map[string]any{"keys": []map[string]any{{
		"kty": "EC", "kid": k1.Kid, "use": "sig", "alg": "ES256", "crv": "P-256", "x": k1.X, "y": k1.Y, "crlVersion": 3}}}}
	rejects := []struct {
		name    string
		signer  cc.DID
		payload any
		kind    cc.Kind
	}{
		{"not json", admin.did, []byte(`[`), cc.Malformed},
		{"unknown field", admin.did, []byte(`{"org":"clinic","issuer_url":"` + issuerURL + `","jwks":{"keys":[]},"x":1}`), cc.Malformed},
		{"crlVersion given", admin.did, withCRL, cc.Malformed},
		{"bad org", admin.did, register("Clinic!", issuerURL, k1), cc.Invalid},
		{"http on a public host", admin.did, register("clinic", "http://clinic.example/shc", k1), cc.Invalid},
		{"trailing slash", admin.did, register("clinic", issuerURL+"/", k1), cc.Invalid},
		{"query", admin.did, register("clinic", issuerURL+"?a=1", k1), cc.Invalid},
		{"no host", admin.did, register("clinic", "https:///x", k1), cc.Invalid},
		{"no keys", admin.did, register("clinic", issuerURL), cc.Invalid},
		{"too many keys", admin.did, register("clinic", issuerURL, k1, k1, k1, k1, k1, k1, k1, k1, k1, k1, k1), cc.Invalid},
		{"repeated key", admin.did, register("clinic", issuerURL, k1, k1), cc.Invalid},
		{"private key", admin.did, withD, cc.Invalid},
		{"wrong kty", admin.did, register("clinic", issuerURL, bad(func(k *credential.JWK) { k.Kty = "RSA" })), cc.Invalid},
		{"wrong curve", admin.did, register("clinic", issuerURL, bad(func(k *credential.JWK) { k.Crv = "P-384" })), cc.Invalid},
		{"wrong alg", admin.did, register("clinic", issuerURL, bad(func(k *credential.JWK) { k.Alg = "RS256" })), cc.Invalid},
		{"wrong use", admin.did, register("clinic", issuerURL, bad(func(k *credential.JWK) { k.Use = "enc" })), cc.Invalid},
		{"kid not the thumbprint", admin.did, register("clinic", issuerURL, bad(func(k *credential.JWK) { k.Kid = k2.Kid })), cc.Invalid},
		{"x not base64url", admin.did, register("clinic", issuerURL, bad(func(k *credential.JWK) { k.X = "!!" })), cc.Invalid},
		{"point off the curve", admin.did, register("clinic", issuerURL, bad(func(k *credential.JWK) { k.Y = k.X; k.Kid = credential.Thumbprint(k.X, k.X) })), cc.Invalid},
		{"not an admin", doc.did, register("clinic", issuerURL, k1), cc.Unauthorized},
		{"another org's admin", otherAdmin.did, register("clinic", issuerURL, k1), cc.Unauthorized},
		{"suspended org", shadyAdmin.did, register("gone-org", issuerURL, k1), cc.Unauthorized},
		{"no such org", admin.did, register("nowhere", issuerURL, k1), cc.Unauthorized},
	}
	for _, tc := range rejects {
		_, _, err := cctest.RunTwice(t, tc.name, h, ctx(tc.signer, credential.TypeIssuerRegister), kv, payload(t, tc.payload))
		if !cc.Is(tc.kind, err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.kind)
		}
	}
	// Registered.
	res, err := cctest.Apply(t, h, ctx(admin.did, credential.TypeIssuerRegister), kv, payload(t, register("clinic", issuerURL, k1)))
	if err != nil {
		t.Fatal(err)
	}
	if r := cctest.DecodeData[credential.RegisterResult](t, res); r.Updated || r.URL != issuerURL || len(r.Kids) != 1 || len(res.Events) != 1 {
		t.Errorf("result %+v", r)
	}
	is, err := credential.GetIssuer(kv, issuerURL)
	if err != nil || is.Org != "clinic" || is.Key(k1.Kid) == nil || is.RegisteredBy != admin.did {
		t.Fatalf("GetIssuer: %+v %v", is, err)
	}
	if is2, err := credential.IssuerOfKey(kv, k1.Kid); err != nil || is2.URL != issuerURL {
		t.Errorf("IssuerOfKey: %v", err)
	}
	// Conflicts: same key set again, another org taking the URL or the key.
	conflicts := []struct {
		name    string
		signer  cc.DID
		payload any
	}{
		{"same key set", admin.did, register("clinic", issuerURL, k1)},
		{"URL of another org", otherAdmin.did, register("other", issuerURL, k2)},
		{"key of another issuer", otherAdmin.did, register("other", "https://other.example/shc", k1)},
	}
	for _, tc := range conflicts {
		_, _, err := cctest.RunTwice(t, tc.name, h, ctx(tc.signer, credential.TypeIssuerRegister), kv, payload(t, tc.payload))
		if !cc.Is(cc.Conflict, err) {
			t.Errorf("%s: %v, want conflict", tc.name, err)
		}
	}
	// A key rotation replaces the set.
	res, err = cctest.Apply(t, h, ctx(admin.did, credential.TypeIssuerRegister), kv, payload(t, register("clinic", issuerURL, k2, k1)))
	if err != nil {
		t.Fatal(err)
	}
	if r := cctest.DecodeData[credential.RegisterResult](t, res); !r.Updated || len(r.Kids) != 2 {
		t.Errorf("rotation %+v", r)
	}
	// Loopback http issuers are fine for local nodes.
	if _, err := cctest.Apply(t, h, ctx(otherAdmin.did, credential.TypeIssuerRegister), kv, payload(t, register("other", "http://127.0.0.1:8080/shc/other", testKey("k3")))); err != nil {
		t.Fatal(err)
	}
	all, _ := credential.Issuers(kv)
	mine, _ := credential.IssuersOf(kv, "clinic")
	if len(all) != 2 || len(mine) != 1 {
		t.Errorf("issuers %d, of clinic %d", len(all), len(mine))
	}
	// A failing store is an Internal error, never a panic.
	if _, err := h(ctx(admin.did, credential.TypeIssuerRegister), cctest.NewFailingKV(), payload(t, register("clinic", issuerURL, k1))); !cc.Is(cc.Internal, err) {
		t.Errorf("failing store: %v", err)
	}
}

func TestRevoke(t *testing.T) {
	kv := newKV(t)
	reg := credential.Handlers()[credential.TypeIssuerRegister]
	h := credential.Handlers()[credential.TypeRevoke]
	k1 := testKey("k1")
	if _, err := cctest.Apply(t, reg, ctx(admin.did, credential.TypeIssuerRegister), kv, payload(t, register("clinic", issuerURL, k1))); err != nil {
		t.Fatal(err)
	}
	revoke := func(org, kid string, rids ...string) map[string]any {
		return map[string]any{"org": org, "kid": kid, "rids": rids, "reason": "issued in error"}
	}
	rejects := []struct {
		name    string
		signer  cc.DID
		payload any
		kind    cc.Kind
	}{
		{"not json", admin.did, []byte(`{"org":`), cc.Malformed},
		{"wrong type", admin.did, []byte(`{"org":"clinic","kid":"x","rids":"a","reason":"r"}`), cc.Malformed},
		{"bad org", admin.did, revoke("-", k1.Kid, "abc"), cc.Invalid},
		{"bad kid", admin.did, revoke("clinic", "short", "abc"), cc.Invalid},
		{"no rids", admin.did, revoke("clinic", k1.Kid), cc.Invalid},
		{"rid too long", admin.did, revoke("clinic", k1.Kid, strings.Repeat("a", 25)), cc.Invalid},
		{"rid not base64url", admin.did, revoke("clinic", k1.Kid, "a+b"), cc.Invalid},
		{"bad timestamp", admin.did, revoke("clinic", k1.Kid, "abc.x"), cc.Invalid},
		{"repeated rid", admin.did, revoke("clinic", k1.Kid, "abc", "abc.5"), cc.Invalid},
		{"no reason", admin.did, map[string]any{"org": "clinic", "kid": k1.Kid, "rids": []string{"abc"}, "reason": ""}, cc.Invalid},
		{"nurse", nurse.did, revoke("clinic", k1.Kid, "abc"), cc.Unauthorized},
		{"another org's admin", otherAdmin.did, revoke("clinic", k1.Kid, "abc"), cc.Unauthorized},
		{"unknown key", admin.did, revoke("clinic", testKey("nope").Kid, "abc"), cc.NotFound},
		{"another org's key", otherAdmin.did, revoke("other", k1.Kid, "abc"), cc.NotFound},
	}
	for _, tc := range rejects {
		_, _, err := cctest.RunTwice(t, tc.name, h, ctx(tc.signer, credential.TypeRevoke), kv, payload(t, tc.payload))
		if !cc.Is(tc.kind, err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.kind)
		}
	}
	// The physician revokes two rids, one only for cards before a time.
	res, err := cctest.Apply(t, h, ctx(doc.did, credential.TypeRevoke), kv, payload(t, revoke("clinic", k1.Kid, "MKyCxh7p6uQ", "other-rid.1700000000")))
	if err != nil {
		t.Fatal(err)
	}
	if r := cctest.DecodeData[credential.RevokeResult](t, res); r.Ctr != 1 || len(r.Revoked) != 2 || r.Skipped != 0 {
		t.Errorf("revoke %+v", r)
	}
	crl, err := credential.RevocationList(kv, k1.Kid)
	if err != nil || crl.Ctr != 1 || crl.Method != "rid" || strings.Join(crl.RIDs, ",") != "MKyCxh7p6uQ,other-rid.1700000000" {
		t.Fatalf("CRL %+v %v", crl, err)
	}
	is, _ := credential.GetIssuer(kv, issuerURL)
	if is.Key(k1.Kid).CRLVersion != 1 {
		t.Errorf("crlVersion %d", is.Key(k1.Kid).CRLVersion)
	}
	if !crl.Revokes("MKyCxh7p6uQ", time.Now()) || crl.Revokes("other", time.Now()) ||
		!crl.Revokes("other-rid", time.Unix(1699999999, 0)) || crl.Revokes("other-rid", time.Unix(1700000000, 0)) {
		t.Error("Revokes")
	}
	// Already revoked as widely: conflict; a wider revocation goes through.
	if _, _, err := cctest.RunTwice(t, "again", h, ctx(admin.did, credential.TypeRevoke), kv, payload(t, revoke("clinic", k1.Kid, "MKyCxh7p6uQ", "other-rid.1600000000"))); !cc.Is(cc.Conflict, err) {
		t.Errorf("again: %v", err)
	}
	res, err = cctest.Apply(t, h, ctx(admin.did, credential.TypeRevoke), kv, payload(t, revoke("clinic", k1.Kid, "MKyCxh7p6uQ", "other-rid")))
	if err != nil {
		t.Fatal(err)
	}
	if r := cctest.DecodeData[credential.RevokeResult](t, res); r.Ctr != 2 || r.Skipped != 1 || r.Revoked[0] != "other-rid" {
		t.Errorf("widen %+v", r)
	}
	if rs, _ := credential.Revocations(kv, k1.Kid); len(rs) != 2 || rs[1].Until != 0 || rs[1].By != admin.did {
		t.Errorf("revocations %+v", rs)
	}
	if _, err := credential.RevocationList(kv, testKey("nope").Kid); !cc.Is(cc.NotFound, err) {
		t.Errorf("unknown key's list: %v", err)
	}
}

package shc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"

	cc "carechain"
	"carechain/credential"
)

// Issuer is an organization's SMART Health Card issuer: its URL (the
// cards' "iss"), its ES256 signing key and the secret it derives
// revocation ids with. It lives off-chain, in the node's home; the ledger
// holds only the public key (credential.issuer.register).
type Issuer struct {
	Org       string
	URL       string
	key       *ecdsa.PrivateKey
	pub       credential.JWK
	ridSecret []byte
}

// issuerFile is an Issuer on disk: the private JWK and the rid secret.
type issuerFile struct {
	Org       string     `json:"org"`
	URL       string     `json:"issuer_url"`
	Key       privateJWK `json:"key"`
	RIDSecret string     `json:"rid_secret"` // base64url of 32 bytes
}

type privateJWK struct {
	credential.JWK
	D string `json:"d"`
}

// NewIssuer returns an issuer for org at url with a new random key and rid
// secret. url must be a valid issuer URL (cc.Invalid).
func NewIssuer(org, url string) (*Issuer, error) {
	const op = "shc.issuer"
	if !cc.ValidOrgID(org) {
		return nil, errf(op, cc.Invalid, "org %q is not an organization id", cc.Echo(org))
	}
	if err := credential.CheckIssuerURL(op, url); err != nil {
		return nil, err
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	return newIssuer(org, url, k, secret)
}

func newIssuer(org, url string, k *ecdsa.PrivateKey, secret []byte) (*Issuer, error) {
	pub, err := k.PublicKey.Bytes() // 0x04 ‖ x ‖ y
	if err != nil || len(pub) != 65 {
		return nil, errf("shc.issuer", cc.Invalid, "not a P-256 key")
	}
	x := base64.RawURLEncoding.EncodeToString(pub[1:33])
	y := base64.RawURLEncoding.EncodeToString(pub[33:])
	jwk := credential.JWK{Kty: credential.KeyType, Kid: credential.Thumbprint(x, y), Use: credential.KeyUse,
		Alg: credential.Alg, Crv: credential.Curve, X: x, Y: y}
	return &Issuer{Org: org, URL: url, key: k, pub: jwk, ridSecret: secret}, nil
}

// ParseIssuer reads an issuer file written by Marshal.
func ParseIssuer(b []byte) (*Issuer, error) {
	const op = "shc.issuer"
	var f issuerFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, errf(op, cc.Malformed, "not an issuer key file: %v", err)
	}
	d, err := base64.RawURLEncoding.DecodeString(f.Key.D)
	if err != nil {
		return nil, errf(op, cc.Malformed, "the key's d is not base64url")
	}
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		return nil, errf(op, cc.Malformed, "the key is not a P-256 private key")
	}
	secret, err := base64.RawURLEncoding.DecodeString(f.RIDSecret)
	if err != nil || len(secret) != 32 {
		return nil, errf(op, cc.Malformed, "rid_secret must be base64url of 32 bytes")
	}
	is, err := newIssuer(f.Org, f.URL, k, secret)
	if err != nil {
		return nil, err
	}
	if is.pub.X != f.Key.X || is.pub.Y != f.Key.Y || is.pub.Kid != f.Key.Kid {
		return nil, errf(op, cc.Integrity, "the key file's public part does not match its private key")
	}
	if !cc.ValidOrgID(f.Org) {
		return nil, errf(op, cc.Malformed, "org %q is not an organization id", cc.Echo(f.Org))
	}
	if err := credential.CheckIssuerURL(op, f.URL); err != nil {
		return nil, err
	}
	return is, nil
}

// Marshal returns the issuer's key file (private: store it 0600).
func (is *Issuer) Marshal() []byte {
	d, _ := is.key.Bytes()
	b, _ := json.MarshalIndent(issuerFile{Org: is.Org, URL: is.URL, Key: privateJWK{JWK: is.pub, D: base64.RawURLEncoding.EncodeToString(d)},
		RIDSecret: base64.RawURLEncoding.EncodeToString(is.ridSecret)}, "", "  ")
	return append(b, '\n')
}

// Kid is the key id of the issuer's key.
func (is *Issuer) Kid() string { return is.pub.Kid }

// PublicKey is the issuer's public key as a JWK.
func (is *Issuer) PublicKey() credential.JWK { return is.pub }

// JWKS is the issuer's public key set as it registers it on the ledger.
func (is *Issuer) JWKS() credential.JWKS { return credential.JWKS{Keys: []credential.JWK{is.pub}} }

// RID returns the revocation id of the cards the issuer issues to subject
// (carechain uses the patient's DID): as the specification recommends, the
// base64url of the first 64 bits of HMAC-SHA-256 of subject under the
// issuer's 256-bit secret, 11 characters that reveal nothing of subject.
func (is *Issuer) RID(subject string) string { return RID(is.ridSecret, subject) }

// RID is base64url(HMAC-SHA-256(secret, subject)[:8]).
func RID(secret []byte, subject string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(subject))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:8])
}

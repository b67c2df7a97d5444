package credential

import (
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"

	cc "carechain"
)

// The only key kind SMART Health Cards use: ECDSA P-256 signing keys for
// ES256, published with use "sig".
const (
	KeyType  = "EC"
	Curve    = "P-256"
	Alg      = "ES256"
	KeyUse   = "sig"
	coordLen = 32 // bytes of a P-256 coordinate
)

// Limits of the registry and of revocations.
const (
	MaxKeys      = 10  // keys in one issuer's set
	MaxURLLen    = 255 // bytes of an issuer URL
	MaxRIDLen    = 24  // characters of a revocation id (the specification's limit)
	MaxRIDsPerTx = 1000
	MaxReasonLen = 200
)

// JWK is a public ES256 key as an issuer publishes it in its JSON Web Key
// Set ({issuer}/.well-known/jwks.json). CRLVersion is kept by the ledger
// (the key's revocation list version), never given by the registrant; it is
// omitted while the key has no revocations.
type JWK struct {
	Kty        string `json:"kty"`
	Kid        string `json:"kid"`
	Use        string `json:"use"`
	Alg        string `json:"alg"`
	Crv        string `json:"crv"`
	X          string `json:"x"`
	Y          string `json:"y"`
	CRLVersion int    `json:"crlVersion,omitempty"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// Thumbprint returns the RFC 7638 JWK thumbprint of the P-256 public key
// with base64url coordinates x and y: base64url(SHA-256 of
// {"crv":"P-256","kty":"EC","x":x,"y":y}), the key id SMART Health Cards
// require.
func Thumbprint(x, y string) string {
	h := sha256.Sum256([]byte(`{"crv":"` + Curve + `","kty":"` + KeyType + `","x":"` + x + `","y":"` + y + `"}`))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// CheckKey returns a cc.Invalid error of op unless k is a public ES256 key
// on P-256 with use "sig", canonical base64url coordinates of a point on
// the curve, and kid equal to its thumbprint. what names k in messages.
func CheckKey(op, what string, k JWK) error {
	bad := func(format string, args ...any) error {
		return cc.Errorf(op, cc.Invalid, what+": "+format, args...)
	}
	if k.Kty != KeyType || k.Crv != Curve {
		return bad("must be an EC key on %s (kty %q, crv %q)", Curve, cc.Echo(k.Kty), cc.Echo(k.Crv))
	}
	if k.Alg != Alg {
		return bad("alg must be %s, not %q", Alg, cc.Echo(k.Alg))
	}
	if k.Use != KeyUse {
		return bad("use must be %q, not %q", KeyUse, cc.Echo(k.Use))
	}
	point := []byte{4}
	for _, c := range []struct{ name, v string }{{"x", k.X}, {"y", k.Y}} {
		b, err := base64.RawURLEncoding.Strict().DecodeString(c.v)
		if err != nil || len(b) != coordLen {
			return bad("%s must be the base64url of %d bytes", c.name, coordLen)
		}
		point = append(point, b...)
	}
	if _, err := ecdh.P256().NewPublicKey(point); err != nil {
		return bad("(x, y) is not a point of %s", Curve)
	}
	if want := Thumbprint(k.X, k.Y); k.Kid != want {
		return bad("kid %q is not the key's RFC 7638 thumbprint %s", cc.Echo(k.Kid), want)
	}
	return nil
}

// CheckIssuerURL returns a cc.Invalid error of op unless u is a usable
// issuer URL ("iss"): https (or http on a loopback host, for local nodes),
// a host, no user info, query or fragment, no trailing slash, at most
// MaxURLLen bytes, and in canonical form (it parses and prints back the
// same).
func CheckIssuerURL(op, u string) error {
	bad := func(why string) error {
		return cc.Errorf(op, cc.Invalid, "issuer_url %q %s", cc.Echo(u), why)
	}
	if u == "" || len(u) > MaxURLLen {
		return bad("must be 1 to " + strconv.Itoa(MaxURLLen) + " bytes")
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || p.Opaque != "" {
		return bad("is not an absolute URL")
	}
	switch {
	case p.Scheme == "https":
	case p.Scheme == "http" && loopback(p.Hostname()):
	default:
		return bad("must use https (http only on a loopback host)")
	}
	if p.User != nil || p.RawQuery != "" || p.Fragment != "" || strings.HasSuffix(u, "#") || strings.HasSuffix(u, "?") {
		return bad("must have no user info, query or fragment")
	}
	if strings.HasSuffix(u, "/") {
		return bad("must not end with /")
	}
	if p.String() != u || strings.ContainsAny(u, " \t\r\n") {
		return bad("is not in canonical form")
	}
	return nil
}

func loopback(host string) bool {
	return host == "localhost" || host == "::1" || strings.HasPrefix(host, "127.")
}

// ValidRID reports whether s is a revocation id as the specification
// defines it: 1 to MaxRIDLen base64url characters.
func ValidRID(s string) bool {
	if s == "" || len(s) > MaxRIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

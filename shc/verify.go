package shc

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	cc "carechain"
	"carechain/credential"
)

// MaxClockSkew is how far in the future a card's nbf may be.
const MaxClockSkew = 5 * time.Minute

// Trust is what a verifier trusts: the key sets of issuers and their
// revocation lists (from the ledger, or given for external issuers).
type Trust struct {
	// Keys returns the key set of issuer iss; cc.NotFound when the issuer
	// is not trusted.
	Keys func(iss string) (*credential.JWKS, error)
	// CRL returns the revocation list of key kid of issuer iss, nil when
	// none is known. May be nil.
	CRL func(iss, kid string) (*credential.CRL, error)
	// Now is the verification time (the wall clock if zero).
	Now time.Time
}

// The checks of a verification, in order.
const (
	CheckJWS        = "jws"        // compact JWS, canonical base64url, header alg ES256, zip DEF, kid
	CheckPayload    = "payload"    // raw DEFLATE of the JWT payload {iss, nbf, vc}
	CheckIssuer     = "issuer"     // iss is trusted and its key set has the kid (an ES256 P-256 key whose kid is its thumbprint)
	CheckSignature  = "signature"  // ES256 over the header and payload
	CheckCredential = "credential" // vc: type health-card, nbf not in the future
	CheckFHIR       = "fhir"       // the FHIR Bundle follows the specification
	CheckRevocation = "revocation" // the rid is not on the key's revocation list
)

// Check is the outcome of one check.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Result is the outcome of verifying one JWS. Valid only when every check
// passed; the payload fields are set as far as the checks got.
type Result struct {
	Valid     bool            `json:"valid"`
	Checks    []Check         `json:"checks"`
	Reasons   []string        `json:"reasons,omitempty"` // the failed checks' details
	Issuer    string          `json:"issuer,omitempty"`
	Kid       string          `json:"kid,omitempty"`
	NotBefore *time.Time      `json:"nbf,omitempty"`
	Types     []string        `json:"types,omitempty"`
	RID       string          `json:"rid,omitempty"`
	Revoked   bool            `json:"revoked,omitempty"`
	Bundle    json.RawMessage `json:"fhirBundle,omitempty"` // only when valid
}

func (r *Result) pass(name, detail string) { r.Checks = append(r.Checks, Check{name, true, detail}) }

func (r *Result) fail(name, format string, args ...any) *Result {
	d := name + ": " + fmt.Sprintf(format, args...)
	r.Checks = append(r.Checks, Check{name, false, d})
	r.Reasons = append(r.Reasons, d)
	r.Valid = false
	return r
}

// Err returns nil for a valid result, else a *cc.Error whose kind tells
// why: Integrity (a bad signature or altered bytes), Unauthorized (an
// untrusted issuer or key), Gone (revoked) or Invalid (content).
func (r *Result) Err() error {
	if r.Valid {
		return nil
	}
	kind := cc.Invalid
first:
	for _, c := range r.Checks {
		if c.OK {
			continue
		}
		switch c.Name {
		case CheckJWS, CheckSignature:
			kind = cc.Integrity
		case CheckIssuer:
			kind = cc.Unauthorized
		case CheckRevocation:
			kind = cc.Gone
		}
		break first // the first failed check decides
	}
	return cc.Errorf("shc.verify", kind, "%s", strings.Join(r.Reasons, "; "))
}

// header is the JWS protected header of a health card.
type header struct {
	Alg  string `json:"alg"`
	Kid  string `json:"kid"`
	Zip  string `json:"zip"`
	Crit any    `json:"crit"`
}

// strictB64 decodes canonical unpadded base64url: re-encoding must give s
// back, so no altered character (not even in the unused low bits of the
// last one) goes unnoticed.
func strictB64(s string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || base64.RawURLEncoding.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

// Verify checks a health card JWS against trust: its form, the issuer and
// key (trusted key set, kid the thumbprint), the ES256 signature, the
// credential (type, nbf), the FHIR Bundle and the revocation list. It
// never fails outright: every problem is a failed Check.
func Verify(jws string, t Trust) *Result {
	r := &Result{Valid: true}
	now := t.Now
	if now.IsZero() {
		now = time.Now()
	}
	// The form.
	if len(jws) > MaxJWS {
		return r.fail(CheckJWS, "over %d characters", MaxJWS)
	}
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		return r.fail(CheckJWS, "a compact JWS has three dot-separated parts, this has %d", len(parts))
	}
	hb, ok1 := strictB64(parts[0])
	zb, ok2 := strictB64(parts[1])
	sig, ok3 := strictB64(parts[2])
	if !ok1 || !ok2 || !ok3 {
		return r.fail(CheckJWS, "a part is not canonical base64url")
	}
	var h header
	dec := json.NewDecoder(bytes.NewReader(hb))
	if err := dec.Decode(&h); err != nil || dec.More() {
		return r.fail(CheckJWS, "the header is not a JSON object")
	}
	switch {
	case h.Alg != credential.Alg:
		return r.fail(CheckJWS, "alg must be ES256, not %q", cc.Echo(h.Alg))
	case h.Zip != "DEF":
		return r.fail(CheckJWS, "zip must be DEF (raw DEFLATE), not %q", cc.Echo(h.Zip))
	case !credential.ValidKid(h.Kid):
		return r.fail(CheckJWS, "kid %q is not a key thumbprint", cc.Echo(h.Kid))
	case h.Crit != nil:
		return r.fail(CheckJWS, "critical header parameters are not supported")
	case len(sig) != 64:
		return r.fail(CheckJWS, "an ES256 signature has 64 bytes, this has %d", len(sig))
	}
	r.Kid = h.Kid
	r.pass(CheckJWS, "")

	// The payload, read before the signature to learn the issuer.
	raw, err := inflate(zb)
	if err != nil {
		return r.fail(CheckPayload, "not raw DEFLATE data within %d bytes", MaxPayload)
	}
	var p Payload
	pd := json.NewDecoder(bytes.NewReader(raw))
	pd.UseNumber()
	if err := pd.Decode(&p); err != nil || pd.More() {
		return r.fail(CheckPayload, "not a JSON object of the JWT payload shape")
	}
	if p.Iss == "" {
		return r.fail(CheckPayload, "iss is missing")
	}
	r.Issuer = p.Iss
	r.pass(CheckPayload, "")

	// The issuer and its key.
	ks, err := t.Keys(p.Iss)
	if err != nil || ks == nil {
		why := "is not a trusted issuer"
		if err != nil && !cc.Is(cc.NotFound, err) {
			why = "could not be looked up: " + err.Error()
		}
		return r.fail(CheckIssuer, "%s %s", cc.Echo(p.Iss), why)
	}
	var key *credential.JWK
	for i := range ks.Keys {
		if ks.Keys[i].Kid == h.Kid {
			key = &ks.Keys[i]
		}
	}
	if key == nil {
		return r.fail(CheckIssuer, "issuer %s has no key %s", cc.Echo(p.Iss), h.Kid)
	}
	if err := credential.CheckKey("shc.verify", "key "+h.Kid, *key); err != nil {
		return r.fail(CheckIssuer, "%s", strings.TrimPrefix(err.Error(), "shc.verify: invalid: "))
	}
	r.pass(CheckIssuer, "")

	// The signature.
	pub, err := publicKey(key)
	if err != nil {
		return r.fail(CheckIssuer, "key %s is unusable", h.Kid)
	}
	obj, err := jose.ParseSignedCompact(jws, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return r.fail(CheckSignature, "the JWS does not parse: %v", err)
	}
	signed, err := obj.Verify(pub)
	if err != nil || !bytes.Equal(signed, zb) {
		return r.fail(CheckSignature, "the ES256 signature does not verify with key %s", h.Kid)
	}
	r.pass(CheckSignature, "")

	// The credential.
	nbf := p.NotBefore()
	r.Types, r.RID = p.VC.Type, p.VC.RID
	if nbf.IsZero() {
		return r.fail(CheckCredential, "nbf is not a number of seconds")
	}
	r.NotBefore = &nbf
	switch {
	case !contains(p.VC.Type, TypeHealthCard):
		return r.fail(CheckCredential, "vc.type does not include %s", TypeHealthCard)
	case nbf.After(now.Add(MaxClockSkew)):
		return r.fail(CheckCredential, "not valid before %s (nbf is in the future)", nbf.Format(time.RFC3339))
	case p.VC.RID != "" && !credential.ValidRID(p.VC.RID):
		return r.fail(CheckCredential, "vc.rid %q is not 1 to %d base64url characters", cc.Echo(p.VC.RID), credential.MaxRIDLen)
	case p.VC.CredentialSubject.FHIRVersion != FHIRVersion:
		return r.fail(CheckCredential, "credentialSubject.fhirVersion must be %s, not %q", FHIRVersion, cc.Echo(p.VC.CredentialSubject.FHIRVersion))
	}
	r.pass(CheckCredential, "")

	// The FHIR content.
	if err := CheckBundle(p.VC.CredentialSubject.FHIRBundle); err != nil {
		var ce *cc.Error
		if errors.As(err, &ce) {
			return r.fail(CheckFHIR, "%s", ce.Msg)
		}
		return r.fail(CheckFHIR, "%v", err)
	}
	r.pass(CheckFHIR, "")

	// Revocation.
	var crl *credential.CRL
	if t.CRL != nil {
		if crl, err = t.CRL(p.Iss, h.Kid); err != nil {
			return r.fail(CheckRevocation, "the revocation list could not be read")
		}
	}
	switch {
	case crl == nil && key.CRLVersion > 0:
		r.pass(CheckRevocation, "not checked: key "+h.Kid+" publishes a revocation list (crlVersion "+strconv.Itoa(key.CRLVersion)+") that was not given")
	case crl == nil:
		r.pass(CheckRevocation, "the key has no revocation list")
	case crl.Kid != h.Kid || crl.Method != credential.CRLMethod:
		return r.fail(CheckRevocation, "the revocation list given is not a rid list of key %s", h.Kid)
	case crl.Revokes(p.VC.RID, nbf):
		r.Revoked = true
		return r.fail(CheckRevocation, "the card (rid %s) is revoked by its issuer", p.VC.RID)
	default:
		r.pass(CheckRevocation, "not revoked (list version "+strconv.Itoa(crl.Ctr)+")")
	}
	r.Bundle = p.VC.CredentialSubject.FHIRBundle
	return r
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// publicKey returns the ECDSA key of a checked JWK.
func publicKey(k *credential.JWK) (*ecdsa.PublicKey, error) {
	x, _ := base64.RawURLEncoding.DecodeString(k.X)
	y, _ := base64.RawURLEncoding.DecodeString(k.Y)
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
}

// ParseJWKS reads a JSON Web Key Set as issuers publish it. Keys are not
// checked here (Verify checks the one it uses); members other than the
// public EC fields and crlVersion (x5c, …) are ignored.
func ParseJWKS(b []byte) (*credential.JWKS, error) {
	var ks credential.JWKS
	if err := json.Unmarshal(b, &ks); err != nil {
		return nil, errf("shc.jwks", cc.Malformed, "not a JSON Web Key Set: %v", err)
	}
	if len(ks.Keys) == 0 {
		return nil, errf("shc.jwks", cc.Invalid, "the key set has no keys")
	}
	return &ks, nil
}

// ParseCRL reads a revocation list as issuers publish it.
func ParseCRL(b []byte) (*credential.CRL, error) {
	var c credential.CRL
	if err := json.Unmarshal(b, &c); err != nil || c.Kid == "" {
		return nil, errf("shc.crl", cc.Malformed, "not a SMART Health Cards revocation list")
	}
	return &c, nil
}

// StaticTrust trusts one key set for any issuer (a verifier given an
// external issuer's jwks.json) with optional revocation lists.
func StaticTrust(ks *credential.JWKS, crls ...*credential.CRL) Trust {
	return Trust{
		Keys: func(string) (*credential.JWKS, error) { return ks, nil },
		CRL: func(_, kid string) (*credential.CRL, error) {
			for _, c := range crls {
				if c.Kid == kid {
					return c, nil
				}
			}
			return nil, nil
		},
	}
}

// LedgerTrust trusts the issuers registered on the ledger state kv, with
// their revocation lists.
func LedgerTrust(kv cc.Reader) Trust {
	return Trust{
		Keys: func(iss string) (*credential.JWKS, error) {
			is, err := credential.GetIssuer(kv, iss)
			if err != nil {
				return nil, err
			}
			return &credential.JWKS{Keys: is.Keys}, nil
		},
		CRL: func(iss, kid string) (*credential.CRL, error) {
			is, err := credential.GetIssuer(kv, iss)
			if err != nil || is.Key(kid) == nil {
				return nil, err
			}
			return credential.RevocationList(kv, kid)
		},
	}
}

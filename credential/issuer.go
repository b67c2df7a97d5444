package credential

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	cc "carechain"
	"carechain/identity"
)

// Issuer is a registered SMART Health Card issuer: its URL (the cards'
// "iss"), the organization it belongs to and its public key set. Verifiers
// that trust the ledger take the keys from here instead of fetching
// {url}/.well-known/jwks.json.
type Issuer struct {
	URL          string    `json:"url"`
	Org          string    `json:"org"`
	Keys         []JWK     `json:"keys"` // sorted by kid; CRLVersion is filled in by readers
	RegisteredBy cc.DID    `json:"registered_by"`
	Height       int64     `json:"height"` // of the latest registration
	Time         time.Time `json:"time"`
}

// Key returns the issuer's key kid, nil if it has none.
func (i *Issuer) Key(kid string) *JWK {
	for k := range i.Keys {
		if i.Keys[k].Kid == kid {
			return &i.Keys[k]
		}
	}
	return nil
}

// registerPayload is the payload of "credential.issuer.register".
type registerPayload struct {
	Org       string `json:"org"`
	IssuerURL string `json:"issuer_url"`
	JWKS      jwksIn `json:"jwks"`
}

// jwksIn is a key set as registered: public keys only.
type jwksIn struct {
	Keys []jwkIn `json:"keys"`
}

// jwkIn is a JWK as registered: the public fields, and "d" only to reject
// a private key with a clear message.
type jwkIn struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	D   string `json:"d,omitempty"`
}

// RegisterResult is the Data of a credential.issuer.register transaction.
type RegisterResult struct {
	URL     string   `json:"url"`
	Org     string   `json:"org"`
	Kids    []string `json:"kids"`
	Updated bool     `json:"updated"` // the issuer existed and its key set was replaced
}

// GetIssuer returns the issuer registered at url, cc.NotFound if none.
func GetIssuer(kv cc.Reader, url string) (*Issuer, error) {
	var is Issuer
	found := false
	if url != "" && len(url) <= MaxURLLen {
		var err error
		if found, err = cc.GetJSON(kv, issuerKey(url), &is); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, cc.Errorf("credential.issuer", cc.NotFound, "no issuer %q is registered", cc.Echo(url))
	}
	if err := fillCRLVersions(kv, &is); err != nil {
		return nil, err
	}
	return &is, nil
}

// Issuers returns every registered issuer, ordered by escaped URL.
func Issuers(kv cc.Reader) ([]Issuer, error) {
	out := []Issuer{}
	err := cc.IterateJSON("credential.issuers", kv, prefixIssuer, func(is Issuer) bool {
		out = append(out, is)
		return true
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		if err := fillCRLVersions(kv, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// IssuersOf returns the issuers of organization org.
func IssuersOf(kv cc.Reader, org string) ([]Issuer, error) {
	out := []Issuer{}
	if !cc.ValidOrgID(org) {
		return out, nil
	}
	var urls []string
	if err := cc.IterateJSON("credential.issuers", kv, orgPrefix(org), func(u string) bool {
		urls = append(urls, u)
		return true
	}); err != nil {
		return nil, err
	}
	for _, u := range urls {
		is, err := GetIssuer(kv, u)
		if err != nil {
			return nil, cc.E("credential.issuers", cc.Internal, err)
		}
		out = append(out, *is)
	}
	return out, nil
}

// IssuerOfKey returns the issuer whose key set has (or had) key kid,
// cc.NotFound if no issuer ever registered it.
func IssuerOfKey(kv cc.Reader, kid string) (*Issuer, error) {
	u, err := kidOwner(kv, kid)
	if err != nil {
		return nil, err
	}
	if u == "" {
		return nil, cc.Errorf("credential.key", cc.NotFound, "no issuer has key %q", cc.Echo(kid))
	}
	return GetIssuer(kv, u)
}

func kidOwner(kv cc.Reader, kid string) (string, error) {
	var u string
	if !ValidKid(kid) {
		return "", nil
	}
	if _, err := cc.GetJSON(kv, kidKey(kid), &u); err != nil {
		return "", err
	}
	return u, nil
}

// ValidKid reports whether s has the form of a key id: the 43 base64url
// characters of a SHA-256 thumbprint.
func ValidKid(s string) bool { return len(s) == 43 && ValidRID(s[:24]) && ValidRID(s[24:]) }

// fillCRLVersions sets each key's CRLVersion from the ledger's counters.
func fillCRLVersions(kv cc.Reader, is *Issuer) error {
	for i := range is.Keys {
		n, err := crlVersion(kv, is.Keys[i].Kid)
		if err != nil {
			return err
		}
		is.Keys[i].CRLVersion = n
	}
	return nil
}

// handleIssuerRegister applies "credential.issuer.register" {org,
// issuer_url, jwks: {keys: [...]}}: it registers org's issuer at
// issuer_url with the given public key set, or replaces the key set of
// org's issuer already there (a key left out stops verifying: that is how
// an issuer withdraws a compromised key).
//
// Rules: org must be an organization id and issuer_url a canonical https
// URL (http only on a loopback host) without query, fragment or trailing
// slash (cc.Invalid). jwks must list 1..MaxKeys distinct public ES256 keys
// on P-256 with use "sig" whose kid is the key's RFC 7638 thumbprint
// (cc.Invalid; a private key, one with "d", is cc.Invalid too). The signer
// must be an admin of org and org active (cc.Unauthorized). An issuer_url
// registered by another organization, or a key registered by another
// issuer, is cc.Conflict; so is re-registering exactly the same key set.
func handleIssuerRegister(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeIssuerRegister
	var p registerPayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if !cc.ValidOrgID(p.Org) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "org %q is not an organization id", cc.Echo(p.Org))
	}
	if err := CheckIssuerURL(op, p.IssuerURL); err != nil {
		return cc.Result{}, err
	}
	if len(p.JWKS.Keys) == 0 || len(p.JWKS.Keys) > MaxKeys {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "jwks.keys must list 1 to %d keys", MaxKeys)
	}
	keys := make([]JWK, 0, len(p.JWKS.Keys))
	for i, k := range p.JWKS.Keys {
		what := "jwks.keys[" + strconv.Itoa(i) + "]"
		if k.D != "" {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "%s is a private key: register public keys only (drop \"d\", and keep the private key secret)", what)
		}
		pub := JWK{Kty: k.Kty, Kid: k.Kid, Use: k.Use, Alg: k.Alg, Crv: k.Crv, X: k.X, Y: k.Y}
		if err := CheckKey(op, what, pub); err != nil {
			return cc.Result{}, err
		}
		if slices.ContainsFunc(keys, func(o JWK) bool { return o.Kid == pub.Kid }) {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "%s repeats key %s", what, pub.Kid)
		}
		keys = append(keys, pub)
	}
	slices.SortFunc(keys, func(a, b JWK) int { return strings.Compare(a.Kid, b.Kid) })
	ok, err := identity.HasRole(kv, p.Org, ctx.Signer, cc.RoleAdmin)
	if err != nil {
		return cc.Result{}, cc.E(op, cc.Internal, err)
	}
	if !ok {
		return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s is not an admin of the active organization %q", ctx.Signer, p.Org)
	}
	var old Issuer
	exists, err := cc.GetJSON(kv, issuerKey(p.IssuerURL), &old)
	if err != nil {
		return cc.Result{}, cc.E(op, cc.Internal, err)
	}
	if exists && old.Org != p.Org {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "issuer %s belongs to another organization", p.IssuerURL)
	}
	if exists && slices.Equal(old.Keys, keys) {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "issuer %s already has exactly this key set", p.IssuerURL)
	}
	kids := make([]string, len(keys))
	for i, k := range keys {
		owner, err := kidOwner(kv, k.Kid)
		if err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		if owner != "" && owner != p.IssuerURL {
			return cc.Result{}, cc.Errorf(op, cc.Conflict, "key %s belongs to another issuer", k.Kid)
		}
		kids[i] = k.Kid
	}
	is := Issuer{URL: p.IssuerURL, Org: p.Org, Keys: keys, RegisteredBy: ctx.Signer, Height: ctx.Height, Time: ctx.Time.UTC()}
	if err := cc.SetJSON(kv, issuerKey(is.URL), is); err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, orgKey(is.Org, is.URL), is.URL); err != nil {
		return cc.Result{}, err
	}
	for _, kid := range kids {
		if err := cc.SetJSON(kv, kidKey(kid), is.URL); err != nil {
			return cc.Result{}, err
		}
	}
	data, err := cc.ResultData(op, RegisterResult{URL: is.URL, Org: is.Org, Kids: kids, Updated: exists})
	if err != nil {
		return cc.Result{}, err
	}
	ev := cc.NewEvent(op, "org", is.Org, "url", is.URL, "kids", strings.Join(kids, ","))
	return cc.Result{Events: []cc.Event{ev}, Data: data}, nil
}

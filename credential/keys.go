package credential

import (
	"net/url"
)

// State layout. Every key this package owns starts with "cred/". Values
// are JSON written with cc.SetJSON (struct fields in declaration order, so
// the bytes are deterministic). An issuer URL contains '/', so it is
// escaped in a key segment with url.PathEscape (which escapes '/' and '%';
// injective). Key ids are RFC 7638 thumbprints (base64url, never '/') and
// revocation ids are base64url too.
//
//	cred/i/{escaped url}           Issuer: an issuer and its public key set
//	cred/o/{org}/{escaped url}     JSON string url: the issuers of an organization
//	cred/k/{kid}                   JSON string url: the issuer a key belongs to (forever)
//	cred/r/{kid}/{rid}             Revocation: a revoked rid of a key
//	cred/c/{kid}                   JSON int: the key's revocation list version (ctr)
//
// Readers outside this package should use GetIssuer, Issuers, IssuerOfKey,
// Revocations and RevocationList rather than these keys.
const (
	prefixIssuer     = "cred/i/"
	prefixOrg        = "cred/o/"
	prefixKid        = "cred/k/"
	prefixRevocation = "cred/r/"
	prefixCounter    = "cred/c/"
)

func escape(s string) string { return url.PathEscape(s) }

func issuerKey(u string) string            { return prefixIssuer + escape(u) }
func orgPrefix(org string) string          { return prefixOrg + org + "/" }
func orgKey(org, u string) string          { return orgPrefix(org) + escape(u) }
func kidKey(kid string) string             { return prefixKid + kid }
func revocationsPrefix(kid string) string  { return prefixRevocation + kid + "/" }
func revocationKey(kid, rid string) string { return revocationsPrefix(kid) + rid }
func counterKey(kid string) string         { return prefixCounter + kid }

// Package shc issues and verifies SMART Health Cards
// (https://spec.smarthealth.cards): a minimized FHIR Bundle in the "vc"
// claim of a JWT payload, compressed with raw DEFLATE, signed as a compact
// JWS with ES256 (header zip "DEF", kid the RFC 7638 thumbprint of the
// issuer's key), carried in a .smart-health-card file
// ({"verifiableCredential": [jws]}) or in numeric-mode "shc:/" QR codes
// (chunked "shc:/i/N/…" when the JWS is over the single-code limit).
//
// It is the adapter for the credential domain package: the only importer
// of go-jose and of the QR library. Issuer keys (private) live off-chain;
// the ledger holds the public key sets and the revocation lists (see
// package credential), which Verify takes through a Trust.
package shc

import cc "carechain"

// Credential types and the FHIR version the cards carry.
const (
	TypeHealthCard   = "https://smarthealth.cards#health-card"
	TypeImmunization = "https://smarthealth.cards#immunization"
	FHIRVersion      = "4.0.1"
)

// Size limits.
const (
	// MaxSingleJWS is the longest JWS that fits one version-22 QR code at
	// error correction level L (the specification's limit).
	MaxSingleJWS = 1195
	// MaxChunkJWS is the longest piece of a JWS in one chunk of a chunked
	// QR code.
	MaxChunkJWS = 1191
	// MaxJWS bounds a JWS this package reads.
	MaxJWS = 1 << 20
	// MaxPayload bounds the inflated JWS payload (against DEFLATE bombs).
	MaxPayload = 4 << 20
	// MaxChunks bounds the chunks of one chunked QR code.
	MaxChunks = 99
)

func errf(op string, kind cc.Kind, format string, args ...any) error {
	return cc.Errorf(op, kind, format, args...)
}

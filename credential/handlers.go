// Package credential holds carechain's pure, deterministic state
// transitions for verifiable health credentials (SMART Health Cards): the
// registry of issuers — an organization's issuer URL with its public ES256
// key set, which verifiers trust because the ledger holds it — and the
// revocation of issued cards by revocation id ("rid"), published as the
// specification's per-key revocation list (CRL).
//
// Private keys, signing, DEFLATE, JWS and QR codes live off-chain in the
// shc adapter; this package only checks public keys (a pure RFC 7638
// thumbprint, no JOSE library) and keeps the lists.
//
// Handlers never read a clock (time is the block time in cc.TxContext), use
// no randomness, goroutines or I/O besides the injected cc.KV, and never let
// Go map order reach state, events or results. Every handler validates its
// whole payload and the state it depends on before its first write
// (all-or-nothing), and every error it returns is a *cc.Error:
//
//   - cc.Malformed: the payload is not a JSON object of the expected shape
//     (syntax, JSON types, unknown, case-variant or duplicate fields,
//     trailing data);
//   - cc.Invalid: a field's content breaks a rule (a bad URL, key, kid,
//     rid, reason or count);
//   - cc.Unauthorized, cc.NotFound, cc.Conflict: as documented on each
//     transaction type.
//
// Dependencies: credential imports only the root package and identity.
package credential

import (
	"encoding/json"
	"errors"

	cc "carechain"
)

// The transaction types this package handles.
const (
	TypeIssuerRegister = "credential.issuer.register"
	TypeRevoke         = "credential.revoke"
)

// Handlers returns a new map from each transaction type this package
// handles to its handler. The caller may modify the map.
func Handlers() map[string]cc.Handler {
	return map[string]cc.Handler{
		TypeIssuerRegister: handleIssuerRegister,
		TypeRevoke:         handleRevoke,
	}
}

// decodeObject is cc.DecodeStrict, except that it reports a field of the
// wrong JSON type without naming the type the field must have.
func decodeObject(op, what string, raw []byte, v any) error {
	err := cc.DecodeStrict(op, what, raw, v)
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return cc.Errorf(op, cc.Malformed, "field %q of %s has the wrong JSON type", cc.Echo(typeErr.Field), what)
	}
	return err
}

// Package records holds carechain's pure, deterministic state transitions
// for record anchors: the on-chain, PHI-free anchor of every version of
// every FHIR resource (id, patient, custodian, author, type, category codes,
// version chain and salted content hash), the patient's erasure of records
// (crypto-shredding happens off-chain; the ledger records that it was
// asked for and answers 410 Gone from then on), and the patient's
// notification feed.
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
//   - cc.Invalid: a field's content breaks a rule (a bad id, DID, code,
//     time, hash or count);
//   - cc.Unauthorized, cc.NotFound, cc.Conflict, cc.Gone: as documented on
//     each transaction type.
//
// Dependencies: records imports only the root package and identity.
// Package access imports records (anchors and the notification feed), so
// the notification writer Notify lives here, not in access, to keep the
// import graph acyclic.
package records

import (
	"encoding/json"
	"errors"

	cc "carechain"
)

// The transaction types this package handles.
const (
	TypeAnchor = "record.anchor"
	TypeErase  = "record.erase"
)

// Handlers returns a new map from each transaction type this package
// handles to its handler. The caller may modify the map.
func Handlers() map[string]cc.Handler {
	return map[string]cc.Handler{
		TypeAnchor: handleAnchor,
		TypeErase:  handleErase,
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

// iterateJSON is cc.IterateJSON for this package: it passes the values
// under prefix, in key order, to fn until fn returns false.
func iterateJSON[T any](kv cc.Reader, prefix string, fn func(T) bool) error {
	return cc.IterateJSON("records.iterate", kv, prefix, fn)
}

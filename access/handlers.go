// Package access holds carechain's pure, deterministic state transitions
// for reads of patient data: the requester's signed read request, the
// batched on-chain access log that the gatekeeper commits before it
// releases any data (re-deciding every read with the committed consent
// state), and break-glass emergency windows with their privacy-officer
// review.
//
// Handlers never read a clock (time is the block time in cc.TxContext), use
// no randomness, goroutines or I/O besides the injected cc.KV, and never let
// Go map order reach state, events or results. Every handler validates its
// whole payload and the state it depends on before its first write, and
// every error it returns is a *cc.Error:
//
//   - cc.Malformed: the payload is not a JSON object of the expected shape
//     (syntax, JSON types, unknown, case-variant or duplicate fields,
//     trailing data);
//   - cc.Invalid: a field's content breaks a rule;
//   - cc.Unauthorized, cc.NotFound, cc.Conflict, cc.FailedPrecondition: as
//     documented on each transaction type.
//
// Dependencies: access imports identity (memberships and roles), consent
// (the access decision) and records (anchors and the patient notification
// feed, records.Notify). records imports neither access nor consent, so the
// graph has no cycle.
package access

import (
	"encoding/json"
	"errors"

	cc "carechain"
)

// The transaction types this package handles.
const (
	TypeLog               = "access.log"
	TypeBreakGlassDeclare = "breakglass.declare"
	TypeBreakGlassReview  = "breakglass.review"
)

// Handlers returns a new map from each transaction type this package
// handles to its handler. The caller may modify the map. Every type is
// signed with the signer's current key from state.
func Handlers() map[string]cc.Handler {
	return map[string]cc.Handler{
		TypeLog:               handleLog,
		TypeBreakGlassDeclare: handleDeclare,
		TypeBreakGlassReview:  handleReview,
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

// printable reports whether s is 1..max printable ASCII bytes, spaces
// allowed only if spaces is true.
func printable(s string, max int, spaces bool) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c > '~' || c == ' ' && !spaces {
			return false
		}
	}
	return true
}

// iterateJSON is cc.IterateJSON for this package: it passes every value
// under prefix, in key order, to fn.
func iterateJSON[T any](kv cc.Reader, prefix string, fn func(T)) error {
	return cc.IterateJSON("access.iterate", kv, prefix, func(v T) bool { fn(v); return true })
}

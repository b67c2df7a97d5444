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
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"

	cc "carechain"
)

// The transaction types this package handles.
const (
	TypeLog               = "access.log"
	TypeBreakGlassDeclare = "breakglass.declare"
	TypeBreakGlassReview  = "breakglass.review"
)

// maxEcho is the longest user string echoed in an error message.
const maxEcho = 64

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

// decodeObject decodes the JSON object raw (named what in messages) into
// the struct pointed to by v. Unlike encoding/json alone it rejects field
// names that differ from the struct's json tags only in case, duplicate
// fields and trailing data, so that one input has exactly one meaning.
// Nested objects must be decoded into json.RawMessage and checked with
// their own decodeObject call. Any failure is cc.Malformed.
func decodeObject(op, what string, raw []byte, v any) error {
	allowed := jsonFieldNames(reflect.TypeOf(v).Elem())
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return cc.Errorf(op, cc.Malformed, "%s must be a JSON object", what)
	}
	seen := make(map[string]bool, len(allowed))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return cc.Errorf(op, cc.Malformed, "%s is not valid JSON", what)
		}
		name, _ := tok.(string)
		if !allowed[name] {
			return cc.Errorf(op, cc.Malformed, "unknown field %q in %s", truncate(name, maxEcho), what)
		}
		if seen[name] {
			return cc.Errorf(op, cc.Malformed, "duplicate field %q in %s", name, what)
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return cc.Errorf(op, cc.Malformed, "field %q of %s is not valid JSON", name, what)
		}
	}
	if _, err := dec.Token(); err != nil {
		return cc.Errorf(op, cc.Malformed, "%s is not valid JSON", what)
	}
	if _, err := dec.Token(); err != io.EOF {
		return cc.Errorf(op, cc.Malformed, "trailing data after %s", what)
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return cc.Errorf(op, cc.Malformed, "field %q of %s has the wrong JSON type", truncate(typeErr.Field, maxEcho), what)
		}
		return cc.Errorf(op, cc.Malformed, "%s does not decode", what)
	}
	return nil
}

// jsonFieldNames returns the JSON names of struct type t's exported fields.
func jsonFieldNames(t reflect.Type) map[string]bool {
	names := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
	return names
}

// truncate shortens s to at most n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// checkDID reports cc.Invalid unless d is a did:cc identifier.
func checkDID(op, field string, d cc.DID) error {
	if !d.Valid() {
		return cc.Errorf(op, cc.Invalid, "%s %q is not a did:cc identifier", field, truncate(string(d), maxEcho))
	}
	return nil
}

// validSlug reports whether s is an organization slug, [a-z0-9-]{2,40}
// (the identity package's rule).
func validSlug(s string) bool {
	if len(s) < 2 || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
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

// event builds an Event from alternating attribute keys and values, kept in
// the order given.
func event(typ string, kvs ...string) cc.Event {
	e := cc.Event{Type: typ, Attributes: make([]cc.Attribute, 0, len(kvs)/2)}
	for i := 0; i+1 < len(kvs); i += 2 {
		e.Attributes = append(e.Attributes, cc.Attribute{Key: kvs[i], Value: kvs[i+1]})
	}
	return e
}

// resultData marshals v as a result's Data.
func resultData(op string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	return b, nil
}

// iterateJSON decodes every value under prefix, in key order, into a T and
// passes it to fn. A value that does not decode, or a failing read, is
// cc.Internal.
func iterateJSON[T any](kv cc.Reader, prefix string, fn func(T)) error {
	var decodeErr error
	err := kv.Iterate(prefix, func(_ string, value []byte) bool {
		var v T
		if err := json.Unmarshal(value, &v); err != nil {
			decodeErr = cc.E("access.iterate", cc.Internal, err)
			return false
		}
		fn(v)
		return true
	})
	if err != nil {
		return cc.E("access.iterate", cc.Internal, err)
	}
	return decodeErr
}

package consent

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	cc "carechain"
)

// The transaction types this package handles.
const (
	TypeGrant              = "consent.grant"
	TypeRevoke             = "consent.revoke"
	TypeAgreementPropose   = "agreement.propose"
	TypeAgreementSign      = "agreement.sign"
	TypeAgreementTerminate = "agreement.terminate"
)

// maxEcho is the longest user string echoed in an error message.
const maxEcho = 64

// Handlers returns a new map from each transaction type this package
// handles to its handler. The caller may modify the map. Every type is
// signed with the signer's current key from state (none is
// self-certifying), so the ledger resolves signer keys for them as it does
// for identity's non-creation types.
func Handlers() map[string]cc.Handler {
	return map[string]cc.Handler{
		TypeGrant:              handleGrant,
		TypeRevoke:             handleRevoke,
		TypeAgreementPropose:   handlePropose,
		TypeAgreementSign:      handleSign,
		TypeAgreementTerminate: handleTerminate,
	}
}

// decodePayload decodes the JSON object payload into the struct pointed to
// by v. Unlike encoding/json alone it checks every object at every depth
// (the provisions, their actors and periods too): a field name must be one
// of the struct's json names exactly (not a case variant), may appear only
// once, and nothing may follow the payload, so one input has exactly one
// meaning. Shape failures are cc.Malformed; a time that is not RFC 3339 is
// cc.Invalid.
func decodePayload(op string, payload []byte, v any) error {
	t := reflect.TypeOf(v).Elem()
	dec := json.NewDecoder(bytes.NewReader(payload))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return cc.Errorf(op, cc.Malformed, "payload must be a JSON object")
	}
	if err := checkShape(op, "payload", payload, t); err != nil {
		return err
	}
	strict := json.NewDecoder(bytes.NewReader(payload))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		var timeErr *time.ParseError
		switch {
		case errors.As(err, &timeErr):
			return cc.Errorf(op, cc.Invalid, "a time in the payload is not an RFC 3339 time")
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return cc.Errorf(op, cc.Malformed, "field %q of payload must be a JSON %s", truncate(typeErr.Field, maxEcho), jsonKind(typeErr.Type))
		}
		return cc.Errorf(op, cc.Malformed, "payload does not decode")
	}
	return nil
}

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
)

// checkShape checks the field names of every JSON object in raw, the JSON
// value of Go type t (named what in messages), against t's structs. Values
// of other JSON types are left to the final decode, which reports them.
func checkShape(op, what string, raw []byte, t reflect.Type) error {
	if t == rawMessageType || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return checkShape(op, what, raw, t.Elem())
	case reflect.Struct:
		return checkObject(op, what, raw, t)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		if tok, err := dec.Token(); err != nil {
			return cc.Errorf(op, cc.Malformed, "%s is not valid JSON", what)
		} else if tok != json.Delim('[') {
			return nil
		}
		for i := 0; dec.More(); i++ {
			var elem json.RawMessage
			if err := dec.Decode(&elem); err != nil {
				return cc.Errorf(op, cc.Malformed, "%s is not valid JSON", what)
			}
			if err := checkShape(op, what+"["+strconv.Itoa(i)+"]", elem, t.Elem()); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkObject checks that raw is null or a JSON object whose fields are
// json names of struct type t, each at most once, and checks their values.
func checkObject(op, what string, raw []byte, t reflect.Type) error {
	fields := jsonFields(t)
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return cc.Errorf(op, cc.Malformed, "%s is not valid JSON", what)
	}
	if tok == nil {
		return nil
	}
	if tok != json.Delim('{') {
		return cc.Errorf(op, cc.Malformed, "%s must be a JSON object", what)
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return cc.Errorf(op, cc.Malformed, "%s is not valid JSON", what)
		}
		name, _ := tok.(string)
		ft, ok := fields[name]
		if !ok {
			return cc.Errorf(op, cc.Malformed, "unknown field %q in %s", truncate(name, maxEcho), what)
		}
		if seen[name] {
			return cc.Errorf(op, cc.Malformed, "duplicate field %q in %s", name, what)
		}
		seen[name] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return cc.Errorf(op, cc.Malformed, "field %q of %s is not valid JSON", name, what)
		}
		if err := checkShape(op, what+"."+name, value, ft); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return cc.Errorf(op, cc.Malformed, "%s is not valid JSON", what)
	}
	if _, err := dec.Token(); err != io.EOF {
		return cc.Errorf(op, cc.Malformed, "trailing data after %s", what)
	}
	return nil
}

// jsonFields maps the JSON names of struct type t's exported fields to
// their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "value"
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

// validSlug reports whether s is an organization id: [a-z0-9-]{2,40}.
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

// idHexLen is the length of the hex part of a consent or agreement id.
const idHexLen = 32

// newID returns prefix + the hex of the first 16 bytes of the transaction
// hash: a deterministic id unique per transaction. A context without a
// transaction hash is a wiring bug (cc.Internal).
func newID(op, prefix string, txHash []byte) (string, error) {
	if len(txHash) < idHexLen/2 {
		return "", cc.Errorf(op, cc.Internal, "transaction hash missing from the context")
	}
	return prefix + hex.EncodeToString(txHash[:idHexLen/2]), nil
}

// validID reports whether id is prefix followed by 32 lowercase hex digits.
func validID(prefix, id string) bool {
	if len(id) != len(prefix)+idHexLen || !strings.HasPrefix(id, prefix) {
		return false
	}
	for i := len(prefix); i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
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

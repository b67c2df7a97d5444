package carechain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// MaxEcho is the longest user-supplied string, in bytes, that an error
// message repeats; see Echo.
const MaxEcho = 64

// Echo returns s shortened to at most MaxEcho bytes (and "…"), for
// repeating user input in an error message.
func Echo(s string) string {
	if len(s) <= MaxEcho {
		return s
	}
	return s[:MaxEcho] + "…"
}

// DecodeStrict decodes the JSON object raw into the struct v points to, so
// that one input has exactly one meaning. what names raw in messages
// ("payload", "params", "events[2]").
//
// Unlike encoding/json alone it checks every JSON object that decodes into
// a struct, at every depth (through pointers, slices and arrays): each
// field name must be one of the struct's json names exactly, not a case
// variant, and may appear only once, and nothing may follow raw. A value
// decoded by a json.Unmarshaler (such as time.Time) or kept as a
// json.RawMessage is left to that decoder; a caller that keeps a nested
// object as json.RawMessage checks it with its own DecodeStrict call.
//
// Every failure is an *Error of kind Malformed whose message says what is
// wrong: raw is not a JSON object, is not valid JSON, has an unknown or a
// duplicate field, is followed by trailing data, or has a field of the
// wrong JSON type ("field %q of %s must be a JSON %s"). When the final
// decode fails (a wrong JSON type, or an error from a json.Unmarshaler such
// as time.Time's *time.ParseError), the Error wraps the encoding/json error
// so that a caller can classify it further with errors.As.
func DecodeStrict(op, what string, raw []byte, v any) error {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() {
		s := shapeOf(rv.Type().Elem())
		if s.flat != nil && decodeFlat(raw, rv.Elem(), s.flat) {
			return nil
		}
		if s.tree != nil && decodeTree(raw, rv.Elem(), s.tree) {
			return nil
		}
	}
	return decodeStrict(op, what, raw, v)
}

// decodeStrict is DecodeStrict's general path.
func decodeStrict(op, what string, raw []byte, v any) error {
	valid := json.Valid(raw)
	if valid {
		if raw[skipSpace(raw, 0)] != '{' {
			return Errorf(op, Malformed, "%s must be a JSON object", what)
		}
		if err := validShape(op, what, raw, reflect.TypeOf(v).Elem()); err != nil {
			return err
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(raw))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return Errorf(op, Malformed, "%s must be a JSON object", what)
		}
		if err := checkShape(op, what, raw, reflect.TypeOf(v).Elem()); err != nil {
			return err
		}
	}
	var err error
	if valid && !shapeOf(reflect.TypeOf(v).Elem()).mapsStructs {
		// validShape has checked every object that decodes into a struct
		// (none is reached through a map), so DisallowUnknownFields could
		// not add an error: Unmarshal decodes the same without the
		// Decoder's buffering and second scan.
		err = json.Unmarshal(raw, v)
	} else {
		strict := json.NewDecoder(bytes.NewReader(raw))
		strict.DisallowUnknownFields()
		err = strict.Decode(v)
	}
	if err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			msg := fmt.Sprintf("field %q of %s must be a JSON %s", Echo(typeErr.Field), what, jsonKind(typeErr.Type))
			return &Error{Op: op, Kind: Malformed, Msg: msg, Err: err}
		}
		return &Error{Op: op, Kind: Malformed, Msg: what + " does not decode", Err: err}
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
	if !holdsObjects(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return checkShape(op, what, raw, t.Elem())
	case reflect.Struct:
		return checkObject(op, what, raw, t)
	case reflect.Slice, reflect.Array:
		dec := json.NewDecoder(bytes.NewReader(raw))
		if tok, err := dec.Token(); err != nil {
			return Errorf(op, Malformed, "%s is not valid JSON", what)
		} else if tok != json.Delim('[') {
			return nil
		}
		for i := 0; dec.More(); i++ {
			var elem json.RawMessage
			if err := dec.Decode(&elem); err != nil {
				return Errorf(op, Malformed, "%s is not valid JSON", what)
			}
			if err := checkShape(op, what+"["+strconv.Itoa(i)+"]", elem, t.Elem()); err != nil {
				return err
			}
		}
	}
	return nil
}

// holdsObjects reports whether a JSON value of Go type t may contain
// objects that checkShape checks: whether t reaches a struct through
// pointers, slices and arrays without passing a json.Unmarshaler, a
// json.RawMessage or a []byte.
func holdsObjects(t reflect.Type) bool {
	for {
		if t == rawMessageType || reflect.PointerTo(t).Implements(unmarshalerType) {
			return false
		}
		switch t.Kind() {
		case reflect.Struct:
			return true
		case reflect.Slice, reflect.Array:
			if t.Elem().Kind() == reflect.Uint8 {
				return false
			}
			t = t.Elem()
		case reflect.Pointer:
			t = t.Elem()
		default:
			return false
		}
	}
}

// checkObject checks that raw is null or a JSON object whose fields are
// json names of struct type t, each at most once, and checks their values.
func checkObject(op, what string, raw []byte, t reflect.Type) error {
	fields := jsonFields(t)
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return Errorf(op, Malformed, "%s is not valid JSON", what)
	}
	if tok == nil {
		return nil
	}
	if tok != json.Delim('{') {
		return Errorf(op, Malformed, "%s must be a JSON object", what)
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Errorf(op, Malformed, "%s is not valid JSON", what)
		}
		name, _ := tok.(string)
		ft, ok := fields[name]
		if !ok {
			return Errorf(op, Malformed, "unknown field %q in %s", Echo(name), what)
		}
		if seen[name] {
			return Errorf(op, Malformed, "duplicate field %q in %s", name, what)
		}
		seen[name] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return Errorf(op, Malformed, "field %q of %s is not valid JSON", name, what)
		}
		if err := checkShape(op, what+"."+name, value, ft); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return Errorf(op, Malformed, "%s is not valid JSON", what)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Errorf(op, Malformed, "trailing data after %s", what)
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
		if t == rawMessageType {
			return "value"
		}
		return "array"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "non-negative integer"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "value"
}

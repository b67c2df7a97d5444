package carechain

import (
	"encoding"
	"reflect"
	"strings"
	"time"
)

var (
	timeType    = reflect.TypeFor[time.Time]()
	stringsType = reflect.TypeFor[[]string]()
)

// fastField is one field a fast decoding path sets: its JSON name, index
// and type.
type fastField struct {
	name  string
	index int
	typ   reflect.Type
}

// fastFields returns the exported, JSON-visible fields of struct type t, or
// false when a fast path could not match encoding/json field for field:
// more than 64 fields, an embedded field (promoted names), a ",string"
// option, a field named "-" (jsonFields and encoding/json differ) or two
// fields with one name.
func fastFields(t reflect.Type) ([]fastField, bool) {
	if t.Kind() != reflect.Struct || t.NumField() > 64 {
		return nil, false
	}
	var out []fastField
	names := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			return nil, false
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && tag != "-" {
			return nil, false
		}
		if tag == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if strings.Contains(","+opts+",", ",string,") || names[name] {
			return nil, false
		}
		names[name] = true
		out = append(out, fastField{name: name, index: i, typ: f.Type})
	}
	return out, true
}

// decodesItself reports whether encoding/json hands a value of type t to
// its own UnmarshalJSON or UnmarshalText.
func decodesItself(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(unmarshalerType) ||
		reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
}

// flatFields maps the JSON names of a flat struct — every exported field
// a plain string kind (string or a named string type) decoded by
// encoding/json itself, a []string or a time.Time, and fastFields accepts
// the struct — to their field indexes; nil for any other type.
// Payloads of such structs (a public key, a DID and an organization id)
// are most transactions' payloads.
func flatFields(t reflect.Type) map[string]int {
	list, ok := fastFields(t)
	if !ok {
		return nil
	}
	fields := make(map[string]int, len(list))
	for _, f := range list {
		plain := f.typ.Kind() == reflect.String && !decodesItself(f.typ)
		if !plain && f.typ != timeType && f.typ != stringsType {
			return nil
		}
		fields[f.name] = f.index
	}
	return fields
}

// decodeFlat decodes raw into the flat struct v (fields from flatFields)
// if raw is in the plain form the canonical encoder writes — an object
// with no whitespace whose keys are field names, each at most once, and
// whose values are strings of printable ASCII without escapes (arrays of
// them, with at least one element, for []string fields) — and reports
// whether it did. It then sets exactly what DecodeStrict's general path
// would (encoding/json copies such strings verbatim and hands a
// time.Time's to its UnmarshalJSON); for anything else, or a time that
// does not parse, it changes nothing and returns false, and the general
// path decides, words any error and decodes.
func decodeFlat(raw []byte, v reflect.Value, fields map[string]int) bool {
	if len(raw) < 2 || raw[0] != '{' {
		return false
	}
	type set struct {
		field int
		value []byte    // a string field's contents
		list  []string  // a []string field's
		at    time.Time // a time.Time field's
	}
	var sets [8]set
	found := sets[:0]
	var seen uint64
	i := 1
	if raw[i] == '}' {
		return i == len(raw)-1
	}
	for {
		key, next, ok := PlainString(raw, i)
		if !ok || next >= len(raw) || raw[next] != ':' {
			return false
		}
		f, known := fields[string(key)]
		if !known || seen&(1<<f) != 0 {
			return false
		}
		seen |= 1 << f
		s := set{field: f}
		switch v.Type().Field(f).Type {
		case stringsType:
			if next+1 >= len(raw) || raw[next+1] != '[' {
				return false
			}
			next += 2
			for {
				var elem []byte
				if elem, next, ok = PlainString(raw, next); !ok || next >= len(raw) {
					return false
				}
				s.list = append(s.list, string(elem))
				if raw[next] == ']' {
					next++
					break
				}
				if raw[next] != ',' {
					return false
				}
				next++
			}
		case timeType:
			start := next + 1
			if _, next, ok = PlainString(raw, start); !ok || s.at.UnmarshalJSON(raw[start:next]) != nil {
				return false
			}
		default:
			if s.value, next, ok = PlainString(raw, next+1); !ok {
				return false
			}
		}
		if next >= len(raw) {
			return false
		}
		found = append(found, s)
		switch raw[next] {
		case ',':
			i = next + 1
			continue
		case '}':
			if next != len(raw)-1 {
				return false
			}
			for _, s := range found {
				switch fv := v.Field(s.field); fv.Type() {
				case stringsType:
					fv.Set(reflect.ValueOf(s.list))
				case timeType:
					fv.Set(reflect.ValueOf(s.at))
				default:
					fv.SetString(string(s.value))
				}
			}
			return true
		}
		return false
	}
}

// PlainString reads the JSON string starting at raw[i] if it holds only
// printable ASCII and no escape (so encoding/json decodes it to its bytes),
// returning its contents and the index after its closing quote.
func PlainString(raw []byte, i int) ([]byte, int, bool) {
	if i >= len(raw) || raw[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(raw); j++ {
		switch c := raw[j]; {
		case c == '"':
			return raw[i+1 : j], j + 1, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

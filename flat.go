package carechain

import (
	"encoding"
	"reflect"
	"strings"
)

// flatFields maps the JSON names of a flat struct — every exported field
// a plain string kind (string or a named string type) decoded by
// encoding/json itself, no embedded field, no ",string" option, no two
// fields with one name — to their field indexes; nil for any other type.
// Payloads of such structs (a public key, a DID and an organization id)
// are most transactions' payloads.
func flatFields(t reflect.Type) map[string]int {
	if t.Kind() != reflect.Struct || t.NumField() > 64 {
		return nil
	}
	textUnmarshaler := reflect.TypeFor[encoding.TextUnmarshaler]()
	fields := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			return nil
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && tag != "-" {
			return nil // a field named "-": jsonFields and encoding/json differ
		}
		if tag == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if f.Type.Kind() != reflect.String || strings.Contains(","+opts+",", ",string,") ||
			reflect.PointerTo(f.Type).Implements(unmarshalerType) || reflect.PointerTo(f.Type).Implements(textUnmarshaler) {
			return nil
		}
		if _, dup := fields[name]; dup {
			return nil
		}
		fields[name] = i
	}
	return fields
}

// decodeFlat decodes raw into the flat struct v (fields from flatFields)
// if raw is in the plain form the canonical encoder writes — an object
// with no whitespace whose keys are field names, each at most once, and
// whose values are strings of printable ASCII without escapes — and
// reports whether it did. It then sets exactly what DecodeStrict's general
// path would (encoding/json copies such strings verbatim); for anything
// else it changes nothing and returns false, and the general path decides,
// words any error and decodes.
func decodeFlat(raw []byte, v reflect.Value, fields map[string]int) bool {
	if len(raw) < 2 || raw[0] != '{' {
		return false
	}
	type set struct {
		field int
		value []byte
	}
	var sets [8]set
	found := sets[:0]
	var seen uint64
	i := 1
	if raw[i] == '}' {
		return i == len(raw)-1
	}
	for {
		key, next, ok := plainString(raw, i)
		if !ok || next >= len(raw) || raw[next] != ':' {
			return false
		}
		f, known := fields[string(key)]
		if !known || seen&(1<<f) != 0 {
			return false
		}
		seen |= 1 << f
		value, next, ok := plainString(raw, next+1)
		if !ok || next >= len(raw) {
			return false
		}
		found = append(found, set{f, value})
		switch raw[next] {
		case ',':
			i = next + 1
			continue
		case '}':
			if next != len(raw)-1 {
				return false
			}
			for _, s := range found {
				v.Field(s.field).SetString(string(s.value))
			}
			return true
		}
		return false
	}
}

// plainString reads the JSON string starting at raw[i] if it holds only
// printable ASCII and no escape, returning its contents and the index
// after its closing quote.
func plainString(raw []byte, i int) ([]byte, int, bool) {
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

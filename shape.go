package carechain

import (
	"encoding/json"
	"reflect"
	"strconv"
	"sync"
)

// The fast shape check. checkShape walks raw with encoding/json tokens,
// which costs more than the decode itself; DecodeStrict calls it only when
// raw is not valid JSON (for its precise messages). For valid JSON,
// validShape gives exactly the same answer — the same error text, or none —
// by scanning the bytes directly: on valid JSON every string, number and
// literal is well formed, so the scanner only has to find where values end.
// FuzzShapeMatchesTokens compares the two on arbitrary input.

// typeShape is what the shape check needs to know about a Go type.
type typeShape struct {
	holds       bool                    // holdsObjects
	mapsStructs bool                    // structsInMaps
	fields      map[string]reflect.Type // JSON names of a struct's fields
	flat        map[string]int          // flatFields: non-nil for a flat struct
	tree        *treePlan               // treePlanOf: non-nil for a tree struct that is not flat
}

var shapes sync.Map // reflect.Type → *typeShape

// shapeOf returns t's cached typeShape.
func shapeOf(t reflect.Type) *typeShape {
	if s, ok := shapes.Load(t); ok {
		return s.(*typeShape)
	}
	s := &typeShape{holds: holdsObjects(t), mapsStructs: structsInMaps(t, map[reflect.Type]bool{})}
	if t.Kind() == reflect.Struct {
		s.fields = jsonFields(t)
		s.flat = flatFields(t)
		if s.flat == nil {
			s.tree = treePlanOf(t, 0)
		}
	}
	shapes.Store(t, s)
	return s
}

// structsInMaps reports whether a JSON value of Go type t may hold an
// object decoded into a struct that the shape check does not reach: a
// struct inside a map, at any depth, not behind a json.Unmarshaler or a
// json.RawMessage (or a struct with an embedded field, whose promoted
// names the shape check does not know). Only such objects make encoding/json's
// DisallowUnknownFields matter after the shape check.
func structsInMaps(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] || t == rawMessageType || reflect.PointerTo(t).Implements(unmarshalerType) {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return structsInMaps(t.Elem(), seen)
	case reflect.Map:
		return holdsObjects(t.Elem()) || structsInMaps(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous { // promoted fields: left to encoding/json's own check
				return true
			}
			if f.IsExported() && structsInMaps(f.Type, seen) {
				return true
			}
		}
	case reflect.Interface:
		return false // decodes into maps and slices, never a struct
	}
	return false
}

// validShape is checkShape for raw known to be valid JSON (json.Valid).
func validShape(op, what string, raw []byte, t reflect.Type) error {
	if !shapeOf(t).holds {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	i := skipSpace(raw, 0)
	switch t.Kind() {
	case reflect.Struct:
		return validObject(op, what, raw[i:], t)
	case reflect.Slice, reflect.Array:
		if raw[i] != '[' {
			if badNumber(raw[i:]) {
				return Errorf(op, Malformed, "%s is not valid JSON", what)
			}
			return nil
		}
		i = skipSpace(raw, i+1)
		for n := 0; raw[i] != ']'; n++ {
			end := skipValue(raw, i)
			if shapeOf(t.Elem()).holds {
				if err := validShape(op, what+"["+strconv.Itoa(n)+"]", raw[i:end], t.Elem()); err != nil {
					return err
				}
			}
			i = skipSpace(raw, end)
			if raw[i] == ',' {
				i = skipSpace(raw, i+1)
			}
		}
	}
	return nil
}

// validObject is checkObject for valid JSON raw starting at its value.
func validObject(op, what string, raw []byte, t reflect.Type) error {
	switch raw[0] {
	case 'n':
		return nil // null
	case '{':
	default:
		if badNumber(raw) {
			return Errorf(op, Malformed, "%s is not valid JSON", what)
		}
		return Errorf(op, Malformed, "%s must be a JSON object", what)
	}
	fields := shapeOf(t).fields
	var seenSmall [8]string
	seen := seenSmall[:0]
	i := skipSpace(raw, 1)
	for raw[i] != '}' {
		kend, plain := skipString(raw, i)
		var name string
		if plain {
			name = string(raw[i+1 : kend-1])
		} else if err := json.Unmarshal(raw[i:kend], &name); err != nil {
			return Errorf(op, Malformed, "%s is not valid JSON", what) // unreachable for valid JSON
		}
		ft, ok := fields[name]
		if !ok {
			return Errorf(op, Malformed, "unknown field %q in %s", Echo(name), what)
		}
		for _, s := range seen {
			if s == name {
				return Errorf(op, Malformed, "duplicate field %q in %s", name, what)
			}
		}
		seen = append(seen, name)
		i = skipSpace(raw, kend)
		i = skipSpace(raw, i+1) // the colon
		end := skipValue(raw, i)
		if shapeOf(ft).holds {
			if err := validShape(op, what+"."+name, raw[i:end], ft); err != nil {
				return err
			}
		}
		i = skipSpace(raw, end)
		if raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return nil
}

// skipSpace returns the index of the first non-whitespace byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] (a '"'),
// and whether it is plain: no escapes and only ASCII, so its bytes are its
// value.
func skipString(b []byte, i int) (int, bool) {
	plain := true
	for i++; ; i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, plain
		case c == '\\':
			plain = false
			i++
		case c >= 0x80:
			plain = false
		}
	}
}

// skipValue returns the index after the JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		end, _ := skipString(b, i)
		return end
	case '{', '[':
		depth := 0
		for {
			switch b[i] {
			case '"':
				i, _ = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
	default: // a number or a literal
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\n', '\t', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// badNumber reports whether b starts with a JSON number that does not fit
// a float64, which encoding/json's Token reports as an error.
func badNumber(b []byte) bool {
	if b[0] != '-' && (b[0] < '0' || b[0] > '9') {
		return false
	}
	_, err := strconv.ParseFloat(string(b[:skipValue(b, 0)]), 64)
	return err != nil
}

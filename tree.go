package carechain

import (
	"encoding/json"
	"reflect"
	"strconv"
	"time"
)

// The tree fast path. decodeFlat decodes structs of strings in one scan;
// decodeTree does the same for structs that also hold integers, pointers
// to integers, raw JSON values and lists of such structs — a supply.capture
// payload and its events, a sensor report — which otherwise cost four
// encoding/json scans of every byte (json.Valid, the shape check,
// Unmarshal's own validity scan, the decode). Like decodeFlat it only takes
// the plain form the canonical encoder writes and declines anything else,
// changing nothing, so that DecodeStrict's general path decides and words
// every error. FuzzDecodeTreeMatchesGeneral checks that whatever it
// decodes, the general path decodes to the same value.

var rawMessagesType = reflect.TypeFor[[]json.RawMessage]()

// treeKind is how a field of a tree struct is read.
type treeKind uint8

const (
	treeString  treeKind = iota // a plain string kind
	treeStrings                 // []string
	treeTime                    // time.Time
	treeInt                     // a signed integer kind
	treeIntPtr                  // *int64
	treeRaws                    // []json.RawMessage, each element canonical
	treeStructs                 // []S for a tree struct S
)

type treeField struct {
	index int
	kind  treeKind
	elem  *treePlan // treeStructs
}

// treePlan is how to decode one tree struct type.
type treePlan struct {
	fields map[string]treeField
}

// maxTreeDepth bounds the nesting of lists of structs a plan follows.
const maxTreeDepth = 4

// treePlanOf returns the plan for struct type t, or nil unless
// fastFields accepts it and every field is a kind decodeTree reads (see
// treeKind).
func treePlanOf(t reflect.Type, depth int) *treePlan {
	list, ok := fastFields(t)
	if !ok || depth > maxTreeDepth {
		return nil
	}
	p := &treePlan{fields: make(map[string]treeField, len(list))}
	for _, f := range list {
		tf := treeField{index: f.index}
		switch {
		case f.typ == timeType:
			tf.kind = treeTime
		case f.typ == stringsType:
			tf.kind = treeStrings
		case f.typ == rawMessagesType:
			tf.kind = treeRaws
		case decodesItself(f.typ):
			return nil
		case f.typ.Kind() == reflect.String:
			tf.kind = treeString
		case f.typ.Kind() >= reflect.Int && f.typ.Kind() <= reflect.Int64:
			tf.kind = treeInt
		case f.typ == reflect.TypeFor[*int64]():
			tf.kind = treeIntPtr
		case f.typ.Kind() == reflect.Slice && f.typ.Elem().Kind() == reflect.Struct && !decodesItself(f.typ.Elem()):
			if tf.elem = treePlanOf(f.typ.Elem(), depth+1); tf.elem == nil {
				return nil
			}
			tf.kind = treeStructs
		default:
			return nil
		}
		p.fields[f.name] = tf
	}
	return p
}

// decodeTree decodes raw into v, which must be the zero value of a tree
// struct (plan p), if raw is in the plain canonical form: objects with no
// whitespace whose keys are field names, each at most once; strings of
// printable ASCII without escapes; integers without fraction or exponent
// that fit the field; null for any field (left zero, as encoding/json
// leaves it); raw values in canonical form. It reports whether it did;
// otherwise it changed nothing.
func decodeTree(raw []byte, v reflect.Value, p *treePlan) bool {
	if !v.IsZero() {
		return false // encoding/json merges into what v holds; leave that to it
	}
	tmp := reflect.New(v.Type()).Elem()
	end, ok := p.object(raw, 0, tmp)
	if !ok || end != len(raw) {
		return false
	}
	v.Set(tmp)
	return true
}

// object decodes the object at raw[i] into v and returns the index after it.
func (p *treePlan) object(raw []byte, i int, v reflect.Value) (int, bool) {
	if i+1 >= len(raw) || raw[i] != '{' {
		return 0, false
	}
	i++
	if raw[i] == '}' {
		return i + 1, true
	}
	var seen uint64
	for {
		key, next, ok := PlainString(raw, i)
		if !ok || next+1 >= len(raw) || raw[next] != ':' {
			return 0, false
		}
		f, known := p.fields[string(key)]
		if !known || seen&(1<<f.index) != 0 {
			return 0, false
		}
		seen |= 1 << f.index
		if next, ok = f.value(raw, next+1, v.Field(f.index)); !ok || next >= len(raw) {
			return 0, false
		}
		switch raw[next] {
		case ',':
			i = next + 1
		case '}':
			return next + 1, true
		default:
			return 0, false
		}
	}
}

// value decodes the field value at raw[i] into fv (zero) and returns the
// index after it.
func (f treeField) value(raw []byte, i int, fv reflect.Value) (int, bool) {
	if end, ok := canonLiteral(raw, i, "null"); ok {
		return end, true // encoding/json leaves the field as it is: zero
	}
	switch f.kind {
	case treeString:
		s, next, ok := PlainString(raw, i)
		if ok {
			fv.SetString(string(s))
		}
		return next, ok
	case treeTime:
		_, next, ok := PlainString(raw, i)
		if !ok {
			return 0, false
		}
		var at time.Time
		if at.UnmarshalJSON(raw[i:next]) != nil {
			return 0, false
		}
		fv.Set(reflect.ValueOf(at))
		return next, true
	case treeInt, treeIntPtr:
		end := plainInt(raw, i)
		if end < 0 {
			return 0, false
		}
		n, err := strconv.ParseInt(string(raw[i:end]), 10, 64)
		if err != nil {
			return 0, false
		}
		if f.kind == treeIntPtr {
			fv.Set(reflect.ValueOf(&n))
			return end, true
		}
		if fv.OverflowInt(n) {
			return 0, false
		}
		fv.SetInt(n)
		return end, true
	}
	// The list kinds.
	var end int
	var ok bool
	switch f.kind {
	case treeStrings:
		strs := []string{}
		end, ok = elements(raw, i, func(j int) (int, bool) {
			s, next, ok := PlainString(raw, j)
			strs = append(strs, string(s))
			return next, ok
		})
		if ok {
			fv.Set(reflect.ValueOf(strs))
		}
	case treeRaws:
		vals := []json.RawMessage{}
		end, ok = elements(raw, i, func(j int) (int, bool) {
			next, ok := CanonicalValue(raw, j)
			if ok {
				vals = append(vals, append(json.RawMessage(nil), raw[j:next]...))
			}
			return next, ok
		})
		if ok {
			fv.Set(reflect.ValueOf(vals))
		}
	case treeStructs:
		list := reflect.MakeSlice(fv.Type(), 0, 4)
		end, ok = elements(raw, i, func(j int) (int, bool) {
			elem := reflect.New(fv.Type().Elem()).Elem()
			next, ok := f.elem.object(raw, j, elem)
			list = reflect.Append(list, elem)
			return next, ok
		})
		if ok {
			fv.Set(list)
		}
	}
	return end, ok
}

// elements calls each for every element of the JSON array at raw[i], with
// the index of the element's first byte; each returns the index after the
// element. elements returns the index after the array.
func elements(raw []byte, i int, each func(int) (int, bool)) (int, bool) {
	if i+1 >= len(raw) || raw[i] != '[' {
		return 0, false
	}
	i++
	if raw[i] == ']' {
		return i + 1, true
	}
	for i < len(raw) {
		next, ok := each(i)
		if !ok || next >= len(raw) {
			return 0, false
		}
		switch raw[next] {
		case ']':
			return next + 1, true
		case ',':
			i = next + 1
		default:
			return 0, false
		}
	}
	return 0, false
}

// plainInt returns the index after the integer -?(0|[1-9][0-9]*) at raw[i]
// when no fraction or exponent follows it, else -1.
func plainInt(raw []byte, i int) int {
	j := i
	if j < len(raw) && raw[j] == '-' {
		j++
	}
	start := j
	for j < len(raw) && raw[j] >= '0' && raw[j] <= '9' {
		j++
	}
	switch {
	case j == start, raw[start] == '0' && j > start+1:
		return -1
	case j < len(raw) && (raw[j] == '.' || raw[j] == 'e' || raw[j] == 'E'):
		return -1
	}
	return j
}

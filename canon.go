package carechain

import (
	"bytes"
	"slices"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// Canonical returns the RFC 8785 (JCS) canonical form of the JSON value b,
// or an error if b is not JSON. When IsCanonical(b) — as it is for every
// signed body and request, which are canonical by rule — b itself is
// returned after one pass that allocates nothing; when only the order of
// object members keeps it from that form (json.Marshal of a struct),
// sortMembers reorders them in one more pass; otherwise the answer is
// github.com/gowebpki/jcs's Transform. Either way the result is exactly
// what jcs.Transform(b) returns.
func Canonical(b []byte) ([]byte, error) {
	if IsCanonical(b) {
		return b, nil
	}
	if out, end, ok := sortMembers(make([]byte, 0, len(b)), b, 0, 0); ok && end == len(b) {
		return out, nil
	}
	return jcs.Transform(b)
}

// sortMembers appends to dst the canonical form of the JSON value at b[i]
// when that value meets IsCanonical's rules except for the order of object
// members — as json.Marshal writes a struct without HTML characters — and
// returns dst, the index after the value and true; it sorts the members of
// every object (RFC 8785 order; keys are sortableKey). A duplicate key, or
// any value IsCanonical could not judge, gives false, and the caller asks
// jcs. FuzzIsCanonical checks Canonical against jcs.Transform.
func sortMembers(dst, b []byte, i, depth int) ([]byte, int, bool) {
	if i >= len(b) {
		return dst, i, false
	}
	switch b[i] {
	case '{':
		return sortObject(dst, b, i+1, depth+1)
	case '[':
		if depth+1 > canonMaxDepth {
			return dst, i, false
		}
		dst = append(dst, '[')
		i++
		if i < len(b) && b[i] == ']' {
			return append(dst, ']'), i + 1, true
		}
		for {
			var ok bool
			if dst, i, ok = sortMembers(dst, b, i, depth+1); !ok || i >= len(b) {
				return dst, i, false
			}
			dst = append(dst, b[i])
			switch b[i] {
			case ',':
				i++
			case ']':
				return dst, i + 1, true
			default:
				return dst, i, false
			}
		}
	}
	end, ok := canonValue(b, i, depth)
	if !ok {
		return dst, i, false
	}
	return append(dst, b[i:end]...), end, true
}

// sortObject is sortMembers for an object, from just after its '{'.
func sortObject(dst, b []byte, i, depth int) ([]byte, int, bool) {
	if depth > canonMaxDepth {
		return dst, i, false
	}
	if i < len(b) && b[i] == '}' {
		return append(dst, '{', '}'), i + 1, true
	}
	// Each member is written to dst as it comes ("key":value, no
	// separator); spans locates them and their keys by offset, as dst may
	// move while it grows.
	type member struct{ key, end int } // key: offset of the key's opening quote
	var spans [16]member
	ms := spans[:0]
	start := len(dst)
	sorted := true
	for {
		if i >= len(b) || b[i] != '"' {
			return dst, i, false
		}
		end, ok := canonString(b, i+1)
		if !ok || !sortableKey(b[i+1:end-1]) || end >= len(b) || b[end] != ':' {
			return dst, i, false
		}
		k := len(dst)
		dst = append(dst, b[i:end+1]...)
		if dst, i, ok = sortMembers(dst, b, end+1, depth); !ok || i >= len(b) {
			return dst, i, false
		}
		if len(ms) > 0 {
			prev := ms[len(ms)-1]
			if c := compareKeys(dst, prev.key, k); c == 0 {
				return dst, i, false
			} else if c > 0 {
				sorted = false
			}
		}
		ms = append(ms, member{k, len(dst)})
		if b[i] == '}' {
			i++
			break
		}
		if b[i] != ',' {
			return dst, i, false
		}
		i++
	}
	// Write {members in key order, separated by ','} in place of the
	// members as they came.
	order := make([]int, len(ms))
	for j := range order {
		order[j] = j
	}
	if !sorted {
		slices.SortFunc(order, func(x, y int) int { return compareKeys(dst, ms[x].key, ms[y].key) })
		for j := 1; j < len(order); j++ {
			if compareKeys(dst, ms[order[j-1]].key, ms[order[j]].key) == 0 {
				return dst, i, false
			}
		}
	}
	out := make([]byte, 0, len(dst)-start+len(ms)+1)
	out = append(out, '{')
	for j, m := range order {
		if j > 0 {
			out = append(out, ',')
		}
		out = append(out, dst[ms[m].key:ms[m].end]...)
	}
	out = append(out, '}')
	return append(dst[:start], out...), i, true
}

// compareKeys compares the keys of the members written at offsets x and y
// of dst (each a '"' then the key, canonString-valid and sortableKey).
func compareKeys(dst []byte, x, y int) int {
	kx := dst[x+1 : x+1+bytes.IndexByte(dst[x+1:], '"')]
	ky := dst[y+1 : y+1+bytes.IndexByte(dst[y+1:], '"')]
	return bytes.Compare(kx, ky)
}

// IsCanonical reports whether b is certainly RFC 8785 canonical JSON, that
// is whether jcs.Transform(b) would succeed and return b unchanged. It
// answers true only for a form it can judge in one byte scan: no
// whitespace; object keys without escapes and without characters from
// U+E000 up (so UTF-8 byte order is the UTF-16 order RFC 8785 sorts by) in
// strictly increasing order; strings of valid UTF-8 with exactly the
// escapes JCS writes; integers of at most 15 digits without a fraction or
// exponent; nesting at most canonMaxDepth deep. false means "not known":
// the caller asks jcs (Canonical does). FuzzIsCanonical checks it against
// jcs.Transform.
func IsCanonical(b []byte) bool {
	end, ok := CanonicalValue(b, 0)
	return ok && end == len(b)
}

// CanonicalValue scans the one JSON value starting at b[i] under the rules
// of IsCanonical and returns the index just past it; ok is false when the
// value is not certainly canonical (or not JSON).
func CanonicalValue(b []byte, i int) (end int, ok bool) { return canonValue(b, i, 0) }

// canonMaxDepth bounds the nesting IsCanonical follows; deeper documents
// are left to jcs.
const canonMaxDepth = 256

func canonValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '{':
		return canonObject(b, i+1, depth+1)
	case c == '[':
		return canonArray(b, i+1, depth+1)
	case c == '"':
		return canonString(b, i+1)
	case c == 't':
		return canonLiteral(b, i, "true")
	case c == 'f':
		return canonLiteral(b, i, "false")
	case c == 'n':
		return canonLiteral(b, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return canonNumber(b, i)
	}
	return i, false
}

// canonObject scans an object's members from just after its '{'.
func canonObject(b []byte, i, depth int) (int, bool) {
	if depth > canonMaxDepth {
		return i, false
	}
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	var prev []byte
	for first := true; ; first = false {
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		end, ok := canonString(b, i+1)
		if !ok {
			return i, false
		}
		key := b[i+1 : end-1]
		if !sortableKey(key) || !first && bytes.Compare(prev, key) >= 0 {
			return i, false
		}
		prev = key
		if end >= len(b) || b[end] != ':' {
			return end, false
		}
		if i, ok = canonValue(b, end+1, depth); !ok || i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

// sortableKey reports whether a key's raw bytes sort as RFC 8785 sorts
// keys (by UTF-16 code units): true when it has no escapes and no
// character from U+E000 up (UTF-8 lead bytes 0xEE and above).
func sortableKey(key []byte) bool {
	for _, c := range key {
		if c == '\\' || c >= 0xEE {
			return false
		}
	}
	return true
}

// canonArray scans an array's elements from just after its '['.
func canonArray(b []byte, i, depth int) (int, bool) {
	if depth > canonMaxDepth {
		return i, false
	}
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = canonValue(b, i, depth); !ok || i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i++
		case ']':
			return i + 1, true
		default:
			return i, false
		}
	}
}

// canonString scans a string from just after its opening quote and
// returns the index just past the closing one. JCS writes \" \\ \b \f \n
// \r \t, \u00xx (lowercase) for the other control characters, and every
// other character as itself.
func canonString(b []byte, i int) (int, bool) {
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || b[i+2] != '0' || b[i+3] != '0' || (b[i+4] != '0' && b[i+4] != '1') {
					return i, false
				}
				lo := b[i+5]
				var v byte
				switch {
				case lo >= '0' && lo <= '9':
					v = lo - '0'
				case lo >= 'a' && lo <= 'f':
					v = lo - 'a' + 10
				default:
					return i, false
				}
				v += (b[i+4] - '0') << 4
				if v == '\b' || v == '\t' || v == '\n' || v == '\f' || v == '\r' {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		case c < 0x20:
			return i, false
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				return i, false
			}
			i += size
		}
	}
	return i, false
}

// canonNumber scans an integer of at most 15 digits (exactly representable,
// so JCS writes it digit for digit); "-0", fractions and exponents are
// left to jcs.
func canonNumber(b []byte, i int) (int, bool) {
	j := i
	if b[j] == '-' {
		j++
		if j >= len(b) || b[j] < '1' || b[j] > '9' {
			return i, false
		}
	}
	if b[j] == '0' {
		j++
	} else {
		start := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j-start > 15 {
			return i, false
		}
	}
	if j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E' || b[j] >= '0' && b[j] <= '9') {
		return i, false
	}
	return j, true
}

func canonLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

package fhir

import (
	"bytes"
	"encoding/json"
	"slices"
	"sync"
	"unicode/utf8"

	cc "carechain"
)

// rewriteFast is targets.rewrite's fast path, for the plain form a
// resource almost always has: strings without escape sequences or control
// characters (valid UTF-8 without U+2028 and U+2029), object keys that
// are such strings and unique, any JSON whitespace between tokens, at most
// rewriteMaxDepth levels. It writes in one scan of the bytes what the
// general path writes after decoding the resource into maps and encoding
// it again — members in key order, no whitespace, numbers and strings as
// they were written, the top-level "id" set to id and every string
// "reference" member resolved — and returns ok false, having decided
// nothing, for anything else, including a reference that does not resolve,
// so that the general path decides and words the issues.
// FuzzRewriteFastMatchesGeneral checks that whatever it returns the
// general path returns too, and TestRewriteFastSynthea that it takes
// Synthea's resources.
//
// It also returns the output's top-level members, as resourceObject would
// decode them, for describe.
func (t *targets) rewriteFast(raw []byte, id string) ([]byte, map[string]json.RawMessage, bool) {
	if !plainText(id) {
		return nil, nil, false
	}
	w := rewriters.Get().(*rewriter)
	defer w.release()
	w.t, w.in, w.id = t, raw, id
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, nil, false
	}
	end, ok := w.object(i+1, 1)
	if !ok || skipSpace(raw, end) != len(raw) {
		return nil, nil, false
	}
	b := bytes.Clone(w.out)
	top := make(map[string]json.RawMessage, len(w.top))
	for _, m := range w.top {
		top[string(m.key)] = b[m.start:m.end:m.end]
	}
	return b, top, true
}

// rewriteMaxDepth bounds the nesting rewriteFast follows.
const rewriteMaxDepth = 100

// rewriter is rewriteFast's state; its buffers are reused.
type rewriter struct {
	t       *targets
	in      []byte
	id      string
	out     []byte          // the output so far
	members []writtenMember // the members of the objects being written, innermost last
	top     []writtenMember // the top-level members, where they are in the output
	sorted  []byte          // scratch for an object's members in key order
}

// writtenMember is an object member being written: its key (in the input) and
// its value's bytes in out.
type writtenMember struct {
	key        []byte
	start, end int
}

var rewriters = sync.Pool{New: func() any { return &rewriter{} }}

func (w *rewriter) release() {
	const keep = 1 << 20 // do not pool one huge resource's buffers
	if cap(w.out) > keep || cap(w.sorted) > keep {
		return
	}
	w.t, w.in, w.out, w.members, w.top, w.sorted = nil, nil, w.out[:0], w.members[:0], w.top[:0], w.sorted[:0]
	rewriters.Put(w)
}

// object writes the object whose members start after its '{' at i and
// returns the index after its '}'.
func (w *rewriter) object(i, depth int) (int, bool) {
	if depth > rewriteMaxDepth {
		return i, false
	}
	in := w.in
	base := len(w.members)
	start := len(w.out)
	top := depth == 1
	hasID := false
	i = skipSpace(in, i)
	if i < len(in) && in[i] == '}' {
		i++
	} else {
		for {
			if i >= len(in) || in[i] != '"' {
				return i, false
			}
			kEnd, ok := plainString(in, i+1)
			if !ok {
				return i, false
			}
			key := in[i+1 : kEnd]
			i = skipSpace(in, kEnd+1)
			if i >= len(in) || in[i] != ':' {
				return i, false
			}
			i = skipSpace(in, i+1)
			vStart := len(w.out)
			switch {
			case top && string(key) == "id":
				hasID = true
				end, ok := w.value(i, depth) // checked, then replaced
				if !ok {
					return i, false
				}
				i = end
				w.out = appendQuoted(w.out[:vStart], w.id)
			case string(key) == "reference" && i < len(in) && in[i] == '"':
				end, ok := plainString(in, i+1)
				if !ok {
					return i, false
				}
				ref, is := w.t.resolve(string(in[i+1:end]), "")
				if is != nil || !plainText(ref) {
					return i, false
				}
				i = end + 1
				w.out = appendQuoted(w.out, ref)
			default:
				end, ok := w.value(i, depth)
				if !ok {
					return i, false
				}
				i = end
			}
			w.members = append(w.members, writtenMember{key: key, start: vStart, end: len(w.out)})
			i = skipSpace(in, i)
			if i >= len(in) {
				return i, false
			}
			if in[i] == '}' {
				i++
				break
			}
			if in[i] != ',' {
				return i, false
			}
			i = skipSpace(in, i+1)
		}
	}
	if top && !hasID {
		vStart := len(w.out)
		w.out = appendQuoted(w.out, w.id)
		w.members = append(w.members, writtenMember{key: []byte("id"), start: vStart, end: len(w.out)})
	}
	ms := w.members[base:]
	slices.SortFunc(ms, func(a, b writtenMember) int { return bytes.Compare(a.key, b.key) })
	for k := 1; k < len(ms); k++ {
		if bytes.Equal(ms[k-1].key, ms[k].key) {
			return i, false // the general path keeps the last; leave it to it
		}
	}
	s := append(w.sorted[:0], '{')
	for k, m := range ms {
		if k > 0 {
			s = append(s, ',')
		}
		s = append(s, '"')
		s = append(s, m.key...)
		s = append(s, '"', ':')
		if top { // the top-level object starts the output: offsets in s hold
			w.top = append(w.top, writtenMember{key: m.key, start: len(s), end: len(s) + m.end - m.start})
		}
		s = append(s, w.out[m.start:m.end]...)
	}
	s = append(s, '}')
	w.sorted = s
	w.out = append(w.out[:start], s...)
	w.members = w.members[:base]
	return i, true
}

// value writes the value at i (no leading whitespace) and returns the
// index after it.
func (w *rewriter) value(i, depth int) (int, bool) {
	in := w.in
	if i >= len(in) {
		return i, false
	}
	switch c := in[i]; {
	case c == '{':
		return w.object(i+1, depth+1)
	case c == '[':
		return w.array(i+1, depth+1)
	case c == '"':
		end, ok := plainString(in, i+1)
		if !ok {
			return i, false
		}
		w.out = append(w.out, in[i:end+1]...)
		return end + 1, true
	case c == 't':
		return w.literal(i, "true")
	case c == 'f':
		return w.literal(i, "false")
	case c == 'n':
		return w.literal(i, "null")
	case c == '-' || c >= '0' && c <= '9':
		end, ok := cc.ScanNumber(in, i)
		if !ok {
			return i, false
		}
		w.out = append(w.out, in[i:end]...)
		return end, true
	}
	return i, false
}

func (w *rewriter) literal(i int, lit string) (int, bool) {
	if !bytes.HasPrefix(w.in[i:], []byte(lit)) {
		return i, false
	}
	w.out = append(w.out, lit...)
	return i + len(lit), true
}

// array writes the array whose elements start after its '[' at i.
func (w *rewriter) array(i, depth int) (int, bool) {
	if depth > rewriteMaxDepth {
		return i, false
	}
	in := w.in
	w.out = append(w.out, '[')
	i = skipSpace(in, i)
	if i < len(in) && in[i] == ']' {
		w.out = append(w.out, ']')
		return i + 1, true
	}
	for {
		end, ok := w.value(i, depth)
		if !ok {
			return i, false
		}
		i = skipSpace(in, end)
		if i >= len(in) {
			return i, false
		}
		if in[i] == ']' {
			w.out = append(w.out, ']')
			return i + 1, true
		}
		if in[i] != ',' {
			return i, false
		}
		w.out = append(w.out, ',')
		i = skipSpace(in, i+1)
	}
}

// plainString returns the index of the '"' closing the string whose
// content starts at i, if the content is plain: no backslash, no control
// character, valid UTF-8 without U+2028 or U+2029 (which encoders escape).
func plainString(b []byte, i int) (int, bool) {
	start := i
	ascii := true
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			if !ascii && !plainUTF8(b[start:i]) {
				return i, false
			}
			return i, true
		case c == '\\' || c < 0x20:
			return i, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return i, false
}

// plainUTF8 reports whether b is valid UTF-8 without U+2028 and U+2029.
func plainUTF8(b []byte) bool {
	return utf8.Valid(b) && !bytes.Contains(b, []byte("\u2028")) && !bytes.Contains(b, []byte("\u2029"))
}

// plainText reports whether s can be written between quotes as it is.
func plainText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' || c < 0x20 {
			return false
		}
	}
	return plainUTF8([]byte(s))
}

func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

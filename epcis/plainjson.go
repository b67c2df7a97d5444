package epcis

import (
	"encoding/json"
	"unicode/utf8"

	cc "carechain"
)

// decodePlain decodes a JSON document in plain form into the value that
// encoding/json's Decoder with UseNumber gives (map[string]any, []any,
// string, json.Number, bool, nil; a repeated member's last value wins), in
// one pass and without the Decoder's reflection and token state: 1.9 ms
// instead of 4.3 for a capture document of 500 events (BenchmarkDecodeJSON),
// where encoding/json was a third of parsing it. Plain means: strings without escapes or control
// characters and in valid UTF-8, numbers in JSON's grammar, nesting at most
// maxPlainDepth, and nothing but whitespace after the value. It reports
// false for anything else — a document that is not JSON included — and
// decodeJSON then uses encoding/json, which words every error.
// FuzzDecodePlain checks that whatever decodePlain decodes, encoding/json
// decodes to the same value.
func decodePlain(b []byte) (any, bool) {
	p := plainParser{b: b, names: make(map[string]any, 64)}
	v, ok := p.value(0)
	if !ok {
		return nil, false
	}
	p.space()
	return v, p.i == len(b)
}

// maxPlainDepth bounds the nesting decodePlain follows (encoding/json's
// own limit is 10,000; EPCIS documents nest a few levels).
const maxPlainDepth = 64

// plainParser is decodePlain's position in its input.
type plainParser struct {
	b []byte
	i int
	// names interns member names and short strings: a document repeats
	// the same few dozen ("type", "eventTime", "ObjectEvent"…) in every
	// event, and a lookup by the bytes allocates nothing.
	names map[string]any
}

// internMax is the longest string value interned.
const internMax = 24

// space skips JSON whitespace.
func (p *plainParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// value decodes the value at p.i (after whitespace).
func (p *plainParser) value(depth int) (any, bool) {
	p.space()
	if p.i >= len(p.b) || depth > maxPlainDepth {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.strValue()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, false
}

// object decodes an object; p.i is at '{'.
func (p *plainParser) object(depth int) (any, bool) {
	p.i++
	m := map[string]any{}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return m, true
	}
	for {
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, false
		}
		kb, ok := p.raw()
		if !ok {
			return nil, false
		}
		k, _ := p.intern(kb).(string)
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, false
		}
		p.i++
		v, ok := p.value(depth + 1)
		if !ok {
			return nil, false
		}
		m[k] = v
		if done, ok := p.next('}'); !ok || done {
			return m, ok
		}
	}
}

// next consumes the ',' or the closing delimiter after a member or
// element: done when it was close, ok false when it was neither.
func (p *plainParser) next(close byte) (done, ok bool) {
	p.space()
	if p.i >= len(p.b) {
		return false, false
	}
	switch p.b[p.i] {
	case ',':
		p.i++
		return false, true
	case close:
		p.i++
		return true, true
	}
	return false, false
}

// array decodes an array; p.i is at '['.
func (p *plainParser) array(depth int) (any, bool) {
	p.i++
	out := []any{}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return out, true
	}
	for {
		v, ok := p.value(depth + 1)
		if !ok {
			return nil, false
		}
		out = append(out, v)
		if done, ok := p.next(']'); !ok || done {
			return out, ok
		}
	}
}

// strValue decodes a string value, as an interned any when it is short.
func (p *plainParser) strValue() (any, bool) {
	b, ok := p.raw()
	if !ok {
		return nil, false
	}
	if len(b) <= internMax {
		return p.intern(b), true
	}
	return string(b), true
}

// intern returns the string of b, boxed, shared by every equal b.
func (p *plainParser) intern(b []byte) any {
	if v, ok := p.names[string(b)]; ok {
		return v
	}
	s := string(b)
	var v any = s
	p.names[s] = v
	return v
}

// raw returns the bytes of a string without escapes; p.i is at its opening
// quote.
func (p *plainParser) raw() ([]byte, bool) {
	start := p.i + 1
	ascii := true
	for j := start; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			s := p.b[start:j]
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			p.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, false
}

// number decodes a number in JSON's grammar as a json.Number of its text.
func (p *plainParser) number() (any, bool) {
	end, ok := cc.ScanNumber(p.b, p.i)
	if !ok {
		return nil, false
	}
	n := json.Number(p.b[p.i:end])
	p.i = end
	return n, true
}

// literal consumes the literal lit at p.i.
func (p *plainParser) literal(lit string) bool {
	if len(p.b)-p.i < len(lit) || string(p.b[p.i:p.i+len(lit)]) != lit {
		return false
	}
	p.i += len(lit)
	return true
}

package fhir

import (
	"encoding/json"
	"unicode/utf8"

	cc "carechain"
)

// scanner reads JSON bytes in place, strictly (RFC 8259): quickValid
// checks resources with it and splitObject splits objects without copying.
type scanner struct {
	b []byte
	i int
}

// maxSplitDepth bounds the nesting splitObject and splitArray check
// (deeper input takes the general decoder).
const maxSplitDepth = 256

// ws skips JSON whitespace; it returns true so checks chain with &&.
func (c *scanner) ws() bool {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return true
		}
	}
	return true
}

// eat consumes byte ch (after whitespace).
func (c *scanner) eat(ch byte) bool {
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == ch {
		c.i++
		return true
	}
	return false
}

// peek returns the next byte after whitespace (0 at the end).
func (c *scanner) peek() byte {
	c.ws()
	if c.i < len(c.b) {
		return c.b[c.i]
	}
	return 0
}

// str reads a JSON string at c.i and returns its raw content (escapes
// not decoded) and whether it holds escapes. Control characters, invalid
// escapes and invalid UTF-8 fail.
func (c *scanner) str() (raw []byte, esc, ok bool) {
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		return nil, false, false
	}
	start := c.i + 1
	ascii := true
	for i := start; i < len(c.b); i++ {
		switch ch := c.b[i]; {
		case ch == '"':
			c.i = i + 1
			raw = c.b[start:i]
			return raw, esc, ascii || utf8.Valid(raw)
		case ch == '\\':
			if i+1 >= len(c.b) {
				return nil, false, false
			}
			switch c.b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 >= len(c.b) || !isHex(c.b[i+2]) || !isHex(c.b[i+3]) || !isHex(c.b[i+4]) || !isHex(c.b[i+5]) {
					return nil, false, false
				}
				i += 5
			default:
				return nil, false, false
			}
			esc = true
		case ch < 0x20:
			return nil, false, false
		case ch >= 0x80:
			ascii = false
		}
	}
	return nil, false, false
}

// literal consumes lit if it is the next token.
func (c *scanner) literal(lit string) bool {
	if len(c.b)-c.i >= len(lit) && string(c.b[c.i:c.i+len(lit)]) == lit {
		c.i += len(lit)
		return c.i == len(c.b) || delimiter(c.b[c.i])
	}
	return false
}

// name reads an object member's name, which must need no unescaping,
// and the colon after it.
func (c *scanner) name() ([]byte, bool) {
	c.ws()
	key, esc, ok := c.str()
	return key, ok && !esc && c.eat(':')
}

// next reads what follows an element of a list closed by closer: a comma
// (more) or the closer itself; anything else fails.
func (c *scanner) next(closer byte) (more, ok bool) {
	switch c.peek() {
	case ',':
		c.i++
		return true, true
	case closer:
		c.i++
		return false, true
	}
	return false, false
}

func delimiter(ch byte) bool {
	switch ch {
	case ',', '}', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// jsonNumber consumes a JSON number (carechain.ScanNumber's grammar) that
// a delimiter or the end follows.
func (c *scanner) jsonNumber() bool {
	end, ok := cc.ScanNumber(c.b, c.i)
	if !ok || end < len(c.b) && !delimiter(c.b[end]) {
		return false
	}
	c.i = end
	return true
}

// value consumes one JSON value, checking it strictly.
func (c *scanner) value(depth int) bool {
	if depth > maxSplitDepth {
		return false
	}
	switch c.peek() {
	case '"':
		_, _, ok := c.str()
		return ok
	case '{':
		c.i++
		if c.peek() == '}' {
			c.i++
			return true
		}
		for {
			c.ws()
			if _, _, ok := c.str(); !ok || !c.eat(':') || !c.value(depth+1) {
				return false
			}
			if more, ok := c.next('}'); !more {
				return ok
			}
		}
	case '[':
		c.i++
		if c.peek() == ']' {
			c.i++
			return true
		}
		for {
			if !c.value(depth + 1) {
				return false
			}
			if more, ok := c.next(']'); !more {
				return ok
			}
		}
	case 't':
		return c.literal("true")
	case 'f':
		return c.literal("false")
	case 'n':
		return c.literal("null")
	}
	return c.jsonNumber()
}

// splitObject returns the members of the JSON object b as raw values
// that alias b (their capacity capped, so an append copies), when b is
// strictly valid JSON with keys that need no unescaping and none twice;
// otherwise ok is false and the caller decodes b the general way (which
// words any error). Each value is trimmed of whitespace.
func splitObject(b []byte) (members map[string]json.RawMessage, ok bool) {
	c := scanner{b: b}
	if !c.eat('{') {
		return nil, false
	}
	members = map[string]json.RawMessage{}
	if c.peek() == '}' {
		c.i++
		return members, c.ws() && c.i == len(c.b)
	}
	for {
		key, ok := c.name()
		if !ok {
			return nil, false
		}
		if _, dup := members[string(key)]; dup {
			return nil, false
		}
		c.ws()
		start := c.i
		if !c.value(1) {
			return nil, false
		}
		members[string(key)] = b[start:c.i:c.i]
		if more, ok := c.next('}'); !more {
			return members, ok && c.ws() && c.i == len(c.b)
		}
	}
}

// splitArray returns the elements of the JSON array b as raw values that
// alias b (capacity capped), when b is strictly valid JSON; otherwise ok
// is false.
func splitArray(b []byte) (elems []json.RawMessage, ok bool) {
	c := scanner{b: b}
	if !c.eat('[') {
		return nil, false
	}
	if c.peek() == ']' {
		c.i++
		return []json.RawMessage{}, c.ws() && c.i == len(c.b)
	}
	for {
		c.ws()
		start := c.i
		if !c.value(1) {
			return nil, false
		}
		elems = append(elems, b[start:c.i:c.i])
		if more, ok := c.next(']'); !more {
			return elems, ok && c.ws() && c.i == len(c.b)
		}
	}
}

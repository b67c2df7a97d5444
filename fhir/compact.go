package fhir

import cc "carechain"

// compactForm reports, in one pass, whether b is exactly one JSON value,
// valid as json.Valid judges it, with no whitespace outside strings (ok:
// json.Compact would return b unchanged), and whether its strings hold
// characters json.Marshal escapes for HTML ('<', '>', '&', U+2028,
// U+2029; escape). ok false means "not known": the caller checks the slow
// way (nesting deeper than compactMaxDepth, too).
func compactForm(b []byte) (ok, escape bool) {
	s := compactScan{b: b}
	end, ok := s.value(0, 0)
	return ok && end == len(b), s.escape
}

// compactScan is compactForm's scanner.
type compactScan struct {
	b      []byte
	escape bool // an HTML character was seen in a string
}

const compactMaxDepth = 1000

func (s *compactScan) value(i, depth int) (int, bool) {
	b := s.b
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '{':
		return s.object(i+1, depth+1)
	case c == '[':
		return s.array(i+1, depth+1)
	case c == '"':
		return s.str(i + 1)
	case c == 't':
		return compactLiteral(b, i, "true")
	case c == 'f':
		return compactLiteral(b, i, "false")
	case c == 'n':
		return compactLiteral(b, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return cc.ScanNumber(b, i)
	}
	return i, false
}

func (s *compactScan) object(i, depth int) (int, bool) {
	b := s.b
	if depth > compactMaxDepth {
		return i, false
	}
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		var ok bool
		if i, ok = s.str(i + 1); !ok || i >= len(b) || b[i] != ':' {
			return i, false
		}
		if i, ok = s.value(i+1, depth); !ok || i >= len(b) {
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

func (s *compactScan) array(i, depth int) (int, bool) {
	b := s.b
	if depth > compactMaxDepth {
		return i, false
	}
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = s.value(i, depth); !ok || i >= len(b) {
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

// compactString scans a string from just after its opening quote.
func (s *compactScan) str(i int) (int, bool) {
	b := s.b
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		case c < 0x20:
			return i, false
		case c == '<', c == '>', c == '&', c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && b[i+2]&^1 == 0xA8: // U+2028, U+2029
			s.escape = true
			i++
		default:
			i++
		}
	}
	return i, false
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func compactLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

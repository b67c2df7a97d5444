package fhir

import (
	"bytes"
	"encoding/base64"
	"math"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// quickValid reports whether google/fhir/go's validating R4 unmarshal
// would accept the resource b without a single issue, in one pass over the
// bytes with the library's compiled schema (schema.go) instead of the
// library's decoding of every level into maps and protobuf messages and
// its second walk over them (~250 µs for a Synthea resource; this ~10).
//
// true is a promise: the library accepts b. false only means "ask the
// library": quickValid declines whatever it does not follow exactly — a
// key out of the schema, a duplicate key, an empty object or array, null,
// escapes in anything but text, primitive extensions ("_status"), an
// exponent, a fragment reference, a date with a negative year, nesting
// deeper than quickMaxDepth — and every problem, so the library alone
// words the OperationOutcome. It checks what the library checks: JSON
// syntax, member names, choice types taken once, required fields,
// primitive formats (the same regular expressions and time layouts, as
// code), value-set codes, and reference target types after the library's
// normalization. TestQuickValidAgrees and FuzzQuickValidSound hold it to
// the library.
func quickValid(b []byte) bool {
	c := quickPool.Get().(*quick)
	c.s, c.b, c.i = r4Schema(), b, 0
	ok := c.ws() && c.resource(0) && c.ws() && c.i == len(c.b)
	c.b = nil
	quickPool.Put(c)
	return ok
}

// quickMaxDepth bounds nesting well inside the library's MaxNestingDepth
// (its count of path segments is at most twice this).
const quickMaxDepth = 24

// maxStringSize is the library's limit on a string's length.
const maxStringSize = 1 << 20

type quick struct {
	scanner
	s    *schema
	uris map[string]bool // URIs url.Parse accepted (codings repeat their systems)
	buf  []byte          // base64 scratch
}

var quickPool = sync.Pool{New: func() any { return &quick{uris: map[string]bool{}} }}

// resource checks a resource object: its resourceType (found first, in
// any position) names the message its other members belong to.
func (c *quick) resource(depth int) bool {
	if depth > quickMaxDepth || !c.eat('{') {
		return false
	}
	start := c.i
	m := c.resourceType()
	if m == nil {
		return false
	}
	c.i = start
	return c.members(m, depth, nil, true)
}

// resourceType finds the resourceType member of the object at c.i (after
// its '{') and returns its message; nil if there is none or it is unknown.
func (c *quick) resourceType() *message {
	for {
		key, ok := c.name()
		if !ok {
			return nil
		}
		c.ws()
		if string(key) == "resourceType" {
			typ, esc, ok := c.str()
			if !ok || esc {
				return nil
			}
			return c.s.resources[string(typ)]
		}
		if !c.scanner.value(0) || !c.eat(',') {
			return nil
		}
	}
}

// object checks a JSON object of message m; ref is the member holding it
// when m is a Reference.
func (c *quick) object(m *message, depth int, ref *schemaField) bool {
	if depth > quickMaxDepth || !c.eat('{') || c.peek() == '}' {
		return false // an empty object is the library's to judge
	}
	return c.members(m, depth, ref, false)
}

// members checks an object's members up to and including its '}'; a
// resource's (res) include its resourceType once.
func (c *quick) members(m *message, depth int, ref *schemaField, res bool) bool {
	var seen [maxFields / 64]uint64
	typed := false
	for {
		key, ok := c.name()
		if !ok {
			return false
		}
		if res && string(key) == "resourceType" {
			c.ws()
			if _, _, ok := c.str(); !ok || typed {
				return false
			}
			typed = true
		} else {
			f := m.fields[string(key)]
			if f == nil || seen[f.index/64]&(1<<(f.index%64)) != 0 {
				return false // unknown, a duplicate, or a second choice
			}
			seen[f.index/64] |= 1 << (f.index % 64)
			if !c.value(f, depth+1, ref) {
				return false
			}
		}
		if more, ok := c.next('}'); !more {
			if !ok {
				return false
			}
			for _, r := range m.required {
				if seen[r/64]&(1<<(r%64)) == 0 {
					return false
				}
			}
			return true
		}
	}
}

// value checks member f's value: an array of elements if f repeats.
func (c *quick) value(f *schemaField, depth int, ref *schemaField) bool {
	if !f.repeated {
		return c.element(f, depth, ref)
	}
	if !c.eat('[') || c.peek() == ']' {
		return false
	}
	for {
		if !c.element(f, depth, ref) {
			return false
		}
		if more, ok := c.next(']'); !more {
			return ok
		}
	}
}

// element checks one value of member f.
func (c *quick) element(f *schemaField, depth int, ref *schemaField) bool {
	c.ws()
	switch f.kind {
	case pObject:
		if f.contained {
			return c.resource(depth + 1)
		}
		return c.object(f.msg, depth, f)
	case pBoolean:
		return c.literal("true") || c.literal("false")
	case pInteger, pPositiveInt, pUnsignedInt, pDecimal:
		return c.number(f.kind)
	}
	s, esc, ok := c.str()
	if !ok || f.nonEmpty && len(s) == 0 {
		return false
	}
	switch f.kind {
	case pString:
		return len(s) <= maxStringSize && (!esc || textEscapes(s, true))
	case pText:
		return !esc || textEscapes(s, false)
	}
	if esc {
		return false
	}
	switch f.kind {
	case pCode:
		return isCode(s)
	case pEnum:
		return f.codes[string(s)]
	case pID:
		return isID(s)
	case pOid, pUUID:
		return f.re.Match(s)
	case pURI:
		return c.uri(s)
	case pDate:
		return isDate(s)
	case pDateTime:
		return isDateTime(s)
	case pInstant:
		return isInstant(s)
	case pTime:
		return isTime(s)
	case pBase64:
		return c.base64(s)
	case pReference:
		return c.reference(s, ref)
	}
	return false
}

// textEscapes accepts the escapes of a string that decode to characters
// the library allows: \" \\ \/ \n \r \t, and for plain text (not String)
// any \u escape of a non-surrogate.
func textEscapes(s []byte, str bool) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		i++
		switch s[i] {
		case '"', '\\', '/', 'n', 'r', 't':
		case 'u':
			if str {
				return false
			}
			v, _ := strconv.ParseUint(string(s[i+1:i+5]), 16, 16)
			if v >= 0xD800 && v <= 0xDFFF {
				return false
			}
			i += 4
		default:
			return false
		}
	}
	return true
}

// number checks a JSON number of the given kind: integers without sign
// or leading zeros (a minus for Integer), decimals without exponent.
func (c *quick) number(kind primitive) bool {
	start := c.i
	if !c.jsonNumber() {
		return false
	}
	tok := c.b[start:c.i]
	switch {
	case bytes.ContainsAny(tok, "eE"):
		return false // an exponent: the library's to judge
	case kind == pDecimal:
		return true
	case bytes.IndexByte(tok, '.') >= 0, tok[0] == '-' && kind != pInteger, string(tok) == "-0":
		return false
	}
	v, err := strconv.ParseInt(string(tok), 10, 64)
	switch {
	case err != nil:
		return false
	case kind == pInteger:
		return v >= math.MinInt32 && v <= math.MaxInt32
	case kind == pPositiveInt:
		return v >= 1 && v <= math.MaxInt32
	default:
		return v >= 0 && v <= math.MaxInt32
	}
}

// isCode is the library's Code regex [^\s]+(\s[^\s]+)* for strings
// without escapes (so the only whitespace is a space).
func isCode(s []byte) bool {
	if len(s) == 0 || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] == ' ' && s[i-1] == ' ' {
			return false
		}
	}
	return true
}

// isID is the library's Id regex [A-Za-z0-9\-\.]{1,64}.
func isID(s []byte) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, ch := range s {
		if !(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '.') {
			return false
		}
	}
	return true
}

// uri accepts what url.Parse accepts, remembering accepted URIs.
func (c *quick) uri(s []byte) bool {
	if c.uris[string(s)] {
		return true
	}
	if _, err := url.Parse(string(s)); err != nil {
		return false
	}
	if len(c.uris) >= 4096 {
		clear(c.uris)
	}
	c.uris[string(s)] = true
	return true
}

// base64 accepts standard base64 without the library's space separators.
func (c *quick) base64(s []byte) bool {
	for _, ch := range s {
		if ch == ' ' {
			return false
		}
	}
	n := base64.StdEncoding.DecodedLen(len(s))
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	_, err := base64.StdEncoding.Decode(c.buf[:n], s)
	if cap(c.buf) > 1<<20 {
		c.buf = nil
	}
	return err == nil
}

// reference checks Reference.reference as the library normalizes and
// validates it: "Type/id" and "Type/id/_history/v" name a resource type
// (which the holding member must allow); anything else ("#fragment",
// "urn:uuid:…", a URL) stays a string.
func (c *quick) reference(s []byte, ref *schemaField) bool {
	if len(s) == 0 || len(s) > maxStringSize {
		return false
	}
	if s[0] == '#' {
		return true // a fragment: an untyped string
	}
	var slash [4]int
	n := 0
	for i, ch := range s {
		if ch == '/' {
			if n == len(slash) {
				return true // five parts or more: an untyped string
			}
			slash[n] = i
			n++
		}
	}
	typed := n == 1 || n == 3 && string(s[slash[1]+1:slash[2]]) == "_history"
	if !typed {
		return true
	}
	typ := string(s[:slash[0]])
	if !c.s.refTypes[typ] {
		return false // the library errs on some such types; leave them to it
	}
	if ref == nil || len(ref.refTypes) == 0 {
		return true
	}
	for _, t := range ref.refTypes {
		if t == typ || t == "Resource" {
			return true
		}
	}
	return false
}

// isDate is the library's date regex (without negative years) and time
// layouts: YYYY, YYYY-MM or YYYY-MM-DD, a real day.
func isDate(s []byte) bool {
	switch len(s) {
	case 4:
		return digits(s) && parses("2006", s)
	case 7:
		return digits(s[:4]) && s[4] == '-' && month(s[5:7]) && parses("2006-01", s)
	case 10:
		return digits(s[:4]) && s[4] == '-' && month(s[5:7]) && s[7] == '-' && day(s[8:10]) && parses("2006-01-02", s)
	}
	return false
}

// isDateTime is a date, or a date and time as isInstant.
func isDateTime(s []byte) bool {
	if len(s) <= 10 {
		return isDate(s)
	}
	return isInstant(s)
}

// isInstant is the library's instant regex (without negative years) and
// layouts: YYYY-MM-DDThh:mm:ss(.f+)?(Z|±hh:mm).
func isInstant(s []byte) bool {
	if len(s) < 20 || s[10] != 'T' || !isDate(s[:10]) || !clock(s[11:19]) {
		return false
	}
	i := 19
	if s[i] == '.' {
		i++
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	zone := s[i:]
	switch {
	case len(zone) == 1 && zone[0] == 'Z':
		return parses("2006-01-02T15:04:05Z", s)
	case len(zone) == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' && digits(zone[1:3]) && digits(zone[4:6]):
		h, m := twoDigits(zone[1:3]), twoDigits(zone[4:6])
		if !(h <= 13 && m <= 59 || h == 14 && m == 0) {
			return false
		}
		return parses("2006-01-02T15:04:05-07:00", s)
	}
	return false
}

// isTime is the library's time regex and layout: hh:mm:ss(.f+)?.
func isTime(s []byte) bool {
	if len(s) < 8 || !clock(s[:8]) {
		return false
	}
	if len(s) > 8 {
		if s[8] != '.' || len(s) == 9 || !digits(s[9:]) {
			return false
		}
	}
	return parses("15:04:05", s)
}

// clock is hh:mm:ss with hh 00–23, mm and ss 00–59.
func clock(s []byte) bool {
	return len(s) == 8 && digits(s[0:2]) && s[2] == ':' && digits(s[3:5]) && s[5] == ':' && digits(s[6:8]) &&
		twoDigits(s[0:2]) <= 23 && twoDigits(s[3:5]) <= 59 && twoDigits(s[6:8]) <= 59
}

func month(s []byte) bool { return digits(s) && twoDigits(s) >= 1 && twoDigits(s) <= 12 }
func day(s []byte) bool   { return digits(s) && twoDigits(s) >= 1 && twoDigits(s) <= 31 }

func twoDigits(s []byte) int { return int(s[0]-'0')*10 + int(s[1]-'0') }

func digits(s []byte) bool {
	for _, ch := range s {
		if ch < '0' || ch > '9' {
			return false
		}
	}
	return len(s) > 0
}

// parses reports whether time.Parse accepts s in layout, as the library
// requires after its regex.
func parses(layout string, s []byte) bool {
	_, err := time.Parse(layout, string(s))
	return err == nil
}

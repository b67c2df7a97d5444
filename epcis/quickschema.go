package epcis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The quick check. The official schema's validator (santhosh-tekuri's
// jsonschema) allocates a validator, a scope and evaluation records for
// every subschema it applies to every value; on a capture of hundreds of
// events that was the largest single cost of the EPCIS path (~60 µs per
// event). quickCheck evaluates the same embedded schema directly on the
// decoded document, without allocating on the way to a "valid" answer.
// It only ever decides that a document is valid: validateSchema still runs
// the library on any document quickCheck does not call valid, so every
// rejection, and every word of it, is the library's.
//
// quickCheck compiles the schema's own keywords (no transcription of its
// definitions): the draft-07 keywords the official schema uses — $ref
// (local "#/definitions/…"), type, enum (of strings), const-free
// properties / required / additionalProperties: false / propertyNames,
// items (one schema) / minItems / uniqueItems, allOf / anyOf / oneOf / not /
// if-then-else, pattern (through the same regexp engine, lookaheadRegexp)
// and format "uri" and "date-time". A subschema using anything else is
// "unknown", and an unknown outcome anywhere it matters makes the whole
// answer unknown, which sends the document to the library. Formats are
// decided by the library itself (a one-keyword schema compiled by the same
// compiler), except for the plain "scheme:opaque" URIs that EPCs, GLNs
// and CBV URNs are, which Go's URL parser always accepts as absolute
// (FuzzQuickURI checks that against the library).
//
// FuzzQuickCheck and TestQuickCheckAgrees compare quickCheck with the
// library on the official examples, the benchmark's documents and
// mutations of both.

// verdict is a three-valued outcome of applying a subschema.
type verdict uint8

const (
	vYes verdict = iota
	vNo
	vUnknown
)

// Type bits of a subschema's "type".
const (
	tObject uint8 = 1 << iota
	tArray
	tString
	tNumber
	tBoolean
	tNull
)

// Formats quickCheck knows.
const (
	fmtNone = iota
	fmtURI
	fmtDateTime
	unique // not a format: the one-keyword schema {"uniqueItems": true}
)

// qnode is one compiled subschema.
type qnode struct {
	unknown     bool // uses a keyword quickCheck does not evaluate
	always      int8 // boolean schema: 1 true, -1 false, 0 not boolean
	ref         *qnode
	types       uint8 // 0: any
	enum        map[string]struct{}
	hasEnum     bool
	props       map[string]*qnode
	noAdditions bool
	required    []string
	names       *qnode
	items       *qnode
	minItems    int
	unique      bool
	allOf       []*qnode
	anyOf       []*qnode
	oneOf       []*qnode
	not         *qnode
	ifN         *qnode
	thenN       *qnode
	elseN       *qnode
	pattern     jsonschema.Regexp
	format      int
}

// quickSchema is the compiled root of the embedded schema.
var quickSchema = sync.OnceValues(func() (*qnode, error) {
	var doc map[string]any
	if err := json.Unmarshal(schemaJSON, &doc); err != nil {
		return nil, err
	}
	defs, _ := doc["definitions"].(map[string]any)
	c := &qcompiler{defs: defs, done: map[string]*qnode{}}
	root := c.compile(doc)
	if c.err != nil {
		return nil, c.err
	}
	return root, nil
})

// qcompiler compiles schema objects into qnodes, each definition once.
type qcompiler struct {
	defs map[string]any
	done map[string]*qnode
	err  error
}

// annotations are keywords that assert nothing.
var annotations = map[string]bool{
	"$id": true, "$schema": true, "$comment": true, "title": true, "description": true,
	"default": true, "examples": true, "definitions": true, "readOnly": true, "writeOnly": true,
}

func (c *qcompiler) compile(s any) *qnode {
	n := &qnode{minItems: -1}
	switch s := s.(type) {
	case bool:
		n.always = -1
		if s {
			n.always = 1
		}
		return n
	case map[string]any:
		if r, ok := s["$ref"]; ok { // draft-07: $ref's siblings are ignored
			ref, _ := r.(string)
			n.ref = c.resolve(ref)
			if n.ref == nil {
				n.unknown = true
			}
			return n
		}
		for k, v := range s {
			if annotations[k] {
				continue
			}
			if !c.keyword(n, k, v) {
				n.unknown = true
			}
		}
		return n
	default:
		n.unknown = true
		return n
	}
}

// keyword compiles one keyword into n and reports whether it is known.
func (c *qcompiler) keyword(n *qnode, k string, v any) bool {
	switch k {
	case "type":
		switch t := v.(type) {
		case string:
			n.types = typeBit(t)
			return n.types != 0
		case []any:
			for _, x := range t {
				s, _ := x.(string)
				b := typeBit(s)
				if b == 0 {
					return false
				}
				n.types |= b
			}
			return len(t) > 0
		}
		return false
	case "enum":
		list, ok := v.([]any)
		if !ok {
			return false
		}
		n.hasEnum, n.enum = true, map[string]struct{}{}
		for _, x := range list {
			s, ok := x.(string)
			if !ok {
				return false
			}
			n.enum[s] = struct{}{}
		}
		return true
	case "properties":
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		n.props = map[string]*qnode{}
		for name, sub := range m {
			n.props[name] = c.compile(sub)
		}
		return true
	case "additionalProperties":
		b, ok := v.(bool)
		n.noAdditions = ok && !b
		return ok && !b
	case "required":
		list, ok := v.([]any)
		if !ok {
			return false
		}
		for _, x := range list {
			s, ok := x.(string)
			if !ok {
				return false
			}
			n.required = append(n.required, s)
		}
		return true
	case "propertyNames":
		n.names = c.compile(v)
		return true
	case "items":
		if _, ok := v.([]any); ok {
			return false // tuple form
		}
		n.items = c.compile(v)
		return true
	case "minItems":
		f, ok := v.(float64)
		if !ok || f < 0 || f != float64(int(f)) {
			return false
		}
		n.minItems = int(f)
		return true
	case "uniqueItems":
		b, ok := v.(bool)
		n.unique = ok && b
		return ok
	case "allOf", "anyOf", "oneOf":
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return false
		}
		subs := make([]*qnode, len(list))
		for i, x := range list {
			subs[i] = c.compile(x)
		}
		switch k {
		case "allOf":
			n.allOf = subs
		case "anyOf":
			n.anyOf = subs
		default:
			n.oneOf = subs
		}
		return true
	case "not":
		n.not = c.compile(v)
		return true
	case "if":
		n.ifN = c.compile(v)
		return true
	case "then":
		n.thenN = c.compile(v)
		return true
	case "else":
		n.elseN = c.compile(v)
		return true
	case "pattern":
		p, ok := v.(string)
		if !ok {
			return false
		}
		re, err := lookaheadRegexp(p)
		if err != nil {
			return false
		}
		n.pattern = re
		return true
	case "format":
		switch v {
		case "uri":
			n.format = fmtURI
		case "date-time":
			n.format = fmtDateTime
		default:
			return false
		}
		return true
	}
	return false
}

// resolve compiles the definition a local reference names, once; nil if
// the reference is not of the form "#/definitions/NAME".
func (c *qcompiler) resolve(ref string) *qnode {
	name, ok := strings.CutPrefix(ref, "#/definitions/")
	if !ok {
		return nil
	}
	name, err := url.PathUnescape(name)
	if err != nil || strings.ContainsAny(name, "/~") {
		return nil
	}
	if n, ok := c.done[name]; ok {
		return n
	}
	def, ok := c.defs[name]
	if !ok {
		return nil
	}
	n := &qnode{}
	c.done[name] = n // placeholder first: definitions may refer to themselves
	*n = *c.compile(def)
	return n
}

func typeBit(t string) uint8 {
	switch t {
	case "object":
		return tObject
	case "array":
		return tArray
	case "string":
		return tString
	case "number":
		return tNumber
	case "boolean":
		return tBoolean
	case "null":
		return tNull
	}
	return 0 // "integer" and anything else: not evaluated here
}

func typeOf(v any) uint8 {
	switch v.(type) {
	case map[string]any:
		return tObject
	case []any:
		return tArray
	case string:
		return tString
	case json.Number, float64:
		return tNumber
	case bool:
		return tBoolean
	case nil:
		return tNull
	}
	return 0
}

// quickCheck reports whether the decoded document v (numbers as
// json.Number) certainly satisfies the embedded schema. false means only
// "not decided here": the caller asks the library.
func quickCheck(v any) bool {
	root, err := quickSchema()
	if err != nil {
		return false
	}
	var q quickRun
	return q.eval(root, v) == vYes
}

// quickRun is one evaluation: it remembers the format outcomes it asked
// the library for (a document repeats its @context and location URIs).
type quickRun struct {
	formats map[string]bool
}

func (q *quickRun) eval(n *qnode, v any) verdict {
	for n.ref != nil {
		n = n.ref
	}
	if n.unknown {
		return vUnknown
	}
	switch n.always {
	case 1:
		return vYes
	case -1:
		return vNo
	}
	t := typeOf(v)
	if t == 0 {
		return vUnknown
	}
	if n.types != 0 && n.types&t == 0 {
		return vNo
	}
	out := vYes
	if n.hasEnum {
		s, ok := v.(string)
		if !ok {
			return vNo
		}
		if _, ok := n.enum[s]; !ok {
			return vNo
		}
	}
	switch t {
	case tString:
		s := v.(string)
		if n.pattern != nil && !n.pattern.MatchString(s) {
			return vNo
		}
		if n.format != fmtNone && out.and(q.format(n.format, s)) {
			return vNo
		}
	case tObject:
		if out.and(q.object(n, v.(map[string]any))) {
			return vNo
		}
	case tArray:
		if out.and(q.array(n, v.([]any))) {
			return vNo
		}
	}
	for _, sub := range n.allOf {
		if out.and(q.eval(sub, v)) {
			return vNo
		}
	}
	if n.anyOf != nil && out.and(q.anyOf(n.anyOf, v)) {
		return vNo
	}
	if n.oneOf != nil && out.and(q.oneOf(n.oneOf, v)) {
		return vNo
	}
	if n.not != nil {
		switch q.eval(n.not, v) {
		case vYes:
			return vNo
		case vUnknown:
			out = vUnknown
		}
	}
	if n.ifN != nil {
		switch q.eval(n.ifN, v) {
		case vYes:
			if n.thenN != nil && out.and(q.eval(n.thenN, v)) {
				return vNo
			}
		case vNo:
			if n.elseN != nil && out.and(q.eval(n.elseN, v)) {
				return vNo
			}
		default:
			out = vUnknown
		}
	}
	return out
}

func (q *quickRun) object(n *qnode, obj map[string]any) verdict {
	out := vYes
	for _, name := range n.required {
		if _, ok := obj[name]; !ok {
			return vNo
		}
	}
	if n.names == nil && !n.noAdditions && len(n.props) < len(obj) {
		// Only the listed properties are constrained (an if's test of
		// "type", most often): look them up rather than walk every member.
		for name, sub := range n.props {
			val, ok := obj[name]
			if !ok {
				continue
			}
			if out.and(q.eval(sub, val)) {
				return vNo
			}
		}
		return out
	}
	for name, val := range obj {
		sub, known := n.props[name]
		if known {
			if out.and(q.eval(sub, val)) {
				return vNo
			}
		} else if n.noAdditions {
			return vNo
		}
		if n.names != nil {
			if out.and(q.eval(n.names, name)) {
				return vNo
			}
		}
	}
	return out
}

func (q *quickRun) array(n *qnode, arr []any) verdict {
	if n.minItems >= 0 && len(arr) < n.minItems {
		return vNo
	}
	out := vYes
	if n.unique {
		switch uniqueStrings(arr) {
		case vNo:
			return vNo
		case vUnknown: // two or more non-strings: the library's JSON equality decides
			sch, err := formatSchemas()
			if err != nil {
				return vUnknown
			}
			if sch[unique].Validate(arr) != nil {
				return vNo
			}
		}
	}
	if n.items != nil {
		for _, x := range arr {
			if out.and(q.eval(n.items, x)) {
				return vNo
			}
		}
	}
	return out
}

// and folds r into the conjunction out and reports whether r decided it
// (a no); an unknown is kept in case a later part says no.
func (out *verdict) and(r verdict) bool {
	switch r {
	case vNo:
		*out = vNo
		return true
	case vUnknown:
		*out = vUnknown
	}
	return false
}

func (q *quickRun) anyOf(subs []*qnode, v any) verdict {
	out := vNo
	for _, sub := range subs {
		switch q.eval(sub, v) {
		case vYes:
			return vYes
		case vUnknown:
			out = vUnknown
		}
	}
	return out
}

func (q *quickRun) oneOf(subs []*qnode, v any) verdict {
	yes := 0
	for _, sub := range subs {
		switch q.eval(sub, v) {
		case vYes:
			yes++
		case vUnknown:
			return vUnknown
		}
	}
	if yes == 1 {
		return vYes
	}
	return vNo
}

// uniqueStrings decides uniqueItems for an array of strings (JSON equality
// of strings is byte equality); an array holding anything else is unknown
// unless it has at most one non-string item among distinct strings.
func uniqueStrings(arr []any) verdict {
	others := 0
	if len(arr) <= 16 {
		for i, x := range arr {
			s, ok := x.(string)
			if !ok {
				others++
				continue
			}
			for _, y := range arr[:i] {
				if t, ok := y.(string); ok && t == s {
					return vNo
				}
			}
		}
	} else {
		seen := make(map[string]struct{}, len(arr))
		for _, x := range arr {
			s, ok := x.(string)
			if !ok {
				others++
				continue
			}
			if _, dup := seen[s]; dup {
				return vNo
			}
			seen[s] = struct{}{}
		}
	}
	if others > 1 {
		return vUnknown
	}
	return vYes
}

// format decides a format the way the library does.
func (q *quickRun) format(f int, s string) verdict {
	if f == fmtURI && plainURI(s) {
		return vYes
	}
	if ok, seen := q.formats[s]; seen && f == fmtURI {
		return yesNo(ok)
	}
	sch, err := formatSchemas()
	if err != nil {
		return vUnknown
	}
	ok := sch[f].Validate(s) == nil
	if f == fmtURI {
		if q.formats == nil {
			q.formats = map[string]bool{}
		}
		q.formats[s] = ok
	}
	return yesNo(ok)
}

func yesNo(ok bool) verdict {
	if ok {
		return vYes
	}
	return vNo
}

// formatSchemas are one-keyword draft-07 schemas ({"format": "uri"},
// {"format": "date-time"}, {"uniqueItems": true}) compiled as the embedded
// schema is, so that what the quick check cannot settle itself is settled
// by the library's own format checker and JSON equality.
var formatSchemas = sync.OnceValues(func() (map[int]*jsonschema.Schema, error) {
	out := map[int]*jsonschema.Schema{}
	for f, kw := range map[int]string{fmtURI: `"format": "uri"`, fmtDateTime: `"format": "date-time"`, unique: `"uniqueItems": true`} {
		src := fmt.Sprintf(`{"$schema": "http://json-schema.org/draft-07/schema#", %s}`, kw)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(src)))
		if err != nil {
			return nil, err
		}
		c := jsonschema.NewCompiler()
		url := fmt.Sprintf("urn:carechain:quick:%d", f)
		if err := c.AddResource(url, doc); err != nil {
			return nil, err
		}
		sch, err := c.Compile(url)
		if err != nil {
			return nil, err
		}
		out[f] = sch
	}
	return out, nil
})

// plainURI reports whether s is "scheme:opaque" with an opaque part of
// unreserved and sub-delimiter characters and colons, not starting with
// "/": a URN such as urn:epc:id:sgtin:0614141.107346.2017. Go's URL parser
// takes such a string as an absolute URL with no host, which is what the
// library's "uri" format accepts. false means only "not decided here".
func plainURI(s string) bool {
	colon := strings.IndexByte(s, ':')
	if colon < 1 || colon == len(s)-1 {
		return false
	}
	for i := 0; i < colon; i++ {
		c := s[i]
		letter := c|0x20 >= 'a' && c|0x20 <= 'z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	for i := colon + 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c|0x20 >= 'a' && c|0x20 <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("-._~:!$&'()*+,;=@", c) >= 0:
		default:
			return false
		}
	}
	return true
}

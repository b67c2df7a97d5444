package fhir

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WithMeta returns resource (FHIR JSON) with meta.versionId set to version
// and meta.lastUpdated to updated (the time its version was anchored), as
// a FHIR server answers reads; the other meta fields (security labels,
// tags, profiles) are kept. A body that is not a JSON object is returned
// unchanged.
//
// The result is the resource's members sorted by name, compact, with
// "<", ">", "&", U+2028 and U+2029 escaped in strings (what json.Marshal
// of the decoded members gives; a repeated member keeps its last value).
// spliceMeta builds it from the members' bytes without decoding them;
// withMetaDecoded, the reference, decodes and re-encodes, and is used for
// what spliceMeta does not take (escaped or non-ASCII member names).
func WithMeta(resource []byte, version int, updated time.Time) []byte {
	if out, ok := spliceMeta(resource, version, updated); ok {
		return out
	}
	return withMetaDecoded(resource, version, updated)
}

// withMetaDecoded is WithMeta by decoding the resource's members and
// re-encoding them.
func withMetaDecoded(resource []byte, version int, updated time.Time) []byte {
	var top map[string]json.RawMessage
	if json.Unmarshal(resource, &top) != nil || top == nil {
		return resource
	}
	m, ok := newMeta(top["meta"], version, updated)
	if !ok {
		return resource
	}
	top["meta"] = m
	out, err := json.Marshal(top)
	if err != nil {
		return resource
	}
	return out
}

// newMeta returns the meta object raw (nil when the resource has none)
// with versionId and lastUpdated set, encoded as json.Marshal encodes a
// map; false if raw is not a JSON object (or null).
func newMeta(raw json.RawMessage, version int, updated time.Time) ([]byte, bool) {
	v := strconv.Itoa(version)
	var at string
	if !updated.IsZero() {
		at = updated.UTC().Format(time.RFC3339Nano)
	}
	if raw == nil {
		// The common case, written directly: both values need no escaping
		// and "lastUpdated" sorts before "versionId".
		b := make([]byte, 0, 64)
		b = append(b, '{')
		if at != "" {
			b = append(b, `"lastUpdated":"`...)
			b = append(b, at...)
			b = append(b, `",`...)
		}
		b = append(b, `"versionId":"`...)
		b = append(b, v...)
		return append(b, `"}`...), true
	}
	meta := map[string]json.RawMessage{}
	if json.Unmarshal(raw, &meta) != nil {
		return nil, false
	}
	if meta == nil { // "meta": null
		meta = map[string]json.RawMessage{}
	}
	meta["versionId"], _ = json.Marshal(v)
	if at != "" {
		meta["lastUpdated"], _ = json.Marshal(at)
	}
	m, err := json.Marshal(meta)
	if err != nil {
		return nil, false
	}
	return m, true
}

// member is one member of a JSON object: its name (the bytes between the
// quotes) and its value's bytes.
type member struct {
	name  string
	value []byte
}

// spliceMeta is WithMeta without decoding the resource: it checks the
// bytes are valid JSON, compacts and escapes them as json.Marshal would
// (only when they need it), splits the top-level object into members,
// replaces meta and writes the members sorted. false means the caller
// must use withMetaDecoded (a member name with an escape or a non-ASCII
// byte, whose decoded form may differ from its bytes); a body that is not
// a JSON object is returned unchanged with true.
func spliceMeta(resource []byte, version int, updated time.Time) ([]byte, bool) {
	b := resource
	// compactForm answers the questions below in one pass for the usual
	// stored forms (valid and compact, with or without HTML characters).
	if ok, escape := compactForm(b); ok {
		if escape {
			var esc bytes.Buffer
			json.HTMLEscape(&esc, b)
			b = esc.Bytes()
		}
	} else {
		if !json.Valid(resource) {
			return resource, true
		}
		if needsCompacting(b) {
			var buf bytes.Buffer
			if json.Compact(&buf, b) != nil {
				return nil, false
			}
			b = buf.Bytes()
			var esc bytes.Buffer
			json.HTMLEscape(&esc, b)
			b = esc.Bytes()
		}
	}
	if len(b) == 0 || b[0] != '{' {
		return resource, true
	}
	ms := make([]member, 0, 16)
	i := 1
	for b[i] != '}' {
		// b[i] is the '"' of a name (b is compact, valid JSON).
		end := stringEnd(b, i)
		name := b[i+1 : end-1]
		for _, c := range name {
			if c == '\\' || c >= 0x80 {
				return nil, false
			}
		}
		start := end + 1 // past ':'
		stop := valueEnd(b, start)
		ms = append(ms, member{name: string(name), value: b[start:stop]})
		i = stop
		if b[i] == ',' {
			i++
		}
	}
	// A repeated name keeps its last value, as decoding into a map does:
	// a stable sort keeps repeats in order, and only the last is written.
	slices.SortStableFunc(ms, func(x, y member) int { return strings.Compare(x.name, y.name) })
	var meta json.RawMessage
	for _, m := range ms {
		if m.name == "meta" {
			meta = m.value
		}
	}
	newM, ok := newMeta(meta, version, updated)
	if !ok {
		return resource, true
	}
	out := make([]byte, 0, len(b)+len(newM)+16)
	out = append(out, '{')
	wrote := false
	put := func(name string, value []byte) {
		if wrote {
			out = append(out, ',')
		}
		wrote = true
		out = append(out, '"')
		out = append(out, name...)
		out = append(out, '"', ':')
		out = append(out, value...)
	}
	metaDone := false
	for k, m := range ms {
		if k+1 < len(ms) && ms[k+1].name == m.name {
			continue // a later repeat wins
		}
		if !metaDone && m.name > "meta" {
			put("meta", newM)
			metaDone = true
		}
		if m.name == "meta" {
			put("meta", newM)
			metaDone = true
			continue
		}
		put(m.name, m.value)
	}
	if !metaDone {
		put("meta", newM)
	}
	return append(out, '}'), true
}

// needsCompacting reports whether valid JSON b has whitespace outside
// strings or a character json.Marshal escapes for HTML ('<', '>', '&',
// U+2028, U+2029) inside them.
func needsCompacting(b []byte) bool {
	in := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if in {
			switch {
			case c == '\\':
				i++
			case c == '"':
				in = false
			case c == '<' || c == '>' || c == '&':
				return true
			case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && b[i+2]&^1 == 0xA8:
				return true
			}
			continue
		}
		switch c {
		case '"':
			in = true
		case ' ', '\t', '\n', '\r':
			return true
		}
	}
	return false
}

// stringEnd returns the index just past the string that starts at b[i]
// (a '"').
func stringEnd(b []byte, i int) int {
	for i++; ; i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// valueEnd returns the index just past the value that starts at b[i] in
// compact, valid JSON.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
		i++
	}
	return i
}

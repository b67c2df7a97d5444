package epcis

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// cbvMDA is the CBV master-data namespace of the ILMD attributes.
const cbvMDA = "urn:epcglobal:cbv:mda:"

// standardPrefixes are the compact-IRI prefixes of the standard EPCIS 2.0
// JSON-LD context that ILMD keys use.
var standardPrefixes = map[string]string{
	"cbvmda": cbvMDA,
	"gs1":    "https://gs1.org/voc/",
	"cbv":    "https://ref.gs1.org/cbv/",
	"epcis":  "https://ref.gs1.org/epcis/",
}

// contextPrefixes returns the prefixes in force: parent's (or the standard
// ones) plus the string-valued term definitions of a JSON-LD @context
// (a URL, an object, or an array of both; remote contexts are not fetched:
// the standard context's prefixes are built in).
func contextPrefixes(parent map[string]string, ctx json.RawMessage) map[string]string {
	if parent == nil {
		parent = standardPrefixes
	}
	if len(ctx) == 0 {
		return parent
	}
	var items []json.RawMessage
	if err := json.Unmarshal(ctx, &items); err != nil {
		items = []json.RawMessage{ctx}
	}
	var out map[string]string
	for _, it := range items {
		var defs map[string]any
		if json.Unmarshal(it, &defs) != nil {
			continue // a context URL
		}
		for k, v := range defs {
			iri, ok := v.(string)
			if !ok || strings.HasPrefix(k, "@") {
				continue
			}
			if out == nil {
				out = make(map[string]string, len(parent)+len(defs))
				for pk, pv := range parent {
					out[pk] = pv
				}
			}
			out[k] = iri
		}
	}
	if out == nil {
		return parent
	}
	return out
}

// expand turns a compact IRI "prefix:name" into its full IRI when prefix
// is defined, and returns other keys unchanged.
func expand(prefixes map[string]string, key string) string {
	p, name, ok := strings.Cut(key, ":")
	if !ok || strings.HasPrefix(name, "//") {
		return key
	}
	if iri, ok := prefixes[p]; ok {
		return iri + name
	}
	return key
}

// mdaAttribute returns the CBV master-data attribute name of an expanded
// ILMD key ("lotNumber" for urn:epcglobal:cbv:mda:lotNumber or the XML
// namespace form urn:epcglobal:cbv:mda#lotNumber), or "".
func mdaAttribute(iri string) string {
	if name, ok := strings.CutPrefix(iri, cbvMDA); ok {
		return name
	}
	if name, ok := strings.CutPrefix(iri, "urn:epcglobal:cbv:mda#"); ok {
		return name
	}
	return ""
}

// ilmd reads the lot, expiry, best-before date and country of origin of
// an ILMD object, checking each: a lot is 1 to 20 characters of GS1
// character set 82 (AI 10), dates are xsd:date or xsd:dateTime, a country
// is an ISO 3166-1 alpha-2 code.
func (c *checker) ilmd(m map[string]json.RawMessage, prefixes map[string]string) ILMD {
	var out ILMD
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic when an attribute is written twice
	for _, key := range keys {
		raw := m[key]
		attr := mdaAttribute(expand(prefixes, key))
		if attr == "" {
			continue
		}
		loc := at("ilmd", key)
		str := func() (string, bool) {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				c.add(CodeValue, loc, "cbvmda:%s must be a string", attr)
				return "", false
			}
			return s, true
		}
		switch attr {
		case "lotNumber":
			if s, ok := str(); ok {
				if n := cset82Raw(s); n <= 0 || n > 20 {
					c.add(CodeValue, loc, "lot %s must be 1 to 20 characters of GS1 character set 82", quote(s))
				}
				out.Lot = s
			}
		case "itemExpirationDate", "bestBeforeDate":
			if s, ok := str(); ok {
				t, err := parseDate(s)
				if err != nil {
					c.add(CodeValue, loc, "cbvmda:%s: %v", attr, err)
				}
				if attr == "itemExpirationDate" {
					out.Expiry = t
				} else {
					out.BestBefore = t
				}
			}
		case "countryOfOrigin":
			if s, ok := str(); ok {
				if len(s) != 2 || strings.ToUpper(s) != s || strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
					c.add(CodeValue, loc, "country %s must be an ISO 3166-1 alpha-2 code", quote(s))
				}
				out.CountryOfOrigin = s
			}
		}
	}
	return out
}

// parseDate parses an xsd:date ("2025-06-30", midnight UTC) or an
// xsd:dateTime with offset.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s is not a date (YYYY-MM-DD) or a date-time with offset", quote(s))
}

package fhir

import (
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	jsoniter "github.com/json-iterator/go"
)

// Lookup finds an existing resource of a type by one of its identifiers,
// given as "system|value" (or a bare value, which matches any system),
// and returns its logical id.
type Lookup func(resourceType, identifier string) (id string, ok bool)

// targets resolves the references of one bundle: local fullUrls to the
// "{Type}/{id}" they were given, and conditional references to an entry of
// the bundle carrying the identifier or, failing that, to an existing
// resource through the caller's lookup.
type targets struct {
	byFullURL map[string]string   // fullUrl → "Type/id"
	local     map[string][]string // "Type|identifier" → distinct "Type/id" of bundle entries

	mu     sync.Mutex // guards lookup and cache: Resolve's workers share them
	lookup Lookup
	cache  map[string]lookupResult
}

type lookupResult struct {
	id string
	ok bool
}

func newTargets(lookup Lookup) *targets {
	return &targets{
		byFullURL: map[string]string{},
		local:     map[string][]string{},
		lookup:    lookup,
		cache:     map[string]lookupResult{},
	}
}

// addLocal records that the bundle entry ref ("Type/id") carries identifier.
func (t *targets) addLocal(typ, identifier, ref string) {
	k := typ + "|" + identifier
	for _, r := range t.local[k] {
		if r == ref {
			return
		}
	}
	t.local[k] = append(t.local[k], ref)
}

// existing asks the caller's lookup, once per type and identifier, from
// one goroutine at a time.
func (t *targets) existing(typ, identifier string) (string, bool) {
	if t.lookup == nil {
		return "", false
	}
	k := typ + "|" + identifier
	t.mu.Lock()
	defer t.mu.Unlock()
	if r, ok := t.cache[k]; ok {
		return r.id, r.ok
	}
	id, ok := t.lookup(typ, identifier)
	ok = ok && id != ""
	t.cache[k] = lookupResult{id, ok}
	return id, ok
}

// match resolves a type and identifier to "Type/id": a bundle entry first,
// then an existing resource. It returns an issue code on failure
// ("multiple-matches" or "not-found").
func (t *targets) match(typ, identifier string) (ref, code string) {
	switch refs := t.local[typ+"|"+identifier]; len(refs) {
	case 1:
		return refs[0], ""
	case 0:
	default:
		return "", "multiple-matches"
	}
	if id, ok := t.existing(typ, identifier); ok {
		return typ + "/" + id, ""
	}
	return "", "not-found"
}

// rewrite decodes a resource, sets its id, points every Reference.reference
// at its resolved target and re-encodes it (members in key order, no
// whitespace). at is the resource's location for issues
// ("Bundle.entry[3].resource"). Resources in plain form take rewriteFast.
//
// With the fast path it also returns the result's top-level members (else
// nil).
func (t *targets) rewrite(raw []byte, id, at string) ([]byte, map[string]json.RawMessage, []Issue) {
	if b, top, ok := t.rewriteFast(raw, id); ok {
		return b, top, nil
	}
	b, issues := t.rewriteGeneral(raw, id, at)
	return b, nil, issues
}

// rewriteGeneral is rewrite by decoding into maps and encoding again.
func (t *targets) rewriteGeneral(raw []byte, id, at string) ([]byte, []Issue) {
	var doc map[string]any
	if err := rewriteJSON.Unmarshal(raw, &doc); err != nil {
		return nil, []Issue{issue("structure", at, "cannot decode the resource")}
	}
	doc["id"] = id
	var issues []Issue
	t.walk(doc, at, &issues)
	if len(issues) > 0 {
		return nil, issues
	}
	out, err := rewriteJSON.Marshal(doc)
	if err != nil {
		return nil, []Issue{issue("exception", at, "cannot encode the resource")}
	}
	return out, nil
}

// rewriteJSON decodes numbers as json.Number, so decimals keep the digits
// they were written with (FHIR decimals carry precision), and encodes
// without HTML escaping (narratives are XHTML) and with sorted keys, so the
// same input always yields the same bytes.
var rewriteJSON = jsoniter.Config{UseNumber: true, SortMapKeys: true, ValidateJsonRawMessage: true}.Froze()

// walk visits every object below v, rewriting string "reference" members.
// Keys are visited in sorted order so issues come out deterministically.
func (t *targets) walk(v any, path string, issues *[]Issue) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := path + "." + k
			if s, ok := v[k].(string); ok && k == "reference" {
				nv, is := t.resolve(s, p)
				if is != nil {
					*issues = append(*issues, *is)
				} else {
					v[k] = nv
				}
				continue
			}
			t.walk(v[k], p, issues)
		}
	case []any:
		for i, e := range v {
			t.walk(e, path+"["+strconv.Itoa(i)+"]", issues)
		}
	}
}

// resolve maps one reference string; unchanged when it is neither a
// bundle-local nor a conditional reference.
func (t *targets) resolve(ref, path string) (string, *Issue) {
	if r, ok := t.byFullURL[ref]; ok {
		return r, nil
	}
	if strings.HasPrefix(ref, "urn:uuid:") || strings.HasPrefix(ref, "urn:oid:") {
		is := issue("not-found", path, "reference to a bundle-local id that no entry of the bundle has as its fullUrl")
		return "", &is
	}
	q := strings.IndexByte(ref, '?')
	if q <= 0 || !isResourceType(ref[:q]) {
		return ref, nil
	}
	typ := ref[:q]
	ident, ok := identifierQuery(ref[q+1:])
	if !ok {
		is := issue("not-supported", path, "conditional reference: only a single identifier=system|value parameter is supported")
		return "", &is
	}
	r, code := t.match(typ, ident)
	if code != "" {
		var is Issue
		if code == "multiple-matches" {
			is = issue(code, path, "conditional reference matches more than one %s in the bundle", typ)
		} else {
			is = issue(code, path, "conditional reference matches no %s", typ)
		}
		return "", &is
	}
	return r, nil
}

// identifierQuery reads the identifier of a conditional query
// ("identifier=system|value", optionally after "Type?") and reports whether
// the query is that one parameter, the only form carechain evaluates.
func identifierQuery(q string) (string, bool) {
	if i := strings.IndexByte(q, '?'); i >= 0 {
		q = q[i+1:]
	}
	name, value, ok := strings.Cut(q, "=")
	if !ok || name != "identifier" || value == "" || strings.ContainsAny(value, "&,") {
		return "", false
	}
	// Percent-decode (%7C for "|"); "+" stays a plus, as in a path.
	if u, err := url.PathUnescape(value); err == nil {
		value = u
	}
	return value, true
}

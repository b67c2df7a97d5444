package fhir

import (
	"runtime"
	"strings"
)

// fullURLSystem is the Identifier system of a URI (RFC 3986); Resolve keys
// a created resource's urn:uuid fullUrl with it to make re-submissions
// idempotent.
const fullURLSystem = "urn:ietf:rfc:3986"

// Resolved is a transaction or batch ready to store: server ids assigned,
// references rewritten, entries in bundle order.
type Resolved struct {
	Type    string // "transaction" or "batch"
	Entries []ResolvedEntry
}

// ResolvedEntry is one entry of a Resolved bundle.
type ResolvedEntry struct {
	Index  int    // position in Bundle.entry
	Method string // POST, PUT, DELETE, GET or HEAD
	// URL is the request URL; for a conditional DELETE that matched, it is
	// rewritten to "{Type}/{id}".
	URL     string
	IfMatch string // version precondition to check when storing an update
	// Resource is set for POST and PUT: ID assigned and, unless Existing,
	// JSON rewritten (id set, no urn:uuid or conditional references) and
	// validated again with the now typed references.
	Resource *Resource
	// Existing reports a create that matched a resource already stored
	// (ifNoneExist, or the same urn:uuid fullUrl submitted before): nothing
	// is to be written, and Resource.ID is the existing resource's id.
	Existing bool
	// Err is set, only in a batch, when this entry cannot be processed; a
	// transaction fails as a whole instead. It is an *OutcomeError.
	Err error
}

// Resolve assigns server ids and rewrites references so that the stored
// JSON holds no urn:uuid and no conditional references:
//
//   - a POST gets newID(type), unless its ifNoneExist
//     ("identifier=system|value") matches a resource — an earlier entry of
//     the bundle, or an existing one through lookup — or, without
//     ifNoneExist, its urn:uuid fullUrl was stored before (lookup of
//     "urn:ietf:rfc:3986|urn:uuid:…"): then the entry is Existing and
//     skipped, so loading the same bundle twice creates nothing new;
//   - a PUT "Type/id" keeps its id; a conditional PUT "Type?identifier=…"
//     takes the matching resource's id or a new one;
//   - every reference to an entry's fullUrl becomes "{Type}/{id}"; a
//     conditional reference "Type?identifier=system|value" becomes the
//     entry of the bundle that carries that identifier or else the
//     resource lookup finds; a reference that cannot be resolved, matches
//     twice, or uses another search parameter is an issue naming the entry;
//   - a conditional DELETE by identifier is resolved through lookup; GET and
//     HEAD pass through; PATCH and operations ("$…") are not supported.
//
// A transaction is all or nothing: on any issue Resolve returns nil and an
// *OutcomeError listing them all. A batch reports issues per entry in
// ResolvedEntry.Err. The created resources' Identifiers include their
// fullUrl key "urn:ietf:rfc:3986|urn:uuid:…": index them for lookup. A nil
// lookup finds nothing. lookup is called from one goroutine at a time and
// at most once per type and identifier; newID is called in entry order, and
// ids it gave to a transaction that then fails are simply not used.
func Resolve(b *Bundle, lookup Lookup, newID func(resourceType string) string) (*Resolved, error) {
	if b.Type != "transaction" && b.Type != "batch" {
		return nil, invalid(issue("not-supported", "Bundle.type", "only a transaction or batch bundle can be stored entry by entry, not a %s", b.Type))
	}
	t := newTargets(lookup)
	out := &Resolved{Type: b.Type, Entries: make([]ResolvedEntry, len(b.Entries))}
	perEntry := make([][]Issue, len(b.Entries))

	// Pass 1, in order: decide every entry's id, so that references can
	// point forward as well as back.
	for i := range b.Entries {
		en := &b.Entries[i]
		re := &out.Entries[i]
		*re = ResolvedEntry{Index: i, Method: en.Method, URL: en.URL, IfMatch: en.IfMatch, Err: en.Err}
		if en.Err != nil {
			continue
		}
		if is := t.assign(i, en, re, newID); is != nil {
			perEntry[i] = append(perEntry[i], *is)
			continue
		}
		if r := re.Resource; r != nil {
			if en.FullURL != "" {
				t.byFullURL[en.FullURL] = r.Reference()
			}
			for _, id := range r.Identifiers {
				t.addLocal(r.Type, id, r.Reference())
			}
		}
	}

	// Pass 2, in parallel: rewrite, re-validate and describe the resources
	// to be written.
	parallel(len(b.Entries), runtime.GOMAXPROCS(0), func(i int) {
		re := &out.Entries[i]
		switch {
		case re.Err != nil || len(perEntry[i]) > 0 || re.Resource == nil:
		case re.Existing:
			t.relink(re.Resource)
		default:
			perEntry[i] = t.finish(i, re.Resource)
		}
	})

	var all []Issue
	for i := range perEntry {
		if len(perEntry[i]) == 0 {
			continue
		}
		if b.Type == "batch" {
			out.Entries[i].Err = invalid(perEntry[i]...)
			out.Entries[i].Resource = nil
			continue
		}
		all = append(all, perEntry[i]...)
	}
	if len(all) > 0 {
		return nil, invalid(all...)
	}
	return out, nil
}

// assign decides the id of entry i (and whether it already exists),
// setting re.Resource to a copy of the entry's resource.
func (t *targets) assign(i int, en *Entry, re *ResolvedEntry, newID func(string) string) *Issue {
	at := entryPath(i)
	typ, rest, conditional := splitRequestURL(en.URL)
	switch en.Method {
	case "GET", "HEAD":
		return nil
	case "DELETE":
		if !isResourceType(typ) {
			return unsupported(at, "a DELETE needs a resource type")
		}
		if !conditional {
			return nil
		}
		ident, ok := identifierQuery(rest)
		if !ok {
			return unsupported(at, "conditional DELETE: only identifier=system|value is supported")
		}
		if id, ok := t.existing(typ, ident); ok {
			re.URL = typ + "/" + id
		}
		return nil
	case "POST", "PUT":
	default:
		return unsupported(at, "the "+en.Method+" method is not supported")
	}

	if strings.Contains(en.URL, "$") {
		return unsupported(at, "operations are not supported in a bundle")
	}
	if en.Resource == nil {
		is := issue("required", at+".resource", "a %s entry needs a resource", en.Method)
		return &is
	}
	r := *en.Resource
	r.Identifiers = append([]string(nil), r.Identifiers...)
	re.Resource = &r
	if typ != r.Type {
		is := issue("invalid", at+".request.url", "the request URL does not name the resource's type %s", r.Type)
		return &is
	}

	if en.Method == "PUT" {
		switch {
		case conditional:
			ident, ok := identifierQuery(rest)
			if !ok {
				return unsupported(at, "conditional update: only identifier=system|value is supported")
			}
			if ref, code := t.match(typ, ident); code == "" {
				r.ID = strings.TrimPrefix(ref, typ+"/")
			} else if code == "multiple-matches" {
				is := issue(code, at+".request.url", "conditional update matches more than one %s", typ)
				return &is
			} else {
				r.ID = newID(typ)
			}
		case rest == "" || strings.Contains(rest, "/"):
			is := issue("invalid", at+".request.url", `an update needs "Type/id"`)
			return &is
		case r.ID != "" && r.ID != rest:
			is := issue("invalid", at+".resource.id", "the resource id differs from the id in the request URL")
			return &is
		default:
			r.ID = rest
		}
		return nil
	}

	// POST: a create, unless it is already there.
	if rest != "" {
		is := issue("invalid", at+".request.url", `a create is posted to the type ("%s")`, typ)
		return &is
	}
	key := ""
	if strings.HasPrefix(en.FullURL, "urn:uuid:") {
		key = fullURLSystem + "|" + en.FullURL
		r.Identifiers = append(r.Identifiers, key)
	}
	switch {
	case en.IfNoneExist != "":
		ident, ok := identifierQuery(en.IfNoneExist)
		if !ok {
			is := issue("not-supported", at+".request.ifNoneExist", "only identifier=system|value is supported")
			return &is
		}
		if ref, code := t.match(typ, ident); code == "" {
			r.ID, re.Existing = strings.TrimPrefix(ref, typ+"/"), true
		} else if code == "multiple-matches" {
			is := issue(code, at+".request.ifNoneExist", "matches more than one %s", typ)
			return &is
		}
	case key != "":
		if id, ok := t.existing(typ, key); ok {
			r.ID, re.Existing = id, true
		}
	}
	if !re.Existing {
		r.ID = newID(typ)
	}
	return nil
}

// finish rewrites a resource to be written, validates the result (its
// references are now typed, so reference target types are checked for
// urn:uuid references too) and describes it again.
func (t *targets) finish(i int, r *Resource) []Issue {
	at := entryPath(i) + ".resource"
	b, top, issues := t.rewrite(r.JSON, r.ID, at)
	if issues != nil {
		return issues
	}
	for _, is := range validate(b) {
		if is.Severity == "error" || is.Severity == "fatal" {
			issues = append(issues, rebase(is, r.Type, at))
		}
	}
	if issues != nil {
		return issues
	}
	if top == nil {
		var err error
		if top, _, err = resourceObject(b, at); err != nil {
			return err.(*OutcomeError).Issues
		}
	}
	keys := r.Identifiers
	*r = *describe(r.Type, top, b, nil)
	for _, k := range keys {
		if strings.HasPrefix(k, fullURLSystem+"|") {
			r.Identifiers = append(r.Identifiers, k)
		}
	}
	return nil
}

// relink points the compartment of a resource that is not rewritten (an
// Existing one) at the resolved patient.
func (t *targets) relink(r *Resource) {
	if r.Type == "Patient" {
		r.Patient = r.Reference()
	} else if p, ok := t.byFullURL[r.Patient]; ok {
		r.Patient = p
	}
}

// splitRequestURL splits "Patient/123" into ("Patient", "123", false) and
// "Patient?identifier=x" into ("Patient", "identifier=x", true); a leading
// "/" is ignored.
func splitRequestURL(u string) (typ, rest string, conditional bool) {
	u = strings.TrimPrefix(u, "/")
	if i := strings.IndexAny(u, "/?"); i >= 0 {
		return u[:i], u[i+1:], u[i] == '?'
	}
	return u, "", false
}

func unsupported(at, msg string) *Issue {
	is := issue("not-supported", at+".request", "%s", msg)
	return &is
}

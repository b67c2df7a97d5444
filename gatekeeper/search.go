package gatekeeper

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/fhir"
	"carechain/records"
)

// Search paging limits.
const (
	DefaultCount = 100
	MaxCount     = access.MaxEventRecords
)

// SearchResult is a page of search matches the requester may see, released
// under one logged access event.
type SearchResult struct {
	Release
	Total  int `json:"total"`  // matches the requester may see, over all pages
	Offset int `json:"offset"` // of this page
	Count  int `json:"count"`  // page size asked for
}

// Query is a parsed FHIR search over one patient's records held here.
// Supported parameters: patient or subject (Patient/{id}), _type (comma
// list), _id (comma list of logical ids), date and _lastUpdated
// (repeatable, with the prefixes eq, ne, gt, lt, ge, le; date is the
// clinical time, _lastUpdated when the version was anchored), code and
// category (comma lists of tokens "system|code", "code" or "system|"),
// identifier (a comma list of tokens "system|value", "value", "|value" or
// "system|", matched against the identifiers this node indexed; see
// findpatient.go for a Patient search by identifier that names no
// patient),
// _sort (date or _lastUpdated, "-" for descending; ties by id), _count,
// _offset, and _since (Bulk Data: versions anchored after a FHIR instant
// with a time zone). Anything else is cc.Invalid.
type Query struct {
	PatientRef  string
	Types       []string
	IDs         []string
	Dates       []dateFilter
	LastUpdated []dateFilter
	Codes       []string
	Categories  []string
	Identifiers []string // tokens of the identifier parameter
	identIDs    map[string]bool
	Sort        string // "", "date", "-date", "_lastUpdated" or "-_lastUpdated"
	Count       int
	Offset      int
	Since       time.Time // zero: no _since
}

type dateFilter struct {
	prefix   string
	from, to time.Time // the value's range at its precision: [from, to)
}

// ParseQuery parses a canonical search query.
func ParseQuery(q string) (*Query, error) {
	const op = "search"
	v, err := url.ParseQuery(q)
	if err != nil {
		return nil, cc.Errorf(op, cc.Invalid, "search query: %v", err)
	}
	out := &Query{Count: DefaultCount}
	bad := func(format string, args ...any) (*Query, error) {
		return nil, cc.Errorf(op, cc.Invalid, format, args...)
	}
	list := func(vals []string) []string {
		var l []string
		for _, s := range vals {
			for _, p := range strings.Split(s, ",") {
				if p = strings.TrimSpace(p); p != "" {
					l = append(l, p)
				}
			}
		}
		return l
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range v {
			if !yield(k) {
				return
			}
		}
	}) {
		vals := v[k]
		switch k {
		case "patient", "subject":
			ref := strings.TrimPrefix(vals[0], "Patient/")
			if len(vals) > 1 || ref == "" || strings.Contains(ref, "/") {
				return bad("patient must be one Patient/{id}")
			}
			out.PatientRef = "Patient/" + ref
		case "_type":
			out.Types = list(vals)
		case "date", "_lastUpdated":
			for _, s := range vals {
				f, ok := parseDate(s)
				if !ok {
					return bad("%s %q must be [eq|ne|gt|lt|ge|le]YYYY[-MM[-DD[Thh:mm[:ss]…]]]", k, cc.Echo(s))
				}
				if k == "date" {
					out.Dates = append(out.Dates, f)
				} else {
					out.LastUpdated = append(out.LastUpdated, f)
				}
			}
		case "_since":
			t, err := time.Parse(time.RFC3339Nano, vals[0])
			if err != nil || len(vals) > 1 {
				return bad("_since %q must be one FHIR instant with a time zone (2026-01-02T15:04:05Z)", cc.Echo(vals[0]))
			}
			out.Since = t
		case "_id":
			out.IDs = list(vals)
		case "_sort":
			switch s := strings.Join(list(vals), ","); s {
			case "date", "-date", "_lastUpdated", "-_lastUpdated":
				out.Sort = s
			default:
				return bad("_sort %q is not supported (date, -date, _lastUpdated, -_lastUpdated)", cc.Echo(s))
			}
		case "code":
			out.Codes = list(vals)
		case "category":
			out.Categories = list(vals)
		case "identifier":
			if out.Identifiers = list(vals); len(out.Identifiers) == 0 {
				return bad("identifier must be a token: system|value, value or |value")
			}
		case "_count", "_offset":
			n, err := strconv.Atoi(vals[0])
			if err != nil || n < 0 || len(vals) > 1 {
				return bad("%s must be a number ≥ 0", k)
			}
			if k == "_count" {
				out.Count = min(n, MaxCount)
			} else {
				out.Offset = n
			}
		default:
			return bad("search parameter %q is not supported (patient, subject, _type, _id, date, _lastUpdated, code, category, identifier, _sort, _count, _offset, _since)", cc.Echo(k))
		}
	}
	return out, nil
}

// parseDate parses a FHIR date search value with an optional prefix.
func parseDate(s string) (dateFilter, bool) {
	f := dateFilter{prefix: "eq"}
	if len(s) > 2 && s[0] >= 'a' && s[0] <= 'z' {
		f.prefix, s = s[:2], s[2:]
		switch f.prefix {
		case "eq", "ne", "gt", "lt", "ge", "le":
		default:
			return f, false
		}
	}
	layouts := []struct {
		layout string
		add    func(time.Time) time.Time
	}{
		{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
		{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
		{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
	}
	for _, l := range layouts {
		if t, err := time.Parse(l.layout, s); err == nil {
			f.from, f.to = t, l.add(t)
			return f, true
		}
	}
	if t, ok := fhir.ParseTime(s); ok {
		f.from, f.to = t, t.Add(time.Second)
		return f, true
	}
	return f, false
}

// match reports whether t satisfies the filter (FHIR date search on a
// point in time).
func (f dateFilter) match(t time.Time) bool {
	switch f.prefix {
	case "eq":
		return !t.Before(f.from) && t.Before(f.to)
	case "ne":
		return t.Before(f.from) || !t.Before(f.to)
	case "gt":
		return !t.Before(f.to)
	case "ge":
		return !t.Before(f.from)
	case "lt":
		return t.Before(f.from)
	case "le":
		return t.Before(f.to)
	}
	return false
}

// tokenMatch reports whether a stored "system|code" (or bare code) matches
// a search token.
func tokenMatch(stored, token string) bool {
	sys, code, hasSys := strings.Cut(stored, "|")
	if !hasSys {
		sys, code = "", stored
	}
	tsys, tcode, tHasSys := strings.Cut(token, "|")
	switch {
	case !tHasSys:
		return code == token
	case tcode == "":
		return sys == tsys
	case tsys == "":
		return sys == "" && code == tcode
	}
	return sys == tsys && code == tcode
}

func anyToken(stored []string, tokens []string) bool {
	for _, s := range stored {
		for _, t := range tokens {
			if tokenMatch(s, t) {
				return true
			}
		}
	}
	return false
}

// matches reports whether anchor a passes the query's filters (codes and
// precise dates come from the local index).
func (g *Gatekeeper) matches(q *Query, a *cc.RecordAnchor) bool {
	if len(q.Types) > 0 && !slices.Contains(q.Types, a.Type) {
		return false
	}
	if len(q.Categories) > 0 && !anyToken(a.Categories, q.Categories) {
		return false
	}
	if q.identIDs != nil && !q.identIDs[a.ID] {
		return false
	}
	if len(q.IDs) > 0 {
		_, id, _ := strings.Cut(a.ID, "/")
		if !slices.Contains(q.IDs, id) {
			return false
		}
	}
	for _, f := range q.LastUpdated {
		if !f.match(a.Time) {
			return false
		}
	}
	if !q.Since.IsZero() && !a.Time.After(q.Since) {
		return false
	}
	if len(q.Dates) == 0 && len(q.Codes) == 0 {
		return true
	}
	codes, when := g.cfg.Index.Facets(a.ID)
	for _, f := range q.Dates {
		if when.IsZero() || !f.match(when) {
			return false
		}
	}
	return len(q.Codes) == 0 || anyToken(codes, q.Codes)
}

// Search answers a signed search (action "search") over the request's
// patient's records held by this custodian: the records that match and that
// the committed consent state lets the requester see, one page of them,
// released under one logged access event. Records the requester may not
// see are left out as if they did not exist; erased records are left out.
// A page without matches logs nothing.
func (g *Gatekeeper) Search(ctx context.Context, sr access.SignedRead) (*SearchResult, error) {
	return g.search(ctx, sr, access.ActionSearch)
}

// Everything answers a signed export (action "export", Patient/{id}/$everything):
// every record of the patient held here that the requester may see, one
// page (the request's query may give _count, _offset and _type).
func (g *Gatekeeper) Everything(ctx context.Context, sr access.SignedRead) (*SearchResult, error) {
	return g.search(ctx, sr, access.ActionExport)
}

// search verifies a signed search or export and answers one page.
func (g *Gatekeeper) search(ctx context.Context, sr access.SignedRead, action string) (*SearchResult, error) {
	req, err := g.verifyRead(sr, action)
	if err != nil {
		return nil, err
	}
	q, err := ParseQuery(req.Query)
	if err != nil {
		return nil, err
	}
	if req.Patient == "" {
		return g.findPatient(ctx, sr, req, q)
	}
	if len(q.Identifiers) > 0 {
		q.identIDs = g.cfg.Index.WithIdentifier(g.cfg.Org, "", q.Identifiers)
	}
	state := g.cfg.Chain.State()
	out := &SearchResult{Offset: q.Offset, Count: q.Count, Release: Release{Records: []Released{}}}
	if q.PatientRef != "" {
		a, err := records.GetAnchor(state, q.PatientRef)
		if err != nil || a.Patient != req.Patient {
			return out, nil // an unknown patient and one not this request's look the same: nothing
		}
	}
	d, err := g.decider(ctx, req)
	if err != nil {
		return nil, err
	}
	var page []*cc.RecordAnchor
	var ids []string
	var all []*cc.RecordAnchor // every match, when sorted
	err = records.PatientRecords(state, req.Patient, func(a cc.RecordAnchor) bool {
		if a.Org != g.cfg.Org || a.Erased || !g.matches(q, &a) || !d.allow(&a) {
			return true
		}
		if q.Sort != "" {
			all = append(all, &a)
		} else if out.Total >= q.Offset && len(page) < q.Count {
			page = append(page, &a)
			ids = append(ids, a.ID)
		}
		out.Total++
		return true
	})
	if err != nil {
		return nil, err
	}
	if q.Sort != "" {
		g.sortAnchors(all, q.Sort)
		for _, a := range all[min(q.Offset, len(all)):min(q.Offset+q.Count, len(all))] {
			page = append(page, a)
			ids = append(ids, a.ID)
		}
	}
	if len(page) == 0 {
		return out, nil
	}
	r, err := g.release(ctx, sr, ids, page)
	if err != nil {
		return nil, err
	}
	out.Release = *r
	return out, nil
}

// sortAnchors orders anchors by key ("date": the clinical time from the
// local index, records without one last; "_lastUpdated": when the version
// was anchored), descending with a leading "-", ties by record id.
func (g *Gatekeeper) sortAnchors(as []*cc.RecordAnchor, key string) {
	desc := strings.HasPrefix(key, "-")
	key = strings.TrimPrefix(key, "-")
	when := make(map[string]time.Time, len(as))
	for _, a := range as {
		if key == "date" {
			_, when[a.ID] = g.cfg.Index.Facets(a.ID)
		} else {
			when[a.ID] = a.Time
		}
	}
	slices.SortStableFunc(as, func(x, y *cc.RecordAnchor) int {
		tx, ty := when[x.ID], when[y.ID]
		switch {
		case tx.IsZero() != ty.IsZero():
			if tx.IsZero() {
				return 1
			}
			return -1
		case !tx.Equal(ty):
			c := tx.Compare(ty)
			if desc {
				c = -c
			}
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
}

package fhir

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
)

// Bundle is a validated FHIR R4 Bundle, split into its entries.
type Bundle struct {
	// Type is the Bundle.type: transaction, batch, collection, searchset,
	// document, message, history, transaction-response or batch-response.
	Type    string
	Entries []Entry
}

// Entry is one Bundle.entry: its fullUrl, its request (for a transaction or
// batch) and its validated resource.
type Entry struct {
	FullURL     string
	Method      string // GET, HEAD, POST, PUT, DELETE or PATCH; empty outside transaction and batch
	URL         string // "Patient", "Patient/123", "Patient?identifier=…"
	IfNoneExist string // conditional create query, e.g. "identifier=system|value"
	IfMatch     string // version precondition of an update, passed through
	Resource    *Resource
	// Err is set, only in a batch, when this entry is invalid (its
	// Resource is then nil): a batch's entries succeed or fail one by one.
	// It is an *OutcomeError whose locations name the entry.
	Err error
}

// ParseBundle validates a Bundle and every entry resource, using one worker
// per CPU. A transaction, and any bundle type other than batch, is all or
// nothing: one invalid entry fails the whole bundle with an *OutcomeError
// listing every issue of every entry ("Bundle.entry[3].resource.subject").
// In a batch, an invalid entry is reported in its Entry.Err instead.
func ParseBundle(b []byte) (*Bundle, error) {
	return ParseBundleParallel(b, runtime.GOMAXPROCS(0))
}

// ParseBundleParallel is ParseBundle with a chosen number of workers
// (at least 1).
func ParseBundleParallel(b []byte, workers int) (*Bundle, error) {
	return parseBundle(b, workers, true)
}

// ParseBundleForResolve is ParseBundle for a bundle that goes straight to
// Resolve: the envelope is validated, but the entries' resources are only
// decoded and described here, because Resolve validates every resource it
// rewrites (with its references resolved and typed) and each would
// otherwise be validated twice, the most expensive step of an ingest.
// Resources Resolve does not rewrite (entries that match an existing
// resource) are not stored, so they need no validation. Malformed JSON is
// still reported here.
func ParseBundleForResolve(b []byte) (*Bundle, error) {
	return parseBundle(b, runtime.GOMAXPROCS(0), false)
}

func parseBundle(b []byte, workers int, validateEntries bool) (*Bundle, error) {
	top, typ, err := resourceObject(b, "")
	if err != nil {
		return nil, err
	}
	if typ != "Bundle" {
		return nil, invalid(issue("invalid", "resourceType", "expected a Bundle, got %s", typ))
	}
	var env bundleEnvelope
	if err := env.from(top, b); err != nil {
		// The envelope has the wrong shape: let the validator say where.
		if issues := validate(b); hasErrors(issues) {
			return nil, invalid(issues...)
		}
		return nil, invalid(issue("structure", "Bundle", "malformed bundle (%s)", jsonErrorText(err)))
	}

	// The envelope without entry resources is validated as a whole (type,
	// fullUrl, request); each resource is validated on its own, in parallel.
	raws := make([]json.RawMessage, len(env.Entry))
	for i, e := range env.Entry {
		raws[i] = e["resource"]
		delete(e, "resource")
	}
	top["entry"], _ = json.Marshal(env.Entry)
	if env.Entry == nil {
		delete(top, "entry")
	}
	skeleton, _ := json.Marshal(top)
	issues := validate(skeleton)

	bundle := &Bundle{Type: env.Type, Entries: make([]Entry, len(env.Entry))}
	perEntry := make([][]Issue, len(env.Entry))
	tops := make([]map[string]json.RawMessage, len(env.Entry))
	types := make([]string, len(env.Entry))
	for i, e := range env.Entry {
		en := &bundle.Entries[i]
		_ = unmarshal(e["fullUrl"], &en.FullURL)
		var req struct {
			Method      string `json:"method"`
			URL         string `json:"url"`
			IfNoneExist string `json:"ifNoneExist"`
			IfMatch     string `json:"ifMatch"`
		}
		_ = unmarshal(e["request"], &req)
		en.Method, en.URL, en.IfNoneExist, en.IfMatch = req.Method, req.URL, req.IfNoneExist, req.IfMatch
		perEntry[i] = append(perEntry[i], entryRules(bundle.Type, i, en, raws[i] != nil)...)
	}
	parallel(len(raws), workers, func(i int) {
		if raws[i] == nil {
			return
		}
		at := entryPath(i) + ".resource"
		t, typ, err := resourceObject(raws[i], at)
		if err != nil {
			perEntry[i] = append(perEntry[i], err.(*OutcomeError).Issues...)
			return
		}
		tops[i], types[i] = t, typ
		if !validateEntries {
			if !isResourceType(typ) {
				perEntry[i] = append(perEntry[i], issue("invalid", at+".resourceType", "unknown resource type %q", typ))
			}
			return
		}
		for _, is := range validate(raws[i]) {
			perEntry[i] = append(perEntry[i], rebase(is, typ, at))
		}
	})

	// Bundle-local references (urn:uuid fullUrls) name their type through
	// the entry that carries them.
	localTypes := map[string]string{}
	for i, en := range bundle.Entries {
		if en.FullURL != "" && types[i] != "" {
			localTypes[en.FullURL] = types[i]
		}
	}
	typeOf := func(ref string) string { return localTypes[ref] }

	var fatal []Issue
	for _, is := range issues {
		if i, ok := entryIndex(is); ok && i < len(perEntry) {
			perEntry[i] = append(perEntry[i], is)
		} else if is.Severity == "error" || is.Severity == "fatal" {
			fatal = append(fatal, is)
		}
	}
	for i := range perEntry {
		if !hasErrors(perEntry[i]) {
			continue
		}
		if bundle.Type == "batch" {
			bundle.Entries[i].Err = invalid(errorsOnly(perEntry[i])...)
			tops[i] = nil
			continue
		}
		fatal = append(fatal, errorsOnly(perEntry[i])...)
	}
	if len(fatal) > 0 {
		return nil, invalid(fatal...)
	}
	parallel(len(raws), workers, func(i int) {
		if tops[i] == nil {
			return
		}
		en := &bundle.Entries[i]
		en.Resource = describe(types[i], tops[i], raws[i], typeOf)
		if en.Resource.Type == "Patient" && en.Method == "POST" && strings.HasPrefix(en.FullURL, "urn:") {
			// A created Patient is known by its fullUrl until Resolve gives
			// it an id, as its resources refer to it.
			en.Resource.Patient = en.FullURL
		}
	})
	return bundle, nil
}

// bundleEnvelope is what parseBundle reads of a bundle besides its
// resources.
type bundleEnvelope struct {
	Type  string                       `json:"type"`
	Entry []map[string]json.RawMessage `json:"entry"`
}

// from decodes the envelope of bundle b, whose top level is top: from its
// "type" and "entry" members, so that the whole bundle is not scanned
// again, unless a member's name matches one of them only without regard
// to case (which decoding b into the struct would also take, and does).
func (env *bundleEnvelope) from(top map[string]json.RawMessage, b []byte) error {
	for k := range top {
		if k != "type" && k != "entry" && (strings.EqualFold(k, "type") || strings.EqualFold(k, "entry")) {
			return unmarshal(b, env)
		}
	}
	var err error
	if raw, ok := top["type"]; ok {
		err = unmarshal(raw, &env.Type)
	}
	if raw, ok := top["entry"]; ok && err == nil {
		if env.Entry, ok = splitEntries(raw); !ok {
			err = unmarshal(raw, &env.Entry)
		}
	}
	if err != nil {
		// Worded as for the whole bundle.
		*env = bundleEnvelope{}
		return unmarshal(b, env)
	}
	return nil
}

// splitEntries splits Bundle.entry in place when it is an array of
// objects that splitObject takes; ok is false otherwise.
func splitEntries(raw json.RawMessage) (entries []map[string]json.RawMessage, ok bool) {
	elems, ok := splitArray(raw)
	if !ok {
		return nil, false
	}
	entries = make([]map[string]json.RawMessage, len(elems))
	for i, e := range elems {
		if entries[i], ok = splitObject(e); !ok {
			return nil, false
		}
	}
	return entries, true
}

// entryRules checks what the validator cannot: a transaction or batch entry
// needs a request, and a create or update needs a resource.
func entryRules(bundleType string, i int, en *Entry, hasResource bool) []Issue {
	if bundleType != "transaction" && bundleType != "batch" {
		return nil
	}
	at := entryPath(i)
	if en.Method == "" {
		return []Issue{issue("required", at+".request", "a %s entry needs a request", bundleType)}
	}
	if (en.Method == "POST" || en.Method == "PUT") && !hasResource {
		return []Issue{issue("required", at+".resource", "a %s entry needs a resource", en.Method)}
	}
	return nil
}

func entryPath(i int) string { return fmt.Sprintf("Bundle.entry[%d]", i) }

// entryIndex reports which entry an issue of the bundle envelope is about.
func entryIndex(is Issue) (int, bool) {
	var i int
	var rest string
	e := firstExpr(is)
	if !strings.HasPrefix(e, "Bundle.entry[") {
		return 0, false
	}
	if n, _ := fmt.Sscanf(e, "Bundle.entry[%d]%s", &i, &rest); n >= 1 {
		return i, true
	}
	return 0, false
}

// rebase moves an issue located in a resource ("Observation.subject") to
// where that resource sits in the bundle ("Bundle.entry[3].resource.subject").
func rebase(is Issue, typ, at string) Issue {
	out := is
	out.Expression = make([]string, len(is.Expression))
	for k, e := range is.Expression {
		switch {
		case e == typ:
			e = at
		case strings.HasPrefix(e, typ+".") || strings.HasPrefix(e, typ+"["):
			e = at + e[len(typ):]
		default:
			e = joinPath(at, e)
		}
		out.Expression[k] = e
	}
	if len(out.Expression) == 0 {
		out.Expression = []string{at}
	}
	return out
}

func errorsOnly(issues []Issue) []Issue {
	var out []Issue
	for _, is := range issues {
		if is.Severity == "error" || is.Severity == "fatal" {
			out = append(out, is)
		}
	}
	return out
}

// parallel runs f(0..n-1) on up to workers goroutines and waits.
func parallel(n, workers int, f func(i int)) {
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

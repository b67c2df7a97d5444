package fhir

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	cc "carechain"
)

// BundleEntry is one entry of a searchset or history Bundle to render.
type BundleEntry struct {
	// FullURL is the entry's absolute URL ("https://host/fhir/Observation/1");
	// it must not be version specific (bdl-8: no "/_history/").
	FullURL string
	// Resource is the entry's resource JSON, embedded as given (compacted).
	// It must be a JSON object; it is not validated again. A history entry
	// of a deletion has none.
	Resource json.RawMessage
	// Method and URL are the history entry's request ("PUT",
	// "Observation/1"); ignored in a searchset.
	Method, URL string
	// Status is the history entry's response status ("200 OK"); when empty
	// it follows the method: "201 Created" for POST, "204 No Content" for
	// DELETE, "200 OK" otherwise. Ignored in a searchset.
	Status string
	// Etag and LastModified complete a history entry's response (Etag as
	// `W/"3"`; a zero LastModified is left out). Ignored in a searchset.
	Etag         string
	LastModified time.Time
	// Mode is the searchset entry's search mode: "match" (the default when
	// empty), "include" or "outcome". Ignored in a history.
	Mode string
}

// EntryResponse is the outcome of one entry of a transaction or batch, in
// the order of the request's entries.
type EntryResponse struct {
	// Status is the HTTP status line, starting with its 3-digit code
	// ("201 Created", "200 OK", "404 Not Found"); required.
	Status string
	// Location is where a created or updated resource now lives
	// ("Observation/1/_history/1"), Etag its version (`W/"1"`) and
	// LastModified its time (zero: left out).
	Location     string
	Etag         string
	LastModified time.Time
	// Outcome is an OperationOutcome JSON (e.g. from Outcome) for an
	// entry that failed or has warnings; optional.
	Outcome json.RawMessage
	// FullURL and Resource are the entry's resource when the client asked
	// for it to be returned (Prefer: return=representation); optional.
	FullURL  string
	Resource json.RawMessage
}

// The R4 Bundle document, in R4 element order.
type (
	bundleDoc struct {
		ResourceType string      `json:"resourceType"`
		Type         string      `json:"type"`
		Total        *int        `json:"total,omitempty"`
		Link         []fLink     `json:"link,omitempty"`
		Entry        []bundleRow `json:"entry,omitempty"`
	}
	fLink struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	}
	bundleRow struct {
		FullURL  string          `json:"fullUrl,omitempty"`
		Resource json.RawMessage `json:"resource,omitempty"`
		Search   *rowSearch      `json:"search,omitempty"`
		Request  *rowRequest     `json:"request,omitempty"`
		Response *rowResponse    `json:"response,omitempty"`
	}
	rowSearch struct {
		Mode string `json:"mode"`
	}
	rowRequest struct {
		Method string `json:"method"`
		URL    string `json:"url"`
	}
	rowResponse struct {
		Status       string          `json:"status"`
		Location     string          `json:"location,omitempty"`
		Etag         string          `json:"etag,omitempty"`
		LastModified string          `json:"lastModified,omitempty"`
		Outcome      json.RawMessage `json:"outcome,omitempty"`
	}
)

// SearchSet renders search results as an R4 searchset Bundle: the entries
// in the order given, each with its fullUrl, resource and search mode;
// total when total >= 0 (a negative total is left out: unknown); and a
// "self" link when selfURL is not empty. It satisfies the Bundle
// invariants: every entry has a resource, no entry has a request or a
// response, and fullUrls are distinct and not version specific — an entry
// breaking them, a mode other than match, include or outcome, or a
// resource that is not a JSON object, is a cc.Invalid error. The same
// input gives the same bytes.
func SearchSet(entries []BundleEntry, total int, selfURL string) ([]byte, error) {
	return SearchSetPage(entries, total, selfURL, "", "")
}

// SearchSetPage is SearchSet with paging links: "next" and "previous"
// after "self", each when its URL is not empty.
func SearchSetPage(entries []BundleEntry, total int, selfURL, nextURL, prevURL string) ([]byte, error) {
	const op = "fhir.SearchSet"
	doc := bundleDoc{ResourceType: "Bundle", Type: "searchset", Link: selfLink(selfURL)}
	for _, l := range []fLink{{Relation: "next", URL: nextURL}, {Relation: "previous", URL: prevURL}} {
		if l.URL != "" {
			doc.Link = append(doc.Link, l)
		}
	}
	if total >= 0 {
		doc.Total = &total
	}
	seen := map[string]bool{}
	for i, e := range entries {
		what := "entry " + strconv.Itoa(i)
		if err := checkFullURL(op, what, e.FullURL, seen); err != nil {
			return nil, err
		}
		if len(e.Resource) == 0 {
			return nil, cc.Errorf(op, cc.Invalid, "%s has no resource", what)
		}
		if err := checkObject(op, what+" resource", e.Resource); err != nil {
			return nil, err
		}
		mode := e.Mode
		switch mode {
		case "":
			mode = "match"
		case "match", "include", "outcome":
		default:
			return nil, cc.Errorf(op, cc.Invalid, "%s: search mode %q is not match, include or outcome", what, cc.Echo(mode))
		}
		doc.Entry = append(doc.Entry, bundleRow{FullURL: e.FullURL, Resource: e.Resource, Search: &rowSearch{Mode: mode}})
	}
	return encode(op, doc)
}

// HistoryBundle renders versions of resources as an R4 history Bundle:
// the entries in the order given (newest first, by FHIR convention), each
// with its fullUrl, resource (none for a deletion), request (Method and
// URL, both required) and response (Status, defaulted from the method,
// Etag, LastModified); and a "self" link when selfURL is not empty. The
// same fullUrl may appear once per version. A method other than GET,
// HEAD, POST, PUT, DELETE or PATCH, a missing URL, a status without its
// 3-digit code, a version-specific fullUrl or a resource that is not a
// JSON object is a cc.Invalid error. The same input gives the same bytes.
func HistoryBundle(entries []BundleEntry, selfURL string) ([]byte, error) {
	const op = "fhir.HistoryBundle"
	doc := bundleDoc{ResourceType: "Bundle", Type: "history", Link: selfLink(selfURL)}
	for i, e := range entries {
		what := "entry " + strconv.Itoa(i)
		if err := checkFullURL(op, what, e.FullURL, nil); err != nil {
			return nil, err
		}
		if len(e.Resource) > 0 {
			if err := checkObject(op, what+" resource", e.Resource); err != nil {
				return nil, err
			}
		}
		switch e.Method {
		case "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH":
		default:
			return nil, cc.Errorf(op, cc.Invalid, "%s: method %q is not an HTTP verb of R4", what, cc.Echo(e.Method))
		}
		if e.URL == "" {
			return nil, cc.Errorf(op, cc.Invalid, "%s has no request URL", what)
		}
		status := e.Status
		if status == "" {
			status = defaultStatus(e.Method)
		}
		resp, err := response(op, what, status, "", e.Etag, e.LastModified, nil)
		if err != nil {
			return nil, err
		}
		doc.Entry = append(doc.Entry, bundleRow{FullURL: e.FullURL, Resource: e.Resource,
			Request: &rowRequest{Method: e.Method, URL: e.URL}, Response: resp})
	}
	return encode(op, doc)
}

// TransactionResponse renders the outcome of a transaction as an R4
// transaction-response Bundle: one entry per result, in order, each with
// its response and, when given, its fullUrl and resource. A result
// without a status starting with a 3-digit code, or an outcome or
// resource that is not a JSON object, is a cc.Invalid error. The same
// input gives the same bytes.
func TransactionResponse(results []EntryResponse) ([]byte, error) {
	return responseBundle("fhir.TransactionResponse", "transaction-response", results)
}

// BatchResponse is TransactionResponse for a batch: a batch-response
// Bundle, whose entries may fail one by one (each with its Outcome).
func BatchResponse(results []EntryResponse) ([]byte, error) {
	return responseBundle("fhir.BatchResponse", "batch-response", results)
}

func responseBundle(op, typ string, results []EntryResponse) ([]byte, error) {
	doc := bundleDoc{ResourceType: "Bundle", Type: typ}
	seen := map[string]bool{}
	for i, r := range results {
		what := "entry " + strconv.Itoa(i)
		if r.FullURL != "" {
			if err := checkFullURL(op, what, r.FullURL, seen); err != nil {
				return nil, err
			}
		}
		if len(r.Resource) > 0 {
			if err := checkObject(op, what+" resource", r.Resource); err != nil {
				return nil, err
			}
		}
		resp, err := response(op, what, r.Status, r.Location, r.Etag, r.LastModified, r.Outcome)
		if err != nil {
			return nil, err
		}
		doc.Entry = append(doc.Entry, bundleRow{FullURL: r.FullURL, Resource: r.Resource, Response: resp})
	}
	return encode(op, doc)
}

// response builds and checks an entry's response.
func response(op, what, status, location, etag string, modified time.Time, outcome json.RawMessage) (*rowResponse, error) {
	if len(status) < 3 || !isDigits(status[:3]) || (len(status) > 3 && status[3] != ' ') {
		return nil, cc.Errorf(op, cc.Invalid, "%s: status %q does not start with a 3-digit HTTP code", what, cc.Echo(status))
	}
	r := &rowResponse{Status: status, Location: location, Etag: etag, Outcome: outcome}
	if !modified.IsZero() {
		var ok bool
		if r.LastModified, ok = instant(modified); !ok {
			return nil, cc.Errorf(op, cc.Invalid, "%s: lastModified is out of range", what)
		}
	}
	if len(outcome) > 0 {
		if err := checkObject(op, what+" outcome", outcome); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// defaultStatus is the usual response status of a history entry's method.
func defaultStatus(method string) string {
	switch method {
	case "POST":
		return "201 Created"
	case "DELETE":
		return "204 No Content"
	}
	return "200 OK"
}

func selfLink(url string) []fLink {
	if url == "" {
		return nil
	}
	return []fLink{{Relation: "self", URL: url}}
}

// checkFullURL checks a fullUrl: not version specific (bdl-8) and, when
// seen is not nil, not already used (bdl-7).
func checkFullURL(op, what, u string, seen map[string]bool) error {
	if strings.Contains(u, "/_history/") {
		return cc.Errorf(op, cc.Invalid, "%s: fullUrl %q is version specific", what, cc.Echo(u))
	}
	if seen != nil && u != "" {
		if seen[u] {
			return cc.Errorf(op, cc.Invalid, "%s: fullUrl %q is used twice", what, cc.Echo(u))
		}
		seen[u] = true
	}
	return nil
}

// checkObject checks that raw is one JSON object.
func checkObject(op, what string, raw json.RawMessage) error {
	if firstByte(raw) != '{' || !json.Valid(raw) {
		return cc.Errorf(op, cc.Invalid, "%s is not a JSON object", what)
	}
	return nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	cc "carechain"
)

const base = "https://node.example/fhir/"

// observation is a small valid Observation, written with spaces so that
// the bundle's compaction shows.
func observation(id string) json.RawMessage {
	return json.RawMessage(`{ "resourceType": "Observation", "id": "` + id + `", "status": "final",
		"code": { "text": "weight" }, "subject": { "reference": "Patient/p1" } }`)
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// checkBundle validates a rendered bundle (Parse, the bdl invariants,
// ParseBundle), checks its type and returns its decoded form and entries.
func checkBundle(t *testing.T, b []byte, typ string, n int) (map[string]any, *Bundle) {
	t.Helper()
	doc := mustValid(t, b, "Bundle")
	bu := mustParseBundle(t, b)
	if bu.Type != typ || len(bu.Entries) != n {
		t.Fatalf("type %q with %d entries, want %q with %d", bu.Type, len(bu.Entries), typ, n)
	}
	return doc, bu
}

func searchEntries(n int) []BundleEntry {
	var out []BundleEntry
	for i := 0; i < n; i++ {
		id := "o" + strconv.Itoa(n-i) // not in sorted order: the order given must be kept
		e := BundleEntry{FullURL: base + "Observation/" + id, Resource: observation(id)}
		if i == n-1 && n > 1 {
			e.Mode = "include"
			e.FullURL, e.Resource = base+"Patient/p1", json.RawMessage(`{"resourceType":"Patient","id":"p1"}`)
		}
		out = append(out, e)
	}
	return out
}

func TestSearchSet(t *testing.T) {
	tests := []struct {
		name    string
		entries []BundleEntry
		total   int
		self    string
		fields  []field
	}{
		{"no match", nil, 0, base + "Observation?code=x", []field{
			{p("type"), "searchset"}, {p("total"), "0"}, {p("entry"), "<nil>"},
			{p("link", 0, "relation"), "self"}, {p("link", 0, "url"), base + "Observation?code=x"},
		}},
		{"one match, total unknown, no link", searchEntries(1), -1, "", []field{
			{p("total"), "<nil>"}, {p("link"), "<nil>"},
			{p("entry", 0, "fullUrl"), base + "Observation/o1"},
			{p("entry", 0, "search", "mode"), "match"},
			{p("entry", 0, "resource", "id"), "o1"},
		}},
		{"a page of many, with an include", searchEntries(25), 240, base + "Observation?_count=24", []field{
			{p("total"), "240"},
			{p("entry", 0, "fullUrl"), base + "Observation/o25"},
			{p("entry", 1, "fullUrl"), base + "Observation/o24"},
			{p("entry", 23, "search", "mode"), "match"},
			{p("entry", 24, "search", "mode"), "include"},
			{p("entry", 24, "resource", "resourceType"), "Patient"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := SearchSet(tt.entries, tt.total, tt.self)
			if err != nil {
				t.Fatalf("SearchSet: %v", err)
			}
			doc, bu := checkBundle(t, b, "searchset", len(tt.entries))
			checkFields(t, doc, tt.fields)
			for i, e := range tt.entries {
				if bu.Entries[i].FullURL != e.FullURL {
					t.Errorf("entry %d: fullUrl %q, want %q", i, bu.Entries[i].FullURL, e.FullURL)
				}
				if !bytes.Contains(b, []byte(compact(t, e.Resource))) {
					t.Errorf("entry %d: the resource is not embedded as given", i)
				}
			}
			again, _ := SearchSet(tt.entries, tt.total, tt.self)
			if !bytes.Equal(b, again) {
				t.Error("two renderings of the same results differ")
			}
		})
	}
}

func TestHistoryBundle(t *testing.T) {
	url := base + "Observation/o1"
	modified := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	versions := []BundleEntry{
		{FullURL: url, Method: "DELETE", URL: "Observation/o1"},
		{FullURL: url, Resource: observation("o1"), Method: "PUT", URL: "Observation/o1", Etag: `W/"2"`, LastModified: modified},
		{FullURL: url, Resource: observation("o1"), Method: "POST", URL: "Observation", Status: "201 Created", Etag: `W/"1"`},
	}
	tests := []struct {
		name    string
		entries []BundleEntry
		fields  []field
	}{
		{"empty", nil, []field{{p("type"), "history"}, {p("entry"), "<nil>"}, {p("total"), "<nil>"}}},
		{"one version", versions[2:], []field{
			{p("entry", 0, "request", "method"), "POST"},
			{p("entry", 0, "request", "url"), "Observation"},
			{p("entry", 0, "response", "status"), "201 Created"},
			{p("entry", 0, "response", "etag"), `W/"1"`},
		}},
		{"deleted, updated, created: one fullUrl, three versions", versions, []field{
			{p("entry", 0, "resource"), "<nil>"},
			{p("entry", 0, "response", "status"), "204 No Content"},
			{p("entry", 1, "request", "method"), "PUT"},
			{p("entry", 1, "response", "status"), "200 OK"},
			{p("entry", 1, "response", "lastModified"), "2024-05-01T10:00:00Z"},
			{p("entry", 2, "response", "status"), "201 Created"},
			{p("link", 0, "url"), url + "/_history"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			self := ""
			if len(tt.entries) == 3 {
				self = url + "/_history"
			}
			b, err := HistoryBundle(tt.entries, self)
			if err != nil {
				t.Fatalf("HistoryBundle: %v", err)
			}
			doc, bu := checkBundle(t, b, "history", len(tt.entries))
			checkFields(t, doc, tt.fields)
			for i, e := range tt.entries {
				if got := bu.Entries[i]; got.Method != e.Method || got.URL != e.URL {
					t.Errorf("entry %d: request %s %s, want %s %s", i, got.Method, got.URL, e.Method, e.URL)
				}
			}
			again, _ := HistoryBundle(tt.entries, self)
			if !bytes.Equal(b, again) {
				t.Error("two renderings of the same history differ")
			}
		})
	}
}

func TestTransactionResponse(t *testing.T) {
	created := EntryResponse{Status: "201 Created", Location: "Observation/o1/_history/1", Etag: `W/"1"`,
		LastModified: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}
	failed := EntryResponse{Status: "422 Unprocessable Entity",
		Outcome: Outcome(cc.Errorf("records.put", cc.Invalid, "status is required"))}
	returned := EntryResponse{Status: "200 OK", FullURL: base + "Observation/o2", Resource: observation("o2"), Etag: `W/"4"`}
	many := make([]EntryResponse, 30)
	for i := range many {
		many[i] = EntryResponse{Status: "201 Created", Location: fmt.Sprintf("Immunization/i%d/_history/1", i)}
	}
	tests := []struct {
		name    string
		batch   bool
		results []EntryResponse
		fields  []field
	}{
		{"empty transaction", false, nil, []field{{p("type"), "transaction-response"}, {p("entry"), "<nil>"}}},
		{"one created", false, []EntryResponse{created}, []field{
			{p("entry", 0, "response", "status"), "201 Created"},
			{p("entry", 0, "response", "location"), "Observation/o1/_history/1"},
			{p("entry", 0, "response", "etag"), `W/"1"`},
			{p("entry", 0, "response", "lastModified"), "2024-05-01T10:00:00Z"},
			{p("entry", 0, "fullUrl"), "<nil>"},
		}},
		{"many, in order", false, many, []field{
			{p("entry", 0, "response", "location"), "Immunization/i0/_history/1"},
			{p("entry", 29, "response", "location"), "Immunization/i29/_history/1"},
		}},
		{"batch with a failure and a returned resource", true, []EntryResponse{created, failed, returned}, []field{
			{p("type"), "batch-response"},
			{p("entry", 1, "response", "status"), "422 Unprocessable Entity"},
			{p("entry", 1, "response", "outcome", "resourceType"), "OperationOutcome"},
			{p("entry", 1, "response", "outcome", "issue", 0, "diagnostics"), "status is required"},
			{p("entry", 2, "fullUrl"), base + "Observation/o2"},
			{p("entry", 2, "resource", "id"), "o2"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			render, typ := TransactionResponse, "transaction-response"
			if tt.batch {
				render, typ = BatchResponse, "batch-response"
			}
			b, err := render(tt.results)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			doc, _ := checkBundle(t, b, typ, len(tt.results))
			checkFields(t, doc, tt.fields)
			again, _ := render(tt.results)
			if !bytes.Equal(b, again) {
				t.Error("two renderings of the same results differ")
			}
		})
	}
}

func TestBundleErrors(t *testing.T) {
	obs := observation("o1")
	tests := []struct {
		name   string
		render func() ([]byte, error)
		want   string
	}{
		{"search entry without resource", func() ([]byte, error) {
			return SearchSet([]BundleEntry{{FullURL: base + "Observation/o1"}}, 1, "")
		}, "no resource"},
		{"search fullUrl twice", func() ([]byte, error) {
			e := BundleEntry{FullURL: base + "Observation/o1", Resource: obs}
			return SearchSet([]BundleEntry{e, e}, 2, "")
		}, "used twice"},
		{"version-specific fullUrl", func() ([]byte, error) {
			return SearchSet([]BundleEntry{{FullURL: base + "Observation/o1/_history/2", Resource: obs}}, 1, "")
		}, "version specific"},
		{"unknown search mode", func() ([]byte, error) {
			return SearchSet([]BundleEntry{{FullURL: base + "Observation/o1", Resource: obs, Mode: "maybe"}}, 1, "")
		}, "search mode"},
		{"resource not an object", func() ([]byte, error) {
			return SearchSet([]BundleEntry{{FullURL: base + "Observation/o1", Resource: json.RawMessage(`[1]`)}}, 1, "")
		}, "not a JSON object"},
		{"resource not JSON", func() ([]byte, error) {
			return SearchSet([]BundleEntry{{FullURL: base + "Observation/o1", Resource: json.RawMessage(`{"a":`)}}, 1, "")
		}, "not a JSON object"},
		{"history without method", func() ([]byte, error) {
			return HistoryBundle([]BundleEntry{{FullURL: base + "Observation/o1", Resource: obs, URL: "Observation/o1"}}, "")
		}, "HTTP verb"},
		{"history without URL", func() ([]byte, error) {
			return HistoryBundle([]BundleEntry{{FullURL: base + "Observation/o1", Resource: obs, Method: "PUT"}}, "")
		}, "no request URL"},
		{"history with a bad status", func() ([]byte, error) {
			return HistoryBundle([]BundleEntry{{Resource: obs, Method: "PUT", URL: "Observation/o1", Status: "OK"}}, "")
		}, "3-digit"},
		{"response without status", func() ([]byte, error) {
			return TransactionResponse([]EntryResponse{{Location: "Observation/o1/_history/1"}})
		}, "3-digit"},
		{"response status without space", func() ([]byte, error) {
			return TransactionResponse([]EntryResponse{{Status: "2010"}})
		}, "3-digit"},
		{"outcome not JSON", func() ([]byte, error) {
			return BatchResponse([]EntryResponse{{Status: "400 Bad Request", Outcome: json.RawMessage(`oops`)}})
		}, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.render()
			if cc.KindOf(err) != cc.Invalid || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want an invalid error saying %q", err, tt.want)
			}
		})
	}
}

package epcis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	cc "carechain"
)

// Limits.
const (
	// MaxDocumentSize bounds a submission: 8 MiB holds several thousand
	// events, more than one capture request should carry.
	MaxDocumentSize = 8 << 20
	// MaxIssues bounds how many issues one rejection lists; a last issue
	// says how many more there were.
	MaxIssues = 100
)

// The five EPCIS 2.0 event types.
const (
	ObjectEvent         = "ObjectEvent"
	AggregationEvent    = "AggregationEvent"
	TransactionEvent    = "TransactionEvent"
	TransformationEvent = "TransformationEvent"
	AssociationEvent    = "AssociationEvent"
)

// The actions.
const (
	ActionAdd     = "ADD"
	ActionObserve = "OBSERVE"
	ActionDelete  = "DELETE"
)

// Parse validates an EPCIS 2.0 JSON / JSON-LD submission — an
// EPCISDocument, an EPCISQueryDocument (its resultsBody.eventList) or a
// single event with its @context — and returns its events normalized.
//
// On failure the error is an *OutcomeError listing every issue with its
// JSON pointer: kind cc.TooLarge over MaxDocumentSize, cc.Malformed when b is
// not exactly one JSON value, cc.Invalid when the official schema or a
// semantic rule rejects it (schema issues only, when there are any), and
// cc.Internal only if the embedded schema does not compile (a build
// defect). Events of an extension type (a URI "type", which the schema
// admits) are rejected as "not-supported"; an empty eventList is accepted
// with no events. Parse never panics, does no I/O and reads no clock; it is
// safe for concurrent use.
func Parse(b []byte) (*Document, error) {
	if len(b) > MaxDocumentSize {
		return nil, outcome(cc.TooLarge, newIssue(CodeTooLong, "", "document is %d bytes, over the %d-byte limit", len(b), MaxDocumentSize))
	}
	v, err := decodeJSON(b)
	if err != nil {
		return nil, outcome(cc.Malformed, newIssue(CodeStructure, "", "%v", err))
	}
	if issues := checkTypes(v); len(issues) > 0 {
		return nil, outcome(cc.Invalid, issues...)
	}
	issues, err := validateSchema(v)
	if err != nil {
		// The embedded schema failed to compile: a build defect, not the caller's.
		return nil, &OutcomeError{Kind: cc.Internal, Issues: []Issue{newIssue("exception", "", "schema unavailable")}}
	}
	if len(issues) > 0 {
		return nil, outcome(cc.Invalid, issues...)
	}
	doc, issues := build(b)
	if len(issues) > 0 {
		return nil, outcome(cc.Invalid, issues...)
	}
	return doc, nil
}

// decodeJSON decodes exactly one JSON value, numbers kept as json.Number
// as the schema validator expects.
func decodeJSON(b []byte) (any, error) {
	if v, ok := decodePlain(b); ok {
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(err, b)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("not a single JSON value: data after offset %d", dec.InputOffset())
	}
	return v, nil
}

// jsonError words a decoding error with its byte offset.
func jsonError(err error, b []byte) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("not JSON: %v at offset %d", se, se.Offset)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if len(bytes.TrimSpace(b)) == 0 {
			return fmt.Errorf("empty document")
		}
		return fmt.Errorf("not JSON: unexpected end of input")
	}
	return fmt.Errorf("not JSON: %v", err)
}

// checkTypes reports a missing or non-string "type" of the document and
// of each event before the schema runs: the schema selects a definition
// with if/then on "type", and without one every branch applies, burying the
// one real problem under a dozen others.
func checkTypes(v any) []Issue {
	root, ok := v.(map[string]any)
	if !ok {
		return nil // the schema reports the wrong type of the document
	}
	var issues []Issue
	need := func(obj map[string]any, loc string) {
		t, present := obj["type"]
		if _, ok := t.(string); ok {
			return
		}
		if present {
			issues = append(issues, newIssue(CodeSchema, ptr(loc, "type"), "type must be a string, got %s", jsonKind(t)))
		} else {
			issues = append(issues, newIssue(CodeSchema, loc, "missing property 'type'"))
		}
	}
	need(root, "")
	events := func(list any, loc string) {
		arr, _ := list.([]any)
		for i, e := range arr {
			if obj, ok := e.(map[string]any); ok {
				need(obj, ptr(loc, i))
			}
		}
	}
	switch root["type"] {
	case "EPCISDocument":
		if body, ok := root["epcisBody"].(map[string]any); ok {
			events(body["eventList"], "/epcisBody/eventList")
		}
	case "EPCISQueryDocument":
		body, _ := root["epcisBody"].(map[string]any)
		qr, _ := body["queryResults"].(map[string]any)
		rb, _ := qr["resultsBody"].(map[string]any)
		events(rb["eventList"], "/epcisBody/queryResults/resultsBody/eventList")
	}
	return issues
}

// jsonKind names the JSON type of a decoded value.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "object"
}

// rawDoc is the envelope of a schema-valid submission.
type rawDoc struct {
	Context       json.RawMessage `json:"@context"`
	Type          string          `json:"type"`
	SchemaVersion string          `json:"schemaVersion"`
	CreationDate  string          `json:"creationDate"`
	EPCISBody     struct {
		EventList    []json.RawMessage `json:"eventList"`
		QueryResults struct {
			QueryName   string `json:"queryName"`
			ResultsBody struct {
				EventList []json.RawMessage `json:"eventList"`
			} `json:"resultsBody"`
		} `json:"queryResults"`
	} `json:"epcisBody"`
}

// build applies the semantic rules to a schema-valid submission and
// normalizes its events.
func build(b []byte) (*Document, []Issue) {
	var rd rawDoc
	if err := json.Unmarshal(b, &rd); err != nil {
		return nil, []Issue{newIssue(CodeValue, "", "%v", err)}
	}
	doc := &Document{Type: rd.Type, SchemaVersion: rd.SchemaVersion}
	var issues []Issue
	if rd.CreationDate != "" {
		t, err := parseTime(rd.CreationDate)
		if err != nil {
			issues = append(issues, newIssue(CodeValue, "/creationDate", "%v", err))
		}
		doc.CreationDate = t
	}
	prefixes := contextPrefixes(nil, rd.Context)
	var list []json.RawMessage
	var base string
	switch rd.Type {
	case "EPCISDocument":
		list, base = rd.EPCISBody.EventList, "/epcisBody/eventList"
	case "EPCISQueryDocument":
		list, base = rd.EPCISBody.QueryResults.ResultsBody.EventList, "/epcisBody/queryResults/resultsBody/eventList"
		doc.QueryName = rd.EPCISBody.QueryResults.QueryName
	default: // a single event: the schema admits nothing else
		// Raw must not alias the caller's buffer, as the eventList items do not.
		ev, evIssues := buildEvent(bytes.Clone(bytes.TrimSpace(b)), "", prefixes)
		doc.Events = []Event{ev}
		return doc, append(issues, evIssues...)
	}
	doc.Events = make([]Event, 0, len(list))
	for i, raw := range list {
		ev, evIssues := buildEvent(raw, ptr(base, i), prefixes)
		issues = append(issues, evIssues...)
		doc.Events = append(doc.Events, ev)
	}
	return doc, issues
}

// parseTime parses an xsd:dateTime with an explicit offset (RFC 3339).
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s is not a date-time with a time-zone offset (RFC 3339)", quote(s))
	}
	return t, nil
}

// parseOffset parses an eventTimeZoneOffset ("+01:00", "-06:00") into a
// fixed zone.
func parseOffset(s string) (*time.Location, error) {
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' || !isDigits(s[1:3]) || !isDigits(s[4:6]) {
		return nil, fmt.Errorf("%s is not a time-zone offset ±hh:mm", quote(s))
	}
	h := int(s[1]-'0')*10 + int(s[2]-'0')
	m := int(s[4]-'0')*10 + int(s[5]-'0')
	if m > 59 || h > 14 || (h == 14 && m != 0) {
		return nil, fmt.Errorf("time-zone offset %s is outside -14:00..+14:00", quote(s))
	}
	secs := h*3600 + m*60
	if s[0] == '-' {
		secs = -secs
	}
	return time.FixedZone(s, secs), nil
}

package fhir

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	rpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	jsoniter "github.com/json-iterator/go"
)

// maxNestingDepth bounds how deep a resource may nest (counted in path
// segments). The library's default is unbounded, which lets hostile input
// recurse without limit; real resources stay far below this.
const maxNestingDepth = 64

// fastJSON is json-iterator in its encoding/json-compatible mode: the
// decoder google/fhir/go itself uses (so this package reads the same
// document the validator checked), and 2–3× faster than encoding/json on
// the top-level decodes that describe a resource.
var fastJSON = jsoniter.ConfigCompatibleWithStandardLibrary

func unmarshal(b []byte, v any) error { return fastJSON.Unmarshal(b, v) }

// validator is one validating R4 unmarshaller of google/fhir/go. The
// library's Unmarshaller holds no per-call state, but it documents no
// concurrency guarantee, so each goroutine takes its own from a pool.
type validator struct {
	u *jsonformat.Unmarshaller
}

var validators = sync.Pool{New: func() any {
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		// Only fails for an unknown version or time zone: a build defect.
		panic("fhir: cannot build the R4 unmarshaller: " + err.Error())
	}
	u.MaxNestingDepth = maxNestingDepth
	return &validator{u: u}
}}

// validate checks one resource as the library's validating R4 unmarshal
// does and returns every problem it reports (structure first, then the
// validation pass: required fields, primitive formats, reference target
// types). A resource quickValid vouches for has none; any other is the
// library's to judge (libraryIssues). The issue locations are rooted at
// the resource type ("Observation.status").
func validate(b []byte) []Issue {
	if quickValid(b) {
		return nil
	}
	return libraryIssues(b)
}

// libraryIssues runs the library's validating R4 unmarshal of one resource
// and returns the problems it reports.
func libraryIssues(b []byte) []Issue {
	v := validators.Get().(*validator)
	defer validators.Put(v)
	var rep reporter
	_, err := v.u.UnmarshalWithErrorReporter(b, &rep)
	if err != nil {
		rep.add("", err)
	}
	return rep.issues
}

// reporter collects the library's validation errors and warnings as Issues.
// It implements errorreporter.ErrorReporter.
type reporter struct {
	issues []Issue
}

// ReportValidationError records an error-severity issue.
func (r *reporter) ReportValidationError(path string, err error) error {
	r.add(path, err)
	return nil
}

// ReportValidationWarning records a warning-severity issue.
func (r *reporter) ReportValidationWarning(path string, err error) error {
	n := len(r.issues)
	r.add(path, err)
	for i := n; i < len(r.issues); i++ {
		r.issues[i].Severity = "warning"
	}
	return nil
}

// add converts one library error, or list of errors, into issues. The
// library's error types live in an internal package, so their exported
// fields (Path, Details, Diagnostics) are read by reflection; anything else
// falls back to parsing the `error at "path": details` text.
func (r *reporter) add(path string, err error) {
	for _, le := range libErrors(err) {
		p := le.path
		if p == "" {
			p = path
		}
		r.issues = append(r.issues, libIssue(p, le.details, le.diagnostics))
	}
}

type libError struct{ path, details, diagnostics string }

func libErrors(err error) []libError {
	v := reflect.ValueOf(err)
	switch {
	case v.Kind() == reflect.Slice:
		var out []libError
		for i := 0; i < v.Len(); i++ {
			if le, ok := structError(v.Index(i)); ok {
				out = append(out, le)
			}
		}
		if len(out) == v.Len() && len(out) > 0 {
			return out
		}
	case v.Kind() == reflect.Pointer:
		if le, ok := structError(v); ok {
			return []libError{le}
		}
	}
	return []libError{textError(err.Error())}
}

func structError(v reflect.Value) (libError, bool) {
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return libError{}, false
	}
	s := v.Elem()
	get := func(name string) (string, bool) {
		f := s.FieldByName(name)
		if !f.IsValid() || f.Kind() != reflect.String {
			return "", false
		}
		return f.String(), true
	}
	path, ok1 := get("Path")
	details, ok2 := get("Details")
	diag, _ := get("Diagnostics")
	return libError{path, details, diag}, ok1 && ok2
}

var errorAt = regexp.MustCompile(`^error at "([^"]*)": (.*)$`)

func textError(s string) libError {
	if m := errorAt.FindStringSubmatch(s); m != nil {
		return libError{path: m[1], details: m[2]}
	}
	return libError{details: s}
}

// libIssue classifies one library error. Diagnostics from the library may
// quote input values (PHI), so only the field name of an unknown field is
// kept from them, to complete the location.
func libIssue(path, details, diagnostics string) Issue {
	code := "value"
	path = normalizePath(path)
	switch {
	case details == "unknown field" || strings.HasPrefix(details, "cannot accept multiple values"):
		code = "structure"
		if name, err := strconv.Unquote(diagnostics); err == nil && fieldName.MatchString(name) {
			path = joinPath(path, name)
		}
	case details == "invalid JSON" || details == "expected array" || details == "invalid field" ||
		details == "invalid extension field" || strings.HasPrefix(details, "invalid type") ||
		strings.HasPrefix(details, "array length mismatch") || strings.HasPrefix(details, "field exceeded") ||
		details == "invalid resource type" || details == "unknown resource type" ||
		strings.HasPrefix(details, "missing required field \"resourceType\""):
		code = "structure"
	case strings.HasPrefix(details, "missing required field"):
		code = "required"
		if name, err := strconv.Unquote(strings.TrimPrefix(details, "missing required field ")); err == nil && fieldName.MatchString(name) {
			path = joinPath(path, name)
		}
	case strings.HasPrefix(details, "expected "):
		code = "value"
	case strings.Contains(details, "code"):
		code = "code-invalid"
	case strings.HasPrefix(details, "invalid reference") || details == "unexpected reference":
		code = "invalid"
	}
	return issue(code, path, "%s", details)
}

var fieldName = regexp.MustCompile(`^_?[A-Za-z][A-Za-z0-9]*$`)

func joinPath(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// normalizePath turns the library's locations into FHIRPath style: the
// type segment it inserts for a nested resource ("contained[0].Medication.code")
// is dropped ("contained[0].code"); the root type is kept.
func normalizePath(p string) string {
	segs := strings.Split(p, ".")
	out := segs[:0]
	for i, s := range segs {
		if i > 0 && s != "" && s[0] >= 'A' && s[0] <= 'Z' && isResourceType(s) {
			continue
		}
		out = append(out, s)
	}
	return strings.Join(out, ".")
}

// resourceTypes holds every R4 resource type name, read from the library's
// ContainedResource oneof so the list matches the validator exactly.
var resourceTypes = func() map[string]bool {
	m := map[string]bool{}
	oneofs := (&rpb.ContainedResource{}).ProtoReflect().Descriptor().Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		fields := oneofs.Get(i).Fields()
		for j := 0; j < fields.Len(); j++ {
			if msg := fields.Get(j).Message(); msg != nil {
				m[string(msg.Name())] = true
			}
		}
	}
	return m
}()

// isResourceType reports whether name is an R4 resource type.
func isResourceType(name string) bool { return resourceTypes[name] }

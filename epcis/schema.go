package epcis

import (
	"bytes"
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// schemaJSON is the official GS1 EPCIS 2.0 JSON Schema (draft-07), byte for
// byte as published in gs1/EPCIS at commit 2b888befbc07; schema/LICENSE is
// GS1's notice that comes with it.
//
//go:embed schema/EPCIS-JSON-Schema.json
var schemaJSON []byte

// SchemaURL is the $id of the embedded official schema.
const SchemaURL = "https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json"

// compiledSchema compiles the embedded schema once per process. Draft-07
// asserts "format" (uri, date-time), as the official validators do.
var compiledSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.UseRegexpEngine(lookaheadRegexp)
	if err := c.AddResource(SchemaURL, doc); err != nil {
		return nil, err
	}
	return c.Compile(SchemaURL)
})

// lookaheadRegexp is the schema's regular-expression engine: Go's RE2 plus
// the one construct RE2 lacks that the official schema uses, a leading
// negative lookahead "^(?!X)" ("does not start with X"), as in the patterns
// that keep CBV URNs and gs1.org/voc URIs out of the user-extension forms.
func lookaheadRegexp(pattern string) (jsonschema.Regexp, error) {
	if inner, ok := leadingNegativeLookahead(pattern); ok {
		re, err := regexp.Compile("^(?:" + inner + ")")
		if err != nil {
			return nil, err
		}
		return notPrefix{re: re, src: pattern}, nil
	}
	return regexp.Compile(pattern)
}

// leadingNegativeLookahead reports whether pattern is exactly "^(?!X)" and
// returns X.
func leadingNegativeLookahead(pattern string) (string, bool) {
	const open = "^(?!"
	if !strings.HasPrefix(pattern, open) {
		return "", false
	}
	depth := 1
	for i := len(open); i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				if i != len(pattern)-1 {
					return "", false
				}
				return pattern[len(open):i], true
			}
		}
	}
	return "", false
}

// notPrefix matches the strings that do not start with re's language.
type notPrefix struct {
	re  *regexp.Regexp
	src string
}

func (n notPrefix) MatchString(s string) bool { return !n.re.MatchString(s) }
func (n notPrefix) String() string            { return n.src }

// validateSchema checks a decoded JSON value (numbers as json.Number)
// against the official schema and returns one issue per failed constraint,
// located by JSON pointer.
func validateSchema(v any) ([]Issue, error) {
	sch, err := compiledSchema()
	if err != nil {
		return nil, fmt.Errorf("epcis: compiling the embedded schema: %w", err)
	}
	if quickCheck(v) {
		return nil, nil // certainly valid (quickschema.go); the library would say so too
	}
	err = sch.Validate(v)
	if err == nil {
		return nil, nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return nil, err
	}
	issues := schemaIssues(ve, "", false)
	if len(issues) == 0 { // cannot happen: a failure has at least one leaf
		issues = append(issues, newIssue(CodeSchema, "", "does not match the EPCIS 2.0 JSON Schema"))
	}
	return dedupe(issues), nil
}

// schemaIssues turns the library's error tree into issues. Leaves become
// issues at their instance location. A propertyNames failure becomes one
// issue at the offending property. An anyOf / oneOf whose branches all fail
// becomes the issues of the branch that got deepest into the instance (the
// likely intent, as in "best match"), or, when several tie, one issue at
// their common location listing each alternative, so a bad bizStep reads as
// one issue and not as "not a URI" plus "not in the enum".
//
// loc overrides the node's own location when fixed is set: the library
// (v6.0.3) reuses a mutable slice for a propertyNames node's location, so
// that location is rebuilt from the parent's here.
func schemaIssues(e *jsonschema.ValidationError, loc string, fixed bool) []Issue {
	k, isPropertyNames := e.ErrorKind.(*kind.PropertyNames)
	if !fixed && !isPropertyNames {
		loc = jsonPointer(e.InstanceLocation)
	}
	if isPropertyNames {
		// loc is the parent's: the object that holds the property.
		at := ptr(loc, k.Property)
		var allowed []string
		for _, en := range findEnums(e) {
			for _, w := range en.Want {
				allowed = append(allowed, fmt.Sprint(w))
			}
		}
		msg := fmt.Sprintf("property %s is not allowed here", quote(k.Property))
		if len(allowed) > 0 {
			msg += fmt.Sprintf(": not one of %s, and not an extension named by a URI or compact IRI (ex:field)", strings.Join(allowed, ", "))
		}
		return []Issue{newIssue(CodeSchema, at, "%s", msg)}
	}
	switch e.ErrorKind.(type) {
	case *kind.AnyOf, *kind.OneOf:
		if len(e.Causes) > 0 {
			return bestBranch(e, loc, fixed)
		}
	}
	if len(e.Causes) == 0 {
		return []Issue{newIssue(CodeSchema, loc, "%s", leafMessage(e))}
	}
	var out []Issue
	for _, c := range e.Causes {
		out = append(out, schemaIssues(c, loc, fixed)...)
	}
	return out
}

// bestBranch reports a failed anyOf / oneOf by its deepest branches.
func bestBranch(e *jsonschema.ValidationError, loc string, fixed bool) []Issue {
	var best [][]Issue
	bestDepth := -1
	for _, c := range e.Causes {
		is := schemaIssues(c, loc, fixed)
		d := 0
		for _, i := range is {
			if n := strings.Count(i.Location, "/"); n > d {
				d = n
			}
		}
		switch {
		case d > bestDepth:
			best, bestDepth = [][]Issue{is}, d
		case d == bestDepth:
			best = append(best, is)
		}
	}
	if len(best) == 1 {
		return best[0]
	}
	var all []Issue
	for _, b := range best {
		all = append(all, b...)
	}
	common := all[0].Location
	for _, i := range all[1:] {
		common = commonPointer(common, i.Location)
	}
	var alts []string
	for _, i := range all {
		alt := i.Diagnostics
		if rel := strings.TrimPrefix(i.Location, common); rel != "" {
			alt = rel + ": " + alt
		}
		alts = append(alts, alt)
	}
	sort.Strings(alts)
	return []Issue{newIssue(CodeSchema, common, "matches none of the allowed forms: %s", strings.Join(dedupeStrings(alts), " | "))}
}

// leafMessage is the library's English message for one failed keyword;
// "not" (the schema's way of forbidding ilmd outside ADD) is reworded.
func leafMessage(e *jsonschema.ValidationError) string {
	if _, ok := e.ErrorKind.(*kind.Not); ok {
		return "is not allowed here"
	}
	// The library lists property names in map order: sort them, so the
	// same document always gets the same message.
	k := e.ErrorKind
	switch v := k.(type) {
	case *kind.AdditionalProperties:
		k = &kind.AdditionalProperties{Properties: slices.Sorted(slices.Values(v.Properties))}
	case *kind.Required:
		k = &kind.Required{Missing: slices.Sorted(slices.Values(v.Missing))}
	case *kind.DependentRequired:
		k = &kind.DependentRequired{Prop: v.Prop, Missing: slices.Sorted(slices.Values(v.Missing))}
	}
	one := &jsonschema.ValidationError{ErrorKind: k}
	return strings.TrimPrefix(one.Error(), "at '': ")
}

// findEnums returns the enum failures below e.
func findEnums(e *jsonschema.ValidationError) []*kind.Enum {
	var out []*kind.Enum
	for _, c := range e.Causes {
		if en, ok := c.ErrorKind.(*kind.Enum); ok {
			out = append(out, en)
		}
		out = append(out, findEnums(c)...)
	}
	return out
}

func jsonPointer(tokens []string) string { return ptr("", toAny(tokens)...) }

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// commonPointer returns the longest common ancestor of two JSON pointers.
func commonPointer(a, b string) string {
	ta, tb := strings.Split(a, "/"), strings.Split(b, "/")
	n := 0
	for n < len(ta) && n < len(tb) && ta[n] == tb[n] {
		n++
	}
	return strings.Join(ta[:n], "/")
}

func dedupeStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

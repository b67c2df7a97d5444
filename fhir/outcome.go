package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	cc "carechain"
)

// Issue is one problem found in a FHIR submission, shaped like an
// OperationOutcome.issue: Severity is "error" or "warning", Code an R4
// IssueType code ("structure", "required", "value", "code-invalid",
// "invalid", "not-found", "multiple-matches", "not-supported", …),
// Diagnostics a human explanation (never a value taken from the input, so it
// carries no PHI) and Expression the FHIRPath-style locations
// ("Observation.status", "Bundle.entry[3].resource.subject").
type Issue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

// OutcomeError is a FHIR submission rejected with one or more issues. It
// carries a carechain Kind (Invalid for validation failures), and unwraps to
// a *carechain.Error of that kind, so errors.As, cc.KindOf and cc.Is see it.
type OutcomeError struct {
	Issues []Issue
	Kind   cc.Kind
}

// maxIssuesInText bounds how many issues Error() spells out.
const maxIssuesInText = 5

// Error renders the issues on one line: "fhir: invalid: Observation.status:
// invalid code; …(and 3 more)".
func (e *OutcomeError) Error() string {
	var b strings.Builder
	b.WriteString("fhir: ")
	b.WriteString(e.Kind.String())
	b.WriteString(": ")
	b.WriteString(e.summary())
	return b.String()
}

func (e *OutcomeError) summary() string {
	var parts []string
	for i, is := range e.Issues {
		if is.Severity != "error" && is.Severity != "fatal" {
			continue
		}
		if len(parts) == maxIssuesInText {
			parts = append(parts, fmt.Sprintf("…(and %d more)", countErrors(e.Issues[i:])))
			break
		}
		s := is.Diagnostics
		if len(is.Expression) > 0 {
			s = strings.Join(is.Expression, ", ") + ": " + s
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "rejected"
	}
	return strings.Join(parts, "; ")
}

func countErrors(issues []Issue) int {
	n := 0
	for _, is := range issues {
		if is.Severity == "error" || is.Severity == "fatal" {
			n++
		}
	}
	return n
}

// Unwrap returns a *carechain.Error of the outcome's kind, so that
// carechain.KindOf(err) == e.Kind.
func (e *OutcomeError) Unwrap() error {
	return &cc.Error{Op: "fhir", Kind: e.Kind, Msg: e.summary()}
}

// invalid builds an OutcomeError of kind Invalid from issues, sorted by
// location so that the same input always yields the same outcome.
func invalid(issues ...Issue) *OutcomeError {
	sortIssues(issues)
	return &OutcomeError{Issues: issues, Kind: cc.Invalid}
}

// sortIssues orders issues by their first expression, then diagnostics; the
// library reports in map order, which is random.
func sortIssues(issues []Issue) {
	sort.SliceStable(issues, func(i, j int) bool {
		ei, ej := firstExpr(issues[i]), firstExpr(issues[j])
		if ei != ej {
			return ei < ej
		}
		return issues[i].Diagnostics < issues[j].Diagnostics
	})
}

func firstExpr(is Issue) string {
	if len(is.Expression) == 0 {
		return ""
	}
	return is.Expression[0]
}

// issue is shorthand for one error-severity Issue at one location.
func issue(code, expr, format string, args ...any) Issue {
	is := Issue{Severity: "error", Code: code, Diagnostics: fmt.Sprintf(format, args...)}
	if expr != "" {
		is.Expression = []string{expr}
	}
	return is
}

// issueCodes maps carechain kinds to R4 IssueType codes for errors that are
// not already OutcomeErrors.
var issueCodes = map[cc.Kind]string{
	cc.Invalid:            "invalid",
	cc.Malformed:          "structure",
	cc.NonCanonical:       "structure",
	cc.TooLarge:           "too-long",
	cc.WrongChain:         "invalid",
	cc.BadSignature:       "security",
	cc.SequenceReplay:     "duplicate",
	cc.SequenceGap:        "business-rule",
	cc.UnknownType:        "not-supported",
	cc.Unauthorized:       "forbidden",
	cc.UnknownSigner:      "security",
	cc.NotFound:           "not-found",
	cc.Conflict:           "conflict",
	cc.FailedPrecondition: "business-rule",
	cc.Gone:               "deleted",
	cc.Integrity:          "exception",
	cc.Unavailable:        "transient",
	cc.Internal:           "exception",
	cc.Other:              "processing",
}

// Outcome renders any error as FHIR R4 OperationOutcome JSON. An
// OutcomeError keeps its issues; a carechain error becomes one issue whose
// code follows its kind (NotFound → "not-found", Gone → "deleted",
// Unauthorized → "forbidden", Conflict → "conflict", Invalid → "invalid", …)
// with the error's user-facing message; Internal errors and errors that are
// not carechain errors become "exception" with no detail. A nil error
// renders an informational "All OK" outcome.
func Outcome(err error) []byte {
	var issues []Issue
	var oe *OutcomeError
	switch {
	case err == nil:
		issues = []Issue{{Severity: "information", Code: "informational", Diagnostics: "All OK"}}
	case errors.As(err, &oe) && len(oe.Issues) > 0:
		issues = oe.Issues
	default:
		issues = []Issue{kindIssue(err)}
	}
	doc := struct {
		ResourceType string  `json:"resourceType"`
		Issue        []Issue `json:"issue"`
	}{"OperationOutcome", issues}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if e := enc.Encode(doc); e != nil {
		// Cannot happen: the document holds only strings.
		return []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"fatal","code":"exception"}]}`)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// kindIssue is the single issue for an error that is not an OutcomeError.
func kindIssue(err error) Issue {
	k := cc.KindOf(err)
	code, ok := issueCodes[k]
	if !ok {
		code = "processing"
	}
	is := Issue{Severity: "error", Code: code}
	if k == cc.Internal {
		is.Severity = "fatal"
		return is // details go to the log, never to the user
	}
	var ce *cc.Error
	if errors.As(err, &ce) {
		is.Diagnostics = ce.Msg
		if is.Diagnostics == "" {
			is.Diagnostics = ce.Error()
		}
	}
	return is
}

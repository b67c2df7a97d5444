package epcis

import (
	"fmt"
	"sort"
	"strings"

	cc "carechain"
)

// Issue codes. They follow the FHIR R4 IssueType vocabulary where one fits,
// so an HTTP edge can render an Issue as an OperationOutcome.issue unchanged.
const (
	CodeStructure   = "structure"     // not JSON, or not one JSON value
	CodeTooLong     = "too-long"      // over MaxDocumentSize or MaxEvents
	CodeSchema      = "invalid"       // breaks the official EPCIS 2.0 JSON Schema
	CodeRequired    = "required"      // a field the event type and action need is missing
	CodeValue       = "value"         // a malformed value: EPC URI, check digit, time, number
	CodeCodeInvalid = "code-invalid"  // a term outside the known vocabulary (CBV, UN/CEFACT Rec 20)
	CodeNotSupport  = "not-supported" // valid EPCIS this ledger does not capture (extension event types)
)

// Issue is one problem found in an EPCIS submission, shaped like a FHIR
// OperationOutcome.issue: Severity is "error" (every issue this package
// reports rejects the document), Code one of the Code* constants, Location
// the JSON pointer (RFC 6901) of the offending value in the submitted
// document ("/epcisBody/eventList/0/epcList/2"; "" is the whole document),
// and Diagnostics a human explanation. Diagnostics may quote a short piece
// of the input (an identifier, a code): EPCIS carries supply-chain data,
// never PHI.
type Issue struct {
	Severity    string `json:"severity"`
	Code        string `json:"code"`
	Location    string `json:"location"`
	Diagnostics string `json:"diagnostics"`
}

// OutcomeError is an EPCIS submission rejected with one or more issues. Kind
// is cc.Invalid for schema and semantic failures, cc.Malformed for input
// that is not JSON and cc.TooLarge over the size limits. It unwraps to a
// *carechain.Error of that kind, so errors.As, cc.KindOf and cc.Is see it.
type OutcomeError struct {
	Issues []Issue
	Kind   cc.Kind
}

// maxIssuesInText bounds how many issues Error() spells out.
const maxIssuesInText = 5

// Error renders the issues on one line: "epcis: invalid:
// /epcisBody/eventList/0/bizStep: unknown CBV bizStep "shiping"; …(and 2 more)".
func (e *OutcomeError) Error() string {
	return "epcis: " + e.Kind.String() + ": " + e.summary()
}

func (e *OutcomeError) summary() string {
	var parts []string
	for i, is := range e.Issues {
		if len(parts) == maxIssuesInText {
			parts = append(parts, fmt.Sprintf("…(and %d more)", len(e.Issues)-i))
			break
		}
		s := is.Diagnostics
		if is.Location != "" {
			s = is.Location + ": " + s
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "rejected"
	}
	return strings.Join(parts, "; ")
}

// Unwrap returns a *carechain.Error of the outcome's kind, so that
// carechain.KindOf(err) == e.Kind.
func (e *OutcomeError) Unwrap() error {
	return &cc.Error{Op: "epcis", Kind: e.Kind, Msg: e.summary()}
}

// outcome builds an OutcomeError of kind k from issues, sorted by location
// so the same input always yields the same outcome, and capped at
// MaxIssues.
func outcome(k cc.Kind, issues ...Issue) *OutcomeError {
	issues = dedupe(issues)
	if len(issues) > MaxIssues {
		more := len(issues) - MaxIssues
		issues = append(issues[:MaxIssues:MaxIssues], newIssue(CodeTooLong, "", "%d more issues not listed", more))
	}
	return &OutcomeError{Issues: issues, Kind: k}
}

// newIssue is shorthand for one error-severity Issue at one location.
func newIssue(code, loc, format string, args ...any) Issue {
	return Issue{Severity: "error", Code: code, Location: loc, Diagnostics: fmt.Sprintf(format, args...)}
}

// dedupe sorts issues by location (in document order: numeric pointer
// tokens compare as numbers), then diagnostics, and drops exact repeats.
func dedupe(issues []Issue) []Issue {
	sort.SliceStable(issues, func(i, j int) bool {
		if c := comparePointers(issues[i].Location, issues[j].Location); c != 0 {
			return c < 0
		}
		return issues[i].Diagnostics < issues[j].Diagnostics
	})
	out := issues[:0]
	for i, is := range issues {
		if i > 0 && is == issues[i-1] {
			continue
		}
		out = append(out, is)
	}
	return out
}

// comparePointers orders JSON pointers token by token, numbers numerically.
func comparePointers(a, b string) int {
	ta, tb := strings.Split(a, "/"), strings.Split(b, "/")
	for k := 0; k < len(ta) && k < len(tb); k++ {
		x, y := ta[k], tb[k]
		if x == y {
			continue
		}
		if isDigits(x) && isDigits(y) && len(x) != len(y) {
			return len(x) - len(y)
		}
		return strings.Compare(x, y)
	}
	return len(ta) - len(tb)
}

// ptr appends escaped reference tokens to a JSON pointer.
func ptr(base string, tokens ...any) string {
	var b strings.Builder
	b.WriteString(base)
	for _, t := range tokens {
		b.WriteByte('/')
		switch v := t.(type) {
		case int:
			fmt.Fprint(&b, v)
		case string:
			b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(v))
		}
	}
	return b.String()
}

// quote renders a value from the input for a diagnostic, shortened.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "…"
	}
	return fmt.Sprintf("%q", s)
}

package fhir

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	cc "carechain"
)

// TestOutcomeKinds renders carechain errors of each kind as valid
// OperationOutcomes with the matching issue code.
func TestOutcomeKinds(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     string
		severity string
		diag     string // "" means no diagnostics at all
	}{
		{"invalid", cc.Errorf("records.put", cc.Invalid, "status is required"), "invalid", "error", "status is required"},
		{"not found", cc.Errorf("records.get", cc.NotFound, "no such record"), "not-found", "error", "no such record"},
		{"gone", cc.Errorf("records.get", cc.Gone, "the record was erased"), "deleted", "error", "the record was erased"},
		{"unauthorized", cc.Errorf("gatekeeper", cc.Unauthorized, "no consent"), "forbidden", "error", "no consent"},
		{"conflict", cc.Errorf("records.put", cc.Conflict, "version mismatch"), "conflict", "error", "version mismatch"},
		{"too large", cc.Errorf("httpapi", cc.TooLarge, "over 8 MiB"), "too-long", "error", "over 8 MiB"},
		{"kind without message", cc.E("records.put", cc.Conflict), "conflict", "error", "records.put: conflict"},
		{"internal hides details", cc.E("vault.get", cc.Internal, errors.New("pebble: /var/lib/secret corrupted")), "exception", "fatal", ""},
		{"plain error is internal", errors.New("disk on fire at /srv/x"), "exception", "fatal", ""},
		{"wrapped carechain error", fmt.Errorf("ctx: %w", cc.Errorf("op", cc.NotFound, "gone fishing")), "not-found", "error", "gone fishing"},
		{"nil is all OK", nil, "informational", "information", "All OK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := Outcome(tt.err)
			r, err := Parse(out)
			if err != nil {
				t.Fatalf("Outcome is not a valid OperationOutcome: %v\n%s", err, out)
			}
			if r.Type != "OperationOutcome" {
				t.Fatalf("Type = %q", r.Type)
			}
			var doc struct {
				Issue []Issue `json:"issue"`
			}
			if err := json.Unmarshal(out, &doc); err != nil || len(doc.Issue) != 1 {
				t.Fatalf("issues %+v (%v), want one", doc.Issue, err)
			}
			got := doc.Issue[0]
			if got.Code != tt.code || got.Severity != tt.severity || got.Diagnostics != tt.diag {
				t.Errorf("issue %+v, want code %q severity %q diagnostics %q", got, tt.code, tt.severity, tt.diag)
			}
			if strings.Contains(string(out), "secret") || strings.Contains(string(out), "/srv/") {
				t.Errorf("Outcome leaks internal details: %s", out)
			}
		})
	}
}

// TestOutcomeErrorIsACarechainError: errors.As, KindOf and Is all see the
// OutcomeError's kind, through wrapping too.
func TestOutcomeErrorIsACarechainError(t *testing.T) {
	_, err := Parse([]byte(`{"resourceType":"Observation","status":"done"}`))
	wrapped := fmt.Errorf("ingest: %w", err)
	var oe *OutcomeError
	if !errors.As(wrapped, &oe) || len(oe.Issues) == 0 {
		t.Fatalf("errors.As(%v) found no OutcomeError", wrapped)
	}
	var ce *cc.Error
	if !errors.As(wrapped, &ce) || ce.Kind != cc.Invalid {
		t.Fatalf("errors.As(*cc.Error) = %v", ce)
	}
	if !cc.Is(cc.Invalid, wrapped) {
		t.Errorf("cc.Is(Invalid) = false; KindOf = %v", cc.KindOf(wrapped))
	}
	// Outcome of the wrapped error keeps every issue.
	var doc struct {
		Issue []Issue `json:"issue"`
	}
	if err := json.Unmarshal(Outcome(wrapped), &doc); err != nil || len(doc.Issue) != len(oe.Issues) {
		t.Errorf("Outcome has %d issues, want %d", len(doc.Issue), len(oe.Issues))
	}
}

func TestOutcomeErrorText(t *testing.T) {
	var issues []Issue
	for i := 0; i < 8; i++ {
		issues = append(issues, issue("value", fmt.Sprintf("Observation.component[%d].valueQuantity", i), "expected decimal"))
	}
	e := invalid(issues...)
	got := e.Error()
	if !strings.HasPrefix(got, "fhir: invalid: Observation.component[0].valueQuantity: expected decimal; ") ||
		!strings.HasSuffix(got, "…(and 3 more)") {
		t.Errorf("Error() = %q", got)
	}
}

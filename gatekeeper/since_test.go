package gatekeeper_test

import (
	"testing"
	"time"

	cc "carechain"
	"carechain/gatekeeper"
)

// TestParseQuerySince: _since is one FHIR instant with a time zone (Bulk
// Data); anything else is cc.Invalid.
func TestParseQuerySince(t *testing.T) {
	tests := []struct {
		query string
		want  time.Time // zero: no _since
		kind  cc.Kind   // 0: parsed
	}{
		{"", time.Time{}, 0},
		{"_since=2026-11-30T10:00:00Z", time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), 0},
		{"_since=2026-11-30T12:00:00.5%2B02:00", time.Date(2026, 11, 30, 10, 0, 0, 5e8, time.UTC), 0},
		{"_since=2026-11-30", time.Time{}, cc.Invalid},
		{"_since=2026-11-30T10:00:00", time.Time{}, cc.Invalid},
		{"_since=yesterday", time.Time{}, cc.Invalid},
		{"_since=2026-11-30T10:00:00Z&_since=2026-11-30T11:00:00Z", time.Time{}, cc.Invalid},
	}
	for _, tt := range tests {
		q, err := gatekeeper.ParseQuery(tt.query)
		switch {
		case tt.kind != 0:
			if !cc.Is(tt.kind, err) {
				t.Errorf("%q: %v, want %v", tt.query, err, tt.kind)
			}
		case err != nil:
			t.Errorf("%q: %v", tt.query, err)
		case !q.Since.Equal(tt.want):
			t.Errorf("%q: since %v, want %v", tt.query, q.Since, tt.want)
		}
	}
}

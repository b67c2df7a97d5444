package fhir

import (
	"encoding/json"
	"testing"
	"time"
)

func TestWithMeta(t *testing.T) {
	at := time.Date(2026, 11, 30, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name, in string
		want     map[string]any // meta
	}{
		{"no meta", `{"resourceType":"Patient","id":"p"}`, map[string]any{"versionId": "3", "lastUpdated": "2026-11-30T09:30:00Z"}},
		{"security labels kept, old version replaced", `{"resourceType":"Condition","subject":{"reference":"Patient/p"},"meta":{"versionId":"1","security":[{"code":"PSY"}]}}`,
			map[string]any{"versionId": "3", "lastUpdated": "2026-11-30T09:30:00Z", "security": []any{map[string]any{"code": "PSY"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got struct {
				Meta map[string]any `json:"meta"`
			}
			out := WithMeta([]byte(tt.in), 3, at)
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got.Meta)
			w, _ := json.Marshal(tt.want)
			if string(g) != string(w) {
				t.Errorf("meta = %s, want %s", g, w)
			}
			if _, err := Parse(out); err != nil {
				t.Errorf("the result does not validate: %v", err)
			}
		})
	}
	if got := string(WithMeta([]byte(`[1]`), 1, at)); got != `[1]` {
		t.Errorf("a non-object changed: %s", got)
	}
}

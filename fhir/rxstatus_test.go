package fhir

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
)

// TestWithRxLedger: the official MedicationRequest shows the ledger's
// status and amounts, stays valid R4, and carries one ledger extension
// however often it is applied; anything else is left alone.
func TestWithRxLedger(t *testing.T) {
	raw := mustRead(t, filepath.Join(testdataDir(t, "fhir-r4-examples"), "MedicationRequest-medrx0311.json"))
	type sub struct {
		URL      string          `json:"url"`
		Code     string          `json:"valueCode"`
		Date     string          `json:"valueDate"`
		Unsigned *int            `json:"valueUnsignedInt"`
		Quantity json.RawMessage `json:"valueQuantity"`
	}
	tests := []struct {
		name       string
		in         RxLedger
		wantStatus string
		want       map[string]string // sub-extension → its value as JSON text
	}{
		{"partly dispensed", RxLedger{Status: "active", TotalMilli: 60000, DispensedMilli: 32500, RemainingMilli: 27500, Unit: "TAB", Fills: 2, ValidUntil: "2026-06-30"}, "active",
			map[string]string{"status": `"active"`, "dispensed": `{"unit":"TAB","value":32.5}`, "remaining": `{"unit":"TAB","value":27.5}`,
				"total": `{"unit":"TAB","value":60}`, "fills": "2", "validUntil": `"2026-06-30"`}},
		{"completed, no unit", RxLedger{Status: "completed", TotalMilli: 1000, DispensedMilli: 1000, Fills: 1}, "completed",
			map[string]string{"status": `"completed"`, "dispensed": `{"value":1}`, "remaining": `{"value":0}`, "total": `{"value":1}`, "fills": "1"}},
		{"cancelled", RxLedger{Status: "cancelled", TotalMilli: 125, Unit: "mL"}, "cancelled",
			map[string]string{"status": `"cancelled"`, "dispensed": `{"unit":"mL","value":0}`, "remaining": `{"unit":"mL","value":0}`, "total": `{"unit":"mL","value":0.125}`, "fills": "0"}},
		{"an unknown status", RxLedger{Status: "paused"}, "active", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := WithRxLedger(WithRxLedger(raw, tt.in), tt.in) // twice: one extension
			r := mustParse(t, out)                               // valid R4
			var top struct {
				Status    string `json:"status"`
				Extension []struct {
					URL       string `json:"url"`
					Extension []sub  `json:"extension"`
				} `json:"extension"`
			}
			if err := json.Unmarshal(r.JSON, &top); err != nil {
				t.Fatal(err)
			}
			if top.Status != tt.wantStatus {
				t.Errorf("status %q, want %q", top.Status, tt.wantStatus)
			}
			got := map[string]string{}
			n := 0
			for _, e := range top.Extension {
				if e.URL != RxLedgerURL {
					continue
				}
				n++
				for _, s := range e.Extension {
					switch {
					case s.Code != "":
						got[s.URL] = `"` + s.Code + `"`
					case s.Date != "":
						got[s.URL] = `"` + s.Date + `"`
					case s.Unsigned != nil:
						got[s.URL] = itoa(*s.Unsigned)
					default:
						var q map[string]any
						_ = json.Unmarshal(s.Quantity, &q)
						b, _ := json.Marshal(q)
						got[s.URL] = string(b)
					}
				}
			}
			if tt.want == nil {
				if n != 0 || string(out) != string(raw) {
					t.Errorf("changed the resource: %d ledger extensions", n)
				}
				return
			}
			if n != 1 || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%d ledger extensions, %v, want one, %v", n, got, tt.want)
			}
		})
	}
	if got := WithRxLedger([]byte("[1]"), RxLedger{Status: "active"}); string(got) != "[1]" {
		t.Errorf("not an object: %s", got)
	}
}

func TestMilliText(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{{0, "0"}, {30000, "30"}, {2500, "2.5"}, {125, "0.125"}, {1250, "1.25"}, {1001, "1.001"}, {-2500, "-2.5"}}
	for _, tt := range tests {
		if got := MilliText(tt.in); got != tt.want {
			t.Errorf("MilliText(%d) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.in >= 0 {
			if back, ok := MilliOf(tt.want); !ok || back != tt.in {
				t.Errorf("MilliOf(%q) = %d, %v", tt.want, back, ok)
			}
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

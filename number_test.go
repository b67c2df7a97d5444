package carechain

import (
	"encoding/json"
	"testing"
)

// TestScanNumber checks the scanner against JSON's grammar: what it scans
// as a whole input is exactly what json.Valid accepts as a number.
func TestScanNumber(t *testing.T) {
	tests := []struct {
		in  string
		end int
		ok  bool
	}{
		{"0", 1, true}, {"-0", 2, true}, {"12", 2, true}, {"-12.50", 6, true}, {"1e5", 3, true},
		{"1E+05", 5, true}, {"2.5e-3,", 6, true}, {"0123", 1, true}, // stops after the 0
		{"", 0, false}, {"-", 1, false}, {"+1", 0, false}, {".5", 0, false}, {"1.", 1, false},
		{"1.e3", 1, false}, {"1e", 2, false}, {"1e+", 3, false}, {"x", 0, false}, {"--1", 1, false},
	}
	for _, tt := range tests {
		end, ok := ScanNumber([]byte(tt.in), 0)
		if end != tt.end || ok != tt.ok {
			t.Errorf("ScanNumber(%q) = %d, %v; want %d, %v", tt.in, end, ok, tt.end, tt.ok)
		}
		whole := ok && end == len(tt.in)
		if valid := json.Valid([]byte(tt.in)); whole != valid {
			t.Errorf("ScanNumber(%q) takes it whole: %v; json.Valid: %v", tt.in, whole, valid)
		}
	}
}

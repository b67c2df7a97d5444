package ledger

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestTxIndexAppendJSON: the index entry's AppendJSON equals json.Marshal.
func TestTxIndexAppendJSON(t *testing.T) {
	if n := reflect.TypeFor[txIndex]().NumField(); n != 3 {
		t.Fatalf("txIndex has %d fields; AppendJSON writes 3: teach it the new ones", n)
	}
	for _, ix := range []txIndex{{}, {Height: 1 << 50, Index: 6000, Code: 4294967295}, {Height: -1, Index: -2}} {
		want, _ := json.Marshal(ix)
		if got := ix.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("AppendJSON(%+v) = %s, want %s", ix, got, want)
		}
	}
}

package carechain

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNewEvent(t *testing.T) {
	got := NewEvent("t", "b", "1", "a", "2", "odd")
	want := Event{Type: "t", Attributes: []Attribute{{"b", "1"}, {"a", "2"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("NewEvent = %+v, want %+v", got, want)
	}
}

func TestCheckDIDAndValidOrgID(t *testing.T) {
	if err := CheckDID("op", "patient", DID(DIDPrefix+strings.Repeat("a", 32))); err != nil {
		t.Errorf("CheckDID(valid) = %v", err)
	}
	if err := CheckDID("op", "patient", "did:cc:x"); !Is(Invalid, err) || !strings.Contains(err.Error(), `patient "did:cc:x"`) {
		t.Errorf("CheckDID(invalid) = %v", err)
	}
	for s, want := range map[string]bool{"st-marys": true, "ab": true, "a": false, "St-Marys": false, "a_b": false, strings.Repeat("a", 41): false} {
		if got := ValidOrgID(s); got != want {
			t.Errorf("ValidOrgID(%q) = %v", s, got)
		}
	}
}

// sliceReader is a Reader over key/value pairs in key order.
type sliceReader struct {
	kvs [][2]string
	err error
}

func (r sliceReader) Get(string) ([]byte, error) { return nil, r.err }

func (r sliceReader) Iterate(prefix string, fn func(string, []byte) bool) error {
	for _, kv := range r.kvs {
		if strings.HasPrefix(kv[0], prefix) && !fn(kv[0], []byte(kv[1])) {
			break
		}
	}
	return r.err
}

func TestIterateJSON(t *testing.T) {
	r := sliceReader{kvs: [][2]string{{"a/1", "1"}, {"a/2", "2"}, {"a/3", "3"}, {"b/1", `"x"`}}}
	var got []int
	if err := IterateJSON("op", r, "a/", func(n int) bool { got = append(got, n); return n < 2 }); err != nil || !reflect.DeepEqual(got, []int{1, 2}) {
		t.Errorf("IterateJSON = %v, %v; want [1 2] (stopped)", got, err)
	}
	if err := IterateJSON("op", r, "b/", func(int) bool { return true }); KindOf(err) != Internal {
		t.Errorf("undecodable value: %v, want Internal", err)
	}
	disk := errors.New("disk")
	if err := IterateJSON("op", sliceReader{err: disk}, "", func(int) bool { return true }); KindOf(err) != Internal || !errors.Is(err, disk) {
		t.Errorf("failing read: %v, want Internal wrapping it", err)
	}
}

func TestTimeWindowContains(t *testing.T) {
	from := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	w := TimeWindow{From: from, Until: from.Add(time.Hour)}
	tests := []struct {
		w    TimeWindow
		t    time.Time
		want bool
	}{
		{w, from, true},
		{w, from.Add(59 * time.Minute), true},
		{w, from.Add(time.Hour), false},
		{w, from.Add(-time.Nanosecond), false},
		{TimeWindow{}, from, false},
		{TimeWindow{}, time.Time{}, false},
	}
	for _, tt := range tests {
		if got := tt.w.Contains(tt.t); got != tt.want {
			t.Errorf("%+v.Contains(%v) = %v, want %v", tt.w, tt.t, got, tt.want)
		}
	}
}

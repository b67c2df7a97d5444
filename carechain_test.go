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

// sharingKV is a KV that records whether a value came through SetShared.
type sharingKV struct {
	mapKV
	shared map[string]bool
}

func (s *sharingKV) SetShared(key string, value []byte) {
	s.mapKV[key] = value
	s.shared[key] = true
}

// mapKV is a minimal KV over a map.
type mapKV map[string][]byte

func (m mapKV) Get(key string) ([]byte, error) { return m[key], nil }
func (m mapKV) Set(key string, value []byte)   { m[key] = append([]byte{}, value...) }
func (m mapKV) Delete(key string)              { delete(m, key) }
func (m mapKV) Iterate(string, func(string, []byte) bool) error {
	return nil
}

// TestSetOwned: a KV that can take a value without copying gets it through
// SetShared (the same slice); any other KV through Set. SetJSON hands its
// fresh encoding over the same way.
func TestSetOwned(t *testing.T) {
	v := []byte("true")
	s := &sharingKV{mapKV: mapKV{}, shared: map[string]bool{}}
	SetOwned(s, "k", v)
	if !s.shared["k"] || &s.mapKV["k"][0] != &v[0] {
		t.Error("SetOwned did not hand the value over to SetShared")
	}
	if err := SetJSON(s, "j", map[string]int{"a": 1}); err != nil || !s.shared["j"] || string(s.mapKV["j"]) != `{"a":1}` {
		t.Errorf("SetJSON: %v, shared %v, value %s", err, s.shared["j"], s.mapKV["j"])
	}
	m := mapKV{}
	SetOwned(m, "k", v)
	if string(m["k"]) != "true" || &m["k"][0] == &v[0] {
		t.Error("SetOwned on a plain KV did not Set a copy")
	}
}

package fhir

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestSplitObject: valid objects split into the members a decoder finds,
// aliasing the input with capped capacity; anything the split does not
// take (invalid JSON, escaped or repeated keys, not an object) says so.
func TestSplitObject(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{`{}`, true},
		{` { "a" : 1 , "b":[true,false,null,{"c":"d"}] ,"e":{"f":-1.5e+3}} `, true},
		{`{"a":"x\"y\\u00e9\n"}`, true},
		{`{"é":"ü"}`, true},
		{`{"a":1}x`, false},
		{`{"a":1,}`, false},
		{`{"a":01}`, false},
		{`{"a":1.}`, false},
		{`{"a":.5}`, false},
		{`{"a":tru}`, false},
		{`{"a":"x}`, false},
		{"{\"a\":\"x\x01\"}", false},
		{`{"a":1,"a":2}`, false},    // repeated: the decoder's last-wins rule
		{`{"\u0061":1}`, false},     // escaped key
		{"{\"a\":\"\xff\"}", false}, // invalid UTF-8
		{`[1]`, false},
		{`{"a":[1,]}`, false},
		{`{"a" 1}`, false},
		{``, false},
	}
	for _, tt := range tests {
		got, ok := splitObject([]byte(tt.in))
		if ok != tt.ok {
			t.Errorf("splitObject(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal([]byte(tt.in), &want); err != nil {
			t.Fatalf("%q: encoding/json: %v", tt.in, err)
		}
		if len(got) != len(want) {
			t.Errorf("splitObject(%q) = %d members, want %d", tt.in, len(got), len(want))
		}
		for k, v := range want {
			if !bytes.Equal(got[k], bytes.TrimSpace(v)) {
				t.Errorf("splitObject(%q)[%q] = %s, want %s", tt.in, k, got[k], v)
			}
			if cap(got[k]) != len(got[k]) {
				t.Errorf("splitObject(%q)[%q]: capacity %d beyond its length %d", tt.in, k, cap(got[k]), len(got[k]))
			}
		}
	}
	if elems, ok := splitArray([]byte(` [ 1 , {"a":[2]}, "x" ] `)); !ok || len(elems) != 3 || string(elems[1]) != `{"a":[2]}` {
		t.Errorf("splitArray = %q, %v", elems, ok)
	}
	if _, ok := splitArray([]byte(`[1,]`)); ok {
		t.Error("splitArray accepts [1,]")
	}
}

// FuzzSplitObjectMatchesDecoder: whatever splitObject takes, encoding/json
// decodes to the same members; whatever encoding/json rejects, splitObject
// rejects.
func FuzzSplitObjectMatchesDecoder(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Patient","id":"1","name":[{"given":["A"]}],"active":true,"x":null,"n":-0.5e3}`))
	f.Add([]byte(`{"a":"\u00e9\n","b":{}}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := splitObject(b)
		var want map[string]json.RawMessage
		err := json.Unmarshal(b, &want)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("splitObject takes what encoding/json rejects (%v): %q", err, b)
		}
		if want == nil || len(got) != len(want) {
			t.Fatalf("splitObject(%q) = %d members, encoding/json %d", b, len(got), len(want))
		}
		for k, v := range want {
			if !bytes.Equal(got[k], bytes.TrimSpace(v)) {
				t.Fatalf("splitObject(%q)[%q] = %q, encoding/json %q", b, k, got[k], v)
			}
		}
	})
}

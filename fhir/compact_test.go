package fhir

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestCompactForm(t *testing.T) {
	deep := strings.Repeat("[", compactMaxDepth+1) + strings.Repeat("]", compactMaxDepth+1)
	tests := []struct {
		in             string
		ok, wantEscape bool
	}{
		{`{"resourceType":"Patient","id":"p","name":[{"given":["A"]}],"active":true,"n":-1.5e+3,"z":null}`, true, false},
		{`[0,-0,1.25,2E-7,"\u00e9\n\/"]`, true, false},
		{`"é"`, true, false},
		{`{"a":"<b>"}`, true, true},  // json.Marshal escapes it
		{`{"a":"x&y"}`, true, true},  // json.Marshal escapes it
		{"\"\u2028\"", true, true},   // json.Marshal escapes it
		{`{"a": 1}`, false, false},   // whitespace
		{` {"a":1}`, false, false},   // leading whitespace
		{`{"a":01}`, false, false},   // not JSON
		{`{"a":1.}`, false, false},   // not JSON
		{`{"a":"\x"}`, false, false}, // not JSON
		{`{"a":1,}`, false, false},   // not JSON
		{`{"a":1}{}`, false, false},  // two values
		{deep, false, false},         // left to json.Valid
	}
	for _, tt := range tests {
		if ok, escape := compactForm([]byte(tt.in)); ok != tt.ok || ok && escape != tt.wantEscape {
			t.Errorf("compactForm(%.40q) = %v, %v; want %v, %v", tt.in, ok, escape, tt.ok, tt.wantEscape)
		}
	}
}

// FuzzCompactForm checks compactForm never claims more than json.Valid,
// json.Compact and needsCompacting allow.
func FuzzCompactForm(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e-3,"x\u0041"],"b":{}}`, `{"a": 1}`, `"<"`, "\"\u2028\"", `-0.0E+1`, `[tru]`, `"\uD800"`, "\"\xff\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ok, escape := compactForm(b)
		if !ok {
			return
		}
		var c bytes.Buffer
		if !json.Valid(b) || json.Compact(&c, b) != nil || !bytes.Equal(c.Bytes(), b) {
			t.Fatalf("compactForm(%q) ok, but it is not valid compact JSON", b)
		}
		if !escape && needsCompacting(b) {
			t.Fatalf("compactForm(%q) found nothing to escape, needsCompacting disagrees", b)
		}
	})
}

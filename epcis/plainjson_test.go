package epcis

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// stdDecode is what decodeJSON's encoding/json path gives for b.
func stdDecode(b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	return v, true
}

// TestDecodePlain: plain documents decode to encoding/json's value; every
// other form is declined (and left to encoding/json), never decoded
// differently.
func TestDecodePlain(t *testing.T) {
	tests := []struct {
		doc   string
		plain bool
	}{
		{`{"a":1,"b":[true,false,null,"x",-0.5e+3,{}],"c":{"d":[]}}`, true},
		{" \t\n{ \"a\" : [ 1 , 2 ] }\r\n", true},
		{`{"a":1,"a":2}`, true}, // the last member wins, as in encoding/json
		{`"é ✓"`, true},
		{`0`, true},
		{`-0.0E-0`, true},
		{`{"a":"\u00e9"}`, false}, // escapes: encoding/json's
		{`{"a":"\n"}`, false},
		{"{\"a\":\"\x01\"}", false},
		{"\"\xff\"", false}, // invalid UTF-8
		{`{"a":01}`, false},
		{`{"a":1.}`, false},
		{`{"a":.5}`, false},
		{`{"a":1e}`, false},
		{`{"a":-}`, false},
		{`{"a":1,}`, false},
		{`[1,]`, false},
		{`{"a" 1}`, false},
		{`{a:1}`, false},
		{`{"a":tru}`, false},
		{`{"a":1} x`, false},
		{`{"a":1}{}`, false},
		{``, false},
		{`{"a":[`, false},
		{`"abc`, false},
	}
	for _, tt := range tests {
		v, ok := decodePlain([]byte(tt.doc))
		if ok != tt.plain {
			t.Errorf("decodePlain(%q) plain = %v, want %v", tt.doc, ok, tt.plain)
		}
		if ok {
			want, _ := stdDecode([]byte(tt.doc))
			if !reflect.DeepEqual(v, want) {
				t.Errorf("decodePlain(%q) = %#v, encoding/json %#v", tt.doc, v, want)
			}
		}
	}
	deep := bytes.Repeat([]byte("["), maxPlainDepth+2)
	deep = append(deep, bytes.Repeat([]byte("]"), maxPlainDepth+2)...)
	if _, ok := decodePlain(deep); ok {
		t.Error("decodePlain decoded nesting beyond maxPlainDepth")
	}
}

// TestDecodePlainExamples: every official example decodes as encoding/json
// decodes it (those in plain form by decodePlain).
func TestDecodePlainExamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "testdata", "epcis", "*", "*.json*"))
	more, _ := filepath.Glob(filepath.Join("..", "..", "shared", "testdata", "epcis", "*", "*", "*.json*"))
	files = append(files, more...)
	if len(files) == 0 {
		t.Skip("no EPCIS examples")
	}
	plain := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := decodePlain(b)
		if !ok {
			continue
		}
		plain++
		if want, _ := stdDecode(b); !reflect.DeepEqual(v, want) {
			t.Errorf("%s: decodePlain differs from encoding/json", f)
		}
	}
	if plain == 0 {
		t.Errorf("none of %d examples decoded in plain form", len(files))
	}
}

// FuzzDecodePlain checks that whatever decodePlain decodes, encoding/json
// decodes to the same value (it may decline what encoding/json accepts).
func FuzzDecodePlain(f *testing.F) {
	for _, s := range []string{`{"a":[1,-2.5e3,"x",true,null,{}]}`, `"é"`, `[{"type":"ObjectEvent","epcList":["urn:epc:id:sgtin:0614141.107346.2017"]}]`, `{"a":1,"a":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := decodePlain(b)
		if !ok {
			return
		}
		want, wok := stdDecode(b)
		if !wok {
			t.Fatalf("decodePlain decoded %q, encoding/json rejects it", b)
		}
		if !reflect.DeepEqual(v, want) {
			t.Fatalf("decodePlain(%q) = %#v, encoding/json %#v", b, v, want)
		}
	})
}

// BenchmarkDecodeJSON decodes a 500-event commissioning document as
// decodeJSON does (plain path) and with encoding/json.
func BenchmarkDecodeJSON(b *testing.B) {
	doc := benchCommissioning500(b)
	b.Run("plain", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if _, ok := decodePlain(doc); !ok {
				b.Fatal("not plain")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if _, ok := stdDecode(doc); !ok {
				b.Fatal("not JSON")
			}
		}
	})
}

package carechain

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The cases of identity's former TestDecodePayload, on a payload of the
// same shape as its did.delegate.revoke payload.
func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    Kind // 0: decodes
	}{
		{"ok", `{"delegate":"d"}`, 0},
		{"ok with spaces", " {\n\"delegate\" : \"d\" }\n", 0},
		{"empty object", `{}`, 0},
		{"empty", ``, Malformed},
		{"null", `null`, Malformed},
		{"array", `[{"delegate":"d"}]`, Malformed},
		{"string", `"delegate"`, Malformed},
		{"unknown field", `{"delegate":"d","x":1}`, Malformed},
		{"case variant", `{"Delegate":"d"}`, Malformed},
		{"duplicate", `{"delegate":"d","delegate":"e"}`, Malformed},
		{"wrong type", `{"delegate":1}`, Malformed},
		{"trailing data", `{"delegate":"d"}{}`, Malformed},
		{"trailing garbage", `{"delegate":"d"} x`, Malformed},
		{"truncated", `{"delegate":"d"`, Malformed},
		{"bad value", `{"delegate":tru}`, Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p struct {
				Delegate DID `json:"delegate"`
			}
			err := DecodeStrict("test", "payload", []byte(tt.payload), &p)
			if tt.want == 0 {
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				return
			}
			if got := KindOf(err); got != tt.want {
				t.Errorf("got error %v (kind %v), want kind %v", err, got, tt.want)
			}
		})
	}
}

// nested is a payload whose objects nest, like consent's provisions.
type nested struct {
	Patient    DID             `json:"patient"`
	Provisions []Provision     `json:"provisions"`
	Next       *nested         `json:"next"`
	Raw        json.RawMessage `json:"raw"`
	Count      uint64          `json:"count"`
}

func TestDecodeStrictEveryDepth(t *testing.T) {
	tests := []struct {
		name, payload string
		want          string // "" decodes; else the error text
	}{
		{"ok", `{"patient":"p","provisions":[{"type":"permit","actors":[{"org":"o"}],"period":{"start":"2025-01-01T00:00:00Z"}}],"next":{"patient":"q"}}`, ""},
		{"null nested object", `{"next":null,"provisions":[{"type":"deny","period":null}]}`, ""},
		{"raw is not checked", `{"raw":{"Anything":1,"Anything":2}}`, ""},
		{"unknown in element", `{"provisions":[{"type":"permit","who":1}]}`, `test: malformed: unknown field "who" in payload.provisions[0]`},
		{"case variant deep", `{"provisions":[{"actors":[{"Org":"o"}]}]}`, `test: malformed: unknown field "Org" in payload.provisions[0].actors[0]`},
		{"duplicate deep", `{"provisions":[{"period":{"start":"2025-01-01T00:00:00Z","start":"2026-01-01T00:00:00Z"}}]}`, `test: malformed: duplicate field "start" in payload.provisions[0].period`},
		{"through a pointer", `{"next":{"next":{"PATIENT":"x"}}}`, `test: malformed: unknown field "PATIENT" in payload.next.next`},
		{"nested not an object", `{"next":[1]}`, `test: malformed: payload.next must be a JSON object`},
		{"wrong type", `{"provisions":"all"}`, `test: malformed: field "provisions" of payload must be a JSON array`},
		{"unsigned", `{"count":-1}`, `test: malformed: field "count" of payload must be a JSON non-negative integer`},
		{"long unknown name", `{"` + strings.Repeat("x", 100) + `":1}`, `test: malformed: unknown field "` + strings.Repeat("x", MaxEcho) + `…" in payload`},
		{"bad time", `{"provisions":[{"period":{"start":"yesterday"}}]}`, `test: malformed: payload does not decode`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p nested
			err := DecodeStrict("test", "payload", []byte(tt.payload), &p)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("decode: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("got error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDecodeStrictWrapsDecodeErrors(t *testing.T) {
	var p nested
	err := DecodeStrict("test", "payload", []byte(`{"provisions":[{"period":{"start":"yesterday"}}]}`), &p)
	var timeErr *time.ParseError
	if KindOf(err) != Malformed || !errors.As(err, &timeErr) {
		t.Errorf("bad time: got %v, want a Malformed error wrapping the *time.ParseError", err)
	}
	err = DecodeStrict("test", "payload", []byte(`{"patient":1}`), &p)
	var typeErr *json.UnmarshalTypeError
	if KindOf(err) != Malformed || !errors.As(err, &typeErr) || typeErr.Field != "patient" {
		t.Errorf("wrong type: got %v, want a Malformed error wrapping the *json.UnmarshalTypeError", err)
	}
}

func TestEcho(t *testing.T) {
	if got := Echo("short"); got != "short" {
		t.Errorf("Echo(short) = %q", got)
	}
	if got := Echo(strings.Repeat("é", MaxEcho)); len(got) != MaxEcho+len("…") {
		t.Errorf("Echo of %d bytes has %d bytes", 2*MaxEcho, len(got))
	}
}

// FuzzShapeMatchesTokens: on valid JSON, the byte scanner DecodeStrict uses
// (validShape) gives exactly the answer of the token walk (checkShape):
// the same error text, or none, for a payload type with nested structs,
// pointers, slices, raw messages and time values.
func FuzzShapeMatchesTokens(f *testing.F) {
	for _, s := range []string{
		`{"patient":"p","provisions":[{"type":"permit","actors":[{"org":"o"}],"period":{"start":"2025-01-01T00:00:00Z"}}],"next":{"patient":"q"}}`,
		`{"next":null,"provisions":[{"type":"deny","period":null}]}`,
		`{"raw":{"Anything":1,"Anything":2}}`,
		`{"provisions":[{"actors":[{"Org":"o"}]}]}`,
		`{"provisions":[{"period":{"start":"x","start":"y"}}]}`,
		`{"next":[1]}`, `{"next":{"next":{"PATIENT":"x"}}}`,
		`{"pat\u0069ent":"p","\u00e9":1}`, "{\"\xff\":1}", `{"a\"b":[{"c":"]}"}]}`,
		` [ {"x":1} ] `, `null`, `{"count":-1,"provisions":[]}`,
	} {
		f.Add([]byte(s))
	}
	typ := reflect.TypeFor[nested]()
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		for _, tt := range []reflect.Type{typ, reflect.TypeFor[[]nested](), reflect.TypeFor[*nested]()} {
			want := checkShape("test", "payload", raw, tt)
			got := validShape("test", "payload", raw, tt)
			if (got == nil) != (want == nil) || (got != nil && got.Error() != want.Error()) {
				t.Fatalf("%s on %q: validShape %v, checkShape %v", tt, raw, got, want)
			}
		}
	})
}

// strictDecoder is DecodeStrict's final step before it used json.Unmarshal
// for types the shape check covers: a Decoder that disallows unknown
// fields.
func strictDecoder(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// FuzzUnmarshalMatchesStrictDecoder: once the shape check passes, for a
// type with no struct inside a map, json.Unmarshal decodes exactly what the
// strict Decoder decodes (value and error).
func FuzzUnmarshalMatchesStrictDecoder(f *testing.F) {
	for _, s := range []string{
		`{"patient":"p","provisions":[{"type":"permit","actors":[{"org":"o"}],"period":{"start":"2025-01-01T00:00:00Z"}}],"next":{"patient":"q"}}`,
		`{"count":-1}`, `{"count":1e3}`, `{"provisions":[{"period":{"start":"x"}}]}`, `{"raw":{"a":1}}`, `{"next":{"count":"1"}}`,
	} {
		f.Add([]byte(s))
	}
	typ := reflect.TypeFor[nested]()
	if shapeOf(typ).mapsStructs {
		f.Fatal("nested has no struct in a map")
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) || validShape("test", "payload", raw, typ) != nil {
			return
		}
		var a, b nested
		errA, errB := json.Unmarshal(raw, &a), strictDecoder(raw, &b)
		if (errA == nil) != (errB == nil) || errA != nil && errA.Error() != errB.Error() || !reflect.DeepEqual(a, b) {
			t.Fatalf("%q: Unmarshal %+v, %v; strict Decoder %+v, %v", raw, a, errA, b, errB)
		}
	})
}

// TestDecodeStrictStructsInMaps: a struct reached through a map, or with an
// embedded field, keeps the strict Decoder, which refuses unknown fields the
// shape check does not see.
func TestDecodeStrictStructsInMaps(t *testing.T) {
	type inner struct {
		A string `json:"a"`
	}
	type byKey struct {
		M map[string][]inner `json:"m"`
	}
	type embeds struct {
		inner
		B string `json:"b"`
	}
	if !shapeOf(reflect.TypeFor[byKey]()).mapsStructs || !shapeOf(reflect.TypeFor[embeds]()).mapsStructs {
		t.Fatal("structsInMaps misses a map of structs or an embedded field")
	}
	if shapeOf(reflect.TypeFor[nested]()).mapsStructs || shapeOf(reflect.TypeFor[map[string]string]()).mapsStructs {
		t.Fatal("structsInMaps reports a struct in a map where there is none")
	}
	var m byKey
	if err := DecodeStrict("test", "payload", []byte(`{"m":{"k":[{"a":"x","z":1}]}}`), &m); err == nil {
		t.Fatal("an unknown field of a struct inside a map decoded")
	}
	if err := DecodeStrict("test", "payload", []byte(`{"m":{"k":[{"a":"x"}]}}`), &m); err != nil || m.M["k"][0].A != "x" {
		t.Fatalf("got %+v, %v", m, err)
	}
}

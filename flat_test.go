package carechain

import (
	"reflect"
	"testing"
	"time"
)

// flatPayload is a flat struct as the payloads of identity transactions
// are: strings, a named string type, omitempty, a skipped and an
// unexported field.
type flatPayload struct {
	PublicKey string  `json:"public_key"`
	Kind      DIDKind `json:"kind,omitempty"`
	Org       string  `json:"org"`
	Skipped   string  `json:"-"`
	Untagged  string
	hidden    string
}

// FuzzDecodeFlatMatchesGeneral: whenever the flat fast path decodes an
// input, DecodeStrict's general path accepts it and decodes the same
// value; when the fast path declines it changes nothing.
func FuzzDecodeFlatMatchesGeneral(f *testing.F) {
	for _, s := range []string{
		`{"public_key":"3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		`{"kind":"patient","public_key":"k"}`, `{}`, `{"Untagged":"u","org":""}`,
		`{"org":"a","org":"b"}`, `{"Org":"x"}`, `{"hidden":"h"}`, `{"-":"x"}`, `{"Skipped":"s"}`,
		`{"org":"a\u00e9"}`, `{"org":"a\"b"}`, `{"org":"é"}`, `{"org":1}`, `{"org":"a"} `, `{ "org":"a"}`,
		`{"org":"a",}`, `{"org":"a"`, `{"org":"a"}x`, `{"org":null}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	fuzzFlat(f, flatPayload{hidden: "kept"})
}

// fuzzFlat runs the fuzz check of FuzzDecodeFlatMatchesGeneral on the flat
// struct type T, each input decoded into copies of start.
func fuzzFlat[T any](f *testing.F, start T) {
	flat := shapeOf(reflect.TypeFor[T]()).flat
	if flat == nil {
		f.Fatalf("%T is flat", start)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fast, general := start, start
		if !decodeFlat(raw, reflect.ValueOf(&fast).Elem(), flat) {
			if !reflect.DeepEqual(fast, start) {
				t.Fatalf("%q: declined but changed the value to %+v", raw, fast)
			}
			return
		}
		if err := decodeStrict("test", "payload", raw, &general); err != nil {
			t.Fatalf("%q: fast path decoded %+v, general path refuses: %v", raw, fast, err)
		}
		if !reflect.DeepEqual(fast, general) {
			t.Fatalf("%q: fast path %+v, general path %+v", raw, fast, general)
		}
	})
}

// TestFlatFields: which structs take the fast path.
func TestFlatFields(t *testing.T) {
	type withInt struct {
		A string `json:"a"`
		N int    `json:"n"`
	}
	type quoted struct {
		A string `json:"a,string"`
	}
	type dashName struct {
		A string `json:"-,"`
	}
	type embeds struct {
		flatPayload
	}
	type withTime struct {
		A string    `json:"a"`
		T time.Time `json:"t"`
	}
	tests := []struct {
		typ  reflect.Type
		want bool
	}{
		{reflect.TypeFor[flatPayload](), true},
		{reflect.TypeFor[struct{}](), true},
		{reflect.TypeFor[withInt](), false},
		{reflect.TypeFor[quoted](), false},
		{reflect.TypeFor[dashName](), false},
		{reflect.TypeFor[embeds](), false},
		{reflect.TypeFor[withTime](), true},
		{reflect.TypeFor[struct {
			L []int `json:"l"`
		}](), false},
		{reflect.TypeFor[struct {
			T *time.Time `json:"t"`
		}](), false},
		{reflect.TypeFor[map[string]string](), false},
	}
	for _, tt := range tests {
		if got := flatFields(tt.typ) != nil; got != tt.want {
			t.Errorf("flatFields(%v) != nil = %v, want %v", tt.typ, got, tt.want)
		}
	}
	var p flatPayload
	if err := DecodeStrict("test", "payload", []byte(`{"kind":"patient","public_key":"k"}`), &p); err != nil || p.PublicKey != "k" || p.Kind != "patient" {
		t.Fatalf("DecodeStrict = %+v, %v", p, err)
	}
	if err := DecodeStrict("test", "payload", []byte(`{"org":"a","org":"b"}`), &p); err == nil {
		t.Fatal("a duplicate field decoded")
	}
}

// listPayload is a flat struct with a []string and a time.Time, as a
// signed read request is.
type listPayload struct {
	Action  string    `json:"action"`
	Records []string  `json:"records,omitempty"`
	Issued  time.Time `json:"issued"`
}

// FuzzDecodeFlatListsMatchGeneral is FuzzDecodeFlatMatchesGeneral for
// []string and time.Time fields.
func FuzzDecodeFlatListsMatchGeneral(f *testing.F) {
	for _, s := range []string{
		`{"action":"read","issued":"2026-12-01T10:00:00Z","records":["Observation/1","Condition/2"]}`,
		`{"records":[]}`, `{"records":["a",]}`, `{"records":["a"],"records":["b"]}`, `{"records":null}`,
		`{"issued":"2026-13-01T10:00:00Z"}`, `{"issued":"2026-12-01T10:00:00.123456789+01:00"}`, `{"issued":"x"}`,
		`{"issued":""}`, `{"records":["a" ]}`, `{"records":"a"}`, `{"issued":null}`, `{"records":[1]}`,
	} {
		f.Add([]byte(s))
	}
	fuzzFlat(f, listPayload{Action: "old"})
}

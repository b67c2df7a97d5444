package carechain

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// treeLink, treeSensor and treeEvent have the shapes of supply.capture's
// payload: strings, lists of strings, integers, pointers to integers and
// lists of structs.
type treeLink struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type treeSensor struct {
	Type  string `json:"type"`
	Value int64  `json:"value_milli_c"`
	Min   *int64 `json:"min_milli_c,omitempty"`
	Small int8   `json:"small,omitempty"`
}

type treeEvent struct {
	Type    string       `json:"type"`
	EPCs    []string     `json:"epcs"`
	Sources []treeLink   `json:"sources"`
	Sensors []treeSensor `json:"sensors"`
	At      time.Time    `json:"at,omitempty"`
	Kind    DIDKind      `json:"kind,omitempty"`
	Raw     []json.RawMessage
	hidden  string
}

// FuzzDecodeTreeMatchesGeneral: whenever the tree fast path decodes an
// input, DecodeStrict's general path accepts it and decodes the same
// value; when it declines it changes nothing.
func FuzzDecodeTreeMatchesGeneral(f *testing.F) {
	for _, s := range []string{
		`{"epcs":["urn:epc:id:sgtin:0614141.107346.1","urn:epc:id:sgtin:0614141.107346.2"],"sensors":[{"min_milli_c":-2000,"type":"Temperature","value_milli_c":5000}],"sources":[{"id":"org:a","type":"owning_party"}],"type":"ObjectEvent"}`,
		`{"sensors":null,"sources":[],"epcs":[]}`, `{"sensors":[{}]}`, `{"sensors":[null]}`, `{"sensors":[{"value_milli_c":1.5}]}`,
		`{"sensors":[{"value_milli_c":1e3}]}`, `{"sensors":[{"value_milli_c":-0}]}`, `{"sensors":[{"value_milli_c":01}]}`,
		`{"sensors":[{"value_milli_c":9223372036854775808}]}`, `{"sensors":[{"small":128}]}`, `{"sensors":[{"small":-128}]}`,
		`{"sensors":[{"min_milli_c":null}]}`, `{"sensors":[{"Type":"x"}]}`, `{"sensors":[{"type":"a","type":"b"}]}`,
		`{"sources":[{"id":"a"},]}`, `{"epcs":["a",]}`, `{"epcs":["a","b"]}`, `{"epcs":["a" "b"]}`, `{"epcs":[,"a"]}`, `{"sources":[{"id":"a"} ]}`, `{"type":"a","type":"b"}`, `{"Raw":[{"b":1,"a":2}]}`,
		`{"Raw":[{"a":2,"b":1},null,"x",[1,2]]}`, `{"Raw":[1.50]}`, `{"at":"2026-12-01T10:00:00Z"}`, `{"at":"x"}`,
		`{"kind":"patient"}`, `{"hidden":"h"}`, `{"epcs":["a"],"epcs":["b"]}`, `{}`, `{"type":null}`, `[]`, ``, `{"type":"a"}x`,
	} {
		f.Add([]byte(s))
	}
	plan := shapeOf(reflect.TypeFor[treeEvent]()).tree
	if plan == nil {
		f.Fatal("treeEvent has no tree plan")
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var fast, general treeEvent
		if !decodeTree(raw, reflect.ValueOf(&fast).Elem(), plan) {
			if !reflect.DeepEqual(fast, treeEvent{}) {
				t.Fatalf("%q: declined but changed the value to %+v", raw, fast)
			}
			return
		}
		if err := decodeStrict("test", "payload", raw, &general); err != nil {
			t.Fatalf("%q: tree path decoded %+v, general path refuses: %v", raw, fast, err)
		}
		if !reflect.DeepEqual(fast, general) {
			t.Fatalf("%q: tree path %+v, general path %+v", raw, fast, general)
		}
	})
}

// TestTreePlan: which structs take the tree path, and that DecodeStrict
// uses it only on a zero value.
func TestTreePlan(t *testing.T) {
	type withUint struct {
		N uint `json:"n"`
	}
	type withMap struct {
		M map[string]string `json:"m"`
	}
	type withPtrStruct struct {
		L []*treeLink `json:"l"`
	}
	type withBadElem struct {
		L []withMap `json:"l"`
	}
	type quoted struct {
		N int `json:"n,string"`
	}
	tests := []struct {
		typ  reflect.Type
		want bool
	}{
		{reflect.TypeFor[treeEvent](), true},
		{reflect.TypeFor[treeSensor](), true},
		{reflect.TypeFor[withUint](), false},
		{reflect.TypeFor[withMap](), false},
		{reflect.TypeFor[withPtrStruct](), false},
		{reflect.TypeFor[withBadElem](), false},
		{reflect.TypeFor[quoted](), false},
		{reflect.TypeFor[[]string](), false},
	}
	for _, tt := range tests {
		if got := treePlanOf(tt.typ, 0) != nil; got != tt.want {
			t.Errorf("treePlanOf(%v) != nil = %v, want %v", tt.typ, got, tt.want)
		}
	}
	raw := []byte(`{"sensors":[{"type":"Temperature","value_milli_c":5000}],"type":"ObjectEvent"}`)
	var got treeEvent
	if err := DecodeStrict("test", "payload", raw, &got); err != nil || len(got.Sensors) != 1 || got.Sensors[0].Value != 5000 {
		t.Fatalf("DecodeStrict = %+v, %v", got, err)
	}
	// A non-zero value takes the general path, which merges.
	merged := treeEvent{Kind: "patient"}
	if err := DecodeStrict("test", "payload", raw, &merged); err != nil || merged.Kind != "patient" || merged.Type != "ObjectEvent" {
		t.Fatalf("DecodeStrict into a non-zero value = %+v, %v", merged, err)
	}
	if err := DecodeStrict("test", "payload", []byte(`{"sensors":[{"type":"a","type":"b"}]}`), &treeEvent{}); err == nil {
		t.Fatal("a duplicate nested field decoded")
	}
}

func BenchmarkDecodeTree(b *testing.B) {
	raw := []byte(`{"epcs":["urn:epc:id:sgtin:0614141.107346.1","urn:epc:id:sgtin:0614141.107346.2","urn:epc:id:sgtin:0614141.107346.3"],"sensors":[{"type":"Temperature","value_milli_c":5000}],"sources":[{"id":"org:a","type":"owning_party"}],"type":"ObjectEvent"}`)
	b.Run("tree", func(b *testing.B) {
		for b.Loop() {
			var e treeEvent
			if err := DecodeStrict("test", "payload", raw, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("general", func(b *testing.B) {
		for b.Loop() {
			var e treeEvent
			if err := decodeStrict("test", "payload", raw, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

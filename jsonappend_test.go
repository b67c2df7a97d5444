package carechain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// awkward are strings encoding/json escapes or rewrites in every way it can.
var awkward = []string{
	"", "did:cc:z6MkPlain", "a\"b\\c", "<script>&amp;</script>", "tab\tnew\nline\x00\x1f",
	"é ü 中文 🩺", "\u2028\u2029", "bad \xff\xfe utf-8", "\x7f",
}

// TestAppendJSONMatchesMarshal: every JSONAppender writes exactly the
// bytes json.Marshal writes (they are state, under the AppHash).
func TestAppendJSONMatchesMarshal(t *testing.T) {
	var values []JSONAppender
	for _, s := range awkward {
		values = append(values,
			DIDRecord{ID: DID(s), Kind: DIDKind(s), PublicKey: []byte(s), KeyVersion: 3, Created: 1, Updated: 1 << 40},
			DIDRecord{ID: DID(s), Guardians: []DID{DID(s), "did:cc:g"}, Threshold: -2, DelayBlock: 9, Attested: []string{s}, PatientSince: 12},
			Patient{DID: DID(s), Registered: 7, AttestedBy: []string{"org-1", s}},
		)
	}
	values = append(values,
		DIDRecord{}, // nil key: null
		DIDRecord{PublicKey: []byte{}, Guardians: []DID{}, Attested: []string{}}, // empty slices: "" and omitted
		DIDRecord{ID: "did:cc:x", Kind: KindPatient, PublicKey: bytes.Repeat([]byte{0xfb}, 32), KeyVersion: 1, Created: -5, Updated: 9},
		DIDRecord{ID: "did:cc:x", PatientSince: -1},
		Patient{}, Patient{AttestedBy: []string{}},
	)
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.AppendJSON([]byte("prefix")); string(got) != "prefix"+string(want) {
			t.Errorf("AppendJSON(%#v)\n got %s\nwant prefix%s", v, got, want)
		}
	}
}

// TestAppendJSONCoversEveryField: with every exported field set (by
// reflection, so a field added to a record later is set too), AppendJSON
// still equals json.Marshal: an appender that forgot a new field fails.
func TestAppendJSONCoversEveryField(t *testing.T) {
	for _, v := range []JSONAppender{&DIDRecord{}, &Patient{}} {
		rv := reflect.ValueOf(v).Elem()
		for i := range rv.NumField() {
			fill(t, rv.Field(i), i+1)
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("%T with every field set:\n got %s\nwant %s", v, got, want)
		}
	}
}

// fill sets f to a non-zero value derived from n.
func fill(t *testing.T, f reflect.Value, n int) {
	switch f.Kind() {
	case reflect.String:
		f.SetString(fmt.Sprintf("v%d", n))
	case reflect.Int, reflect.Int64, reflect.Int32:
		f.SetInt(int64(n))
	case reflect.Uint, reflect.Uint64, reflect.Uint32, reflect.Uint8:
		f.SetUint(uint64(n))
	case reflect.Bool:
		f.SetBool(true)
	case reflect.Slice:
		s := reflect.MakeSlice(f.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), n*10+i)
		}
		f.Set(s)
	default:
		t.Fatalf("fill: no value for a %s field; teach the test and the appender", f.Type())
	}
}

// TestSetJSONUsesAppender: SetJSON stores an appender's bytes, and a nil
// pointer to one as json.Marshal does ("null"), without calling it.
func TestSetJSONUsesAppender(t *testing.T) {
	kv := mapKV{}
	rec := &DIDRecord{ID: "did:cc:a", Kind: KindPatient, PublicKey: []byte{1, 2}, KeyVersion: 1}
	if err := SetJSON(kv, "r", rec); err != nil {
		t.Fatal(err)
	}
	var nilRec *DIDRecord
	if err := SetJSON(kv, "n", nilRec); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(rec)
	for key, w := range map[string]string{"r": string(want), "n": "null"} {
		if got, _ := kv.Get(key); string(got) != w {
			t.Errorf("SetJSON wrote %q at %s, want %q", got, key, w)
		}
	}
}

// TestResultDataUsesAppender: ResultData gives an appender's bytes (the
// same as json.Marshal's), and json.Marshal's for any other value.
func TestResultDataUsesAppender(t *testing.T) {
	var nilPatient *Patient
	for _, v := range []any{
		Patient{DID: "did:cc:a", Registered: 3, AttestedBy: []string{"org-<1>"}},
		&Patient{DID: "did:cc:b"},
		nilPatient,
		map[string]int{"b": 1, "a": 2},
	} {
		want, _ := json.Marshal(v)
		got, err := ResultData("test", v)
		if err != nil || string(got) != string(want) {
			t.Errorf("ResultData(%#v) = %s, %v; want %s", v, got, err, want)
		}
	}
	if _, err := ResultData("test", func() {}); KindOf(err) != Internal {
		t.Errorf("ResultData(func) error %v, want Internal", err)
	}
}

// FuzzAppendJSON: for any strings, numbers and key bytes, the records'
// AppendJSON equals json.Marshal.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range awkward {
		f.Add(s, s, []byte(s), int64(1), 2)
	}
	f.Fuzz(func(t *testing.T, a, b string, key []byte, n int64, m int) {
		for _, v := range []JSONAppender{
			DIDRecord{ID: DID(a), Kind: DIDKind(b), PublicKey: key, KeyVersion: m, Created: n, Updated: -n, Guardians: []DID{DID(b)}, Threshold: m, DelayBlock: n, Attested: []string{a, b}, PatientSince: n},
			DIDRecord{ID: DID(b), PublicKey: key},
			Patient{DID: DID(a), Registered: n, AttestedBy: []string{b}},
		} {
			want, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.AppendJSON(nil); !bytes.Equal(got, want) {
				t.Fatalf("AppendJSON = %s, json.Marshal = %s", got, want)
			}
		}
	})
}

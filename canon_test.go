package carechain

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gowebpki/jcs"
)

// jcsCanonical is the reference: jcs.Transform succeeds and changes nothing.
func jcsCanonical(b []byte) bool {
	c, err := jcs.Transform(b)
	return err == nil && bytes.Equal(c, b)
}

func TestIsCanonical(t *testing.T) {
	tests := []struct {
		in   string
		want bool // IsCanonical; true implies jcs agrees
	}{
		{`{}`, true},
		{`[]`, true},
		{`{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, true},
		{`{"body":{"chain_id":"c","payload":{"public_key":"abc"},"sequence":0,"type":"patient.register"}}`, true},
		{`-12`, true},
		{`0`, true},
		{`123456789012345`, true},
		{`"é ☃ \u001f \" \\ \n \t \b \f \r \u0000"`, true},
		{`"\u007f"`, false}, // JCS writes U+007F as itself
		{`"\u000a"`, false}, // JCS writes \n
		{`"\u001F"`, false}, // JCS writes lowercase hex
		{`"\/"`, false},     // JCS writes / as itself
		{`"a` + "\x01" + `"`, false},
		{`"` + "\xff" + `"`, false}, // not UTF-8
		{`{"b":1,"a":2}`, false},    // unsorted
		{`{"a":1,"a":2}`, false},    // duplicate
		{`{"a": 1}`, false},         // whitespace
		{` {}`, false},
		{`{}` + "\n", false},
		{`-0`, false},
		{`01`, false},
		{`1.5`, false}, // fractions are left to jcs (1.5 is canonical there)
		{`1e3`, false},
		{`1234567890123456`, false}, // 16 digits: left to jcs
		{`{"a":1,}`, false},
		{`[1,]`, false},
		{`{"a"}`, false},
		{`tru`, false},
		{`{"` + "\uE000" + `":1}`, false}, // key sorted by UTF-16 units: left to jcs
		{`{"\n":1}`, false},               // escaped key: left to jcs
		{``, false},
		{`{"a":1}{}`, false},
		{strings.Repeat("[", canonMaxDepth+1) + strings.Repeat("]", canonMaxDepth+1), false},
		{strings.Repeat("[", canonMaxDepth) + strings.Repeat("]", canonMaxDepth), true},
	}
	for _, tt := range tests {
		got := IsCanonical([]byte(tt.in))
		if got != tt.want {
			t.Errorf("IsCanonical(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if got && !jcsCanonical([]byte(tt.in)) {
			t.Errorf("IsCanonical(%q) = true but jcs disagrees", tt.in)
		}
		c, err := Canonical([]byte(tt.in))
		ref, refErr := jcs.Transform([]byte(tt.in))
		if (err == nil) != (refErr == nil) || !bytes.Equal(c, ref) {
			t.Errorf("Canonical(%q) = %q, %v; jcs gives %q, %v", tt.in, c, err, ref, refErr)
		}
	}
}

// TestIsCanonicalTestdata runs every JSON file under ../shared/testdata and
// this repository's testdata through both, canonicalized and as they are.
func TestIsCanonicalTestdata(t *testing.T) {
	var files []string
	for _, root := range []string{"../shared/testdata", "testdata"} {
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
				files = append(files, p)
			}
			return nil
		})
	}
	if len(files) == 0 {
		t.Skip("no JSON test data")
	}
	canonical := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := jcs.Transform(raw)
		if err != nil {
			continue
		}
		for _, b := range [][]byte{raw, c} {
			if IsCanonical(b) && !jcsCanonical(b) {
				t.Errorf("%s: IsCanonical true, jcs disagrees", f)
			}
		}
		if IsCanonical(c) {
			canonical++
		}
	}
	t.Logf("%d of %d files judged canonical by the scan once canonicalized", canonical, len(files))
	if canonical == 0 {
		t.Errorf("the scan judged none of %d canonicalized files canonical", len(files))
	}
}

// FuzzIsCanonical checks that IsCanonical never claims what jcs denies,
// and that Canonical always answers what jcs.Transform answers.
func FuzzIsCanonical(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,-2,"x\n",{"b":null}],"c":true}`, `"\u0001é"`, `{"b":1,"a":2}`, `1.0`, `-0`, `[1e2]`, `{"\ue000":1,"\U0001F600":2}`,
		`{"z":{"y":[{"b":1,"a":"\n"}],"x":2},"a":[]}`, `{"b":1,"a":2,"b":3}`, `{"é":1,"e":2,"ü":{}}`, `[{"b":{},"a":[]},{"d":1.5,"c":0}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if IsCanonical(b) && !jcsCanonical(b) {
			t.Fatalf("IsCanonical(%q) = true, jcs disagrees", b)
		}
		c, err := Canonical(b)
		ref, refErr := jcs.Transform(b)
		if (err == nil) != (refErr == nil) || !bytes.Equal(c, ref) {
			t.Fatalf("Canonical(%q) = %q, %v; jcs gives %q, %v", b, c, err, ref, refErr)
		}
	})
}

// TestSortMembers checks the reordering path of Canonical: it takes what
// json.Marshal writes for structs and gives what jcs gives, and leaves to
// jcs what it cannot judge.
func TestSortMembers(t *testing.T) {
	tests := []struct {
		in    string
		sorts bool
	}{
		{`{"b":1,"a":2}`, true},
		{`{"z":{"y":[{"b":1,"a":"\n"}],"x":2},"a":[]}`, true},
		{`[{"b":{},"a":[]},{"d":true,"c":null}]`, true},
		{`{"é":1,"e":2,"ü":{}}`, true},
		{`{"b":1,"a":2,"b":3}`, false},  // duplicate key
		{`{"b":1.5,"a":2}`, false},      // a fraction
		{`{"b":"\u003c","a":2}`, false}, // an escape JCS does not write
		{`{"b":1, "a":2}`, false},       // whitespace
		{`{"\ue000":1,"a":2}`, false},   // a key that sorts differently in UTF-16
		{`{"b":1,"a":2}x`, false},       // trailing data
	}
	for _, tt := range tests {
		out, end, ok := sortMembers(nil, []byte(tt.in), 0, 0)
		ok = ok && end == len(tt.in)
		if ok != tt.sorts {
			t.Errorf("sortMembers(%s) ok = %v, want %v", tt.in, ok, tt.sorts)
			continue
		}
		want, err := jcs.Transform([]byte(tt.in))
		if ok && (err != nil || !bytes.Equal(out, want)) {
			t.Errorf("sortMembers(%s) = %s, jcs gives %s, %v", tt.in, out, want, err)
		}
	}
}

func BenchmarkCanonicalStruct(b *testing.B) {
	type request struct {
		ChainID   string   `json:"chain_id"`
		Requester string   `json:"requester"`
		Patient   string   `json:"patient"`
		Action    string   `json:"action"`
		Records   []string `json:"records"`
		Nonce     string   `json:"nonce"`
	}
	raw, err := json.Marshal(request{"carechain-demo", "did:cc:z6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V",
		"did:cc:z6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V", "read", []string{"Observation/1"}, "n-0000000000000001"})
	if err != nil {
		b.Fatal(err)
	}
	for _, bench := range []struct {
		name string
		f    func([]byte) ([]byte, error)
	}{{"Canonical", Canonical}, {"jcs", jcs.Transform}} {
		b.Run(bench.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bench.f(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

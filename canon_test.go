package carechain

import (
	"bytes"
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
	for _, s := range []string{`{}`, `{"a":[1,-2,"x\n",{"b":null}],"c":true}`, `"\u0001é"`, `{"b":1,"a":2}`, `1.0`, `-0`, `[1e2]`, `{"\ue000":1,"\U0001F600":2}`} {
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

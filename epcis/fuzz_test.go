package epcis

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cc "carechain"
)

// FuzzParse checks that Parse never panics, that every failure is an
// *OutcomeError of kind Invalid, Malformed or TooLarge with located
// error-severity issues, that the outcome is deterministic, and that every
// accepted event is one of the five types with its raw JSON. Seeds:
// testdata/fuzz/FuzzParse plus a few official examples when present. Run
// it with: go test ./epcis -run XXX -fuzz FuzzParse -fuzztime 60s.
func FuzzParse(f *testing.F) {
	dir := filepath.Join("..", "..", "shared", "testdata", "epcis")
	for _, file := range []string{ex961, ex963, exObj, exS2, "JSON/EPCISQueryDocument.jsonld", "JSON-simple-context/WithSensorData/SensorDataExample12.jsonld"} {
		if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(file))); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := Parse(b)
		if err != nil {
			var oe *OutcomeError
			if !errors.As(err, &oe) {
				t.Fatalf("error %T %v is not an *OutcomeError", err, err)
			}
			switch oe.Kind {
			case cc.Invalid, cc.Malformed, cc.TooLarge:
			default:
				t.Fatalf("kind %v: %v", oe.Kind, err)
			}
			if len(oe.Issues) == 0 || len(oe.Issues) > MaxIssues+1 {
				t.Fatalf("%d issues", len(oe.Issues))
			}
			for _, is := range oe.Issues {
				if is.Severity != "error" || is.Code == "" || is.Diagnostics == "" || (is.Location != "" && !strings.HasPrefix(is.Location, "/")) {
					t.Fatalf("bad issue %+v", is)
				}
			}
			if _, err2 := Parse(b); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("not deterministic: %v then %v", err, err2)
			}
			return
		}
		if doc == nil {
			t.Fatal("nil document without an error")
		}
		for i, ev := range doc.Events {
			switch ev.Type {
			case ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent, AssociationEvent:
			default:
				t.Fatalf("event %d has type %q", i, ev.Type)
			}
			if !json.Valid(ev.Raw) {
				t.Fatalf("event %d: Raw is not JSON", i)
			}
		}
	})
}

package epcis

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// quickVerdict is quickCheck's three-valued answer for v.
func quickVerdict(t testing.TB, v any) verdict {
	t.Helper()
	root, err := quickSchema()
	if err != nil {
		t.Fatalf("compiling the quick schema: %v", err)
	}
	var q quickRun
	return q.eval(root, v)
}

// libraryValid is the official validator's answer for v.
func libraryValid(t testing.TB, v any) bool {
	t.Helper()
	sch, err := compiledSchema()
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(v) == nil
}

// MustQuickAgree fails unless quickCheck decides v (never "unknown": every
// keyword of the official schema is evaluated) and decides it as the
// library does.
func MustQuickAgree(t testing.TB, v any, what string) {
	t.Helper()
	got, lib := quickVerdict(t, v), libraryValid(t, v)
	want := vNo
	if lib {
		want = vYes
	}
	if got != want {
		b, _ := json.Marshal(v)
		if len(b) > 600 {
			b = append(b[:600], "…"...)
		}
		t.Errorf("%s: quick verdict %d, library valid = %v (0 yes, 1 no, 2 unknown)\n%s", what, got, lib, b)
	}
}

// schemaSamples are every JSON document under the official examples
// (accepted and rejected ones) and documents shaped as the benchmark's,
// decoded as Parse decodes them.
func schemaSamples(t testing.TB) map[string]any {
	t.Helper()
	out := map[string]any{}
	dir := examplesDir(t)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(path) == "EPCIS-JSON-Schema.json" {
			return err
		}
		if ext := filepath.Ext(path); ext != ".jsonld" && ext != ".json" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if v, err := decodeJSON(b); err == nil {
			rel, _ := filepath.Rel(dir, path)
			out[rel] = v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range benchShapedDocuments() {
		v, err := decodeJSON(doc)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = v
	}
	return out
}

// benchShapedDocuments are the four kinds of documents `carechain bench
// epcis` captures: commissioning with ILMD, packing, shipping and
// receiving with a temperature report.
func benchShapedDocuments() map[string][]byte {
	ctx := `"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]`
	head := `{` + ctx + `,"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2026-12-01T04:40:48Z","epcisBody":{"eventList":[`
	sensor := `,"sensorElementList":[{"sensorMetadata":{"time":"2026-12-01T04:40:00Z","deviceID":"urn:epc:id:giai:4000001.111"},"sensorReport":[{"type":"Temperature","value":5,"uom":"CEL"}]}]`
	return map[string][]byte{
		"bench/commissioning": []byte(head + `{"type":"ObjectEvent","eventTime":"2026-12-01T04:40:48.123Z","eventTimeZoneOffset":"+00:00","epcList":["urn:epc:id:sgtin:0614141.107346.1","urn:epc:id:sgtin:0614141.107346.2"],"action":"ADD","bizStep":"commissioning","disposition":"active","readPoint":{"id":"urn:epc:id:sgln:0614141.00777.0"},"ilmd":{"cbvmda:lotNumber":"LOT1","cbvmda:itemExpirationDate":"2027-06-30"}}]}}`),
		"bench/packing":       []byte(head + `{"type":"AggregationEvent","eventTime":"2026-12-01T04:40:49Z","eventTimeZoneOffset":"+01:00","parentID":"urn:epc:id:sscc:0614141.1234567890","childEPCs":["urn:epc:id:sgtin:0614141.107346.1","urn:epc:id:sgtin:0614141.107346.2"],"action":"ADD","bizStep":"packing","disposition":"in_progress","readPoint":{"id":"urn:epc:id:sgln:0614141.00777.0"}}]}}`),
		"bench/shipping":      []byte(head + `{"type":"ObjectEvent","eventTime":"2026-12-01T04:40:50Z","eventTimeZoneOffset":"+00:00","epcList":["urn:epc:id:sscc:0614141.1234567890"],"action":"OBSERVE","bizStep":"shipping","disposition":"in_transit","readPoint":{"id":"urn:epc:id:sgln:0614141.00777.0"},"destinationList":[{"type":"owning_party","destination":"urn:epc:id:pgln:0614142.00000"}]` + sensor + `}]}}`),
		"bench/receiving":     []byte(head + `{"type":"ObjectEvent","eventTime":"2026-12-01T04:40:51Z","eventTimeZoneOffset":"-05:00","epcList":["urn:epc:id:sscc:0614141.1234567890"],"action":"OBSERVE","bizStep":"receiving","disposition":"in_progress","readPoint":{"id":"urn:epc:id:sgln:0614142.00001.0"},"bizLocation":{"id":"urn:epc:id:sgln:0614142.00001.0"},"sourceList":[{"type":"possessing_party","source":"urn:epc:id:pgln:0614141.00000"}]` + sensor + `}]}}`),
	}
}

// mutationValues replace a value of a sample: strings near every format,
// pattern and enum of the schema, and values of every JSON type.
var mutationValues = []any{
	"", "x", "urn:", ":x", "urn:epc:id:sgtin:0614141.107346.2018", "a b:c", "http://[::1]:80/x",
	"http://a b/", "http://example.com:port/", "%zz:x", "a:%41", "urn:x#%zz", "ADD", "OBSERVE", "DELETE",
	"2005-04-03T20:33:31.116-06:00", "2005-02-30T20:33:31Z", "2016-12-31T23:59:60Z", "2005-04-03 20:33:31Z",
	"+02:00", "+14:00", "15:00", "urn:epcglobal:cbv:bizstep:shipping", "https://ns.gs1.org/cbv/BizStep-shipping",
	"https://ref.gs1.org/cbv/BizStep-shipping", "shipping", "in_progress", "Temperature",
	"https://gs1.org/voc/Temperature", "example:Temperature", "KGM", "kg", "ObjectEvent", "AggregationEvent",
	"EPCISDocument", "example:MyEvent", "2.0", "2.x", "0A1b", "0x1", json.Number("1"), json.Number("-2.5e3"),
	true, nil, map[string]any{}, []any{}, []any{"urn:a:b", "urn:a:b"}, []any{map[string]any{}, map[string]any{}},
}

// mutations calls f with copies of v, each changed at one place: a value
// replaced, an object member removed or added, an array item removed or
// repeated. n picks which replacement values are tried at each place, so
// the work stays bounded.
func mutations(v any, n int, f func(any)) {
	count := 0
	var walk func(v any, set func(any) any)
	walk = func(v any, set func(any) any) {
		for i := 0; i < n; i++ {
			f(set(mutationValues[(count*7+i)%len(mutationValues)]))
		}
		count++
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				f(set(without(x, k)))
				walk(x[k], func(nv any) any { return set(with(x, k, nv)) })
			}
			f(set(with(x, "example:extension", "urn:a:b")))
			f(set(with(x, "notAField", "x")))
		case []any:
			if len(x) > 0 {
				f(set(append([]any{x[0]}, x...)))
				f(set(x[1:]))
			}
			for i := range x {
				walk(x[i], func(nv any) any {
					c := append([]any{}, x...)
					c[i] = nv
					return set(c)
				})
			}
		}
	}
	walk(v, func(nv any) any { return nv })
}

func with(m map[string]any, k string, v any) map[string]any {
	c := make(map[string]any, len(m)+1)
	for kk, vv := range m {
		c[kk] = vv
	}
	c[k] = v
	return c
}

func without(m map[string]any, k string) map[string]any {
	c := with(m, k, nil)
	delete(c, k)
	return c
}

// TestQuickCheckAgrees compares quickCheck with the official validator on
// every example, the benchmark's documents, and mutations of each.
func TestQuickCheckAgrees(t *testing.T) {
	samples := schemaSamples(t)
	names := make([]string, 0, len(samples))
	for name := range samples {
		names = append(names, name)
	}
	sort.Strings(names)
	perPlace := 3
	if testing.Short() {
		perPlace = 1
	}
	valid, tried := 0, 0
	for _, name := range names {
		v := samples[name]
		MustQuickAgree(t, v, name)
		if libraryValid(t, v) {
			valid++
		}
		if strings.HasPrefix(name, "bench/") && quickVerdict(t, v) != vYes {
			t.Errorf("%s: the benchmark's document is not quick-checked as valid", name)
		}
		mutations(v, perPlace, func(m any) {
			tried++
			MustQuickAgree(t, m, fmt.Sprintf("%s (mutation %d)", name, tried))
		})
		if t.Failed() {
			return
		}
	}
	if valid < 40 || tried < 10000 {
		t.Errorf("only %d valid samples and %d mutations: the official examples are missing?", valid, tried)
	}
	t.Logf("%d samples (%d valid), %d mutations agree", len(names), valid, tried)
}

// TestQuickCheckSpeedsParse checks validateSchema takes the quick answer:
// a valid document gives no issues, an invalid one the library's issues.
func TestQuickCheckSpeedsParse(t *testing.T) {
	for name, b := range benchShapedDocuments() {
		if _, err := Parse(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := strings.Replace(string(benchShapedDocuments()["bench/packing"]), `"action":"ADD"`, `"action":"ADDED"`, 1)
	_, err := Parse([]byte(bad))
	if err == nil || !strings.Contains(err.Error(), "/epcisBody/eventList/0/action") {
		t.Errorf("Parse(bad action) = %v, want the library's issue at /epcisBody/eventList/0/action", err)
	}
}

// FuzzQuickCheck compares quickCheck with the official validator on any
// JSON document.
func FuzzQuickCheck(f *testing.F) {
	for _, b := range benchShapedDocuments() {
		f.Add(b)
	}
	for _, v := range schemaSamples(f) {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeJSON(b)
		if err != nil {
			return
		}
		MustQuickAgree(t, v, "fuzzed document")
	})
}

// FuzzQuickURI checks that every string plainURI accepts is a URI to the
// library's "uri" format.
func FuzzQuickURI(f *testing.F) {
	for _, s := range []string{"urn:epc:id:sgtin:0614141.107346.2017", "urn:", "a:b", "A+.-1:@!", "1a:b", "a:/b", "a:%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !plainURI(s) {
			return
		}
		sch, err := formatSchemas()
		if err != nil {
			t.Fatal(err)
		}
		if err := sch[fmtURI].Validate(s); err != nil {
			t.Errorf("plainURI(%q) = true, library: %v", s, err)
		}
	})
}

// benchCommissioning500 is a commissioning document of 500 events shaped
// like bench epcis's, each with its own two EPCs.
func benchCommissioning500(tb testing.TB) []byte {
	tb.Helper()
	var doc map[string]any
	if err := json.Unmarshal(benchShapedDocuments()["bench/commissioning"], &doc); err != nil {
		tb.Fatal(err)
	}
	body := doc["epcisBody"].(map[string]any)
	first := body["eventList"].([]any)[0].(map[string]any)
	list := make([]any, 500)
	for i := range list {
		list[i] = with(first, "epcList", []any{
			fmt.Sprintf("urn:epc:id:sgtin:0614141.107346.%d", 2*i), fmt.Sprintf("urn:epc:id:sgtin:0614141.107346.%d", 2*i+1)})
	}
	body["eventList"] = list
	raw, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// BenchmarkSchemaCheck compares the quick check with the library on one
// 500-event commissioning document.
func BenchmarkSchemaCheck(b *testing.B) {
	v, err := decodeJSON(benchCommissioning500(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("quick", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if !quickCheck(v) {
				b.Fatal("not valid")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(500*b.N), "ns/event")
	})
	b.Run("library", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if !libraryValid(b, v) {
				b.Fatal("not valid")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(500*b.N), "ns/event")
	})
}

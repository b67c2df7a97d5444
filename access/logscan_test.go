package access

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// scanSigned returns a signed read of patient's ids by pat, issued at
// genTime with nonce n; no ledger state is needed to parse it.
func scanSigned(t testing.TB, n int, ids ...string) SignedRead {
	t.Helper()
	r := ReadRequest{ChainID: testChain, Requester: pat.did, Patient: pat.did, Action: ActionRead,
		Purpose: "PATRQT", Records: ids, Issued: genTime, Nonce: fmt.Sprintf("nonce-%016d", n)}
	return mustSign(t, r, pat)
}

// gatekeeperForm is an access.log payload as the gatekeeper writes it
// (json.Marshal of these maps sorts the keys as canonicalLogBody does).
func gatekeeperForm(t testing.TB, events int) []byte {
	t.Helper()
	evs := make([]obj, events)
	for i := range evs {
		id := fmt.Sprintf("Observation/o%d", i)
		evs[i] = logEv(scanSigned(t, i, id), id)
	}
	return mustJSON(t, obj{"events": evs})
}

// sameParse compares scanLogPayload's path with strict decoding for
// payload, which must scan.
func sameParse(t *testing.T, payload []byte) {
	t.Helper()
	items, ok := scanLogPayload(payload)
	if !ok {
		t.Fatalf("scanLogPayload refused %s", payload)
	}
	got, gotErr := parseScannedLog(TypeLog, items)
	want, wantErr := decodeLogPayload(TypeLog, payload)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("error: scanned %v, decoded %v\npayload %s", gotErr, wantErr, payload)
	}
	if len(got) != len(want) {
		t.Fatalf("scanned %d events, decoded %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if string(g.read.Request) != string(w.read.Request) || g.read.Sig != w.read.Sig || !reflect.DeepEqual(g.records, w.records) {
			t.Fatalf("event %d: scanned %+v %q, decoded %+v %q", i, g.read, g.records, w.read, w.records)
		}
		if fmt.Sprint(g.parsed.err) != fmt.Sprint(w.parsed.err) || string(g.parsed.msg) != string(w.parsed.msg) {
			t.Fatalf("event %d: parsed reads differ", i)
		}
	}
}

func TestScanLogPayload(t *testing.T) {
	good := gatekeeperForm(t, 3)
	sameParse(t, good)
	one := string(gatekeeperForm(t, 1))
	s := scanSigned(t, 7, "Observation/o1")
	req, sig := string(s.Request), s.Sig
	ev := func(read, records string) string { return `{"read":` + read + `,"records":` + records + `}` }
	read := `{"request":` + req + `,"sig":"` + sig + `"}`
	tests := []struct {
		name    string
		payload string
		scans   bool
	}{
		{"gatekeeper form", one, true},
		{"two records", `{"events":[` + ev(read, `["Observation/o1","Condition/c1"]`) + `]}`, true},
		{"a record twice", `{"events":[` + ev(read, `["Observation/o1","Observation/o1"]`) + `]}`, true},
		{"not a record id", `{"events":[` + ev(read, `["no-slash"]`) + `]}`, true},
		{"request not canonical, scanned as is", `{"events":[` + ev(`{"request":{"b":1,"a":2},"sig":"x"}`, `["Observation/o1"]`) + `]}`, false},
		{"request not an object", `{"events":[` + ev(`{"request":"x","sig":"x"}`, `["Observation/o1"]`) + `]}`, false},
		{"whitespace", strings.Replace(one, `"events":`, `"events": `, 1), false},
		{"trailing data", one + " ", false},
		{"no events", `{"events":[]}`, false},
		{"no records", `{"events":[` + ev(read, `[]`) + `]}`, false},
		{"a basis", `{"events":[{"basis":"consent","read":` + read + `,"records":["Observation/o1"]}]}`, false},
		{"a ref", `{"events":[{"read":` + read + `,"records":["Observation/o1"],"ref":"c-1"}]}`, false},
		{"escaped record id", `{"events":[` + ev(read, `["Observation\/o1"]`) + `]}`, false},
		{"unknown member of the read", `{"events":[` + ev(`{"request":`+req+`,"sig":"`+sig+`","x":1}`, `["Observation/o1"]`) + `]}`, false},
		{"sig not a string", `{"events":[` + ev(`{"request":`+req+`,"sig":1}`, `["Observation/o1"]`) + `]}`, false},
		{"request unterminated", `{"events":[{"read":{"request":{"a":1]}`, false},
		{"events then more", `{"events":[` + ev(read, `["Observation/o1"]`) + `],"x":1}`, false},
		{"event not closed", `{"events":[{"read":` + read + `,"records":["Observation/o1"]]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ok := scanLogPayload([]byte(tt.payload))
			if ok != tt.scans {
				t.Fatalf("scanLogPayload ok = %v, want %v", ok, tt.scans)
			}
			if ok {
				sameParse(t, []byte(tt.payload))
			}
		})
	}
}

// TestScanLogPayloadOwnCopy checks the parsed events do not alias the
// payload, which the caller may reuse.
func TestScanLogPayloadOwnCopy(t *testing.T) {
	p := gatekeeperForm(t, 2)
	items, ok := scanLogPayload(p)
	if !ok {
		t.Fatal("scanLogPayload refused the gatekeeper form")
	}
	before := string(items[0].read.Request)
	for i := range p {
		p[i] = 'x'
	}
	if got := string(items[0].read.Request); got != before {
		t.Fatalf("request changed with the payload: %s", got)
	}
}

// FuzzScanLogPayload checks that whenever scanLogPayload reads a payload,
// the result and first error are what strict decoding gives.
func FuzzScanLogPayload(f *testing.F) {
	f.Add(gatekeeperForm(f, 1))
	f.Add(gatekeeperForm(f, 3))
	s := scanSigned(f, 1, "Observation/o1", "Condition/c1")
	f.Add(mustJSON(f, obj{"events": []obj{logEv(s, "Observation/o1", "Condition/c1", "Observation/o1")}}))
	f.Add(mustJSON(f, obj{"events": []obj{logEv(s, "x")}}))
	f.Fuzz(func(t *testing.T, payload []byte) {
		if _, ok := scanLogPayload(payload); ok {
			sameParse(t, payload)
		}
	})
}

func BenchmarkParseLog(b *testing.B) {
	p := gatekeeperForm(b, 23)
	for _, bench := range []struct {
		name  string
		parse func(string, []byte) ([]parsedEvent, error)
	}{{"scanned", uncachedParseLog}, {"decoded", decodeLogPayload}} {
		b.Run(bench.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bench.parse(TypeLog, p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/23/1e3, "µs/event")
		})
	}
}

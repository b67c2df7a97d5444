package epcis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cc "carechain"
)

// loadExample decodes an official example into a generic tree to edit.
func loadExample(t testing.TB, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examplesDir(t), filepath.FromSlash(file)))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// setPointer sets (or, with del, removes) the value at a JSON pointer.
func setPointer(t testing.TB, doc any, pointer string, v any, del bool) {
	t.Helper()
	toks := strings.Split(strings.TrimPrefix(pointer, "/"), "/")
	cur := doc
	for i, tok := range toks {
		last := i == len(toks)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if del {
					delete(c, tok)
				} else {
					c[tok] = v
				}
				return
			}
			cur = c[tok]
		case []any:
			n, err := strconv.Atoi(tok)
			if err != nil || n >= len(c) {
				t.Fatalf("bad pointer %s", pointer)
			}
			if last {
				c[n] = v
				return
			}
			cur = c[n]
		default:
			t.Fatalf("bad pointer %s", pointer)
		}
	}
}

type edit struct {
	pointer string
	value   any
	del     bool
}

func set(p string, v any) edit { return edit{pointer: p, value: v} }
func del(p string) edit        { return edit{pointer: p, del: true} }

func applyEdits(t testing.TB, file string, edits ...edit) []byte {
	t.Helper()
	doc := loadExample(t, file)
	for _, e := range edits {
		setPointer(t, doc, e.pointer, e.value, e.del)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	ex961  = "JSON/Example_9.6.1-ObjectEvent.jsonld"
	ex963  = "JSON/Example_9.6.3-AggregationEvent.jsonld"
	exObj  = "JSON/WithFullCombinationOfFields/object_event_all_possible_fields.jsonld"
	exS2   = "JSON/WithSensorData/SensorDataExample2.jsonld"
	exS13  = "JSON/WithSensorData/SensorDataExample13.jsonld"
	exS5   = "JSON/WithSensorData/SensorDataExample5.jsonld"
	ev0    = "/epcisBody/eventList/0"
	ev0sr0 = ev0 + "/sensorElementList/0/sensorReport/0"
)

// TestInvalidEdits changes one thing in a valid official example and
// checks that Parse rejects it with the right issue at the right place.
func TestInvalidEdits(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		edits []edit
		want  []wantIssue
	}{
		{"misspelt bizStep", ex961, []edit{set(ev0+"/bizStep", "shiping")},
			[]wantIssue{{ev0 + "/bizStep", CodeSchema, "matches none of the allowed forms"}}},
		{"unknown CBV web-URI bizStep", ex961, []edit{set(ev0+"/bizStep", "https://ref.gs1.org/cbv/BizStep-shiping")},
			[]wantIssue{{ev0 + "/bizStep", CodeCodeInvalid, "is not a CBV 2.0 bizStep"}}},
		{"CBV URN bizStep (XML form; the JSON schema wants the bare word)", ex961, []edit{set(ev0+"/bizStep", "urn:epcglobal:cbv:bizstep:shipping")},
			[]wantIssue{{ev0 + "/bizStep", CodeSchema, "does not match pattern"}}},
		{"unknown CBV web-URI disposition", ex961, []edit{set(ev0+"/disposition", "https://ref.gs1.org/cbv/Disp-lost")},
			[]wantIssue{{ev0 + "/disposition", CodeCodeInvalid, "is not a CBV 2.0 disposition"}}},
		{"SGTIN with 12-digit company prefix + item reference", ex961, []edit{set(ev0+"/epcList/0", "urn:epc:id:sgtin:0614141.10734.2017")},
			[]wantIssue{{ev0 + "/epcList/0", CodeValue, "have 12 digits, want 13"}}},
		{"unknown EPC scheme", ex961, []edit{set(ev0+"/epcList/0", "urn:epc:id:sgtn:0614141.107346.2017")},
			[]wantIssue{{ev0 + "/epcList/0", CodeValue, `unknown EPC scheme "sgtn"`}}},
		{"Digital Link GTIN with a wrong check digit", exS13, []edit{set(ev0+"/epcList/0", "https://id.gs1.org/01/09506000134353/21/12345")},
			[]wantIssue{{ev0 + "/epcList/0", CodeValue, "wrong check digit (want 2)"}}},
		{"class-level GTIN in epcList", exS13, []edit{set(ev0+"/epcList/0", "https://id.gs1.org/01/09506000134352")},
			[]wantIssue{{ev0 + "/epcList/0", CodeValue, "names a class of objects where one instance is required"}}},
		{"lgtin class in epcList", ex961, []edit{set(ev0+"/epcList/1", "urn:epc:class:lgtin:4012345.012345.998877")},
			[]wantIssue{{ev0 + "/epcList/1", CodeValue, "names a class of objects"}}},
		{"instance in quantityList", exObj, []edit{set(ev0+"/quantityList/0/epcClass", "urn:epc:id:sgtin:0614141.107346.2017")},
			[]wantIssue{{ev0 + "/quantityList/0/epcClass", CodeValue, "names one instance where a class is required"}}},
		{"fractional count", exObj, []edit{set(ev0+"/quantityList/0/quantity", 10.5), del(ev0 + "/quantityList/0/uom")},
			[]wantIssue{{ev0 + "/quantityList/0/quantity", CodeValue, "must be an integer"}}},
		{"unknown quantity unit", exObj, []edit{set(ev0+"/quantityList/0/uom", "XYZ")},
			[]wantIssue{{ev0 + "/quantityList/0/uom", CodeCodeInvalid, `unit "XYZ" is not a known UN/CEFACT Rec 20 code`}}},
		{"unknown sensor unit", exS2, []edit{set(ev0+"/sensorElementList/0/sensorReport/1/uom", "ZZZ")},
			[]wantIssue{{ev0 + "/sensorElementList/0/sensorReport/1/uom", CodeCodeInvalid, `unit "ZZZ"`}}},
		{"temperature without a unit", exS2, []edit{del(ev0sr0 + "/uom")},
			[]wantIssue{{ev0sr0 + "/uom", CodeRequired, "a numeric Temperature value needs a uom"}}},
		{"temperature in kilograms", exS2, []edit{set(ev0sr0+"/uom", "KGM")},
			[]wantIssue{{ev0sr0 + "/uom", CodeValue, "a Temperature must be in CEL, FAH or KEL"}}},
		{"temperature below absolute zero", exS2, []edit{set(ev0sr0+"/uom", "KEL"), set(ev0sr0+"/minValue", -1)},
			[]wantIssue{{ev0sr0 + "/minValue", CodeValue, "below absolute zero"}}},
		{"minValue above maxValue", exS2, []edit{set(ev0sr0+"/minValue", 30)},
			[]wantIssue{{ev0sr0 + "/minValue", CodeValue, "minValue 30 is above maxValue 26.2"}}},
		{"unknown gs1: measurement type", exS2, []edit{set(ev0sr0+"/type", "gs1:Temprature")},
			[]wantIssue{{ev0sr0 + "/type", CodeCodeInvalid, "is not a GS1 measurement type"}}},
		{"eventTime without an offset", ex961, []edit{set(ev0+"/eventTime", "2005-04-03T20:33:31.116")},
			[]wantIssue{{ev0 + "/eventTime", CodeSchema, "is not valid date-time"}}},
		{"eventTimeZoneOffset out of range", ex961, []edit{set(ev0+"/eventTimeZoneOffset", "+15:00")},
			[]wantIssue{{ev0 + "/eventTimeZoneOffset", CodeSchema, "does not match pattern"}}},
		{"readPoint SGLN missing its extension", ex961, []edit{set(ev0+"/readPoint/id", "urn:epc:id:sgln:0614141.07346")},
			[]wantIssue{{ev0 + "/readPoint/id", CodeValue, "EPC sgln has 2 field(s), want 3"}}},
		{"bizLocation Digital Link GLN with a wrong check digit", ex961, []edit{set("/epcisBody/eventList/1/bizLocation/id", "https://id.gs1.org/414/9506000134308")},
			[]wantIssue{{"/epcisBody/eventList/1/bizLocation/id", CodeValue, `GLN (AI 414) "9506000134308" has a wrong check digit (want 7)`}}},
		{"AggregationEvent ADD without parentID", ex963, []edit{set(ev0+"/action", "ADD"), del(ev0 + "/parentID")},
			[]wantIssue{{ev0 + "/parentID", CodeRequired, "must name its parentID"}}},
		{"ObjectEvent ADD naming nothing", ex961, []edit{set(ev0+"/action", "ADD"), set(ev0+"/epcList", []any{})},
			[]wantIssue{{ev0 + "/epcList", CodeRequired, "must name at least one object"}}},
		{"ObjectEvent OBSERVE with ilmd", exObj, []edit{set(ev0+"/action", "OBSERVE")},
			[]wantIssue{{ev0, CodeSchema, "/ilmd: is not allowed here"}}},
		{"same child twice", ex963, []edit{set(ev0+"/childEPCs/1", "urn:epc:id:sgtin:0614141.107346.2017")},
			[]wantIssue{{ev0 + "/childEPCs/1", CodeValue, "is listed twice"}}},
		{"lot longer than 20 characters", exObj, []edit{set(ev0+"/ilmd/cbvmda:lotNumber", "LOT-0123456789-0123456789")},
			[]wantIssue{{ev0 + "/ilmd/cbvmda:lotNumber", CodeValue, "must be 1 to 20 characters"}}},
		{"expiry that is not a date", exObj, []edit{set(ev0+"/ilmd/cbvmda:itemExpirationDate", "31/12/2026")},
			[]wantIssue{{ev0 + "/ilmd/cbvmda:itemExpirationDate", CodeValue, "is not a date"}}},
		{"source type outside CBV", exObj, []edit{set(ev0+"/sourceList/0/type", "https://ref.gs1.org/cbv/SDT-renting_party")},
			[]wantIssue{{ev0 + "/sourceList/0/type", CodeCodeInvalid, "is not a CBV 2.0 source/destination type"}}},
		{"extension event type", ex961, []edit{set(ev0+"/type", "https://ns.example.com/epcis/MyEvent")},
			[]wantIssue{{ev0 + "/type", CodeNotSupport, "is an extension"}}},
		{"two problems in two events", ex961, []edit{set(ev0+"/epcList/0", "urn:epc:id:sscc:0614141.123"), set("/epcisBody/eventList/1/readPoint/id", "urn:epc:id:sgln:0012345.11111")},
			[]wantIssue{
				{ev0 + "/epcList/0", CodeValue, "EPC sscc company prefix + reference have 10 digits, want 17"},
				{"/epcisBody/eventList/1/readPoint/id", CodeValue, "EPC sgln has 2 field(s), want 3"},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := applyEdits(t, tc.file, tc.edits...)
			_, err := Parse(b)
			var oe *OutcomeError
			if !errors.As(err, &oe) {
				t.Fatalf("got %v, want an *OutcomeError", err)
			}
			if oe.Kind != cc.Invalid || cc.KindOf(err) != cc.Invalid {
				t.Errorf("kind %v / %v, want invalid", oe.Kind, cc.KindOf(err))
			}
			t.Logf("%s", issueList(oe.Issues))
			checkIssues(t, oe.Issues, tc.want)
		})
	}
}

// TestValidEdits checks accepted variants and what Parse makes of them.
func TestValidEdits(t *testing.T) {
	t.Run("CBV web URIs normalize to the bare word", func(t *testing.T) {
		b := applyEdits(t, ex961, set(ev0+"/bizStep", "https://ref.gs1.org/cbv/BizStep-shipping"), set(ev0+"/disposition", "https://ref.gs1.org/cbv/Disp-in_transit"))
		doc := mustParse(t, b)
		if got := doc.Events[0].BizStep + " " + doc.Events[0].Disposition; got != "shipping in_transit" {
			t.Errorf("got %q, want %q", got, "shipping in_transit")
		}
	})
	t.Run("user-defined bizStep URI is kept", func(t *testing.T) {
		b := applyEdits(t, ex961, set(ev0+"/bizStep", "https://example.org/bizstep/thawing"))
		if got := mustParse(t, b).Events[0].BizStep; got != "https://example.org/bizstep/thawing" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("ILMD through a document prefix and a full URN", func(t *testing.T) {
		b := applyEdits(t, exObj,
			set("/@context", []any{"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", map[string]any{"mda": "urn:epcglobal:cbv:mda:"}}),
			set(ev0+"/ilmd", map[string]any{"mda:lotNumber": "L-42", "urn:epcglobal:cbv:mda:itemExpirationDate": "2026-01-31"}))
		il := mustParse(t, b).Events[0].ILMD
		want := ILMD{Lot: "L-42", Expiry: time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)}
		if il != want {
			t.Errorf("got %+v, want %+v", il, want)
		}
	})
	t.Run("Fahrenheit temperatures in °C", func(t *testing.T) {
		b := applyEdits(t, exS2, set(ev0sr0+"/uom", "FAH"), set(ev0sr0+"/minValue", 35.6), set(ev0sr0+"/maxValue", 46.4))
		r := mustParse(t, b).Events[0].Sensors[0]
		if r.MinCelsius == nil || r.MaxCelsius == nil || !near(*r.MinCelsius, 2) || !near(*r.MaxCelsius, 8) {
			t.Errorf("got min %v max %v °C, want 2 and 8", deref(r.MinCelsius), deref(r.MaxCelsius))
		}
	})
	t.Run("a single event with its @context", func(t *testing.T) {
		doc := loadExample(t, ex961)
		ev := doc["epcisBody"].(map[string]any)["eventList"].([]any)[0].(map[string]any)
		ev["@context"] = doc["@context"]
		b, _ := json.Marshal(ev)
		got := mustParse(t, b)
		if got.Type != ObjectEvent || len(got.Events) != 1 || got.Events[0].EPCs[0] != "urn:epc:id:sgtin:0614141.107346.2017" {
			t.Errorf("got %+v", got)
		}
	})
}

func mustParse(t *testing.T, b []byte) *Document {
	t.Helper()
	doc, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return doc
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestNormalizedEvent pins the normalized form of one official example.
func TestNormalizedEvent(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(examplesDir(t), filepath.FromSlash(exS5)))
	if err != nil {
		t.Fatal(err)
	}
	doc := mustParse(t, b)
	ev := doc.Events[0]
	if ev.EventTime.Format(time.RFC3339) != "2019-04-02T15:00:00+01:00" || ev.EventTime.UTC().Hour() != 14 {
		t.Errorf("EventTime %v", ev.EventTime)
	}
	if !bytes.Equal(ev.Raw, bytes.TrimSpace(ev.Raw)) || !json.Valid(ev.Raw) {
		t.Errorf("Raw is not the event's JSON")
	}
	var temps []string
	for _, s := range ev.Sensors {
		if s.Type == "Temperature" && s.Celsius != nil {
			temps = append(temps, fmt.Sprintf("%g@%s", *s.Celsius, s.Time.UTC().Format("15:04")))
		}
	}
	if len(temps) == 0 {
		t.Fatalf("no temperatures in %s: %+v", exS5, ev.Sensors)
	}
	t.Logf("temperatures: %v", temps)
}

// TestMalformedAndTooLarge checks the non-Invalid kinds.
func TestMalformedAndTooLarge(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		kind cc.Kind
		code string
		text string
	}{
		{"empty", []byte("  "), cc.Malformed, CodeStructure, "empty document"},
		{"not JSON", []byte(`{"type": EPCISDocument}`), cc.Malformed, CodeStructure, "at offset 10"},
		{"truncated", []byte(`{"type": "EPCISDocument"`), cc.Malformed, CodeStructure, "unexpected end of input"},
		{"two values", []byte(`{} {}`), cc.Malformed, CodeStructure, "not a single JSON value"},
		{"too large", append([]byte(`{"type":"`), bytes.Repeat([]byte("a"), MaxDocumentSize)...), cc.TooLarge, CodeTooLong, "over the 8388608-byte limit"},
		{"not an object", []byte(`[1,2]`), cc.Invalid, CodeSchema, "got array, want object"},
		{"no type", []byte(`{}`), cc.Invalid, CodeSchema, "missing property 'type'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in)
			var oe *OutcomeError
			if !errors.As(err, &oe) {
				t.Fatalf("got %v, want an *OutcomeError", err)
			}
			if cc.KindOf(err) != tc.kind {
				t.Errorf("kind %v, want %v", cc.KindOf(err), tc.kind)
			}
			if len(oe.Issues) != 1 || oe.Issues[0].Code != tc.code || !strings.Contains(oe.Issues[0].Diagnostics, tc.text) {
				t.Errorf("issues:\n%s want one %s containing %q", issueList(oe.Issues), tc.code, tc.text)
			}
		})
	}
}

// TestErrorText checks the one-line rendering and the issue cap.
func TestErrorText(t *testing.T) {
	doc := loadExample(t, ex961)
	list := doc["epcisBody"].(map[string]any)["eventList"].([]any)
	for len(list) < MaxIssues+20 {
		list = append(list, list[0])
	}
	for i := range list {
		ev := map[string]any{}
		for k, v := range list[0].(map[string]any) {
			ev[k] = v
		}
		ev["epcList"] = []any{"urn:epc:id:sgtin:0614141.1.2"}
		list[i] = ev
	}
	doc["epcisBody"].(map[string]any)["eventList"] = list
	b, _ := json.Marshal(doc)
	_, err := Parse(b)
	var oe *OutcomeError
	if !errors.As(err, &oe) {
		t.Fatalf("got %v", err)
	}
	if len(oe.Issues) != MaxIssues+1 || !strings.Contains(oe.Issues[MaxIssues].Diagnostics, "20 more issues") {
		t.Errorf("got %d issues, last %q", len(oe.Issues), oe.Issues[len(oe.Issues)-1].Diagnostics)
	}
	want := "epcis: invalid: /epcisBody/eventList/0/epcList/0: EPC sgtin company prefix + reference have 8 digits, want 13; "
	if !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "…(and 96 more)") {
		t.Errorf("Error() = %q", err.Error())
	}
	if issuesInOrder := oe.Issues[1].Location; issuesInOrder != "/epcisBody/eventList/1/epcList/0" {
		t.Errorf("second issue at %s, want event 1 (document order)", issuesInOrder)
	}
}

// largeDocument builds an EPCISDocument of n ObjectEvents from the first
// event of Example_9.6.1, each with its own serial.
func largeDocument(tb testing.TB, n int) []byte {
	doc := loadExample(tb, ex961)
	body := doc["epcisBody"].(map[string]any)
	first := body["eventList"].([]any)[0].(map[string]any)
	list := make([]any, n)
	for i := range list {
		ev := make(map[string]any, len(first))
		for k, v := range first {
			ev[k] = v
		}
		ev["epcList"] = []any{fmt.Sprintf("urn:epc:id:sgtin:0614141.107346.%d", 100000+i)}
		list[i] = ev
	}
	body["eventList"] = list
	b, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestLargeDocument(t *testing.T) {
	doc := mustParse(t, largeDocument(t, 1000))
	if len(doc.Events) != 1000 || doc.Events[999].EPCs[0] != "urn:epc:id:sgtin:0614141.107346.100999" {
		t.Errorf("got %d events", len(doc.Events))
	}
}

// TestParseConcurrent parses the same documents from several goroutines
// (run with -race: the compiled schema is shared).
func TestParseConcurrent(t *testing.T) {
	docs := acceptedExamples(t)
	done := make(chan error)
	for g := 0; g < 4; g++ {
		go func(g int) {
			var err error
			for i := g; i < len(docs) && err == nil; i += 4 {
				_, err = Parse(docs[i])
			}
			done <- err
		}(g)
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

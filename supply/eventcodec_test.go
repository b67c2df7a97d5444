package supply

import (
	"encoding/json"
	"reflect"
	"testing"
)

// storedEventCases are stored events for the codec tests: the smallest,
// one with every field and nil-versus-empty lists, and the benchmark's
// commissioning event.
func storedEventCases() []StoredEvent {
	lo, hi := int64(-5), int64(8000)
	return []StoredEvent{
		{Event: Event{Type: TransactionEvent, Action: ActionAdd, EventTime: "2026-01-05T09:00:00Z", ParentID: sgtin("p")},
			Org: "o", Signer: "did:cc:x", Height: 1, TxHash: "-", Index: 0},
		{Event: Event{Type: TransformationEvent, EventTime: "2026-01-05T09:00:00+01:00", EventID: "ni:///sha-256;abc?ver=CBV2.0",
			EPCs: []string{}, ParentID: "", ChildEPCs: []string{sgtin("10"), sgtin("11"), sgtin("2"), "https://id.gs1.org/01/10614141073464/21/x%2Fy", "z"},
			BizStep: "urn:epcglobal:cbv:bizstep:transforming", Disposition: "active", ReadPoint: mfgSite, BizLocation: clinicSite,
			Sources:      []Link{{Type: PartyOwning, ID: "pharma-co"}, {Type: "location", ID: "é\x00"}},
			Destinations: []Link{},
			Lot:          "LOT-1", Expiry: "2027-06-30",
			Sensors: []Sensor{
				{Type: "Temperature", Time: "2026-01-05T09:00:00Z", ValueMilliC: 5000},
				{Type: "urn:x", ValueMilliC: -273150, StartTime: "2026-01-05T09:00:00Z", EndTime: "2026-01-05T10:00:00Z", MinMilliC: &lo, MaxMilliC: &hi},
				{Type: "T", ValueMilliC: 9223372036854775807, MaxMilliC: &hi},
			},
			BizTransactions:  []Link{{Type: "po", ID: "urn:epcglobal:cbv:bt:0614141073467:1152"}},
			Quantities:       []Quantity{{Class: "urn:epc:class:lgtin:4012345.012345.998877", Quantity: "200.5", UOM: "KGM"}},
			ChildQuantities:  []Quantity{},
			InputEPCs:        []string{sgtin("in1"), sgtin("in2")},
			OutputEPCs:       []string{sgtin("out")},
			InputQuantities:  []Quantity{{Class: "c"}},
			OutputQuantities: nil,
			TransformationID: "urn:t:1"},
			Org: "pharma-co", Signer: "did:cc:z6Mk", Height: 1 << 40, TxHash: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Index: 999},
		{Event: Event{Type: ObjectEvent, Action: ActionAdd, EventTime: "2026-01-05T09:00:00Z",
			EPCs:    []string{sgtin("100000000"), sgtin("100000001"), sgtin("100000002"), sgtin("100000009"), sgtin("100000010")},
			BizStep: StepCommissioning, Disposition: "active", ReadPoint: mfgSite, BizLocation: mfgSite, Lot: "LOT-0001", Expiry: "2028-11-30"},
			Org: "acme-logistics", Signer: "did:cc:node", Height: 12, TxHash: "ab", Index: 3},
	}
}

func TestStoredEventCodec(t *testing.T) {
	for _, se := range storedEventCases() {
		key := eventKey(se.Height, se.TxHash, se.Index)
		b := encodeStoredEvent(&se)
		var got StoredEvent
		if err := decodeStoredEvent(key, b, &got); err != nil {
			t.Fatalf("decode %q: %v", b, err)
		}
		if !reflect.DeepEqual(got, se) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, se)
		}
		if again := encodeStoredEvent(&got); string(again) != string(b) {
			t.Errorf("not deterministic: %q, then %q", b, again)
		}
		js, _ := json.Marshal(se)
		if len(b) >= len(js) {
			t.Errorf("binary form %d bytes, JSON %d", len(b), len(js))
		}
		// JSON (state written before the binary encoding) still reads, as
		// encoding/json reads it (which drops empty omitempty lists).
		var want StoredEvent
		if err := json.Unmarshal(js, &want); err != nil {
			t.Fatal(err)
		}
		if err := decodeStoredEvent(key, js, &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("JSON event: %v\n got %+v\nwant %+v", err, got, want)
		}
		// Every truncation and a trailing byte are errors, never a panic.
		for n := range len(b) {
			if err := decodeStoredEvent(key, b[:n], &got); err == nil {
				t.Errorf("decode of %d of %d bytes succeeded", n, len(b))
			}
		}
		if err := decodeStoredEvent(key, append(b, 0), &got); err == nil {
			t.Error("decode with a trailing byte succeeded")
		}
		// Corrupted bytes never panic.
		for i := range b {
			for _, v := range []byte{0, 1, 0x7f, 0x80, 0xff} {
				c := append([]byte(nil), b...)
				c[i] = v
				_ = decodeStoredEvent(key, c, &got)
			}
		}
	}
}

func TestParseEventKey(t *testing.T) {
	tests := []struct {
		key    string
		height int64
		tx     string
		idx    int
		ok     bool
	}{
		{eventKey(7, "ab12", 3), 7, "ab12", 3, true},
		{eventKey(1<<40, "-", 999), 1 << 40, "-", 999, true},
		{"sup/ev/x/ab/1", 0, "", 0, false},
		{"sup/ev/00000000000000000007/ab", 0, "", 0, false},
		{"sup/ev/00000000000000000007/ab/x", 0, "", 0, false},
		{"sup/i/00000000000000000007/ab/1", 0, "", 0, false},
		{"sup/ev/00000000000000000007", 0, "", 0, false},
	}
	for _, tt := range tests {
		h, tx, idx, ok := parseEventKey(tt.key)
		if h != tt.height || tx != tt.tx || idx != tt.idx || ok != tt.ok {
			t.Errorf("parseEventKey(%q) = %d, %q, %d, %v; want %d, %q, %d, %v", tt.key, h, tx, idx, ok, tt.height, tt.tx, tt.idx, tt.ok)
		}
	}
}

// TestEventsStoredCompact: a capture writes its events in the binary
// form; EventsAt and Events read them back as they were accepted, beside
// events stored as JSON before.
func TestEventsStoredCompact(t *testing.T) {
	e := newEnv(t)
	// An event stored in JSON by an earlier version, at an earlier height.
	old := StoredEvent{Event: Event{Type: ObjectEvent, Action: ActionObserve, EventTime: "2026-01-05T09:00:00Z", EPCs: []string{sgtin("old")}},
		Org: "pharma-co", Signer: mfg.did, Height: 3, TxHash: "cd", Index: 0}
	js, _ := json.Marshal(old)
	e.kv.Set(eventKey(old.Height, old.TxHash, old.Index), js)

	e.mustCapture(t, mfg, "pharma-co", commission(sgtin("c1"), sgtin("c2")), pack(sscc("9001"), sgtin("c1"), sgtin("c2")))
	got, err := EventsAt(e.kv, e.height)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("EventsAt = %d events, want 2", len(got))
	}
	for i, se := range got {
		key := eventKey(se.Height, se.TxHash, se.Index)
		v, _ := e.kv.Get(key)
		if len(v) == 0 || v[0] != eventV1 {
			t.Errorf("event %d stored as %q, want the binary form", i, v)
		}
		if se.Index != i || se.Height != e.height || se.Org != "pharma-co" || se.Signer != mfg.did || se.TxHash == "" {
			t.Errorf("event %d: %+v", i, se)
		}
	}
	if got[0].Type != ObjectEvent || !reflect.DeepEqual(got[0].EPCs, []string{sgtin("c1"), sgtin("c2")}) || got[0].Lot != "LOT-A1" {
		t.Errorf("commissioning read back as %+v", got[0].Event)
	}
	if got[1].ParentID != sscc("9001") || !reflect.DeepEqual(got[1].ChildEPCs, []string{sgtin("c1"), sgtin("c2")}) {
		t.Errorf("packing read back as %+v", got[1].Event)
	}
	all, err := Events(e.kv)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || !reflect.DeepEqual(all[0], old) {
		t.Errorf("Events = %d events, first %+v; want 3, the JSON one first", len(all), all[0])
	}
	// A corrupt value is an Internal error naming its key, not a panic.
	e.kv.Set(eventKey(old.Height, old.TxHash, 1), []byte{eventV1, 0xff})
	if _, err := EventsAt(e.kv, old.Height); err == nil {
		t.Error("EventsAt over a corrupt value succeeded")
	}
}

// FuzzStoredEvent: decoding arbitrary bytes never panics, and whatever
// decodes from the binary form encodes back to the same bytes.
func FuzzStoredEvent(f *testing.F) {
	for _, se := range storedEventCases() {
		f.Add(encodeStoredEvent(&se))
	}
	f.Add([]byte(`{"type":"ObjectEvent"}`))
	key := eventKey(12, "ab", 3)
	f.Fuzz(func(t *testing.T, b []byte) {
		var se StoredEvent
		if err := decodeStoredEvent(key, b, &se); err != nil || len(b) == 0 || b[0] != eventV1 {
			return
		}
		if again := encodeStoredEvent(&se); string(again) != string(b) {
			t.Errorf("decoded %q, encodes to %q", b, again)
		}
	})
}

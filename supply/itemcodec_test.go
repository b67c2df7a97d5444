package supply

import (
	"encoding/binary"
	"encoding/json"
	"reflect"
	"testing"
)

func TestItemCodec(t *testing.T) {
	items := []Item{
		{EPC: sgtin("1")},
		{EPC: sscc("0614141000000001"), Owner: "pharma-co", Status: StatusInTransit, InTransitTo: "distrib",
			Location: "urn:epc:id:sgln:0614141.00001.0", Parent: "urn:epc:id:sscc:0614141.9",
			Children: []string{sgtin("10"), sgtin("11"), sgtin("2"), "https://id.gs1.org/01/10614141073464/21/x%2Fy", "z"},
			Lot:      "LOT-1", Expiry: "2027-06-30", Disposition: "in_transit", Container: true, DosesUsed: 3,
			CommissionedAt: 12, CommissionedBy: "pharma-co", UpdatedAt: 1 << 40, ExcursionSeconds: -5,
			PrevStatus: StatusReceived, PrevDisposition: "é\x00"},
	}
	for _, it := range items {
		b := encodeItem(&it)
		var got Item
		if err := decodeItem(it.EPC, b, &got); err != nil {
			t.Fatalf("decode %q: %v", b, err)
		}
		if !reflect.DeepEqual(got, it) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, it)
		}
		if again := encodeItem(&got); string(again) != string(b) {
			t.Errorf("not deterministic: %q, then %q", b, again)
		}
		// Every truncation and a trailing byte are errors, never a panic.
		for n := range len(b) {
			if err := decodeItem(it.EPC, b[:n], &got); err == nil {
				t.Errorf("decode of %d of %d bytes succeeded", n, len(b))
			}
		}
		if err := decodeItem(it.EPC, append(b, 0), &got); err == nil {
			t.Error("decode with a trailing byte succeeded")
		}
		// JSON (state written before the binary encoding) still reads.
		js, _ := json.Marshal(it)
		if err := decodeItem(it.EPC, js, &got); err != nil || !reflect.DeepEqual(got, it) {
			t.Errorf("JSON item: %v, %+v", err, got)
		}
	}
	// Corrupted bytes never panic.
	b := encodeItem(&items[1])
	for i := range b {
		for _, v := range []byte{0, 0x7f, 0x80, 0xff} {
			c := append([]byte(nil), b...)
			c[i] = v
			var got Item
			_ = decodeItem("x", c, &got)
		}
	}
}

// FuzzStoredItem: decoding arbitrary bytes never panics, and whatever
// decodes from the binary form encodes back to the same bytes (one
// encoding per item, as FuzzStoredEvent checks for events).
func FuzzStoredItem(f *testing.F) {
	f.Add(encodeItem(&Item{EPC: sgtin("1")}))
	f.Add(encodeItem(&Item{EPC: sscc("0614141000000001"), Owner: "o", Status: StatusInTransit,
		Children: []string{sgtin("10"), sgtin("11"), "z"}, Container: true, DosesUsed: 3, ExcursionSeconds: -5}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var it Item
		if err := decodeItem("urn:epc:id:sgtin:0614141.107346.1", b, &it); err != nil || len(b) == 0 || b[0] != itemV1 {
			return
		}
		if again := encodeItem(&it); string(again) != string(b) {
			t.Errorf("decoded %q, encodes to %q", b, again)
		}
	})
}

// TestItemStoredCompact: the handler writes items in the binary form and
// GetItem reads them back.
func TestItemStoredCompact(t *testing.T) {
	e := newEnv(t)
	e.mustCapture(t, mfg, "pharma-co", commission(sgtin("c1"), sgtin("c2")), pack(sscc("99"), sgtin("c1"), sgtin("c2")))
	for _, epc := range []string{sgtin("c1"), sscc("99")} {
		v, err := e.kv.Get(itemKey(epc))
		if err != nil || len(v) == 0 || v[0] != itemV1 {
			t.Fatalf("stored %s: %q, %v", epc, v, err)
		}
	}
	if it := e.item(t, sscc("99")); !reflect.DeepEqual(it.Children, []string{sgtin("c1"), sgtin("c2")}) || it.EPC != sscc("99") {
		t.Errorf("container read back: %+v", it)
	}
}

// TestUnshare checks that an EPC stored as a shared prefix and a rest
// decodes only from the one encoding sharedPrefix gives, so a stored list
// has a single encoding.
func TestUnshare(t *testing.T) {
	prev := "urn:epc:id:sgtin:0614141.107346.11"
	tests := []struct {
		k      uint64
		rest   string
		want   string
		wantOK bool
	}{
		{uint64(len(prev)), "", prev, true},                          // the same EPC again
		{uint64(len(prev)) - 1, "2", prev[:len(prev)-1] + "2", true}, // the last digit differs
		{uint64(len(prev)), "0", prev + "0", true},                   // a longer one
		{uint64(len(prev)) - 2, "", prev[:len(prev)-2], true},        // a shorter one
		{uint64(len(prev)) - 1, "1", "", false},                      // shares one byte more than it says
		{uint64(len(prev)) - 1, "1x", "", false},                     // the same, longer
		{uint64(len(prev)) + 1, "", "", false},                       // more than prev has
		{0, "urn:x", "", false},                                      // shares "urn:" but says nothing
		{0, "x", "x", true},                                          // nothing in common
	}
	for _, tt := range tests {
		got, ok := unshare(prev, tt.k, tt.rest)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("unshare(%d, %q) = %q, %v; want %q, %v", tt.k, tt.rest, got, ok, tt.want, tt.wantOK)
		}
		if ok && uint64(sharedPrefix(prev, got)) != tt.k {
			t.Errorf("unshare(%d, %q) accepted %q, which sharedPrefix stores with %d", tt.k, tt.rest, got, sharedPrefix(prev, got))
		}
	}
}

// TestUvarintOnlyShortest: the decoders read a uvarint only in the
// shortest form binary.AppendUvarint writes; a padded one (which
// binary.Uvarint reads as the same value) is a bad encoding, as the
// fuzzer found in a stored event.
func TestUvarintOnlyShortest(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"\x00", 0, true},
		{"\x7f", 127, true},
		{"\x80\x01", 128, true},
		{"\x80\x00", 0, false},
		{"\x80\x80\x80\x00", 0, false},
		{"\xff\x00", 0, false},
		{"\x80", 0, false},
	}
	for _, tt := range tests {
		d := itemDecoder{b: []byte(tt.in)}
		got := d.uvarint()
		if ok := d.err == nil; ok != tt.ok || got != tt.want {
			t.Errorf("uvarint(%q) = %d, ok %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if tt.ok {
			if enc := binary.AppendUvarint(nil, tt.want); string(enc) != tt.in {
				t.Errorf("AppendUvarint(%d) = %q, not the accepted %q", tt.want, enc, tt.in)
			}
		}
	}
}

package epcis

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"carechain/supply"
)

// TestQueryDocumentRoundTrip renders every official example the ledger
// captures as a query answer and parses the answer again: it passes the
// official schema and the semantic rules, with the same events.
func TestQueryDocumentRoundTrip(t *testing.T) {
	dir := examplesDir(t)
	files, transformations := 0, 0
	for _, ex := range exampleOutcomes {
		if ex.wantEvents == 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, ex.file))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", ex.file, err)
		}
		evs, err := SupplyEvents(doc)
		if err != nil {
			t.Fatalf("%s: %v", ex.file, err)
		}
		stored := make([]supply.StoredEvent, len(evs))
		for i, e := range evs {
			stored[i] = supply.StoredEvent{Event: e, Org: "acme-vaccines", Height: 7, TxHash: "ab", Index: i}
		}
		out, err := QueryDocument("SimpleEventQuery", stored, time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), "next-1")
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Errorf("%s: the rendered query document does not parse: %v\n%s", ex.file, err, out)
			continue
		}
		if back.Type != "EPCISQueryDocument" || back.QueryName != "SimpleEventQuery" || len(back.Events) != len(evs) {
			t.Errorf("%s: rendered %s %q with %d events, want %d", ex.file, back.Type, back.QueryName, len(back.Events), len(evs))
			continue
		}
		again, err := SupplyEvents(back)
		if err != nil {
			t.Fatal(err)
		}
		for i := range evs {
			got, want := again[i], evs[i]
			if got.Type != want.Type || got.Action != want.Action || !slices.Equal(got.EPCs, want.EPCs) ||
				!slices.Equal(got.ChildEPCs, want.ChildEPCs) || got.ParentID != want.ParentID || got.BizStep != want.BizStep ||
				got.Disposition != want.Disposition || got.Lot != want.Lot || got.Expiry != want.Expiry || len(got.Sensors) != len(want.Sensors) ||
				!slices.Equal(got.Quantities, want.Quantities) || !slices.Equal(got.ChildQuantities, want.ChildQuantities) ||
				!slices.Equal(got.BizTransactions, want.BizTransactions) || !slices.Equal(got.InputEPCs, want.InputEPCs) ||
				!slices.Equal(got.OutputEPCs, want.OutputEPCs) || !slices.Equal(got.InputQuantities, want.InputQuantities) ||
				!slices.Equal(got.OutputQuantities, want.OutputQuantities) || got.TransformationID != want.TransformationID {
				t.Errorf("%s event %d: round trip\n got %+v\nwant %+v", ex.file, i, got, want)
			}
			for j := range want.Sensors {
				if g, w := got.Sensors[j], want.Sensors[j]; g.ValueMilliC != w.ValueMilliC || g.StartTime != w.StartTime || g.EndTime != w.EndTime {
					t.Errorf("%s event %d sensor %d: %d m°C, want %d", ex.file, i, j, got.Sensors[j].ValueMilliC, want.Sensors[j].ValueMilliC)
				}
			}
		}
		files++
		for _, e := range evs {
			if e.Type == supply.TransformationEvent {
				transformations++
			}
		}
	}
	if files < 20 {
		t.Errorf("only %d examples round-tripped", files)
	}
	if transformations < 5 {
		t.Errorf("only %d TransformationEvents round-tripped", transformations)
	}
}

func TestMilli(t *testing.T) {
	for _, tt := range []struct {
		in   int64
		want string
	}{{0, "0"}, {4500, "4.5"}, {-70000, "-70"}, {-1, "-0.001"}, {123456, "123.456"}, {8010, "8.01"}} {
		if got := milli(tt.in); got != tt.want {
			t.Errorf("milli(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"carechain/epcis"
	"carechain/internal/recordtest"
	"carechain/supply"
)

// commissioning is a small EPCIS document: Acme commissions two vials of
// a lot, with a temperature report in Fahrenheit.
const commissioning = `{
  "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
  "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-11-30T08:00:00Z",
  "epcisBody": {"eventList": [{
    "type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning", "disposition": "active",
    "eventTime": "2026-11-30T09:00:00+01:00", "eventTimeZoneOffset": "+01:00",
    "epcList": ["urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:id:sgtin:0614141.107346.2018"],
    "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1234"},
    "ilmd": {"cbvmda:lotNumber": "LOT-42", "cbvmda:itemExpirationDate": "2027-06-30"},
    "sensorElementList": [{"sensorReport": [{"type": "gs1:Temperature", "value": 41.0, "uom": "FAH"}]}]
  }]}
}`

func TestCaptureEventsOnTheLedger(t *testing.T) {
	doc, err := epcis.Parse([]byte(commissioning))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := epcis.SupplyEvents(doc)
	if err != nil {
		t.Fatal(err)
	}
	if got := evs[0]; got.EventTime != "2026-11-30T09:00:00+01:00" || got.Lot != "LOT-42" || got.Expiry != "2027-06-30" ||
		len(got.Sensors) != 1 || got.Sensors[0].ValueMilliC != 5000 {
		t.Fatalf("converted event %+v", got)
	}
	w := recordtest.MustWorld(t, "epcis-capture", 1)
	w.MustTx(t, w.Staff(t, "acme-logistics"), supply.TypeCapture, map[string]any{"org": "acme-vaccines", "events": evs})
	it, err := supply.GetItem(w.Chain.State(), "urn:epc:id:sgtin:0614141.107346.2017")
	if err != nil || it.Owner != "acme-vaccines" || it.Lot != "LOT-42" {
		t.Fatalf("item %+v, %v", it, err)
	}
}

// TestCaptureEventsOfficialExamples converts every official example the
// parser accepts, TransformationEvents included.
func TestCaptureEventsOfficialExamples(t *testing.T) {
	root := filepath.Join("..", "..", "..", "shared", "testdata", "epcis", "JSON")
	if _, err := os.Stat(root); err != nil {
		t.Skip("shared testdata not found")
	}
	n := 0
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".jsonld") {
			return err
		}
		doc, err := parseEPCIS(p)
		if err != nil {
			return nil // the epcis package's tests pin every file's outcome
		}
		evs, err := epcis.SupplyEvents(doc)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
		n += len(evs)
		return nil
	})
	if n < 40 {
		t.Errorf("only %d events converted", n)
	}
}

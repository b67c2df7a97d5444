package httpapi_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	cc "carechain"
	"carechain/client"
	"carechain/epcis"
	"carechain/httpapi"
	"carechain/index"
	"carechain/internal/recordtest"
	"carechain/supply"
)

// epcisWorld is a recordtest world behind a real HTTP server on 127.0.0.1
// with a read model.
type epcisWorld struct {
	*recordtest.World
	c   *client.Client
	idx *index.DB
}

func mustEPCISWorld(t *testing.T) *epcisWorld {
	t.Helper()
	w := recordtest.MustWorld(t, "httpapi-epcis", 1)
	idx, err := index.Open(filepath.Join(t.TempDir(), "index.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	api := httpapi.New(w.Chain, nil)
	api.SetRecords(w.All()...)
	api.SetIndex(idx)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &epcisWorld{World: w, c: client.New(srv.URL), idx: idx}
}

// sync brings the read model up to the chain's head.
func (ew *epcisWorld) sync(t *testing.T) {
	t.Helper()
	st, err := ew.Chain.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := ew.idx.Sync(context.Background(), ew.Chain.State(), st.LatestHeight, nil); err != nil {
		t.Fatal(err)
	}
}

func (ew *epcisWorld) capture(t *testing.T, staff, org, doc string) (*client.CaptureResult, error) {
	t.Helper()
	s := ew.Staff(t, staff)
	return ew.c.CaptureEPCIS(context.Background(), client.NewSigner(s.DID, s.Key), org, []byte(doc))
}

// vialsDoc commissions two vials of a lot at Acme, with a temperature in
// Fahrenheit, then packs them in a case.
const vialsDoc = `{
  "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
  "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-11-30T08:00:00Z",
  "epcisBody": {"eventList": [{
    "type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning", "disposition": "active",
    "eventTime": "2026-11-30T09:00:00+01:00", "eventTimeZoneOffset": "+01:00",
    "epcList": ["urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:id:sgtin:0614141.107346.2018"],
    "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1234"},
    "ilmd": {"cbvmda:lotNumber": "LOT-42", "cbvmda:itemExpirationDate": "2027-06-30"},
    "sensorElementList": [{"sensorReport": [{"type": "gs1:Temperature", "value": 41.0, "uom": "FAH"}]}]
  }, {
    "type": "AggregationEvent", "action": "ADD", "bizStep": "packing", "disposition": "in_progress",
    "eventTime": "2026-11-30T09:05:00+01:00", "eventTimeZoneOffset": "+01:00",
    "parentID": "urn:epc:id:sscc:0614141.1234567890",
    "childEPCs": ["urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:id:sgtin:0614141.107346.2018"]
  }]}
}`

func TestEPCISCaptureAndQuery(t *testing.T) {
	ew := mustEPCISWorld(t)
	res, err := ew.capture(t, "acme-logistics", "acme-vaccines", vialsDoc)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 2 || res.Accepted != 2 || len(res.Rejected) != 0 || res.Height == 0 || len(res.TxHashes) != 1 {
		t.Fatalf("capture = %+v, want 2 accepted in one committed transaction", res)
	}
	it, err := supply.GetItem(ew.Chain.State(), "urn:epc:id:sgtin:0614141.107346.2017")
	if err != nil || it.Owner != "acme-vaccines" || it.Parent != "urn:epc:id:sscc:0614141.1234567890" || it.Lot != "LOT-42" {
		t.Fatalf("item = %+v, %v", it, err)
	}

	ew.sync(t)
	b, err := ew.c.QueryEPCIS(context.Background(), url.Values{"MATCH_anyEPC": {"urn:epc:id:sgtin:0614141.107346.2017"}})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := epcis.Parse(b)
	if err != nil {
		t.Fatalf("the query answer does not parse: %v\n%s", err, b)
	}
	if doc.Type != "EPCISQueryDocument" || len(doc.Events) != 2 || doc.Events[0].ILMD.Lot != "LOT-42" || doc.Events[1].Type != epcis.AggregationEvent {
		t.Fatalf("query answer: %s with %d events", doc.Type, len(doc.Events))
	}
	if c := doc.Events[0].Sensors[0].Celsius; c == nil || *c != 5 {
		t.Errorf("sensor value %v °C, want 5 (41 °F)", c)
	}
	for _, tt := range []struct {
		q    url.Values
		want int
	}{
		{url.Values{"EQ_bizStep": {"packing"}}, 1},
		{url.Values{"EQ_ILMD_lotNumber": {"LOT-42"}}, 2},
		{url.Values{"EQ_bizStep": {"shipping"}}, 0},
		{url.Values{"GE_eventTime": {"2026-11-30T08:02:00Z"}}, 1},
		{url.Values{"EQ_org": {"acme-vaccines"}, "eventType": {"ObjectEvent"}}, 1},
	} {
		b, err := ew.c.QueryEPCIS(context.Background(), tt.q)
		if err != nil {
			t.Fatalf("%v: %v", tt.q, err)
		}
		doc, err := epcis.Parse(b)
		if err != nil {
			t.Fatalf("%v: %v", tt.q, err)
		}
		if got := len(doc.Events); got != tt.want {
			t.Errorf("%v: %d events, want %d", tt.q, got, tt.want)
		}
	}
	for _, tt := range []struct {
		q    url.Values
		want cc.Kind
	}{
		{url.Values{"EQ_colour": {"red"}}, cc.Invalid},
		{url.Values{"perPage": {"0"}}, cc.Invalid},
		{url.Values{"GE_eventTime": {"yesterday"}}, cc.Invalid},
	} {
		if _, err := ew.c.QueryEPCIS(context.Background(), tt.q); cc.KindOf(err) != tt.want {
			t.Errorf("%v: %v, want %v", tt.q, err, tt.want)
		}
	}
	// The same document again: the vials exist, so commissioning them is
	// a fraud signal: that event is rejected and an alert recorded per
	// vial; packing them again into the same case changes nothing.
	res, err = ew.capture(t, "acme-logistics", "acme-vaccines", vialsDoc)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 1 || len(res.Rejected) != 1 || res.Rejected[0].Kind != "conflict" || len(res.Rejected[0].Alerts) != 2 {
		t.Errorf("capturing the document twice = %+v, want the commissioning rejected with two alerts", res)
	}
	if alerts, _ := supply.FraudAlerts(ew.Chain.State()); len(alerts) != 2 || alerts[0].Kind != supply.FraudRecommission {
		t.Errorf("fraud alerts %+v, want two recommissions", alerts)
	}
}

func TestEPCISCaptureRefusals(t *testing.T) {
	ew := mustEPCISWorld(t)
	tests := []struct {
		name       string
		staff, org string
		doc        string
		want       cc.Kind
	}{
		{"not EPCIS", "acme-logistics", "acme-vaccines", `{"hello": "world"}`, cc.Invalid},
		{"not JSON", "acme-logistics", "acme-vaccines", `{"type": `, cc.Malformed},
		{"a practitioner of another organization", "st-mary-physician", "acme-vaccines", vialsDoc, cc.Unauthorized},
		{"an organization this node does not serve", "nri-researcher", "national-research-institute", vialsDoc, cc.Invalid},
		{"receiving what was never shipped", "coldline-logistics", "coldline-distribution", strings.ReplaceAll(strings.ReplaceAll(vialsDoc,
			`"action": "ADD", "bizStep": "commissioning"`, `"action": "OBSERVE", "bizStep": "receiving"`), `"ilmd": {"cbvmda:lotNumber": "LOT-42", "cbvmda:itemExpirationDate": "2027-06-30"},`, ""), cc.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ew.capture(t, tt.staff, tt.org, tt.doc)
			if got := cc.KindOf(err); got != tt.want {
				t.Errorf("capture: %v (%v), want %v", got, err, tt.want)
			}
		})
	}
	if _, err := supply.GetItem(ew.Chain.State(), "urn:epc:id:sgtin:0614141.107346.2017"); !cc.Is(cc.NotFound, err) {
		t.Errorf("a refused capture stored an item: %v", err)
	}
}

// TestEPCISOfficialExamplesCapture captures every official example the
// parser accepts, in a fixed order, through HTTP as Acme's logistics
// officer, and pins each file's outcome: how many events the ledger
// accepted, or the error kind and a piece of its reason.
func TestEPCISOfficialExamplesCapture(t *testing.T) {
	root := recordtest.Testdata(t, "epcis", "JSON")
	ew := mustEPCISWorld(t)
	got := map[string]string{}
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".jsonld") {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		res, err := ew.capture(t, "acme-logistics", "acme-vaccines", string(b))
		if err != nil {
			got[rel] = cc.KindOf(err).String() + ": " + err.Error()
		} else {
			got[rel] = "accepted " + strconv.Itoa(res.Accepted) + " of " + strconv.Itoa(res.Count)
		}
		return nil
	})
	for _, want := range officialCaptureOutcomes {
		g, ok := got[want.file]
		if !ok {
			t.Errorf("%s: not captured", want.file)
			continue
		}
		if !strings.HasPrefix(g, want.prefix) || !strings.Contains(g, want.text) {
			t.Errorf("%s:\n got %s\nwant %s … %s", want.file, g, want.prefix, want.text)
		}
		delete(got, want.file)
	}
	for f, g := range got {
		t.Errorf("%s: no pinned outcome; got %s", f, g)
	}
}

// officialCaptureOutcomes pins the capture of each official example by
// Acme, in file-walk order on one ledger (see
// TestEPCISOfficialExamplesCapture). The examples are written by GS1 for
// other companies' goods, so most refusals are custody rules working: the
// EPCs (or a TransformationEvent's inputs) were never commissioned on this
// ledger, a shipment names no carechain organization to receive it, the
// event uses identifiers (GSRN, SGLN as a parent, private Digital Link
// domains) that carechain does not track as items, or an ObjectEvent
// names no object at all (sensor data of a read point only). Class-level
// events (quantityList or childQuantityList only) are recorded without
// custody effect.
var officialCaptureOutcomes = []struct{ file, prefix, text string }{
	{"AssociationEvent/AssociationEvent-a.jsonld", "accepted 1 of 1", ""},
	{"AssociationEvent/AssociationEvent-b.jsonld", "invalid:", "parent_id \"urn:epc:id:sgln:4012345.00002.12\" is not an SGTIN, SSCC, GRAI or GIAI URN or GS"},
	{"AssociationEvent/AssociationEvent-c.jsonld", "accepted 1 of 1", ""},
	{"AssociationEvent/AssociationEvent-d.jsonld", "accepted 1 of 1", ""},
	{"AssociationEvent/AssociationEvent-e.jsonld", "accepted 1 of 1", ""},
	{"AssociationEvent/AssociationEvent-f.jsonld", "accepted 1 of 1", ""},
	{"AssociationEvent/AssociationEvent-g.jsonld", "accepted 1 of 1", ""},
	{"AssociationEvent/AssociationEvent-h.jsonld", "accepted 1 of 1", ""},
	{"EPCISQueryDocument.jsonld", "invalid:", "a shipping event needs a destination of type owning_party or possessing_party naming the r"},
	{"Example-TransactionEvents-2020_07_03y.jsonld", "invalid:", "EPC \"urn:epc:id:gsrn:95252084.000000001\" is not an SGTIN, SSCC, GRAI or GIAI URN or GS1 Di"},
	{"Example-Type-sourceOrDestination,measurement,bizTransaction.jsonld", "accepted 1 of 1", ""},
	{"Example_9.6.1-ObjectEvent-with-pseudo-SBDH-headers.jsonld", "invalid:", "a shipping event needs a destination of type owning_party or possessing_party naming the r"},
	{"Example_9.6.1-ObjectEvent.jsonld", "invalid:", "a shipping event needs a destination of type owning_party or possessing_party naming the r"},
	{"Example_9.6.1-with-comment.jsonld", "invalid:", "a shipping event needs a destination of type owning_party or possessing_party naming the r"},
	{"Example_9.6.2-ObjectEvent.jsonld", "accepted 1 of 1", ""},
	{"Example_9.6.3-AggregationEvent.jsonld", "not_found:", "EPC urn:epc:id:sscc:0614141.1234567890 was never commissioned"},
	{"Example_9.6.4-TransformationEvent.jsonld", "not_found:", "events[0]: EPC urn:epc:id:sgtin:4012345.011122.25 was never commissioned"},
	{"PersistentDisposition-example.jsonld", "not_found:", "EPC urn:epc:id:sgtin:9520001.012346.10000001001 was never commissioned"},
	{"WithDigitalLinkID/Example_9.6.1-ObjectEventWithDigitalLink.jsonld", "invalid:", "a shipping event needs a destination of type owning_party or possessing_party naming the r"},
	{"WithDigitalLinkID/Example_9.6.2-ObjectEventWithDigitalLink.jsonld", "accepted 1 of 1", ""},
	{"WithDigitalLinkID/Example_9.6.3-AggregationEventWithDigitalLink.jsonld", "not_found:", "EPC urn:epc:id:sscc:0614141.1234567890 was never commissioned"},
	{"WithDigitalLinkID/Example_9.6.4-TransformationEventWithDigitalLink.jsonld", "not_found:", "events[0]: EPC urn:epc:id:sgtin:4012345.011122.25 was never commissioned"},
	{"WithErrorDeclaration/ErrorDeclarationAndCorrectiveEvent.jsonld", "not_found:", "events[0]: EPC urn:epc:id:sgtin:4012345.011111.987 was never commissioned"},
	{"WithErrorDeclaration/Example_9.6.1-ObjectEvent-with-error-declaration.jsonld", "invalid:", "a shipping event needs a destination of type owning_party or possessing_party naming the r"},
	{"WithFullCombinationOfFields/aggregation_event_all_possible_fields.jsonld", "not_found:", "EPC urn:epc:id:sscc:0614141.1234567890 was never commissioned"},
	{"WithFullCombinationOfFields/association_event_all_possible_fields.jsonld", "accepted 1 of 1", ""},
	{"WithFullCombinationOfFields/object_event_all_possible_fields.jsonld", "invalid:", "an ObjectEvent ADD commissions; biz_step receiving needs action OBSERVE"},
	{"WithFullCombinationOfFields/transaction_event_all_possible_fields.jsonld", "accepted 1 of 1", ""},
	{"WithFullCombinationOfFields/transformation_event_all_possible_fields.jsonld", "not_found:", "events[0]: EPC urn:epc:id:sgtin:4012345.011122.25 was never commissioned"},
	{"WithSensorData/SensorDataExample1.jsonld", "not_found:", "EPC urn:epc:id:sgtin:4012345.011111.9876 was never commissioned"},
	{"WithSensorData/SensorDataExample10.jsonld", "not_found:", "EPC urn:epc:id:sgtin:4012345.022222.1234 was never commissioned"},
	{"WithSensorData/SensorDataExample11.jsonld", "accepted 1 of 1", ""},
	{"WithSensorData/SensorDataExample12.jsonld", "accepted 1 of 1", ""},
	{"WithSensorData/SensorDataExample13.jsonld", "not_found:", "EPC https://id.gs1.org/01/09506000134352/21/12345 was never commissioned"},
	{"WithSensorData/SensorDataExample14.jsonld", "invalid:", "EPC \"https://id.example.com/8003/040123450007718765\" is not an SGTIN, SSCC, GRAI or GIAI U"},
	{"WithSensorData/SensorDataExample15.jsonld", "invalid:", "EPC \"https://id.example.com/8003/040123450007718765\" is not an SGTIN, SSCC, GRAI or GIAI U"},
	{"WithSensorData/SensorDataExample16.jsonld", "invalid:", "EPC \"https://id.example.com/8003/040123450007718765\" is not an SGTIN, SSCC, GRAI or GIAI U"},
	{"WithSensorData/SensorDataExample17.jsonld", "not_found:", "EPC https://id.gs1.org/01/09506000134352/21/12345 was never commissioned"},
	{"WithSensorData/SensorDataExample1b.jsonld", "invalid:", "an ObjectEvent must list epcs or quantities"},
	{"WithSensorData/SensorDataExample2.jsonld", "not_found:", "EPC urn:epc:id:sgtin:4012345.011111.9876 was never commissioned"},
	{"WithSensorData/SensorDataExample3.jsonld", "invalid:", "an ObjectEvent must list epcs or quantities"},
	{"WithSensorData/SensorDataExample4.jsonld", "accepted 1 of 1", ""},
	{"WithSensorData/SensorDataExample5.jsonld", "not_found:", "EPC urn:epc:id:sgtin:4012345.011111.9876 was never commissioned"},
	{"WithSensorData/SensorDataExample6.jsonld", "not_found:", "EPC urn:epc:id:sgtin:4012345.011111.9876 was never commissioned"},
	{"WithSensorData/SensorDataExample7.jsonld", "not_found:", "EPC urn:epc:id:sgtin:4012345.011111.9876 was never commissioned"},
	{"WithSensorData/SensorDataExample8.jsonld", "accepted 1 of 1", ""},
	{"WithSensorData/SensorDataExample9.jsonld", "not_found:", "EPC urn:epc:id:sgtin:4012345.011111.9876 was never commissioned"},
}

package supply

import (
	"encoding/json"
	"fmt"
	"time"

	cc "carechain"
)

// Limits of a supply.capture transaction.
const (
	// MaxEventsPerTx is the most events one supply.capture may carry.
	MaxEventsPerTx = 1000
	// MaxEPCsPerEvent is the most EPCs (epcs, child_epcs, input_epcs and
	// output_epcs together) one event may list.
	MaxEPCsPerEvent = 1000
	// MaxEPCsPerTx is the most EPCs all events of a transaction may list
	// together.
	MaxEPCsPerTx = 20000
	// MaxEPCLen is the longest EPC URI, in bytes.
	MaxEPCLen = 128
	// MaxURILen is the longest event id, location, party, biz_step or
	// disposition, in bytes.
	MaxURILen = 256
	// MaxLotLen is the longest lot number, in bytes.
	MaxLotLen = 64
	// MaxLinks is the most sources (and the most destinations) per event.
	MaxLinks = 16
	// MaxSensors is the most sensor reports per event.
	MaxSensors = 64
	// MinMilliC and MaxMilliC bound a temperature in milli-degrees Celsius.
	MinMilliC = -273150
	MaxMilliC = 1000000
)

// The EPCIS event types and actions.
const (
	ObjectEvent         = "ObjectEvent"
	AggregationEvent    = "AggregationEvent"
	TransactionEvent    = "TransactionEvent"
	AssociationEvent    = "AssociationEvent"
	TransformationEvent = "TransformationEvent"

	ActionAdd     = "ADD"
	ActionObserve = "OBSERVE"
	ActionDelete  = "DELETE"
)

// The CBV business steps with a custody effect (bare CBV words).
const (
	StepCommissioning   = "commissioning"
	StepShipping        = "shipping"
	StepReceiving       = "receiving"
	StepDecommissioning = "decommissioning"
)

// The source/destination types that name an organization.
const (
	PartyOwning     = "owning_party"
	PartyPossessing = "possessing_party"
)

// capturePayload is the payload of "supply.capture". Each element of
// Events is an Event, decoded strictly on its own.
type capturePayload struct {
	Org    string            `json:"org"`
	Events []json.RawMessage `json:"events"`
}

// Event is one normalized EPCIS 2.0 event as it travels on-chain: the
// custody-relevant subset of epcis.Event, with plain strings and integers
// only (no floats). Absent optional fields are empty.
type Event struct {
	Type         string   `json:"type"`        // ObjectEvent, AggregationEvent, TransactionEvent, AssociationEvent or TransformationEvent
	Action       string   `json:"action"`      // ADD, OBSERVE or DELETE; "" for a TransformationEvent
	EventTime    string   `json:"event_time"`  // RFC 3339 with a zone offset
	EventID      string   `json:"event_id"`    // optional, e.g. "ni:///sha-256;…" or a URN
	EPCs         []string `json:"epcs"`        // epcList
	ParentID     string   `json:"parent_id"`   // AggregationEvent (required), TransactionEvent, AssociationEvent
	ChildEPCs    []string `json:"child_epcs"`  // AggregationEvent, AssociationEvent
	BizStep      string   `json:"biz_step"`    // bare CBV word ("shipping") or a URI
	Disposition  string   `json:"disposition"` // bare CBV word ("in_transit") or a URI
	ReadPoint    string   `json:"read_point"`  // urn:epc:id:sgln:… or https://id.gs1.org/414/…
	BizLocation  string   `json:"biz_location"`
	Sources      []Link   `json:"sources"`
	Destinations []Link   `json:"destinations"`
	Lot          string   `json:"lot"`    // ilmd lotNumber
	Expiry       string   `json:"expiry"` // ilmd itemExpirationDate, YYYY-MM-DD
	Sensors      []Sensor `json:"sensors"`
	// BizTransactions, Quantities and ChildQuantities keep the rest of
	// what the event said (bizTransactionList, quantityList,
	// childQuantityList) so that a query answers it; they have no custody
	// effect.
	BizTransactions []Link     `json:"biz_transactions,omitempty"`
	Quantities      []Quantity `json:"quantities,omitempty"`
	ChildQuantities []Quantity `json:"child_quantities,omitempty"`
	// The inputs and outputs of a TransformationEvent (inputEPCList,
	// outputEPCList, inputQuantityList, outputQuantityList) and its
	// transformationID. Lot and Expiry are those of the outputs.
	InputEPCs        []string   `json:"input_epcs,omitempty"`
	OutputEPCs       []string   `json:"output_epcs,omitempty"`
	InputQuantities  []Quantity `json:"input_quantities,omitempty"`
	OutputQuantities []Quantity `json:"output_quantities,omitempty"`
	TransformationID string     `json:"transformation_id,omitempty"`
}

// epcCount is how many EPCs ev lists (towards MaxEPCsPerEvent and
// MaxEPCsPerTx).
func (ev *Event) epcCount() int {
	return len(ev.EPCs) + len(ev.ChildEPCs) + len(ev.InputEPCs) + len(ev.OutputEPCs)
}

// commissioned returns the EPCs ev creates: the epcs of an ObjectEvent
// ADD, the output_epcs of a TransformationEvent.
func (ev *Event) commissioned() []string {
	switch {
	case ev.Type == ObjectEvent && ev.Action == ActionAdd:
		return ev.EPCs
	case ev.Type == TransformationEvent:
		return ev.OutputEPCs
	}
	return nil
}

// classLevel reports whether ev counts classes of objects only where its
// custody effect would be: an ObjectEvent with quantities but no epcs, an
// AggregationEvent with child_quantities but no child_epcs. Such an event
// is recorded without custody effect (see handleCapture).
func (ev *Event) classLevel() bool {
	switch ev.Type {
	case ObjectEvent:
		return len(ev.EPCs) == 0 && len(ev.Quantities) > 0
	case AggregationEvent:
		return len(ev.ChildEPCs) == 0 && len(ev.ChildQuantities) > 0
	}
	return false
}

// Quantity is a quantityElement: a class of objects (an LGTIN or
// EPC class URN, a GTIN Digital Link …), an amount as a decimal string
// (the ledger holds no floats; "" when the element has none) and a UN/CEFACT
// Rec 20 unit ("" for a count).
type Quantity struct {
	Class    string `json:"class"`
	Quantity string `json:"quantity,omitempty"`
	UOM      string `json:"uom,omitempty"`
}

// MaxQuantities is the most quantity elements per list of an event.
const MaxQuantities = 64

// Link is a source or destination: Type is "owning_party",
// "possessing_party", "location" or a URI; ID is the party or location.
// For a party that is a carechain organization, ID is the organization id
// ("distrib-1") or "org:" followed by it ("org:distrib-1").
type Link struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Sensor is one sensor report. Temperatures are integers in
// milli-degrees Celsius (°C × 1000), converted by the adapter, so that no
// float reaches the state.
//
// A report covers either an instant (time, or the event time when empty)
// or, when start_time and end_time are both given, the span between them
// (EPCIS sensorReport startTime/endTime); min_milli_c and max_milli_c are
// the extremes over the span (EPCIS minValue/maxValue). How temperature
// reports count towards a product's excursion budget is described in the
// package documentation (Cold chain).
type Sensor struct {
	Type        string `json:"type"` // "Temperature" (gs1:Temperature as a bare word) or a URI
	Time        string `json:"time"` // RFC 3339, optional (the event time when empty)
	ValueMilliC int64  `json:"value_milli_c"`
	StartTime   string `json:"start_time,omitempty"`  // RFC 3339; with end_time, the span the report covers
	EndTime     string `json:"end_time,omitempty"`    // RFC 3339, not before start_time
	MinMilliC   *int64 `json:"min_milli_c,omitempty"` // lowest value over the report
	MaxMilliC   *int64 `json:"max_milli_c,omitempty"` // highest value over the report
}

// MaxSensorSpan is the longest span (end_time − start_time) of one sensor
// report.
const MaxSensorSpan = 366 * 24 * time.Hour

// extremes returns the lowest and highest temperature of s: min_milli_c
// and max_milli_c, each value_milli_c when absent.
func (s *Sensor) extremes() (lo, hi int64) {
	lo, hi = s.ValueMilliC, s.ValueMilliC
	if s.MinMilliC != nil {
		lo = *s.MinMilliC
	}
	if s.MaxMilliC != nil {
		hi = *s.MaxMilliC
	}
	return lo, hi
}

// checkSensor validates one sensor report (see Sensor); the error is the
// problem without the event and sensor index.
func checkSensor(s *Sensor) string {
	if !printable(s.Type, MaxURILen) {
		return fmt.Sprintf("type %q must be a word or a URI of printable bytes", cc.Echo(s.Type))
	}
	if s.Time != "" {
		if _, err := time.Parse(time.RFC3339, s.Time); err != nil {
			return "time must be an RFC 3339 time"
		}
	}
	if (s.StartTime == "") != (s.EndTime == "") {
		return "start_time and end_time must be given together"
	}
	if s.StartTime != "" {
		start, err1 := time.Parse(time.RFC3339, s.StartTime)
		end, err2 := time.Parse(time.RFC3339, s.EndTime)
		if err1 != nil || err2 != nil {
			return "start_time and end_time must be RFC 3339 times"
		}
		if end.Before(start) || end.Sub(start) > MaxSensorSpan {
			return fmt.Sprintf("end_time must be 0 to %d days after start_time", MaxSensorSpan/(24*time.Hour))
		}
	}
	for _, v := range []struct {
		name string
		v    *int64
	}{{"value_milli_c", &s.ValueMilliC}, {"min_milli_c", s.MinMilliC}, {"max_milli_c", s.MaxMilliC}} {
		if v.v != nil && (*v.v < MinMilliC || *v.v > MaxMilliC) {
			return fmt.Sprintf("%s %d is outside %d..%d", v.name, *v.v, MinMilliC, MaxMilliC)
		}
	}
	if lo, hi := s.extremes(); lo > hi {
		return fmt.Sprintf("the report's minimum %d is above its maximum %d (min_milli_c, max_milli_c, else value_milli_c)", lo, hi)
	}
	return ""
}

// checkEvent validates one event's fields, without the state. Violations
// are cc.Invalid naming events[i].
func checkEvent(op string, i int, ev *Event) error {
	bad := func(format string, args ...any) error {
		return cc.Errorf(op, cc.Invalid, "events[%d]: "+format, append([]any{i}, args...)...)
	}
	switch ev.Type {
	case ObjectEvent, AggregationEvent, TransactionEvent, AssociationEvent, TransformationEvent:
	default:
		return bad("type %q must be ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent or AssociationEvent", cc.Echo(ev.Type))
	}
	switch {
	case ev.Type == TransformationEvent:
		if ev.Action != "" {
			return bad("a TransformationEvent has no action")
		}
	case ev.Action == ActionAdd || ev.Action == ActionObserve || ev.Action == ActionDelete:
	default:
		return bad("action %q must be ADD, OBSERVE or DELETE", cc.Echo(ev.Action))
	}
	if _, err := time.Parse(time.RFC3339, ev.EventTime); err != nil {
		return bad("event_time %q must be an RFC 3339 time with a zone offset", cc.Echo(ev.EventTime))
	}
	if ev.EventID != "" && !printable(ev.EventID, MaxURILen) {
		return bad("event_id must be at most %d printable bytes without spaces", MaxURILen)
	}
	if ev.epcCount() > MaxEPCsPerEvent {
		return bad("at most %d EPCs per event", MaxEPCsPerEvent)
	}
	seen := make(map[string]bool, ev.epcCount()+1)
	for _, list := range [][]string{ev.EPCs, ev.ChildEPCs, ev.InputEPCs, ev.OutputEPCs} {
		for _, e := range list {
			if !ValidEPC(e) {
				return bad("EPC %q is not an SGTIN, SSCC, GRAI or GIAI URN or GS1 Digital Link", cc.Echo(e))
			}
			if seen[e] {
				return bad("EPC %s is listed twice", e)
			}
			seen[e] = true
		}
	}
	if ev.ParentID != "" {
		if !ValidEPC(ev.ParentID) {
			return bad("parent_id %q is not an SGTIN, SSCC, GRAI or GIAI URN or GS1 Digital Link", cc.Echo(ev.ParentID))
		}
		if seen[ev.ParentID] {
			return bad("parent_id %s is also listed as a child or EPC", ev.ParentID)
		}
	}
	if problem := checkShape(ev); problem != "" {
		return bad("%s", problem)
	}
	if ev.TransformationID != "" && !printable(ev.TransformationID, MaxURILen) {
		return bad("transformation_id must be at most %d printable bytes without spaces", MaxURILen)
	}
	if ev.BizStep != "" && !validTerm(ev.BizStep) {
		return bad("biz_step %q must be a bare CBV word or a URI", cc.Echo(ev.BizStep))
	}
	if ev.Disposition != "" && !validTerm(ev.Disposition) {
		return bad("disposition %q must be a bare CBV word or a URI", cc.Echo(ev.Disposition))
	}
	if ev.ReadPoint != "" && !ValidLocation(ev.ReadPoint) {
		return bad("read_point %q must be an SGLN URN or a GS1 Digital Link /414/ location", cc.Echo(ev.ReadPoint))
	}
	if ev.BizLocation != "" && !ValidLocation(ev.BizLocation) {
		return bad("biz_location %q must be an SGLN URN or a GS1 Digital Link /414/ location", cc.Echo(ev.BizLocation))
	}
	for _, l := range [][]Link{ev.Sources, ev.Destinations} {
		if len(l) > MaxLinks {
			return bad("at most %d sources and %d destinations", MaxLinks, MaxLinks)
		}
		for _, k := range l {
			if !validTerm(k.Type) || !printable(k.ID, MaxURILen) {
				return bad("a source or destination needs a type (bare CBV word or URI) and an id of printable bytes")
			}
		}
	}
	if len(ev.BizTransactions) > MaxLinks {
		return bad("at most %d business transactions", MaxLinks)
	}
	for _, k := range ev.BizTransactions {
		if k.Type != "" && !validTerm(k.Type) || !printable(k.ID, MaxURILen) {
			return bad("a business transaction needs an id of printable bytes and, if typed, a bare CBV word or URI")
		}
	}
	for _, qs := range [][]Quantity{ev.Quantities, ev.ChildQuantities, ev.InputQuantities, ev.OutputQuantities} {
		if len(qs) > MaxQuantities {
			return bad("at most %d quantity elements per list", MaxQuantities)
		}
		for _, q := range qs {
			if !printable(q.Class, MaxURILen) || q.Quantity != "" && !validDecimal(q.Quantity) || q.UOM != "" && !printable(q.UOM, 8) {
				return bad("a quantity needs a class of printable bytes, a decimal quantity and a unit code of at most 8 bytes")
			}
		}
	}
	if ev.Lot != "" && !validLot(ev.Lot) {
		return bad("lot must be at most %d printable bytes without spaces", MaxLotLen)
	}
	if ev.Expiry != "" {
		if _, err := time.Parse(time.DateOnly, ev.Expiry); err != nil {
			return bad("expiry %q must be a date YYYY-MM-DD", cc.Echo(ev.Expiry))
		}
	}
	if len(ev.Sensors) > MaxSensors {
		return bad("at most %d sensor reports", MaxSensors)
	}
	for j := range ev.Sensors {
		if problem := checkSensor(&ev.Sensors[j]); problem != "" {
			return bad("sensors[%d]: %s", j, problem)
		}
	}
	return nil
}

// checkShape checks which lists events of ev's type carry; it returns the
// problem, "" when there is none. An event lists what it is about: an
// ObjectEvent epcs or quantities, an AggregationEvent ADD child_epcs or
// child_quantities, a TransactionEvent epcs, quantities or a parent_id, a
// TransformationEvent at least one input or output.
func checkShape(ev *Event) string {
	transform := len(ev.InputEPCs) > 0 || len(ev.OutputEPCs) > 0 || len(ev.InputQuantities) > 0 ||
		len(ev.OutputQuantities) > 0 || ev.TransformationID != ""
	switch ev.Type {
	case ObjectEvent:
		if ev.ParentID != "" || len(ev.ChildEPCs) > 0 || len(ev.ChildQuantities) > 0 {
			return "an ObjectEvent has no parent_id, child_epcs or child_quantities"
		}
		if len(ev.EPCs) == 0 && len(ev.Quantities) == 0 {
			return "an ObjectEvent must list epcs or quantities"
		}
	case AggregationEvent:
		if ev.ParentID == "" {
			return "an AggregationEvent needs a parent_id"
		}
		if len(ev.EPCs) > 0 || len(ev.Quantities) > 0 {
			return "an AggregationEvent lists child_epcs or child_quantities, not epcs or quantities"
		}
		if ev.Action == ActionAdd && len(ev.ChildEPCs) == 0 && len(ev.ChildQuantities) == 0 {
			return "an AggregationEvent ADD must list child_epcs or child_quantities"
		}
	case TransactionEvent:
		if len(ev.ChildEPCs) > 0 || len(ev.ChildQuantities) > 0 {
			return "a TransactionEvent has no child_epcs or child_quantities"
		}
		if len(ev.EPCs) == 0 && len(ev.Quantities) == 0 && ev.ParentID == "" {
			return "a TransactionEvent must list epcs, quantities or a parent_id"
		}
	case AssociationEvent:
		if len(ev.EPCs) > 0 || len(ev.Quantities) > 0 {
			return "an AssociationEvent lists child_epcs or child_quantities, not epcs or quantities"
		}
		if ev.ParentID == "" {
			return "an AssociationEvent needs a parent_id"
		}
	case TransformationEvent:
		if ev.ParentID != "" || len(ev.EPCs) > 0 || len(ev.ChildEPCs) > 0 || len(ev.Quantities) > 0 || len(ev.ChildQuantities) > 0 {
			return "a TransformationEvent lists input_epcs, output_epcs, input_quantities and output_quantities, not epcs, quantities, parent_id or children"
		}
		if len(ev.InputEPCs)+len(ev.OutputEPCs)+len(ev.InputQuantities)+len(ev.OutputQuantities) == 0 {
			return "a TransformationEvent must list at least one input or output"
		}
		return ""
	}
	if transform {
		return "input_epcs, output_epcs, input_quantities, output_quantities and transformation_id belong to a TransformationEvent"
	}
	return ""
}

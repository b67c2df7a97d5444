package supply

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	cc "carechain"
)

// Limits of a supply.capture transaction.
const (
	// MaxEventsPerTx is the most events one supply.capture may carry.
	MaxEventsPerTx = 1000
	// MaxEPCsPerEvent is the most EPCs (epcs plus child_epcs) one event
	// may list.
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
	ObjectEvent      = "ObjectEvent"
	AggregationEvent = "AggregationEvent"
	TransactionEvent = "TransactionEvent"
	AssociationEvent = "AssociationEvent"

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
	Type         string   `json:"type"`        // ObjectEvent, AggregationEvent, TransactionEvent or AssociationEvent
	Action       string   `json:"action"`      // ADD, OBSERVE or DELETE
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

// validDecimal reports whether s is a plain decimal number: an optional
// minus, 1 to 15 digits and at most 6 decimals.
func validDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	whole, frac, hasFrac := strings.Cut(s, ".")
	return len(whole) <= 15 && digits(whole, 0) && (!hasFrac || len(frac) <= 6 && digits(frac, 0))
}

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

// printable reports whether s is 1..max printable ASCII bytes without
// spaces.
func printable(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// digits reports whether s is n decimal digits (any count when n is 0,
// but at least one).
func digits(s string, n int) bool {
	if s == "" || n > 0 && len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// epcParts reports whether body is n non-empty '.'-separated parts, all
// digits except possibly the last (a serial, which may be alphanumeric).
func epcParts(body string, n int) bool {
	parts := strings.Split(body, ".")
	if len(parts) != n {
		return false
	}
	for i, p := range parts {
		if p == "" || i < n-1 && !digits(p, 0) {
			return false
		}
	}
	return true
}

// ValidEPC reports whether s is an instance-level EPC this package tracks:
// a pure-identity URN urn:epc:id:sgtin:C.I.S, urn:epc:id:sscc:C.S,
// urn:epc:id:grai:C.A.S or urn:epc:id:giai:C.A, or a GS1 Digital Link
// https://id.gs1.org/01/{14 digits}/21/{serial} or
// https://id.gs1.org/00/{18 digits}; at most MaxEPCLen printable bytes.
// It checks syntax only (no check digits: the adapter does that).
func ValidEPC(s string) bool {
	if !printable(s, MaxEPCLen) {
		return false
	}
	switch {
	case strings.HasPrefix(s, "urn:epc:id:sgtin:"):
		return epcParts(s[len("urn:epc:id:sgtin:"):], 3)
	case strings.HasPrefix(s, "urn:epc:id:sscc:"):
		return epcParts(s[len("urn:epc:id:sscc:"):], 2) && !strings.ContainsFunc(s[len("urn:epc:id:sscc:"):], func(r rune) bool { return r != '.' && (r < '0' || r > '9') })
	case strings.HasPrefix(s, "urn:epc:id:grai:"):
		return epcParts(s[len("urn:epc:id:grai:"):], 3)
	case strings.HasPrefix(s, "urn:epc:id:giai:"):
		return epcParts(s[len("urn:epc:id:giai:"):], 2)
	case strings.HasPrefix(s, "https://id.gs1.org/01/"):
		rest := s[len("https://id.gs1.org/01/"):]
		gtin, serial, ok := strings.Cut(rest, "/21/")
		return ok && digits(gtin, 14) && serial != "" && !strings.Contains(serial, "/")
	case strings.HasPrefix(s, "https://id.gs1.org/00/"):
		return digits(s[len("https://id.gs1.org/00/"):], 18)
	}
	return false
}

// ValidLocation reports whether s is a location identifier: an SGLN URN
// (urn:epc:id:sgln:C.L.E) or a Digital Link https://id.gs1.org/414/{13
// digits}[/254/{extension}], at most MaxURILen printable bytes.
func ValidLocation(s string) bool {
	if !printable(s, MaxURILen) {
		return false
	}
	switch {
	case strings.HasPrefix(s, "urn:epc:id:sgln:"):
		parts := strings.Split(s[len("urn:epc:id:sgln:"):], ".")
		return len(parts) == 3 && digits(parts[0], 0) && digits(parts[1], 0) && parts[2] != ""
	case strings.HasPrefix(s, "https://id.gs1.org/414/"):
		rest := s[len("https://id.gs1.org/414/"):]
		gln, ext, hasExt := strings.Cut(rest, "/254/")
		return digits(gln, 13) && (!hasExt || ext != "" && !strings.Contains(ext, "/"))
	}
	return false
}

// validTerm reports whether s is a bare CBV word ([a-z_]{1,64}) or a URI
// (contains ':'), at most MaxURILen printable bytes.
func validTerm(s string) bool {
	if !printable(s, MaxURILen) {
		return false
	}
	if strings.Contains(s, ":") {
		return true
	}
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c == '_') {
			return false
		}
	}
	return true
}

// validLot reports whether s is a lot number: 1..MaxLotLen printable ASCII
// bytes without spaces.
func validLot(s string) bool { return printable(s, MaxLotLen) }

// PartyOrg returns the organization id a party link names: the id itself
// or the id after "org:", if it is a valid organization id.
func PartyOrg(id string) (string, bool) {
	org := strings.TrimPrefix(id, "org:")
	return org, cc.ValidOrgID(org)
}

// checkEvent validates one event's fields, without the state. Violations
// are cc.Invalid naming events[i].
func checkEvent(op string, i int, ev *Event) error {
	bad := func(format string, args ...any) error {
		return cc.Errorf(op, cc.Invalid, "events[%d]: "+format, append([]any{i}, args...)...)
	}
	switch ev.Type {
	case ObjectEvent, AggregationEvent, TransactionEvent, AssociationEvent:
	case "TransformationEvent":
		return bad("TransformationEvent is not supported on the ledger yet")
	default:
		return bad("type %q must be ObjectEvent, AggregationEvent, TransactionEvent or AssociationEvent", cc.Echo(ev.Type))
	}
	switch ev.Action {
	case ActionAdd, ActionObserve, ActionDelete:
	default:
		return bad("action %q must be ADD, OBSERVE or DELETE", cc.Echo(ev.Action))
	}
	if _, err := time.Parse(time.RFC3339, ev.EventTime); err != nil {
		return bad("event_time %q must be an RFC 3339 time with a zone offset", cc.Echo(ev.EventTime))
	}
	if ev.EventID != "" && !printable(ev.EventID, MaxURILen) {
		return bad("event_id must be at most %d printable bytes without spaces", MaxURILen)
	}
	if len(ev.EPCs)+len(ev.ChildEPCs) > MaxEPCsPerEvent {
		return bad("at most %d EPCs per event", MaxEPCsPerEvent)
	}
	seen := make(map[string]bool, len(ev.EPCs)+len(ev.ChildEPCs)+1)
	for _, list := range [][]string{ev.EPCs, ev.ChildEPCs} {
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
	switch ev.Type {
	case ObjectEvent:
		if ev.ParentID != "" || len(ev.ChildEPCs) > 0 {
			return bad("an ObjectEvent has no parent_id or child_epcs")
		}
		if len(ev.EPCs) == 0 {
			return bad("an ObjectEvent must list epcs")
		}
	case AggregationEvent:
		if ev.ParentID == "" {
			return bad("an AggregationEvent needs a parent_id")
		}
		if len(ev.EPCs) > 0 {
			return bad("an AggregationEvent lists child_epcs, not epcs")
		}
		if ev.Action == ActionAdd && len(ev.ChildEPCs) == 0 {
			return bad("an AggregationEvent ADD must list child_epcs")
		}
	case TransactionEvent:
		if len(ev.ChildEPCs) > 0 {
			return bad("a TransactionEvent has no child_epcs")
		}
		if len(ev.EPCs) == 0 && ev.ParentID == "" {
			return bad("a TransactionEvent must list epcs or a parent_id")
		}
	case AssociationEvent:
		if len(ev.EPCs) > 0 {
			return bad("an AssociationEvent lists child_epcs, not epcs")
		}
		if ev.ParentID == "" {
			return bad("an AssociationEvent needs a parent_id")
		}
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
	for _, qs := range [][]Quantity{ev.Quantities, ev.ChildQuantities} {
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

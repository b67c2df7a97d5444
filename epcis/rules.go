package epcis

import (
	"encoding/json"
	"math"
	"strings"
	"time"
)

// rawEvent is the shape of a schema-valid event.
type rawEvent struct {
	Context             json.RawMessage `json:"@context"`
	Type                string          `json:"type"`
	Action              string          `json:"action"`
	EventTime           string          `json:"eventTime"`
	RecordTime          string          `json:"recordTime"`
	EventTimeZoneOffset string          `json:"eventTimeZoneOffset"`
	EventID             string          `json:"eventID"`

	EPCList            []string `json:"epcList"`
	QuantityList       []rawQty `json:"quantityList"`
	ParentID           string   `json:"parentID"`
	ChildEPCs          []string `json:"childEPCs"`
	ChildQuantityList  []rawQty `json:"childQuantityList"`
	InputEPCList       []string `json:"inputEPCList"`
	OutputEPCList      []string `json:"outputEPCList"`
	InputQuantityList  []rawQty `json:"inputQuantityList"`
	OutputQuantityList []rawQty `json:"outputQuantityList"`
	TransformationID   string   `json:"transformationID"`

	BizStep               string `json:"bizStep"`
	Disposition           string `json:"disposition"`
	PersistentDisposition struct {
		Set   []string `json:"set"`
		Unset []string `json:"unset"`
	} `json:"persistentDisposition"`
	ReadPoint   *struct{ ID string } `json:"readPoint"`
	BizLocation *struct{ ID string } `json:"bizLocation"`

	BizTransactionList []struct {
		Type           string `json:"type"`
		BizTransaction string `json:"bizTransaction"`
	} `json:"bizTransactionList"`
	SourceList []struct {
		Type   string `json:"type"`
		Source string `json:"source"`
	} `json:"sourceList"`
	DestinationList []struct {
		Type        string `json:"type"`
		Destination string `json:"destination"`
	} `json:"destinationList"`

	SensorElementList []rawSensorElement         `json:"sensorElementList"`
	ILMD              map[string]json.RawMessage `json:"ilmd"`
	ErrorDeclaration  *struct {
		DeclarationTime    string   `json:"declarationTime"`
		Reason             string   `json:"reason"`
		CorrectiveEventIDs []string `json:"correctiveEventIDs"`
	} `json:"errorDeclaration"`
}

type rawQty struct {
	EPCClass string   `json:"epcClass"`
	Quantity *float64 `json:"quantity"`
	UOM      string   `json:"uom"`
}

type rawSensorElement struct {
	SensorMetadata struct {
		Time      string `json:"time"`
		StartTime string `json:"startTime"`
		EndTime   string `json:"endTime"`
		DeviceID  string `json:"deviceID"`
	} `json:"sensorMetadata"`
	SensorReport []rawSensorReport `json:"sensorReport"`
}

type rawSensorReport struct {
	Type         string   `json:"type"`
	Exception    string   `json:"exception"`
	DeviceID     string   `json:"deviceID"`
	Time         string   `json:"time"`
	Value        *float64 `json:"value"`
	MinValue     *float64 `json:"minValue"`
	MaxValue     *float64 `json:"maxValue"`
	MeanValue    *float64 `json:"meanValue"`
	SDev         *float64 `json:"sDev"`
	PercValue    *float64 `json:"percValue"`
	UOM          string   `json:"uom"`
	StringValue  string   `json:"stringValue"`
	BooleanValue *bool    `json:"booleanValue"`
	URIValue     string   `json:"uriValue"`
	Component    string   `json:"component"`
}

// checker collects the issues of one event.
type checker struct {
	base   string // JSON pointer of the event
	issues []Issue
}

func (c *checker) add(code string, loc []any, format string, args ...any) {
	c.issues = append(c.issues, newIssue(code, ptr(c.base, loc...), format, args...))
}

// at is shorthand for a location below the event.
func at(tokens ...any) []any { return tokens }

// buildEvent checks one schema-valid event at JSON pointer base and
// normalizes it.
func buildEvent(raw json.RawMessage, base string, docPrefixes map[string]string) (Event, []Issue) {
	c := &checker{base: base}
	var r rawEvent
	if err := json.Unmarshal(raw, &r); err != nil {
		// Schema-valid JSON that does not fit Go's types: a number out of
		// float64 range.
		c.add(CodeValue, nil, "%v", err)
		return Event{}, c.issues
	}
	ev := Event{
		Type: r.Type, Action: r.Action, EventID: r.EventID,
		EventTimeZoneOffset: r.EventTimeZoneOffset,
		ParentID:            r.ParentID, TransformationID: r.TransformationID,
		EPCs: r.EPCList, ChildEPCs: r.ChildEPCs, InputEPCs: r.InputEPCList, OutputEPCs: r.OutputEPCList,
		Raw: raw,
	}
	switch r.Type {
	case ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent, AssociationEvent:
	default:
		c.add(CodeNotSupport, at("type"), "event type %s is an extension; only the five EPCIS 2.0 event types are captured", quote(r.Type))
		return ev, c.issues
	}
	c.times(&ev, &r)
	c.what(&ev, &r)
	c.why(&ev, &r)
	c.where(&ev, &r)
	c.sensors(&ev, &r)
	if r.ILMD != nil {
		ev.ILMD = c.ilmd(r.ILMD, contextPrefixes(docPrefixes, r.Context))
	}
	return ev, c.issues
}

// times checks eventTime, its offset, recordTime and an error declaration.
func (c *checker) times(ev *Event, r *rawEvent) {
	t, err := parseTime(r.EventTime)
	if err != nil {
		c.add(CodeValue, at("eventTime"), "%v", err)
	}
	loc, err := parseOffset(r.EventTimeZoneOffset)
	if err != nil {
		c.add(CodeValue, at("eventTimeZoneOffset"), "%v", err)
	} else {
		t = t.In(loc)
	}
	ev.EventTime = t
	if r.RecordTime != "" {
		if ev.RecordTime, err = parseTime(r.RecordTime); err != nil {
			c.add(CodeValue, at("recordTime"), "%v", err)
		}
	}
	if d := r.ErrorDeclaration; d != nil {
		ed := &ErrorDeclaration{Reason: d.Reason, CorrectiveEventIDs: d.CorrectiveEventIDs}
		if ed.DeclarationTime, err = parseTime(d.DeclarationTime); err != nil {
			c.add(CodeValue, at("errorDeclaration", "declarationTime"), "%v", err)
		}
		ev.ErrorDeclaration = ed
	}
}

// what checks the identifiers and quantities and the fields each event
// type needs for its action (EPCIS 2.0 §7.4).
func (c *checker) what(ev *Event, r *rawEvent) {
	c.instances("epcList", r.EPCList)
	c.instances("childEPCs", r.ChildEPCs)
	c.instances("inputEPCList", r.InputEPCList)
	c.instances("outputEPCList", r.OutputEPCList)
	if r.ParentID != "" {
		c.identifier(at("parentID"), r.ParentID, true)
	}
	if r.TransformationID != "" {
		c.identifier(at("transformationID"), r.TransformationID, false)
	}
	ev.Quantities = c.quantities("quantityList", r.QuantityList)
	ev.ChildQuantities = c.quantities("childQuantityList", r.ChildQuantityList)
	ev.InputQuantities = c.quantities("inputQuantityList", r.InputQuantityList)
	ev.OutputQuantities = c.quantities("outputQuantityList", r.OutputQuantityList)

	what := len(r.EPCList) + len(r.QuantityList)
	children := len(r.ChildEPCs) + len(r.ChildQuantityList)
	switch r.Type {
	case ObjectEvent:
		// The schema admits an empty epcList; an ObjectEvent must still say
		// what it is about, unless it reports sensor data of its readPoint.
		if what == 0 && (r.Action != ActionObserve || len(r.SensorElementList) == 0) {
			c.add(CodeRequired, at("epcList"), "an ObjectEvent with action %s must name at least one object in epcList or quantityList", r.Action)
		}
	case TransactionEvent:
		if what == 0 && r.Action != ActionDelete {
			c.add(CodeRequired, at("epcList"), "a TransactionEvent with action %s must name at least one object in epcList or quantityList (only DELETE may leave both empty)", r.Action)
		}
	case AggregationEvent:
		if r.ParentID == "" && r.Action != ActionObserve {
			c.add(CodeRequired, at("parentID"), "an AggregationEvent with action %s must name its parentID", r.Action)
		}
		if children == 0 && r.Action == ActionAdd {
			c.add(CodeRequired, at("childEPCs"), "an AggregationEvent with action ADD must name at least one child")
		}
	case AssociationEvent:
		if children == 0 && r.Action == ActionAdd {
			c.add(CodeRequired, at("childEPCs"), "an AssociationEvent with action ADD must name at least one child")
		}
	}
}

// instances checks a list of instance identifiers: each valid, none a class
// or pattern, none repeated.
func (c *checker) instances(field string, ids []string) {
	seen := make(map[string]bool, len(ids))
	for i, id := range ids {
		if seen[id] {
			c.add(CodeValue, at(field, i), "%s is listed twice", quote(id))
			continue
		}
		seen[id] = true
		c.identifier(at(field, i), id, true)
	}
}

// identifier checks one identifier; instance demands one object, location
// or party rather than a class or pattern.
func (c *checker) identifier(loc []any, id string, instance bool) IDLevel {
	level, err := CheckID(id)
	switch {
	case err != nil:
		c.add(CodeValue, loc, "%v", err)
	case instance && (level == Class || level == Pattern):
		c.add(CodeValue, loc, "%s names a %s of objects where one instance is required (a GTIN Digital Link needs /21/{serial})", quote(id), level)
	}
	return level
}

// quantities checks and converts a quantity list.
func (c *checker) quantities(field string, qs []rawQty) []Quantity {
	if len(qs) == 0 {
		return nil
	}
	out := make([]Quantity, 0, len(qs))
	for i, q := range qs {
		level, err := CheckID(q.EPCClass)
		switch {
		case err != nil:
			c.add(CodeValue, at(field, i, "epcClass"), "%v", err)
		case level == Instance:
			c.add(CodeValue, at(field, i, "epcClass"), "%s names one instance where a class is required (urn:epc:class:lgtin:…, urn:epc:idpat:sgtin:….*, or a GTIN Digital Link)", quote(q.EPCClass))
		case level == Pattern && !isClassPattern(q.EPCClass):
			c.add(CodeValue, at(field, i, "epcClass"), "%s is a pattern that is not a product class; only urn:epc:idpat:sgtin:{company prefix}.{item reference}.* names a class", quote(q.EPCClass))
		}
		out = append(out, Quantity{Class: q.EPCClass, UOM: q.UOM})
		if q.Quantity == nil {
			if q.UOM != "" {
				c.add(CodeRequired, at(field, i, "quantity"), "uom %s is given without a quantity", quote(q.UOM))
			}
			continue
		}
		v := *q.Quantity
		out[i].Quantity, out[i].HasQuantity = v, true
		switch {
		case v < 0:
			c.add(CodeValue, at(field, i, "quantity"), "quantity %v is negative", v)
		case q.UOM == "" && v != math.Trunc(v):
			c.add(CodeValue, at(field, i, "quantity"), "quantity %v without a uom is a count and must be an integer", v)
		}
		if q.UOM != "" {
			c.unit(at(field, i, "uom"), q.UOM)
		}
	}
	return out
}

// isClassPattern reports whether an idpat names a GTIN class:
// "urn:epc:idpat:sgtin:CP.IR.*".
func isClassPattern(id string) bool {
	rest, ok := strings.CutPrefix(id, "urn:epc:idpat:sgtin:")
	if !ok {
		return false
	}
	f := strings.Split(rest, ".")
	return len(f) == 3 && f[0] != "*" && f[1] != "*" && f[2] == "*"
}

// unit checks a Rec 20 code against the table.
func (c *checker) unit(loc []any, code string) (Unit, bool) {
	u, ok := units[code]
	if !ok {
		c.add(CodeCodeInvalid, loc, "unit %s is not a known UN/CEFACT Rec 20 code", quote(code))
	}
	return u, ok
}

// why normalizes bizStep, disposition, persistent dispositions and
// business transactions.
func (c *checker) why(ev *Event, r *rawEvent) {
	var err error
	if r.BizStep != "" {
		if ev.BizStep, err = NormalizeBizStep(r.BizStep); err != nil {
			c.add(CodeCodeInvalid, at("bizStep"), "%v", err)
		}
	}
	if r.Disposition != "" {
		if ev.Disposition, err = NormalizeDisposition(r.Disposition); err != nil {
			c.add(CodeCodeInvalid, at("disposition"), "%v", err)
		}
	}
	ev.PersistentSet = c.dispositions("set", r.PersistentDisposition.Set)
	ev.PersistentUnset = c.dispositions("unset", r.PersistentDisposition.Unset)
	for i, bt := range r.BizTransactionList {
		l := Link{ID: bt.BizTransaction}
		if bt.Type != "" {
			if l.Type, err = bizTransactionTypes.normalize(bt.Type); err != nil {
				c.add(CodeCodeInvalid, at("bizTransactionList", i, "type"), "%v", err)
			}
		}
		// Business transaction ids point at documents outside EPCIS; only
		// those written as EPC URIs (a GDTI) are checked.
		if strings.HasPrefix(bt.BizTransaction, "urn:epc:") {
			c.identifier(at("bizTransactionList", i, "bizTransaction"), bt.BizTransaction, false)
		}
		ev.BizTransactions = append(ev.BizTransactions, l)
	}
}

func (c *checker) dispositions(field string, ds []string) []string {
	var out []string
	for i, d := range ds {
		n, err := NormalizeDisposition(d)
		if err != nil {
			c.add(CodeCodeInvalid, at("persistentDisposition", field, i), "%v", err)
		}
		out = append(out, n)
	}
	return out
}

// where checks readPoint, bizLocation, sources and destinations: valid
// identifiers naming one place or party.
func (c *checker) where(ev *Event, r *rawEvent) {
	if r.ReadPoint != nil {
		ev.ReadPoint = r.ReadPoint.ID
		c.identifier(at("readPoint", "id"), ev.ReadPoint, true)
	}
	if r.BizLocation != nil {
		ev.BizLocation = r.BizLocation.ID
		c.identifier(at("bizLocation", "id"), ev.BizLocation, true)
	}
	for i, s := range r.SourceList {
		ev.Sources = append(ev.Sources, c.link("sourceList", "source", i, s.Type, s.Source))
	}
	for i, d := range r.DestinationList {
		ev.Destinations = append(ev.Destinations, c.link("destinationList", "destination", i, d.Type, d.Destination))
	}
}

func (c *checker) link(list, field string, i int, typ, id string) Link {
	t, err := sourceDestTypes.normalize(typ)
	if err != nil {
		c.add(CodeCodeInvalid, at(list, i, "type"), "%v", err)
	}
	c.identifier(at(list, i, field), id, true)
	return Link{Type: t, ID: id}
}

// sensors checks and flattens sensorElementList.
func (c *checker) sensors(ev *Event, r *rawEvent) {
	for i, se := range r.SensorElementList {
		md := se.SensorMetadata
		var mdTime, start, end time.Time
		mdTime = c.optTime(at("sensorElementList", i, "sensorMetadata", "time"), md.Time)
		start = c.optTime(at("sensorElementList", i, "sensorMetadata", "startTime"), md.StartTime)
		end = c.optTime(at("sensorElementList", i, "sensorMetadata", "endTime"), md.EndTime)
		if !start.IsZero() && !end.IsZero() && end.Before(start) {
			c.add(CodeValue, at("sensorElementList", i, "sensorMetadata", "endTime"), "endTime is before startTime")
		}
		if md.DeviceID != "" {
			c.identifier(at("sensorElementList", i, "sensorMetadata", "deviceID"), md.DeviceID, true)
		}
		for j, sr := range se.SensorReport {
			rep := c.report(at("sensorElementList", i, "sensorReport", j), sr)
			if rep.Time.IsZero() {
				rep.Time = mdTime
			}
			if rep.DeviceID == "" {
				rep.DeviceID = md.DeviceID
			}
			rep.StartTime, rep.EndTime = start, end
			ev.Sensors = append(ev.Sensors, rep)
		}
	}
}

func (c *checker) optTime(loc []any, s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := parseTime(s)
	if err != nil {
		c.add(CodeValue, loc, "%v", err)
	}
	return t
}

// report checks one sensorReport: its type, a unit for numeric values,
// a temperature unit for temperatures, min ≤ max; and converts
// temperatures to °C.
func (c *checker) report(loc []any, sr rawSensorReport) SensorReport {
	rep := SensorReport{
		Exception: sr.Exception, DeviceID: sr.DeviceID,
		Value: sr.Value, MinValue: sr.MinValue, MaxValue: sr.MaxValue, MeanValue: sr.MeanValue,
		UOM: sr.UOM, StringValue: sr.StringValue, BooleanValue: sr.BooleanValue,
		URIValue: sr.URIValue, Component: sr.Component,
	}
	sub := func(tokens ...any) []any { return append(append([]any{}, loc...), tokens...) }
	var err error
	if rep.Type, err = NormalizeMeasurementType(sr.Type); err != nil {
		c.add(CodeCodeInvalid, sub("type"), "%v", err)
	}
	rep.Time = c.optTime(sub("time"), sr.Time)
	if sr.DeviceID != "" {
		c.identifier(sub("deviceID"), sr.DeviceID, true)
	}
	numeric := sr.Value != nil || sr.MinValue != nil || sr.MaxValue != nil || sr.MeanValue != nil || sr.SDev != nil || sr.PercValue != nil
	unitless := rep.Type == "Count" || rep.Type == "Dimensionless"
	switch {
	case sr.UOM != "":
		u, ok := c.unit(sub("uom"), sr.UOM)
		if ok && rep.Type == "Temperature" && u.Dimension != "Temperature" {
			c.add(CodeValue, sub("uom"), "a Temperature must be in CEL, FAH or KEL, not %s (%s)", u.Code, u.Name)
		}
	case numeric && !unitless:
		c.add(CodeRequired, sub("uom"), "a numeric %s value needs a uom", rep.Type)
	}
	if sr.MinValue != nil && sr.MaxValue != nil && *sr.MinValue > *sr.MaxValue {
		c.add(CodeValue, sub("minValue"), "minValue %v is above maxValue %v", *sr.MinValue, *sr.MaxValue)
	}
	if rep.Type == "Temperature" {
		conv := func(field string, v *float64) *float64 {
			if v == nil {
				return nil
			}
			if cel, ok := ToCelsius(*v, sr.UOM); ok {
				return &cel
			}
			if _, known := units[sr.UOM]; known && units[sr.UOM].Dimension == "Temperature" {
				c.add(CodeValue, sub(field), "temperature %v %s is below absolute zero", *v, sr.UOM)
			}
			return nil
		}
		rep.Celsius = conv("value", sr.Value)
		rep.MinCelsius = conv("minValue", sr.MinValue)
		rep.MaxCelsius = conv("maxValue", sr.MaxValue)
		rep.MeanCelsius = conv("meanValue", sr.MeanValue)
	}
	return rep
}

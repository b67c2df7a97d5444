// Package epcis is carechain's GS1 EPCIS 2.0 adapter: it turns a JSON /
// JSON-LD EPCISDocument (or an EPCISQueryDocument, or a single event) into
// validated, normalized Go events, and nothing else — no ledger state, no
// clock, no I/O.
//
// Parse validates in two stages and reports every problem it finds as an
// Issue located by JSON pointer:
//
//  1. the official EPCIS 2.0 JSON Schema (draft-07, embedded from
//     schema/EPCIS-JSON-Schema.json, compiled once, formats asserted);
//  2. the semantic rules the schema cannot express: per event type and
//     action the fields that must name something; EPC URIs (Tag Data
//     Standard field lengths) and GS1 Digital Link URIs (key lengths, check
//     digits, qualifiers); identifier levels (an instance where an instance
//     belongs, a class in quantity lists); CBV bizStep and disposition;
//     times and time-zone offsets; UN/CEFACT Rec 20 units; sensor reports
//     (measurement type, numeric values with a unit, temperature units); ILMD
//     lot and expiry.
//
// Semantic rules run only on a document that passed the schema, so their
// code can rely on its shapes. Normalized events keep the submitted bytes
// (Event.Raw) so a ledger can anchor exactly what was captured.
package epcis

import (
	"encoding/json"
	"time"
)

// Document is a parsed and validated EPCIS submission.
type Document struct {
	// Type is "EPCISDocument", "EPCISQueryDocument", or the event type when
	// a single event was submitted.
	Type          string
	SchemaVersion string
	CreationDate  time.Time // zero when absent (a single event, a query document without it)
	QueryName     string    // EPCISQueryDocument only
	Events        []Event
}

// Event is one EPCIS 2.0 event, normalized. Fields that do not apply to the
// event's type are empty.
type Event struct {
	Type   string // ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent, AssociationEvent
	Action string // ADD, OBSERVE or DELETE; "" for TransformationEvent

	// EventTime is the instant of the event, in the fixed zone named by
	// EventTimeZoneOffset ("+01:00"), which is the local time where it
	// happened.
	EventTime           time.Time
	EventTimeZoneOffset string
	RecordTime          time.Time // zero when absent
	EventID             string    // "" when absent

	EPCs            []string   // epcList (ObjectEvent, TransactionEvent)
	Quantities      []Quantity // quantityList (ObjectEvent, TransactionEvent)
	ParentID        string     // AggregationEvent, AssociationEvent, TransactionEvent
	ChildEPCs       []string   // AggregationEvent, AssociationEvent
	ChildQuantities []Quantity // childQuantityList

	InputEPCs, OutputEPCs             []string   // TransformationEvent
	InputQuantities, OutputQuantities []Quantity // TransformationEvent
	TransformationID                  string

	// BizStep and Disposition are the bare CBV word for a standard term in
	// any spelling ("shipping", "in_transit"); a user-defined URI stays as
	// submitted.
	BizStep     string
	Disposition string
	// PersistentSet and PersistentUnset are persistentDisposition.set /
	// unset, normalized like Disposition.
	PersistentSet, PersistentUnset []string

	ReadPoint   string // readPoint.id
	BizLocation string // bizLocation.id

	BizTransactions []Link // Type is the bare CBV word ("po") or a URI; "" when untyped
	Sources         []Link // Type "owning_party", "possessing_party", "location" or a URI
	Destinations    []Link

	ILMD    ILMD
	Sensors []SensorReport // every sensorReport of every sensorElement, in order

	ErrorDeclaration *ErrorDeclaration // non-nil when the event retracts an earlier one

	// Raw is the event's JSON exactly as submitted.
	Raw json.RawMessage
}

// Quantity is one quantityElement: a class of objects and an amount. An
// empty UOM means Quantity is a count of instances (an integer).
type Quantity struct {
	Class    string  // epcClass: urn:epc:class:lgtin:…, urn:epc:idpat:sgtin:….*, a GTIN Digital Link, or a URI
	Quantity float64 // 0 when absent (HasQuantity false)
	// HasQuantity is false when the element names a class but no amount.
	HasQuantity bool
	UOM         string // UN/CEFACT Rec 20 code, "" for a count
}

// Link is a typed reference: a business transaction, a source or a
// destination.
type Link struct {
	Type string
	ID   string
}

// ILMD is the instance/lot master data of a commissioning (ADD) ObjectEvent
// or a TransformationEvent, read from the CBV master-data attributes
// (cbvmda:lotNumber, cbvmda:itemExpirationDate, cbvmda:bestBeforeDate,
// cbvmda:countryOfOrigin) whether they are written with the standard
// "cbvmda:" prefix, a prefix the document's @context maps to
// "urn:epcglobal:cbv:mda:", or as full URNs. Other ILMD fields stay in Raw.
type ILMD struct {
	Lot             string
	Expiry          time.Time // itemExpirationDate; a date is midnight UTC
	BestBefore      time.Time
	CountryOfOrigin string
}

// SensorReport is one sensorReport with its element's sensorMetadata
// folded in.
type SensorReport struct {
	// Type is the bare GS1 measurement type ("Temperature") for a standard
	// type in any spelling ("gs1:Temperature"), or the submitted URI of a
	// user-defined type.
	Type      string
	Exception string // "ALARM_CONDITION", "ERROR_CONDITION" or a URI; "" when none
	DeviceID  string // the report's deviceID, else the metadata's

	Value, MinValue, MaxValue, MeanValue *float64 // nil when absent
	UOM                                  string   // Rec 20 code; "" when no numeric value

	// Celsius, MinCelsius, MaxCelsius and MeanCelsius are the temperature
	// values converted to °C, for a Temperature report in CEL, FAH or KEL;
	// nil otherwise.
	Celsius, MinCelsius, MaxCelsius, MeanCelsius *float64

	StringValue  string
	BooleanValue *bool
	URIValue     string
	Component    string

	// Time is the report's time, else its element's sensorMetadata.time;
	// StartTime and EndTime bound an interval report. Zero when absent.
	Time, StartTime, EndTime time.Time
}

// ErrorDeclaration says that the event is an error declaration for an
// earlier event with the same content.
type ErrorDeclaration struct {
	DeclarationTime    time.Time
	Reason             string // "did_not_occur", "incorrect_data" or a URI; "" when absent
	CorrectiveEventIDs []string
}

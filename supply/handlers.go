// Package supply holds carechain's pure, deterministic state transitions
// for the vaccine supply chain (issue #4): the capture of normalized GS1
// EPCIS 2.0 events by an organization, the custody state of every tracked
// EPC (owner, location, status, packing hierarchy, lot and expiry) and the
// fraud alerts that custody violations raise.
//
// The on-chain payload is a plain, strictly decoded normalized event form
// (Event), not an EPCIS document: package epcis parses and validates
// EPCIS JSON/JSON-LD against the official schema off the consensus path,
// and the adapter (HTTP /epcis/capture, not part of this package) converts
// its epcis.Event values to Event, temperatures to integer milli-degrees
// Celsius. This package never imports epcis.
//
// # Payload
//
// A supply.capture payload names the capturing organization and lists the
// events (field meanings on Event, Link and Sensor; every field but type,
// action and event_time is optional, unknown fields are rejected):
//
//	{"org": "acme-vaccines", "events": [
//	  {"type": "ObjectEvent", "action": "ADD", "event_time": "2026-01-05T09:00:00+01:00",
//	   "epcs": ["urn:epc:id:sgtin:0614141.107346.2017"], "biz_step": "commissioning",
//	   "disposition": "active", "biz_location": "urn:epc:id:sgln:0614141.00777.0",
//	   "lot": "LOT-A1", "expiry": "2027-06-30"},
//	  {"type": "AggregationEvent", "action": "ADD", "event_time": "…",
//	   "parent_id": "urn:epc:id:sscc:0614141.1234567890",
//	   "child_epcs": ["urn:epc:id:sgtin:0614141.107346.2017"], "biz_step": "packing"},
//	  {"type": "ObjectEvent", "action": "OBSERVE", "event_time": "…",
//	   "epcs": ["urn:epc:id:sscc:0614141.1234567890"], "biz_step": "shipping",
//	   "destinations": [{"type": "owning_party", "id": "org:coldline-distribution"}],
//	   "sensors": [{"type": "Temperature", "time": "…", "value_milli_c": 4500}]}]}
//
// biz_step, disposition and source/destination types are bare CBV words
// (as epcis.Event normalizes them) or URIs. EPCs are instance-level
// (SGTIN, SSCC, GRAI, GIAI) as URNs or GS1 Digital Links; the ledger does
// not map one syntax to the other, so an adapter should submit one
// syntax per item consistently. Organizations in sources and destinations
// are the carechain organization id, optionally prefixed "org:".
//
// Handlers never read a clock (time is the block time in cc.TxContext), use
// no randomness, goroutines, floats or I/O besides the injected cc.KV, and
// never let Go map order reach state, events or results. Every handler
// buffers its writes and makes them only after the whole payload has been
// checked, so a rejected transaction changes nothing. Errors are *cc.Error:
//
//   - cc.Malformed: the payload is not a JSON object of the expected shape;
//   - cc.Invalid: a field's content breaks a rule (names events[i]);
//   - cc.Unauthorized, cc.NotFound, cc.Conflict, cc.FailedPrecondition,
//     cc.Gone: custody violations, as documented on handleCapture.
//
// # Fraud alerts
//
// A rejected transaction cannot write, yet a fraud signal must be recorded.
// So the violations that are fraud signals (commissioning an EPC that
// already exists, receiving an EPC the ledger has never seen) do not fail
// the transaction: the offending event is rejected on its own (it has no
// effect), a FraudAlert is written for each offending EPC, and the
// transaction's result lists the event as rejected with the kind
// (conflict, not_found) and the reason. The other events of the
// transaction apply normally. Every other violation fails the whole
// transaction, which then writes nothing — not even the alerts of
// fraud-signal events in it.
package supply

import (
	"encoding/json"
	"errors"

	cc "carechain"
)

// TypeCapture is the transaction type this package handles.
const TypeCapture = "supply.capture"

// Handlers returns a new map from each transaction type this package
// handles to its handler. The caller may modify the map.
func Handlers() map[string]cc.Handler {
	return map[string]cc.Handler{
		TypeCapture: handleCapture,
	}
}

// decodeObject is cc.DecodeStrict, except that it reports a field of the
// wrong JSON type without naming the type the field must have.
func decodeObject(op, what string, raw []byte, v any) error {
	err := cc.DecodeStrict(op, what, raw, v)
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return cc.Errorf(op, cc.Malformed, "field %q of %s has the wrong JSON type", cc.Echo(typeErr.Field), what)
	}
	return err
}

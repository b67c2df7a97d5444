// Package supply holds carechain's pure, deterministic state transitions
// for the vaccine supply chain (issue #4): the capture of normalized GS1
// EPCIS 2.0 events by an organization, the custody state of every tracked
// EPC (owner, location, status, packing hierarchy, lot and expiry), the
// fraud alerts that custody violations raise, master data (products,
// locations, lots), cold-chain contracts with quarantine and regulator
// review, and lot recalls.
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
// A TransformationEvent has no action; it lists input_epcs, output_epcs,
// input_quantities, output_quantities (at least one of them) and an
// optional transformation_id; lot and expiry are those of its outputs.
//
// # Instance and class level
//
// EPCs (epcs, child_epcs, input_epcs, output_epcs) name tracked items and
// carry the custody rules. Quantity lists (quantities, child_quantities,
// input_quantities, output_quantities) count classes of objects (an LGTIN,
// a product) that the ledger does not track: they are recorded with the
// event and answered by queries, and have no custody effect. So an event
// that names no instance EPC where its custody effect would be — an
// ObjectEvent with quantities and no epcs, an AggregationEvent with
// child_quantities and no child_epcs, a TransactionEvent or
// TransformationEvent with quantities only — is accepted as a record: no
// item is created, moved, packed or ended, no lot master is created, and
// the only rule is that an EPC it names (a parent_id) is not
// decommissioned. When the event names instance EPCs too, the instance
// rules apply to them as usual. An ObjectEvent that names neither epcs
// nor quantities is cc.Invalid.
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
// # Mempool admission
//
// In CheckTx (cc.TxContext.Check) supply.capture applies every rule, as in
// FinalizeBlock, so that a capture that would fail is refused before it
// takes its signer's sequence: the gatekeeper pipelines its node key's
// sequence on CheckTx's answer, so a capture failing only in FinalizeBlock
// would make the node's next transactions fail with a sequence gap. It
// buffers no stored event (sup/ev/, which no transition reads) and keeps
// the decoded payload for the transaction's FinalizeBlock (decodecache.go).
// Items are stored in a compact binary form (itemcodec.go).
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
//
// # Master data
//
// supply.product.register (a manufacturer's admin or logistics member)
// records a Product under its GTIN-14: name, CVX and SNOMED codes, storage
// range in milli-°C, excursion budget in minutes, doses per vial and an
// optional CEL excursion condition. supply.location.register records a
// Location (GLN-13) of any organization and makes it a supply-chain member.
// The first commissioning of an item with a lot creates the Lot master of
// the lot number and the item's GTIN (GTINOf; none for SSCCs and the
// like). Commissioning with an expiry before the block date is cc.Invalid
// (expired stock is never created); shipping, receiving and
// decommissioning expired items is allowed (returns and destruction), and
// EffectiveStatus reports an active or received item past its expiry as
// "expired" (doses cannot be taken from it: see Usable).
//
// # Cold chain
//
// A temperature report is a sensor of type "Temperature" or a URI ending
// in ":Temperature", "/Temperature" or "#Temperature". The reports of an
// accepted event apply, after the event's custody effect, to each EPC it
// reports on (epcs, output_epcs and parent_id) that the capturer holds or that is in
// transit to it, and to everything packed in it; an EPC packed in another
// listed one counts with its container only. Reports on other EPCs are
// recorded with the event and have no effect.
//
// Durations are whole seconds, integers only. Every time is truncated to
// its Unix second and a time after the block time counts as the block
// time. A report with start_time and end_time lasts end − start. A report
// at an instant (time, else the event time) lasts from the previous
// temperature report on the same reported EPC to its time: 0 for the first
// report on that EPC, or when it is not later than the previous one. The
// reports of an event are taken in time order. Each reported EPC's last
// report time is kept in sup/lr/{epc}: one small write per reported EPC
// per event with temperature reports, whatever the readings; reports in
// range write nothing else.
//
// For each leaf item (no children, not a packing-created container) whose
// GTIN's product is registered, a report is an excursion when its lowest
// value (min_milli_c, else value_milli_c) is below the storage minimum or
// its highest (max_milli_c, else value_milli_c) above the maximum — or,
// when the product has a condition, when the condition is true. The
// condition is CEL over the integer variables reading.value_milli_c,
// reading.min_milli_c, reading.max_milli_c, reading.duration_seconds,
// product.gtin, product.storage_min_milli_c, product.storage_max_milli_c,
// product.excursion_minutes, product.doses_per_vial, item.lot and
// item.excursion_seconds (before this report); an evaluation error fails
// the transaction (cc.Invalid). An excursion adds its duration to the
// item's ExcursionSeconds. When that exceeds excursion_minutes × 60 (or on
// any excursion when excursion_minutes is 0), the reported EPC and
// everything packed in it become quarantined, disposition "quarantined",
// each keeping its previous status and disposition; an Excursion record
// sup/exc/{height}/{idx} and a supply.excursion event are written (none if
// everything was already quarantined). Reports on unregistered products
// are recorded but count for nothing.
//
// Quarantined and recalled items are held: a quarantined item cannot be
// shipped, packed, unpacked or decommissioned; a held item packed in a
// container moves with it, and a held item in transit can be received, its
// hold staying in place. supply.quarantine.review (a regulator's admin or
// public-health-officer) releases quarantined items (restoring their
// previous status; the excursion seconds stay spent) or destroys them
// (decommissioned, disposition "destroyed"), recorded in sup/rev/.
//
// # Recall
//
// supply.recall (the lot's manufacturer or a regulator) marks a lot
// recalled, sets its live items to recalled, notifies each patient who
// received a dose once ("recall" notification) and records sup/recall/.
// One transaction marks at most MaxRecallItems items; a larger lot is
// recalled by submitting the same recall again until its result's
// remaining is false, and meanwhile the recalled lot master alone blocks
// use (no dose is administered from an item of a recalled lot).
// Commissioning into a recalled lot is cc.FailedPrecondition.
// Trace reports where a lot's stock is and who received it.
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
		TypeCapture:    handleCapture,
		TypeAdminister: handleAdminister,

		TypeProductRegister:  handleProductRegister,
		TypeLocationRegister: handleLocationRegister,
		TypeQuarantineReview: handleQuarantineReview,
		TypeRecall:           handleRecall,
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

// Package rx holds carechain's pure, deterministic state transitions for
// e-prescriptions (issue #5): a prescriber issues a prescription on an
// anchored FHIR MedicationRequest, pharmacies record dispenses against it
// on anchored MedicationDispenses, the prescriber (or the organization's
// node) cancels it, and the patient allows or forbids collection by a
// delegate. The ledger enforces, by consensus and across every pharmacy,
// that no more is dispensed than was prescribed: two pharmacies racing for
// the last repeat cannot both succeed, because the second transaction is
// applied to a state in which the first has already taken the quantity.
//
// # State
//
// A Prescription is kept under rx/p/{MedicationRequest record id}; its
// dispenses under rx/d/{prescription}/{%06d fill}; the indexes rx/pt/
// (patient), rx/pr/ (prescriber) and rx/dr/ (dispense record → prescription)
// answer the readers GetPrescription, Dispenses, PatientPrescriptions,
// PrescriberPrescriptions and DispenseOf. No PHI: record ids, DIDs,
// organization ids, medication codes, quantities and dates of validity.
//
// Quantities are integers in thousandths of the prescribed unit
// (quantity_milli: 30 tablets is 30000), never floats; the FHIR adapter
// converts FHIR decimals exactly (fhir.RxFacts).
//
// # Transactions
//
//	rx.issue      {org, anchors?, prescriptions: [{record_id, medication?, quantity_milli, unit?, repeats, valid_until?, delegate_may_collect?}]}
//	rx.dispense   {org, pharmacist, anchors?, dispenses: [{record_id, prescription, quantity_milli, unit?, collected_by?}]}
//	rx.cancel     {prescription, reason}
//	rx.collection {prescription, allow}
//	rx.bundle     {org, pharmacist?, anchors, administrations, prescriptions? | dispenses?}
//
// rx.bundle (BundleHandler, wired by the ledger around its
// supply.administer handler) records a FHIR bundle that holds
// immunizations and e-prescription facts in one transaction.
//
// rx.issue and rx.dispense may carry record anchors exactly as
// record.anchor takes them (like supply.administer): the records are then
// anchored by the same transaction, so a MedicationRequest is never
// anchored without its prescription, nor a MedicationDispense without its
// dispense, and a refused dispense stores nothing. The rules are on
// handleIssue, handleDispense, handleCancel and handleCollection.
//
// Handlers never read a clock (time is the block time in cc.TxContext), use
// no randomness, goroutines, floats or I/O besides the injected cc.KV, and
// never let Go map order reach state, events or results. Every handler
// checks its whole payload and the state it depends on before its first
// write, so a rejected transaction changes nothing. Errors are *cc.Error:
//
//   - cc.Malformed: the payload is not a JSON object of the expected shape;
//   - cc.Invalid: a field's content breaks a rule;
//   - cc.Unauthorized, cc.NotFound, cc.Gone, cc.Conflict,
//     cc.FailedPrecondition: as documented on each transaction type.
//
// Dependencies: rx imports only the root package, identity, records and
// supply (for rx.bundle's supply.administer result).
package rx

import (
	"encoding/json"
	"errors"

	cc "carechain"
)

// The transaction types this package handles.
const (
	TypeIssue      = "rx.issue"
	TypeDispense   = "rx.dispense"
	TypeCancel     = "rx.cancel"
	TypeCollection = "rx.collection"
)

// Handlers returns a new map from each transaction type this package
// handles to its handler. The caller may modify the map.
func Handlers() map[string]cc.Handler {
	return map[string]cc.Handler{
		TypeIssue:      handleIssue,
		TypeDispense:   handleDispense,
		TypeCancel:     handleCancel,
		TypeCollection: handleCollection,
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

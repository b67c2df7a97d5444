package rx

import (
	"fmt"

	cc "carechain"
)

// State layout. Every key this package owns starts with "rx/". Values are
// JSON written with cc.SetJSON (struct fields in declaration order, so the
// bytes are deterministic). Key segments are record ids "{Type}/{logical
// id}" (exactly one '/', see records.ValidID), did:cc identifiers or
// zero-padded numbers, so a prefix that ends in '/' selects exactly one
// parent's children.
//
//	rx/p/{prescription}                 Prescription (the MedicationRequest record id)
//	rx/d/{prescription}/{%06d fill}     Dispense, in the order applied
//	rx/dr/{dispense record id}          JSON string: the prescription a MedicationDispense dispensed
//	rx/pt/{patient}/{prescription}      JSON string: index of a patient's prescriptions
//	rx/pr/{prescriber}/{prescription}   JSON string: index of a prescriber's prescriptions
//
// Readers outside this package should use GetPrescription, Dispenses,
// DispenseOf, PatientPrescriptions and PrescriberPrescriptions.
const (
	prefixPrescription = "rx/p/"
	prefixDispense     = "rx/d/"
	prefixDispenseRec  = "rx/dr/"
	prefixPatient      = "rx/pt/"
	prefixPrescriber   = "rx/pr/"
)

func prescriptionKey(id string) string      { return prefixPrescription + id }
func dispensesPrefix(id string) string      { return prefixDispense + id + "/" }
func dispenseRecordKey(rec string) string   { return prefixDispenseRec + rec }
func patientPrefix(d cc.DID) string         { return prefixPatient + string(d) + "/" }
func prescriberPrefix(d cc.DID) string      { return prefixPrescriber + string(d) + "/" }
func patientKey(d cc.DID, id string) string { return patientPrefix(d) + id }
func prescriberKey(d cc.DID, id string) string {
	return prescriberPrefix(d) + id
}

// dispenseKey is the key of the fill-th dispense (from 0) of prescription id.
func dispenseKey(id string, fill int) string {
	return fmt.Sprintf("%s%06d", dispensesPrefix(id), fill)
}

package consent

import (
	cc "carechain"
)

// State layout. Every key this package writes starts with "consent/".
// Values are JSON written with cc.SetJSON (struct fields in declaration
// order, so the bytes are deterministic). Key segments are did:cc
// identifiers (lowercase base32, never '/'), organization slugs
// ([a-z0-9-], never '/') and ids "cons-{32 hex}" or "agr-{32 hex}" (the
// first 16 bytes of the creating transaction's hash), so a prefix that ends
// in '/' selects exactly one parent's children.
//
//	consent/c/{id}             cc.Consent: a patient's consent; revoked ones stay, with revoked = height
//	consent/p/{patient}/{id}   JSON string id: index of a patient's consents (active and revoked)
//	consent/a/{id}             cc.Agreement plus "proposer_org" (the organization whose admin proposed it)
//	consent/ar/{org}/{id}      JSON string id: index of the ACTIVE agreements whose recipient is org
//	                           (added by agreement.sign, removed by agreement.terminate)
//
// The package also reads state that other packages write:
//
//	access/bg/{patient}/{clinician}/{id}   cc.BreakGlass: emergency access windows (package access)
//	id/…                                    DIDs, patients, organizations, members, delegations
//	                                        (through identity's getters only)
//
// Readers outside this package should use the exported getters rather than
// these keys; the layout is documented so that state dumps and proofs can be
// interpreted.
const (
	prefixConsent     = "consent/c/"
	prefixPatient     = "consent/p/"
	prefixAgreement   = "consent/a/"
	prefixRecipient   = "consent/ar/"
	prefixBreakGlass  = "access/bg/"
	consentIDPrefix   = "cons-"
	agreementIDPrefix = "agr-"
)

// consentKey is the key of consent id.
func consentKey(id string) string { return prefixConsent + id }

// patientPrefix selects the consent index of patient.
func patientPrefix(patient cc.DID) string { return prefixPatient + string(patient) + "/" }

// patientKey is the index entry saying consent id belongs to patient.
func patientKey(patient cc.DID, id string) string { return patientPrefix(patient) + id }

// agreementKey is the key of agreement id.
func agreementKey(id string) string { return prefixAgreement + id }

// recipientPrefix selects the active agreements whose recipient is org.
func recipientPrefix(org string) string { return prefixRecipient + org + "/" }

// recipientKey is the index entry saying agreement id is active with
// recipient org.
func recipientKey(org, id string) string { return recipientPrefix(org) + id }

// breakGlassPrefix selects clinician's break-glass windows for patient.
func breakGlassPrefix(patient, clinician cc.DID) string {
	return prefixBreakGlass + string(patient) + "/" + string(clinician) + "/"
}

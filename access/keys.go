package access

import (
	"encoding/hex"
	"fmt"

	cc "carechain"
)

// State layout. Every key this package writes starts with "access/"
// (the notification feed "access/n/…" is written by records.Notify, which
// owns it). Values are JSON written with cc.SetJSON (struct fields in
// declaration order, so the bytes are deterministic). Key segments are
// did:cc identifiers (lowercase base32, never '/'), organization slugs
// ([a-z0-9-], never '/'), ids "acc-{32 hex}" and "bg-{16 hex}", lowercase
// hex hashes or zero-padded decimal heights, so a prefix that ends in '/'
// selects exactly one parent's children.
//
//	access/ev/{patient}/{%020d height}/{id}   cc.AccessEvent: one logged read, the patient's access log
//	access/req/{hex sha256 of signed bytes}   LoggedRequest: the requester's signed read, kept for
//	                                          non-repudiation and replay detection
//	access/bg/{patient}/{clinician}/{id}      cc.BreakGlass: an emergency window (consent.Load reads it)
//	access/bgo/{org}/{id}                     JSON string: the window's access/bg key (an organization's reviews)
//	access/bgi/{id}                           JSON string: the window's access/bg key (lookup by id)
//
// Readers outside this package should use the exported getters rather than
// these keys; the layout is documented so that state dumps and proofs can be
// interpreted.
const (
	prefixEvent         = "access/ev/"
	prefixRequest       = "access/req/"
	prefixBreakGlass    = "access/bg/"
	prefixBreakGlassOrg = "access/bgo/"
	prefixBreakGlassID  = "access/bgi/"
)

// eventsPrefix selects patient's access log.
func eventsPrefix(patient cc.DID) string { return prefixEvent + string(patient) + "/" }

// eventKey is the key of access event id logged at height.
func eventKey(patient cc.DID, height int64, id string) string {
	return fmt.Sprintf("%s%020d/%s", eventsPrefix(patient), height, id)
}

// EventKey is the state key of a logged access event: the key to ask a
// proof for (GET /v1/proofs?key=…).
func EventKey(e cc.AccessEvent) string { return eventKey(e.Patient, e.Height, e.ID) }

// requestKey is the key of the signed read whose request hash is hash.
func requestKey(hash []byte) string { return prefixRequest + hex.EncodeToString(hash) }

// windowsPrefix selects every break-glass window for patient.
func windowsPrefix(patient cc.DID) string { return prefixBreakGlass + string(patient) + "/" }

// clinicianWindowsPrefix selects clinician's break-glass windows for
// patient: the prefix consent.Load reads.
func clinicianWindowsPrefix(patient, clinician cc.DID) string {
	return windowsPrefix(patient) + string(clinician) + "/"
}

// windowKey is the key of break-glass window id.
func windowKey(patient, clinician cc.DID, id string) string {
	return clinicianWindowsPrefix(patient, clinician) + id
}

// orgWindowsPrefix selects the review index of org.
func orgWindowsPrefix(org string) string { return prefixBreakGlassOrg + org + "/" }

// orgWindowKey is org's review index entry for window id.
func orgWindowKey(org, id string) string { return orgWindowsPrefix(org) + id }

// windowIDKey is the lookup entry of window id.
func windowIDKey(id string) string { return prefixBreakGlassID + id }

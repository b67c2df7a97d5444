package records

import (
	"fmt"

	cc "carechain"
)

// State layout. The record keys this package owns start with "rec/"; it
// also owns the patient notification feed under "access/n/" (the feed's
// historical name: package access writes to it through Notify). Values are
// JSON written with cc.SetJSON (struct fields in declaration order, so the
// bytes are deterministic). Key segments are did:cc identifiers (lowercase
// base32, never '/'), record ids "{Type}/{logical id}" whose two parts
// never contain '/' (see validID), or zero-padded decimal numbers, so a
// prefix that ends in '/' selects exactly one parent's children.
//
//	rec/a/{id}                                   cc.RecordAnchor: the latest version of a record (erasure marks it here)
//	rec/v/{id}/{%010d version}                   cc.RecordAnchor: every version as anchored, oldest first
//	rec/p/{patient}/{id}                         JSON string id: index of a patient's records
//	rec/e/{patient}/{%020d height}/{id}          Erasure: a record erased at a height
//	access/n/{patient}/{%020d height}/{%04d idx} cc.Notification: the patient's feed, idx in order within the block
//
// Readers outside this package should use the exported getters rather than
// these keys; the layout is documented so that state dumps and proofs can be
// interpreted.
const (
	prefixAnchor       = "rec/a/"
	prefixVersion      = "rec/v/"
	prefixPatient      = "rec/p/"
	prefixErasure      = "rec/e/"
	prefixNotification = "access/n/"
)

// anchorKey is the key of the latest anchor of record id.
func anchorKey(id string) string { return prefixAnchor + id }

// versionsPrefix selects every version of record id.
func versionsPrefix(id string) string { return prefixVersion + id + "/" }

// versionKey is the key of one version of record id; the zero padding makes
// versions sort numerically.
func versionKey(id string, version int) string {
	return fmt.Sprintf("%s%010d", versionsPrefix(id), version)
}

// patientPrefix selects the record index of patient.
func patientPrefix(patient cc.DID) string { return prefixPatient + string(patient) + "/" }

// patientKey is the index entry saying record id belongs to patient.
func patientKey(patient cc.DID, id string) string { return patientPrefix(patient) + id }

// erasuresPrefix selects every erasure of patient's records.
func erasuresPrefix(patient cc.DID) string { return prefixErasure + string(patient) + "/" }

// erasureKey is the key of the erasure of record id at height.
func erasureKey(patient cc.DID, height int64, id string) string {
	return fmt.Sprintf("%s%020d/%s", erasuresPrefix(patient), height, id)
}

// notificationsPrefix selects patient's notification feed.
func notificationsPrefix(patient cc.DID) string { return prefixNotification + string(patient) + "/" }

// notificationBlockPrefix selects patient's notifications of one block.
func notificationBlockPrefix(patient cc.DID, height int64) string {
	return fmt.Sprintf("%s%020d/", notificationsPrefix(patient), height)
}

// notificationKey is the key of patient's idx-th notification at height.
func notificationKey(patient cc.DID, height int64, idx int) string {
	return fmt.Sprintf("%s%04d", notificationBlockPrefix(patient, height), idx)
}

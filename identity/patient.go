package identity

import (
	"encoding/json"
	"slices"
	"strconv"

	cc "carechain"
)

// attestRoles are the roles that may attest a patient for their organization.
var attestRoles = []cc.Role{cc.RoleAdmin, cc.RolePhysician, cc.RoleNurse}

// patientRegisterPayload is the payload of "patient.register".
type patientRegisterPayload struct {
	PublicKey string `json:"public_key"` // base64url Ed25519 key
}

// patientAttestPayload is the payload of "patient.attest".
type patientAttestPayload struct {
	Patient cc.DID `json:"patient"`
	Org     string `json:"org"`
}

// GetPatient returns the patient record of d, read from its DID record
// (cc.DIDRecord.PatientSince, Attested), cc.NotFound if d is not a
// registered patient.
func GetPatient(kv cc.Reader, d cc.DID) (*cc.Patient, error) {
	rec, err := patientRecord(kv, d)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, cc.Errorf("identity.patient", cc.NotFound, "%s is not a registered patient", cc.Echo(string(d)))
	}
	return patientOf(rec), nil
}

// patientRecord returns d's DID record (the caller's copy) if d is a
// registered patient, nil if it is not (or not a DID).
func patientRecord(kv cc.Reader, d cc.DID) (*cc.DIDRecord, error) {
	rec, _, err := lookupDID(kv, d)
	if err != nil || rec == nil || rec.PatientSince == 0 {
		return nil, err
	}
	return rec, nil
}

// patientOf is the patient record that rec, a registered patient's DID
// record, holds.
func patientOf(rec *cc.DIDRecord) *cc.Patient {
	return &cc.Patient{DID: rec.ID, Registered: rec.PatientSince, AttestedBy: slices.Clone(rec.Attested)}
}

// handlePatientRegister applies "patient.register" {public_key}: it creates
// the signer's DID (kind patient, key_version 1) unless it exists, and
// marks it a registered patient (PatientSince: one write either way). For
// a new DID the signer must be tx.DeriveDID(public_key), for an existing
// one public_key must be its current key (cc.Unauthorized otherwise). A
// DID that is a registered patient already is cc.Conflict.
func handlePatientRegister(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypePatientRegister
	var p patientRegisterPayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	key, rec, err := selfCertified(op, kv, ctx.Signer, p.PublicKey)
	if err != nil {
		return cc.Result{}, err
	}
	exists := rec != nil
	if !exists {
		r := newDIDRecord(ctx.Signer, cc.KindPatient, key, ctx.Height)
		rec = &r
	} else if rec.PatientSince != 0 {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "%s is already a registered patient", ctx.Signer)
	}
	rec.PatientSince = ctx.Height
	if err := cc.SetJSON(kv, didKey(ctx.Signer), rec); err != nil {
		return cc.Result{}, err
	}
	pt := cc.Patient{DID: ctx.Signer, Registered: ctx.Height}
	data, err := cc.ResultData(op, pt)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op, "did", string(pt.DID), "did_created", strconv.FormatBool(!exists))},
		Data:   data,
	}, nil
}

// handlePatientAttest applies "patient.attest" {patient, org}: a member of
// the active organization org with role admin, physician or nurse attests
// that they know the registered patient; org is added (sorted, once) to the
// patient's attested_by and to its DID record. A signer without such a role
// is cc.Unauthorized, an unknown org or patient cc.NotFound, a suspended org
// cc.FailedPrecondition, a repeated attestation cc.Conflict.
func handlePatientAttest(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypePatientAttest
	var p patientAttestPayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if err := cc.CheckDID(op, "patient", p.Patient); err != nil {
		return cc.Result{}, err
	}
	if err := checkSlug(op, "org", p.Org); err != nil {
		return cc.Result{}, err
	}
	if _, err := signerRecord(op, kv, ctx.Signer); err != nil {
		return cc.Result{}, err
	}
	if _, err := activeOrg(op, kv, p.Org); err != nil {
		return cc.Result{}, err
	}
	if err := requireRole(op, kv, p.Org, ctx.Signer, attestRoles...); err != nil {
		return cc.Result{}, err
	}
	rec, err := patientRecord(kv, p.Patient)
	if err != nil {
		return cc.Result{}, err
	}
	if rec == nil {
		return cc.Result{}, cc.Errorf(op, cc.NotFound, "%s is not a registered patient", p.Patient)
	}
	attested, added := insertSorted(rec.Attested, p.Org)
	if !added {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "%q already attested %s", p.Org, p.Patient)
	}
	rec.Attested = attested
	rec.Updated = ctx.Height
	if err := cc.SetJSON(kv, didKey(rec.ID), rec); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, patientOf(rec))
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op, "patient", string(rec.ID), "org", p.Org, "by", string(ctx.Signer))},
		Data:   data,
	}, nil
}

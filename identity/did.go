package identity

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"

	cc "carechain"
	"carechain/internal/decoded"
)

// didCreatePayload is the payload of "did.create".
type didCreatePayload struct {
	PublicKey string     `json:"public_key"` // base64url Ed25519 key; the DID is derived from it
	Kind      cc.DIDKind `json:"kind"`       // patient | practitioner | organization | node
}

// didRotatePayload is the payload of "did.rotate".
type didRotatePayload struct {
	NewPublicKey string `json:"new_public_key"` // base64url Ed25519 key
}

// didResult is the Data of DID transactions.
type didResult struct {
	DID        cc.DID `json:"did"`
	KeyVersion int    `json:"key_version"`
}

// GetDID returns the ledger record of d, cc.NotFound if d is not on the
// ledger (or is not a did:cc identifier).
func GetDID(kv cc.Reader, d cc.DID) (*cc.DIDRecord, error) {
	rec, found, err := lookupDID(kv, d)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, cc.Errorf("identity.did", cc.NotFound, "DID %s is not on the ledger", cc.Echo(string(d)))
	}
	return rec, nil
}

// lookupDID reads d's record and reports whether it exists. Malformed DIDs
// are never stored, so they are reported absent without a read.
func lookupDID(kv cc.Reader, d cc.DID) (*cc.DIDRecord, bool, error) {
	if !d.Valid() {
		return nil, false, nil
	}
	b, err := kv.Get(didKey(d))
	if err != nil {
		return nil, false, cc.E("state.get", cc.Internal, err)
	}
	if b == nil {
		return nil, false, nil
	}
	rec, err := decodedDIDs.Decode(b)
	if err != nil {
		return nil, false, cc.E("state.get", cc.Internal, err)
	}
	return rec, true, nil
}

// decodedDIDs remembers decoded DID records by their stored bytes (see
// package decoded): every signed read and transaction looks its signer's
// key up, several times over (the gatekeeper, CheckTx, FinalizeBlock);
// lookupDID reads the record from the state each time but decodes it once.
var decodedDIDs = decoded.New(2<<20, func(r *cc.DIDRecord) *cc.DIDRecord {
	c := *r
	c.PublicKey = slices.Clone(r.PublicKey)
	c.Guardians = slices.Clone(r.Guardians)
	c.Attested = slices.Clone(r.Attested)
	return &c
})

// validKind reports whether k is one of the DID kinds.
func validKind(k cc.DIDKind) bool {
	switch k {
	case cc.KindPatient, cc.KindPractitioner, cc.KindOrganization, cc.KindNode:
		return true
	}
	return false
}

// newDIDRecord is the record of a DID created at height with its initial key.
func newDIDRecord(d cc.DID, kind cc.DIDKind, key []byte, height int64) cc.DIDRecord {
	return cc.DIDRecord{ID: d, Kind: kind, PublicKey: bytes.Clone(key), KeyVersion: 1, Created: height, Updated: height}
}

// replaceKey moves rec to key the way did.rotate does: it bumps
// key_version, sets Updated to height, writes the record and cancels a
// pending guardian recovery, reporting whether there was one. The caller
// has validated key (a 32-byte Ed25519 key other than the current one).
func replaceKey(kv cc.KV, rec *cc.DIDRecord, key []byte, height int64) (recoveryCancelled bool, err error) {
	pending, err := hasRecovery(kv, rec.ID)
	if err != nil {
		return false, err
	}
	rec.PublicKey = bytes.Clone(key)
	rec.KeyVersion++
	rec.Updated = height
	if err := cc.SetJSON(kv, didKey(rec.ID), rec); err != nil {
		return false, err
	}
	if pending {
		kv.Delete(recoveryKey(rec.ID))
	}
	return pending, nil
}

// handleDIDCreate applies "did.create" {public_key, kind}: it creates the
// signer's DID record with key_version 1. The signer must be
// tx.DeriveDID(public_key) (cc.Unauthorized); an existing DID is
// cc.Conflict; an unknown kind or bad key is cc.Invalid.
func handleDIDCreate(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeDIDCreate
	var p didCreatePayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	key, err := decodeKey(op, "public_key", p.PublicKey)
	if err != nil {
		return cc.Result{}, err
	}
	if !validKind(p.Kind) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "kind %q must be patient, practitioner, organization or node", cc.Echo(string(p.Kind)))
	}
	_, found, err := lookupDID(kv, ctx.Signer)
	if err != nil {
		return cc.Result{}, err
	}
	if found {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "DID %s already exists", ctx.Signer)
	}
	if _, err := selfCertifiedKey(op, kv, ctx.Signer, p.PublicKey); err != nil {
		return cc.Result{}, err
	}
	rec := newDIDRecord(ctx.Signer, p.Kind, key, ctx.Height)
	if err := cc.SetJSON(kv, didKey(rec.ID), rec); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, didResult{DID: rec.ID, KeyVersion: rec.KeyVersion})
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op, "did", string(rec.ID), "kind", string(rec.Kind))},
		Data:   data,
	}, nil
}

// handleDIDRotate applies "did.rotate" {new_public_key}: signed with the
// current key, it replaces the signer's key, bumps key_version and cancels a
// pending guardian recovery. A new key equal to the current one is
// cc.Invalid.
func handleDIDRotate(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeDIDRotate
	var p didRotatePayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	key, err := decodeKey(op, "new_public_key", p.NewPublicKey)
	if err != nil {
		return cc.Result{}, err
	}
	rec, err := signerRecord(op, kv, ctx.Signer)
	if err != nil {
		return cc.Result{}, err
	}
	if bytes.Equal(rec.PublicKey, key) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "new_public_key is the current key")
	}
	pending, err := replaceKey(kv, rec, key, ctx.Height)
	if err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, didResult{DID: rec.ID, KeyVersion: rec.KeyVersion})
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op,
			"did", string(rec.ID),
			"key_version", strconv.Itoa(rec.KeyVersion),
			"recovery_cancelled", strconv.FormatBool(pending))},
		Data: data,
	}, nil
}

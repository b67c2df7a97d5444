// Package identity holds carechain's pure, deterministic identity state
// transitions: DIDs and key rotation, M-of-N guardian recovery, delegations,
// patients and their links to the organizations that hold their records
// (custodial DIDs and their claims included), organizations with their
// members, and the governance that admits organizations and changes
// validators.
//
// Handlers never read a clock (time is the block time in cc.TxContext), use
// no randomness, goroutines or I/O besides the injected cc.KV, and never let
// Go map order reach state, events or results. Every handler validates its
// whole payload and the state it depends on before its first write, and
// every error it returns is a *cc.Error:
//
//   - cc.Malformed: the payload is not a JSON object of the expected shape
//     (syntax, JSON types, unknown or duplicate fields, trailing data);
//   - cc.Invalid: a field's content breaks a rule (a bad key, DID, slug,
//     time, count or range);
//   - cc.UnknownSigner, cc.Unauthorized, cc.NotFound, cc.Conflict,
//     cc.FailedPrecondition: as documented on each transaction type.
//
// The ledger decodes and verifies the envelope, using SignerKey to learn
// which key must have signed, then calls the handler with ctx.Signer set to
// the verified signer.
package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"slices"

	cc "carechain"
	"carechain/ledger/tx"
)

// The transaction types this package handles.
const (
	TypeDIDCreate       = "did.create"
	TypeDIDRotate       = "did.rotate"
	TypeGuardiansSet    = "did.guardians.set"
	TypeRecoveryApprove = "did.recovery.approve"
	TypeRecoveryCancel  = "did.recovery.cancel"
	TypeRecoveryExecute = "did.recovery.execute"
	TypeDelegateGrant   = "did.delegate.grant"
	TypeDelegateRevoke  = "did.delegate.revoke"
	TypePatientRegister = "patient.register"
	TypePatientAttest   = "patient.attest"
	TypePatientLink     = "patient.link"
	TypeCustodialCreate = "patient.custodial.create"
	TypePatientClaim    = "patient.claim"
	TypeGovPropose      = "gov.propose"
	TypeGovApprove      = "gov.approve"
	TypeOrgMemberAdd    = "org.member.add"
	TypeOrgMemberRemove = "org.member.remove"
)

const (
	opGenesis   = "identity.genesis"
	opSignerKey = "identity.signer_key"
)

// Handlers returns a new map from each transaction type this package
// handles to its handler. The caller may modify the map.
func Handlers() map[string]cc.Handler {
	return map[string]cc.Handler{
		TypeDIDCreate:       handleDIDCreate,
		TypeDIDRotate:       handleDIDRotate,
		TypeGuardiansSet:    handleGuardiansSet,
		TypeRecoveryApprove: handleRecoveryApprove,
		TypeRecoveryCancel:  handleRecoveryCancel,
		TypeRecoveryExecute: handleRecoveryExecute,
		TypeDelegateGrant:   handleDelegateGrant,
		TypeDelegateRevoke:  handleDelegateRevoke,
		TypePatientRegister: handlePatientRegister,
		TypePatientAttest:   handlePatientAttest,
		TypePatientLink:     handlePatientLink,
		TypeCustodialCreate: handleCustodialCreate,
		TypePatientClaim:    handlePatientClaim,
		TypeGovPropose:      handleGovPropose,
		TypeGovApprove:      handleGovApprove,
		TypeOrgMemberAdd:    handleMemberAdd,
		TypeOrgMemberRemove: handleMemberRemove,
	}
}

// TimeFree lists the identity transaction types whose handlers (and
// SignerKey) read neither ctx.Time nor ctx.Check, for ledger.Config.TimeFree:
// the self-certifying creations, which onboarding submits in bulk.
// TestTimeFreeHandlers checks the claim.
func TimeFree() []string { return []string{TypeDIDCreate, TypePatientRegister} }

// SignerKey returns the Ed25519 key that must have signed a transaction of
// type typ by signer.
//
// For the self-certifying creation types (did.create, patient.register) the
// key is the payload's public_key: if signer is not yet on the ledger it
// must equal tx.DeriveDID(public_key), and if it is, public_key must be its
// current key; otherwise the error is cc.Unauthorized. A payload that does
// not decode is cc.Malformed, a bad key cc.Invalid.
//
// For every other type, of any domain package, it returns the DID's
// current key from state, and cc.UnknownSigner if the DID is not on the
// ledger. (The ledger rejects unknown types before asking.)
func SignerKey(kv cc.Reader, signer cc.DID, typ string, payload json.RawMessage) (ed25519.PublicKey, error) {
	switch typ {
	case TypeDIDCreate:
		var p didCreatePayload
		if err := cc.DecodeStrict(typ, "payload", payload, &p); err != nil {
			return nil, err
		}
		return selfCertifiedKey(typ, kv, signer, p.PublicKey)
	case TypePatientRegister:
		var p patientRegisterPayload
		if err := cc.DecodeStrict(typ, "payload", payload, &p); err != nil {
			return nil, err
		}
		return selfCertifiedKey(typ, kv, signer, p.PublicKey)
	}
	rec, err := signerRecord(opSignerKey, kv, signer)
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(rec.PublicKey), nil
}

// selfCertifiedKey decodes the payload key of a creation transaction and
// checks that it may sign for signer: it derives signer when signer is new,
// and is signer's current key when signer exists.
func selfCertifiedKey(op string, kv cc.Reader, signer cc.DID, encoded string) (ed25519.PublicKey, error) {
	key, _, err := selfCertified(op, kv, signer, encoded)
	return key, err
}

// selfCertified is selfCertifiedKey that also returns signer's DID record
// (the caller's copy; nil if the DID does not exist yet), so a handler need
// not look it up again.
func selfCertified(op string, kv cc.Reader, signer cc.DID, encoded string) (ed25519.PublicKey, *cc.DIDRecord, error) {
	key, err := decodeKey(op, "public_key", encoded)
	if err != nil {
		return nil, nil, err
	}
	rec, found, err := lookupDID(kv, signer)
	if err != nil {
		return nil, nil, err
	}
	if found {
		if !bytes.Equal(rec.PublicKey, key) {
			return nil, nil, cc.Errorf(op, cc.Unauthorized, "public_key is not the current key of %s", signer)
		}
		return key, rec, nil
	}
	if tx.DeriveDID(key) != signer {
		return nil, nil, cc.Errorf(op, cc.Unauthorized, "signer %s is not the DID derived from public_key", signer)
	}
	return key, nil, nil
}

// signerRecord returns the record of the signing DID, cc.UnknownSigner if
// it is not on the ledger.
func signerRecord(op string, kv cc.Reader, signer cc.DID) (*cc.DIDRecord, error) {
	rec, found, err := lookupDID(kv, signer)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, cc.Errorf(op, cc.UnknownSigner, "signer %s is not on the ledger", signer)
	}
	return rec, nil
}

// decodeKey decodes the base64url Ed25519 public key in field; a bad key is
// cc.Invalid.
func decodeKey(op, field, s string) (ed25519.PublicKey, error) {
	k, err := tx.DecodeKey(s)
	if err != nil {
		return nil, cc.Errorf(op, cc.Invalid, "%s must be a base64url (unpadded) 32-byte Ed25519 public key", field)
	}
	return k, nil
}

// existingDID checks that d is a did:cc identifier (cc.Invalid) on the
// ledger (cc.NotFound) and returns its record.
func existingDID(op string, kv cc.Reader, field string, d cc.DID) (*cc.DIDRecord, error) {
	if err := cc.CheckDID(op, field, d); err != nil {
		return nil, err
	}
	rec, found, err := lookupDID(kv, d)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, cc.Errorf(op, cc.NotFound, "%s %s is not on the ledger", field, d)
	}
	return rec, nil
}

// insertSorted returns a copy of the sorted s with v inserted in order,
// and whether v was new (if not, s itself is returned).
func insertSorted[T ~string](s []T, v T) ([]T, bool) {
	i, found := slices.BinarySearch(s, v)
	if found {
		return s, false
	}
	return slices.Insert(slices.Clone(s), i, v), true
}

// iterateJSON is cc.IterateJSON for this package: it passes every value
// under prefix, in key order, to fn.
func iterateJSON[T any](kv cc.Reader, prefix string, fn func(T)) error {
	return cc.IterateJSON("identity.iterate", kv, prefix, func(v T) bool { fn(v); return true })
}

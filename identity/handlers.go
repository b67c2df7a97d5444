// Package identity holds carechain's pure, deterministic identity state
// transitions: DIDs and key rotation, M-of-N guardian recovery, delegations,
// patients, organizations with their members, and the governance that admits
// organizations and changes validators.
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
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"

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
	TypeGovPropose      = "gov.propose"
	TypeGovApprove      = "gov.approve"
	TypeOrgMemberAdd    = "org.member.add"
	TypeOrgMemberRemove = "org.member.remove"
)

const (
	opGenesis   = "identity.genesis"
	opSignerKey = "identity.signer_key"
	maxEcho     = 64 // longest user string echoed in an error message
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
		TypeGovPropose:      handleGovPropose,
		TypeGovApprove:      handleGovApprove,
		TypeOrgMemberAdd:    handleMemberAdd,
		TypeOrgMemberRemove: handleMemberRemove,
	}
}

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
		if err := decodePayload(typ, payload, &p); err != nil {
			return nil, err
		}
		return selfCertifiedKey(typ, kv, signer, p.PublicKey)
	case TypePatientRegister:
		var p patientRegisterPayload
		if err := decodePayload(typ, payload, &p); err != nil {
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
	key, err := decodeKey(op, "public_key", encoded)
	if err != nil {
		return nil, err
	}
	rec, found, err := lookupDID(kv, signer)
	if err != nil {
		return nil, err
	}
	if found {
		if !bytes.Equal(rec.PublicKey, key) {
			return nil, cc.Errorf(op, cc.Unauthorized, "public_key is not the current key of %s", signer)
		}
		return key, nil
	}
	if tx.DeriveDID(key) != signer {
		return nil, cc.Errorf(op, cc.Unauthorized, "signer %s is not the DID derived from public_key", signer)
	}
	return key, nil
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

// decodePayload decodes the JSON object payload into the struct pointed to
// by v; see decodeObject.
func decodePayload(op string, payload []byte, v any) error {
	return decodeObject(op, "payload", payload, v)
}

// decodeObject decodes the JSON object raw (named what in messages) into
// the struct pointed to by v. Unlike encoding/json alone it rejects field
// names that differ from the struct's json tags only in case, and duplicate
// fields, so that one input has exactly one meaning. Any failure is
// cc.Malformed.
func decodeObject(op, what string, raw []byte, v any) error {
	allowed := jsonFieldNames(reflect.TypeOf(v).Elem())
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return cc.Errorf(op, cc.Malformed, "%s must be a JSON object", what)
	}
	seen := make(map[string]bool, len(allowed))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return cc.Errorf(op, cc.Malformed, "%s is not valid JSON", what)
		}
		name, _ := tok.(string)
		if !allowed[name] {
			return cc.Errorf(op, cc.Malformed, "unknown field %q in %s", truncate(name, maxEcho), what)
		}
		if seen[name] {
			return cc.Errorf(op, cc.Malformed, "duplicate field %q in %s", name, what)
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return cc.Errorf(op, cc.Malformed, "field %q of %s is not valid JSON", name, what)
		}
	}
	if _, err := dec.Token(); err != nil {
		return cc.Errorf(op, cc.Malformed, "%s is not valid JSON", what)
	}
	if _, err := dec.Token(); err != io.EOF {
		return cc.Errorf(op, cc.Malformed, "trailing data after %s", what)
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return cc.Errorf(op, cc.Malformed, "field %q of %s must be a JSON %s", typeErr.Field, what, jsonKind(typeErr.Type))
		}
		return cc.Errorf(op, cc.Malformed, "%s does not decode", what)
	}
	return nil
}

// jsonFieldNames returns the JSON names of struct type t's fields.
func jsonFieldNames(t reflect.Type) map[string]bool {
	names := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
	return names
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Name() == "RawMessage" {
			return "value"
		}
		return "array"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "non-negative integer"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "value"
}

// truncate shortens s to at most n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
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

// checkDID reports cc.Invalid unless d is a did:cc identifier.
func checkDID(op, field string, d cc.DID) error {
	if !d.Valid() {
		return cc.Errorf(op, cc.Invalid, "%s %q is not a did:cc identifier", field, truncate(string(d), maxEcho))
	}
	return nil
}

// existingDID checks that d is a did:cc identifier (cc.Invalid) on the
// ledger (cc.NotFound) and returns its record.
func existingDID(op string, kv cc.Reader, field string, d cc.DID) (*cc.DIDRecord, error) {
	if err := checkDID(op, field, d); err != nil {
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

// event builds an Event from alternating attribute keys and values, kept in
// the order given.
func event(typ string, kvs ...string) cc.Event {
	e := cc.Event{Type: typ, Attributes: make([]cc.Attribute, 0, len(kvs)/2)}
	for i := 0; i+1 < len(kvs); i += 2 {
		e.Attributes = append(e.Attributes, cc.Attribute{Key: kvs[i], Value: kvs[i+1]})
	}
	return e
}

// resultData marshals v as a result's Data.
func resultData(op string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	return b, nil
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

// iterateJSON decodes every value under prefix, in key order, into a T and
// passes it to fn. A value that does not decode is cc.Internal.
func iterateJSON[T any](kv cc.Reader, prefix string, fn func(T)) error {
	var decodeErr error
	err := kv.Iterate(prefix, func(key string, value []byte) bool {
		var v T
		if err := json.Unmarshal(value, &v); err != nil {
			decodeErr = cc.E("identity.iterate", cc.Internal, err)
			return false
		}
		fn(v)
		return true
	})
	if err != nil {
		return cc.E("identity.iterate", cc.Internal, err)
	}
	return decodeErr
}

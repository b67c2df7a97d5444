package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	cc "carechain"
	"carechain/internal/signature"
	"carechain/ledger/tx"
)

// Patient links bind a patient's records to the organizations that hold
// them: a record anchor names a patient only for an organization linked to
// that patient (see records). An organization links a registered patient
// with the patient's signed approval (patient.link), or creates a custodial
// DID for a person who has none yet (patient.custodial.create) and hands it
// over when the person claims it with a one-time code (patient.claim).

// Domain separators of link approvals, claim hashes and claim proofs. No
// other carechain signature or hash starts with them.
const (
	linkPrefix  = "carechain-link-v1\n"
	claimPrefix = "carechain-claim-v1\n"
)

// MaxClaimCodeLen is the longest claim code, in bytes, as submitted
// (before NormalizeClaimCode).
const MaxClaimCodeLen = 64

// custodianRoles are the member roles with which a member acts as its
// organization's custodian of patient records.
var custodianRoles = []cc.Role{cc.RolePhysician, cc.RoleNurse, cc.RoleEmergency, cc.RolePharmacist, cc.RoleNode}

// CustodianRoles returns a new slice of the member roles with which a
// member acts for its organization as custodian of patient records:
// anchoring records (record.anchor), linking patients (patient.link) and
// creating and handing over custodial DIDs (patient.custodial.create,
// patient.claim). They are the clinical roles (physician, nurse,
// emergency-clinician, pharmacist) and the organization's node key.
func CustodianRoles() []cc.Role { return slices.Clone(custodianRoles) }

// patientLinkPayload is the payload of "patient.link".
type patientLinkPayload struct {
	Patient  cc.DID `json:"patient"`
	Org      string `json:"org"`
	Expires  string `json:"expires"`  // RFC 3339 in whole seconds, exactly as time.RFC3339 formats it
	Approval string `json:"approval"` // base64url Ed25519 signature over LinkApprovalBytes by the patient's current key
}

// custodialCreatePayload is the payload of "patient.custodial.create".
type custodialCreatePayload struct {
	PublicKey string `json:"public_key"` // base64url Ed25519 key held by the organization; the DID is derived from it
	Org       string `json:"org"`
	ClaimHash string `json:"claim_hash"` // base64url (unpadded) ClaimHash of the DID and the one-time code
}

// patientClaimPayload is the payload of "patient.claim".
type patientClaimPayload struct {
	DID       cc.DID `json:"did"`
	Code      string `json:"code"`       // the one-time claim code, in any case, with or without '-' and spaces
	PublicKey string `json:"public_key"` // base64url Ed25519: the person's own new key
	Proof     string `json:"proof"`      // base64url Ed25519 signature over ClaimProofBytes by the new key
}

// custodialClaim is the pending claim of a custodial DID: the custodian
// organization and the hash of the one-time code.
type custodialClaim struct {
	DID     cc.DID `json:"did"`
	Org     string `json:"org"`
	Hash    []byte `json:"hash"` // ClaimHash(DID, code)
	Created int64  `json:"created"`
}

// claimResult is the Data of a patient.claim transaction.
type claimResult struct {
	DID        cc.DID `json:"did"`
	Org        string `json:"org"`
	KeyVersion int    `json:"key_version"`
	Claimed    int64  `json:"claimed"`
}

// LinkApprovalBytes returns the bytes a patient signs to approve that org
// links them until expires on chain chainID:
//
//	"carechain-link-v1\n" + chainID + "\n" + patient + "\n" + org + "\n" + expires.Format(time.RFC3339)
//
// The payload's expires must be that same string.
func LinkApprovalBytes(chainID string, patient cc.DID, org string, expires time.Time) []byte {
	return []byte(linkPrefix + chainID + "\n" + string(patient) + "\n" + org + "\n" + expires.Format(time.RFC3339))
}

// SignLinkApproval returns the base64url (unpadded) approval that key,
// the patient's current key, gives for patient.link; put
// expires.Format(time.RFC3339) in the payload beside it.
func SignLinkApproval(key ed25519.PrivateKey, chainID string, patient cc.DID, org string, expires time.Time) string {
	return base64.RawURLEncoding.EncodeToString(signature.Sign(key, LinkApprovalBytes(chainID, patient, org, expires)))
}

// NormalizeClaimCode returns code upper-cased, without '-' and spaces: the
// form ClaimHash hashes, so that "k7q2-9xf4" and "K7Q2 9XF4" are one code.
func NormalizeClaimCode(code string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(code))
}

// ClaimHash returns the hash of the one-time claim code of the custodial
// DID did: SHA-256("carechain-claim-v1\n" + did + "\n" +
// NormalizeClaimCode(code)). The ledger stores only the hash; the caller
// generates the code (with enough entropy: the hash is public) and gives
// it to the person.
func ClaimHash(did cc.DID, code string) []byte {
	h := sha256.Sum256([]byte(claimPrefix + string(did) + "\n" + NormalizeClaimCode(code)))
	return h[:]
}

// ClaimProofBytes returns the bytes the new key signs to claim the
// custodial DID did on chain chainID:
//
//	"carechain-claim-v1\n" + chainID + "\n" + did + "\n" + publicKey
//
// where publicKey is the new key as base64url, exactly as in the payload.
func ClaimProofBytes(chainID string, did cc.DID, publicKey string) []byte {
	return []byte(claimPrefix + chainID + "\n" + string(did) + "\n" + publicKey)
}

// SignClaimProof returns the payload's public_key (base64url) and proof
// for claiming did with the new key key on chain chainID.
func SignClaimProof(key ed25519.PrivateKey, chainID string, did cc.DID) (publicKey, proof string) {
	publicKey = tx.EncodeKey(key.Public().(ed25519.PublicKey))
	return publicKey, base64.RawURLEncoding.EncodeToString(signature.Sign(key, ClaimProofBytes(chainID, did, publicKey)))
}

// GetLink returns the link between patient and org, cc.NotFound if there
// is none.
func GetLink(kv cc.Reader, patient cc.DID, org string) (*cc.PatientLink, error) {
	l, found, err := lookupLink(kv, patient, org)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, cc.Errorf("identity.link", cc.NotFound, "%s is not linked to %q", cc.Echo(string(patient)), cc.Echo(org))
	}
	return l, nil
}

// LinksOf returns the links of patient, ordered by organization id (empty
// if there are none).
func LinksOf(kv cc.Reader, patient cc.DID) ([]cc.PatientLink, error) {
	out := []cc.PatientLink{}
	if !patient.Valid() {
		return out, nil
	}
	err := iterateJSON(kv, linksPrefix(patient), func(l cc.PatientLink) { out = append(out, l) })
	return out, err
}

// IsLinked reports whether patient is linked to org, custodially or not.
func IsLinked(kv cc.Reader, patient cc.DID, org string) (bool, error) {
	_, found, err := lookupLink(kv, patient, org)
	return found, err
}

// lookupLink reads the link between patient and org and reports whether
// it exists. Malformed ids are never stored, so they are absent.
func lookupLink(kv cc.Reader, patient cc.DID, org string) (*cc.PatientLink, bool, error) {
	if !patient.Valid() || !cc.ValidOrgID(org) {
		return nil, false, nil
	}
	var l cc.PatientLink
	found, err := cc.GetJSON(kv, linkKey(patient, org), &l)
	if err != nil || !found {
		return nil, false, err
	}
	return &l, true, nil
}

// lookupClaim reads the pending claim of d and reports whether there is one.
func lookupClaim(kv cc.Reader, d cc.DID) (*custodialClaim, bool, error) {
	var c custodialClaim
	found, err := cc.GetJSON(kv, claimKey(d), &c)
	if err != nil || !found {
		return nil, false, err
	}
	return &c, true, nil
}

// requireCustodian checks that signer acts for the organization org as
// custodian of patient records: org is an active organization
// (cc.NotFound, cc.FailedPrecondition) and signer one of its members with
// one of custodianRoles (cc.Unauthorized).
func requireCustodian(op string, kv cc.Reader, signer cc.DID, org string) error {
	if _, err := activeOrg(op, kv, org); err != nil {
		return err
	}
	return requireRole(op, kv, org, signer, custodianRoles...)
}

// decodeSig decodes the base64url (unpadded) Ed25519 signature in field;
// anything else is cc.Invalid.
func decodeSig(op, field, s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != ed25519.SignatureSize {
		return nil, cc.Errorf(op, cc.Invalid, "%s must be a base64url (unpadded) 64-byte Ed25519 signature", field)
	}
	return b, nil
}

// parseApprovalExpiry parses the expires of a link approval: an RFC 3339
// time in whole seconds written exactly as time.RFC3339 formats it (so the
// signed bytes have one form), after the block time now. Violations are
// cc.Invalid.
func parseApprovalExpiry(op, s string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || t.Format(time.RFC3339) != s {
		return time.Time{}, cc.Errorf(op, cc.Invalid, "expires %q must be an RFC 3339 time in whole seconds as time.RFC3339 writes it, e.g. 2026-01-01T00:00:00Z", cc.Echo(s))
	}
	if t.UTC().Year() > 9999 {
		return time.Time{}, cc.Errorf(op, cc.Invalid, "expires is after the year 9999")
	}
	if !t.After(now) {
		return time.Time{}, cc.Errorf(op, cc.Invalid, "the patient's approval expired at %s (block time %s)", s, now.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// handlePatientLink applies "patient.link" {patient, org, expires,
// approval}: a member of the active organization org with a custodian
// role (see CustodianRoles) links the registered patient to org, with the
// patient's approval: an Ed25519 signature by the patient's current key
// over LinkApprovalBytes(chain id, patient, org, expires).
//
// A bad DID, slug, expires or approval encoding, or an approval that
// expired (expires at or before the block time), is cc.Invalid; a signer
// without a custodian role cc.Unauthorized; an unknown org or a patient
// that is not registered cc.NotFound; a suspended org
// cc.FailedPrecondition; an approval that does not verify
// cc.BadSignature; an existing link cc.Conflict.
//
// It writes the link {patient, org, height, custodial: false, expires}.
func handlePatientLink(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypePatientLink
	var p patientLinkPayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if err := cc.CheckDID(op, "patient", p.Patient); err != nil {
		return cc.Result{}, err
	}
	if err := checkSlug(op, "org", p.Org); err != nil {
		return cc.Result{}, err
	}
	expires, err := parseApprovalExpiry(op, p.Expires, ctx.Time)
	if err != nil {
		return cc.Result{}, err
	}
	sig, err := decodeSig(op, "approval", p.Approval)
	if err != nil {
		return cc.Result{}, err
	}
	if _, err := signerRecord(op, kv, ctx.Signer); err != nil {
		return cc.Result{}, err
	}
	if err := requireCustodian(op, kv, ctx.Signer, p.Org); err != nil {
		return cc.Result{}, err
	}
	if _, err := GetPatient(kv, p.Patient); cc.Is(cc.NotFound, err) {
		return cc.Result{}, cc.Errorf(op, cc.NotFound, "%s is not a registered patient", p.Patient)
	} else if err != nil {
		return cc.Result{}, err
	}
	rec, err := existingDID(op, kv, "patient", p.Patient)
	if err != nil {
		return cc.Result{}, err
	}
	if !signature.Verify(rec.PublicKey, LinkApprovalBytes(ctx.ChainID, p.Patient, p.Org, expires), sig) {
		return cc.Result{}, cc.Errorf(op, cc.BadSignature, "approval is not %s's signature with its current key over this link (chain, patient, org and expires)", p.Patient)
	}
	if _, found, err := lookupLink(kv, p.Patient, p.Org); err != nil {
		return cc.Result{}, err
	} else if found {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "%s is already linked to %q", p.Patient, p.Org)
	}
	l := cc.PatientLink{Patient: p.Patient, Org: p.Org, Height: ctx.Height, Expires: expires.UTC()}
	if err := cc.SetJSON(kv, linkKey(l.Patient, l.Org), l); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, l)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op, "patient", string(l.Patient), "org", l.Org, "custodial", "false", "by", string(ctx.Signer))},
		Data:   data,
	}, nil
}

// handleCustodialCreate applies "patient.custodial.create" {public_key,
// org, claim_hash}: a member of the active organization org with a
// custodian role creates the DID tx.DeriveDID(public_key) for a person who
// has no DID yet. The organization's node holds the key until the person
// claims the DID (patient.claim) with the one-time code whose ClaimHash is
// claim_hash.
//
// A bad key, slug or claim_hash (32 bytes of base64url) is cc.Invalid; a
// signer without a custodian role cc.Unauthorized; an unknown org
// cc.NotFound; a suspended org cc.FailedPrecondition; an existing DID
// cc.Conflict.
//
// It writes the DID record (kind patient, key_version 1), the patient
// record, the link {patient, org, height, custodial: true} and the pending
// claim.
func handleCustodialCreate(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeCustodialCreate
	var p custodialCreatePayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	key, err := decodeKey(op, "public_key", p.PublicKey)
	if err != nil {
		return cc.Result{}, err
	}
	if err := checkSlug(op, "org", p.Org); err != nil {
		return cc.Result{}, err
	}
	hash, err := base64.RawURLEncoding.Strict().DecodeString(p.ClaimHash)
	if err != nil || len(hash) != sha256.Size {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "claim_hash must be a base64url (unpadded) 32-byte SHA-256 hash")
	}
	if _, err := signerRecord(op, kv, ctx.Signer); err != nil {
		return cc.Result{}, err
	}
	if err := requireCustodian(op, kv, ctx.Signer, p.Org); err != nil {
		return cc.Result{}, err
	}
	d := tx.DeriveDID(key)
	if _, exists, err := lookupDID(kv, d); err != nil {
		return cc.Result{}, err
	} else if exists {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "DID %s already exists: link an existing patient with patient.link", d)
	}
	rec := newDIDRecord(d, cc.KindPatient, key, ctx.Height)
	rec.PatientSince = ctx.Height
	l := cc.PatientLink{Patient: d, Org: p.Org, Height: ctx.Height, Custodial: true}
	c := custodialClaim{DID: d, Org: p.Org, Hash: hash, Created: ctx.Height}
	for _, w := range []struct {
		key string
		v   any
	}{{didKey(d), rec}, {linkKey(d, p.Org), l}, {claimKey(d), c}} {
		if err := cc.SetJSON(kv, w.key, w.v); err != nil {
			return cc.Result{}, err
		}
	}
	data, err := cc.ResultData(op, l)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op, "patient", string(d), "org", p.Org, "custodial", "true", "by", string(ctx.Signer))},
		Data:   data,
	}, nil
}

// handlePatientClaim applies "patient.claim" {did, code, public_key,
// proof}: the person who holds the one-time code of the custodial DID did
// moves it to their own new key public_key. A member of the custodian
// organization with a custodian role (its gatekeeper) submits the claim;
// proof is the new key's signature over ClaimProofBytes(chain id, did,
// public_key).
//
// A bad DID, key, code (empty, or longer than MaxClaimCodeLen) or proof
// encoding, or a new key equal to the custodial one, is cc.Invalid; an
// unknown DID cc.NotFound; a DID with no pending claim (never custodial,
// or already claimed) cc.FailedPrecondition; a signer without a custodian
// role in the custodian organization, or a wrong code, cc.Unauthorized; a
// proof that does not verify cc.BadSignature. A rejected claim changes
// nothing.
//
// Effect: the DID's key becomes public_key as with did.rotate (key_version
// + 1, a pending recovery cancelled), the pending claim is deleted (the
// code works once), and the link stays with custodial false and claimed
// set to the height.
func handlePatientClaim(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypePatientClaim
	var p patientClaimPayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if err := cc.CheckDID(op, "did", p.DID); err != nil {
		return cc.Result{}, err
	}
	if len(p.Code) > MaxClaimCodeLen || NormalizeClaimCode(p.Code) == "" {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "code must be 1 to %d characters besides '-' and spaces", MaxClaimCodeLen)
	}
	key, err := decodeKey(op, "public_key", p.PublicKey)
	if err != nil {
		return cc.Result{}, err
	}
	proof, err := decodeSig(op, "proof", p.Proof)
	if err != nil {
		return cc.Result{}, err
	}
	if _, err := signerRecord(op, kv, ctx.Signer); err != nil {
		return cc.Result{}, err
	}
	rec, err := existingDID(op, kv, "did", p.DID)
	if err != nil {
		return cc.Result{}, err
	}
	c, pending, err := lookupClaim(kv, p.DID)
	if err != nil {
		return cc.Result{}, err
	}
	if !pending {
		return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "%s has no pending claim: it is not a custodial DID, or it was already claimed", p.DID)
	}
	if err := requireCustodian(op, kv, ctx.Signer, c.Org); err != nil {
		return cc.Result{}, err
	}
	if subtle.ConstantTimeCompare(ClaimHash(p.DID, p.Code), c.Hash) != 1 {
		return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "the claim code for %s is wrong", p.DID)
	}
	if bytes.Equal(key, rec.PublicKey) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "public_key is the custodial key; a claim moves the DID to the person's own new key")
	}
	if !signature.Verify(key, ClaimProofBytes(ctx.ChainID, p.DID, p.PublicKey), proof) {
		return cc.Result{}, cc.Errorf(op, cc.BadSignature, "proof is not a signature by public_key over the claim of %s", p.DID)
	}
	l, found, err := lookupLink(kv, p.DID, c.Org)
	if err != nil {
		return cc.Result{}, err
	}
	if !found {
		return cc.Result{}, cc.Errorf(op, cc.Internal, "custodial %s has a claim but no link to %q", p.DID, c.Org)
	}
	cancelled, err := replaceKey(kv, rec, key, ctx.Height)
	if err != nil {
		return cc.Result{}, err
	}
	kv.Delete(claimKey(p.DID))
	l.Custodial, l.Claimed = false, ctx.Height
	if err := cc.SetJSON(kv, linkKey(l.Patient, l.Org), l); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, claimResult{DID: rec.ID, Org: c.Org, KeyVersion: rec.KeyVersion, Claimed: ctx.Height})
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op,
			"did", string(rec.ID),
			"org", c.Org,
			"key_version", strconv.Itoa(rec.KeyVersion),
			"recovery_cancelled", strconv.FormatBool(cancelled),
			"by", string(ctx.Signer))},
		Data: data,
	}, nil
}

package access

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"time"

	cc "carechain"
)

// WritePrefix separates write-request signatures from read requests and
// transactions. The signed bytes are WritePrefix + author + "\n" + the RFC
// 8785 canonical JSON of the WriteRequest.
const WritePrefix = "carechain-write-v1\n"

// WriteRequest is what a practitioner signs to submit FHIR data through a
// custodian's gatekeeper (POST /fhir): it binds the author, the
// organization they act for, the patient the data belongs to and the exact
// body (by hash), so the custodian can later show who submitted what. The
// gatekeeper checks freshness (Issued within ReadWindow of its clock) and
// remembers nonces against replay.
type WriteRequest struct {
	ChainID string `json:"chain_id"`
	Author  cc.DID `json:"author"`
	Org     string `json:"org"`               // the custodian organization, of which the author is a member
	Patient cc.DID `json:"patient,omitempty"` // the patient DID a Patient resource in the body is bound to
	// Custodial asks the custodian to create a custodial patient DID for
	// the Patient in the body (a person without a DID); Patient is then
	// empty.
	Custodial bool      `json:"custodial,omitempty"`
	Body      string    `json:"body"` // base64url (unpadded) SHA-256 of the request body
	Issued    time.Time `json:"issued"`
	Nonce     string    `json:"nonce"`
}

// BodyHash returns the WriteRequest.Body value for body.
func BodyHash(body []byte) string {
	h := sha256.Sum256(body)
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// SignWrite signs w with key (the author's current key). w must be valid
// (see VerifyWrite; cc.Invalid otherwise).
func SignWrite(w WriteRequest, key ed25519.PrivateKey) (SignedRead, error) {
	const op = "access.sign_write"
	if err := checkWrite(op, &w); err != nil {
		return SignedRead{}, err
	}
	return signCanonical(op, WritePrefix, w.Author, w, key)
}

// VerifyWrite checks a signed write request against the state and the body
// it came with, and returns the request and the hash of its signed bytes.
// Errors are those of VerifyRead, and cc.Invalid when the body's hash is
// not the one signed or a field breaks the rules (a chain id, the author
// DID, an organization id, an optional patient DID, an issued time, a
// nonce of MinNonceLen..MaxNonceLen printable characters).
func VerifyWrite(kv cc.Reader, s SignedRead, body []byte) (*WriteRequest, []byte, error) {
	const op = "access.verify_write"
	var w WriteRequest
	h, err := verifyCanonical(op, kv, WritePrefix, s, &w, func() (cc.DID, error) {
		return w.Author, checkWrite(op, &w)
	})
	if err != nil {
		return nil, nil, err
	}
	if w.Body != BodyHash(body) {
		return nil, nil, cc.Errorf(op, cc.Invalid, "the body is not the one that was signed")
	}
	return &w, h, nil
}

// checkWrite enforces a write request's rules (cc.Invalid).
func checkWrite(op string, w *WriteRequest) error {
	bad := func(format string, args ...any) error { return cc.Errorf(op, cc.Invalid, format, args...) }
	if !printable(w.ChainID, MaxChainIDLen, false) {
		return bad("chain_id must be 1 to %d printable characters", MaxChainIDLen)
	}
	if err := cc.CheckDID(op, "author", w.Author); err != nil {
		return err
	}
	if !cc.ValidOrgID(w.Org) {
		return bad("org %q must be an organization id", cc.Echo(w.Org))
	}
	if w.Patient != "" {
		if err := cc.CheckDID(op, "patient", w.Patient); err != nil {
			return err
		}
		if w.Custodial {
			return bad("a custodial write creates the patient's DID: give no patient")
		}
	}
	if b, err := base64.RawURLEncoding.DecodeString(w.Body); err != nil || len(b) != sha256.Size {
		return bad("body must be the base64url SHA-256 of the request body")
	}
	if w.Issued.IsZero() {
		return bad("issued is required")
	}
	if !printable(w.Nonce, MaxNonceLen, false) || len(w.Nonce) < MinNonceLen {
		return bad("nonce must be %d to %d printable characters without spaces", MinNonceLen, MaxNonceLen)
	}
	return nil
}

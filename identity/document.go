package identity

import (
	"slices"
	"strconv"

	cc "carechain"
	"carechain/ledger/tx"
)

// The JSON-LD contexts of a carechain DID document: W3C DID Core and the
// JsonWebKey2020 suite its verification method uses.
const (
	ContextDIDv1   = "https://www.w3.org/ns/did/v1"
	ContextJWS2020 = "https://w3id.org/security/suites/jws-2020/v1"
)

// DIDDocument is the W3C DID Core document of a did:cc identifier, rendered
// from its ledger record. It lists the one current key as #key-N, N being
// the key version, so a verifier can tell which key signed; the carechain
// block says how the DID may be recovered and who vouched for it.
type DIDDocument struct {
	Context            []string             `json:"@context"`
	ID                 cc.DID               `json:"id"`
	VerificationMethod []VerificationMethod `json:"verificationMethod"`
	Authentication     []string             `json:"authentication"`
	AssertionMethod    []string             `json:"assertionMethod"`
	Carechain          DocumentExtension    `json:"carechain"`
}

// VerificationMethod is a JsonWebKey2020 verification method.
type VerificationMethod struct {
	ID           string `json:"id"`
	Type         string `json:"type"` // "JsonWebKey2020"
	Controller   cc.DID `json:"controller"`
	PublicKeyJwk JWK    `json:"publicKeyJwk"`
}

// JWK is an Ed25519 public key as an RFC 8037 JSON Web Key.
type JWK struct {
	Kty string `json:"kty"` // "OKP"
	Crv string `json:"crv"` // "Ed25519"
	X   string `json:"x"`   // base64url, no padding
}

// DocumentExtension is the "carechain" block of a DID document: ledger
// facts that DID Core has no property for.
type DocumentExtension struct {
	Kind       cc.DIDKind      `json:"kind"`
	KeyVersion int             `json:"keyVersion"`
	Created    int64           `json:"created"` // height
	Updated    int64           `json:"updated"` // height
	Recovery   *RecoveryPolicy `json:"recovery,omitempty"`
	AttestedBy []string        `json:"attestedBy,omitempty"` // organization ids
}

// RecoveryPolicy describes a DID's guardian recovery: Threshold of
// Guardians approve a new key, which takes effect DelayBlocks later unless
// the current key cancels it.
type RecoveryPolicy struct {
	Guardians   []cc.DID `json:"guardians"`
	Threshold   int      `json:"threshold"`
	DelayBlocks int64    `json:"delayBlocks"`
}

// Document renders rec as a W3C DID document. It is a pure function of
// rec, so the same record always gives the same JSON.
func Document(rec *cc.DIDRecord) DIDDocument {
	keyID := string(rec.ID) + "#key-" + strconv.Itoa(rec.KeyVersion)
	doc := DIDDocument{
		Context: []string{ContextDIDv1, ContextJWS2020},
		ID:      rec.ID,
		VerificationMethod: []VerificationMethod{{
			ID:           keyID,
			Type:         "JsonWebKey2020",
			Controller:   rec.ID,
			PublicKeyJwk: JWK{Kty: "OKP", Crv: "Ed25519", X: tx.EncodeKey(rec.PublicKey)},
		}},
		Authentication:  []string{keyID},
		AssertionMethod: []string{keyID},
		Carechain: DocumentExtension{
			Kind:       rec.Kind,
			KeyVersion: rec.KeyVersion,
			Created:    rec.Created,
			Updated:    rec.Updated,
			AttestedBy: slices.Clone(rec.Attested),
		},
	}
	if len(rec.Guardians) > 0 {
		doc.Carechain.Recovery = &RecoveryPolicy{
			Guardians:   slices.Clone(rec.Guardians),
			Threshold:   rec.Threshold,
			DelayBlocks: rec.DelayBlock,
		}
	}
	return doc
}

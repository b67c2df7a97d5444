package consent

import (
	"encoding/hex"
	"errors"
	"strings"
	"time"

	cc "carechain"
)

// The transaction types this package handles.
const (
	TypeGrant              = "consent.grant"
	TypeRevoke             = "consent.revoke"
	TypeAgreementPropose   = "agreement.propose"
	TypeAgreementSign      = "agreement.sign"
	TypeAgreementTerminate = "agreement.terminate"
)

// Handlers returns a new map from each transaction type this package
// handles to its handler. The caller may modify the map. Every type is
// signed with the signer's current key from state (none is
// self-certifying), so the ledger resolves signer keys for them as it does
// for identity's non-creation types.
func Handlers() map[string]cc.Handler {
	return map[string]cc.Handler{
		TypeGrant:              handleGrant,
		TypeRevoke:             handleRevoke,
		TypeAgreementPropose:   handlePropose,
		TypeAgreementSign:      handleSign,
		TypeAgreementTerminate: handleTerminate,
	}
}

// decodePayload is cc.DecodeStrict for a payload, whose objects it checks
// at every depth (the provisions, their actors and periods too), except
// that a time that is not RFC 3339 is cc.Invalid rather than cc.Malformed.
func decodePayload(op string, payload []byte, v any) error {
	err := cc.DecodeStrict(op, "payload", payload, v)
	var timeErr *time.ParseError
	if errors.As(err, &timeErr) {
		return cc.Errorf(op, cc.Invalid, "a time in the payload is not an RFC 3339 time")
	}
	return err
}

// idHexLen is the length of the hex part of a consent or agreement id.
const idHexLen = 32

// newID returns prefix + the hex of the first 16 bytes of the transaction
// hash: a deterministic id unique per transaction. A context without a
// transaction hash is a wiring bug (cc.Internal).
func newID(op, prefix string, txHash []byte) (string, error) {
	if len(txHash) < idHexLen/2 {
		return "", cc.Errorf(op, cc.Internal, "transaction hash missing from the context")
	}
	return prefix + hex.EncodeToString(txHash[:idHexLen/2]), nil
}

// validID reports whether id is prefix followed by 32 lowercase hex digits.
func validID(prefix, id string) bool {
	if len(id) != len(prefix)+idHexLen || !strings.HasPrefix(id, prefix) {
		return false
	}
	for i := len(prefix); i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

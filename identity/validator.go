package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"strconv"

	cc "carechain"
	"carechain/ledger/tx"
)

// MaxValidatorPower is the largest voting power governance may give one
// validator. With at most a few thousand validators the total stays far
// below CometBFT's limit (MaxInt64/8).
const MaxValidatorPower = 1_000_000

// validatorParams are the parameters of the "validator.update" action.
type validatorParams struct {
	PubKey string `json:"pub_key"` // base64url Ed25519 key
	Power  int64  `json:"power"`   // 0 removes the validator
}

// RecordValidators writes the validator set CometBFT starts with (from
// InitChain) into the state, so governance can later check that a removal
// names a current validator and never empties the set. Each key must be 32
// bytes, each power 1..MaxValidatorPower, keys distinct (cc.Invalid).
// Without it, "validator.update" proposals that remove a validator fail
// with cc.FailedPrecondition, which is safe: CometBFT halts on a removal of
// an unknown validator or of the whole set.
func RecordValidators(kv cc.KV, vals []cc.ValidatorUpdate) error {
	const op = "identity.validators"
	seen := make(map[string]bool, len(vals))
	for _, v := range vals {
		if len(v.PubKey) != ed25519.PublicKeySize {
			return cc.Errorf(op, cc.Invalid, "validator key must be 32 bytes")
		}
		if v.Power < 1 || v.Power > MaxValidatorPower {
			return cc.Errorf(op, cc.Invalid, "validator power %d must be between 1 and %d", v.Power, MaxValidatorPower)
		}
		k := tx.EncodeKey(v.PubKey)
		if seen[k] {
			return cc.Errorf(op, cc.Invalid, "validator %s is listed twice", k)
		}
		seen[k] = true
	}
	for _, v := range vals {
		if err := cc.SetJSON(kv, validatorKey(tx.EncodeKey(v.PubKey)), cc.ValidatorUpdate{PubKey: bytes.Clone(v.PubKey), Power: v.Power}); err != nil {
			return err
		}
	}
	return nil
}

// ListValidators returns the validators this package knows of (those
// recorded by RecordValidators and changed by governance), ordered by
// base64url key.
func ListValidators(kv cc.Reader) ([]cc.ValidatorUpdate, error) {
	out := []cc.ValidatorUpdate{}
	err := iterateJSON(kv, prefixValidator, func(v cc.ValidatorUpdate) { out = append(out, v) })
	return out, err
}

// prepareValidatorUpdate validates "validator.update" params {pub_key,
// power}: a base64url 32-byte key and a power 0..MaxValidatorPower
// (cc.Invalid). A removal (power 0) must name a known validator other than
// the last one (cc.FailedPrecondition). The returned apply records the new
// power and adds the update to the result.
func prepareValidatorUpdate(op string, kv cc.Reader, raw json.RawMessage) (any, applyFunc, error) {
	var p validatorParams
	if err := cc.DecodeStrict(op, "params", raw, &p); err != nil {
		return nil, nil, err
	}
	key, err := decodeKey(op, "pub_key", p.PubKey)
	if err != nil {
		return nil, nil, err
	}
	if p.Power < 0 || p.Power > MaxValidatorPower {
		return nil, nil, cc.Errorf(op, cc.Invalid, "power %d must be between 0 and %d", p.Power, MaxValidatorPower)
	}
	p.PubKey = tx.EncodeKey(key)
	if p.Power == 0 {
		vals, err := ListValidators(kv)
		if err != nil {
			return nil, nil, err
		}
		known := false
		for _, v := range vals {
			known = known || bytes.Equal(v.PubKey, key)
		}
		if !known {
			return nil, nil, cc.Errorf(op, cc.FailedPrecondition, "%s is not a known validator", p.PubKey)
		}
		if len(vals) == 1 {
			return nil, nil, cc.Errorf(op, cc.FailedPrecondition, "cannot remove the last validator")
		}
	}
	apply := func(ctx cc.TxContext, kv cc.KV, res *cc.Result) error {
		if p.Power == 0 {
			kv.Delete(validatorKey(p.PubKey))
		} else if err := cc.SetJSON(kv, validatorKey(p.PubKey), cc.ValidatorUpdate{PubKey: key, Power: p.Power}); err != nil {
			return err
		}
		res.Validators = append(res.Validators, cc.ValidatorUpdate{PubKey: bytes.Clone(key), Power: p.Power})
		res.Events = append(res.Events, cc.NewEvent(ActionValidatorUpdate, "pub_key", p.PubKey, "power", strconv.FormatInt(p.Power, 10)))
		return nil
	}
	return p, apply, nil
}

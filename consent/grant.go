package consent

import (
	"encoding/json"
	"strconv"

	cc "carechain"
	"carechain/identity"
)

// MaxActiveConsents is the most unrevoked consents one patient may hold.
const MaxActiveConsents = 128

// grantPayload is the payload of "consent.grant".
type grantPayload struct {
	Patient    cc.DID         `json:"patient"`
	Provisions []cc.Provision `json:"provisions"`
}

// revokePayload is the payload of "consent.revoke".
type revokePayload struct {
	ID string `json:"id"`
}

// idData is the Data of a result that names what it created or changed.
type idData struct {
	ID string `json:"id"`
}

// GetConsent returns consent id, cc.NotFound if there is none.
func GetConsent(kv cc.Reader, id string) (*cc.Consent, error) {
	var c cc.Consent
	found := false
	if validID(consentIDPrefix, id) {
		var err error
		if found, err = cc.GetJSON(kv, consentKey(id), &c); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, cc.Errorf("consent.get", cc.NotFound, "no consent %q", cc.Echo(id))
	}
	return &c, nil
}

// ListConsents returns patient's consents, revoked ones included, ordered
// by id (empty, never nil, for an unknown patient).
func ListConsents(kv cc.Reader, patient cc.DID) ([]cc.Consent, error) {
	out := []cc.Consent{}
	if !patient.Valid() {
		return out, nil
	}
	var ids []string
	if err := iterateJSON(kv, patientPrefix(patient), func(id string) { ids = append(ids, id) }); err != nil {
		return nil, err
	}
	for _, id := range ids {
		c, err := GetConsent(kv, id)
		if err != nil {
			return nil, cc.E("consent.list", cc.Internal, err)
		}
		out = append(out, *c)
	}
	return out, nil
}

// authorizeManager reports cc.Unauthorized unless the signer is patient or
// holds an unexpired delegation from patient with scope
// ScopeConsentManage (or "*") at the block time.
func authorizeManager(op string, ctx cc.TxContext, kv cc.Reader, patient cc.DID) error {
	if ctx.Signer == patient {
		return nil
	}
	ok, err := identity.ActiveDelegation(kv, patient, ctx.Signer, ScopeConsentManage, ctx.Time)
	if err != nil {
		return cc.E(op, err)
	}
	if !ok {
		return cc.Errorf(op, cc.Unauthorized, "%s may not manage the consents of %s", ctx.Signer, patient)
	}
	return nil
}

// handleGrant applies "consent.grant" {patient, provisions}: it records a
// consent of the registered patient with 1 to MaxProvisions provisions
// (see checkProvisions: type permit or deny; actors of one form each;
// actions from Actions; purposes from PurposesOfUse; FHIR resource type
// names; "system|code" categories; periods with start before end; a CEL
// condition that compiles). Its id is "cons-" + the hex of the first 16
// bytes of the transaction hash, returned as Data {"id"}; Grantor is the
// signer and Time the block time.
//
// Content violations are cc.Invalid; a patient who is not registered, or
// an actor DID or organization not on the ledger, cc.NotFound; a signer
// who is neither the patient nor a delegate with scope "consent.manage"
// (or "*"), cc.Unauthorized; a patient already holding MaxActiveConsents
// unrevoked consents, cc.FailedPrecondition.
func handleGrant(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeGrant
	var p grantPayload
	if err := decodePayload(op, payload, &p); err != nil {
		return cc.Result{}, err
	}
	if err := cc.CheckDID(op, "patient", p.Patient); err != nil {
		return cc.Result{}, err
	}
	provisions, err := checkProvisions(op, p.Provisions)
	if err != nil {
		return cc.Result{}, err
	}
	if _, err := identity.GetPatient(kv, p.Patient); cc.Is(cc.NotFound, err) {
		return cc.Result{}, cc.Errorf(op, cc.NotFound, "%s is not a registered patient", p.Patient)
	} else if err != nil {
		return cc.Result{}, cc.E(op, err)
	}
	if err := authorizeManager(op, ctx, kv, p.Patient); err != nil {
		return cc.Result{}, err
	}
	if err := checkActorsExist(op, kv, provisions); err != nil {
		return cc.Result{}, err
	}
	existing, err := ListConsents(kv, p.Patient)
	if err != nil {
		return cc.Result{}, err
	}
	if len(liveConsents(p.Patient, existing)) >= MaxActiveConsents {
		return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "%s already holds %d active consents; revoke one first", p.Patient, MaxActiveConsents)
	}
	id, err := newID(op, consentIDPrefix, ctx.TxHash)
	if err != nil {
		return cc.Result{}, err
	}
	if _, err := GetConsent(kv, id); err == nil {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "consent %s already exists", id)
	} else if !cc.Is(cc.NotFound, err) {
		return cc.Result{}, err
	}
	c := cc.Consent{ID: id, Patient: p.Patient, Grantor: ctx.Signer, Provisions: provisions, Created: ctx.Height, Time: ctx.Time.UTC()}
	data, err := cc.ResultData(op, idData{ID: id})
	if err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, consentKey(id), c); err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, patientKey(c.Patient, id), id); err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op,
			"id", id,
			"patient", string(c.Patient),
			"grantor", string(c.Grantor),
			"provisions", strconv.Itoa(len(c.Provisions)))},
		Data: data,
	}, nil
}

// handleRevoke applies "consent.revoke" {id}: the patient or a delegate
// with scope "consent.manage" (or "*") revokes consent id, setting Revoked
// to the block height. Revocation takes effect from the next block: access
// decisions use committed state, and Can ignores revoked consents. Data is
// {"id"}. A malformed id is cc.Invalid, an unknown one cc.NotFound, another
// signer cc.Unauthorized, an already revoked consent cc.Conflict.
func handleRevoke(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeRevoke
	var p revokePayload
	if err := decodePayload(op, payload, &p); err != nil {
		return cc.Result{}, err
	}
	if !validID(consentIDPrefix, p.ID) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "id %q is not a consent id", cc.Echo(p.ID))
	}
	if ctx.Height < 1 {
		return cc.Result{}, cc.Errorf(op, cc.Internal, "block height %d in the context", ctx.Height)
	}
	c, err := GetConsent(kv, p.ID)
	if cc.Is(cc.NotFound, err) {
		return cc.Result{}, cc.Errorf(op, cc.NotFound, "no consent %s", p.ID)
	} else if err != nil {
		return cc.Result{}, cc.E(op, err)
	}
	if err := authorizeManager(op, ctx, kv, c.Patient); err != nil {
		return cc.Result{}, err
	}
	if c.Revoked != 0 {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "consent %s was revoked at height %d", c.ID, c.Revoked)
	}
	c.Revoked = ctx.Height
	data, err := cc.ResultData(op, idData{ID: c.ID})
	if err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, consentKey(c.ID), c); err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op, "id", c.ID, "patient", string(c.Patient), "by", string(ctx.Signer))},
		Data:   data,
	}, nil
}

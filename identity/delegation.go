package identity

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	cc "carechain"
)

// Limits of delegations.
const (
	// MaxScopes is the most scopes one delegation may list.
	MaxScopes = 32
	// MaxScopeLen is the longest scope, in bytes.
	MaxScopeLen = 64
	// ScopeAll, granted as a scope, covers every scope.
	ScopeAll = "*"
)

// delegateGrantPayload is the payload of "did.delegate.grant".
type delegateGrantPayload struct {
	Delegate cc.DID   `json:"delegate"`
	Scopes   []string `json:"scopes"`
	Expires  string   `json:"expires"` // RFC 3339
}

// delegateRevokePayload is the payload of "did.delegate.revoke".
type delegateRevokePayload struct {
	Delegate cc.DID `json:"delegate"`
}

// ListDelegations returns the delegations principal has granted, expired
// ones included, ordered by delegate DID.
func ListDelegations(kv cc.Reader, principal cc.DID) ([]cc.Delegation, error) {
	out := []cc.Delegation{}
	if !principal.Valid() {
		return out, nil
	}
	err := iterateJSON(kv, delegationsPrefix(principal), func(d cc.Delegation) { out = append(out, d) })
	return out, err
}

// ActiveDelegation reports whether principal has granted delegate a
// delegation that covers scope (listed exactly, or ScopeAll) and has not
// expired at now (now is before Expires). Pass the block time as now on the
// consensus path.
func ActiveDelegation(kv cc.Reader, principal, delegate cc.DID, scope string, now time.Time) (bool, error) {
	if !principal.Valid() || !delegate.Valid() {
		return false, nil
	}
	var d cc.Delegation
	found, err := cc.GetJSON(kv, delegationKey(principal, delegate), &d)
	if err != nil || !found {
		return false, err
	}
	if !now.Before(d.Expires) {
		return false, nil
	}
	return slices.Contains(d.Scopes, scope) || slices.Contains(d.Scopes, ScopeAll), nil
}

// validScope reports whether s is 1..MaxScopeLen printable ASCII characters
// other than space and ','.
func validScope(s string) bool {
	if len(s) == 0 || len(s) > MaxScopeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == ',' {
			return false
		}
	}
	return true
}

// handleDelegateGrant applies "did.delegate.grant" {delegate, scopes,
// expires}: the signer (the principal) lets delegate, another DID on the
// ledger, act for it within scopes until expires, replacing any earlier
// grant to the same delegate. scopes is 1..MaxScopes distinct scopes (see
// validScope); expires is an RFC 3339 time after the block time. Rule
// violations are cc.Invalid; a delegate not on the ledger is cc.NotFound.
func handleDelegateGrant(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeDelegateGrant
	var p delegateGrantPayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if err := cc.CheckDID(op, "delegate", p.Delegate); err != nil {
		return cc.Result{}, err
	}
	if len(p.Scopes) == 0 || len(p.Scopes) > MaxScopes {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "scopes must list 1 to %d scopes", MaxScopes)
	}
	scopes := slices.Clone(p.Scopes)
	slices.Sort(scopes)
	for i, s := range scopes {
		if !validScope(s) {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "scope %q must be 1 to %d printable characters without spaces or commas", cc.Echo(s), MaxScopeLen)
		}
		if i > 0 && scopes[i-1] == s {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "scope %q is listed twice", s)
		}
	}
	expires, err := time.Parse(time.RFC3339, p.Expires)
	if err != nil {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "expires must be an RFC 3339 time")
	}
	expires = expires.UTC()
	if expires.Year() > 9999 {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "expires is after the year 9999")
	}
	if !expires.After(ctx.Time) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "expires %s is not after the block time %s", expires.Format(time.RFC3339), ctx.Time.UTC().Format(time.RFC3339))
	}
	if _, err := signerRecord(op, kv, ctx.Signer); err != nil {
		return cc.Result{}, err
	}
	if p.Delegate == ctx.Signer {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "a DID cannot delegate to itself")
	}
	if _, err := existingDID(op, kv, "delegate", p.Delegate); err != nil {
		return cc.Result{}, err
	}
	d := cc.Delegation{Principal: ctx.Signer, Delegate: p.Delegate, Scopes: scopes, Expires: expires, Created: ctx.Height}
	if err := cc.SetJSON(kv, delegationKey(d.Principal, d.Delegate), d); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, d)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op,
			"principal", string(d.Principal),
			"delegate", string(d.Delegate),
			"scopes", strings.Join(d.Scopes, ","),
			"expires", d.Expires.Format(time.RFC3339Nano))},
		Data: data,
	}, nil
}

// handleDelegateRevoke applies "did.delegate.revoke" {delegate}: the signer
// deletes its delegation to delegate; none is cc.NotFound.
func handleDelegateRevoke(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeDelegateRevoke
	var p delegateRevokePayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if err := cc.CheckDID(op, "delegate", p.Delegate); err != nil {
		return cc.Result{}, err
	}
	if _, err := signerRecord(op, kv, ctx.Signer); err != nil {
		return cc.Result{}, err
	}
	key := delegationKey(ctx.Signer, p.Delegate)
	b, err := kv.Get(key)
	if err != nil {
		return cc.Result{}, cc.E(op, cc.Internal, err)
	}
	if b == nil {
		return cc.Result{}, cc.Errorf(op, cc.NotFound, "%s has no delegation to %s", ctx.Signer, p.Delegate)
	}
	kv.Delete(key)
	data, err := cc.ResultData(op, struct {
		Principal cc.DID `json:"principal"`
		Delegate  cc.DID `json:"delegate"`
	}{ctx.Signer, p.Delegate})
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op, "principal", string(ctx.Signer), "delegate", string(p.Delegate))},
		Data:   data,
	}, nil
}

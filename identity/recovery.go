package identity

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	cc "carechain"
)

// Limits of guardian recovery.
const (
	// MaxGuardians is the most guardians a DID may name.
	MaxGuardians = 10
	// MaxDelayBlocks is the longest recovery delay, in blocks. The cap keeps
	// height arithmetic far from overflow.
	MaxDelayBlocks = 10_000_000
	// RecoveryLapseBlocks is how long a recovery may stay open without
	// reaching its threshold. After that, a guardian's approval of a
	// different key replaces it, so a single guardian cannot block the
	// recovery of a DID whose owner lost the key that could cancel it.
	RecoveryLapseBlocks = 100_000
)

// guardiansSetPayload is the payload of "did.guardians.set".
type guardiansSetPayload struct {
	Guardians   *[]cc.DID `json:"guardians"` // required; [] clears
	Threshold   int       `json:"threshold"`
	DelayBlocks int64     `json:"delay_blocks"`
}

// recoveryApprovePayload is the payload of "did.recovery.approve".
type recoveryApprovePayload struct {
	DID          cc.DID `json:"did"`
	NewPublicKey string `json:"new_public_key"`
}

// recoveryTargetPayload is the payload of "did.recovery.cancel" and
// "did.recovery.execute".
type recoveryTargetPayload struct {
	DID cc.DID `json:"did"`
}

// recoveryResult is the Data of recovery transactions.
type recoveryResult struct {
	DID         cc.DID `json:"did"`
	Approvals   int    `json:"approvals"`
	Threshold   int    `json:"threshold"`
	ReadyHeight int64  `json:"ready_height,omitempty"`
	KeyVersion  int    `json:"key_version,omitempty"`
}

// GetRecovery returns the pending guardian recovery of d, cc.NotFound if
// there is none.
func GetRecovery(kv cc.Reader, d cc.DID) (*cc.Recovery, error) {
	var r cc.Recovery
	found := false
	if d.Valid() {
		var err error
		if found, err = cc.GetJSON(kv, recoveryKey(d), &r); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, cc.Errorf("identity.recovery", cc.NotFound, "no pending recovery for %s", cc.Echo(string(d)))
	}
	return &r, nil
}

// hasRecovery reports whether d has a pending recovery.
func hasRecovery(kv cc.Reader, d cc.DID) (bool, error) {
	b, err := kv.Get(recoveryKey(d))
	if err != nil {
		return false, cc.E("identity.recovery", cc.Internal, err)
	}
	return b != nil, nil
}

// joinDIDs renders ds comma-separated for an event attribute.
func joinDIDs(ds []cc.DID) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = string(d)
	}
	return strings.Join(s, ",")
}

// handleGuardiansSet applies "did.guardians.set" {guardians, threshold,
// delay_blocks}: the signer names 1..MaxGuardians distinct guardians (DIDs on
// the ledger other than itself), a threshold 1 ≤ M ≤ N and a delay of
// 1..MaxDelayBlocks blocks between reaching the threshold and executing.
// An empty guardian list with threshold 0 and delay_blocks 0 clears
// recovery; guardians may not be omitted or null. Either way a pending recovery is cancelled. Rule violations are
// cc.Invalid; a guardian not on the ledger is cc.NotFound.
func handleGuardiansSet(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeGuardiansSet
	var p guardiansSetPayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	rec, err := signerRecord(op, kv, ctx.Signer)
	if err != nil {
		return cc.Result{}, err
	}
	if p.Guardians == nil {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "guardians is required (an empty list clears recovery)")
	}
	n := len(*p.Guardians)
	switch {
	case n == 0 && (p.Threshold != 0 || p.DelayBlocks != 0):
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "clearing guardians needs threshold 0 and delay_blocks 0")
	case n > MaxGuardians:
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "%d guardians, at most %d allowed", n, MaxGuardians)
	case n > 0 && (p.Threshold < 1 || p.Threshold > n):
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "threshold %d must be between 1 and the %d guardians", p.Threshold, n)
	case n > 0 && (p.DelayBlocks < 1 || p.DelayBlocks > MaxDelayBlocks):
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "delay_blocks %d must be between 1 and %d", p.DelayBlocks, MaxDelayBlocks)
	}
	guardians := slices.Clone(*p.Guardians)
	slices.Sort(guardians)
	for i, g := range guardians {
		if err := cc.CheckDID(op, "guardian", g); err != nil {
			return cc.Result{}, err
		}
		if g == rec.ID {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "a DID cannot be its own guardian")
		}
		if i > 0 && guardians[i-1] == g {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "guardian %s is listed twice", g)
		}
	}
	for _, g := range guardians {
		if _, err := existingDID(op, kv, "guardian", g); err != nil {
			return cc.Result{}, err
		}
	}
	pending, err := hasRecovery(kv, rec.ID)
	if err != nil {
		return cc.Result{}, err
	}
	if n == 0 {
		guardians = nil
	}
	rec.Guardians, rec.Threshold, rec.DelayBlock = guardians, p.Threshold, p.DelayBlocks
	rec.Updated = ctx.Height
	if err := cc.SetJSON(kv, didKey(rec.ID), rec); err != nil {
		return cc.Result{}, err
	}
	if pending {
		kv.Delete(recoveryKey(rec.ID))
	}
	data, err := cc.ResultData(op, recoveryResult{DID: rec.ID, Threshold: rec.Threshold})
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op,
			"did", string(rec.ID),
			"guardians", joinDIDs(rec.Guardians),
			"threshold", strconv.Itoa(rec.Threshold),
			"delay_blocks", strconv.FormatInt(rec.DelayBlock, 10),
			"recovery_cancelled", strconv.FormatBool(pending))},
		Data: data,
	}, nil
}

// handleRecoveryApprove applies "did.recovery.approve" {did,
// new_public_key}: the signer, one of did's guardians, approves moving did to
// new_public_key. The first approval opens the recovery; once approvals reach
// the threshold the recovery becomes executable at ready_height = height +
// delay_blocks. A DID without guardians is cc.FailedPrecondition, a signer
// who is not a guardian cc.Unauthorized, a repeated approval cc.Conflict, the
// current key cc.Invalid. A different key while a recovery is open is
// cc.Conflict, unless that recovery lapsed (RecoveryLapseBlocks without
// reaching the threshold): the approval then replaces it.
func handleRecoveryApprove(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeRecoveryApprove
	var p recoveryApprovePayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if err := cc.CheckDID(op, "did", p.DID); err != nil {
		return cc.Result{}, err
	}
	key, err := decodeKey(op, "new_public_key", p.NewPublicKey)
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
	if len(rec.Guardians) == 0 {
		return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "%s has no guardians", rec.ID)
	}
	if !slices.Contains(rec.Guardians, ctx.Signer) {
		return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s is not a guardian of %s", ctx.Signer, rec.ID)
	}
	if bytes.Equal(rec.PublicKey, key) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "new_public_key is the current key")
	}
	r := cc.Recovery{DID: rec.ID, NewKey: bytes.Clone(key), Started: ctx.Height}
	found, err := cc.GetJSON(kv, recoveryKey(rec.ID), &r)
	if err != nil {
		return cc.Result{}, err
	}
	replaced := false
	if found && !bytes.Equal(r.NewKey, key) {
		if r.ReadyHeight != 0 || ctx.Height-r.Started < RecoveryLapseBlocks {
			return cc.Result{}, cc.Errorf(op, cc.Conflict, "a recovery of %s to a different key is open; cancel it first", rec.ID)
		}
		r, replaced = cc.Recovery{DID: rec.ID, NewKey: bytes.Clone(key), Started: ctx.Height}, true
	}
	approvals, added := insertSorted(r.Approvals, ctx.Signer)
	if !added {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "%s already approved this recovery", ctx.Signer)
	}
	r.Approvals = approvals
	if r.ReadyHeight == 0 && len(r.Approvals) >= rec.Threshold {
		r.ReadyHeight = ctx.Height + rec.DelayBlock
	}
	if err := cc.SetJSON(kv, recoveryKey(rec.ID), r); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, recoveryResult{DID: rec.ID, Approvals: len(r.Approvals), Threshold: rec.Threshold, ReadyHeight: r.ReadyHeight})
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op,
			"did", string(rec.ID),
			"guardian", string(ctx.Signer),
			"approvals", strconv.Itoa(len(r.Approvals)),
			"threshold", strconv.Itoa(rec.Threshold),
			"ready_height", strconv.FormatInt(r.ReadyHeight, 10),
			"replaced_lapsed", strconv.FormatBool(replaced))},
		Data: data,
	}, nil
}

// handleRecoveryCancel applies "did.recovery.cancel" {did}: the DID itself,
// signing with its current key, deletes its pending recovery. Another signer
// is cc.Unauthorized; no pending recovery is cc.NotFound.
func handleRecoveryCancel(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeRecoveryCancel
	var p recoveryTargetPayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if err := cc.CheckDID(op, "did", p.DID); err != nil {
		return cc.Result{}, err
	}
	if _, err := signerRecord(op, kv, ctx.Signer); err != nil {
		return cc.Result{}, err
	}
	if p.DID != ctx.Signer {
		return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "only %s itself can cancel its recovery", p.DID)
	}
	pending, err := hasRecovery(kv, p.DID)
	if err != nil {
		return cc.Result{}, err
	}
	if !pending {
		return cc.Result{}, cc.Errorf(op, cc.NotFound, "no pending recovery for %s", p.DID)
	}
	kv.Delete(recoveryKey(p.DID))
	data, err := cc.ResultData(op, recoveryResult{DID: p.DID})
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{Events: []cc.Event{cc.NewEvent(op, "did", string(p.DID))}, Data: data}, nil
}

// handleRecoveryExecute applies "did.recovery.execute" {did}: any signer on
// the ledger completes a recovery whose approvals reached the threshold and
// whose ready_height has come, moving did to the new key (key_version+1) and
// deleting the recovery. No pending recovery is cc.NotFound; too few
// approvals or too early is cc.FailedPrecondition.
func handleRecoveryExecute(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeRecoveryExecute
	var p recoveryTargetPayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if err := cc.CheckDID(op, "did", p.DID); err != nil {
		return cc.Result{}, err
	}
	if _, err := signerRecord(op, kv, ctx.Signer); err != nil {
		return cc.Result{}, err
	}
	rec, err := existingDID(op, kv, "did", p.DID)
	if err != nil {
		return cc.Result{}, err
	}
	var r cc.Recovery
	found, err := cc.GetJSON(kv, recoveryKey(rec.ID), &r)
	if err != nil {
		return cc.Result{}, err
	}
	if !found {
		return cc.Result{}, cc.Errorf(op, cc.NotFound, "no pending recovery for %s", rec.ID)
	}
	approvals := 0
	for _, a := range r.Approvals {
		if slices.Contains(rec.Guardians, a) {
			approvals++
		}
	}
	if rec.Threshold < 1 || approvals < rec.Threshold {
		return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "recovery has %d of %d approvals", approvals, rec.Threshold)
	}
	if r.ReadyHeight == 0 || ctx.Height < r.ReadyHeight {
		return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "recovery can execute at height %d, this is height %d", r.ReadyHeight, ctx.Height)
	}
	if len(r.NewKey) != len(rec.PublicKey) || bytes.Equal(r.NewKey, rec.PublicKey) {
		return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "recovery key is not a new Ed25519 key")
	}
	rec.PublicKey = bytes.Clone(r.NewKey)
	rec.KeyVersion++
	rec.Updated = ctx.Height
	if err := cc.SetJSON(kv, didKey(rec.ID), rec); err != nil {
		return cc.Result{}, err
	}
	kv.Delete(recoveryKey(rec.ID))
	data, err := cc.ResultData(op, recoveryResult{DID: rec.ID, Approvals: approvals, Threshold: rec.Threshold, ReadyHeight: r.ReadyHeight, KeyVersion: rec.KeyVersion})
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op,
			"did", string(rec.ID),
			"key_version", strconv.Itoa(rec.KeyVersion),
			"executor", string(ctx.Signer))},
		Data: data,
	}, nil
}

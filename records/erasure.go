package records

import (
	"encoding/json"
	"strconv"
	"time"

	cc "carechain"
	"carechain/identity"
)

// ScopeErase is the delegation scope that lets a delegate erase records
// for the patient (see identity.ActiveDelegation).
const ScopeErase = "records.erase"

// MaxErasePerTx is the most record ids one record.erase may list.
const MaxErasePerTx = 2000

// Erasure is the on-chain proof that a record was erased: the patient (or
// a delegate, By) asked for it at Height. The custodian's vault destroys the
// record's data keys; the anchors stay.
type Erasure struct {
	Patient cc.DID    `json:"patient"`
	ID      string    `json:"id"`
	By      cc.DID    `json:"by"`
	Height  int64     `json:"height"`
	Time    time.Time `json:"time"`
}

// erasePayload is the payload of "record.erase": either IDs or All.
type erasePayload struct {
	Patient cc.DID   `json:"patient"`
	IDs     []string `json:"ids"`
	All     bool     `json:"all"`
}

// eraseResult is the Data of a record.erase transaction.
type eraseResult struct {
	Patient cc.DID   `json:"patient"`
	Erased  []string `json:"erased"`
	Skipped int      `json:"skipped"` // already erased
	Height  int64    `json:"height"`
}

// Erasures returns the erasures of patient's records, oldest first.
func Erasures(kv cc.Reader, patient cc.DID) ([]Erasure, error) {
	out := []Erasure{}
	if !patient.Valid() {
		return out, nil
	}
	err := iterateJSON(kv, erasuresPrefix(patient), func(e Erasure) bool {
		out = append(out, e)
		return true
	})
	return out, err
}

// handleErase applies "record.erase" {patient, ids: [...]} or {patient,
// all: true}: it marks the latest anchor of each named record (or of every
// record of the patient) Erased at this height, writes an Erasure for each
// at rec/e/{patient}/{height}/{id} and notifies the patient. Anchors and
// versions stay; the vault destroys the data keys when it sees the event.
//
// Rules: patient must be a DID and exactly one of 1..MaxErasePerTx
// distinct ids or all: true be given (cc.Invalid). The signer must be the
// patient or a delegate with scope ScopeErase (cc.Unauthorized). An
// unknown id or another patient's record is cc.NotFound, as is all: true
// for a patient without records. Records already erased are skipped, but
// if every named record is already erased the transaction is cc.Conflict.
func handleErase(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeErase
	var p erasePayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if err := cc.CheckDID(op, "patient", p.Patient); err != nil {
		return cc.Result{}, err
	}
	if p.All == (len(p.IDs) > 0) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "give either ids (1 to %d) or all: true", MaxErasePerTx)
	}
	if len(p.IDs) > MaxErasePerTx {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "ids must list 1 to %d records", MaxErasePerTx)
	}
	seen := make(map[string]bool, len(p.IDs))
	for i, id := range p.IDs {
		if !ValidID(id) {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "ids[%d] %q is not a record id", i, cc.Echo(id))
		}
		if seen[id] {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "ids[%d] %s is listed twice", i, id)
		}
		seen[id] = true
	}
	if ctx.Signer != p.Patient {
		ok, err := identity.ActiveDelegation(kv, p.Patient, ctx.Signer, ScopeErase, ctx.Time)
		if err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		if !ok {
			return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s may not erase records of %s (needs to be the patient or a delegate with scope %q)", ctx.Signer, p.Patient, ScopeErase)
		}
	}
	ids := p.IDs
	if p.All {
		var err error
		if ids, err = patientRecordIDs(kv, patientPrefix(p.Patient)); err != nil {
			return cc.Result{}, err
		}
		if len(ids) == 0 {
			return cc.Result{}, cc.Errorf(op, cc.NotFound, "%s has no records", p.Patient)
		}
	}
	var targets []*cc.RecordAnchor
	for _, id := range ids {
		a, err := GetAnchor(kv, id)
		if err != nil && !cc.Is(cc.NotFound, err) {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		if err != nil || a.Patient != p.Patient {
			// Another patient's record looks exactly like a missing one.
			return cc.Result{}, cc.Errorf(op, cc.NotFound, "%s has no record %s", p.Patient, id)
		}
		if !a.Erased {
			targets = append(targets, a)
		}
	}
	if len(targets) == 0 {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "every record named is already erased")
	}
	// Notify validates before it writes, so it goes first: every write
	// after it cannot fail but for an encoding bug.
	ref, text := "", strconv.Itoa(len(targets))+" of your records were erased at your request; their data keys are destroyed"
	if len(targets) == 1 {
		ref, text = targets[0].ID, "Your record "+targets[0].ID+" was erased at your request; its data key is destroyed"
	}
	if ctx.Signer != p.Patient {
		text += " (requested by your delegate " + string(ctx.Signer) + ")"
	}
	if _, err := Notify(kv, ctx, p.Patient, NoticeErasure, ref, text); err != nil {
		return cc.Result{}, err
	}
	res := eraseResult{Patient: p.Patient, Erased: make([]string, 0, len(targets)), Skipped: len(ids) - len(targets), Height: ctx.Height}
	for _, a := range targets {
		a.Erased, a.ErasedAt = true, ctx.Height
		if err := cc.SetJSON(kv, anchorKey(a.ID), a); err != nil {
			return cc.Result{}, err
		}
		e := Erasure{Patient: p.Patient, ID: a.ID, By: ctx.Signer, Height: ctx.Height, Time: ctx.Time.UTC()}
		if err := cc.SetJSON(kv, erasureKey(p.Patient, ctx.Height, a.ID), e); err != nil {
			return cc.Result{}, err
		}
		res.Erased = append(res.Erased, a.ID)
	}
	data, err := cc.ResultData(op, res)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op,
			"patient", string(p.Patient),
			"by", string(ctx.Signer),
			"erased", strconv.Itoa(len(res.Erased)),
			"skipped", strconv.Itoa(res.Skipped))},
		Data: data,
	}, nil
}

package rx

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	cc "carechain"
	"carechain/identity"
	"carechain/records"
)

// dispensePayload is the payload of "rx.dispense".
type dispensePayload struct {
	Org        string            `json:"org"`
	Pharmacist cc.DID            `json:"pharmacist"`
	Anchors    []json.RawMessage `json:"anchors"`
	Dispenses  []json.RawMessage `json:"dispenses"`
}

// dispenseItem is one dispense of an rx.dispense payload.
type dispenseItem struct {
	RecordID      string `json:"record_id"`
	Prescription  string `json:"prescription"`
	QuantityMilli int64  `json:"quantity_milli"`
	Unit          string `json:"unit"`
	CollectedBy   cc.DID `json:"collected_by"`
}

// DispenseResult is the Data of rx.dispense: each dispense as recorded
// and what remains of its prescription after it.
type DispenseResult struct {
	Dispenses []DispenseOutcome `json:"dispenses"`
	Height    int64             `json:"height"`
}

// DispenseOutcome is one dispense of a DispenseResult.
type DispenseOutcome struct {
	Dispense
	RemainingMilli int64  `json:"remaining_milli"`
	Status         string `json:"status"` // the prescription's, after the dispense
}

// handleDispense applies "rx.dispense" {org, pharmacist, anchors?,
// dispenses: [{record_id, prescription, quantity_milli, unit?,
// collected_by?}]}: 1..MaxPerTx dispenses by pharmacist (a pharmacist of
// org) for the pharmacy org, all or none, applied in order, each seeing
// the ones before it.
//
// record_id is a MedicationDispense anchored for org (a new record of this
// transaction's anchors, or one anchored before) of the prescription's
// patient; each record dispenses once. Rules:
//   - field violations (quantity_milli 1..MaxQuantityMilli, a record listed
//     twice, a unit other than the prescription's — compared without
//     case —, a record of another type or of another patient) are
//     cc.Invalid;
//   - no such record or prescription is cc.NotFound, an erased record
//     cc.Gone;
//   - a pharmacist who is not a pharmacist member of org (an active
//     organization), a signer who is neither org's node nor the
//     pharmacist, or a record held by another organization is
//     cc.Unauthorized;
//   - a record that already dispensed is cc.Conflict;
//   - a prescription that is not active ("is cancelled", "is completed"),
//     that expired (the block date is after valid_until: "expired on
//     …"), a quantity over the per-fill quantity, or more than remains of
//     the total QuantityMilli × (1 + Repeats) ("only X remain") is
//     cc.FailedPrecondition: this is the cross-pharmacy rule, decided
//     in block order, so of two pharmacies racing for the last repeat the
//     second is refused;
//   - collected_by other than the patient needs the prescription to allow
//     delegate collection and an active delegation of the patient to
//     collected_by with scope ScopeCollect at the block time, else
//     cc.Unauthorized.
//
// A dispense adds its quantity to the prescription and counts one more in
// Fills. The binding limit is the total quantity, not the number of
// dispenses: a fill handed over in parts (20 tablets today, 10 when the
// stock arrives) uses no more of the prescription than one dispense of 30.
// A prescription whose total quantity is dispensed is completed.
func handleDispense(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeDispense
	var p dispensePayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if !cc.ValidOrgID(p.Org) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "org %q must be an organization id", cc.Echo(p.Org))
	}
	if err := cc.CheckDID(op, "pharmacist", p.Pharmacist); err != nil {
		return cc.Result{}, err
	}
	if len(p.Dispenses) == 0 || len(p.Dispenses) > MaxPerTx {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "dispenses must list 1 to %d dispenses", MaxPerTx)
	}
	anchors, err := decodeAnchors(op, p.Anchors)
	if err != nil {
		return cc.Result{}, err
	}
	items := make([]dispenseItem, len(p.Dispenses))
	named := map[string]bool{}
	for i, raw := range p.Dispenses {
		what := "dispenses[" + strconv.Itoa(i) + "]"
		it := &items[i]
		if err := decodeObject(op, what, raw, it); err != nil {
			return cc.Result{}, err
		}
		switch {
		case !records.ValidID(it.RecordID) || !strings.HasPrefix(it.RecordID, DispenseType+"/"):
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "%s: record_id %q must be a %s record id", what, cc.Echo(it.RecordID), DispenseType)
		case named[it.RecordID]:
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "%s: %s is listed twice", what, it.RecordID)
		case !records.ValidID(it.Prescription) || !strings.HasPrefix(it.Prescription, RequestType+"/"):
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "%s: prescription %q must be a %s record id", what, cc.Echo(it.Prescription), RequestType)
		case it.QuantityMilli < 1 || it.QuantityMilli > MaxQuantityMilli:
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "%s: quantity_milli must be 1 to %d (thousandths of the unit)", what, MaxQuantityMilli)
		case it.Unit != "" && !printable(it.Unit, MaxUnitLen):
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "%s: unit must be 1 to %d printable characters without spaces", what, MaxUnitLen)
		}
		if it.CollectedBy != "" {
			if err := cc.CheckDID(op, what+".collected_by", it.CollectedBy); err != nil {
				return cc.Result{}, err
			}
		}
		named[it.RecordID] = true
	}
	pharmacist, err := identity.HasRole(kv, p.Org, p.Pharmacist, cc.RolePharmacist)
	if err != nil {
		return cc.Result{}, cc.E(op, cc.Internal, err)
	}
	if !pharmacist {
		return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s is not a pharmacist of active organization %q", p.Pharmacist, p.Org)
	}
	if ctx.Signer != p.Pharmacist {
		node, err := isNode(kv, p.Org, ctx.Signer)
		if err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		if !node {
			return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s may not record dispenses for %q (only the pharmacist or %s's node)", ctx.Signer, p.Org, p.Org)
		}
	}

	today := blockDate(ctx)
	blockTime := ctx.Time.UTC().Format(time.RFC3339Nano)
	state := map[string]*Prescription{} // the prescriptions as this transaction leaves them
	var order []string                  // their ids, first-touched first
	res := DispenseResult{Dispenses: make([]DispenseOutcome, len(items)), Height: ctx.Height}
	for i := range items {
		it := &items[i]
		what := "dispenses[" + strconv.Itoa(i) + "]"
		failed := func(format string, args ...any) (cc.Result, error) {
			return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, what+": "+format, args...)
		}
		rec, err := anchors.record(op, what, kv, it.RecordID)
		if err != nil {
			return cc.Result{}, err
		}
		if rec.Type != DispenseType {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "%s: %s is a %s, not a %s", what, it.RecordID, rec.Type, DispenseType)
		}
		if rec.Org != p.Org {
			return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s: %s is held by %s, not %s", what, it.RecordID, rec.Org, p.Org)
		}
		if prev, err := DispenseOf(kv, it.RecordID); err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		} else if prev != "" {
			return cc.Result{}, cc.Errorf(op, cc.Conflict, "%s: %s already dispensed %s", what, it.RecordID, prev)
		}
		pr, ok := state[it.Prescription]
		if !ok {
			if pr, err = lookup(op, kv, it.Prescription); cc.Is(cc.NotFound, err) {
				return cc.Result{}, cc.Errorf(op, cc.NotFound, "%s: no prescription %q was issued", what, cc.Echo(it.Prescription))
			} else if err != nil {
				return cc.Result{}, err
			}
			state[it.Prescription] = pr
			order = append(order, pr.ID)
		}
		if rec.Patient != pr.Patient {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "%s: %s is not of the patient of %s", what, it.RecordID, pr.ID)
		}
		if it.Unit != "" && pr.Unit != "" && !strings.EqualFold(it.Unit, pr.Unit) {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "%s: %s is prescribed in %s, not %s", what, pr.ID, pr.Unit, it.Unit)
		}
		switch pr.Status {
		case StatusActive:
		case StatusCompleted:
			return failed("prescription %s is completed: all %s %s were dispensed", pr.ID, FormatMilli(pr.DispensedMilli), pr.Unit)
		default:
			return failed("prescription %s is %s", pr.ID, pr.Status)
		}
		if today > pr.ValidUntil {
			return failed("prescription %s expired on %s", pr.ID, pr.ValidUntil)
		}
		if it.QuantityMilli > pr.QuantityMilli {
			return failed("%s %s is more than the %s %s of one fill of %s", FormatMilli(it.QuantityMilli), pr.Unit, FormatMilli(pr.QuantityMilli), pr.Unit, pr.ID)
		}
		if left := pr.TotalMilli() - pr.DispensedMilli; it.QuantityMilli > left {
			return failed("only %s %s remain of %s, %s asked", FormatMilli(left), pr.Unit, pr.ID, FormatMilli(it.QuantityMilli))
		}
		if it.CollectedBy != "" && it.CollectedBy != pr.Patient {
			if !pr.DelegateMayCollect {
				return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s: the patient does not allow a delegate to collect %s", what, pr.ID)
			}
			ok, err := identity.ActiveDelegation(kv, pr.Patient, it.CollectedBy, ScopeCollect, ctx.Time)
			if err != nil {
				return cc.Result{}, cc.E(op, cc.Internal, err)
			}
			if !ok {
				return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s: %s holds no active %s delegation of the patient", what, it.CollectedBy, ScopeCollect)
			}
		}
		d := Dispense{Fill: pr.Fills, RecordID: it.RecordID, Prescription: pr.ID, Org: p.Org, Pharmacist: p.Pharmacist,
			Signer: ctx.Signer, QuantityMilli: it.QuantityMilli, Unit: it.Unit, CollectedBy: it.CollectedBy,
			Height: ctx.Height, Time: blockTime}
		pr.Fills++
		pr.DispensedMilli += it.QuantityMilli
		pr.UpdatedAt = ctx.Height
		if pr.DispensedMilli == pr.TotalMilli() {
			pr.Status, pr.CompletedAt = StatusCompleted, ctx.Height
		}
		res.Dispenses[i] = DispenseOutcome{Dispense: d, RemainingMilli: pr.RemainingMilli(), Status: pr.Status}
	}

	events, err := anchors.apply(ctx, kv)
	if err != nil {
		return cc.Result{}, err
	}
	for _, o := range res.Dispenses {
		d := o.Dispense
		if err := cc.SetJSON(kv, dispenseKey(d.Prescription, d.Fill), d); err != nil {
			return cc.Result{}, err
		}
		if err := cc.SetJSON(kv, dispenseRecordKey(d.RecordID), d.Prescription); err != nil {
			return cc.Result{}, err
		}
		events = append(events, cc.NewEvent(op, "prescription", d.Prescription, "record", d.RecordID, "org", d.Org,
			"quantity_milli", strconv.FormatInt(d.QuantityMilli, 10), "status", o.Status))
	}
	for _, id := range order {
		if err := put(kv, state[id]); err != nil {
			return cc.Result{}, err
		}
	}
	data, err := cc.ResultData(op, res)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{Events: events, Data: data}, nil
}

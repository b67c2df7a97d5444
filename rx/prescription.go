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

// Limits of prescriptions.
const (
	MaxPerTx         = 100                      // prescriptions of one rx.issue, dispenses of one rx.dispense
	MaxRepeats       = 99                       // repeats (refills) after the first fill
	MaxQuantityMilli = int64(1_000_000_000_000) // per fill: a billion units
	MaxUnitLen       = 32
	MaxMedicationLen = 256
	MaxReasonLen     = 64
	// MaxValidity is how far after the block time valid_until may be.
	MaxValidity = 2 * 365 * 24 * time.Hour
	// DefaultValidityDays is the validity of a prescription issued
	// without valid_until: that many days after the block date.
	DefaultValidityDays = 365
	// ScopeCollect is the delegation scope with which a patient's delegate
	// collects dispensed medication (identity.ActiveDelegation).
	ScopeCollect = "rx.collect"
	// DateLayout is the layout of valid_until.
	DateLayout = "2006-01-02"
)

// The statuses of a prescription.
const (
	StatusActive    = "active"
	StatusCancelled = "cancelled"
	StatusCompleted = "completed"
)

// The FHIR resource types of prescriptions and dispenses.
const (
	RequestType  = "MedicationRequest"
	DispenseType = "MedicationDispense"
)

// Prescription is the ledger state of one e-prescription: what may be
// dispensed (QuantityMilli per fill, 1+Repeats fills) until ValidUntil,
// and what has been.
type Prescription struct {
	ID                 string `json:"id"` // the MedicationRequest record id
	Patient            cc.DID `json:"patient"`
	Prescriber         cc.DID `json:"prescriber"` // the anchor's author, a physician of Org
	Org                string `json:"org"`
	Medication         string `json:"medication,omitempty"` // "system|code"
	QuantityMilli      int64  `json:"quantity_milli"`       // per fill, thousandths of Unit
	Unit               string `json:"unit,omitempty"`
	Repeats            int    `json:"repeats"`
	ValidUntil         string `json:"valid_until"` // YYYY-MM-DD, the last day it may be dispensed (UTC)
	DelegateMayCollect bool   `json:"delegate_may_collect"`
	Status             string `json:"status"`
	DispensedMilli     int64  `json:"dispensed_milli"`
	Fills              int    `json:"fills"`
	IssuedAt           int64  `json:"issued_at"` // height
	IssuedTime         string `json:"issued_time"`
	UpdatedAt          int64  `json:"updated_at"`
	CancelledAt        int64  `json:"cancelled_at,omitempty"`
	CancelledBy        cc.DID `json:"cancelled_by,omitempty"`
	CancelReason       string `json:"cancel_reason,omitempty"`
	CompletedAt        int64  `json:"completed_at,omitempty"`
}

// TotalMilli is the most that may ever be dispensed: QuantityMilli ×
// (1 + Repeats).
func (p *Prescription) TotalMilli() int64 { return p.QuantityMilli * int64(1+p.Repeats) }

// RemainingMilli is what may still be dispensed (0 unless active).
func (p *Prescription) RemainingMilli() int64 {
	if p.Status != StatusActive {
		return 0
	}
	return p.TotalMilli() - p.DispensedMilli
}

// Dispense is one dispense recorded against a prescription.
type Dispense struct {
	Fill          int    `json:"fill"` // 0 for the first
	RecordID      string `json:"record_id"`
	Prescription  string `json:"prescription"`
	Org           string `json:"org"` // the pharmacy
	Pharmacist    cc.DID `json:"pharmacist"`
	Signer        cc.DID `json:"signer"`
	QuantityMilli int64  `json:"quantity_milli"`
	Unit          string `json:"unit,omitempty"`
	CollectedBy   cc.DID `json:"collected_by,omitempty"`
	Height        int64  `json:"height"`
	Time          string `json:"time"`
}

// FormatMilli writes thousandths as a decimal: 30000 → "30", 2500 → "2.5".
func FormatMilli(m int64) string {
	neg := m < 0
	if neg {
		m = -m
	}
	s := strconv.FormatInt(m/1000, 10)
	if frac := m % 1000; frac != 0 {
		s += "." + strings.TrimRight(strconv.FormatInt(1000+frac, 10)[1:], "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// GetPrescription returns the prescription of MedicationRequest record id,
// cc.NotFound if none was issued.
func GetPrescription(kv cc.Reader, id string) (*Prescription, error) {
	var p Prescription
	found := false
	if records.ValidID(id) {
		var err error
		if found, err = cc.GetJSON(kv, prescriptionKey(id), &p); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, cc.Errorf("rx.prescription", cc.NotFound, "no prescription %q", cc.Echo(id))
	}
	return &p, nil
}

// Dispenses returns the dispenses of prescription id, oldest first.
func Dispenses(kv cc.Reader, id string) ([]Dispense, error) {
	out := []Dispense{}
	if !records.ValidID(id) {
		return out, nil
	}
	err := cc.IterateJSON("rx.dispenses", kv, dispensesPrefix(id), func(d Dispense) bool {
		out = append(out, d)
		return true
	})
	return out, err
}

// DispenseOf returns the prescription a MedicationDispense record
// dispensed, "" when none.
func DispenseOf(kv cc.Reader, recordID string) (string, error) {
	var id string
	if !records.ValidID(recordID) {
		return "", nil
	}
	_, err := cc.GetJSON(kv, dispenseRecordKey(recordID), &id)
	return id, err
}

// PatientPrescriptions returns patient's prescriptions, ordered by id.
func PatientPrescriptions(kv cc.Reader, patient cc.DID) ([]Prescription, error) {
	return indexed(kv, patient, patientPrefix)
}

// PrescriberPrescriptions returns the prescriptions prescriber issued,
// ordered by id.
func PrescriberPrescriptions(kv cc.Reader, prescriber cc.DID) ([]Prescription, error) {
	return indexed(kv, prescriber, prescriberPrefix)
}

func indexed(kv cc.Reader, d cc.DID, prefix func(cc.DID) string) ([]Prescription, error) {
	out := []Prescription{}
	if !d.Valid() {
		return out, nil
	}
	var ids []string
	if err := cc.IterateJSON("rx.index", kv, prefix(d), func(id string) bool {
		ids = append(ids, id)
		return true
	}); err != nil {
		return nil, err
	}
	for _, id := range ids {
		p, err := GetPrescription(kv, id)
		if err != nil {
			return nil, cc.E("rx.index", cc.Internal, err)
		}
		out = append(out, *p)
	}
	return out, nil
}

// anchorHead is what rx reads of an anchor item carried by its
// transaction; records checks the rest.
type anchorHead struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Patient cc.DID `json:"patient"`
	Org     string `json:"org"`
	Author  cc.DID `json:"author"`
	Version int    `json:"version"`
}

// withAnchors holds the anchors a transaction carries.
type withAnchors struct {
	raw   []json.RawMessage
	heads map[string]anchorHead // by id
}

// decodeAnchors reads the heads of the anchors (records validates them
// fully when they are applied).
func decodeAnchors(op string, raw []json.RawMessage) (*withAnchors, error) {
	w := &withAnchors{raw: raw, heads: map[string]anchorHead{}}
	for i, r := range raw {
		var h anchorHead
		if err := json.Unmarshal(r, &h); err != nil {
			return nil, cc.Errorf(op, cc.Malformed, "anchors[%d] is not an anchor object", i)
		}
		w.heads[h.ID] = h
	}
	return w, nil
}

// record returns the anchor of record id as this transaction will leave
// it: a new record (version 1) it anchors, else the committed anchor.
// cc.NotFound when there is none; cc.Gone when erased.
func (w *withAnchors) record(op, what string, kv cc.Reader, id string) (*cc.RecordAnchor, error) {
	if h, ok := w.heads[id]; ok && h.Version == 1 {
		return &cc.RecordAnchor{ID: h.ID, Type: h.Type, Patient: h.Patient, Org: h.Org, Author: h.Author, Version: 1}, nil
	}
	a, err := records.GetAnchor(kv, id)
	if cc.Is(cc.NotFound, err) {
		return nil, cc.Errorf(op, cc.NotFound, "%s: no record %q is anchored", what, cc.Echo(id))
	}
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	if a.Erased {
		return nil, cc.Errorf(op, cc.Gone, "%s: %s was erased at height %d", what, id, a.ErasedAt)
	}
	return a, nil
}

// apply anchors the transaction's records (all or nothing), if any.
func (w *withAnchors) apply(ctx cc.TxContext, kv cc.KV) ([]cc.Event, error) {
	if len(w.raw) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(map[string]any{"anchors": w.raw})
	if err != nil {
		return nil, cc.E(ctx.Type, cc.Internal, err)
	}
	res, err := records.Handlers()[records.TypeAnchor](ctx, kv, b)
	if err != nil {
		return nil, err
	}
	return res.Events, nil
}

// printable reports whether s is 1..n printable ASCII bytes without spaces.
func printable(s string, n int) bool {
	if len(s) == 0 || len(s) > n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// validCode reports whether s is "system|code" of printable ASCII without
// spaces, at most MaxMedicationLen bytes.
func validCode(s string) bool {
	sys, code, ok := strings.Cut(s, "|")
	return ok && printable(s, MaxMedicationLen) && sys != "" && code != "" && !strings.Contains(code, "|")
}

// validReason reports whether s is a reason code: 1..MaxReasonLen of
// [a-z0-9._-] (a code, never free text, which could carry PHI).
func validReason(s string) bool {
	if len(s) == 0 || len(s) > MaxReasonLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// blockDate is the UTC date of the block time, YYYY-MM-DD.
func blockDate(ctx cc.TxContext) string { return ctx.Time.UTC().Format(DateLayout) }

// isNode reports whether d is org's node key.
func isNode(kv cc.Reader, org string, d cc.DID) (bool, error) {
	return identity.HasRole(kv, org, d, cc.RoleNode)
}

// issuePayload is the payload of "rx.issue".
type issuePayload struct {
	Org           string            `json:"org"`
	Anchors       []json.RawMessage `json:"anchors"`
	Prescriptions []json.RawMessage `json:"prescriptions"`
}

// issueItem is one prescription of an rx.issue payload.
type issueItem struct {
	RecordID           string `json:"record_id"`
	Medication         string `json:"medication"`
	QuantityMilli      int64  `json:"quantity_milli"`
	Unit               string `json:"unit"`
	Repeats            int    `json:"repeats"`
	ValidUntil         string `json:"valid_until"`
	DelegateMayCollect bool   `json:"delegate_may_collect"`
}

// IssueResult is the Data of rx.issue.
type IssueResult struct {
	Issued []string `json:"issued"` // prescription ids, in payload order
	Height int64    `json:"height"`
}

// handleIssue applies "rx.issue" {org, anchors?, prescriptions:
// [{record_id, medication?, quantity_milli, unit?, repeats, valid_until?,
// delegate_may_collect?}]}: 1..MaxPerTx prescriptions, all or none.
//
// record_id is a MedicationRequest anchored for org (before, or as a new
// record by this transaction's anchors); its author is the prescriber.
// Rules:
//   - field violations (quantity_milli 1..MaxQuantityMilli, repeats
//     0..MaxRepeats, valid_until a date from the block date to
//     MaxValidity after the block time, default DefaultValidityDays after
//     it; medication "system|code"; unit printable) and a record listed
//     twice are cc.Invalid; a record of another type is cc.Invalid;
//   - no such record is cc.NotFound, an erased one cc.Gone;
//   - a record of another organization, an author who is not a physician
//     of org (an active organization), or a signer who is neither org's
//     node nor the author is cc.Unauthorized;
//   - a record already issued is cc.Conflict.
//
// The prescription starts active with nothing dispensed; the patient is
// the anchor's.
func handleIssue(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeIssue
	var p issuePayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if !cc.ValidOrgID(p.Org) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "org %q must be an organization id", cc.Echo(p.Org))
	}
	if len(p.Prescriptions) == 0 || len(p.Prescriptions) > MaxPerTx {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "prescriptions must list 1 to %d prescriptions", MaxPerTx)
	}
	anchors, err := decodeAnchors(op, p.Anchors)
	if err != nil {
		return cc.Result{}, err
	}
	today := blockDate(ctx)
	latest := ctx.Time.UTC().Add(MaxValidity).Format(DateLayout)
	signerIsNode, err := isNode(kv, p.Org, ctx.Signer)
	if err != nil {
		return cc.Result{}, cc.E(op, cc.Internal, err)
	}
	out := make([]Prescription, len(p.Prescriptions))
	named := map[string]bool{}
	for i, raw := range p.Prescriptions {
		what := "prescriptions[" + strconv.Itoa(i) + "]"
		var it issueItem
		if err := decodeObject(op, what, raw, &it); err != nil {
			return cc.Result{}, err
		}
		bad := func(format string, args ...any) (cc.Result, error) {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, what+": "+format, args...)
		}
		switch {
		case !records.ValidID(it.RecordID) || !strings.HasPrefix(it.RecordID, RequestType+"/"):
			return bad("record_id %q must be a %s record id", cc.Echo(it.RecordID), RequestType)
		case named[it.RecordID]:
			return bad("%s is listed twice", it.RecordID)
		case it.QuantityMilli < 1 || it.QuantityMilli > MaxQuantityMilli:
			return bad("quantity_milli must be 1 to %d (thousandths of the unit)", MaxQuantityMilli)
		case it.Repeats < 0 || it.Repeats > MaxRepeats:
			return bad("repeats must be 0 to %d", MaxRepeats)
		case it.Medication != "" && !validCode(it.Medication):
			return bad("medication must be \"system|code\" of at most %d printable characters", MaxMedicationLen)
		case it.Unit != "" && !printable(it.Unit, MaxUnitLen):
			return bad("unit must be 1 to %d printable characters without spaces", MaxUnitLen)
		}
		named[it.RecordID] = true
		until := it.ValidUntil
		if until == "" {
			until = ctx.Time.UTC().AddDate(0, 0, DefaultValidityDays).Format(DateLayout)
		} else if d, err := time.Parse(DateLayout, until); err != nil || d.Format(DateLayout) != until {
			return bad("valid_until must be a date YYYY-MM-DD")
		}
		switch {
		case until < today:
			return bad("valid_until %s is in the past (the block date is %s)", until, today)
		case until > latest:
			return bad("valid_until %s is more than two years after the block date %s", until, today)
		}
		a, err := anchors.record(op, what, kv, it.RecordID)
		if err != nil {
			return cc.Result{}, err
		}
		if a.Type != RequestType {
			return bad("%s is a %s, not a %s", it.RecordID, a.Type, RequestType)
		}
		if a.Org != p.Org {
			return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s: %s is held by %s, not %s", what, it.RecordID, a.Org, p.Org)
		}
		physician, err := identity.HasRole(kv, p.Org, a.Author, cc.RolePhysician)
		if err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		if !physician {
			return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s: the author %s of %s is not a physician of active organization %q", what, a.Author, it.RecordID, p.Org)
		}
		if !signerIsNode && ctx.Signer != a.Author {
			return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s: %s may not issue %s (only its prescriber %s or %s's node)", what, ctx.Signer, it.RecordID, a.Author, p.Org)
		}
		if _, err := GetPrescription(kv, it.RecordID); err == nil {
			return cc.Result{}, cc.Errorf(op, cc.Conflict, "%s: %s was already issued", what, it.RecordID)
		} else if !cc.Is(cc.NotFound, err) {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		out[i] = Prescription{ID: it.RecordID, Patient: a.Patient, Prescriber: a.Author, Org: p.Org,
			Medication: it.Medication, QuantityMilli: it.QuantityMilli, Unit: it.Unit, Repeats: it.Repeats,
			ValidUntil: until, DelegateMayCollect: it.DelegateMayCollect, Status: StatusActive,
			IssuedAt: ctx.Height, IssuedTime: ctx.Time.UTC().Format(time.RFC3339Nano), UpdatedAt: ctx.Height}
	}
	events, err := anchors.apply(ctx, kv)
	if err != nil {
		return cc.Result{}, err
	}
	res := IssueResult{Issued: make([]string, len(out)), Height: ctx.Height}
	for i := range out {
		pr := &out[i]
		if err := put(kv, pr); err != nil {
			return cc.Result{}, err
		}
		if pr.Patient != "" {
			if err := cc.SetJSON(kv, patientKey(pr.Patient, pr.ID), pr.ID); err != nil {
				return cc.Result{}, err
			}
		}
		if err := cc.SetJSON(kv, prescriberKey(pr.Prescriber, pr.ID), pr.ID); err != nil {
			return cc.Result{}, err
		}
		res.Issued[i] = pr.ID
		events = append(events, cc.NewEvent(op, "prescription", pr.ID, "patient", string(pr.Patient),
			"prescriber", string(pr.Prescriber), "org", pr.Org))
	}
	data, err := cc.ResultData(op, res)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{Events: events, Data: data}, nil
}

// lookup is GetPrescription for the handler op.
func lookup(op string, kv cc.Reader, id string) (*Prescription, error) {
	pr, err := GetPrescription(kv, id)
	if cc.Is(cc.NotFound, err) {
		return nil, cc.Errorf(op, cc.NotFound, "no prescription %q was issued", cc.Echo(id))
	}
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	return pr, nil
}

// put writes a prescription.
func put(kv cc.KV, p *Prescription) error { return cc.SetJSON(kv, prescriptionKey(p.ID), p) }

// cancelPayload is the payload of "rx.cancel".
type cancelPayload struct {
	Prescription string `json:"prescription"`
	Reason       string `json:"reason"`
}

// handleCancel applies "rx.cancel" {prescription, reason}: the prescriber
// or the node of the prescription's organization cancels an active
// prescription (cc.Unauthorized for anyone else; cc.NotFound when there is
// no such prescription; cc.Conflict unless it is active). reason is a
// code of 1..MaxReasonLen characters [a-z0-9._-] (cc.Invalid otherwise),
// such as a FHIR MedicationRequest status reason ("altchoice", "clarif").
func handleCancel(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeCancel
	var p cancelPayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if !validReason(p.Reason) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "reason must be a code of 1 to %d characters a-z, 0-9, '.', '_' or '-'", MaxReasonLen)
	}
	pr, err := lookup(op, kv, p.Prescription)
	if err != nil {
		return cc.Result{}, err
	}
	if ctx.Signer != pr.Prescriber {
		node, err := isNode(kv, pr.Org, ctx.Signer)
		if err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		if !node {
			return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s may not cancel %s (only its prescriber or %s's node)", ctx.Signer, pr.ID, pr.Org)
		}
	}
	if pr.Status != StatusActive {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "%s is %s, not active", pr.ID, pr.Status)
	}
	pr.Status, pr.CancelledAt, pr.CancelledBy, pr.CancelReason, pr.UpdatedAt = StatusCancelled, ctx.Height, ctx.Signer, p.Reason, ctx.Height
	if err := put(kv, pr); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, pr)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{Events: []cc.Event{cc.NewEvent(op, "prescription", pr.ID, "by", string(ctx.Signer), "reason", p.Reason)}, Data: data}, nil
}

// collectionPayload is the payload of "rx.collection".
type collectionPayload struct {
	Prescription string `json:"prescription"`
	Allow        *bool  `json:"allow"`
}

// handleCollection applies "rx.collection" {prescription, allow}: the
// patient (the signer must be the prescription's patient, else
// cc.Unauthorized) allows or forbids collection of its dispenses by a
// delegate (one the patient granted the scope ScopeCollect). allow is
// required (cc.Invalid); no such prescription is cc.NotFound; one that is
// not active is cc.Conflict.
func handleCollection(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeCollection
	var p collectionPayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if p.Allow == nil {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "allow (true or false) is required")
	}
	pr, err := lookup(op, kv, p.Prescription)
	if err != nil {
		return cc.Result{}, err
	}
	if ctx.Signer != pr.Patient {
		return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "only the patient may decide who collects %s", pr.ID)
	}
	if pr.Status != StatusActive {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "%s is %s, not active", pr.ID, pr.Status)
	}
	pr.DelegateMayCollect, pr.UpdatedAt = *p.Allow, ctx.Height
	if err := put(kv, pr); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, pr)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{Events: []cc.Event{cc.NewEvent(op, "prescription", pr.ID, "allow", strconv.FormatBool(*p.Allow))}, Data: data}, nil
}

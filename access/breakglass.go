package access

import (
	"cmp"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	cc "carechain"
	"carechain/identity"
	"carechain/records"
)

// Limits and defaults of break-glass windows.
const (
	// MaxBreakGlassMinutes is the longest window, in minutes (8 hours).
	MaxBreakGlassMinutes = 480
	// DefaultBreakGlassMinutes is the window when the declaration gives 0.
	DefaultBreakGlassMinutes = 240
	// MaxReasonLen is the longest free-text reason or review note, in
	// characters.
	MaxReasonLen = 200
)

// ReasonCodes are the coded reasons for breaking the glass, sorted. "other"
// needs a free-text reason.
var ReasonCodes = []string{"life-threatening", "no-consent-possible", "other", "unconscious"}

// The outcomes of a privacy officer's review.
const (
	ReviewAccepted = "accepted"
	ReviewMisuse   = "misuse"
)

// ReviewItem is a break-glass window awaiting its privacy-officer review.
// Overdue is true once the review is later than the window's end plus the
// allowed delay.
type ReviewItem struct {
	cc.BreakGlass
	Overdue bool `json:"overdue"`
}

// declarePayload is the payload of "breakglass.declare".
type declarePayload struct {
	Patient    cc.DID `json:"patient"`
	Org        string `json:"org"`
	ReasonCode string `json:"reason_code"`
	Reason     string `json:"reason"`
	Minutes    int    `json:"minutes"` // 0 means DefaultBreakGlassMinutes
}

// reviewPayload is the payload of "breakglass.review".
type reviewPayload struct {
	ID      string `json:"id"`
	Outcome string `json:"outcome"`
	Note    string `json:"note"`
}

// GetBreakGlass returns window id, cc.NotFound if there is none.
func GetBreakGlass(kv cc.Reader, id string) (*cc.BreakGlass, error) {
	var key string
	found := false
	if validWindowID(id) {
		var err error
		if found, err = cc.GetJSON(kv, windowIDKey(id), &key); err != nil {
			return nil, err
		}
	}
	var w cc.BreakGlass
	if found {
		var err error
		if found, err = cc.GetJSON(kv, key, &w); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, cc.Errorf("access.breakglass", cc.NotFound, "no break-glass window %q", cc.Echo(id))
	}
	return &w, nil
}

// BreakGlassWindows returns every break-glass window declared for patient,
// oldest first (by height, then id).
func BreakGlassWindows(kv cc.Reader, patient cc.DID) ([]cc.BreakGlass, error) {
	out := []cc.BreakGlass{}
	if !patient.Valid() {
		return out, nil
	}
	if err := iterateJSON(kv, windowsPrefix(patient), func(w cc.BreakGlass) { out = append(out, w) }); err != nil {
		return nil, err
	}
	sortWindows(out)
	return out, nil
}

// PendingReviews returns org's break-glass windows that no privacy officer
// has reviewed yet, oldest first (by height, then id). A window is overdue
// when now is at or after its end plus overdueAfter. Pass the block time
// (or, off the consensus path, the wall clock) as now.
func PendingReviews(kv cc.Reader, org string, now time.Time, overdueAfter time.Duration) ([]ReviewItem, error) {
	out := []ReviewItem{}
	if !cc.ValidOrgID(org) {
		return out, nil
	}
	var keys []string
	if err := iterateJSON(kv, orgWindowsPrefix(org), func(k string) { keys = append(keys, k) }); err != nil {
		return nil, err
	}
	var ws []cc.BreakGlass
	for _, k := range keys {
		var w cc.BreakGlass
		found, err := cc.GetJSON(kv, k, &w)
		if err != nil {
			return nil, err
		}
		if found && w.Review == "" {
			ws = append(ws, w)
		}
	}
	sortWindows(ws)
	for _, w := range ws {
		out = append(out, ReviewItem{BreakGlass: w, Overdue: !now.Before(w.End.Add(overdueAfter))})
	}
	return out, nil
}

// sortWindows orders windows by height, then id.
func sortWindows(ws []cc.BreakGlass) {
	slices.SortFunc(ws, func(a, b cc.BreakGlass) int {
		return cmp.Or(cmp.Compare(a.Height, b.Height), cmp.Compare(a.ID, b.ID))
	})
}

// validWindowID reports whether id is "bg-" and 16 lowercase hex digits.
func validWindowID(id string) bool {
	if len(id) != 19 || id[:3] != "bg-" {
		return false
	}
	for i := 3; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// validFreeText reports whether s is at most MaxReasonLen characters of
// valid UTF-8 without control characters.
func validFreeText(s string) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxReasonLen {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// handleDeclare applies "breakglass.declare" {patient, org, reason_code,
// reason?, minutes?}: an emergency clinician opens a time-boxed window in
// which reads of the patient's records for emergency treatment (ETREAT)
// are allowed without consent, flagged and notified.
//
// Rules: patient must be a DID other than the signer, org a slug,
// reason_code one of ReasonCodes ("other" needs a reason), reason at most
// MaxReasonLen characters of text, minutes 0 (DefaultBreakGlassMinutes) or
// 1..MaxBreakGlassMinutes (cc.Invalid). The signer must have the
// emergency-clinician role in the active organization org
// (cc.Unauthorized); the patient must be registered (cc.NotFound); a window
// of the same clinician for the same patient still open at the block time
// is cc.Conflict.
//
// Writes the cc.BreakGlass (ID "bg-" + 16 hex digits of the transaction
// hash, Start the block time, End Start + minutes) at
// access/bg/{patient}/{clinician}/{id}, the indexes access/bgo/{org}/{id}
// and access/bgi/{id}, and a notification to the patient.
func handleDeclare(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeBreakGlassDeclare
	var p declarePayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if err := cc.CheckDID(op, "patient", p.Patient); err != nil {
		return cc.Result{}, err
	}
	if p.Patient == ctx.Signer {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "a clinician cannot break the glass on their own records")
	}
	if !cc.ValidOrgID(p.Org) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "org %q must be an organization id", cc.Echo(p.Org))
	}
	if _, ok := slices.BinarySearch(ReasonCodes, p.ReasonCode); !ok {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "reason_code %q must be one of %v", cc.Echo(p.ReasonCode), ReasonCodes)
	}
	if !validFreeText(p.Reason) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "reason must be at most %d characters of text", MaxReasonLen)
	}
	if p.ReasonCode == "other" && p.Reason == "" {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "reason_code \"other\" needs a reason")
	}
	minutes := p.Minutes
	if minutes == 0 {
		minutes = DefaultBreakGlassMinutes
	}
	if minutes < 1 || minutes > MaxBreakGlassMinutes {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "minutes must be 1 to %d (0 for %d)", MaxBreakGlassMinutes, DefaultBreakGlassMinutes)
	}
	if len(ctx.TxHash) < 8 {
		return cc.Result{}, cc.Errorf(op, cc.Internal, "transaction hash missing from the context")
	}
	ok, err := identity.HasRole(kv, p.Org, ctx.Signer, cc.RoleEmergency)
	if err != nil {
		return cc.Result{}, cc.E(op, cc.Internal, err)
	}
	if !ok {
		return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s is not an emergency clinician of an active organization %q", ctx.Signer, p.Org)
	}
	if _, err := identity.GetPatient(kv, p.Patient); cc.Is(cc.NotFound, err) {
		return cc.Result{}, cc.Errorf(op, cc.NotFound, "%s is not a registered patient", p.Patient)
	} else if err != nil {
		return cc.Result{}, cc.E(op, cc.Internal, err)
	}
	var open *cc.BreakGlass
	err = iterateJSON(kv, clinicianWindowsPrefix(p.Patient, ctx.Signer), func(w cc.BreakGlass) {
		if open == nil && w.Review != ReviewMisuse && !ctx.Time.Before(w.Start) && ctx.Time.Before(w.End) {
			open = &w
		}
	})
	if err != nil {
		return cc.Result{}, err
	}
	if open != nil {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "window %s for this patient is open until %s", open.ID, open.End.Format(time.RFC3339))
	}
	id := "bg-" + hex.EncodeToString(ctx.TxHash[:8])
	if b, err := kv.Get(windowIDKey(id)); err != nil {
		return cc.Result{}, cc.E(op, cc.Internal, err)
	} else if b != nil {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "window %s exists", id)
	}
	reason := p.ReasonCode
	if p.Reason != "" {
		reason += ": " + p.Reason
	}
	start := ctx.Time.UTC()
	w := cc.BreakGlass{
		ID: id, Patient: p.Patient, Clinician: ctx.Signer, Org: p.Org, Reason: reason,
		Start: start, End: start.Add(time.Duration(minutes) * time.Minute), Height: ctx.Height,
	}
	text := "Emergency (break-glass) access to your records was opened by " + string(w.Clinician) + " of " + w.Org +
		" until " + w.End.Format(time.RFC3339) + " (reason: " + p.ReasonCode + ")"
	// Notify validates before it writes, so it goes first.
	if _, err := records.Notify(kv, ctx, p.Patient, records.NoticeBreakGlass, id, text); err != nil {
		return cc.Result{}, err
	}
	key := windowKey(w.Patient, w.Clinician, id)
	if err := cc.SetJSON(kv, key, w); err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, orgWindowKey(w.Org, id), key); err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, windowIDKey(id), key); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, w)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op,
			"id", id,
			"patient", string(w.Patient),
			"clinician", string(w.Clinician),
			"org", w.Org,
			"reason_code", p.ReasonCode,
			"end", w.End.Format(time.RFC3339))},
		Data: data,
	}, nil
}

// handleReview applies "breakglass.review" {id, outcome, note?}: a privacy
// officer of the window's organization records the review, "accepted" or
// "misuse"; a window reviewed as misuse allows no further reads. The
// patient is notified of the outcome; the note travels in the transaction
// and its event, not in state.
//
// Rules: id must be a window id, outcome one of the two, note at most
// MaxReasonLen characters of text (cc.Invalid); an unknown window is
// cc.NotFound; the signer must be a privacy officer of the window's active
// organization and not the window's clinician (cc.Unauthorized); a window
// reviewed before is cc.Conflict.
func handleReview(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeBreakGlassReview
	var p reviewPayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if !validWindowID(p.ID) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "id %q must be a break-glass window id", cc.Echo(p.ID))
	}
	if p.Outcome != ReviewAccepted && p.Outcome != ReviewMisuse {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "outcome must be %q or %q", ReviewAccepted, ReviewMisuse)
	}
	if !validFreeText(p.Note) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "note must be at most %d characters of text", MaxReasonLen)
	}
	w, err := GetBreakGlass(kv, p.ID)
	if cc.Is(cc.NotFound, err) {
		return cc.Result{}, err
	}
	if err != nil {
		return cc.Result{}, cc.E(op, cc.Internal, err)
	}
	ok, err := identity.HasRole(kv, w.Org, ctx.Signer, cc.RolePrivacyOfficer)
	if err != nil {
		return cc.Result{}, cc.E(op, cc.Internal, err)
	}
	if !ok {
		return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s is not a privacy officer of %q", ctx.Signer, w.Org)
	}
	if ctx.Signer == w.Clinician {
		return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "a clinician cannot review their own break-glass window")
	}
	if w.Review != "" {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "window %s was reviewed at height %d (%s)", w.ID, w.ReviewedAt, w.Review)
	}
	w.Review, w.ReviewedBy, w.ReviewedAt = p.Outcome, ctx.Signer, ctx.Height
	outcome := "accepted it"
	if p.Outcome == ReviewMisuse {
		outcome = "flagged it as misuse"
	}
	text := "The privacy officer of " + w.Org + " reviewed the emergency access by " + string(w.Clinician) + " and " + outcome
	if _, err := records.Notify(kv, ctx, w.Patient, records.NoticeBreakGlassReview, w.ID, text); err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, windowKey(w.Patient, w.Clinician, w.ID), w); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, w)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op,
			"id", w.ID,
			"org", w.Org,
			"reviewer", string(ctx.Signer),
			"outcome", p.Outcome,
			"height", strconv.FormatInt(ctx.Height, 10),
			"note", p.Note)},
		Data: data,
	}, nil
}

package records

import (
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"

	cc "carechain"
)

// The kinds of notification carechain writes to a patient's feed.
const (
	NoticeErasure          = "erasure"            // records were erased (Ref: the record id when one)
	NoticeBreakGlass       = "break-glass"        // an emergency access window was opened (Ref: window id)
	NoticeBreakGlassRead   = "break-glass-read"   // a read under an emergency window (Ref: access event id)
	NoticeBreakGlassReview = "break-glass-review" // the privacy officer reviewed a window (Ref: window id)
)

// Limits of notifications.
const (
	// MaxNotificationsPerBlock is how many notifications one patient may
	// receive in one block (the width of the idx key segment).
	MaxNotificationsPerBlock = 10000
	// MaxNoticeKindLen is the longest notification kind, in bytes.
	MaxNoticeKindLen = 40
	// MaxNoticeRefLen is the longest notification reference, in bytes.
	MaxNoticeRefLen = 200
	// MaxNoticeTextLen is the longest notification text, in bytes.
	MaxNoticeTextLen = 1000
)

// Notify appends a notification of kind about ref with text to patient's
// feed, at the next free index of the block ctx.Height, and returns it. Its
// ID is "n-{height}-{idx}", unique within the patient's feed. Text must be
// generated, non-PHI text (DIDs, organization ids, record ids, codes).
//
// Notify validates before it writes: a bad patient, kind, ref or text is
// cc.Invalid, a patient who already received MaxNotificationsPerBlock
// notifications in this block is cc.FailedPrecondition, and a failing read
// is cc.Internal; in each case nothing is written. Package access uses it
// for break-glass notices (access imports records, not the reverse).
func Notify(kv cc.KV, ctx cc.TxContext, patient cc.DID, kind, ref, text string) (cc.Notification, error) {
	const op = "records.notify"
	if err := cc.CheckDID(op, "patient", patient); err != nil {
		return cc.Notification{}, err
	}
	if !validNoticeKind(kind) {
		return cc.Notification{}, cc.Errorf(op, cc.Invalid, "kind %q must match [a-z0-9-]{1,%d}", cc.Echo(kind), MaxNoticeKindLen)
	}
	if len(ref) > MaxNoticeRefLen || !validText(ref, true) {
		return cc.Notification{}, cc.Errorf(op, cc.Invalid, "ref must be at most %d bytes of text", MaxNoticeRefLen)
	}
	if len(text) > MaxNoticeTextLen || !validText(text, false) {
		return cc.Notification{}, cc.Errorf(op, cc.Invalid, "text must be 1 to %d bytes of text", MaxNoticeTextLen)
	}
	idx, err := NotificationsInBlock(kv, patient, ctx.Height)
	if err != nil {
		return cc.Notification{}, err
	}
	if idx >= MaxNotificationsPerBlock {
		return cc.Notification{}, cc.Errorf(op, cc.FailedPrecondition, "%s already has %d notifications in block %d; retry in a later block", patient, MaxNotificationsPerBlock, ctx.Height)
	}
	n := cc.Notification{
		ID:      fmt.Sprintf("n-%d-%d", ctx.Height, idx),
		Patient: patient,
		Kind:    kind,
		Ref:     ref,
		Text:    text,
		Height:  ctx.Height,
		Time:    ctx.Time.UTC(),
	}
	if err := cc.SetJSON(kv, notificationKey(patient, ctx.Height, idx), n); err != nil {
		return cc.Notification{}, err
	}
	return n, nil
}

// NotificationsInBlock returns how many notifications patient received in
// the block at height (at most MaxNotificationsPerBlock), so that a batch
// can check before its first write that Notify will not refuse.
func NotificationsInBlock(kv cc.Reader, patient cc.DID, height int64) (int, error) {
	n := 0
	if !patient.Valid() {
		return 0, nil
	}
	err := kv.Iterate(notificationBlockPrefix(patient, height), func(string, []byte) bool {
		n++
		return n < MaxNotificationsPerBlock
	})
	if err != nil {
		return 0, cc.E("records.notify", cc.Internal, err)
	}
	return n, nil
}

// Notifications returns patient's notification feed, newest first.
func Notifications(kv cc.Reader, patient cc.DID) ([]cc.Notification, error) {
	out := []cc.Notification{}
	if !patient.Valid() {
		return out, nil
	}
	err := iterateJSON(kv, notificationsPrefix(patient), func(n cc.Notification) bool {
		out = append(out, n)
		return true
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}

// validNoticeKind reports whether s matches [a-z0-9-]{1,MaxNoticeKindLen}.
func validNoticeKind(s string) bool {
	if len(s) == 0 || len(s) > MaxNoticeKindLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validText reports whether s is valid UTF-8 without control characters,
// and non-empty unless empty is allowed.
func validText(s string, empty bool) bool {
	if s == "" {
		return empty
	}
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return false
		}
	}
	return utf8.ValidString(s)
}

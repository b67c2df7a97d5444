package credential

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	cc "carechain"
	"carechain/identity"
)

// CRLMethod is the revocation method of SMART Health Cards' revocation
// lists: cards are revoked by their "rid".
const CRLMethod = "rid"

// Revocation is a revoked revocation id of one issuer key: every card
// signed with Kid whose vc.rid is RID is revoked or, when Until is set
// (Unix seconds), every such card issued before Until (its nbf < Until).
type Revocation struct {
	Kid    string    `json:"kid"`
	RID    string    `json:"rid"`
	Until  int64     `json:"until,omitempty"`
	Reason string    `json:"reason"`
	Org    string    `json:"org"`
	By     cc.DID    `json:"by"`
	Height int64     `json:"height"`
	Time   time.Time `json:"time"`
}

// Entry is the revocation's entry in the revocation list: "rid" or
// "rid.until".
func (r Revocation) Entry() string {
	if r.Until > 0 {
		return r.RID + "." + strconv.FormatInt(r.Until, 10)
	}
	return r.RID
}

// CRL is the SMART Health Cards revocation list of one key, as served at
// {issuer}/.well-known/crl/{kid}.json: Ctr is the key's crlVersion, RIDs
// its entries ("rid" or "rid.timestamp").
type CRL struct {
	Kid    string   `json:"kid"`
	Method string   `json:"method"`
	Ctr    int      `json:"ctr"`
	RIDs   []string `json:"rids"`
}

// Revokes reports whether the list revokes a card with revocation id rid
// issued at nbf: an entry "rid" revokes every such card, "rid.t" those with
// nbf before t (Unix seconds). Malformed entries are ignored.
func (c CRL) Revokes(rid string, nbf time.Time) bool {
	if rid == "" {
		return false
	}
	for _, e := range c.RIDs {
		r, ts, timed := strings.Cut(e, ".")
		if r != rid {
			continue
		}
		if !timed {
			return true
		}
		t, err := strconv.ParseInt(ts, 10, 64)
		if err == nil && nbf.Before(time.Unix(t, 0)) {
			return true
		}
	}
	return false
}

// ParseEntry splits a revocation list entry "rid" or "rid.timestamp".
func ParseEntry(e string) (rid string, until int64, ok bool) {
	rid, ts, timed := strings.Cut(e, ".")
	if !ValidRID(rid) {
		return "", 0, false
	}
	if !timed {
		return rid, 0, true
	}
	if ts == "" || len(ts) > 12 || ts[0] == '0' {
		return "", 0, false
	}
	for i := 0; i < len(ts); i++ {
		if ts[i] < '0' || ts[i] > '9' {
			return "", 0, false
		}
	}
	n, _ := strconv.ParseInt(ts, 10, 64)
	return rid, n, true
}

// revokePayload is the payload of "credential.revoke".
type revokePayload struct {
	Org    string   `json:"org"`
	Kid    string   `json:"kid"`
	RIDs   []string `json:"rids"`
	Reason string   `json:"reason"`
}

// RevokeResult is the Data of a credential.revoke transaction.
type RevokeResult struct {
	Kid     string   `json:"kid"`
	Revoked []string `json:"revoked"` // the entries added or widened
	Skipped int      `json:"skipped"` // already revoked as widely
	Ctr     int      `json:"ctr"`     // the key's revocation list version now
}

// Revocations returns the revocations of key kid, ordered by rid.
func Revocations(kv cc.Reader, kid string) ([]Revocation, error) {
	out := []Revocation{}
	if !ValidKid(kid) {
		return out, nil
	}
	err := cc.IterateJSON("credential.revocations", kv, revocationsPrefix(kid), func(r Revocation) bool {
		out = append(out, r)
		return true
	})
	return out, err
}

// RevocationList returns the revocation list of key kid (empty, ctr 0,
// when nothing is revoked), cc.NotFound if no issuer ever had the key.
func RevocationList(kv cc.Reader, kid string) (*CRL, error) {
	if _, err := IssuerOfKey(kv, kid); err != nil {
		return nil, err
	}
	rs, err := Revocations(kv, kid)
	if err != nil {
		return nil, err
	}
	n, err := crlVersion(kv, kid)
	if err != nil {
		return nil, err
	}
	c := &CRL{Kid: kid, Method: CRLMethod, Ctr: n, RIDs: make([]string, len(rs))}
	for i, r := range rs {
		c.RIDs[i] = r.Entry()
	}
	return c, nil
}

// crlVersion is the key's revocation list version: the number of
// credential.revoke transactions that changed its list.
func crlVersion(kv cc.Reader, kid string) (int, error) {
	var n int
	if !ValidKid(kid) {
		return 0, nil
	}
	_, err := cc.GetJSON(kv, counterKey(kid), &n)
	return n, err
}

func validReason(s string) bool {
	if s == "" || len(s) > MaxReasonLen || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return false
	}
	return !strings.ContainsFunc(s, unicode.IsControl)
}

// handleRevoke applies "credential.revoke" {org, kid, rids, reason}: it
// adds each entry of rids ("rid" revokes every card of the key with that
// rid; "rid.timestamp" those issued before the Unix second timestamp) to
// the key's revocation list and increments the list's version (ctr).
//
// Rules: org must be an organization id, kid a key id, rids 1..MaxRIDsPerTx
// entries of distinct rids (each 1..24 base64url characters, optionally
// ".timestamp"), and reason 1..MaxReasonLen bytes of text (cc.Invalid).
// The signer must be an admin, physician or node member of the active org
// (cc.Unauthorized). The key must belong to one of org's issuers
// (cc.NotFound otherwise, whether no issuer or another org's issuer has
// it). An entry already revoked as widely (the rid with no timestamp, or a
// later one) is skipped; when every entry is, the transaction is
// cc.Conflict.
func handleRevoke(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeRevoke
	var p revokePayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if !cc.ValidOrgID(p.Org) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "org %q is not an organization id", cc.Echo(p.Org))
	}
	if !ValidKid(p.Kid) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "kid %q is not a key id (a 43-character RFC 7638 thumbprint)", cc.Echo(p.Kid))
	}
	if len(p.RIDs) == 0 || len(p.RIDs) > MaxRIDsPerTx {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "rids must list 1 to %d revocation ids", MaxRIDsPerTx)
	}
	type entry struct {
		rid   string
		until int64
	}
	entries := make([]entry, len(p.RIDs))
	seen := make(map[string]bool, len(p.RIDs))
	for i, e := range p.RIDs {
		rid, until, ok := ParseEntry(e)
		if !ok {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "rids[%d] %q is not a revocation id (1 to %d base64url characters, optionally .timestamp)", i, cc.Echo(e), MaxRIDLen)
		}
		if seen[rid] {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "rids[%d] repeats revocation id %s", i, rid)
		}
		seen[rid] = true
		entries[i] = entry{rid, until}
	}
	if !validReason(p.Reason) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "reason must be 1 to %d bytes of text", MaxReasonLen)
	}
	allowed := false
	for _, role := range []cc.Role{cc.RoleAdmin, cc.RolePhysician, cc.RoleNode} {
		ok, err := identity.HasRole(kv, p.Org, ctx.Signer, role)
		if err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		if ok {
			allowed = true
			break
		}
	}
	if !allowed {
		return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s may not revoke cards of %q (needs the admin, physician or node role in the active organization)", ctx.Signer, p.Org)
	}
	is, err := IssuerOfKey(kv, p.Kid)
	if err != nil && !cc.Is(cc.NotFound, err) {
		return cc.Result{}, cc.E(op, cc.Internal, err)
	}
	if err != nil || is.Org != p.Org {
		return cc.Result{}, cc.Errorf(op, cc.NotFound, "%q has no issuer key %s", p.Org, p.Kid)
	}
	var changes []Revocation
	for _, e := range entries {
		var old Revocation
		found, err := cc.GetJSON(kv, revocationKey(p.Kid, e.rid), &old)
		if err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		if found && (old.Until == 0 || (e.until != 0 && e.until <= old.Until)) {
			continue
		}
		changes = append(changes, Revocation{Kid: p.Kid, RID: e.rid, Until: e.until, Reason: p.Reason, Org: p.Org,
			By: ctx.Signer, Height: ctx.Height, Time: ctx.Time.UTC()})
	}
	if len(changes) == 0 {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "every revocation id named is already revoked")
	}
	n, err := crlVersion(kv, p.Kid)
	if err != nil {
		return cc.Result{}, cc.E(op, cc.Internal, err)
	}
	res := RevokeResult{Kid: p.Kid, Revoked: make([]string, len(changes)), Skipped: len(entries) - len(changes), Ctr: n + 1}
	for i, r := range changes {
		if err := cc.SetJSON(kv, revocationKey(r.Kid, r.RID), r); err != nil {
			return cc.Result{}, err
		}
		res.Revoked[i] = r.Entry()
	}
	if err := cc.SetJSON(kv, counterKey(p.Kid), res.Ctr); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, res)
	if err != nil {
		return cc.Result{}, err
	}
	ev := cc.NewEvent(op, "org", p.Org, "kid", p.Kid, "count", strconv.Itoa(len(changes)), "ctr", strconv.Itoa(res.Ctr))
	return cc.Result{Events: []cc.Event{ev}, Data: data}, nil
}

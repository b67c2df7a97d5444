package supply

import (
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	cc "carechain"
)

// TypeQuarantineReview is the transaction type of a regulator's decision
// on quarantined items.
const TypeQuarantineReview = "supply.quarantine.review"

// The decisions of a quarantine review.
const (
	DecisionRelease = "release"
	DecisionDestroy = "destroy"
)

// MaxReasonLen is the longest reason of a review or a recall, in bytes.
const MaxReasonLen = 500

// reviewRoles are the member roles with which a regulator's member
// reviews quarantines and recalls lots.
var reviewRoles = []cc.Role{cc.RoleAdmin, cc.RolePublicHealthOffice}

// Review is the on-chain evidence of a regulator's quarantine decision.
type Review struct {
	Org      string   `json:"org"` // the regulator
	Signer   cc.DID   `json:"signer"`
	Decision string   `json:"decision"` // DecisionRelease or DecisionDestroy
	Reason   string   `json:"reason"`
	EPCs     []string `json:"epcs"`     // as listed in the payload
	Affected []string `json:"affected"` // every item released or destroyed, in walk order
	Height   int64    `json:"height"`
	Time     string   `json:"time"` // block time, RFC 3339
	TxHash   string   `json:"tx_hash"`
}

// reviewPayload is the payload of "supply.quarantine.review".
type reviewPayload struct {
	Org      string   `json:"org"`
	EPCs     []string `json:"epcs"`
	Decision string   `json:"decision"`
	Reason   string   `json:"reason"`
}

// handleQuarantineReview applies "supply.quarantine.review" {org, epcs,
// decision, reason}: 1..MaxEPCsPerEvent distinct EPCs, decision "release"
// or "destroy", reason 1..MaxReasonLen printable bytes (cc.Invalid). org
// must be an active regulator and the signer a member with role admin or
// public-health-officer (cc.Unauthorized). Every listed EPC must exist
// (cc.NotFound) and be quarantined (cc.FailedPrecondition).
//
// release restores, for each listed EPC and everything packed in it, every
// quarantined item's status and disposition from before the quarantine
// (its cumulative excursion stays: the stability budget is spent). destroy
// decommissions each listed EPC and everything packed in it, disposition
// "destroyed"; a listed EPC leaves the container it was packed in.
//
// Writes the items, the evidence sup/rev/{height}/{idx}; emits
// supply.quarantine.review; Data is the Review.
func handleQuarantineReview(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeQuarantineReview
	var p reviewPayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if !cc.ValidOrgID(p.Org) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "org %q must be an organization id", cc.Echo(p.Org))
	}
	if len(p.EPCs) == 0 || len(p.EPCs) > MaxEPCsPerEvent {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "epcs must list 1 to %d EPCs", MaxEPCsPerEvent)
	}
	seen := make(map[string]bool, len(p.EPCs))
	for _, e := range p.EPCs {
		if !ValidEPC(e) {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "EPC %q is not an SGTIN, SSCC, GRAI or GIAI URN or GS1 Digital Link", cc.Echo(e))
		}
		if seen[e] {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "EPC %s is listed twice", e)
		}
		seen[e] = true
	}
	if p.Decision != DecisionRelease && p.Decision != DecisionDestroy {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "decision %q must be release or destroy", cc.Echo(p.Decision))
	}
	if !validName(p.Reason, MaxReasonLen) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "reason must be 1 to %d bytes of printable text", MaxReasonLen)
	}
	if err := authorize(op, kv, p.Org, ctx.Signer, cc.OrgRegulator, reviewRoles...); err != nil {
		return cc.Result{}, err
	}
	c := &capture{op: op, org: p.Org, height: ctx.Height, st: newState(kv)}
	tops := make([]*Item, len(p.EPCs))
	for j, epc := range p.EPCs {
		it, err := c.st.get(epc)
		if err != nil {
			return cc.Result{}, c.internal(err)
		}
		if it == nil {
			return cc.Result{}, cc.Errorf(op, cc.NotFound, "EPC %s was never commissioned", epc)
		}
		if it.Status != StatusQuarantined {
			return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "EPC %s is not quarantined (status %s)", epc, it.Status)
		}
		tops[j] = it
	}
	rev := Review{Org: p.Org, Signer: ctx.Signer, Decision: p.Decision, Reason: p.Reason, EPCs: p.EPCs,
		Affected: []string{}, Height: ctx.Height, Time: ctx.Time.UTC().Format(time.RFC3339Nano), TxHash: hex.EncodeToString(ctx.TxHash)}
	for _, top := range tops {
		if p.Decision == DecisionDestroy && top.Status != StatusDecommissioned && top.Parent != "" {
			parent, err := c.st.get(top.Parent)
			if err != nil {
				return cc.Result{}, c.internal(err)
			}
			if parent != nil && parent.Status != StatusDecommissioned {
				parent.Children = remove(parent.Children, top.EPC)
				parent.UpdatedAt = ctx.Height
				c.st.put(parent)
				top.Parent = ""
			}
		}
		err := c.walk(top, func(x *Item) error {
			switch {
			case p.Decision == DecisionRelease && x.Status == StatusQuarantined:
				x.Status, x.Disposition = x.PrevStatus, x.PrevDisposition
				if x.Status == "" {
					x.Status = StatusActive
				}
			case p.Decision == DecisionDestroy && x.Status != StatusDecommissioned:
				x.Status, x.Disposition = StatusDecommissioned, DispositionDestroyed
			default:
				return nil
			}
			x.PrevStatus, x.PrevDisposition, x.UpdatedAt = "", "", ctx.Height
			c.st.put(x)
			rev.Affected = append(rev.Affected, x.EPC)
			return nil
		})
		if err != nil {
			return cc.Result{}, err
		}
	}
	if err := c.st.flush(kv); err != nil {
		return cc.Result{}, err
	}
	idx, err := countIn(kv, blockPrefix(prefixReview, ctx.Height))
	if err != nil {
		return cc.Result{}, c.internal(err)
	}
	if err := cc.SetJSON(kv, blockKey(prefixReview, ctx.Height, idx), rev); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, rev)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{Data: data, Events: []cc.Event{cc.NewEvent("supply.quarantine.review",
		"org", p.Org, "decision", p.Decision, "epcs", strconv.Itoa(len(p.EPCs)), "affected", strconv.Itoa(len(rev.Affected)))}}, nil
}

// Reviews returns every quarantine review, oldest first.
func Reviews(kv cc.Reader) ([]Review, error) {
	out := []Review{}
	err := cc.IterateJSON("supply.reviews", kv, prefixReview, func(r Review) bool {
		out = append(out, r)
		return true
	})
	return out, err
}

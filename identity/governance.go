package identity

import (
	"encoding/json"
	"slices"
	"strconv"

	cc "carechain"
)

// The governance actions a proposal may carry.
const (
	ActionOrgAdmit        = "org.admit"        // {id, name, type, admin, did?}
	ActionOrgSuspend      = "org.suspend"      // {id}
	ActionOrgReinstate    = "org.reinstate"    // {id}
	ActionValidatorUpdate = "validator.update" // {pub_key, power}
	ActionGovUpdate       = "gov.update"       // {members, threshold}
)

// MaxGovMembers is the largest governance membership.
const MaxGovMembers = 100

// applyFunc performs a validated governance action: it writes to kv and
// appends the action's events and validator updates to res. It only fails
// on an Internal error.
type applyFunc func(ctx cc.TxContext, kv cc.KV, res *cc.Result) error

// proposePayload is the payload of "gov.propose".
type proposePayload struct {
	Action string          `json:"action"`
	Params json.RawMessage `json:"params"`
}

// approvePayload is the payload of "gov.approve".
type approvePayload struct {
	Proposal uint64 `json:"proposal"`
}

// govUpdateParams are the parameters of the "gov.update" action.
type govUpdateParams struct {
	Members   []cc.DID `json:"members"`
	Threshold int      `json:"threshold"`
}

// proposalResult is the Data of governance transactions.
type proposalResult struct {
	Proposal  uint64            `json:"proposal"`
	Action    string            `json:"action"`
	Status    cc.ProposalStatus `json:"status"`
	Approvals int               `json:"approvals"`
	Threshold int               `json:"threshold"`
}

// GetGovernance returns the governance members and threshold, cc.NotFound
// before genesis wrote them.
func GetGovernance(kv cc.Reader) (*cc.Governance, error) {
	var g cc.Governance
	found, err := cc.GetJSON(kv, keyGovernance, &g)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, cc.Errorf("identity.gov", cc.NotFound, "no governance on the ledger")
	}
	return &g, nil
}

// GetProposal returns proposal id, cc.NotFound if there is none.
func GetProposal(kv cc.Reader, id uint64) (*cc.Proposal, error) {
	var p cc.Proposal
	found, err := cc.GetJSON(kv, proposalKey(id), &p)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, cc.Errorf("identity.proposal", cc.NotFound, "no proposal %d", id)
	}
	return &p, nil
}

// ListProposals returns every proposal, open or executed, in id order.
func ListProposals(kv cc.Reader) ([]cc.Proposal, error) {
	out := []cc.Proposal{}
	err := iterateJSON(kv, prefixProposal, func(p cc.Proposal) { out = append(out, p) })
	return out, err
}

// governanceMember returns the governance and cc.Unauthorized unless signer
// is one of its members.
func governanceMember(op string, kv cc.Reader, signer cc.DID) (*cc.Governance, error) {
	g, err := GetGovernance(kv)
	if err != nil && !cc.Is(cc.NotFound, err) {
		return nil, err
	}
	if g == nil || !slices.Contains(g.Members, signer) {
		return nil, cc.Errorf(op, cc.Unauthorized, "%s is not a governance member", signer)
	}
	return g, nil
}

// countApprovals counts the approvals given by current members of g.
func countApprovals(g *cc.Governance, approvals []cc.DID) int {
	n := 0
	for _, a := range approvals {
		if slices.Contains(g.Members, a) {
			n++
		}
	}
	return n
}

// prepareAction validates action's params against the state. It returns
// the normalized params (stored, as canonical JSON, in the proposal) and the
// function that performs the action. An unknown action or bad params are
// cc.Invalid (cc.Malformed if params do not decode); state that forbids the
// action gives the kind the action documents.
func prepareAction(op string, kv cc.Reader, action string, params json.RawMessage) (json.RawMessage, applyFunc, error) {
	var (
		norm  any
		apply applyFunc
		err   error
	)
	switch action {
	case ActionOrgAdmit:
		norm, apply, err = prepareOrgAdmit(op, kv, params)
	case ActionOrgSuspend:
		norm, apply, err = prepareOrgActive(op, kv, params, false)
	case ActionOrgReinstate:
		norm, apply, err = prepareOrgActive(op, kv, params, true)
	case ActionValidatorUpdate:
		norm, apply, err = prepareValidatorUpdate(op, kv, params)
	case ActionGovUpdate:
		norm, apply, err = prepareGovUpdate(op, kv, params)
	default:
		return nil, nil, cc.Errorf(op, cc.Invalid, "unknown action %q", cc.Echo(action))
	}
	if err != nil {
		return nil, nil, err
	}
	b, err := json.Marshal(norm)
	if err != nil {
		return nil, nil, cc.E(op, cc.Internal, err)
	}
	canon, err := cc.Canonical(b)
	if err != nil {
		return nil, nil, cc.E(op, cc.Internal, err)
	}
	return canon, apply, nil
}

// checkGovernance validates a governance membership: 1..MaxGovMembers
// distinct did:cc members and 1 ≤ threshold ≤ members (cc.Invalid). It
// returns the members sorted.
func checkGovernance(op string, members []cc.DID, threshold int) ([]cc.DID, error) {
	n := len(members)
	if n == 0 || n > MaxGovMembers {
		return nil, cc.Errorf(op, cc.Invalid, "governance needs 1 to %d members", MaxGovMembers)
	}
	if threshold < 1 || threshold > n {
		return nil, cc.Errorf(op, cc.Invalid, "threshold %d must be between 1 and the %d members", threshold, n)
	}
	sorted := slices.Clone(members)
	slices.Sort(sorted)
	for i, m := range sorted {
		if err := cc.CheckDID(op, "member", m); err != nil {
			return nil, err
		}
		if i > 0 && sorted[i-1] == m {
			return nil, cc.Errorf(op, cc.Invalid, "member %s is listed twice", m)
		}
	}
	return sorted, nil
}

// prepareGovUpdate validates "gov.update" params {members, threshold}: see
// checkGovernance; every member must be on the ledger (cc.NotFound).
func prepareGovUpdate(op string, kv cc.Reader, raw json.RawMessage) (any, applyFunc, error) {
	var p govUpdateParams
	if err := cc.DecodeStrict(op, "params", raw, &p); err != nil {
		return nil, nil, err
	}
	members, err := checkGovernance(op, p.Members, p.Threshold)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range members {
		if _, err := existingDID(op, kv, "member", m); err != nil {
			return nil, nil, err
		}
	}
	g := cc.Governance{Members: members, Threshold: p.Threshold}
	apply := func(ctx cc.TxContext, kv cc.KV, res *cc.Result) error {
		if err := cc.SetJSON(kv, keyGovernance, g); err != nil {
			return err
		}
		res.Events = append(res.Events, cc.NewEvent(ActionGovUpdate, "members", joinDIDs(g.Members), "threshold", strconv.Itoa(g.Threshold)))
		return nil
	}
	return govUpdateParams(g), apply, nil
}

// handleGovPropose applies "gov.propose" {action, params}: a governance
// member proposes an action (see prepareAction); the proposal gets the next
// id (from 1) and the proposer's approval, and executes at once if that
// meets the threshold. A non-member is cc.Unauthorized.
func handleGovPropose(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeGovPropose
	var p proposePayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if _, err := signerRecord(op, kv, ctx.Signer); err != nil {
		return cc.Result{}, err
	}
	g, err := governanceMember(op, kv, ctx.Signer)
	if err != nil {
		return cc.Result{}, err
	}
	params, apply, err := prepareAction(op, kv, p.Action, p.Params)
	if err != nil {
		return cc.Result{}, err
	}
	next := uint64(1)
	if _, err := cc.GetJSON(kv, keyProposalNext, &next); err != nil {
		return cc.Result{}, err
	}
	prop := cc.Proposal{
		ID: next, Action: p.Action, Params: params, Proposer: ctx.Signer,
		Approvals: []cc.DID{ctx.Signer}, Created: ctx.Height, Status: cc.ProposalOpen,
	}
	res := cc.Result{Events: []cc.Event{cc.NewEvent(op,
		"proposal", strconv.FormatUint(prop.ID, 10), "action", prop.Action, "proposer", string(ctx.Signer))}}
	if err := cc.SetJSON(kv, keyProposalNext, next+1); err != nil {
		return cc.Result{}, err
	}
	return finishProposal(op, ctx, kv, g, &prop, apply, res)
}

// handleGovApprove applies "gov.approve" {proposal}: a governance member
// approves an open proposal, which executes in the same transaction once
// approvals by current members reach the threshold; the result then carries
// the action's events and validator updates. A non-member is
// cc.Unauthorized, an unknown proposal cc.NotFound, an executed one
// cc.FailedPrecondition, a repeated approval cc.Conflict; if the action is
// no longer valid (e.g. the organization id was taken meanwhile) the
// approval fails with the action's error and the proposal stays open.
func handleGovApprove(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeGovApprove
	var p approvePayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if _, err := signerRecord(op, kv, ctx.Signer); err != nil {
		return cc.Result{}, err
	}
	g, err := governanceMember(op, kv, ctx.Signer)
	if err != nil {
		return cc.Result{}, err
	}
	prop, err := GetProposal(kv, p.Proposal)
	if cc.Is(cc.NotFound, err) {
		return cc.Result{}, cc.Errorf(op, cc.NotFound, "no proposal %d", p.Proposal)
	}
	if err != nil {
		return cc.Result{}, err
	}
	if prop.Status != cc.ProposalOpen {
		return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "proposal %d is %s", prop.ID, prop.Status)
	}
	approvals, added := insertSorted(prop.Approvals, ctx.Signer)
	if !added {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "%s already approved proposal %d", ctx.Signer, prop.ID)
	}
	prop.Approvals = approvals
	var apply applyFunc
	if countApprovals(g, prop.Approvals) >= g.Threshold {
		if _, apply, err = prepareAction(op, kv, prop.Action, prop.Params); err != nil {
			return cc.Result{}, err
		}
	}
	res := cc.Result{Events: []cc.Event{cc.NewEvent(op,
		"proposal", strconv.FormatUint(prop.ID, 10), "action", prop.Action, "approver", string(ctx.Signer))}}
	return finishProposal(op, ctx, kv, g, prop, apply, res)
}

// finishProposal executes prop if its approvals meet g's threshold (apply
// is then non-nil and already validated), stores it and completes res.
func finishProposal(op string, ctx cc.TxContext, kv cc.KV, g *cc.Governance, prop *cc.Proposal, apply applyFunc, res cc.Result) (cc.Result, error) {
	approvals := countApprovals(g, prop.Approvals)
	if approvals >= g.Threshold && apply != nil {
		prop.Status, prop.Executed = cc.ProposalExecuted, ctx.Height
		// Write the proposal first: a gov.update action replaces g.
		if err := cc.SetJSON(kv, proposalKey(prop.ID), prop); err != nil {
			return cc.Result{}, err
		}
		if err := apply(ctx, kv, &res); err != nil {
			return cc.Result{}, err
		}
		res.Events = append(res.Events, cc.NewEvent("gov.execute", "proposal", strconv.FormatUint(prop.ID, 10), "action", prop.Action))
	} else if err := cc.SetJSON(kv, proposalKey(prop.ID), prop); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, proposalResult{Proposal: prop.ID, Action: prop.Action, Status: prop.Status, Approvals: approvals, Threshold: g.Threshold})
	if err != nil {
		return cc.Result{}, err
	}
	res.Data = data
	return res, nil
}

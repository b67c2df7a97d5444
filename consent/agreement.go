package consent

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	cc "carechain"
	"carechain/identity"
)

// MaxTermsLen is the longest agreement terms, in bytes of compact JSON.
const MaxTermsLen = 2048

// proposePayload is the payload of "agreement.propose".
type proposePayload struct {
	Provider      string          `json:"provider"`
	Recipient     string          `json:"recipient"`
	ResourceTypes []string        `json:"resource_types"`
	Categories    []string        `json:"categories"`
	Purposes      []string        `json:"purposes"`
	Condition     string          `json:"condition"`
	OptOut        *bool           `json:"opt_out"` // required
	Period        cc.Period       `json:"period"`
	Terms         json.RawMessage `json:"terms"`
}

// agreementIDPayload is the payload of "agreement.sign" and
// "agreement.terminate".
type agreementIDPayload struct {
	ID string `json:"id"`
}

// agreementRecord is an agreement as stored: the agreement and the
// organization its proposer acted for, whose counterpart must countersign.
// Readers that decode a cc.Agreement ignore the extra field.
type agreementRecord struct {
	cc.Agreement
	ProposerOrg string `json:"proposer_org"`
}

// statusData is the Data of agreement.sign and agreement.terminate.
type statusData struct {
	ID     string             `json:"id"`
	Status cc.AgreementStatus `json:"status"`
}

// GetAgreement returns agreement id, cc.NotFound if there is none.
func GetAgreement(kv cc.Reader, id string) (*cc.Agreement, error) {
	rec, err := getAgreementRecord(kv, id)
	if err != nil {
		return nil, err
	}
	return &rec.Agreement, nil
}

// getAgreementRecord returns the stored agreement id, cc.NotFound if there
// is none.
func getAgreementRecord(kv cc.Reader, id string) (*agreementRecord, error) {
	var rec agreementRecord
	found := false
	if validID(agreementIDPrefix, id) {
		var err error
		if found, err = cc.GetJSON(kv, agreementKey(id), &rec); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, cc.Errorf("agreement.get", cc.NotFound, "no agreement %q", cc.Echo(id))
	}
	return &rec, nil
}

// ListAgreements returns every agreement, proposed, active or terminated,
// ordered by id.
func ListAgreements(kv cc.Reader) ([]cc.Agreement, error) {
	out := []cc.Agreement{}
	err := iterateJSON(kv, prefixAgreement, func(a cc.Agreement) { out = append(out, a) })
	return out, err
}

// activeAgreements returns the active agreements whose recipient is org,
// ordered by id.
func activeAgreements(kv cc.Reader, org string) ([]cc.Agreement, error) {
	out := []cc.Agreement{}
	if !cc.ValidOrgID(org) {
		return out, nil
	}
	var ids []string
	if err := iterateJSON(kv, recipientPrefix(org), func(id string) { ids = append(ids, id) }); err != nil {
		return nil, err
	}
	for _, id := range ids {
		a, err := GetAgreement(kv, id)
		if err != nil {
			return nil, cc.E("agreement.list", cc.Internal, err)
		}
		if a.Status == cc.AgreementActive {
			out = append(out, *a)
		}
	}
	return out, nil
}

// agreementCovers reports whether the active agreement a covers the
// request: its recipient is one of the requester's organizations, its
// provider is the record's custodian or authoring organization, it lists
// the record's type and the purpose, it has one of the record's categories
// (or lists none) and names every sensitive label the record carries, its
// period contains the request time and its condition holds (an erring
// condition does not).
func agreementCovers(a cc.Agreement, in *conditionInput) bool {
	req, rec := in.req, in.req.Record
	if a.Status != cc.AgreementActive || !memberWith(req.Orgs, a.Recipient, "") ||
		a.Provider != rec.Org && (rec.AuthorOrg == "" || a.Provider != rec.AuthorOrg) ||
		!slices.Contains(a.Purposes, req.Purpose) ||
		len(a.ResourceTypes) == 0 || !scopeCovers(a.ResourceTypes, a.Categories, rec, true) ||
		!a.Period.Contains(req.Time) {
		return false
	}
	if a.Condition == "" {
		return true
	}
	ok, err := in.eval(a.Condition)
	return err == nil && ok
}

// checkOrgID reports cc.Invalid unless s is an organization id.
func checkOrgID(op, field, s string) error {
	if !cc.ValidOrgID(s) {
		return cc.Errorf(op, cc.Invalid, "%s %q is not an organization id", field, cc.Echo(s))
	}
	return nil
}

// checkOrgExists reports cc.NotFound unless organization id is on the
// ledger.
func checkOrgExists(op string, kv cc.Reader, field, id string) error {
	if _, err := identity.GetOrg(kv, id); cc.Is(cc.NotFound, err) {
		return cc.Errorf(op, cc.NotFound, "%s organization %q is not on the ledger", field, id)
	} else if err != nil {
		return cc.E(op, err)
	}
	return nil
}

// isAdmin reports whether d is an admin of the active organization org.
func isAdmin(op string, kv cc.Reader, org string, d cc.DID) (bool, error) {
	ok, err := identity.HasRole(kv, org, d, cc.RoleAdmin)
	if err != nil {
		return false, cc.E(op, err)
	}
	return ok, nil
}

// checkTerms checks that terms is absent (or null), or a JSON object or
// string of at most MaxTermsLen bytes once compacted, and returns it
// compacted (nil when absent).
func checkTerms(op string, terms json.RawMessage) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(terms)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil, nil
	}
	if trimmed[0] != '{' && trimmed[0] != '"' {
		return nil, cc.Errorf(op, cc.Invalid, "terms must be a JSON object or string")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, trimmed); err != nil {
		return nil, cc.Errorf(op, cc.Malformed, "terms is not valid JSON")
	}
	if buf.Len() > MaxTermsLen {
		return nil, cc.Errorf(op, cc.Invalid, "terms is longer than %d bytes", MaxTermsLen)
	}
	return json.RawMessage(buf.Bytes()), nil
}

// handlePropose applies "agreement.propose" {provider, recipient,
// resource_types, categories?, purposes, condition?, opt_out, period?,
// terms?}: an admin of provider or recipient proposes that provider
// release the named data to recipient. Provider and recipient are
// distinct organization ids on the ledger; resource_types lists 1 to
// MaxCodes FHIR type names, categories at most MaxCodes categories,
// purposes 1 or more distinct PurposesOfUse; the condition compiles; the
// period's start is before its end; opt_out is required (true: data flows
// unless the patient denied it; false: it needs the patient's permit);
// terms, a non-PHI JSON object or string (a reference to the legal text),
// is at most MaxTermsLen bytes. The agreement is stored as proposed with
// id "agr-" + the hex of the first 16 bytes of the transaction hash
// (Data {"id"}); the proposer acts for provider if an admin of it, else
// for recipient, and the other organization must countersign.
//
// Content violations are cc.Invalid, unknown organizations cc.NotFound, a
// signer who is not an admin of either (active) organization
// cc.Unauthorized.
func handlePropose(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeAgreementPropose
	var p proposePayload
	if err := decodePayload(op, payload, &p); err != nil {
		return cc.Result{}, err
	}
	if err := checkOrgID(op, "provider", p.Provider); err != nil {
		return cc.Result{}, err
	}
	if err := checkOrgID(op, "recipient", p.Recipient); err != nil {
		return cc.Result{}, err
	}
	if p.Provider == p.Recipient {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "provider and recipient must differ")
	}
	if err := checkResourceTypes(op, "agreement", p.ResourceTypes, true); err != nil {
		return cc.Result{}, err
	}
	if err := checkCategories(op, "agreement", p.Categories); err != nil {
		return cc.Result{}, err
	}
	if len(p.Purposes) == 0 {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "purposes must list at least one purpose of use")
	}
	if err := checkVocabulary(op, "agreement purposes", p.Purposes, PurposesOfUse); err != nil {
		return cc.Result{}, err
	}
	if p.Condition != "" {
		if err := CompileCondition(p.Condition); err != nil {
			return cc.Result{}, cc.E(op, err)
		}
	}
	period, err := checkPeriod(op, "period", p.Period)
	if err != nil {
		return cc.Result{}, err
	}
	if p.OptOut == nil {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "opt_out is required (true: flows unless the patient denied; false: needs the patient's permit)")
	}
	terms, err := checkTerms(op, p.Terms)
	if err != nil {
		return cc.Result{}, err
	}
	if err := checkOrgExists(op, kv, "provider", p.Provider); err != nil {
		return cc.Result{}, err
	}
	if err := checkOrgExists(op, kv, "recipient", p.Recipient); err != nil {
		return cc.Result{}, err
	}
	proposerOrg := ""
	for _, org := range []string{p.Provider, p.Recipient} {
		ok, err := isAdmin(op, kv, org, ctx.Signer)
		if err != nil {
			return cc.Result{}, err
		}
		if ok {
			proposerOrg = org
			break
		}
	}
	if proposerOrg == "" {
		return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s is not an admin of %q or %q", ctx.Signer, p.Provider, p.Recipient)
	}
	id, err := newID(op, agreementIDPrefix, ctx.TxHash)
	if err != nil {
		return cc.Result{}, err
	}
	if _, err := getAgreementRecord(kv, id); err == nil {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "agreement %s already exists", id)
	} else if !cc.Is(cc.NotFound, err) {
		return cc.Result{}, err
	}
	rec := agreementRecord{
		Agreement: cc.Agreement{
			ID: id, Provider: p.Provider, Recipient: p.Recipient,
			ResourceTypes: p.ResourceTypes, Categories: p.Categories, Purposes: p.Purposes,
			Condition: p.Condition, OptOut: *p.OptOut, Status: cc.AgreementProposed,
			ProposedBy: ctx.Signer, Created: ctx.Height, Period: period, Terms: terms,
		},
		ProposerOrg: proposerOrg,
	}
	data, err := cc.ResultData(op, idData{ID: id})
	if err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, agreementKey(id), rec); err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op,
			"id", id,
			"provider", p.Provider,
			"recipient", p.Recipient,
			"purposes", strings.Join(p.Purposes, ","),
			"by", string(ctx.Signer))},
		Data: data,
	}, nil
}

// loadForChange decodes an {id} payload and returns the stored agreement:
// a malformed id is cc.Invalid, an unknown one cc.NotFound.
func loadForChange(op string, kv cc.Reader, payload json.RawMessage) (*agreementRecord, error) {
	var p agreementIDPayload
	if err := decodePayload(op, payload, &p); err != nil {
		return nil, err
	}
	if !validID(agreementIDPrefix, p.ID) {
		return nil, cc.Errorf(op, cc.Invalid, "id %q is not an agreement id", cc.Echo(p.ID))
	}
	rec, err := getAgreementRecord(kv, p.ID)
	if cc.Is(cc.NotFound, err) {
		return nil, cc.Errorf(op, cc.NotFound, "no agreement %s", p.ID)
	} else if err != nil {
		return nil, cc.E(op, err)
	}
	return rec, nil
}

// handleSign applies "agreement.sign" {id}: an admin of the organization
// the proposer did not act for countersigns the proposed agreement id,
// which becomes active from this height (Effective) and is indexed for its
// recipient. Data is {"id", "status"}. A signer who is not such an admin,
// or is the proposer, is cc.Unauthorized; an agreement that is not
// proposed (already active or terminated) cc.Conflict.
func handleSign(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeAgreementSign
	rec, err := loadForChange(op, kv, payload)
	if err != nil {
		return cc.Result{}, err
	}
	other := rec.Provider
	if rec.ProposerOrg == rec.Provider {
		other = rec.Recipient
	}
	ok, err := isAdmin(op, kv, other, ctx.Signer)
	if err != nil {
		return cc.Result{}, err
	}
	if !ok || ctx.Signer == rec.ProposedBy {
		return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "agreement %s must be countersigned by an admin of %q other than its proposer", rec.ID, other)
	}
	if rec.Status != cc.AgreementProposed {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "agreement %s is %s, not proposed", rec.ID, rec.Status)
	}
	rec.Status, rec.SignedBy, rec.Effective = cc.AgreementActive, ctx.Signer, ctx.Height
	data, err := cc.ResultData(op, statusData{ID: rec.ID, Status: rec.Status})
	if err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, agreementKey(rec.ID), rec); err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, recipientKey(rec.Recipient, rec.ID), rec.ID); err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op, "id", rec.ID, "provider", rec.Provider, "recipient", rec.Recipient, "by", string(ctx.Signer))},
		Data:   data,
	}, nil
}

// handleTerminate applies "agreement.terminate" {id}: an admin of either
// organization ends the proposed or active agreement id (Terminated is the
// height); data stops flowing under it from the next block. Data is {"id",
// "status"}. Another signer is cc.Unauthorized; an agreement already
// terminated cc.Conflict.
func handleTerminate(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeAgreementTerminate
	rec, err := loadForChange(op, kv, payload)
	if err != nil {
		return cc.Result{}, err
	}
	allowed := false
	for _, org := range []string{rec.Provider, rec.Recipient} {
		ok, err := isAdmin(op, kv, org, ctx.Signer)
		if err != nil {
			return cc.Result{}, err
		}
		allowed = allowed || ok
	}
	if !allowed {
		return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s is not an admin of %q or %q", ctx.Signer, rec.Provider, rec.Recipient)
	}
	if rec.Status == cc.AgreementTerminated {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "agreement %s was terminated at height %d", rec.ID, rec.Terminated)
	}
	wasActive := rec.Status == cc.AgreementActive
	rec.Status, rec.Terminated = cc.AgreementTerminated, ctx.Height
	data, err := cc.ResultData(op, statusData{ID: rec.ID, Status: rec.Status})
	if err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, agreementKey(rec.ID), rec); err != nil {
		return cc.Result{}, err
	}
	if wasActive {
		kv.Delete(recipientKey(rec.Recipient, rec.ID))
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op, "id", rec.ID, "provider", rec.Provider, "recipient", rec.Recipient, "by", string(ctx.Signer))},
		Data:   data,
	}, nil
}

package research

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	cc "carechain"
	"carechain/consent"
	"carechain/identity"
)

// Project is a research project as the ledger holds it.
type Project struct {
	ID            string    `json:"id"`
	Org           string    `json:"org"` // the research institute
	Title         string    `json:"title"`
	Protocol      string    `json:"protocol"` // protocol reference (URL, registry id or document hash)
	Ethics        string    `json:"ethics"`   // ethics approval reference
	Purposes      []string  `json:"purposes"` // PurposeOfUse codes, HRESEARCH among them, sorted
	ResourceTypes []string  `json:"resource_types"`
	Categories    []string  `json:"categories,omitempty"`
	Aggregates    bool      `json:"aggregates"` // aggregate questions requested
	Extracts      bool      `json:"extracts"`   // de-identified extracts requested
	Period        cc.Period `json:"period"`
	BudgetMicro   int64     `json:"budget_micro_epsilon"`
	SpentMicro    int64     `json:"spent_micro_epsilon"`
	Queries       int       `json:"queries"` // questions asked so far
	Status        string    `json:"status"`
	Registrant    cc.DID    `json:"registrant"`
	Approvals     []cc.DID  `json:"approvals"` // governance members who approved, sorted
	Created       int64     `json:"created"`
	Approved      int64     `json:"approved,omitempty"` // height
}

// Active reports whether p is approved and its period contains t.
func (p *Project) Active(t time.Time) bool {
	return p.Status == StatusApproved && p.Period.Contains(t)
}

// registerPayload is the payload of research.project.register.
type registerPayload struct {
	ID            string    `json:"id"`
	Org           string    `json:"org"`
	Title         string    `json:"title"`
	Protocol      string    `json:"protocol"`
	Ethics        string    `json:"ethics"`
	Purposes      []string  `json:"purposes"`
	ResourceTypes []string  `json:"resource_types"`
	Categories    []string  `json:"categories"`
	Aggregates    bool      `json:"aggregates"`
	Extracts      bool      `json:"extracts"`
	Period        cc.Period `json:"period"`
	BudgetMicro   int64     `json:"budget_micro_epsilon"`
}

// projectPayload names a project.
type projectPayload struct {
	ID string `json:"id"`
}

// ApprovalState is a project's approvals against the governance threshold.
type ApprovalState struct {
	Approvals int      `json:"approvals"` // by current governance members
	Threshold int      `json:"threshold"`
	Members   []cc.DID `json:"approved_by"`
}

// decode is cc.DecodeStrict for a payload; a time that is not RFC 3339 is
// cc.Invalid rather than cc.Malformed.
func decode(op string, payload []byte, v any) error {
	err := cc.DecodeStrict(op, "payload", payload, v)
	var timeErr *time.ParseError
	if errors.As(err, &timeErr) {
		return cc.Errorf(op, cc.Invalid, "a time in the payload is not an RFC 3339 time")
	}
	return err
}

// GetProject returns project id, cc.NotFound if there is none.
func GetProject(kv cc.Reader, id string) (*Project, error) {
	var p Project
	found := false
	if cc.ValidOrgID(id) {
		var err error
		if found, err = cc.GetJSON(kv, projectKey(id), &p); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, cc.Errorf("research.project", cc.NotFound, "no research project %q", cc.Echo(id))
	}
	return &p, nil
}

// ListProjects returns every project ordered by id.
func ListProjects(kv cc.Reader) ([]Project, error) {
	out := []Project{}
	err := cc.IterateJSON("research.projects", kv, prefixProject, func(p Project) bool {
		out = append(out, p)
		return true
	})
	return out, err
}

// Approval returns p's approvals by current governance members against
// the governance threshold.
func Approval(kv cc.Reader, p *Project) (ApprovalState, error) {
	g, err := identity.GetGovernance(kv)
	if err != nil {
		return ApprovalState{}, err
	}
	st := ApprovalState{Threshold: g.Threshold, Members: []cc.DID{}}
	for _, a := range p.Approvals {
		if slices.Contains(g.Members, a) {
			st.Approvals++
			st.Members = append(st.Members, a)
		}
	}
	return st, nil
}

// printable reports whether s is 1..max bytes of printable ASCII or UTF-8
// text without control characters.
func printable(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}

// validResourceType reports whether s looks like a FHIR resource type name.
func validResourceType(s string) bool {
	if s == "" || len(s) > MaxResourceType || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// checkCodes validates a list of codes with ok and returns it sorted;
// duplicates and more than MaxCodes entries are cc.Invalid.
func checkCodes(op, what string, codes []string, required bool, ok func(string) bool) ([]string, error) {
	if required && len(codes) == 0 || len(codes) > MaxCodes {
		return nil, cc.Errorf(op, cc.Invalid, "%s must list %d to %d codes", what, map[bool]int{true: 1}[required], MaxCodes)
	}
	out := slices.Clone(codes)
	slices.Sort(out)
	for i, c := range out {
		if !ok(c) {
			return nil, cc.Errorf(op, cc.Invalid, "%s: %q is not valid", what, cc.Echo(c))
		}
		if i > 0 && out[i-1] == c {
			return nil, cc.Errorf(op, cc.Invalid, "%s: %q is listed twice", what, cc.Echo(c))
		}
	}
	return out, nil
}

// validCategory reports whether c is a "system|code" or bare code of
// printable ASCII without spaces.
func validCategory(c string) bool {
	if c == "" || len(c) > MaxCategoryLen {
		return false
	}
	for i := 0; i < len(c); i++ {
		if c[i] <= ' ' || c[i] >= 0x7f {
			return false
		}
	}
	return true
}

// handleRegister applies research.project.register: see the package
// documentation. The id is a slug of 2 to 40 bytes from [a-z0-9-]; title,
// protocol and ethics 1..MaxTextLen bytes of text; purposes PurposeOfUse
// codes including HRESEARCH; resource_types 1..MaxCodes FHIR type names;
// categories up to MaxCodes "system|code" codes; at least one of
// aggregates and extracts; a period with a start before its end, the end
// after the block time; budget_micro_epsilon 1..MaxBudgetMicro (all
// cc.Invalid). An unknown or suspended organization is cc.NotFound or
// cc.FailedPrecondition, one that is not a research institute cc.Invalid;
// a signer who is not an admin or researcher member of it is
// cc.Unauthorized; a taken id is cc.Conflict. Data is the Project.
func handleRegister(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeRegister
	var p registerPayload
	if err := decode(op, payload, &p); err != nil {
		return cc.Result{}, err
	}
	if !cc.ValidOrgID(p.ID) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "id %q must be a slug of 2 to 40 bytes from [a-z0-9-]", cc.Echo(p.ID))
	}
	if !cc.ValidOrgID(p.Org) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "org %q must be an organization id", cc.Echo(p.Org))
	}
	for _, f := range []struct{ name, v string }{{"title", p.Title}, {"protocol", p.Protocol}, {"ethics", p.Ethics}} {
		if !printable(f.v, MaxTextLen) {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "%s must be 1 to %d bytes of text", f.name, MaxTextLen)
		}
	}
	purposes, err := checkCodes(op, "purposes", p.Purposes, true, func(s string) bool { return slices.Contains(consent.PurposesOfUse, s) })
	if err != nil {
		return cc.Result{}, err
	}
	if !slices.Contains(purposes, Purpose) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "purposes must include %s", Purpose)
	}
	types, err := checkCodes(op, "resource_types", p.ResourceTypes, true, validResourceType)
	if err != nil {
		return cc.Result{}, err
	}
	cats, err := checkCodes(op, "categories", p.Categories, false, validCategory)
	if err != nil {
		return cc.Result{}, err
	}
	if !p.Aggregates && !p.Extracts {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "a project requests aggregates, extracts or both")
	}
	per := cc.Period{Start: p.Period.Start.UTC(), End: p.Period.End.UTC()}
	if per.Start.IsZero() || per.End.IsZero() || !per.Start.Before(per.End) || per.End.Year() > 9999 {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "period needs a start before its end")
	}
	if !ctx.Time.Before(per.End) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "period ended before this block (%s)", ctx.Time.UTC().Format(time.RFC3339))
	}
	if p.BudgetMicro < 1 || p.BudgetMicro > MaxBudgetMicro {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "budget_micro_epsilon must be 1 to %d (ε ≤ %d)", MaxBudgetMicro, MaxBudgetMicro/MicroPerEpsilon)
	}
	o, err := identity.GetOrg(kv, p.Org)
	if cc.Is(cc.NotFound, err) {
		return cc.Result{}, cc.Errorf(op, cc.NotFound, "no organization %s", p.Org)
	} else if err != nil {
		return cc.Result{}, cc.E(op, err)
	}
	if o.Type != cc.OrgResearch {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "%s is a %s, not a %s", p.Org, o.Type, cc.OrgResearch)
	}
	if !o.Active {
		return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "organization %s is suspended", p.Org)
	}
	if err := authorizeStaff(op, kv, p.Org, ctx.Signer); err != nil {
		return cc.Result{}, err
	}
	if _, err := GetProject(kv, p.ID); err == nil {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "research project %s already exists", p.ID)
	} else if !cc.Is(cc.NotFound, err) {
		return cc.Result{}, err
	}
	pr := Project{ID: p.ID, Org: p.Org, Title: p.Title, Protocol: p.Protocol, Ethics: p.Ethics, Purposes: purposes,
		ResourceTypes: types, Categories: cats, Aggregates: p.Aggregates, Extracts: p.Extracts, Period: per,
		BudgetMicro: p.BudgetMicro, Status: StatusPending, Registrant: ctx.Signer, Approvals: []cc.DID{}, Created: ctx.Height}
	data, err := cc.ResultData(op, pr)
	if err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, projectKey(pr.ID), pr); err != nil {
		return cc.Result{}, err
	}
	return cc.Result{Data: data, Events: []cc.Event{cc.NewEvent(op, "project", pr.ID, "org", pr.Org,
		"budget_micro_epsilon", strconv.FormatInt(pr.BudgetMicro, 10))}}, nil
}

// authorizeStaff reports cc.Unauthorized unless signer is an admin or
// researcher member of the active organization org.
func authorizeStaff(op string, kv cc.Reader, org string, signer cc.DID) error {
	for _, r := range []cc.Role{cc.RoleResearcher, cc.RoleAdmin} {
		ok, err := identity.HasRole(kv, org, signer, r)
		if err != nil {
			return cc.E(op, cc.Internal, err)
		}
		if ok {
			return nil
		}
	}
	return cc.Errorf(op, cc.Unauthorized, "%s is not an admin or researcher of %s", signer, org)
}

// handleApprove applies research.project.approve {id}: a governance
// member approves a pending project; the project becomes approved (at
// this height) once the approvals of current governance members reach the
// threshold. A non-member is cc.Unauthorized, an unknown project
// cc.NotFound, a repeated approval cc.Conflict, an approved project or
// one whose period has ended cc.FailedPrecondition. Data is the
// ApprovalState; the event says the resulting status.
func handleApprove(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeApprove
	var p projectPayload
	if err := decode(op, payload, &p); err != nil {
		return cc.Result{}, err
	}
	g, err := identity.GetGovernance(kv)
	if err != nil && !cc.Is(cc.NotFound, err) {
		return cc.Result{}, cc.E(op, err)
	}
	if g == nil || !slices.Contains(g.Members, ctx.Signer) {
		return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s is not a governance member", ctx.Signer)
	}
	pr, err := GetProject(kv, p.ID)
	if err != nil {
		return cc.Result{}, cc.E(op, err)
	}
	if pr.Status != StatusPending {
		return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "research project %s is %s", pr.ID, pr.Status)
	}
	if !ctx.Time.Before(pr.Period.End) {
		return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "research project %s ended on %s", pr.ID, pr.Period.End.Format(time.RFC3339))
	}
	i, found := slices.BinarySearch(pr.Approvals, ctx.Signer)
	if found {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "%s already approved research project %s", ctx.Signer, pr.ID)
	}
	pr.Approvals = slices.Insert(pr.Approvals, i, ctx.Signer)
	st, err := Approval(kv, pr)
	if err != nil {
		return cc.Result{}, cc.E(op, err)
	}
	if st.Approvals >= st.Threshold {
		pr.Status, pr.Approved = StatusApproved, ctx.Height
	}
	data, err := cc.ResultData(op, st)
	if err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, projectKey(pr.ID), pr); err != nil {
		return cc.Result{}, err
	}
	return cc.Result{Data: data, Events: []cc.Event{cc.NewEvent(op, "project", pr.ID, "approver", string(ctx.Signer),
		"approvals", strconv.Itoa(st.Approvals), "threshold", strconv.Itoa(st.Threshold), "status", pr.Status)}}, nil
}

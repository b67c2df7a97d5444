package research

import (
	"encoding/json"
	"slices"
	"time"

	cc "carechain"
	"carechain/consent"
	"carechain/identity"
)

// Participation is a patient's latest choice about one project.
type Participation struct {
	Project string    `json:"project"`
	Patient cc.DID    `json:"patient"`
	Status  string    `json:"status"`            // OptedIn or OptedOut
	Consent string    `json:"consent,omitempty"` // the opt-in's consent id (kept after an opt-out, revoked)
	By      cc.DID    `json:"by"`                // the signer: the patient or a delegate
	Height  int64     `json:"height"`
	Time    time.Time `json:"time"`
}

// participationPayload is the payload of research.optin and research.optout.
type participationPayload struct {
	Project string `json:"project"`
	Patient cc.DID `json:"patient"`
}

// GetParticipation returns patient's participation in project, nil when
// the patient never opted in or out (the default: out).
func GetParticipation(kv cc.Reader, project string, patient cc.DID) (*Participation, error) {
	if !cc.ValidOrgID(project) || !patient.Valid() {
		return nil, nil
	}
	var p Participation
	found, err := cc.GetJSON(kv, partKey(project, patient), &p)
	if err != nil || !found {
		return nil, err
	}
	return &p, nil
}

// ListParticipations returns every recorded opt-in and opt-out of
// project, ordered by patient DID.
func ListParticipations(kv cc.Reader, project string) ([]Participation, error) {
	out := []Participation{}
	if !cc.ValidOrgID(project) {
		return out, nil
	}
	err := cc.IterateJSON("research.participations", kv, partPrefix(project), func(p Participation) bool {
		out = append(out, p)
		return true
	})
	return out, err
}

// optInProvision is the consent provision an opt-in to pr grants.
func optInProvision(pr *Project) cc.Provision {
	return cc.Provision{
		Type:          cc.Permit,
		Actors:        []cc.Actor{{Org: pr.Org, Role: cc.RoleResearcher}},
		Actions:       slices.Clone(consent.Actions),
		Purposes:      []string{Purpose},
		ResourceTypes: slices.Clone(pr.ResourceTypes),
		Categories:    slices.Clone(pr.Categories),
		Period:        pr.Period,
	}
}

// checkParticipant decodes a participation payload and checks what opt-in
// and opt-out share: the project exists (cc.NotFound), the patient is
// registered (cc.NotFound), the signer is the patient or a delegate with
// scope consent.manage or "*" (cc.Unauthorized).
func checkParticipant(op string, ctx cc.TxContext, kv cc.Reader, payload []byte) (*Project, participationPayload, *Participation, error) {
	var p participationPayload
	if err := decode(op, payload, &p); err != nil {
		return nil, p, nil, err
	}
	if err := cc.CheckDID(op, "patient", p.Patient); err != nil {
		return nil, p, nil, err
	}
	pr, err := GetProject(kv, p.Project)
	if err != nil {
		return nil, p, nil, cc.E(op, err)
	}
	if _, err := identity.GetPatient(kv, p.Patient); cc.Is(cc.NotFound, err) {
		return nil, p, nil, cc.Errorf(op, cc.NotFound, "%s is not a registered patient", p.Patient)
	} else if err != nil {
		return nil, p, nil, cc.E(op, err)
	}
	if ctx.Signer != p.Patient {
		ok, err := identity.ActiveDelegation(kv, p.Patient, ctx.Signer, consent.ScopeConsentManage, ctx.Time)
		if err != nil {
			return nil, p, nil, cc.E(op, err)
		}
		if !ok {
			return nil, p, nil, cc.Errorf(op, cc.Unauthorized, "%s may not manage the consents of %s", ctx.Signer, p.Patient)
		}
	}
	cur, err := GetParticipation(kv, pr.ID, p.Patient)
	if err != nil {
		return nil, p, nil, err
	}
	return pr, p, cur, nil
}

// liveConsent reports whether consent id exists and is not revoked.
func liveConsent(kv cc.Reader, id string) (bool, error) {
	if id == "" {
		return false, nil
	}
	c, err := consent.GetConsent(kv, id)
	if cc.Is(cc.NotFound, err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return c.Revoked == 0, nil
}

// handleOptIn applies research.optin {project, patient}: see the package
// documentation. The project must be approved and not ended
// (cc.FailedPrecondition); a patient already opted in with a live consent
// is cc.Conflict. The consent is granted by consent.grant's own handler in
// this transaction (its errors, e.g. cc.FailedPrecondition when the
// patient holds too many consents, pass through). Data is the
// Participation.
func handleOptIn(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeOptIn
	pr, p, cur, err := checkParticipant(op, ctx, kv, payload)
	if err != nil {
		return cc.Result{}, err
	}
	if pr.Status != StatusApproved {
		return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "research project %s is not approved yet", pr.ID)
	}
	if !ctx.Time.Before(pr.Period.End) {
		return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "research project %s has ended", pr.ID)
	}
	if cur != nil && cur.Status == OptedIn {
		live, err := liveConsent(kv, cur.Consent)
		if err != nil {
			return cc.Result{}, cc.E(op, err)
		}
		if live {
			return cc.Result{}, cc.Errorf(op, cc.Conflict, "%s already opted in to %s (consent %s)", p.Patient, pr.ID, cur.Consent)
		}
	}
	grant, err := json.Marshal(map[string]any{"patient": p.Patient, "provisions": []cc.Provision{optInProvision(pr)}})
	if err != nil {
		return cc.Result{}, cc.E(op, cc.Internal, err)
	}
	gctx := ctx
	gctx.Type = consent.TypeGrant
	gres, err := consent.Handlers()[consent.TypeGrant](gctx, kv, grant)
	if err != nil {
		return cc.Result{}, cc.E(op, err)
	}
	var id struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(gres.Data, &id); err != nil {
		return cc.Result{}, cc.E(op, cc.Internal, err)
	}
	part := Participation{Project: pr.ID, Patient: p.Patient, Status: OptedIn, Consent: id.ID, By: ctx.Signer, Height: ctx.Height, Time: ctx.Time.UTC()}
	return writeParticipation(op, kv, part, gres.Events)
}

// handleOptOut applies research.optout {project, patient}: it records the
// opt-out, which wins over every other consent for the project (Counts),
// and revokes the opt-in consent when it is still live (through
// consent.revoke's own handler). A patient already opted out is
// cc.Conflict. Opting out of a pending or ended project is allowed. Data
// is the Participation.
func handleOptOut(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeOptOut
	pr, p, cur, err := checkParticipant(op, ctx, kv, payload)
	if err != nil {
		return cc.Result{}, err
	}
	if cur != nil && cur.Status == OptedOut {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "%s already opted out of %s", p.Patient, pr.ID)
	}
	part := Participation{Project: pr.ID, Patient: p.Patient, Status: OptedOut, By: ctx.Signer, Height: ctx.Height, Time: ctx.Time.UTC()}
	var events []cc.Event
	if cur != nil {
		part.Consent = cur.Consent
		live, err := liveConsent(kv, cur.Consent)
		if err != nil {
			return cc.Result{}, cc.E(op, err)
		}
		if live {
			rev, _ := json.Marshal(map[string]string{"id": cur.Consent})
			rctx := ctx
			rctx.Type = consent.TypeRevoke
			rres, err := consent.Handlers()[consent.TypeRevoke](rctx, kv, rev)
			if err != nil {
				return cc.Result{}, cc.E(op, err)
			}
			events = rres.Events
		}
	}
	return writeParticipation(op, kv, part, events)
}

// writeParticipation stores part and answers the transaction's result.
func writeParticipation(op string, kv cc.KV, part Participation, events []cc.Event) (cc.Result, error) {
	data, err := cc.ResultData(op, part)
	if err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, partKey(part.Project, part.Patient), part); err != nil {
		return cc.Result{}, err
	}
	events = append(events, cc.NewEvent(op, "project", part.Project, "patient", string(part.Patient), "status", part.Status, "consent", part.Consent))
	return cc.Result{Data: data, Events: events}, nil
}

// Basis says why a patient counts for a project (or "" when not).
const (
	BasisProject  = "project-opt-in"
	BasisCategory = "category-consent"
)

// Counts is the pure participation decision: whether a patient whose
// participation in p is part (nil: never chose) and whose consents are cs
// counts for p at time t, and on which basis. In order:
//
//  1. p is not active at t (not approved, or t outside its period): no;
//  2. the patient opted out of p: no (an opt-out wins);
//  3. an unrevoked deny provision of the patient in force at t names
//     purpose HRESEARCH (or no purpose), the institute (no actors, or an
//     actor with p.Org) and, without restricting categories, any of p's
//     resource types (or none, meaning all): no. A deny restricted to
//     categories (e.g. a sensitive label) keeps the patient counted: it
//     withholds only those records, which consent.Can enforces for each
//     record of an extract (aggregates use demographics and
//     immunizations only);
//  4. the patient opted in to p and that consent is unrevoked: yes,
//     BasisProject;
//  5. an unrevoked permit provision without a condition names purpose
//     HRESEARCH, actors that are empty or name p.Org (alone or with the
//     researcher role), a period containing t, and resource types and
//     categories that are empty or overlap p's: yes, BasisCategory;
//  6. otherwise no: the default is out.
func Counts(p *Project, part *Participation, cs []cc.Consent, t time.Time) (bool, string) {
	if p == nil || !p.Active(t) {
		return false, ""
	}
	if part != nil && part.Status == OptedOut {
		return false, ""
	}
	var patient cc.DID
	if part != nil {
		patient = part.Patient
	}
	for _, c := range cs {
		if c.Revoked != 0 || patient != "" && c.Patient != patient {
			continue
		}
		for _, pv := range c.Provisions {
			if pv.Type == cc.Deny && (len(pv.Purposes) == 0 || slices.Contains(pv.Purposes, Purpose)) &&
				namesInstitute(pv.Actors, p.Org) && pv.Period.Contains(t) &&
				len(pv.Categories) == 0 && overlaps(pv.ResourceTypes, p.ResourceTypes) {
				return false, ""
			}
		}
	}
	if part != nil && part.Status == OptedIn {
		for _, c := range cs {
			if c.ID == part.Consent && c.Revoked == 0 {
				return true, BasisProject
			}
		}
	}
	for _, c := range cs {
		if c.Revoked != 0 || patient != "" && c.Patient != patient {
			continue
		}
		for _, pv := range c.Provisions {
			if pv.Type == cc.Permit && pv.Condition == "" && slices.Contains(pv.Purposes, Purpose) &&
				namesInstitute(pv.Actors, p.Org) && pv.Period.Contains(t) &&
				overlaps(pv.ResourceTypes, p.ResourceTypes) && overlaps(pv.Categories, p.Categories) {
				return true, BasisCategory
			}
		}
	}
	return false, ""
}

// namesInstitute reports whether actors are empty or one names org alone
// or with the researcher role.
func namesInstitute(actors []cc.Actor, org string) bool {
	if len(actors) == 0 {
		return true
	}
	return slices.ContainsFunc(actors, func(a cc.Actor) bool {
		return a.Org == org && a.DID == "" && len(a.CareTeam) == 0 && (a.Role == "" || a.Role == cc.RoleResearcher)
	})
}

// overlaps reports whether a or b is empty (any) or they share an entry.
func overlaps(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	return slices.ContainsFunc(a, func(s string) bool { return slices.Contains(b, s) })
}

// Participant is a patient who counts for a project.
type Participant struct {
	Patient cc.DID `json:"patient"`
	Basis   string `json:"basis"`
}

// Participants returns, sorted by DID, the candidates who count for p at
// time t (see Counts), reading their participation and consents from kv.
// Candidates that are not did:cc identifiers or repeat are skipped.
func Participants(kv cc.Reader, p *Project, t time.Time, candidates []cc.DID) ([]Participant, error) {
	out := []Participant{}
	if p == nil || !p.Active(t) {
		return out, nil
	}
	ds := slices.Clone(candidates)
	slices.Sort(ds)
	ds = slices.Compact(ds)
	for _, d := range ds {
		if !d.Valid() {
			continue
		}
		part, err := GetParticipation(kv, p.ID, d)
		if err != nil {
			return nil, err
		}
		if part == nil {
			part = &Participation{Project: p.ID, Patient: d}
		}
		cs, err := consent.ListConsents(kv, d)
		if err != nil {
			return nil, err
		}
		if ok, basis := Counts(p, part, cs, t); ok {
			out = append(out, Participant{Patient: d, Basis: basis})
		}
	}
	return out, nil
}

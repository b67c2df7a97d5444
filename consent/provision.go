package consent

import (
	"slices"
	"strconv"
	"strings"
	"time"

	cc "carechain"
	"carechain/identity"
)

// ActCodeSystem is the HL7 v3 ActCode code system, whose sensitivity codes
// label sensitive records.
const ActCodeSystem = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

// SensitiveLabels are the HL7 v3 ActCode information-sensitivity codes
// (security labels) that mark a record as sensitive, as "system|code". A
// record carrying one of them, as "system|code" or as the bare code, is
// matched only by a permit (or agreement) that names that label in its
// categories; denies and the other defaults are unaffected.
var SensitiveLabels = []string{
	ActCodeSystem + "|BH",      // behavioral health
	ActCodeSystem + "|ETH",     // substance abuse
	ActCodeSystem + "|GDIS",    // genetic disease
	ActCodeSystem + "|HIV",     // HIV/AIDS
	ActCodeSystem + "|MST",     // military sexual trauma
	ActCodeSystem + "|PSY",     // psychiatry (mental health)
	ActCodeSystem + "|PSYTHPN", // psychotherapy note
	ActCodeSystem + "|SCA",     // sickle cell anemia
	ActCodeSystem + "|SDV",     // sexual assault, abuse or domestic violence
	ActCodeSystem + "|SEX",     // sexuality and reproductive health
	ActCodeSystem + "|STD",     // sexually transmitted disease
	ActCodeSystem + "|SUD",     // substance use disorder
	ActCodeSystem + "|TBOO",    // taboo
}

// PurposesOfUse are the HL7 v3 PurposeOfUse codes (bare codes) accepted in
// provisions, agreements and access requests. Purposes match exactly: a
// permit for TREAT does not cover ETREAT (emergencies go through
// break-glass) nor the reverse.
var PurposesOfUse = []string{
	"CAREMGT",   // care management
	"CLINTRCH",  // clinical trial research
	"COC",       // continuity of care
	"DISASTER",  // disaster
	"ETREAT",    // emergency treatment
	"FAMRQT",    // family requested
	"HDIRECT",   // directory
	"HLEGAL",    // legal
	"HMARKT",    // marketing
	"HOPERAT",   // healthcare operations
	"HOUTCOMS",  // health outcome measure
	"HPAYMT",    // payment
	"HQUALIMP",  // quality improvement
	"HRESEARCH", // research
	"PATRQT",    // patient requested
	"POPHLTH",   // population health
	"PUBHLTH",   // public health
	"PWATRNY",   // power of attorney
	"THREAT",    // threat
	"TREAT",     // treatment
}

// Actions are the actions a provision may name and a request may ask for.
var Actions = []string{"read", "search", "export"}

// Limits of a consent.
const (
	MaxProvisions   = 32  // provisions in one consent
	MaxActors       = 32  // actors in one provision
	MaxCareTeam     = 32  // DIDs in one care team
	MaxCodes        = 64  // resource types or categories in one provision or agreement
	MaxCategoryLen  = 256 // bytes of one "system|code" category
	MaxResourceType = 64  // bytes of a FHIR resource type name
)

const (
	maxYear          = 9999     // the last year a stored time may have (JSON times have 4 digits)
	emergencyPurpose = "ETREAT" // the purpose of use of break-glass access
)

// memberRoles are the roles an Actor may name.
var memberRoles = []cc.Role{cc.RoleAdmin, cc.RolePhysician, cc.RoleNurse, cc.RolePharmacist, cc.RoleEmergency,
	cc.RolePrivacyOfficer, cc.RoleLogistics, cc.RolePublicHealthOffice, cc.RoleResearcher, cc.RoleNode}

// checkProvisions checks the content of a consent's provisions (1 to
// MaxProvisions) without reading state, and returns them with their times
// in UTC. Every violation is cc.Invalid.
func checkProvisions(op string, ps []cc.Provision) ([]cc.Provision, error) {
	if len(ps) == 0 || len(ps) > MaxProvisions {
		return nil, cc.Errorf(op, cc.Invalid, "provisions must list 1 to %d provisions", MaxProvisions)
	}
	out := make([]cc.Provision, len(ps))
	for i, p := range ps {
		what := "provision " + strconv.Itoa(i)
		if p.Type != cc.Permit && p.Type != cc.Deny {
			return nil, cc.Errorf(op, cc.Invalid, "%s: type must be %q or %q", what, cc.Permit, cc.Deny)
		}
		if len(p.Actors) > MaxActors {
			return nil, cc.Errorf(op, cc.Invalid, "%s: at most %d actors", what, MaxActors)
		}
		for j, a := range p.Actors {
			if err := checkActor(op, what+" actor "+strconv.Itoa(j), a); err != nil {
				return nil, err
			}
		}
		if err := checkVocabulary(op, what+" actions", p.Actions, Actions); err != nil {
			return nil, err
		}
		if err := checkVocabulary(op, what+" purposes", p.Purposes, PurposesOfUse); err != nil {
			return nil, err
		}
		if err := checkResourceTypes(op, what, p.ResourceTypes, false); err != nil {
			return nil, err
		}
		if err := checkCategories(op, what, p.Categories); err != nil {
			return nil, err
		}
		var err error
		if p.Period, err = checkPeriod(op, what+" period", p.Period); err != nil {
			return nil, err
		}
		if p.DataPeriod, err = checkPeriod(op, what+" data_period", p.DataPeriod); err != nil {
			return nil, err
		}
		if p.Condition != "" {
			if err := CompileCondition(p.Condition); err != nil {
				return nil, cc.E(op, err)
			}
		}
		out[i] = p
	}
	return out, nil
}

// checkActor checks that a uses exactly one form: a DID, an organization,
// an organization and a role, or a care team of 1 to MaxCareTeam distinct
// DIDs.
func checkActor(op, what string, a cc.Actor) error {
	forms := 0
	if a.DID != "" {
		forms++
		if err := cc.CheckDID(op, what+" did", a.DID); err != nil {
			return err
		}
	}
	if a.Org != "" {
		forms++
		if !cc.ValidOrgID(a.Org) {
			return cc.Errorf(op, cc.Invalid, "%s: org %q is not an organization id", what, cc.Echo(a.Org))
		}
	}
	if a.Role != "" {
		if a.Org == "" {
			return cc.Errorf(op, cc.Invalid, "%s: a role needs an org", what)
		}
		if !slices.Contains(memberRoles, a.Role) {
			return cc.Errorf(op, cc.Invalid, "%s: unknown role %q", what, cc.Echo(string(a.Role)))
		}
	}
	if a.CareTeam != nil {
		forms++
		if len(a.CareTeam) == 0 || len(a.CareTeam) > MaxCareTeam {
			return cc.Errorf(op, cc.Invalid, "%s: care_team must list 1 to %d DIDs", what, MaxCareTeam)
		}
		for k, d := range a.CareTeam {
			if err := cc.CheckDID(op, what+" care_team member", d); err != nil {
				return err
			}
			if slices.Contains(a.CareTeam[:k], d) {
				return cc.Errorf(op, cc.Invalid, "%s: %s is listed twice in care_team", what, d)
			}
		}
	}
	if forms != 1 {
		return cc.Errorf(op, cc.Invalid, "%s must have exactly one of did, org (with an optional role) or care_team", what)
	}
	return nil
}

// checkActorsExist checks that every DID and organization the provisions
// name is on the ledger (cc.NotFound otherwise).
func checkActorsExist(op string, kv cc.Reader, ps []cc.Provision) error {
	for _, p := range ps {
		for _, a := range p.Actors {
			if a.Org != "" {
				if _, err := identity.GetOrg(kv, a.Org); cc.Is(cc.NotFound, err) {
					return cc.Errorf(op, cc.NotFound, "actor organization %q is not on the ledger", a.Org)
				} else if err != nil {
					return cc.E(op, err)
				}
			}
			dids := a.CareTeam
			if a.DID != "" {
				dids = []cc.DID{a.DID}
			}
			for _, d := range dids {
				if _, err := identity.GetDID(kv, d); cc.Is(cc.NotFound, err) {
					return cc.Errorf(op, cc.NotFound, "actor %s is not on the ledger", d)
				} else if err != nil {
					return cc.E(op, err)
				}
			}
		}
	}
	return nil
}

// checkVocabulary checks that list holds distinct words from vocab.
func checkVocabulary(op, what string, list, vocab []string) error {
	for i, w := range list {
		if !slices.Contains(vocab, w) {
			return cc.Errorf(op, cc.Invalid, "%s: unknown code %q", what, cc.Echo(w))
		}
		if slices.Contains(list[:i], w) {
			return cc.Errorf(op, cc.Invalid, "%s: %q is listed twice", what, w)
		}
	}
	return nil
}

// checkResourceTypes checks that types holds at most MaxCodes distinct FHIR
// resource type names ([A-Z][A-Za-z]*), and at least one if required.
func checkResourceTypes(op, what string, types []string, required bool) error {
	if len(types) > MaxCodes || required && len(types) == 0 {
		return cc.Errorf(op, cc.Invalid, "%s: resource_types must list %d to %d types", what, btoi(required), MaxCodes)
	}
	for i, t := range types {
		ok := len(t) > 0 && len(t) <= MaxResourceType && t[0] >= 'A' && t[0] <= 'Z'
		for j := 0; ok && j < len(t); j++ {
			c := t[j]
			ok = c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
		}
		if !ok {
			return cc.Errorf(op, cc.Invalid, "%s: %q is not a FHIR resource type name", what, cc.Echo(t))
		}
		if slices.Contains(types[:i], t) {
			return cc.Errorf(op, cc.Invalid, "%s: resource type %q is listed twice", what, t)
		}
	}
	return nil
}

// checkCategories checks that cats holds at most MaxCodes distinct
// categories, each "system|code" or a bare code of printable ASCII without
// spaces, at most MaxCategoryLen bytes.
func checkCategories(op, what string, cats []string) error {
	if len(cats) > MaxCodes {
		return cc.Errorf(op, cc.Invalid, "%s: at most %d categories", what, MaxCodes)
	}
	for i, c := range cats {
		sys, code, hasSys := splitCategory(c)
		ok := len(c) <= MaxCategoryLen && code != "" && !strings.Contains(code, "|") && (!hasSys || sys != "")
		for j := 0; ok && j < len(c); j++ {
			ok = c[j] > ' ' && c[j] <= '~'
		}
		if !ok {
			return cc.Errorf(op, cc.Invalid, "%s: category %q must be \"system|code\" or a code", what, cc.Echo(c))
		}
		if slices.Contains(cats[:i], c) {
			return cc.Errorf(op, cc.Invalid, "%s: category %q is listed twice", what, cc.Echo(c))
		}
	}
	return nil
}

// checkPeriod checks that p's set bounds lie in the years 1 to 9999 (UTC)
// and that Start is before End when both are set; it returns p in UTC.
func checkPeriod(op, what string, p cc.Period) (cc.Period, error) {
	for _, t := range []*time.Time{&p.Start, &p.End} {
		if t.IsZero() {
			*t = time.Time{}
			continue
		}
		*t = t.UTC()
		if t.Year() < 1 || t.Year() > maxYear {
			return p, cc.Errorf(op, cc.Invalid, "%s: times must lie in the years 1 to %d", what, maxYear)
		}
	}
	if !p.Start.IsZero() && !p.End.IsZero() && !p.Start.Before(p.End) {
		return p, cc.Errorf(op, cc.Invalid, "%s: start must be before end", what)
	}
	return p, nil
}

// categoryMatch reports whether two categories denote the same code: equal
// "system|code" strings, or equal codes when either is a bare code.
func categoryMatch(a, b string) bool {
	sysA, codeA, hasA := splitCategory(a)
	sysB, codeB, hasB := splitCategory(b)
	if hasA && hasB {
		return sysA == sysB && codeA == codeB
	}
	return codeA == codeB
}

// splitCategory splits "system|code" into its parts; a bare code has no
// system.
func splitCategory(c string) (system, code string, hasSystem bool) {
	system, code, hasSystem = strings.Cut(c, "|")
	if !hasSystem {
		return "", c, false
	}
	return system, code, true
}

// sensitive reports whether category c is one of SensitiveLabels.
func sensitive(c string) bool {
	return slices.ContainsFunc(SensitiveLabels, func(l string) bool { return categoryMatch(c, l) })
}

// scopeCovers reports whether a scope of resource types and categories (a
// provision's or an agreement's) covers the record: its type is listed (or
// none are), it has one of the listed categories (or none are listed), and,
// when strict, every sensitive label the record carries is named.
func scopeCovers(types, cats []string, rec cc.RecordAnchor, strict bool) bool {
	if len(types) > 0 && !slices.Contains(types, rec.Type) {
		return false
	}
	if len(cats) > 0 && !slices.ContainsFunc(rec.Categories, func(rc string) bool {
		return slices.ContainsFunc(cats, func(c string) bool { return categoryMatch(c, rc) })
	}) {
		return false
	}
	if strict {
		for _, rc := range rec.Categories {
			if sensitive(rc) && !slices.ContainsFunc(cats, func(c string) bool { return categoryMatch(c, rc) }) {
				return false
			}
		}
	}
	return true
}

// provisionMatches reports whether provision p applies to the request:
// an actor accepted by actorOK (or no actors: anyone), the action, the
// purpose, the record's type and category (see scopeCovers; permits are
// strict about sensitive labels), p.Period contains the request time, the
// data period contains the record's data time, and the condition holds.
//
// It fails closed both ways: a permit does not match when the record has
// no data time but p has a data period, or when the condition errs; a deny
// does.
func provisionMatches(p cc.Provision, actorOK func(cc.Actor) bool, in *conditionInput) bool {
	req, rec := in.req, in.req.Record
	deny := p.Type == cc.Deny
	if len(p.Actors) > 0 && !slices.ContainsFunc(p.Actors, actorOK) ||
		len(p.Actions) > 0 && !slices.Contains(p.Actions, req.Action) ||
		len(p.Purposes) > 0 && !slices.Contains(p.Purposes, req.Purpose) ||
		!scopeCovers(p.ResourceTypes, p.Categories, rec, !deny) ||
		!p.Period.Contains(req.Time) {
		return false
	}
	if p.DataPeriod != (cc.Period{}) {
		if rec.DataTime.IsZero() {
			if !deny {
				return false
			}
		} else if !p.DataPeriod.Contains(rec.DataTime) {
			return false
		}
	}
	if p.Condition == "" {
		return true
	}
	ok, err := in.eval(p.Condition)
	if err != nil {
		return deny
	}
	return ok
}

// requesterActor returns the actor test for the requester: the actor
// names the requester's DID, one of the requester's organizations, an
// organization in which the requester has the role, or a care team the
// requester is on. A malformed actor (not exactly one form) matches for
// a deny and never for a permit.
func requesterActor(req cc.AccessRequest, deny bool) func(cc.Actor) bool {
	return func(a cc.Actor) bool {
		switch {
		case !wellFormed(a):
			return deny
		case a.DID != "":
			return a.DID == req.Requester
		case a.CareTeam != nil:
			return slices.Contains(a.CareTeam, req.Requester)
		}
		return memberWith(req.Orgs, a.Org, a.Role)
	}
}

// wellFormed reports whether a uses exactly one actor form.
func wellFormed(a cc.Actor) bool {
	forms := btoi(a.DID != "") + btoi(a.Org != "") + btoi(a.CareTeam != nil)
	return forms == 1 && (a.Role == "" || a.Org != "")
}

// memberWith reports whether the memberships include org, with role when
// role is not empty.
func memberWith(ms []cc.Member, org string, role cc.Role) bool {
	return slices.ContainsFunc(ms, func(m cc.Member) bool {
		return m.Org == org && (role == "" || slices.Contains(m.Roles, role))
	})
}

// btoi is 1 for true and 0 for false.
func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

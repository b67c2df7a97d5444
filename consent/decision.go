// Package consent holds carechain's consent contracts, data-sharing
// agreements and the access decision that reads them.
//
// A patient (or a delegate holding the scope "consent.manage") grants a
// consent: a list of permit and deny provisions in the FHIR Consent
// provision model (actors, actions, purposes of use, resource types and
// categories, validity period, data period and an optional CEL condition).
// Two organizations sign a data-sharing agreement (propose, countersign,
// terminate) under which data flows where the patient's consent state
// allows. Can is the access decision: a pure function of a request and the
// Facts that Load reads from state.
//
// Everything here is deterministic: no clock (times come from the block
// via cc.TxContext and cc.AccessRequest), no randomness, goroutines or I/O
// besides the injected state, no Go map order in outputs and no floats in
// state. Handlers validate their whole payload and the state they depend on
// before their first write, and every error they return is a *cc.Error:
//
//   - cc.Malformed: the payload is not a JSON object of the expected shape
//     (syntax, JSON types, unknown, case-variant or duplicate fields at any
//     depth, trailing data);
//   - cc.Invalid: a field's content breaks a rule (a bad DID, organization
//     id, code, period, count or CEL condition);
//   - cc.Unauthorized, cc.NotFound, cc.Conflict, cc.FailedPrecondition: as
//     documented on each transaction type.
//
// # Conditions
//
// A condition is a CEL expression of type bool over two variables (native
// structs, not maps, so they cannot be iterated in Go map order):
//
//	request.requester   string        the requester's DID
//	request.action      string        "read", "search" or "export"
//	request.purpose     string        a PurposeOfUse code
//	request.orgs        list(string)  the requester's organizations, sorted
//	request.roles       list(string)  the requester's roles in any of them, sorted
//	request.time        timestamp     the decision time (block time)
//	record.type         string        FHIR resource type
//	record.categories   list(string)  "system|code" categories and security labels
//	record.author_org   string        the authoring organization ("" if none)
//	record.org          string        the custodian organization
//	record.data_time    timestamp     the clinically relevant time (0001-01-01T00:00:00Z if unknown)
//	record.version      int           the record version
//
// Only the CEL standard library is available (it has no clock); functions
// taking a time zone name are refused because they read the host's time
// zone database. Evaluation is bounded by ConditionCostLimit. A condition
// that errs at run time (an index out of range, the cost limit) fails
// closed: its permit does not match, its deny does.
package consent

import (
	"slices"
	"strconv"

	cc "carechain"
	"carechain/identity"
)

// Scopes of delegations this package honours (see identity delegations).
const (
	ScopeRecordsRead   = "records.read"   // a delegate may read the principal's records
	ScopeConsentManage = "consent.manage" // a delegate may grant and revoke the principal's consents
)

// clinicalRoles are the roles through which a member of the authoring
// organization reads what it authored.
var clinicalRoles = []cc.Role{cc.RolePhysician, cc.RoleNurse, cc.RoleEmergency, cc.RolePharmacist}

// Facts are the state an access decision reads, loaded by Load.
type Facts struct {
	Consents    []cc.Consent    // the patient's consents (active and revoked; Can ignores revoked ones)
	Agreements  []cc.Agreement  // active agreements whose recipient is one of the requester's orgs
	BreakGlass  []cc.BreakGlass // the requester's windows for this patient
	Delegations []cc.Delegation // delegations granted by the patient to the requester
}

// Can decides req against f: the pure access decision (Upspin style). The
// first rule that applies decides:
//
//  1. the requester is the record's patient: allow, BasisPatient;
//  2. the requester holds an unexpired delegation from the patient with
//     scope ScopeRecordsRead or "*": allow, BasisDelegate (any action);
//
// A request whose action is not one of Actions or whose purpose is not one
// of PurposesOfUse is denied from here on.
//
//  3. a deny provision of an unrevoked consent matches: deny — unless rule 7's break-glass window applies
//     (purpose ETREAT only), which overrides the patient's denies for
//     emergency treatment: allow, BasisBreakGlass, with the overridden
//     consent in Reason. Denies override rules 4–6, never rules 1–2;
//  4. the requester is a member of the record's authoring organization with
//     a clinical role (physician, nurse, emergency-clinician, pharmacist):
//     allow, BasisAuthor;
//  5. an active agreement covers the access (the recipient is one of the
//     requester's organizations, the provider is the record's custodian or
//     authoring organization, it lists the record's type and the purpose,
//     it has one of the record's categories or lists none, it names every
//     sensitive label the record carries, its period contains req.Time and
//     its condition holds) and the consent state allows it: an opt-out
//     agreement needs nothing more (a patient's deny was rule 3), an
//     opt-in one needs a matching permit whose actor names the recipient
//     organization (alone, or with a role the requester holds there; a
//     permit without actors covers everyone, the recipient included):
//     allow, BasisAgreement, Ref the agreement id (the opt-in permit's
//     consent id goes in Reason);
//  6. a permit provision of an unrevoked consent matches: allow,
//     BasisConsent, Ref the consent id;
//  7. the requester has a break-glass window for the patient, not reviewed
//     as misuse, with req.Time in [Start, End), and the purpose is ETREAT:
//     allow, BasisBreakGlass, Ref the window id;
//  8. otherwise deny.
//
// A provision matches when one of its actors names the requester (its
// DID, one of its organizations, an organization in which it holds the
// role, or a care team it is on; no actors means anyone), it lists the
// action, the purpose and the record's type (an empty list means any), the
// record has one of its categories (none listed means any), its period
// contains req.Time, its data period contains the record's DataTime and
// its condition holds. A permit must also name, in its categories, every
// sensitive label (SensitiveLabels) the record carries. Matching fails
// closed: when the provision has a data period but the record no DataTime,
// or its condition errs, a permit does not match and a deny does.
//
// Rules 5 and 6 give the same allow/deny answer in either order (both only
// allow); agreements come first so that a flow under an agreement is
// logged as such even when the patient's opt-in permit would also cover
// it. Consents whose patient is not the record's patient and agreements
// that are not active are ignored. Facts are scanned in order, so the first
// matching consent or agreement in Load's order is the one reported.
// Denials carry Allow false, no Basis and no Ref; Reason is for the audit
// log only.
func Can(req cc.AccessRequest, f Facts) cc.Decision {
	rec := req.Record
	switch {
	case !req.Requester.Valid():
		return denied("the requester is not a did:cc identifier")
	case ByPatient(req):
		return cc.Decision{Allow: true, Basis: cc.BasisPatient, Reason: "the patient"}
	case delegated(req, f.Delegations):
		return cc.Decision{Allow: true, Basis: cc.BasisDelegate, Reason: "a delegate of the patient with scope " + ScopeRecordsRead}
	case !slices.Contains(Actions, req.Action):
		return denied("unknown action")
	case !slices.Contains(PurposesOfUse, req.Purpose):
		return denied("unknown purpose of use")
	}
	in := &conditionInput{req: req}
	consents := liveConsents(rec.Patient, f.Consents)
	window, hasWindow := breakGlass(req, f.BreakGlass)

	if c, i, ok := firstMatch(consents, cc.Deny, requesterActor(req, true), in); ok {
		if hasWindow {
			return cc.Decision{Allow: true, Basis: cc.BasisBreakGlass, Ref: window.ID,
				Reason: "break-glass window " + window.ID + " overrides the deny in consent " + c.ID + " provision " + strconv.Itoa(i)}
		}
		return denied("denied by consent " + c.ID + " provision " + strconv.Itoa(i))
	}
	if rec.AuthorOrg != "" && slices.ContainsFunc(clinicalRoles, func(r cc.Role) bool { return memberWith(req.Orgs, rec.AuthorOrg, r) }) {
		return cc.Decision{Allow: true, Basis: cc.BasisAuthor, Reason: "a clinician of the authoring organization " + rec.AuthorOrg}
	}
	for _, a := range f.Agreements {
		if !agreementCovers(a, in) {
			continue
		}
		if a.OptOut {
			return cc.Decision{Allow: true, Basis: cc.BasisAgreement, Ref: a.ID, Reason: "opt-out agreement " + a.ID}
		}
		if c, i, ok := firstMatch(consents, cc.Permit, recipientActor(req, a.Recipient), in); ok {
			return cc.Decision{Allow: true, Basis: cc.BasisAgreement, Ref: a.ID,
				Reason: "opt-in agreement " + a.ID + " with consent " + c.ID + " provision " + strconv.Itoa(i)}
		}
	}
	if c, i, ok := firstMatch(consents, cc.Permit, requesterActor(req, false), in); ok {
		return cc.Decision{Allow: true, Basis: cc.BasisConsent, Ref: c.ID, Reason: "consent " + c.ID + " provision " + strconv.Itoa(i)}
	}
	if hasWindow {
		return cc.Decision{Allow: true, Basis: cc.BasisBreakGlass, Ref: window.ID, Reason: "break-glass window " + window.ID}
	}
	return denied("no consent, agreement or default allows it")
}

// ByPatient reports whether req is the record's patient's own: Can then
// allows it on the patient basis (rule 2) whatever the facts, so a caller
// need not Load them.
func ByPatient(req cc.AccessRequest) bool {
	return req.Requester.Valid() && req.Record.Patient != "" && req.Requester == req.Record.Patient
}

// MayBreakGlass reports whether Can may allow a request with this purpose
// of use on the break-glass basis (rules 3 and 7: purpose ETREAT only). A
// request for which it is false is never a break-glass access, whatever
// the state.
func MayBreakGlass(purpose string) bool { return purpose == emergencyPurpose }

// denied is a denial with an audit reason.
func denied(reason string) cc.Decision { return cc.Decision{Reason: reason} }

// delegated reports whether one of ds is an unexpired delegation from the
// record's patient to the requester with scope ScopeRecordsRead or "*".
func delegated(req cc.AccessRequest, ds []cc.Delegation) bool {
	patient := req.Record.Patient
	return patient != "" && slices.ContainsFunc(ds, func(d cc.Delegation) bool {
		return d.Principal == patient && d.Delegate == req.Requester && req.Time.Before(d.Expires) &&
			(slices.Contains(d.Scopes, ScopeRecordsRead) || slices.Contains(d.Scopes, identity.ScopeAll))
	})
}

// liveConsents returns the unrevoked consents of patient, in order.
func liveConsents(patient cc.DID, cs []cc.Consent) []cc.Consent {
	var out []cc.Consent
	for _, c := range cs {
		if patient != "" && c.Patient == patient && c.Revoked == 0 {
			out = append(out, c)
		}
	}
	return out
}

// firstMatch returns the first consent and provision index of type typ
// that matches the request with the actor test actorOK.
func firstMatch(cs []cc.Consent, typ cc.ProvisionType, actorOK func(cc.Actor) bool, in *conditionInput) (cc.Consent, int, bool) {
	for _, c := range cs {
		for i, p := range c.Provisions {
			if p.Type == typ && provisionMatches(p, actorOK, in) {
				return c, i, true
			}
		}
	}
	return cc.Consent{}, 0, false
}

// recipientActor returns the actor test of an opt-in agreement's permit:
// the actor names the recipient organization, alone or with a role the
// requester holds there.
func recipientActor(req cc.AccessRequest, recipient string) func(cc.Actor) bool {
	return func(a cc.Actor) bool {
		return wellFormed(a) && a.Org == recipient && memberWith(req.Orgs, a.Org, a.Role)
	}
}

// breakGlass returns the requester's break-glass window for the record's
// patient that is open at req.Time and not reviewed as misuse, if the
// purpose is ETREAT.
func breakGlass(req cc.AccessRequest, ws []cc.BreakGlass) (cc.BreakGlass, bool) {
	if req.Purpose != emergencyPurpose || req.Record.Patient == "" {
		return cc.BreakGlass{}, false
	}
	for _, w := range ws {
		if w.Patient == req.Record.Patient && w.Clinician == req.Requester && w.Review != "misuse" &&
			!req.Time.Before(w.Start) && req.Time.Before(w.End) {
			return w, true
		}
	}
	return cc.BreakGlass{}, false
}

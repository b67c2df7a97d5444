package consent

import (
	cc "carechain"
	"carechain/identity"
)

// Load reads from state the Facts that Can needs to decide req:
//
//   - Consents: every consent of the record's patient, revoked ones
//     included, ordered by id (ListConsents);
//   - Agreements: the active agreements whose recipient is one of the
//     requester's organizations (req.Orgs), ordered by organization and id;
//   - BreakGlass: the requester's break-glass windows for the patient,
//     cc.BreakGlass values under "access/bg/{patient}/{requester}/" (written
//     by package access), in key order, whether open or not;
//   - Delegations: the patient's delegations to the requester (identity),
//     expired ones included.
//
// Lists are empty, never nil. Malformed DIDs or organization ids select
// nothing. Read or decode failures are cc.Internal.
func Load(kv cc.Reader, req cc.AccessRequest) (Facts, error) {
	f := Facts{Consents: []cc.Consent{}, Agreements: []cc.Agreement{}, BreakGlass: []cc.BreakGlass{}, Delegations: []cc.Delegation{}}
	patient := req.Record.Patient
	if patient.Valid() {
		var err error
		if f.Consents, err = ListConsents(kv, patient); err != nil {
			return Facts{}, err
		}
		ds, err := identity.ListDelegations(kv, patient)
		if err != nil {
			return Facts{}, cc.E("consent.load", cc.Internal, err)
		}
		for _, d := range ds {
			if d.Delegate == req.Requester {
				f.Delegations = append(f.Delegations, d)
			}
		}
		if req.Requester.Valid() {
			if err := iterateJSON(kv, breakGlassPrefix(patient, req.Requester), func(w cc.BreakGlass) {
				f.BreakGlass = append(f.BreakGlass, w)
			}); err != nil {
				return Facts{}, err
			}
		}
	}
	orgs := make([]string, 0, len(req.Orgs))
	for _, m := range req.Orgs {
		orgs = append(orgs, m.Org)
	}
	for _, org := range sortedSet(orgs) {
		as, err := activeAgreements(kv, org)
		if err != nil {
			return Facts{}, err
		}
		f.Agreements = append(f.Agreements, as...)
	}
	return f, nil
}

// iterateJSON is cc.IterateJSON for this package: it passes every value
// under prefix, in key order, to fn.
func iterateJSON[T any](kv cc.Reader, prefix string, fn func(T)) error {
	return cc.IterateJSON("consent.iterate", kv, prefix, func(v T) bool { fn(v); return true })
}

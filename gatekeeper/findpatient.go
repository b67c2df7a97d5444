package gatekeeper

import (
	"context"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	cc "carechain"
	"carechain/access"
	"carechain/records"
)

// Finding a patient by identifier. A clinician who knows a patient's
// medical record number but not their DID searches
// Patient?identifier=system|value with a signed search that names no
// patient. The identifiers are PHI kept in this node's index (never on
// the ledger); the gatekeeper looks them up, keeps the Patient resources
// the committed consent state lets the requester see (action search on
// the Patient record), and releases them under one access event, which is
// the found patient's (the ledger checks that the event names Patient
// records of one patient only). A search that finds nothing the
// requester may see answers an empty page, exactly as an unknown
// identifier does, and logs nothing. One signed request is one event of
// one patient, so an identifier that matches several patients the
// requester may see is cc.Invalid (give system|value).

// findPatient answers a search that names no patient: a Patient lookup by
// identifier.
func (g *Gatekeeper) findPatient(ctx context.Context, sr access.SignedRead, req *access.ReadRequest, q *Query) (*SearchResult, error) {
	anchors, err := g.patientMatches(ctx, req, q)
	if err != nil {
		return nil, err
	}
	out := &SearchResult{Offset: q.Offset, Count: q.Count, Total: len(anchors), Release: Release{Records: []Released{}}}
	if len(anchors) == 0 {
		return out, nil
	}
	if g.distinctPatients(anchors) > 1 {
		return nil, ambiguous()
	}
	var page []*cc.RecordAnchor
	var ids []string
	for _, a := range anchors[min(q.Offset, len(anchors)):min(q.Offset+q.Count, len(anchors))] {
		page = append(page, a)
		ids = append(ids, a.ID)
	}
	if len(page) == 0 {
		return out, nil
	}
	r, err := g.release(ctx, sr, ids, page)
	if err != nil {
		return nil, err
	}
	out.Release = *r
	return out, nil
}

func ambiguous() error {
	return cc.Errorf("search", cc.Invalid, "the identifier matches more than one patient you may see: give system|value")
}

// PatientsFound verifies a signed patient lookup (a search naming no
// patient) and returns the DIDs of the patients whose Patient resources
// held here match and the requester may see, without logging anything:
// a node serving several custodians asks each before one of them
// answers the search (Search), so that the answer names one patient.
func (g *Gatekeeper) PatientsFound(ctx context.Context, sr access.SignedRead) ([]cc.DID, error) {
	req, err := g.verifyRead(sr, access.ActionSearch)
	if err != nil {
		return nil, err
	}
	if req.Patient != "" {
		return nil, cc.Errorf("search", cc.Invalid, "a patient lookup is signed for no patient")
	}
	q, err := ParseQuery(req.Query)
	if err != nil {
		return nil, err
	}
	anchors, err := g.patientMatches(ctx, req, q)
	if err != nil {
		return nil, err
	}
	var out []cc.DID
	for _, a := range anchors {
		if !slices.Contains(out, a.Patient) {
			out = append(out, a.Patient)
		}
	}
	return out, nil
}

// patientMatches returns the Patient records held here that match q's
// identifiers (and its other filters) and that the requester may see,
// by record id.
func (g *Gatekeeper) patientMatches(ctx context.Context, req *access.ReadRequest, q *Query) ([]*cc.RecordAnchor, error) {
	if len(q.Identifiers) == 0 || !slices.Equal(q.Types, []string{"Patient"}) || q.PatientRef != "" {
		return nil, cc.Errorf("search", cc.Invalid, "a search that names no patient is a Patient search by identifier (Patient?identifier=system|value)")
	}
	state := g.cfg.Chain.State()
	ids := g.cfg.Index.WithIdentifier(g.cfg.Org, "Patient", q.Identifiers)
	q.identIDs = ids
	deciders := map[cc.DID]*decision{}
	var out []*cc.RecordAnchor
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range ids {
			if !yield(id) {
				return
			}
		}
	}) {
		a, err := records.GetAnchor(state, id)
		if err != nil || a.Org != g.cfg.Org || a.Erased || a.Patient == "" || !g.matches(q, a) {
			continue
		}
		d := deciders[a.Patient]
		if d == nil {
			r := *req
			r.Patient = a.Patient
			if d, err = g.decider(ctx, &r); err != nil {
				return nil, err
			}
			deciders[a.Patient] = d
		}
		if d.allow(a) {
			out = append(out, a)
		}
	}
	return out, nil
}

func (g *Gatekeeper) distinctPatients(as []*cc.RecordAnchor) int {
	var ps []cc.DID
	for _, a := range as {
		if !slices.Contains(ps, a.Patient) {
			ps = append(ps, a.Patient)
		}
	}
	return len(ps)
}

// WithIdentifier returns the ids ("Type/id") of org's resources of typ
// (any type when "") that carry an identifier matching one of tokens
// (FHIR token search: "system|value", "value" in any system, "|value"
// with no system, "system|" any value of the system). A "system|value"
// token is a point lookup when typ is given; the other forms scan org's
// identifiers of typ. Bundle fullUrls (indexed to resolve references)
// are not identifiers and never match.
func (x *Index) WithIdentifier(org, typ string, tokens []string) map[string]bool {
	out := map[string]bool{}
	var scan []string
	for _, t := range tokens {
		sys, val, hasSys := strings.Cut(t, "|")
		if typ != "" && hasSys && sys != "" && val != "" {
			if id, ok := x.Lookup(org, typ, t); ok && !isFullURL(t) {
				out[typ+"/"+id] = true
			}
			continue
		}
		scan = append(scan, t)
	}
	if len(scan) == 0 {
		return out
	}
	prefix := []byte("i/" + org + "\x00")
	if typ != "" {
		prefix = identKey(org, typ, "")
	}
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: append(slices.Clone(prefix), 0xff)})
	if err != nil {
		return out
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		rest := string(it.Key()[len("i/"+org+"\x00"):])
		t, ident, ok := strings.Cut(rest, "\x00")
		if !ok || isFullURL(ident) {
			continue
		}
		for _, tok := range scan {
			if tokenMatch(ident, tok) {
				out[t+"/"+string(it.Value())] = true
				break
			}
		}
	}
	return out
}

// isFullURL reports whether an indexed identifier is a bundle fullUrl.
func isFullURL(ident string) bool {
	return strings.HasPrefix(ident, "urn:ietf:rfc:3986|urn:uuid:")
}

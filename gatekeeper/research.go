package gatekeeper

import (
	"context"
	"strings"

	cc "carechain"
	"carechain/access"
	"carechain/fhir"
	"carechain/identity"
	"carechain/research"
)

// RecordResearchAnswer submits, signed with this node's key, the
// research.query.answer transaction that records answer as the answer of
// question n of project, and waits for its block. The ledger keeps the
// first answer of a question: a question answered meanwhile (by this or
// another node) is cc.Conflict, and the caller then reads the committed
// answer instead of releasing its own.
func (g *Gatekeeper) RecordResearchAnswer(ctx context.Context, project string, n int, answer *research.Answer) (cc.SubmitResult, error) {
	return g.submit(ctx, research.TypeAnswer, map[string]any{"project": project, "query": n, "answer": answer})
}

// ResearchRecord is one de-identified record of a research extract.
type ResearchRecord struct {
	Type string // the FHIR resource type
	JSON []byte // de-identified, compact
}

// ResearchRelease is what one signed research export released.
type ResearchRelease struct {
	Patient cc.DID
	Event   string // the committed access event that logged the release
	Records []ResearchRecord
}

// ResearchExport answers one signed research export of project p: sr
// must be an export (action "export") for purpose HRESEARCH, acting for
// p's institute (Org), by an admin or researcher of it (else cc.Invalid or
// cc.Unauthorized), while p is active and requested extracts
// (cc.FailedPrecondition). A patient who does not count for p
// (research.Counts with the committed state at the latest block) answers
// cc.NotFound without any read, exactly like a patient without records:
// non-consenting patients are never read for research. Otherwise the
// records are released as Everything releases them (decided by consent,
// logged on-chain before release, so the patient sees the read in their
// access log), then each is de-identified with d; resources d leaves out
// are dropped. A release with no record is cc.NotFound.
func (g *Gatekeeper) ResearchExport(ctx context.Context, sr access.SignedRead, p *research.Project, d fhir.Deidentifier) (*ResearchRelease, error) {
	const op = "research.extract"
	req, err := g.verifyRead(sr, access.ActionExport)
	if err != nil {
		return nil, err
	}
	if req.Purpose != research.Purpose || req.Org != p.Org {
		return nil, cc.Errorf(op, cc.Invalid, "a research export is signed for purpose %s, acting for %s", research.Purpose, p.Org)
	}
	state := g.cfg.Chain.State()
	staff := false
	for _, role := range []cc.Role{cc.RoleResearcher, cc.RoleAdmin} {
		ok, err := identity.HasRole(state, p.Org, req.Requester, role)
		if err != nil {
			return nil, cc.E(op, cc.Internal, err)
		}
		staff = staff || ok
	}
	if !staff {
		return nil, cc.Errorf(op, cc.Unauthorized, "%s is not an admin or researcher of %s", req.Requester, p.Org)
	}
	st, err := g.cfg.Chain.Status(ctx)
	if err != nil {
		return nil, err
	}
	if !p.Active(st.LatestBlockTime) || !p.Extracts {
		return nil, cc.Errorf(op, cc.FailedPrecondition, "research project %s is not active or did not request extracts", p.ID)
	}
	counted, err := research.Participants(state, p, st.LatestBlockTime, []cc.DID{req.Patient})
	if err != nil {
		return nil, err
	}
	if len(counted) == 0 {
		return nil, notFound()
	}
	res, err := g.search(ctx, sr, access.ActionExport)
	if err != nil {
		return nil, err
	}
	if len(res.Records) == 0 {
		return nil, notFound()
	}
	out := &ResearchRelease{Patient: req.Patient, Event: res.Event.ID}
	for _, rec := range res.Records {
		b, err := d.Deidentify(rec.JSON)
		if err != nil {
			return nil, cc.E(op, cc.Internal, err)
		}
		if b == nil {
			continue
		}
		typ, _, _ := strings.Cut(rec.ID, "/")
		out.Records = append(out.Records, ResearchRecord{Type: typ, JSON: b})
	}
	return out, nil
}

package seed

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"time"

	cc "carechain"
	"carechain/identity"
	"carechain/ledger/tx"
)

// Progress reports a seeding step; done of total transactions.
type Progress func(step string, done, total int)

// Seeded reports whether the demo world is already on the chain (the first
// organization exists), so a restarted demo does not seed twice.
func Seeded(chain cc.Chain) bool {
	_, err := identity.GetOrg(chain.State(), Orgs[0].ID)
	return err == nil
}

// step builds the transactions of one seeding step and submits them as a
// batch, waiting for them to commit. Every transaction must succeed.
type step struct {
	chain   Ledger
	chainID string
	seqs    map[cc.DID]uint64
	txs     [][]byte
	what    []string
}

func (s *step) add(ctx context.Context, id Identity, typ string, payload any) error {
	seq, ok := s.seqs[id.DID]
	if !ok {
		n, err := s.chain.Sequence(ctx, id.DID)
		if err != nil {
			return err
		}
		seq = n
	}
	raw, err := tx.Build(s.chainID, id.DID, id.Key, seq, typ, payload)
	if err != nil {
		return err
	}
	s.seqs[id.DID] = seq + 1
	s.txs = append(s.txs, raw)
	s.what = append(s.what, typ+" by "+id.Name)
	return nil
}

func (s *step) submit(ctx context.Context, name string, progress Progress, done *int, total int) error {
	const batch = 500
	for i := 0; i < len(s.txs); i += batch {
		j := min(i+batch, len(s.txs))
		res := s.chain.Submit(ctx, s.txs[i:j], true)
		for k, r := range res {
			if !r.Accepted || r.Height == 0 {
				return fmt.Errorf("seed %s: %s: %s", name, s.what[i+k], r.Log)
			}
		}
		*done += j - i
		if progress != nil {
			progress(name, *done, total)
		}
	}
	s.txs, s.what = nil, nil
	return nil
}

func pubKey(id Identity) string { return tx.EncodeKey(id.Key.Public().(ed25519.PublicKey)) }

// Ledger is what Apply needs of a chain: a cc.Chain, or a node's HTTP API.
type Ledger interface {
	Submit(ctx context.Context, txs [][]byte, wait bool) []cc.SubmitResult
	Status(ctx context.Context) (cc.Status, error)
	Sequence(ctx context.Context, signer cc.DID) (uint64, error)
}

// Apply puts the population on the chain: DIDs and patient registrations,
// organization admissions by governance, memberships (staff, and the node
// key of each organization that holds records, with role node), links of
// every patient to the LinkedOrgs (made by each organization's node key
// with the patient's approval), attestations, one patient's guardians and
// one delegation. now is used only to choose the expiry of the delegation
// and of the link approvals (one year later).
func Apply(ctx context.Context, chain Ledger, p *Population, now time.Time, progress Progress) error {
	st, err := chain.Status(ctx)
	if err != nil {
		return err
	}
	s := &step{chain: chain, chainID: st.ChainID, seqs: map[cc.DID]uint64{}}
	nodes := p.NodeList()
	total := len(p.All()) - 1 + len(Orgs) + len(p.Staff) + len(nodes) + len(p.Patients)*(len(LinkedOrgs)+1)
	if len(p.Patients) >= 6 {
		total += 2 // guardians and a delegation
	}
	done := 0
	expires := now.UTC().AddDate(1, 0, 0).Truncate(time.Second)

	for _, o := range Orgs {
		if a := p.Admins[o.ID]; a.DID != p.Governance.DID {
			if err := s.add(ctx, a, "did.create", map[string]string{"public_key": pubKey(a), "kind": string(a.Kind)}); err != nil {
				return err
			}
		}
	}
	for _, id := range slices.Concat(p.Staff, nodes) {
		if err := s.add(ctx, id, "did.create", map[string]string{"public_key": pubKey(id), "kind": string(id.Kind)}); err != nil {
			return err
		}
	}
	for _, id := range p.Patients {
		if err := s.add(ctx, id, "patient.register", map[string]string{"public_key": pubKey(id)}); err != nil {
			return err
		}
	}
	if err := s.submit(ctx, "identities", progress, &done, total); err != nil {
		return err
	}

	for _, o := range Orgs {
		params := map[string]string{"id": o.ID, "name": o.Name, "type": string(o.Type), "admin": string(p.Admins[o.ID].DID)}
		if err := s.add(ctx, p.Governance, "gov.propose", map[string]any{"action": "org.admit", "params": params}); err != nil {
			return err
		}
	}
	if err := s.submit(ctx, "organizations", progress, &done, total); err != nil {
		return err
	}

	for _, id := range p.Staff {
		org := p.StaffOrg[id.Name]
		if err := s.add(ctx, p.Admins[org], "org.member.add", map[string]any{"org": org, "member": id.DID, "roles": p.StaffRoles[id.Name]}); err != nil {
			return err
		}
	}
	for _, o := range Orgs {
		if n, ok := p.Nodes[o.ID]; ok {
			if err := s.add(ctx, p.Admins[o.ID], "org.member.add", map[string]any{"org": o.ID, "member": n.DID, "roles": []cc.Role{cc.RoleNode}}); err != nil {
				return err
			}
		}
	}
	if err := s.submit(ctx, "memberships", progress, &done, total); err != nil {
		return err
	}

	for _, pt := range p.Patients {
		for _, org := range LinkedOrgs {
			node, ok := p.Nodes[org]
			if !ok {
				return fmt.Errorf("seed: linked organization %q has no node key", org)
			}
			if err := s.add(ctx, node, identity.TypePatientLink, map[string]any{
				"patient": pt.DID, "org": org, "expires": expires.Format(time.RFC3339),
				"approval": identity.SignLinkApproval(pt.Key, s.chainID, pt.DID, org, expires)}); err != nil {
				return err
			}
		}
	}
	if err := s.submit(ctx, "links", progress, &done, total); err != nil {
		return err
	}

	attesters := []string{"st-mary-physician", "riverside-physician", "northside-physician"}
	staff := map[string]Identity{}
	for _, id := range p.Staff {
		staff[id.Name] = id
	}
	for i, pt := range p.Patients {
		a := staff[attesters[i%len(attesters)]]
		if err := s.add(ctx, a, "patient.attest", map[string]any{"patient": pt.DID, "org": p.StaffOrg[a.Name]}); err != nil {
			return err
		}
	}
	if len(p.Patients) >= 6 {
		pt := p.Patients
		if err := s.add(ctx, pt[0], "did.guardians.set", map[string]any{
			"guardians": []cc.DID{pt[1].DID, pt[2].DID, pt[3].DID}, "threshold": 2, "delay_blocks": 10}); err != nil {
			return err
		}
		if err := s.add(ctx, pt[5], "did.delegate.grant", map[string]any{
			"delegate": pt[4].DID, "scopes": []string{"records.read", "consent.manage"},
			"expires": expires.Format(time.RFC3339)}); err != nil {
			return err
		}
	}
	return s.submit(ctx, "attestations", progress, &done, total)
}

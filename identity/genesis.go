package identity

import (
	"crypto/ed25519"
	"slices"

	cc "carechain"
	"carechain/ledger/tx"
)

// InitGenesis validates the identity part of genesis and writes it: the
// accounts as DIDs (key_version 1, created at height 0), the governance,
// the organizations and their members (with the membership index).
//
// Every rule violation is cc.Invalid and nothing is written:
//   - each account has a did:cc DID derived from its 32-byte public key
//     (tx.DeriveDID) and a known kind; no DID appears twice;
//   - governance has 1..MaxGovMembers distinct members, all genesis
//     accounts, and 1 ≤ threshold ≤ members;
//   - each organization has a distinct slug id, a valid name and type, a
//     genesis account as DID and a non-negative admission height;
//   - each member belongs to a genesis organization, is a genesis account,
//     appears once per organization and has 1..9 distinct known roles; every
//     organization has at least one admin.
//
// State that already holds governance or one of the accounts or
// organizations is cc.Conflict.
func InitGenesis(kv cc.KV, g cc.GenesisState) error {
	const op = opGenesis
	accounts := make(map[cc.DID]bool, len(g.Accounts))
	for _, a := range g.Accounts {
		if err := cc.CheckDID(op, "account", a.DID); err != nil {
			return err
		}
		if accounts[a.DID] {
			return cc.Errorf(op, cc.Invalid, "account %s is listed twice", a.DID)
		}
		accounts[a.DID] = true
		if !validKind(a.Kind) {
			return cc.Errorf(op, cc.Invalid, "account %s has unknown kind %q", a.DID, cc.Echo(string(a.Kind)))
		}
		if len(a.PublicKey) != ed25519.PublicKeySize {
			return cc.Errorf(op, cc.Invalid, "account %s: public_key must be 32 bytes", a.DID)
		}
		if tx.DeriveDID(a.PublicKey) != a.DID {
			return cc.Errorf(op, cc.Invalid, "account %s is not the DID derived from its public_key", a.DID)
		}
	}
	members, err := checkGovernance(op, g.Governance.Members, g.Governance.Threshold)
	if err != nil {
		return err
	}
	for _, m := range members {
		if !accounts[m] {
			return cc.Errorf(op, cc.Invalid, "governance member %s is not a genesis account", m)
		}
	}
	orgs := make(map[string]bool, len(g.Organizations))
	for _, o := range g.Organizations {
		if err := checkSlug(op, "organization id", o.ID); err != nil {
			return err
		}
		if orgs[o.ID] {
			return cc.Errorf(op, cc.Invalid, "organization %q is listed twice", o.ID)
		}
		orgs[o.ID] = true
		if !validName(o.Name) {
			return cc.Errorf(op, cc.Invalid, "organization %q: name must be 1 to %d bytes of text without control characters or surrounding spaces", o.ID, MaxOrgNameLen)
		}
		if !validOrgType(o.Type) {
			return cc.Errorf(op, cc.Invalid, "organization %q has unknown type %q", o.ID, cc.Echo(string(o.Type)))
		}
		if !accounts[o.DID] {
			return cc.Errorf(op, cc.Invalid, "organization %q: did %s is not a genesis account", o.ID, cc.Echo(string(o.DID)))
		}
		if o.Admitted < 0 {
			return cc.Errorf(op, cc.Invalid, "organization %q: admitted height is negative", o.ID)
		}
	}
	type orgMember struct {
		org string
		did cc.DID
	}
	seen := make(map[orgMember]bool, len(g.Members))
	admins := make(map[string]bool, len(orgs))
	ms := make([]cc.Member, 0, len(g.Members))
	for _, m := range g.Members {
		if !orgs[m.Org] {
			return cc.Errorf(op, cc.Invalid, "member %s: organization %q is not in genesis", cc.Echo(string(m.DID)), cc.Echo(m.Org))
		}
		if !accounts[m.DID] {
			return cc.Errorf(op, cc.Invalid, "member %s of %q is not a genesis account", cc.Echo(string(m.DID)), m.Org)
		}
		if seen[orgMember{m.Org, m.DID}] {
			return cc.Errorf(op, cc.Invalid, "member %s of %q is listed twice", m.DID, m.Org)
		}
		seen[orgMember{m.Org, m.DID}] = true
		roles, err := checkRoles(op, m.Roles)
		if err != nil {
			return err
		}
		if m.Added < 0 {
			return cc.Errorf(op, cc.Invalid, "member %s of %q: added height is negative", m.DID, m.Org)
		}
		admins[m.Org] = admins[m.Org] || slices.Contains(roles, cc.RoleAdmin)
		ms = append(ms, cc.Member{Org: m.Org, DID: m.DID, Roles: roles, Added: m.Added})
	}
	for _, o := range g.Organizations {
		if !admins[o.ID] {
			return cc.Errorf(op, cc.Invalid, "organization %q has no admin member", o.ID)
		}
	}
	if err := genesisConflicts(kv, g); err != nil {
		return err
	}
	for _, a := range g.Accounts {
		if err := cc.SetJSON(kv, didKey(a.DID), newDIDRecord(a.DID, a.Kind, a.PublicKey, 0)); err != nil {
			return err
		}
	}
	if err := cc.SetJSON(kv, keyGovernance, cc.Governance{Members: members, Threshold: g.Governance.Threshold}); err != nil {
		return err
	}
	for _, o := range g.Organizations {
		if err := cc.SetJSON(kv, orgKey(o.ID), o); err != nil {
			return err
		}
	}
	for _, m := range ms {
		if err := putMember(kv, m); err != nil {
			return err
		}
	}
	return nil
}

// genesisConflicts is cc.Conflict if kv already holds governance or one of
// g's accounts or organizations.
func genesisConflicts(kv cc.Reader, g cc.GenesisState) error {
	const op = opGenesis
	if b, err := kv.Get(keyGovernance); err != nil {
		return cc.E(op, cc.Internal, err)
	} else if b != nil {
		return cc.Errorf(op, cc.Conflict, "governance is already on the ledger")
	}
	for _, a := range g.Accounts {
		if _, found, err := lookupDID(kv, a.DID); err != nil {
			return err
		} else if found {
			return cc.Errorf(op, cc.Conflict, "account %s is already on the ledger", a.DID)
		}
	}
	for _, o := range g.Organizations {
		if b, err := kv.Get(orgKey(o.ID)); err != nil {
			return cc.E(op, cc.Internal, err)
		} else if b != nil {
			return cc.Errorf(op, cc.Conflict, "organization %q is already on the ledger", o.ID)
		}
	}
	return nil
}

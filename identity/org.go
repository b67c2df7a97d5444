package identity

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	cc "carechain"
)

// MaxOrgNameLen is the longest organization name, in bytes.
const MaxOrgNameLen = 200

// allRoles lists every member role, sorted.
var allRoles = func() []cc.Role {
	r := []cc.Role{cc.RoleAdmin, cc.RolePhysician, cc.RoleNurse, cc.RolePharmacist, cc.RoleEmergency,
		cc.RolePrivacyOfficer, cc.RoleLogistics, cc.RolePublicHealthOffice, cc.RoleResearcher, cc.RoleNode}
	slices.Sort(r)
	return r
}()

// memberAddPayload is the payload of "org.member.add".
type memberAddPayload struct {
	Org    string    `json:"org"`
	Member cc.DID    `json:"member"`
	Roles  []cc.Role `json:"roles"`
}

// memberRemovePayload is the payload of "org.member.remove".
type memberRemovePayload struct {
	Org    string `json:"org"`
	Member cc.DID `json:"member"`
}

// GetOrg returns organization id, cc.NotFound if there is none.
func GetOrg(kv cc.Reader, id string) (*cc.Organization, error) {
	var o cc.Organization
	found := false
	if cc.ValidOrgID(id) {
		var err error
		if found, err = cc.GetJSON(kv, orgKey(id), &o); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, cc.Errorf("identity.org", cc.NotFound, "no organization %q", cc.Echo(id))
	}
	return &o, nil
}

// ListOrgs returns every organization, active or suspended, ordered by id.
func ListOrgs(kv cc.Reader) ([]cc.Organization, error) {
	out := []cc.Organization{}
	err := iterateJSON(kv, prefixOrg, func(o cc.Organization) { out = append(out, o) })
	return out, err
}

// ListMembers returns the members of org ordered by DID (empty if org does
// not exist).
func ListMembers(kv cc.Reader, org string) ([]cc.Member, error) {
	out := []cc.Member{}
	if !cc.ValidOrgID(org) {
		return out, nil
	}
	err := iterateJSON(kv, membersPrefix(org), func(m cc.Member) { out = append(out, m) })
	return out, err
}

// GetMember returns d's membership of org, cc.NotFound if d is not a member.
func GetMember(kv cc.Reader, org string, d cc.DID) (*cc.Member, error) {
	var m cc.Member
	found := false
	if cc.ValidOrgID(org) && d.Valid() {
		var err error
		if found, err = cc.GetJSON(kv, memberKey(org, d), &m); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, cc.Errorf("identity.member", cc.NotFound, "%s is not a member of %q", cc.Echo(string(d)), cc.Echo(org))
	}
	return &m, nil
}

// MembershipsOf returns d's memberships of every organization, ordered by
// organization id.
func MembershipsOf(kv cc.Reader, d cc.DID) ([]cc.Member, error) {
	out := []cc.Member{}
	if !d.Valid() {
		return out, nil
	}
	var orgs []string
	if err := iterateJSON(kv, memberOfPrefix(d), func(org string) { orgs = append(orgs, org) }); err != nil {
		return nil, err
	}
	for _, org := range orgs {
		m, err := GetMember(kv, org, d)
		if err != nil {
			return nil, cc.E("identity.memberships", cc.Internal, err)
		}
		out = append(out, *m)
	}
	return out, nil
}

// HasRole reports whether d is a member of org with role and org is an
// active (not suspended) organization. Other domains use it to authorize
// actions taken on an organization's behalf.
func HasRole(kv cc.Reader, org string, d cc.DID, role cc.Role) (bool, error) {
	o, err := GetOrg(kv, org)
	if cc.Is(cc.NotFound, err) {
		return false, nil
	}
	if err != nil || !o.Active {
		return false, err
	}
	m, err := GetMember(kv, org, d)
	if cc.Is(cc.NotFound, err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return slices.Contains(m.Roles, role), nil
}

// validName reports whether s is a usable display name: valid UTF-8 of
// 1..MaxOrgNameLen bytes, no control characters, no leading or trailing
// space.
func validName(s string) bool {
	if s == "" || len(s) > MaxOrgNameLen || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return false
	}
	return !strings.ContainsFunc(s, unicode.IsControl)
}

// validOrgType reports whether t is one of the organization types.
func validOrgType(t cc.OrgType) bool {
	switch t {
	case cc.OrgHospital, cc.OrgClinic, cc.OrgPharmacy, cc.OrgLaboratory, cc.OrgManufacturer,
		cc.OrgDistributor, cc.OrgPublicHealth, cc.OrgResearch, cc.OrgRegulator:
		return true
	}
	return false
}

// checkRoles validates a role list (1..len(allRoles) distinct known roles)
// and returns it sorted. Violations are cc.Invalid.
func checkRoles(op string, roles []cc.Role) ([]cc.Role, error) {
	if len(roles) == 0 || len(roles) > len(allRoles) {
		return nil, cc.Errorf(op, cc.Invalid, "roles must list 1 to %d roles", len(allRoles))
	}
	out := slices.Clone(roles)
	slices.Sort(out)
	for i, r := range out {
		if _, known := slices.BinarySearch(allRoles, r); !known {
			return nil, cc.Errorf(op, cc.Invalid, "unknown role %q", cc.Echo(string(r)))
		}
		if i > 0 && out[i-1] == r {
			return nil, cc.Errorf(op, cc.Invalid, "role %q is listed twice", r)
		}
	}
	return out, nil
}

// checkSlug reports cc.Invalid unless s is an organization slug.
func checkSlug(op, field, s string) error {
	if !cc.ValidOrgID(s) {
		return cc.Errorf(op, cc.Invalid, "%s %q must match [a-z0-9-]{2,40}", field, cc.Echo(s))
	}
	return nil
}

// activeOrg returns organization id: cc.NotFound if absent,
// cc.FailedPrecondition if suspended.
func activeOrg(op string, kv cc.Reader, id string) (*cc.Organization, error) {
	var o cc.Organization
	found, err := cc.GetJSON(kv, orgKey(id), &o)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, cc.Errorf(op, cc.NotFound, "no organization %q", id)
	}
	if !o.Active {
		return nil, cc.Errorf(op, cc.FailedPrecondition, "organization %q is suspended", id)
	}
	return &o, nil
}

// requireRole returns cc.Unauthorized unless d is a member of org holding
// one of roles.
func requireRole(op string, kv cc.Reader, org string, d cc.DID, roles ...cc.Role) error {
	var m cc.Member
	found, err := cc.GetJSON(kv, memberKey(org, d), &m)
	if err != nil {
		return err
	}
	if found {
		for _, r := range roles {
			if slices.Contains(m.Roles, r) {
				return nil
			}
		}
	}
	return cc.Errorf(op, cc.Unauthorized, "%s needs role %s in %q", d, joinRoles(roles, " or "), org)
}

// joinRoles renders roles separated by sep.
func joinRoles(roles []cc.Role, sep string) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, sep)
}

// countAdmins returns how many members of org hold the admin role.
func countAdmins(kv cc.Reader, org string) (int, error) {
	n := 0
	err := iterateJSON(kv, membersPrefix(org), func(m cc.Member) {
		if slices.Contains(m.Roles, cc.RoleAdmin) {
			n++
		}
	})
	return n, err
}

// putMember writes m and its index entry.
func putMember(kv cc.KV, m cc.Member) error {
	if err := cc.SetJSON(kv, memberKey(m.Org, m.DID), m); err != nil {
		return err
	}
	return cc.SetJSON(kv, memberOfKey(m.DID, m.Org), m.Org)
}

// memberChange checks the common part of org.member.add and
// org.member.remove: a valid org slug and member DID, a signer on the
// ledger who is an admin of the active org. It returns the member's current
// membership, if any.
func memberChange(op string, kv cc.Reader, signer cc.DID, org string, member cc.DID) (*cc.Member, error) {
	if err := checkSlug(op, "org", org); err != nil {
		return nil, err
	}
	if err := cc.CheckDID(op, "member", member); err != nil {
		return nil, err
	}
	if _, err := signerRecord(op, kv, signer); err != nil {
		return nil, err
	}
	if _, err := activeOrg(op, kv, org); err != nil {
		return nil, err
	}
	if err := requireRole(op, kv, org, signer, cc.RoleAdmin); err != nil {
		return nil, err
	}
	var m cc.Member
	found, err := cc.GetJSON(kv, memberKey(org, member), &m)
	if err != nil || !found {
		return nil, err
	}
	return &m, nil
}

// handleMemberAdd applies "org.member.add" {org, member, roles}: an admin
// of the active organization org makes member (a DID on the ledger) a member
// with exactly roles, replacing the roles of an existing member. roles are
// 1..9 distinct cc.Role values (cc.Invalid otherwise). A signer who is not an
// admin is cc.Unauthorized, an unknown org or member cc.NotFound, a
// suspended org or taking admin from the last admin cc.FailedPrecondition.
func handleMemberAdd(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeOrgMemberAdd
	var p memberAddPayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	roles, err := checkRoles(op, p.Roles)
	if err != nil {
		return cc.Result{}, err
	}
	old, err := memberChange(op, kv, ctx.Signer, p.Org, p.Member)
	if err != nil {
		return cc.Result{}, err
	}
	if _, err := existingDID(op, kv, "member", p.Member); err != nil {
		return cc.Result{}, err
	}
	m := cc.Member{Org: p.Org, DID: p.Member, Roles: roles, Added: ctx.Height}
	if old != nil {
		m.Added = old.Added
		if slices.Contains(old.Roles, cc.RoleAdmin) && !slices.Contains(roles, cc.RoleAdmin) {
			if err := checkNotLastAdmin(op, kv, p.Org); err != nil {
				return cc.Result{}, err
			}
		}
	}
	if err := putMember(kv, m); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, m)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op, "org", m.Org, "member", string(m.DID), "roles", joinRoles(m.Roles, ","), "by", string(ctx.Signer))},
		Data:   data,
	}, nil
}

// handleMemberRemove applies "org.member.remove" {org, member}: an admin
// of the active organization org ends member's membership. A non-member is
// cc.NotFound; removing the last admin is cc.FailedPrecondition; otherwise
// the errors are those of org.member.add.
func handleMemberRemove(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeOrgMemberRemove
	var p memberRemovePayload
	if err := cc.DecodeStrict(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	old, err := memberChange(op, kv, ctx.Signer, p.Org, p.Member)
	if err != nil {
		return cc.Result{}, err
	}
	if old == nil {
		return cc.Result{}, cc.Errorf(op, cc.NotFound, "%s is not a member of %q", p.Member, p.Org)
	}
	if slices.Contains(old.Roles, cc.RoleAdmin) {
		if err := checkNotLastAdmin(op, kv, p.Org); err != nil {
			return cc.Result{}, err
		}
	}
	kv.Delete(memberKey(p.Org, p.Member))
	kv.Delete(memberOfKey(p.Member, p.Org))
	data, err := cc.ResultData(op, memberRemovePayload{Org: p.Org, Member: p.Member})
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op, "org", p.Org, "member", string(p.Member), "by", string(ctx.Signer))},
		Data:   data,
	}, nil
}

// checkNotLastAdmin is cc.FailedPrecondition when org has one admin left.
func checkNotLastAdmin(op string, kv cc.Reader, org string) error {
	n, err := countAdmins(kv, org)
	if err != nil {
		return err
	}
	if n <= 1 {
		return cc.Errorf(op, cc.FailedPrecondition, "cannot remove the last admin of %q", org)
	}
	return nil
}

// orgAdmitParams are the parameters of the "org.admit" action.
type orgAdmitParams struct {
	ID    string     `json:"id"`            // slug [a-z0-9-]{2,40}
	Name  string     `json:"name"`          // display name, see validName
	Type  cc.OrgType `json:"type"`          // one of the cc.Org* types
	Admin cc.DID     `json:"admin"`         // first member, with role admin
	DID   cc.DID     `json:"did,omitempty"` // the organization's own DID; defaults to admin
}

// orgIDParams are the parameters of "org.suspend" and "org.reinstate".
type orgIDParams struct {
	ID string `json:"id"`
}

// prepareOrgAdmit validates "org.admit" params: bad id, name, type or DIDs
// are cc.Invalid, an admin or did not on the ledger cc.NotFound, a taken id
// cc.Conflict. The returned apply creates the active organization and makes
// admin its member with role admin.
func prepareOrgAdmit(op string, kv cc.Reader, raw json.RawMessage) (any, applyFunc, error) {
	var p orgAdmitParams
	if err := cc.DecodeStrict(op, "params", raw, &p); err != nil {
		return nil, nil, err
	}
	if err := checkSlug(op, "id", p.ID); err != nil {
		return nil, nil, err
	}
	if !validName(p.Name) {
		return nil, nil, cc.Errorf(op, cc.Invalid, "name must be 1 to %d bytes of text without control characters or surrounding spaces", MaxOrgNameLen)
	}
	if !validOrgType(p.Type) {
		return nil, nil, cc.Errorf(op, cc.Invalid, "unknown organization type %q", cc.Echo(string(p.Type)))
	}
	if err := cc.CheckDID(op, "admin", p.Admin); err != nil {
		return nil, nil, err
	}
	if p.DID == "" {
		p.DID = p.Admin
	}
	if err := cc.CheckDID(op, "did", p.DID); err != nil {
		return nil, nil, err
	}
	if _, err := existingDID(op, kv, "admin", p.Admin); err != nil {
		return nil, nil, err
	}
	if _, err := existingDID(op, kv, "did", p.DID); err != nil {
		return nil, nil, err
	}
	b, err := kv.Get(orgKey(p.ID))
	if err != nil {
		return nil, nil, cc.E(op, cc.Internal, err)
	}
	if b != nil {
		return nil, nil, cc.Errorf(op, cc.Conflict, "organization %q already exists", p.ID)
	}
	apply := func(ctx cc.TxContext, kv cc.KV, res *cc.Result) error {
		o := cc.Organization{ID: p.ID, Name: p.Name, Type: p.Type, DID: p.DID, Admitted: ctx.Height, Active: true}
		if err := cc.SetJSON(kv, orgKey(o.ID), o); err != nil {
			return err
		}
		if err := putMember(kv, cc.Member{Org: o.ID, DID: p.Admin, Roles: []cc.Role{cc.RoleAdmin}, Added: ctx.Height}); err != nil {
			return err
		}
		res.Events = append(res.Events, cc.NewEvent(ActionOrgAdmit, "org", o.ID, "type", string(o.Type), "did", string(o.DID), "admin", string(p.Admin)))
		return nil
	}
	return p, apply, nil
}

// prepareOrgActive validates "org.suspend" (active false) and
// "org.reinstate" (active true) params {id}: an unknown org is
// cc.NotFound, one already in the wanted state cc.Conflict.
func prepareOrgActive(op string, kv cc.Reader, raw json.RawMessage, active bool) (any, applyFunc, error) {
	var p orgIDParams
	if err := cc.DecodeStrict(op, "params", raw, &p); err != nil {
		return nil, nil, err
	}
	if err := checkSlug(op, "id", p.ID); err != nil {
		return nil, nil, err
	}
	o, err := GetOrg(kv, p.ID)
	if cc.Is(cc.NotFound, err) {
		return nil, nil, cc.Errorf(op, cc.NotFound, "no organization %q", p.ID)
	}
	if err != nil {
		return nil, nil, err
	}
	if o.Active == active {
		state := "suspended"
		if active {
			state = "active"
		}
		return nil, nil, cc.Errorf(op, cc.Conflict, "organization %q is already %s", p.ID, state)
	}
	apply := func(ctx cc.TxContext, kv cc.KV, res *cc.Result) error {
		o.Active = active
		if err := cc.SetJSON(kv, orgKey(o.ID), o); err != nil {
			return err
		}
		typ := ActionOrgSuspend
		if active {
			typ = ActionOrgReinstate
		}
		res.Events = append(res.Events, cc.NewEvent(typ, "org", o.ID))
		return nil
	}
	return p, apply, nil
}

package identity

import (
	"slices"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

func TestMemberAddAndRemove(t *testing.T) {
	e := newEnv(t, 2)
	nurse := newActor("nurse")
	e.mustCreate(t, nurse, cc.KindPractitioner)

	e.height = 14
	res := e.mustSubmit(t, hadmin, TypeOrgMemberAdd, obj{"org": "st-marys", "member": nurse.did, "roles": []string{"nurse", "emergency-clinician"}})
	m := cctest.DecodeData[cc.Member](t, res)
	if !slices.Equal(m.Roles, []cc.Role{cc.RoleEmergency, cc.RoleNurse}) || m.Added != 14 {
		t.Errorf("member = %+v", m)
	}
	if got := cctest.Attr(res, TypeOrgMemberAdd, "roles"); got != "emergency-clinician,nurse" {
		t.Errorf("event roles = %q", got)
	}
	for _, tt := range []struct {
		role cc.Role
		want bool
	}{{cc.RoleNurse, true}, {cc.RoleEmergency, true}, {cc.RolePhysician, false}} {
		if got, err := HasRole(e.kv, "st-marys", nurse.did, tt.role); got != tt.want || err != nil {
			t.Errorf("HasRole(%s) = %v, %v", tt.role, got, err)
		}
	}

	// Replacing roles keeps the original Added height.
	e.height = 15
	e.mustSubmit(t, hadmin, TypeOrgMemberAdd, obj{"org": "st-marys", "member": nurse.did, "roles": []string{"nurse"}})
	got, err := GetMember(e.kv, "st-marys", nurse.did)
	if err != nil || !slices.Equal(got.Roles, []cc.Role{cc.RoleNurse}) || got.Added != 14 {
		t.Errorf("after replace: %+v, %v", got, err)
	}

	// nurse joins city-lab too; MembershipsOf lists both in org order.
	e.mustSubmit(t, labby, TypeOrgMemberAdd, obj{"org": "city-lab", "member": nurse.did, "roles": []string{"researcher"}})
	ms, err := MembershipsOf(e.kv, nurse.did)
	if err != nil || len(ms) != 2 || ms[0].Org != "city-lab" || ms[1].Org != "st-marys" {
		t.Errorf("MembershipsOf = %+v, %v", ms, err)
	}
	list, err := ListMembers(e.kv, "st-marys")
	if err != nil || len(list) != 3 {
		t.Errorf("ListMembers = %+v, %v", list, err)
	}
	for i := 1; i < len(list); i++ {
		if list[i-1].DID >= list[i].DID {
			t.Errorf("ListMembers not sorted: %+v", list)
		}
	}

	e.mustSubmit(t, hadmin, TypeOrgMemberRemove, obj{"org": "st-marys", "member": nurse.did})
	if _, err := GetMember(e.kv, "st-marys", nurse.did); !cc.Is(cc.NotFound, err) {
		t.Errorf("GetMember after remove = %v", err)
	}
	if ms, _ := MembershipsOf(e.kv, nurse.did); len(ms) != 1 || ms[0].Org != "city-lab" {
		t.Errorf("MembershipsOf after remove = %+v", ms)
	}
	_, err = e.submit(t, hadmin, TypeOrgMemberRemove, obj{"org": "st-marys", "member": nurse.did})
	cctest.WantKind(t, err, cc.NotFound)
}

func TestLastAdmin(t *testing.T) {
	e := newEnv(t, 2)
	_, err := e.submit(t, hadmin, TypeOrgMemberRemove, obj{"org": "st-marys", "member": hadmin.did})
	cctest.WantKind(t, err, cc.FailedPrecondition)
	_, err = e.submit(t, hadmin, TypeOrgMemberAdd, obj{"org": "st-marys", "member": hadmin.did, "roles": []string{"physician"}})
	cctest.WantKind(t, err, cc.FailedPrecondition)

	// With a second admin the first may step down.
	e.mustSubmit(t, hadmin, TypeOrgMemberAdd, obj{"org": "st-marys", "member": doc.did, "roles": []string{"admin", "physician"}})
	e.mustSubmit(t, hadmin, TypeOrgMemberAdd, obj{"org": "st-marys", "member": hadmin.did, "roles": []string{"physician"}})
	_, err = e.submit(t, hadmin, TypeOrgMemberRemove, obj{"org": "st-marys", "member": doc.did})
	cctest.WantKind(t, err, cc.Unauthorized)
	_, err = e.submit(t, doc, TypeOrgMemberRemove, obj{"org": "st-marys", "member": doc.did})
	cctest.WantKind(t, err, cc.FailedPrecondition)
	e.mustSubmit(t, doc, TypeOrgMemberRemove, obj{"org": "st-marys", "member": hadmin.did})
}

func TestMemberChangeRejections(t *testing.T) {
	e := newEnv(t, 2)
	nurse := newActor("nurse")
	e.mustCreate(t, nurse, cc.KindPractitioner)
	tests := []struct {
		name    string
		signer  *actor
		typ     string
		payload obj
		want    cc.Kind
	}{
		{"add: not an admin", doc, TypeOrgMemberAdd, obj{"org": "st-marys", "member": nurse.did, "roles": []string{"nurse"}}, cc.Unauthorized},
		{"add: admin of another org", labby, TypeOrgMemberAdd, obj{"org": "st-marys", "member": nurse.did, "roles": []string{"nurse"}}, cc.Unauthorized},
		{"add: unknown org", hadmin, TypeOrgMemberAdd, obj{"org": "nowhere", "member": nurse.did, "roles": []string{"nurse"}}, cc.NotFound},
		{"add: bad org slug", hadmin, TypeOrgMemberAdd, obj{"org": "St Marys", "member": nurse.did, "roles": []string{"nurse"}}, cc.Invalid},
		{"add: member not on ledger", hadmin, TypeOrgMemberAdd, obj{"org": "st-marys", "member": nobody.did, "roles": []string{"nurse"}}, cc.NotFound},
		{"add: member not a DID", hadmin, TypeOrgMemberAdd, obj{"org": "st-marys", "member": "nurse", "roles": []string{"nurse"}}, cc.Invalid},
		{"add: unknown role", hadmin, TypeOrgMemberAdd, obj{"org": "st-marys", "member": nurse.did, "roles": []string{"surgeon"}}, cc.Invalid},
		{"add: no roles", hadmin, TypeOrgMemberAdd, obj{"org": "st-marys", "member": nurse.did, "roles": []string{}}, cc.Invalid},
		{"add: duplicate role", hadmin, TypeOrgMemberAdd, obj{"org": "st-marys", "member": nurse.did, "roles": []string{"nurse", "nurse"}}, cc.Invalid},
		{"add: roles not a list", hadmin, TypeOrgMemberAdd, obj{"org": "st-marys", "member": nurse.did, "roles": "nurse"}, cc.Malformed},
		{"add: unknown signer", nobody, TypeOrgMemberAdd, obj{"org": "st-marys", "member": nurse.did, "roles": []string{"nurse"}}, cc.UnknownSigner},
		{"remove: not an admin", doc, TypeOrgMemberRemove, obj{"org": "st-marys", "member": hadmin.did}, cc.Unauthorized},
		{"remove: not a member", hadmin, TypeOrgMemberRemove, obj{"org": "st-marys", "member": nurse.did}, cc.NotFound},
		{"remove: unknown org", hadmin, TypeOrgMemberRemove, obj{"org": "nowhere", "member": doc.did}, cc.NotFound},
		{"remove: extra field", hadmin, TypeOrgMemberRemove, obj{"org": "st-marys", "member": doc.did, "roles": []string{}}, cc.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.submit(t, tt.signer, tt.typ, tt.payload)
			cctest.WantKind(t, err, tt.want)
		})
	}
}

func TestOrgReads(t *testing.T) {
	e := newEnv(t, 2)
	orgs, err := ListOrgs(e.kv)
	if err != nil || len(orgs) != 2 || orgs[0].ID != "city-lab" || orgs[1].ID != "st-marys" {
		t.Errorf("ListOrgs = %+v, %v", orgs, err)
	}
	for _, id := range []string{"nowhere", "", "../gov", "st-marys/x"} {
		if _, err := GetOrg(e.kv, id); !cc.Is(cc.NotFound, err) {
			t.Errorf("GetOrg(%q) = %v, want NotFound", id, err)
		}
	}
	if ms, err := ListMembers(e.kv, "st"); err != nil || len(ms) != 0 {
		t.Errorf("ListMembers(prefix of an id) = %+v, %v", ms, err)
	}
	if ok, err := HasRole(e.kv, "nowhere", hadmin.did, cc.RoleAdmin); ok || err != nil {
		t.Errorf("HasRole(unknown org) = %v, %v", ok, err)
	}
	if ok, err := HasRole(e.kv, "st-marys", nobody.did, cc.RoleAdmin); ok || err != nil {
		t.Errorf("HasRole(non-member) = %v, %v", ok, err)
	}
}

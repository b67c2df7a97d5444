package identity

import (
	"slices"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

func TestInitGenesis(t *testing.T) {
	e := newEnv(t, 2)
	g, err := GetGovernance(e.kv)
	want := []cc.DID{gov1.did, gov2.did, gov3.did}
	slices.Sort(want)
	if err != nil || !slices.Equal(g.Members, want) || g.Threshold != 2 {
		t.Errorf("governance = %+v, %v", g, err)
	}
	rec := mustDID(t, e.kv, labby.did)
	if rec.KeyVersion != 1 || rec.Created != 0 || rec.Kind != cc.KindPractitioner {
		t.Errorf("account record = %+v", rec)
	}
	m, err := GetMember(e.kv, "city-lab", labby.did)
	if err != nil || !slices.Equal(m.Roles, []cc.Role{cc.RoleAdmin, cc.RoleResearcher}) {
		t.Errorf("member = %+v, %v", m, err)
	}
	if ms, _ := MembershipsOf(e.kv, doc.did); len(ms) != 1 || ms[0].Org != "st-marys" {
		t.Errorf("MembershipsOf(doc) = %+v", ms)
	}
	// Genesis runs once.
	cctest.WantKind(t, InitGenesis(e.kv, testGenesis(2)), cc.Conflict)
}

func TestInitGenesisRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(g *cc.GenesisState)
	}{
		{"duplicate DID", func(g *cc.GenesisState) { g.Accounts = append(g.Accounts, g.Accounts[0]) }},
		{"DID not derived from key", func(g *cc.GenesisState) { g.Accounts[0].PublicKey = gov2.pub }},
		{"bad DID", func(g *cc.GenesisState) { g.Accounts[0].DID = "did:cc:nope" }},
		{"short key", func(g *cc.GenesisState) { g.Accounts[0].PublicKey = gov1.pub[:16] }},
		{"unknown kind", func(g *cc.GenesisState) { g.Accounts[0].Kind = "robot" }},
		{"threshold above members", func(g *cc.GenesisState) { g.Governance.Threshold = 4 }},
		{"threshold 0", func(g *cc.GenesisState) { g.Governance.Threshold = 0 }},
		{"no governance", func(g *cc.GenesisState) { g.Governance = cc.Governance{} }},
		{"duplicate governance member", func(g *cc.GenesisState) { g.Governance.Members[1] = g.Governance.Members[0] }},
		{"governance member not an account", func(g *cc.GenesisState) { g.Governance.Members[0] = nobody.did }},
		{"duplicate org", func(g *cc.GenesisState) { g.Organizations = append(g.Organizations, g.Organizations[0]) }},
		{"bad org slug", func(g *cc.GenesisState) { g.Organizations[0].ID = "St Marys" }},
		{"bad org type", func(g *cc.GenesisState) { g.Organizations[0].Type = "spa" }},
		{"bad org name", func(g *cc.GenesisState) { g.Organizations[0].Name = " padded " }},
		{"org DID not an account", func(g *cc.GenesisState) { g.Organizations[0].DID = nobody.did }},
		{"negative admission", func(g *cc.GenesisState) { g.Organizations[0].Admitted = -1 }},
		{"member of unknown org", func(g *cc.GenesisState) { g.Members[1].Org = "nowhere" }},
		{"member not an account", func(g *cc.GenesisState) { g.Members[1].DID = nobody.did }},
		{"duplicate member", func(g *cc.GenesisState) { g.Members = append(g.Members, g.Members[1]) }},
		{"unknown role", func(g *cc.GenesisState) { g.Members[1].Roles = []cc.Role{"surgeon"} }},
		{"no roles", func(g *cc.GenesisState) { g.Members[1].Roles = nil }},
		{"org without admin", func(g *cc.GenesisState) { g.Members[0].Roles = []cc.Role{cc.RoleNurse} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := testGenesis(2)
			tt.mutate(&g)
			kv := cctest.NewKV()
			err := InitGenesis(kv, g)
			cctest.WantKind(t, err, cc.Invalid)
			if len(cctest.Keys(kv, "")) != 0 {
				t.Errorf("rejected genesis wrote %v", cctest.Keys(kv, ""))
			}
		})
	}
}

package supply

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/identity"
	"carechain/internal/cctest"
)

// More actors for master data, cold chain and recalls: a second
// manufacturer, a regulator (admin, public-health officer, and a member
// without a review role), a suspended regulator, and patients.
var (
	bioAdmin   = newActor("bio-admin")
	regAdmin   = newActor("reg-admin")
	regOfficer = newActor("reg-officer")
	regClerk   = newActor("reg-clerk")
	oldReg     = newActor("old-reg")
	patientA   = newActor("patient-a")
	patientB   = newActor("patient-b")
	patientC   = newActor("patient-c")
)

// vialGTIN is the GTIN-14 of the fixture's SGTINs (0614141.107346.*).
const vialGTIN = "10614141073464"

// newMasterEnv is newEnv plus bio-co (a second manufacturer), health-reg
// (a regulator) and old-reg (a suspended regulator).
func newMasterEnv(t testing.TB) *env {
	t.Helper()
	acct := func(a *actor, k cc.DIDKind) cc.GenesisAccount {
		return cc.GenesisAccount{DID: a.did, Kind: k, PublicKey: a.pub}
	}
	g := cc.GenesisState{
		Accounts: []cc.GenesisAccount{
			acct(gov, cc.KindNode), acct(mfgAdmin, cc.KindPractitioner), acct(mfg, cc.KindPractitioner),
			acct(dist, cc.KindPractitioner), acct(nurse, cc.KindPractitioner), acct(shady, cc.KindPractitioner),
			acct(bioAdmin, cc.KindPractitioner), acct(regAdmin, cc.KindPractitioner), acct(regOfficer, cc.KindPractitioner),
			acct(regClerk, cc.KindPractitioner), acct(oldReg, cc.KindPractitioner),
		},
		Governance: cc.Governance{Members: []cc.DID{gov.did}, Threshold: 1},
		Organizations: []cc.Organization{
			{ID: "pharma-co", Name: "Pharma Co", Type: cc.OrgManufacturer, DID: mfgAdmin.did, Active: true},
			{ID: "distrib", Name: "Distributor", Type: cc.OrgDistributor, DID: dist.did, Active: true},
			{ID: "clinic", Name: "Clinic", Type: cc.OrgClinic, DID: nurse.did, Active: true},
			{ID: "gone-org", Name: "Suspended", Type: cc.OrgDistributor, DID: shady.did, Active: false},
			{ID: "bio-co", Name: "Bio Co", Type: cc.OrgManufacturer, DID: bioAdmin.did, Active: true},
			{ID: "health-reg", Name: "Health Regulator", Type: cc.OrgRegulator, DID: regAdmin.did, Active: true},
			{ID: "old-reg", Name: "Old Regulator", Type: cc.OrgRegulator, DID: oldReg.did, Active: false},
		},
		Members: []cc.Member{
			{Org: "pharma-co", DID: mfgAdmin.did, Roles: []cc.Role{cc.RoleAdmin}},
			{Org: "pharma-co", DID: mfg.did, Roles: []cc.Role{cc.RoleLogistics}},
			{Org: "distrib", DID: dist.did, Roles: []cc.Role{cc.RoleAdmin, cc.RoleLogistics}},
			{Org: "clinic", DID: nurse.did, Roles: []cc.Role{cc.RoleAdmin, cc.RoleNurse}},
			{Org: "gone-org", DID: shady.did, Roles: []cc.Role{cc.RoleAdmin, cc.RoleLogistics}},
			{Org: "bio-co", DID: bioAdmin.did, Roles: []cc.Role{cc.RoleAdmin}},
			{Org: "health-reg", DID: regAdmin.did, Roles: []cc.Role{cc.RoleAdmin}},
			{Org: "health-reg", DID: regOfficer.did, Roles: []cc.Role{cc.RolePublicHealthOffice}},
			{Org: "health-reg", DID: regClerk.did, Roles: []cc.Role{cc.RoleLogistics}},
			{Org: "old-reg", DID: oldReg.did, Roles: []cc.Role{cc.RoleAdmin}},
		},
	}
	e := &env{kv: cctest.NewKV(), height: 10, time: genTime}
	if err := identity.InitGenesis(e.kv, g); err != nil {
		t.Fatalf("InitGenesis: %v", err)
	}
	return e
}

// fork returns a copy of e that tests may change freely.
func (e *env) fork() *env {
	return &env{kv: cctest.Copy(e.kv), height: e.height, time: e.time}
}

// run applies a transaction of type typ signed by a with payload (a value
// to marshal or raw bytes) in the next block.
func (e *env) run(t testing.TB, a *actor, typ string, payload any) (cc.Result, error) {
	t.Helper()
	raw, ok := payload.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			t.Fatalf("marshal: %v", err)
		}
	}
	e.next()
	return cctest.Apply(t, Handlers()[typ], e.ctx(a.did, typ), e.kv, raw)
}

// mustRun is run that fails t on an error.
func (e *env) mustRun(t testing.TB, a *actor, typ string, payload any) cc.Result {
	t.Helper()
	res, err := e.run(t, a, typ, payload)
	if err != nil {
		t.Fatalf("%s by %s: %v", typ, a.name, err)
	}
	return res
}

// wantRejected runs typ on a fork of e and checks the error kind, that it
// mentions msg and that the state is unchanged.
func wantRejected(t *testing.T, e *env, a *actor, typ string, payload any, kind cc.Kind, msg string) {
	t.Helper()
	f := e.fork()
	before := cctest.Copy(f.kv)
	_, err := f.run(t, a, typ, payload)
	cctest.WantKind(t, err, kind)
	if err != nil && msg != "" && !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q does not mention %q", err, msg)
	}
	if d := cctest.Diff(before, f.kv); d != "" {
		t.Errorf("state changed:\n%s", d)
	}
}

// vaccine is a product payload for the fixture GTIN: 2..8 °C, 30 minutes
// of excursion, 10 doses per vial, with overrides (nil deletes a field).
func vaccine(set obj) obj {
	p := obj{"org": "pharma-co", "gtin": vialGTIN, "name": "Vaccine X 10-dose vial", "cvx": "208",
		"snomed": "1119349007", "storage_min_milli_c": 2000, "storage_max_milli_c": 8000,
		"excursion_minutes": 30, "doses_per_vial": 10}
	for k, v := range set {
		if v == nil {
			delete(p, k)
		} else {
			p[k] = v
		}
	}
	return p
}

// temp is a temperature report at an instant.
func temp(at string, milliC int64) obj {
	return obj{"type": "Temperature", "time": at, "value_milli_c": milliC}
}

// observeTemps is an OBSERVE of epcs carrying sensor reports.
func observeTemps(sensors []obj, epcs ...string) obj {
	return ev(ObjectEvent, ActionObserve, "storing", obj{"epcs": epcs, "sensors": sensors})
}

// at returns the fixture's day at hh:mm UTC, RFC 3339.
func at(hhmm string) string { return "2026-01-05T" + hhmm + ":00Z" }

// putAdministration writes an administration of lot as handleAdminister
// would (log and lot index), for recall tests.
func putAdministration(t testing.TB, kv cc.KV, a Administration, idx int) {
	t.Helper()
	txHash := "ab"
	if err := cc.SetJSON(kv, adminKey(a.Height, txHash, idx), a); err != nil {
		t.Fatal(err)
	}
	if err := cc.SetJSON(kv, adminLotKey(a.Lot, a.Height, txHash, idx), adminKey(a.Height, txHash, idx)); err != nil {
		t.Fatal(err)
	}
}

// day is a block time on the fixture's day.
func day(hhmm string) time.Time {
	t, err := time.Parse(time.RFC3339, at(hhmm))
	if err != nil {
		panic(err)
	}
	return t
}

// mustJSON marshals v.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

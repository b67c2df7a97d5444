package consent

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/identity"
	"carechain/internal/cctest"
	"carechain/ledger/store"
	"carechain/ledger/tx"
)

// actor is a test identity with a deterministic key.
type actor struct {
	name string
	pub  ed25519.PublicKey
	did  cc.DID
}

// newActor returns the actor whose key is derived from name.
func newActor(name string) *actor {
	pub, _ := cctest.Key("consent", name)
	return &actor{name: name, pub: pub, did: tx.DeriveDID(pub)}
}

// obj is a JSON object payload.
type obj = map[string]any

// The fixture: the st-marys hospital, the city-clinic, the pha public
// health agency and the uni research institute with their staff, a
// registered patient and the patient's delegates.
var (
	gov        = newActor("gov")
	hadmin     = newActor("hadmin")     // st-marys admin
	hadmin2    = newActor("hadmin2")    // st-marys second admin
	doc        = newActor("doc")        // st-marys physician
	nurse      = newActor("nurse")      // st-marys nurse
	clerk      = newActor("clerk")      // st-marys logistics
	cadmin     = newActor("cadmin")     // city-clinic admin
	gp         = newActor("gp")         // city-clinic physician
	erdoc      = newActor("erdoc")      // city-clinic emergency clinician
	padmin     = newActor("padmin")     // pha admin
	officer    = newActor("officer")    // pha public-health officer
	uadmin     = newActor("uadmin")     // uni admin
	researcher = newActor("researcher") // uni researcher
	pat        = newActor("pat")        // the patient (registered by fixture)
	pat2       = newActor("pat2")       // another patient
	parent     = newActor("parent")     // pat's delegate: consent.manage and records.read
	helper     = newActor("helper")     // pat's delegate: records.read only
	stranger   = newActor("stranger")   // a DID in no organization
	nobody     = newActor("nobody")     // not on the ledger
	genTime    = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
)

// Organization memberships as an AccessRequest carries them.
var (
	docOrgs        = []cc.Member{member("st-marys", cc.RolePhysician)}
	nurseOrgs      = []cc.Member{member("st-marys", cc.RoleNurse)}
	clerkOrgs      = []cc.Member{member("st-marys", cc.RoleLogistics)}
	gpOrgs         = []cc.Member{member("city-clinic", cc.RolePhysician)}
	erOrgs         = []cc.Member{member("city-clinic", cc.RoleEmergency)}
	officerOrgs    = []cc.Member{member("pha", cc.RolePublicHealthOffice)}
	researcherOrgs = []cc.Member{member("uni", cc.RoleResearcher)}
)

// member is a membership of org with roles.
func member(org string, roles ...cc.Role) cc.Member { return cc.Member{Org: org, Roles: roles} }

// testGenesis is the identity genesis of the fixture.
func testGenesis() cc.GenesisState {
	var accounts []cc.GenesisAccount
	for _, a := range []*actor{gov, hadmin, hadmin2, doc, nurse, clerk, cadmin, gp, erdoc, padmin, officer, uadmin, researcher, parent, helper, stranger} {
		accounts = append(accounts, cc.GenesisAccount{DID: a.did, Kind: cc.KindPractitioner, PublicKey: a.pub})
	}
	org := func(id string, typ cc.OrgType, admin *actor) cc.Organization {
		return cc.Organization{ID: id, Name: id, Type: typ, DID: admin.did, Active: true}
	}
	m := func(org string, a *actor, roles ...cc.Role) cc.Member {
		return cc.Member{Org: org, DID: a.did, Roles: roles}
	}
	return cc.GenesisState{
		Accounts:   accounts,
		Governance: cc.Governance{Members: []cc.DID{gov.did}, Threshold: 1},
		Organizations: []cc.Organization{
			org("st-marys", cc.OrgHospital, hadmin), org("city-clinic", cc.OrgClinic, cadmin),
			org("pha", cc.OrgPublicHealth, padmin), org("uni", cc.OrgResearch, uadmin),
		},
		Members: []cc.Member{
			m("st-marys", hadmin, cc.RoleAdmin), m("st-marys", hadmin2, cc.RoleAdmin), m("st-marys", doc, cc.RolePhysician),
			m("st-marys", nurse, cc.RoleNurse), m("st-marys", clerk, cc.RoleLogistics),
			m("city-clinic", cadmin, cc.RoleAdmin), m("city-clinic", gp, cc.RolePhysician), m("city-clinic", erdoc, cc.RoleEmergency),
			m("pha", padmin, cc.RoleAdmin), m("pha", officer, cc.RolePublicHealthOffice),
			m("uni", uadmin, cc.RoleAdmin), m("uni", researcher, cc.RoleResearcher),
		},
	}
}

// env is a ledger state with a block height and time; every transaction
// it applies gets a distinct transaction hash.
type env struct {
	kv     *store.Overlay
	height int64
	time   time.Time
	txs    int
}

// newEnv returns the fixture: genesis, pat and pat2 registered, and pat's
// delegations to parent (consent.manage, records.read) and helper
// (records.read), both expiring in 2030.
func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{kv: cctest.NewKV(), height: 10, time: genTime}
	if err := identity.InitGenesis(e.kv, testGenesis()); err != nil {
		t.Fatalf("InitGenesis: %v", err)
	}
	for _, p := range []*actor{pat, pat2} {
		e.mustApply(t, p, identity.TypePatientRegister, obj{"public_key": tx.EncodeKey(p.pub)})
	}
	e.mustApply(t, pat, identity.TypeDelegateGrant, obj{"delegate": parent.did, "scopes": []string{ScopeConsentManage, ScopeRecordsRead}, "expires": "2030-01-01T00:00:00Z"})
	e.mustApply(t, pat, identity.TypeDelegateGrant, obj{"delegate": helper.did, "scopes": []string{ScopeRecordsRead}, "expires": "2030-01-01T00:00:00Z"})
	return e
}

// nextHash returns the transaction hash of the next transaction.
func (e *env) nextHash() []byte {
	e.txs++
	h := sha256.Sum256([]byte(fmt.Sprintf("tx-%d", e.txs)))
	return h[:]
}

// ctx is the context of a transaction of typ signed by signer.
func (e *env) ctx(signer *actor, typ string) cc.TxContext {
	return cc.TxContext{ChainID: "carechain-test", Height: e.height, Time: e.time, Signer: signer.did, Type: typ, TxHash: e.nextHash()}
}

// apply runs the handler of typ (this package's or identity's) with
// payload (raw bytes, or a value to marshal). When the handler fails it
// checks that the error is a *cc.Error of a specific kind and that the
// state is unchanged.
func (e *env) apply(t testing.TB, signer *actor, typ string, payload any) (cc.Result, error) {
	t.Helper()
	raw, ok := payload.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			t.Fatal(err)
		}
	}
	h, ok := Handlers()[typ]
	if !ok {
		h = identity.Handlers()[typ]
	}
	return cctest.Apply(t, h, e.ctx(signer, typ), e.kv, raw)
}

// mustApply is apply that fails the test on an error.
func (e *env) mustApply(t testing.TB, signer *actor, typ string, payload any) cc.Result {
	t.Helper()
	res, err := e.apply(t, signer, typ, payload)
	if err != nil {
		t.Fatalf("%s by %s: %v", typ, signer.name, err)
	}
	return res
}

// mustGrant grants a consent for patient as signer and returns its id.
func (e *env) mustGrant(t testing.TB, signer *actor, patient *actor, provisions ...obj) string {
	t.Helper()
	return dataID(t, e.mustApply(t, signer, TypeGrant, obj{"patient": patient.did, "provisions": provisions}))
}

// dataID returns the id in a result's Data.
func dataID(t testing.TB, res cc.Result) string {
	t.Helper()
	var d struct{ ID string }
	if err := json.Unmarshal(res.Data, &d); err != nil || d.ID == "" {
		t.Fatalf("result data %q has no id (%v)", res.Data, err)
	}
	return d.ID
}

// decide loads the facts for who reading rec with purpose and decides.
func (e *env) decide(t testing.TB, who *actor, orgs []cc.Member, purpose string, rec cc.RecordAnchor) cc.Decision {
	t.Helper()
	req := cc.AccessRequest{Requester: who.did, Orgs: orgs, Action: "read", Purpose: purpose, Record: rec, Time: e.time}
	f, err := Load(e.kv, req)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return Can(req, f)
}

// sameDecision reports whether got has want's Allow, Basis and Ref.
func sameDecision(got, want cc.Decision) bool {
	return got.Allow == want.Allow && got.Basis == want.Basis && got.Ref == want.Ref
}

// contains reports whether err's text contains s.
func contains(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }

// with returns a copy of rec changed by f.
func with(rec cc.RecordAnchor, f func(*cc.RecordAnchor)) cc.RecordAnchor {
	rec.Categories = append([]string(nil), rec.Categories...)
	f(&rec)
	return rec
}

// prov returns a provision of typ changed by fs.
func prov(typ cc.ProvisionType, fs ...func(*cc.Provision)) cc.Provision {
	p := cc.Provision{Type: typ}
	for _, f := range fs {
		f(&p)
	}
	return p
}

// Provision modifiers.
func byDID(a *actor) func(*cc.Provision) {
	return func(p *cc.Provision) { p.Actors = append(p.Actors, cc.Actor{DID: a.did}) }
}
func byOrg(org string, role cc.Role) func(*cc.Provision) {
	return func(p *cc.Provision) { p.Actors = append(p.Actors, cc.Actor{Org: org, Role: role}) }
}
func byTeam(as ...*actor) func(*cc.Provision) {
	return func(p *cc.Provision) {
		a := cc.Actor{CareTeam: []cc.DID{}}
		for _, x := range as {
			a.CareTeam = append(a.CareTeam, x.did)
		}
		p.Actors = append(p.Actors, a)
	}
}
func forPurposes(ps ...string) func(*cc.Provision) { return func(p *cc.Provision) { p.Purposes = ps } }
func forActions(as ...string) func(*cc.Provision)  { return func(p *cc.Provision) { p.Actions = as } }
func forTypes(ts ...string) func(*cc.Provision) {
	return func(p *cc.Provision) { p.ResourceTypes = ts }
}
func forCats(cs ...string) func(*cc.Provision) { return func(p *cc.Provision) { p.Categories = cs } }
func during(start, end time.Time) func(*cc.Provision) {
	return func(p *cc.Provision) { p.Period = cc.Period{Start: start, End: end} }
}
func dataDuring(start, end time.Time) func(*cc.Provision) {
	return func(p *cc.Provision) { p.DataPeriod = cc.Period{Start: start, End: end} }
}
func when(expr string) func(*cc.Provision) { return func(p *cc.Provision) { p.Condition = expr } }

// consent is pat's consent id with the provisions.
func consent(id string, ps ...cc.Provision) cc.Consent {
	return cc.Consent{ID: id, Patient: pat.did, Grantor: pat.did, Provisions: ps, Created: 5}
}

// revoked is c revoked at height 7.
func revoked(c cc.Consent) cc.Consent { c.Revoked = 7; return c }

// agreement is an active st-marys → pha agreement for Immunizations and
// PUBHLTH, changed by fs.
func agreement(id string, optOut bool, fs ...func(*cc.Agreement)) cc.Agreement {
	a := cc.Agreement{ID: id, Provider: "st-marys", Recipient: "pha", ResourceTypes: []string{"Immunization"},
		Purposes: []string{"PUBHLTH"}, OptOut: optOut, Status: cc.AgreementActive, Effective: 3}
	for _, f := range fs {
		f(&a)
	}
	return a
}

// window is erdoc's break-glass window for pat over [start, end).
func window(id string, start, end time.Time) cc.BreakGlass {
	return cc.BreakGlass{ID: id, Patient: pat.did, Clinician: erdoc.did, Org: "city-clinic", Reason: "unconscious", Start: start, End: end}
}

// delegation is pat's delegation to a with scopes until expires.
func delegation(a *actor, expires time.Time, scopes ...string) cc.Delegation {
	return cc.Delegation{Principal: pat.did, Delegate: a.did, Scopes: scopes, Expires: expires}
}

// ask is a read request by who with orgs and purpose for rec at now.
func ask(who *actor, orgs []cc.Member, purpose string, rec cc.RecordAnchor) cc.AccessRequest {
	return cc.AccessRequest{Requester: who.did, Orgs: orgs, Action: "read", Purpose: purpose, Record: rec, Time: now}
}

// Expected decisions.
var deny = cc.Decision{}

func allow(b cc.Basis, ref string) cc.Decision { return cc.Decision{Allow: true, Basis: b, Ref: ref} }

package research

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/gowebpki/jcs"

	cc "carechain"
	"carechain/consent"
	"carechain/identity"
	"carechain/internal/cctest"
	"carechain/ledger/store"
	"carechain/ledger/tx"
)

const testChain = "carechain-test"

type actor struct {
	name string
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	did  cc.DID
}

func newActor(name string) *actor {
	pub, priv := cctest.Key("research", name)
	return &actor{name: name, priv: priv, pub: pub, did: tx.DeriveDID(pub)}
}

type obj = map[string]any

// The fixture: governance gov1, gov2 (threshold 2); the research institute
// "nri" with admin nadmin and researcher res; the hospital "st-marys" with
// admin hadmin and node key node; the clinic "clinic" with admin cadmin;
// patients pat, pat2, pat3 and pat's delegate deleg (consent.manage).
var (
	gov1    = newActor("gov1")
	gov2    = newActor("gov2")
	nadmin  = newActor("nadmin")
	res     = newActor("res")
	hadmin  = newActor("hadmin")
	node    = newActor("node")
	cadmin  = newActor("cadmin")
	pat     = newActor("pat")
	pat2    = newActor("pat2")
	pat3    = newActor("pat3")
	deleg   = newActor("deleg")
	genTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

type env struct {
	kv     *store.Overlay
	height int64
	time   time.Time
	seq    uint64
}

func allHandlers() map[string]cc.Handler {
	h := identity.Handlers()
	maps.Copy(h, consent.Handlers())
	maps.Copy(h, Handlers())
	return h
}

func testGenesis() cc.GenesisState {
	acct := func(a *actor, k cc.DIDKind) cc.GenesisAccount {
		return cc.GenesisAccount{DID: a.did, Kind: k, PublicKey: a.pub}
	}
	org := func(id string, typ cc.OrgType, admin *actor) cc.Organization {
		return cc.Organization{ID: id, Name: id, Type: typ, DID: admin.did, Active: true}
	}
	member := func(org string, a *actor, roles ...cc.Role) cc.Member {
		return cc.Member{Org: org, DID: a.did, Roles: roles}
	}
	return cc.GenesisState{
		Accounts: []cc.GenesisAccount{acct(gov1, cc.KindNode), acct(gov2, cc.KindNode), acct(nadmin, cc.KindPractitioner),
			acct(res, cc.KindPractitioner), acct(hadmin, cc.KindPractitioner), acct(node, cc.KindNode), acct(cadmin, cc.KindPractitioner)},
		Governance: cc.Governance{Members: sortedDIDs(gov1.did, gov2.did), Threshold: 2},
		Organizations: []cc.Organization{org("nri", cc.OrgResearch, nadmin), org("st-marys", cc.OrgHospital, hadmin),
			org("clinic", cc.OrgClinic, cadmin)},
		Members: []cc.Member{member("nri", nadmin, cc.RoleAdmin), member("nri", res, cc.RoleResearcher),
			member("st-marys", hadmin, cc.RoleAdmin), member("st-marys", node, cc.RoleNode), member("clinic", cadmin, cc.RoleAdmin)},
	}
}

func sortedDIDs(ds ...cc.DID) []cc.DID {
	if ds[0] > ds[1] {
		ds[0], ds[1] = ds[1], ds[0]
	}
	return ds
}

// newEnv is the fixture at height 10 with the patients registered.
func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{kv: cctest.NewKV(), height: 10, time: genTime}
	if err := identity.InitGenesis(e.kv, testGenesis()); err != nil {
		t.Fatalf("InitGenesis: %v", err)
	}
	for _, p := range []*actor{pat, pat2, pat3} {
		e.mustApply(t, p, identity.TypePatientRegister, obj{"public_key": tx.EncodeKey(p.pub)})
	}
	e.mustApply(t, deleg, identity.TypeDIDCreate, obj{"public_key": tx.EncodeKey(deleg.pub), "kind": "patient"})
	e.mustApply(t, pat, identity.TypeDelegateGrant, obj{"delegate": deleg.did, "scopes": []string{consent.ScopeConsentManage}, "expires": "2030-01-01T00:00:00Z"})
	e.next()
	return e
}

func (e *env) next() { e.height++; e.time = e.time.Add(time.Minute) }

func (e *env) ctx(signer cc.DID, typ string) cc.TxContext {
	e.seq++
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], e.seq)
	h := sha256.Sum256(append([]byte(typ+string(signer)), n[:]...))
	return cc.TxContext{ChainID: testChain, Height: e.height, Time: e.time, Signer: signer, Type: typ, TxHash: h[:]}
}

func canonical(t testing.TB, payload any) []byte {
	t.Helper()
	if raw, ok := payload.([]byte); ok {
		return raw
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if raw, err = jcs.Transform(raw); err != nil {
		t.Fatalf("canonical: %v", err)
	}
	return raw
}

// apply runs typ by a; a failing handler must leave the state unchanged
// (cctest.Apply checks it).
func (e *env) apply(t testing.TB, a *actor, typ string, payload any) (cc.Result, error) {
	t.Helper()
	h, ok := allHandlers()[typ]
	if !ok {
		t.Fatalf("no handler for %q", typ)
	}
	return cctest.Apply(t, h, e.ctx(a.did, typ), e.kv, canonical(t, payload))
}

func (e *env) mustApply(t testing.TB, a *actor, typ string, payload any) cc.Result {
	t.Helper()
	r, err := e.apply(t, a, typ, payload)
	if err != nil {
		t.Fatalf("%s by %s: %v", typ, a.name, err)
	}
	return r
}

// projectPayload returns a valid registration of id by the institute.
func project(id string) obj {
	return obj{"id": id, "org": "nri", "title": "Vaccine uptake study", "protocol": "https://example.org/protocol/42",
		"ethics": "IRB-2026-017", "purposes": []string{"HRESEARCH"}, "resource_types": []string{"Immunization", "Patient"},
		"aggregates": true, "extracts": true,
		"period":               obj{"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"},
		"budget_micro_epsilon": 2 * MicroPerEpsilon}
}

// approved registers and approves project id (both governance members).
func (e *env) approved(t testing.TB, id string) {
	t.Helper()
	e.mustApply(t, res, TypeRegister, project(id))
	e.mustApply(t, gov1, TypeApprove, obj{"id": id})
	e.mustApply(t, gov2, TypeApprove, obj{"id": id})
	e.next()
}

func (e *env) project(t testing.TB, id string) *Project {
	t.Helper()
	p, err := GetProject(e.kv, id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// counts runs Participants over the three patients at e's time.
func (e *env) counts(t testing.TB, id string) []cc.DID {
	t.Helper()
	ps, err := Participants(e.kv, e.project(t, id), e.time, []cc.DID{pat.did, pat2.did, pat3.did})
	if err != nil {
		t.Fatal(err)
	}
	out := []cc.DID{}
	for _, p := range ps {
		out = append(out, p.Patient)
	}
	return out
}

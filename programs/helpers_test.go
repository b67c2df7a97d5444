package programs

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/consent"
	"carechain/identity"
	"carechain/internal/cctest"
	"carechain/ledger/store"
	"carechain/ledger/tx"
	"carechain/records"
	"carechain/supply"
)

type actor struct {
	name string
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	did  cc.DID
}

func newActor(name string) *actor {
	pub, priv := cctest.Key("programs", name)
	return &actor{name: name, pub: pub, priv: priv, did: tx.DeriveDID(pub)}
}

type obj = map[string]any

// The fixture: a public-health agency (pha) with an admin, an officer and
// a node key; two clinics with a nurse each; a hospital (not an agency)
// with an admin; patients registered with a Patient record at clinic-a.
var (
	gov     = newActor("gov")
	padmin  = newActor("padmin")
	officer = newActor("officer")
	node    = newActor("node")
	nurseA  = newActor("nurse-a")
	nurseB  = newActor("nurse-b")
	hadmin  = newActor("hadmin")
	genTime = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
)

const (
	mmr   = "http://hl7.org/fhir/sid/cvx|03"
	covid = "http://hl7.org/fhir/sid/cvx|208"
)

type env struct {
	kv     *store.Overlay
	height int64
	time   time.Time
	txs    int
	docs   int
}

// handlers are the domain handlers the fixture uses, supply.administer
// observed by the programs as the ledger wires it.
func handlers() map[string]cc.Handler {
	h := identity.Handlers()
	maps.Copy(h, consent.Handlers())
	maps.Copy(h, records.Handlers())
	maps.Copy(h, supply.Handlers())
	maps.Copy(h, Handlers())
	h[supply.TypeAdminister] = Observe(h[supply.TypeAdminister])
	return h
}

func newEnv(t testing.TB) *env {
	t.Helper()
	var accounts []cc.GenesisAccount
	for _, a := range []*actor{gov, padmin, officer, node, nurseA, nurseB, hadmin} {
		accounts = append(accounts, cc.GenesisAccount{DID: a.did, Kind: cc.KindPractitioner, PublicKey: a.pub})
	}
	org := func(id string, typ cc.OrgType, admin *actor) cc.Organization {
		return cc.Organization{ID: id, Name: id, Type: typ, DID: admin.did, Active: true}
	}
	m := func(org string, a *actor, roles ...cc.Role) cc.Member {
		return cc.Member{Org: org, DID: a.did, Roles: roles}
	}
	g := cc.GenesisState{
		Accounts:   accounts,
		Governance: cc.Governance{Members: []cc.DID{gov.did}, Threshold: 1},
		Organizations: []cc.Organization{org("pha", cc.OrgPublicHealth, padmin), org("clinic-a", cc.OrgClinic, nurseA),
			org("clinic-b", cc.OrgClinic, nurseB), org("hosp", cc.OrgHospital, hadmin)},
		Members: []cc.Member{m("pha", padmin, cc.RoleAdmin), m("pha", officer, cc.RolePublicHealthOffice), m("pha", node, cc.RoleNode),
			m("clinic-a", nurseA, cc.RoleAdmin, cc.RoleNurse), m("clinic-b", nurseB, cc.RoleAdmin, cc.RoleNurse), m("hosp", hadmin, cc.RoleAdmin)},
	}
	e := &env{kv: cctest.NewKV(), height: 10, time: genTime}
	if err := identity.InitGenesis(e.kv, g); err != nil {
		t.Fatalf("InitGenesis: %v", err)
	}
	return e
}

// patient registers a patient with a Patient record at clinic-a and,
// when share, a consent letting pha read it for PUBHLTH.
func (e *env) patient(t testing.TB, name string, share bool) *actor {
	t.Helper()
	p := newActor(name)
	e.mustApply(t, p, identity.TypePatientRegister, obj{"public_key": tx.EncodeKey(p.pub)})
	expires := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		org   string
		nurse *actor
	}{{"clinic-a", nurseA}, {"clinic-b", nurseB}} {
		org := c.org
		e.mustApply(t, c.nurse, identity.TypePatientLink, obj{"patient": p.did, "org": org, "expires": expires.Format(time.RFC3339),
			"approval": identity.SignLinkApproval(p.priv, "carechain-test", p.did, org, expires)})
	}
	e.mustApply(t, nurseA, records.TypeAnchor, obj{"anchors": []obj{e.anchor(p, "Patient", "clinic-a", nurseA)}})
	if share {
		e.mustApply(t, p, consent.TypeGrant, obj{"patient": p.did, "provisions": []obj{
			{"type": "permit", "actors": []obj{{"org": "pha"}}, "purposes": []string{"PUBHLTH"}, "actions": []string{"read"}}}})
	}
	return p
}

// anchor returns a record anchor payload item of a new resource of typ.
func (e *env) anchor(p *actor, typ, org string, author *actor) obj {
	e.docs++
	id := fmt.Sprintf("%s/%s-%d", typ, strings.ToLower(typ), e.docs)
	h := sha256.Sum256([]byte(id))
	return obj{"id": id, "type": typ, "patient": p.did, "org": org, "author": author.did, "author_org": org,
		"version": 1, "content_hash": base64.StdEncoding.EncodeToString(h[:])}
}

// dose records one immunization of vaccine to p by org's nurse.
func (e *env) dose(t testing.TB, p *actor, org string, vaccine string) cc.Result {
	t.Helper()
	nurse := map[string]*actor{"clinic-a": nurseA, "clinic-b": nurseB}[org]
	a := e.anchor(p, "Immunization", org, nurse)
	return e.mustApply(t, nurse, supply.TypeAdminister, obj{"org": org, "anchors": []obj{a},
		"administrations": []obj{{"record_id": a["id"], "vaccine": vaccine, "year": e.time.Year()}}})
}

// later moves the clock (and the height) forward.
func (e *env) later(d time.Duration) { e.time = e.time.Add(d) }

func (e *env) ctx(signer *actor, typ string) cc.TxContext {
	e.txs++
	h := sha256.Sum256([]byte(fmt.Sprintf("tx-%d", e.txs)))
	return cc.TxContext{ChainID: "carechain-test", Height: e.height, Time: e.time, Signer: signer.did, Type: typ, TxHash: h[:]}
}

// apply runs one transaction in the next block, twice on forks (the runs
// must agree: determinism), and keeps the writes when it succeeds.
func (e *env) apply(t testing.TB, signer *actor, typ string, payload any) (cc.Result, error) {
	t.Helper()
	raw, ok := payload.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			t.Fatal(err)
		}
	}
	e.height++
	e.later(time.Minute)
	h, ok := handlers()[typ]
	if !ok {
		t.Fatalf("no handler %s", typ)
	}
	tt, isT := t.(*testing.T)
	if !isT {
		return cctest.Apply(t, h, e.ctx(signer, typ), e.kv, raw)
	}
	res, fork, err := cctest.RunTwice(tt, typ, h, e.ctx(signer, typ), e.kv, raw)
	if err == nil {
		fork.Flush(e.kv)
	}
	return res, err
}

func (e *env) mustApply(t testing.TB, signer *actor, typ string, payload any) cc.Result {
	t.Helper()
	res, err := e.apply(t, signer, typ, payload)
	if err != nil {
		t.Fatalf("%s by %s: %v", typ, signer.name, err)
	}
	return res
}

// wantRejected applies a transaction that must fail with kind and a
// message containing msg, and change nothing.
func (e *env) wantRejected(t testing.TB, signer *actor, typ string, payload any, kind cc.Kind, msg string) {
	t.Helper()
	before := cctest.Copy(e.kv)
	_, err := e.apply(t, signer, typ, payload)
	if err == nil {
		t.Fatalf("%s by %s succeeded, want %v", typ, signer.name, kind)
	}
	if cc.KindOf(err) != kind || !strings.Contains(err.Error(), msg) {
		t.Errorf("%s by %s: %v, want %v containing %q", typ, signer.name, err, kind, msg)
	}
	if d := cctest.Diff(before, e.kv); d != "" {
		t.Errorf("rejected %s changed state:\n%s", typ, d)
	}
}

// spec is a valid program spec; set overrides fields.
func spec(set obj) obj {
	s := obj{
		"title":    "Childhood MMR",
		"vaccines": []string{mmr},
		"target":   `person.age_band in ["0-1", "2-4"]`,
		"goal":     obj{"dose": 2, "permille": 900, "by": "2026-12-31"},
	}
	for k, v := range set {
		if v == nil {
			delete(s, k)
		} else {
			s[k] = v
		}
	}
	return s
}

// deploy deploys (and, when activate, activates) program id with spec s.
func (e *env) deploy(t testing.TB, id string, s obj, activate bool) {
	t.Helper()
	e.mustApply(t, officer, TypeDeploy, obj{"org": "pha", "id": id, "spec": s})
	if activate {
		e.mustApply(t, officer, TypeActivate, obj{"id": id})
	}
}

// facts are enrollment facts of a child in region.
func facts(region string) obj {
	return obj{"age_band": "2-4", "sex": "female", "region": region, "quintile": 3}
}

// enroll enrolls people (patient, region) and returns the result.
func (e *env) enroll(t testing.TB, id string, members ...obj) EnrollResult {
	t.Helper()
	return cctest.DecodeData[EnrollResult](t, e.mustApply(t, officer, TypeEnroll, obj{"id": id, "members": members}))
}

func (e *env) program(t testing.TB, id string) *Program {
	t.Helper()
	p, err := Get(e.kv, id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return p
}

func (e *env) decisions(t testing.TB, id, kind string) []Decision {
	t.Helper()
	ds, err := Decisions(e.kv, id, kind)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

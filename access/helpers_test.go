package access

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/gowebpki/jcs"

	cc "carechain"
	"carechain/consent"
	"carechain/identity"
	"carechain/internal/cctest"
	"carechain/ledger/store"
	"carechain/ledger/tx"
	"carechain/records"
)

const testChain = "carechain-test"

// actor is a test identity with a deterministic key.
type actor struct {
	name string
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	did  cc.DID
}

// newActor returns an actor whose key is derived from name.
func newActor(name string) *actor {
	pub, priv := cctest.Key("access", name)
	return &actor{name: name, priv: priv, pub: pub, did: tx.DeriveDID(pub)}
}

// obj is a JSON object payload.
type obj = map[string]any

// The fixture: st-marys (hospital) with an admin, a physician, an
// emergency clinician, a privacy officer (also an emergency clinician, to
// test self-review) and its node key; city-lab with an admin, a physician
// and its node key; clinic with an admin and a physician who reads under
// consent; two patients and a delegate of pat.
var (
	gov      = newActor("gov")
	hadmin   = newActor("hadmin")
	doc      = newActor("doc")
	er       = newActor("er")
	po       = newActor("po")
	node     = newActor("node")
	labby    = newActor("labby")
	labdoc   = newActor("labdoc")
	labnode  = newActor("labnode")
	cadmin   = newActor("cadmin")
	clindoc  = newActor("clindoc")
	pat      = newActor("pat")
	pat2     = newActor("pat2")
	deleg    = newActor("deleg")
	stranger = newActor("stranger")
	genTime  = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
)

// env is a ledger state with a block height and time.
type env struct {
	kv     *store.Overlay
	height int64
	time   time.Time
	seq    uint64 // makes transaction hashes unique
}

// allHandlers merges the identity, consent, records and access handlers.
func allHandlers() map[string]cc.Handler {
	h := identity.Handlers()
	maps.Copy(h, consent.Handlers())
	maps.Copy(h, records.Handlers())
	maps.Copy(h, Handlers())
	return h
}

// testGenesis is the fixture's genesis.
func testGenesis() cc.GenesisState {
	acct := func(a *actor, k cc.DIDKind) cc.GenesisAccount {
		return cc.GenesisAccount{DID: a.did, Kind: k, PublicKey: a.pub}
	}
	org := func(id, name string, typ cc.OrgType, admin *actor) cc.Organization {
		return cc.Organization{ID: id, Name: name, Type: typ, DID: admin.did, Active: true}
	}
	member := func(org string, a *actor, roles ...cc.Role) cc.Member {
		return cc.Member{Org: org, DID: a.did, Roles: roles}
	}
	return cc.GenesisState{
		Accounts: []cc.GenesisAccount{
			acct(gov, cc.KindNode), acct(hadmin, cc.KindPractitioner), acct(doc, cc.KindPractitioner),
			acct(er, cc.KindPractitioner), acct(po, cc.KindPractitioner), acct(node, cc.KindNode),
			acct(labby, cc.KindPractitioner), acct(labdoc, cc.KindPractitioner), acct(labnode, cc.KindNode),
			acct(cadmin, cc.KindPractitioner), acct(clindoc, cc.KindPractitioner),
		},
		Governance: cc.Governance{Members: []cc.DID{gov.did}, Threshold: 1},
		Organizations: []cc.Organization{
			org("st-marys", "St Mary's Hospital", cc.OrgHospital, hadmin),
			org("city-lab", "City Lab", cc.OrgLaboratory, labby),
			org("clinic", "Corner Clinic", cc.OrgClinic, cadmin),
		},
		Members: []cc.Member{
			member("st-marys", hadmin, cc.RoleAdmin),
			member("st-marys", doc, cc.RolePhysician),
			member("st-marys", er, cc.RoleEmergency),
			member("st-marys", po, cc.RoleEmergency, cc.RolePrivacyOfficer),
			member("st-marys", node, cc.RoleNode),
			member("city-lab", labby, cc.RoleAdmin),
			member("city-lab", labdoc, cc.RolePhysician),
			member("city-lab", labnode, cc.RoleNode),
			member("clinic", cadmin, cc.RoleAdmin),
			member("clinic", clindoc, cc.RolePhysician),
		},
	}
}

// newEnv returns the fixture at height 10: genesis, two registered
// patients linked to st-marys and city-lab, pat's delegate, and records:
// Observation/o1, Observation/o2 and Condition/c1 of pat and
// Observation/q1 of pat2 held and authored by st-marys,
// DiagnosticReport/d1 of pat and DiagnosticReport/d2 of pat2 held and
// authored by city-lab.
func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{kv: cctest.NewKV(), height: 10, time: genTime}
	if err := identity.InitGenesis(e.kv, testGenesis()); err != nil {
		t.Fatalf("InitGenesis: %v", err)
	}
	for _, p := range []*actor{pat, pat2} {
		e.mustApply(t, p, identity.TypePatientRegister, obj{"public_key": tx.EncodeKey(p.pub)})
		e.mustLink(t, node, p, "st-marys")
		e.mustLink(t, labnode, p, "city-lab")
	}
	for _, a := range []*actor{deleg, stranger} {
		e.mustApply(t, a, identity.TypeDIDCreate, obj{"public_key": tx.EncodeKey(a.pub), "kind": "patient"})
	}
	e.mustApply(t, pat, identity.TypeDelegateGrant, obj{"delegate": deleg.did, "scopes": []string{consent.ScopeRecordsRead}, "expires": "2026-01-01T00:00:00Z"})
	e.mustApply(t, doc, records.TypeAnchor, obj{"anchors": []obj{
		anchorItem("Observation/o1", pat, "st-marys", doc), anchorItem("Observation/o2", pat, "st-marys", doc),
		anchorItem("Condition/c1", pat, "st-marys", doc), anchorItem("Observation/q1", pat2, "st-marys", doc),
	}})
	e.mustApply(t, labdoc, records.TypeAnchor, obj{"anchors": []obj{
		anchorItem("DiagnosticReport/d1", pat, "city-lab", labdoc), anchorItem("DiagnosticReport/d2", pat2, "city-lab", labdoc),
	}})
	e.next()
	return e
}

// mustLink links patient p to org, by signer (a custodian member of org),
// with p's approval valid for a day, so that org may anchor p's records.
func (e *env) mustLink(t testing.TB, signer, p *actor, org string) {
	t.Helper()
	exp := e.time.Add(24 * time.Hour)
	e.mustApply(t, signer, identity.TypePatientLink, obj{"patient": p.did, "org": org, "expires": exp.Format(time.RFC3339),
		"approval": identity.SignLinkApproval(p.priv, testChain, p.did, org, exp)})
}

// anchorItem is a record.anchor item for a new record held by org and
// authored by author of its first organization.
func anchorItem(id string, patient *actor, org string, author *actor) obj {
	typ, _, _ := strings.Cut(id, "/")
	h := sha256.Sum256([]byte(id))
	authorOrg := map[*actor]string{doc: "st-marys", labdoc: "city-lab"}[author]
	return obj{"id": id, "type": typ, "patient": patient.did, "org": org, "author": author.did, "author_org": authorOrg,
		"version": 1, "content_hash": base64.StdEncoding.EncodeToString(h[:])}
}

// next moves e to the next block, one minute later.
func (e *env) next() {
	e.height++
	e.time = e.time.Add(time.Minute)
}

// clone returns an independent copy of e.
func (e *env) clone() *env { c := *e; c.kv = cctest.Copy(e.kv); return &c }

// ctx is the context of the next transaction by signer; every call gives a
// new transaction hash.
func (e *env) ctx(signer cc.DID, typ string) cc.TxContext {
	e.seq++
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], e.seq)
	h := sha256.Sum256(append([]byte(typ+string(signer)), n[:]...))
	return cc.TxContext{ChainID: testChain, Height: e.height, Time: e.time, Signer: signer, Type: typ, TxHash: h[:]}
}

// apply runs the handler for typ with payload (raw bytes, or a value to
// marshal and canonicalize as tx.Build does with the whole body). A failing handler must return a *cc.Error of a specific kind
// and leave the state unchanged.
func (e *env) apply(t testing.TB, a *actor, typ string, payload any) (cc.Result, error) {
	t.Helper()
	raw, ok := payload.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			t.Fatalf("marshal payload: %v", err)
		}
		if raw, err = jcs.Transform(raw); err != nil {
			t.Fatalf("canonical payload: %v", err)
		}
	}
	h, ok := allHandlers()[typ]
	if !ok {
		t.Fatalf("no handler for %q", typ)
	}
	return cctest.Apply(t, h, e.ctx(a.did, typ), e.kv, raw)
}

// mustApply is apply that fails the test on an error.
func (e *env) mustApply(t testing.TB, a *actor, typ string, payload any) cc.Result {
	t.Helper()
	res, err := e.apply(t, a, typ, payload)
	if err != nil {
		t.Fatalf("%s by %s: %v", typ, a.name, err)
	}
	return res
}

// request returns a read by a of patient's records ids for purpose,
// issued at e's block time with a nonce unique to the call.
func (e *env) request(a, patient *actor, purpose string, ids ...string) ReadRequest {
	e.seq++
	return ReadRequest{
		ChainID: testChain, Requester: a.did, Patient: patient.did, Action: ActionRead, Purpose: purpose,
		Records: ids, Issued: e.time, Nonce: fmt.Sprintf("nonce-%016d", e.seq),
	}
}

// mustSign signs r with a's key.
func mustSign(t testing.TB, r ReadRequest, a *actor) SignedRead {
	t.Helper()
	s, err := SignRead(r, a.priv)
	if err != nil {
		t.Fatalf("SignRead: %v", err)
	}
	return s
}

// logEv is an access.log event releasing ids under the signed read s.
func logEv(s SignedRead, ids ...string) obj { return obj{"read": s, "records": ids} }

// logTx runs access.log by signer with events and returns the per-event
// results.
func (e *env) logTx(t testing.TB, signer *actor, events ...obj) []EventResult {
	t.Helper()
	res := e.mustApply(t, signer, TypeLog, obj{"events": events})
	return cctest.DecodeData[logResult](t, res).Events
}

// grant records pat's consent with one provision and returns its id.
func (e *env) grant(t testing.TB, patient *actor, provision obj) string {
	t.Helper()
	res := e.mustApply(t, patient, consent.TypeGrant, obj{"patient": patient.did, "provisions": []obj{provision}})
	return cctest.DecodeData[struct{ ID string }](t, res).ID
}

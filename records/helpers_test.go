package records

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"testing"
	"time"

	cc "carechain"
	"carechain/identity"
	"carechain/internal/cctest"
	"carechain/ledger/store"
	"carechain/ledger/tx"
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
	pub, priv := cctest.Key("records", name)
	return &actor{name: name, priv: priv, pub: pub, did: tx.DeriveDID(pub)}
}

// obj is a JSON object payload.
type obj = map[string]any

// The fixture: st-marys (hospital) with an admin, a physician and a node
// key; city-lab (laboratory) with an admin and a physician; two patients,
// each linked to both organizations; a delegate of pat with the erase
// scope (and of pat2 with a read scope only) and a stranger on the ledger.
var (
	gov      = newActor("gov")
	hadmin   = newActor("hadmin")
	doc      = newActor("doc")
	node     = newActor("node")
	labby    = newActor("labby")
	labdoc   = newActor("labdoc")
	pat      = newActor("pat")
	pat2     = newActor("pat2")
	deleg    = newActor("deleg")
	stranger = newActor("stranger")
	nobody   = newActor("nobody") // never on the ledger
	genTime  = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
)

// env is a ledger state with a block height and time.
type env struct {
	kv     *store.Overlay
	height int64
	time   time.Time
}

// allHandlers merges the identity and records handlers.
func allHandlers() map[string]cc.Handler {
	h := identity.Handlers()
	maps.Copy(h, Handlers())
	return h
}

// newEnv returns the fixture at height 10: genesis, two registered
// patients linked to st-marys and city-lab, a delegate and a stranger, and
// pat's erase delegation.
func newEnv(t testing.TB) *env {
	t.Helper()
	acct := func(a *actor, k cc.DIDKind) cc.GenesisAccount {
		return cc.GenesisAccount{DID: a.did, Kind: k, PublicKey: a.pub}
	}
	g := cc.GenesisState{
		Accounts: []cc.GenesisAccount{
			acct(gov, cc.KindNode), acct(hadmin, cc.KindPractitioner), acct(doc, cc.KindPractitioner),
			acct(node, cc.KindNode), acct(labby, cc.KindPractitioner), acct(labdoc, cc.KindPractitioner),
		},
		Governance: cc.Governance{Members: []cc.DID{gov.did}, Threshold: 1},
		Organizations: []cc.Organization{
			{ID: "st-marys", Name: "St Mary's Hospital", Type: cc.OrgHospital, DID: hadmin.did, Active: true},
			{ID: "city-lab", Name: "City Lab", Type: cc.OrgLaboratory, DID: labby.did, Active: true},
		},
		Members: []cc.Member{
			{Org: "st-marys", DID: hadmin.did, Roles: []cc.Role{cc.RoleAdmin}},
			{Org: "st-marys", DID: doc.did, Roles: []cc.Role{cc.RolePhysician}},
			{Org: "st-marys", DID: node.did, Roles: []cc.Role{cc.RoleNode}},
			{Org: "city-lab", DID: labby.did, Roles: []cc.Role{cc.RoleAdmin}},
			{Org: "city-lab", DID: labdoc.did, Roles: []cc.Role{cc.RolePhysician}},
		},
	}
	e := &env{kv: cctest.NewKV(), height: 10, time: genTime}
	if err := identity.InitGenesis(e.kv, g); err != nil {
		t.Fatalf("InitGenesis: %v", err)
	}
	for _, p := range []*actor{pat, pat2} {
		e.mustApply(t, p, identity.TypePatientRegister, obj{"public_key": tx.EncodeKey(p.pub)})
		e.mustLink(t, doc, p, "st-marys")
		e.mustLink(t, labdoc, p, "city-lab")
	}
	for _, a := range []*actor{deleg, stranger} {
		e.mustApply(t, a, identity.TypeDIDCreate, obj{"public_key": tx.EncodeKey(a.pub), "kind": "patient"})
	}
	e.mustApply(t, pat, identity.TypeDelegateGrant, obj{"delegate": deleg.did, "scopes": []string{ScopeErase}, "expires": "2026-01-01T00:00:00Z"})
	e.mustApply(t, pat2, identity.TypeDelegateGrant, obj{"delegate": deleg.did, "scopes": []string{"records.read"}, "expires": "2026-01-01T00:00:00Z"})
	return e
}

// linkPayload is a patient.link payload that links p to org with p's
// approval, valid for a day after e's block time.
func (e *env) linkPayload(p *actor, org string) obj {
	exp := e.time.Add(24 * time.Hour)
	return obj{"patient": p.did, "org": org, "expires": exp.Format(time.RFC3339),
		"approval": identity.SignLinkApproval(p.priv, testChain, p.did, org, exp)}
}

// mustLink links patient p to org, by signer (a custodian member of org),
// with p's approval, so that org may anchor p's records.
func (e *env) mustLink(t testing.TB, signer, p *actor, org string) {
	t.Helper()
	e.mustApply(t, signer, identity.TypePatientLink, e.linkPayload(p, org))
}

// next moves e to the next block, one minute later.
func (e *env) next() {
	e.height++
	e.time = e.time.Add(time.Minute)
}

// ctx is the context of a transaction by signer in e's current block.
func (e *env) ctx(signer cc.DID, typ string) cc.TxContext {
	h := sha256.Sum256([]byte(typ + string(signer) + e.time.String()))
	return cc.TxContext{ChainID: testChain, Height: e.height, Time: e.time, Signer: signer, Type: typ, TxHash: h[:]}
}

// apply runs the handler for typ with payload (raw bytes or a value to
// marshal). A failing handler must return a *cc.Error of a specific kind
// and leave the state unchanged.
func (e *env) apply(t testing.TB, a *actor, typ string, payload any) (cc.Result, error) {
	t.Helper()
	raw, ok := payload.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			t.Fatalf("marshal payload: %v", err)
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

// hash returns the content hash of version n of a test record.
func hash(name string) []byte {
	h := sha256.Sum256([]byte("content/" + name))
	return h[:]
}

// b64 is standard padded base64, the encoding of hashes in payloads.
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// anchor returns a valid anchor payload item for a new Observation of pat
// in st-marys authored by doc; set overrides fields.
func anchor(id string, set obj) obj {
	a := obj{
		"id": id, "type": "Observation", "patient": pat.did, "org": "st-marys",
		"author": doc.did, "author_org": "st-marys",
		"categories":   []string{"http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"},
		"data_time":    "2025-02-01T09:30:00+01:00",
		"version":      1,
		"content_hash": b64(hash(id + "@1")),
	}
	for k, v := range set {
		if v == nil {
			delete(a, k)
		} else {
			a[k] = v
		}
	}
	return a
}

// anchors wraps items as a record.anchor payload.
func anchors(items ...obj) obj { return obj{"anchors": items} }

// mustAnchor returns the latest anchor of id.
func mustAnchor(t testing.TB, kv cc.Reader, id string) *cc.RecordAnchor {
	t.Helper()
	a, err := GetAnchor(kv, id)
	if err != nil {
		t.Fatalf("GetAnchor(%s): %v", id, err)
	}
	return a
}

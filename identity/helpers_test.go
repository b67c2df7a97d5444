package identity

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/internal/cctest"
	"carechain/ledger/store"
	"carechain/ledger/tx"
)

const testChain = "carechain-test"

// actor is a test identity with a deterministic key. priv is the key it
// currently signs with; did stays the DID derived from its first key.
type actor struct {
	name string
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	did  cc.DID
}

// testKey returns the deterministic key pair named name.
func testKey(name string) (ed25519.PublicKey, ed25519.PrivateKey) {
	return cctest.Key("identity", name)
}

// newActor returns an actor whose DID is derived from the key named name.
func newActor(name string) *actor {
	pub, priv := testKey(name)
	return &actor{name: name, priv: priv, pub: pub, did: tx.DeriveDID(pub)}
}

// withKey returns a copy of a that signs with the key named keyName.
func (a *actor) withKey(keyName string) *actor {
	pub, priv := testKey(keyName)
	return &actor{name: a.name + "/" + keyName, priv: priv, pub: pub, did: a.did}
}

// key is a's current public key, base64url.
func (a *actor) key() string { return tx.EncodeKey(a.pub) }

// obj is a JSON object payload.
type obj = map[string]any

// env is a ledger state with a block height and time.
type env struct {
	kv     *store.Overlay
	height int64
	time   time.Time
}

// The genesis fixture: three governance members, the st-marys hospital
// with its admin and a physician, the city-lab laboratory with its admin.
var (
	gov1    = newActor("gov1")
	gov2    = newActor("gov2")
	gov3    = newActor("gov3")
	hadmin  = newActor("hadmin")
	doc     = newActor("doc")
	labby   = newActor("labby")
	nobody  = newActor("nobody") // never on the ledger
	genTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
)

// testGenesis returns the genesis fixture with the given governance threshold.
func testGenesis(threshold int) cc.GenesisState {
	acct := func(a *actor, k cc.DIDKind) cc.GenesisAccount {
		return cc.GenesisAccount{DID: a.did, Kind: k, PublicKey: a.pub}
	}
	return cc.GenesisState{
		Accounts: []cc.GenesisAccount{
			acct(gov1, cc.KindNode), acct(gov2, cc.KindNode), acct(gov3, cc.KindNode),
			acct(hadmin, cc.KindPractitioner), acct(doc, cc.KindPractitioner), acct(labby, cc.KindPractitioner),
		},
		Governance: cc.Governance{Members: []cc.DID{gov1.did, gov2.did, gov3.did}, Threshold: threshold},
		Organizations: []cc.Organization{
			{ID: "st-marys", Name: "St Mary's Hospital", Type: cc.OrgHospital, DID: hadmin.did, Active: true},
			{ID: "city-lab", Name: "City Lab", Type: cc.OrgLaboratory, DID: labby.did, Active: true},
		},
		Members: []cc.Member{
			{Org: "st-marys", DID: hadmin.did, Roles: []cc.Role{cc.RoleAdmin}},
			{Org: "st-marys", DID: doc.did, Roles: []cc.Role{cc.RolePhysician}},
			{Org: "city-lab", DID: labby.did, Roles: []cc.Role{cc.RoleAdmin, cc.RoleResearcher}},
		},
	}
}

// newEnv returns the genesis fixture state at height 10.
func newEnv(t testing.TB, threshold int) *env {
	t.Helper()
	e := &env{kv: cctest.NewKV(), height: 10, time: genTime}
	if err := InitGenesis(e.kv, testGenesis(threshold)); err != nil {
		t.Fatalf("InitGenesis: %v", err)
	}
	return e
}

// submit runs a transaction as the ledger would: it builds and signs an
// envelope with a's current key, decodes it, asks SignerKey for the key,
// verifies the signature and calls the handler (see apply).
func (e *env) submit(t testing.TB, a *actor, typ string, payload any) (cc.Result, error) {
	t.Helper()
	raw, err := tx.Build(testChain, a.did, a.priv, 0, typ, payload)
	if err != nil {
		t.Fatalf("tx.Build: %v", err)
	}
	decoded, err := tx.Decode(raw)
	if err != nil {
		t.Fatalf("tx.Decode: %v", err)
	}
	pub, err := SignerKey(e.kv, decoded.Signer, typ, decoded.Body.Payload)
	if err != nil {
		cctest.CheckError(t, err)
		return cc.Result{}, err
	}
	if err := decoded.Verify(pub); err != nil {
		return cc.Result{}, err
	}
	return e.apply(t, a.did, typ, decoded.Body.Payload)
}

// apply calls the handler for typ directly. When the handler fails it
// checks that the error is a *cc.Error and that the state is unchanged,
// since handlers validate everything before writing.
func (e *env) apply(t testing.TB, signer cc.DID, typ string, payload []byte) (cc.Result, error) {
	t.Helper()
	h, ok := Handlers()[typ]
	if !ok {
		t.Fatalf("no handler for %q", typ)
	}
	ctx := cc.TxContext{ChainID: testChain, Height: e.height, Time: e.time, Signer: signer, Type: typ}
	return cctest.Apply(t, h, ctx, e.kv, payload)
}

// mustSubmit is submit that fails the test on an error.
func (e *env) mustSubmit(t testing.TB, a *actor, typ string, payload any) cc.Result {
	t.Helper()
	res, err := e.submit(t, a, typ, payload)
	if err != nil {
		t.Fatalf("%s by %s: %v", typ, a.name, err)
	}
	return res
}

// mustCreate registers a as a DID of kind.
func (e *env) mustCreate(t testing.TB, a *actor, kind cc.DIDKind) {
	t.Helper()
	e.mustSubmit(t, a, TypeDIDCreate, obj{"public_key": a.key(), "kind": kind})
}

// wantErrText fails unless err's text contains want.
func wantErrText(t testing.TB, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got error %v, want one containing %q", err, want)
	}
}

// mustDID returns the record of d.
func mustDID(t testing.TB, kv cc.Reader, d cc.DID) *cc.DIDRecord {
	t.Helper()
	rec, err := GetDID(kv, d)
	if err != nil {
		t.Fatalf("GetDID(%s): %v", d, err)
	}
	return rec
}

// eventTypes lists the types of res's events.
func eventTypes(res cc.Result) []string {
	var s []string
	for _, e := range res.Events {
		s = append(s, e.Type)
	}
	return s
}

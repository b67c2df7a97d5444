package rx

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/identity"
	"carechain/internal/cctest"
	"carechain/ledger/store"
	"carechain/ledger/tx"
	"carechain/records"
	"carechain/supply"
)

const testChain = "carechain-test"

// actor is a test identity with a deterministic key.
type actor struct {
	name string
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	did  cc.DID
}

func newActor(name string) *actor {
	pub, priv := cctest.Key("rx", name)
	return &actor{name: name, priv: priv, pub: pub, did: tx.DeriveDID(pub)}
}

type obj = map[string]any

// The fixture: st-marys (a hospital: a physician, a nurse and a node key),
// two pharmacies (pharm-a with a pharmacist and a node key, pharm-b with a
// pharmacist), a suspended pharmacy, two patients linked to all three
// active organizations, a delegate of pat with the rx.collect scope,
// another with a read scope only, and a stranger.
var (
	gov      = newActor("gov")
	hadmin   = newActor("hadmin")
	doc      = newActor("doc")
	nurse    = newActor("nurse")
	hnode    = newActor("hnode")
	aadmin   = newActor("aadmin")
	pharmA   = newActor("pharm-a")
	anode    = newActor("anode")
	badmin   = newActor("badmin")
	pharmB   = newActor("pharm-b")
	shady    = newActor("shady")
	pat      = newActor("pat")
	pat2     = newActor("pat2")
	carer    = newActor("carer")
	reader   = newActor("reader")
	stranger = newActor("stranger")
	genTime  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

type env struct {
	kv     *store.Overlay
	height int64
	time   time.Time
}

func allHandlers() map[string]cc.Handler {
	h := identity.Handlers()
	maps.Copy(h, records.Handlers())
	maps.Copy(h, Handlers())
	h[TypeBundle] = BundleHandler(supply.Handlers()[supply.TypeAdminister])
	return h
}

func newEnv(t testing.TB) *env {
	t.Helper()
	acct := func(a *actor, k cc.DIDKind) cc.GenesisAccount {
		return cc.GenesisAccount{DID: a.did, Kind: k, PublicKey: a.pub}
	}
	prac := cc.KindPractitioner
	g := cc.GenesisState{
		Accounts: []cc.GenesisAccount{
			acct(gov, cc.KindNode), acct(hadmin, prac), acct(doc, prac), acct(nurse, prac), acct(hnode, cc.KindNode),
			acct(aadmin, prac), acct(pharmA, prac), acct(anode, cc.KindNode), acct(badmin, prac), acct(pharmB, prac), acct(shady, prac),
		},
		Governance: cc.Governance{Members: []cc.DID{gov.did}, Threshold: 1},
		Organizations: []cc.Organization{
			{ID: "st-marys", Name: "St Mary's", Type: cc.OrgHospital, DID: hadmin.did, Active: true},
			{ID: "pharm-a", Name: "Pharmacy A", Type: cc.OrgPharmacy, DID: aadmin.did, Active: true},
			{ID: "pharm-b", Name: "Pharmacy B", Type: cc.OrgPharmacy, DID: badmin.did, Active: true},
			{ID: "gone-pharm", Name: "Suspended", Type: cc.OrgPharmacy, DID: shady.did, Active: false},
		},
		Members: []cc.Member{
			{Org: "st-marys", DID: hadmin.did, Roles: []cc.Role{cc.RoleAdmin}},
			{Org: "st-marys", DID: doc.did, Roles: []cc.Role{cc.RolePhysician}},
			{Org: "st-marys", DID: nurse.did, Roles: []cc.Role{cc.RoleNurse}},
			{Org: "st-marys", DID: hnode.did, Roles: []cc.Role{cc.RoleNode}},
			{Org: "pharm-a", DID: aadmin.did, Roles: []cc.Role{cc.RoleAdmin}},
			{Org: "pharm-a", DID: pharmA.did, Roles: []cc.Role{cc.RolePharmacist}},
			{Org: "pharm-a", DID: anode.did, Roles: []cc.Role{cc.RoleNode}},
			{Org: "pharm-b", DID: badmin.did, Roles: []cc.Role{cc.RoleAdmin}},
			{Org: "pharm-b", DID: pharmB.did, Roles: []cc.Role{cc.RolePharmacist}},
			{Org: "gone-pharm", DID: shady.did, Roles: []cc.Role{cc.RoleAdmin, cc.RolePharmacist}},
		},
	}
	e := &env{kv: cctest.NewKV(), height: 10, time: genTime}
	if err := identity.InitGenesis(e.kv, g); err != nil {
		t.Fatalf("InitGenesis: %v", err)
	}
	for _, p := range []*actor{pat, pat2} {
		e.mustRun(t, p, identity.TypePatientRegister, obj{"public_key": tx.EncodeKey(p.pub)})
		for _, l := range []struct {
			by  *actor
			org string
		}{{doc, "st-marys"}, {pharmA, "pharm-a"}, {pharmB, "pharm-b"}} {
			exp := e.time.Add(365 * 24 * time.Hour)
			e.mustRun(t, l.by, identity.TypePatientLink, obj{"patient": p.did, "org": l.org, "expires": exp.Format(time.RFC3339),
				"approval": identity.SignLinkApproval(p.priv, testChain, p.did, l.org, exp)})
		}
	}
	for _, a := range []*actor{carer, reader, stranger} {
		e.mustRun(t, a, identity.TypeDIDCreate, obj{"public_key": tx.EncodeKey(a.pub), "kind": "patient"})
	}
	e.mustRun(t, pat, identity.TypeDelegateGrant, obj{"delegate": carer.did, "scopes": []string{ScopeCollect}, "expires": "2027-01-01T00:00:00Z"})
	e.mustRun(t, pat, identity.TypeDelegateGrant, obj{"delegate": reader.did, "scopes": []string{"records.read"}, "expires": "2027-01-01T00:00:00Z"})
	return e
}

func (e *env) next() {
	e.height++
	e.time = e.time.Add(time.Minute)
}

func (e *env) ctx(signer cc.DID, typ string) cc.TxContext {
	h := sha256.Sum256([]byte(typ + string(signer) + e.time.String()))
	return cc.TxContext{ChainID: testChain, Height: e.height, Time: e.time, Signer: signer, Type: typ, TxHash: h[:]}
}

// run applies typ signed by a with payload (raw bytes or a value to
// marshal) in the next block.
func (e *env) run(t testing.TB, a *actor, typ string, payload any) (cc.Result, error) {
	t.Helper()
	raw, ok := payload.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			t.Fatalf("marshal: %v", err)
		}
	}
	h, ok := allHandlers()[typ]
	if !ok {
		t.Fatalf("no handler for %q", typ)
	}
	e.next()
	return cctest.Apply(t, h, e.ctx(a.did, typ), e.kv, raw)
}

func (e *env) mustRun(t testing.TB, a *actor, typ string, payload any) cc.Result {
	t.Helper()
	res, err := e.run(t, a, typ, payload)
	if err != nil {
		t.Fatalf("%s by %s: %v", typ, a.name, err)
	}
	return res
}

func (e *env) fork() *env { return &env{kv: cctest.Copy(e.kv), height: e.height, time: e.time} }

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

// anchor is an anchor item of a new record id of patient p held by org,
// authored by author.
func anchor(id string, p *actor, org string, author *actor) obj {
	h := sha256.Sum256([]byte("content/" + id))
	typ, _, _ := strings.Cut(id, "/")
	return obj{"id": id, "type": typ, "patient": p.did, "org": org, "author": author.did,
		"version": 1, "content_hash": base64.StdEncoding.EncodeToString(h[:])}
}

// mustAnchor anchors records by signer.
func (e *env) mustAnchor(t testing.TB, signer *actor, items ...obj) {
	t.Helper()
	e.mustRun(t, signer, records.TypeAnchor, obj{"anchors": items})
}

// rxItem is a prescription of 30 TAB per fill with one repeat, valid to
// the end of June 2026, with overrides (nil deletes a field).
func rxItem(id string, set obj) obj {
	it := obj{"record_id": id, "medication": "http://snomed.info/sct|317935006", "quantity_milli": 30000,
		"unit": "TAB", "repeats": 1, "valid_until": "2026-06-30"}
	for k, v := range set {
		if v == nil {
			delete(it, k)
		} else {
			it[k] = v
		}
	}
	return it
}

// mustIssue anchors MedicationRequest/{name} of pat by doc at st-marys and
// issues it (signed by st-marys's node) with overrides of rxItem.
func (e *env) mustIssue(t testing.TB, name string, set obj) string {
	t.Helper()
	id := "MedicationRequest/" + name
	e.mustRun(t, hnode, TypeIssue, obj{"org": "st-marys", "anchors": []obj{anchor(id, pat, "st-marys", doc)},
		"prescriptions": []obj{rxItem(id, set)}})
	return id
}

var dispenses int

// dispense is an rx.dispense payload by pharmacist of org, anchoring a new
// MedicationDispense of pat for each quantity (milli-units) of
// prescription.
func dispense(org string, pharmacist *actor, prescription string, quantities ...int64) obj {
	var as, ds []obj
	for _, q := range quantities {
		dispenses++
		id := "MedicationDispense/d" + itoa(dispenses)
		as = append(as, anchor(id, pat, org, pharmacist))
		ds = append(ds, obj{"record_id": id, "prescription": prescription, "quantity_milli": q})
	}
	return obj{"org": org, "pharmacist": pharmacist.did, "anchors": as, "dispenses": ds}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// prescription returns the state of prescription id.
func (e *env) prescription(t testing.TB, id string) *Prescription {
	t.Helper()
	p, err := GetPrescription(e.kv, id)
	if err != nil {
		t.Fatalf("GetPrescription(%s): %v", id, err)
	}
	return p
}

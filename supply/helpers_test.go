package supply

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
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

func newActor(name string) *actor {
	pub, priv := cctest.Key("supply", name)
	return &actor{name: name, priv: priv, pub: pub, did: tx.DeriveDID(pub)}
}

type obj = map[string]any

// The fixture: a manufacturer (pharma-co), a distributor (distrib) and a
// clinic, each with a logistics member (the clinic's is a nurse), plus an
// admin of the manufacturer (no capture role) and a suspended org.
var (
	gov      = newActor("gov")
	mfgAdmin = newActor("mfg-admin")
	mfg      = newActor("mfg")
	dist     = newActor("dist")
	nurse    = newActor("nurse")
	shady    = newActor("shady")
	genTime  = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
)

type env struct {
	kv     *store.Overlay
	height int64
	time   time.Time
}

func allHandlers() map[string]cc.Handler {
	h := identity.Handlers()
	maps.Copy(h, Handlers())
	return h
}

func newEnv(t testing.TB) *env {
	t.Helper()
	acct := func(a *actor, k cc.DIDKind) cc.GenesisAccount {
		return cc.GenesisAccount{DID: a.did, Kind: k, PublicKey: a.pub}
	}
	g := cc.GenesisState{
		Accounts: []cc.GenesisAccount{
			acct(gov, cc.KindNode), acct(mfgAdmin, cc.KindPractitioner), acct(mfg, cc.KindPractitioner),
			acct(dist, cc.KindPractitioner), acct(nurse, cc.KindPractitioner), acct(shady, cc.KindPractitioner),
		},
		Governance: cc.Governance{Members: []cc.DID{gov.did}, Threshold: 1},
		Organizations: []cc.Organization{
			{ID: "pharma-co", Name: "Pharma Co", Type: cc.OrgManufacturer, DID: mfgAdmin.did, Active: true},
			{ID: "distrib", Name: "Distributor", Type: cc.OrgDistributor, DID: dist.did, Active: true},
			{ID: "clinic", Name: "Clinic", Type: cc.OrgClinic, DID: nurse.did, Active: true},
			{ID: "gone-org", Name: "Suspended", Type: cc.OrgDistributor, DID: shady.did, Active: false},
		},
		Members: []cc.Member{
			{Org: "pharma-co", DID: mfgAdmin.did, Roles: []cc.Role{cc.RoleAdmin}},
			{Org: "pharma-co", DID: mfg.did, Roles: []cc.Role{cc.RoleLogistics}},
			{Org: "distrib", DID: dist.did, Roles: []cc.Role{cc.RoleAdmin, cc.RoleLogistics}},
			{Org: "clinic", DID: nurse.did, Roles: []cc.Role{cc.RoleAdmin, cc.RoleNurse}},
			{Org: "gone-org", DID: shady.did, Roles: []cc.Role{cc.RoleAdmin, cc.RoleLogistics}},
		},
	}
	e := &env{kv: cctest.NewKV(), height: 10, time: genTime}
	if err := identity.InitGenesis(e.kv, g); err != nil {
		t.Fatalf("InitGenesis: %v", err)
	}
	return e
}

func (e *env) next() {
	e.height++
	e.time = e.time.Add(time.Minute)
}

func (e *env) ctx(signer cc.DID, typ string) cc.TxContext {
	h := sha256.Sum256([]byte(fmt.Sprint(typ, signer, e.height, e.time)))
	return cc.TxContext{ChainID: testChain, Height: e.height, Time: e.time, Signer: signer, Type: typ, TxHash: h[:]}
}

// capture runs supply.capture by a for org with events (raw bytes or a
// value to marshal) in the next block.
func (e *env) capture(t testing.TB, a *actor, org string, events ...obj) (cc.Result, error) {
	t.Helper()
	return e.apply(t, a, obj{"org": org, "events": events})
}

func (e *env) apply(t testing.TB, a *actor, payload any) (cc.Result, error) {
	t.Helper()
	raw, ok := payload.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			t.Fatalf("marshal: %v", err)
		}
	}
	e.next()
	return cctest.Apply(t, Handlers()[TypeCapture], e.ctx(a.did, TypeCapture), e.kv, raw)
}

func (e *env) mustCapture(t testing.TB, a *actor, org string, events ...obj) CaptureResult {
	t.Helper()
	res, err := e.capture(t, a, org, events...)
	if err != nil {
		t.Fatalf("capture by %s for %s: %v", a.name, org, err)
	}
	return cctest.DecodeData[CaptureResult](t, res)
}

func (e *env) item(t testing.TB, epc string) *Item {
	t.Helper()
	it, err := GetItem(e.kv, epc)
	if err != nil {
		t.Fatalf("GetItem(%s): %v", epc, err)
	}
	return it
}

// EPCs of the fixture.
func sgtin(serial string) string { return "urn:epc:id:sgtin:0614141.107346." + serial }
func sscc(serial string) string  { return "urn:epc:id:sscc:0614141." + serial }

const (
	mfgSite    = "urn:epc:id:sgln:0614141.00777.0"
	distSite   = "urn:epc:id:sgln:0614141.00888.0"
	clinicSite = "https://id.gs1.org/414/0614141000012"
)

// ev returns an event with overrides (nil deletes a field).
func ev(typ, action, step string, set obj) obj {
	e := obj{"type": typ, "action": action, "event_time": "2026-01-05T09:00:00+01:00"}
	if step != "" {
		e["biz_step"] = step
	}
	for k, v := range set {
		if v == nil {
			delete(e, k)
		} else {
			e[k] = v
		}
	}
	return e
}

func commission(epcs ...string) obj {
	return ev(ObjectEvent, ActionAdd, StepCommissioning, obj{"epcs": epcs, "biz_location": mfgSite,
		"lot": "LOT-A1", "expiry": "2027-06-30", "disposition": "active"})
}

func ship(to string, epcs ...string) obj {
	return ev(ObjectEvent, ActionObserve, StepShipping, obj{"epcs": epcs, "disposition": "in_transit",
		"destinations": []obj{{"type": PartyOwning, "id": to}}})
}

func receive(at string, epcs ...string) obj {
	return ev(ObjectEvent, ActionObserve, StepReceiving, obj{"epcs": epcs, "biz_location": at, "disposition": "in_progress"})
}

func pack(parent string, children ...string) obj {
	return ev(AggregationEvent, ActionAdd, "packing", obj{"parent_id": parent, "child_epcs": children})
}

func unpack(parent string, children ...string) obj {
	e := ev(AggregationEvent, ActionDelete, "unpacking", obj{"parent_id": parent})
	if len(children) > 0 {
		e["child_epcs"] = children
	}
	return e
}

func decommission(epcs ...string) obj {
	return ev(ObjectEvent, ActionObserve, StepDecommissioning, obj{"epcs": epcs})
}

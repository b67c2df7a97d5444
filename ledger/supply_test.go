package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	cc "carechain"
	"carechain/ledger/store"
	"carechain/ledger/tx"
	"carechain/seed"
	"carechain/supply"
)

// supplyApp returns an App with the real domain handlers and a genesis
// with a manufacturer and a distributor, each with a logistics member.
func supplyApp(t testing.TB, mfg, dist seed.Identity) *App {
	t.Helper()
	st, err := store.OpenInMemory()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	gov := seed.NewPopulation("ledger-supply", 0).Governance
	acct := func(id seed.Identity) cc.GenesisAccount {
		return cc.GenesisAccount{DID: id.DID, Kind: cc.KindPractitioner, PublicKey: id.Key.Public().(ed25519.PublicKey)}
	}
	g := cc.GenesisState{
		Accounts:   []cc.GenesisAccount{{DID: gov.DID, Kind: gov.Kind, PublicKey: gov.Key.Public().(ed25519.PublicKey)}, acct(mfg), acct(dist)},
		Governance: cc.Governance{Members: []cc.DID{gov.DID}, Threshold: 1},
		Organizations: []cc.Organization{
			{ID: "acme", Name: "Acme", Type: cc.OrgManufacturer, DID: mfg.DID, Active: true},
			{ID: "coldline", Name: "Coldline", Type: cc.OrgDistributor, DID: dist.DID, Active: true},
		},
		Members: []cc.Member{
			{Org: "acme", DID: mfg.DID, Roles: []cc.Role{cc.RoleAdmin, cc.RoleLogistics}},
			{Org: "coldline", DID: dist.DID, Roles: []cc.Role{cc.RoleAdmin, cc.RoleLogistics}},
		},
	}
	gen, _ := json.Marshal(g)
	app := New(st, Domain(nil))
	if _, err := app.InitChain(context.Background(), &abci.InitChainRequest{ChainId: testChain, AppStateBytes: gen}); err != nil {
		t.Fatal(err)
	}
	deliver(t, app)
	return app
}

// TestDomainSupplyCapture runs supply.capture through the App: signature,
// sequence, custody rules, a fraud-signal event, a rejected transaction,
// and the same AppHash on a second App fed the same blocks. The first App
// admits each transaction in CheckTx before its block, so it reuses the
// admissions that vouched for the block time (cc.Result.SameFor: the
// shipment and the receipt, not the capture with a fraud alert); the
// second executes everything.
func TestDomainSupplyCapture(t *testing.T) {
	id := func(name string) seed.Identity {
		k := seed.DeriveKey("ledger-supply", name)
		return seed.Identity{Name: name, Kind: cc.KindPractitioner, DID: tx.DeriveDID(k.Public().(ed25519.PublicKey)), Key: k}
	}
	mfg, dist := id("acme-logistics"), id("coldline-logistics")
	const vial, box = "urn:epc:id:sgtin:0614141.107346.1", "urn:epc:id:sscc:0614141.1234567890"
	at := "2026-01-05T09:00:00Z"
	build := func(signer seed.Identity, seq uint64, org string, events ...map[string]any) []byte {
		raw, err := tx.Build(testChain, signer.DID, signer.Key, seq, supply.TypeCapture, map[string]any{"org": org, "events": events})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	blocks := [][][]byte{
		{build(mfg, 0, "acme",
			map[string]any{"type": "ObjectEvent", "action": "ADD", "event_time": at, "biz_step": "commissioning", "epcs": []string{vial}, "lot": "L1", "expiry": "2027-01-31"},
			map[string]any{"type": "AggregationEvent", "action": "ADD", "event_time": at, "parent_id": box, "child_epcs": []string{vial}},
			map[string]any{"type": "ObjectEvent", "action": "OBSERVE", "event_time": at, "biz_step": "shipping", "epcs": []string{box},
				"destinations": []map[string]string{{"type": "owning_party", "id": "org:coldline"}}})},
		{
			// The distributor cannot ship what it does not hold: rejected.
			build(dist, 0, "coldline", map[string]any{"type": "ObjectEvent", "action": "OBSERVE", "event_time": at, "biz_step": "shipping", "epcs": []string{box},
				"destinations": []map[string]string{{"type": "owning_party", "id": "acme"}}}),
			// Recommissioning the vial: accepted transaction, rejected event, fraud alert.
			build(mfg, 1, "acme", map[string]any{"type": "ObjectEvent", "action": "ADD", "event_time": at, "epcs": []string{vial}}),
		},
		{build(dist, 0, "coldline", map[string]any{"type": "ObjectEvent", "action": "OBSERVE", "event_time": at, "biz_step": "receiving", "epcs": []string{box}})},
	}
	wantCodes := [][]uint32{{0}, {cc.Unauthorized.Code(), 0}, {0}}
	a1 := supplyApp(t, mfg, dist)
	a2 := supplyApp(t, mfg, dist)
	for h, txs := range blocks {
		for _, raw := range txs {
			checkTx(t, a1, raw)
		}
		r1, r2 := deliver(t, a1, txs...), deliver(t, a2, txs...)
		if !bytes.Equal(r1.AppHash, r2.AppHash) {
			t.Fatalf("block %d: AppHash %x != %x", h, r1.AppHash, r2.AppHash)
		}
		for i, r := range r1.TxResults {
			if r.Code != wantCodes[h][i] {
				t.Fatalf("block %d tx %d: code %d (%s), want %d", h, i, r.Code, r.Log, wantCodes[h][i])
			}
		}
	}
	if got := a1.Stats().Reused.Load(); got != 2 {
		t.Errorf("reused %d admissions, want 2", got)
	}
	if got := a2.Stats().Reused.Load(); got != 0 {
		t.Errorf("the App without CheckTx reused %d admissions", got)
	}
	kv := a1.Store().Committed()
	for _, epc := range []string{vial, box} {
		it, err := supply.GetItem(kv, epc)
		if err != nil || it.Owner != "coldline" || it.Status != supply.StatusReceived {
			t.Errorf("%s: %+v, %v", epc, it, err)
		}
	}
	alerts, err := supply.FraudAlerts(kv)
	if err != nil || len(alerts) != 1 || alerts[0].Kind != supply.FraudRecommission || alerts[0].EPC != vial {
		t.Errorf("alerts %+v, %v", alerts, err)
	}
}

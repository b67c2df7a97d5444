package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	cc "carechain"
	"carechain/consent"
	"carechain/identity"
	"carechain/ledger/store"
	"carechain/ledger/tx"
	"carechain/programs"
	"carechain/records"
	"carechain/seed"
	"carechain/supply"
)

// TestDomainProgramsReplay runs an intervention program through the App
// (CheckTx, FinalizeBlock, Commit): a dose recorded by supply.administer
// pays the clinic in the same transaction, as the ledger wires
// programs.Observe; a second App fed the same blocks has the same AppHash
// at every height.
func TestDomainProgramsReplay(t *testing.T) {
	id := func(name string, kind cc.DIDKind) seed.Identity {
		k := seed.DeriveKey("ledger-programs", name)
		return seed.Identity{Name: name, Kind: kind, DID: tx.DeriveDID(k.Public().(ed25519.PublicKey)), Key: k}
	}
	gov, officer, nurse, pat := id("gov", cc.KindNode), id("officer", cc.KindPractitioner), id("nurse", cc.KindPractitioner), id("pat", cc.KindPatient)
	newApp := func() *App {
		st, err := store.OpenInMemory()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		acct := func(i seed.Identity) cc.GenesisAccount {
			return cc.GenesisAccount{DID: i.DID, Kind: i.Kind, PublicKey: i.Key.Public().(ed25519.PublicKey)}
		}
		g := cc.GenesisState{
			Accounts:   []cc.GenesisAccount{acct(gov), acct(officer), acct(nurse)},
			Governance: cc.Governance{Members: []cc.DID{gov.DID}, Threshold: 1},
			Organizations: []cc.Organization{
				{ID: "pha", Name: "PHA", Type: cc.OrgPublicHealth, DID: officer.DID, Active: true},
				{ID: "clinic", Name: "Clinic", Type: cc.OrgClinic, DID: nurse.DID, Active: true},
			},
			Members: []cc.Member{
				{Org: "pha", DID: officer.DID, Roles: []cc.Role{cc.RoleAdmin, cc.RolePublicHealthOffice}},
				{Org: "clinic", DID: nurse.DID, Roles: []cc.Role{cc.RoleAdmin, cc.RoleNurse}},
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
	seqs := map[cc.DID]uint64{}
	build := func(signer seed.Identity, typ string, payload any) []byte {
		raw, err := tx.Build(testChain, signer.DID, signer.Key, seqs[signer.DID], typ, payload)
		if err != nil {
			t.Fatal(err)
		}
		seqs[signer.DID]++
		return raw
	}
	anchor := func(typ, rid string) map[string]any {
		h := sha256.Sum256([]byte(rid))
		return map[string]any{"id": typ + "/" + rid, "type": typ, "patient": pat.DID, "org": "clinic", "author": nurse.DID,
			"author_org": "clinic", "version": 1, "content_hash": base64.StdEncoding.EncodeToString(h[:])}
	}
	expires := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	spec := map[string]any{"title": "Second dose", "vaccines": []string{"http://hl7.org/fhir/sid/cvx|208"}, "target": "true",
		"goal":      map[string]any{"dose": 2, "permille": 900, "by": "2026-12-31"},
		"incentive": map[string]any{"credits_per_dose": 5, "budget": 5}}
	dose := func(rid string) []byte {
		return build(nurse, supply.TypeAdminister, map[string]any{"org": "clinic", "anchors": []any{anchor("Immunization", rid)},
			"administrations": []any{map[string]any{"record_id": "Immunization/" + rid, "vaccine": "http://hl7.org/fhir/sid/cvx|208"}}})
	}
	blocks := [][][]byte{
		{build(pat, identity.TypePatientRegister, map[string]any{"public_key": tx.EncodeKey(pat.Key.Public().(ed25519.PublicKey))})},
		{build(nurse, identity.TypePatientLink, map[string]any{"patient": pat.DID, "org": "clinic", "expires": expires.Format(time.RFC3339),
			"approval": identity.SignLinkApproval(pat.Key, testChain, pat.DID, "clinic", expires)})},
		{build(nurse, records.TypeAnchor, map[string]any{"anchors": []any{anchor("Patient", "p1")}}),
			build(pat, consent.TypeGrant, map[string]any{"patient": pat.DID, "provisions": []any{map[string]any{"type": "permit",
				"actors": []any{map[string]any{"org": "pha"}}, "purposes": []string{"PUBHLTH"}}}}),
			build(officer, programs.TypeDeploy, map[string]any{"org": "pha", "id": "covid-2", "spec": spec})},
		{build(officer, programs.TypeActivate, map[string]any{"id": "covid-2"})},
		{build(officer, programs.TypeEnroll, map[string]any{"id": "covid-2", "members": []any{map[string]any{"patient": pat.DID,
			"facts": map[string]any{"age_band": "18-49", "sex": "male", "region": "North", "quintile": 2}}}})},
		{dose("i1")},
		{dose("i2"), build(officer, programs.TypeRun, map[string]any{"id": "covid-2"})},
	}
	a1, a2 := newApp(), newApp()
	for h, txs := range blocks {
		for i, raw := range txs {
			if r := checkTx(t, a1, raw); r.Code != 0 {
				t.Fatalf("block %d tx %d: CheckTx code %d: %s", h, i, r.Code, r.Log)
			}
		}
		r1, r2 := deliver(t, a1, txs...), deliver(t, a2, txs...)
		if !bytes.Equal(r1.AppHash, r2.AppHash) {
			t.Fatalf("block %d: AppHash %x != %x", h, r1.AppHash, r2.AppHash)
		}
		for i, r := range r1.TxResults {
			if r.Code != 0 {
				t.Fatalf("block %d tx %d: code %d: %s", h, i, r.Code, r.Log)
			}
		}
	}
	kv := a1.Store().Committed()
	p, err := programs.Get(kv, "covid-2")
	if err != nil || p.Spent != 5 || p.Doses != 2 || p.Reached[1] != 1 || p.Checkpoints[0].State != programs.CheckpointReached {
		t.Fatalf("program = %+v, %v", p, err)
	}
	ds, _ := programs.Decisions(kv, "covid-2", "")
	var kinds []string
	for _, d := range ds {
		kinds = append(kinds, d.Kind)
	}
	want := []string{programs.DecisionCredit, programs.DecisionBudgetExhausted, programs.DecisionReached}
	if len(kinds) != len(want) || kinds[0] != want[0] || kinds[1] != want[1] || kinds[2] != want[2] {
		t.Errorf("decisions = %v, want %v", kinds, want)
	}
}

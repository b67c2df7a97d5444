package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	cc "carechain"
	"carechain/consent"
	"carechain/identity"
	"carechain/ledger/store"
	"carechain/ledger/tx"
	"carechain/seed"
)

// MustDomainApp returns an App with carechain's real domain handlers and the
// seed population's genesis (one governance member, threshold 1), after
// block 1.
func MustDomainApp(t testing.TB) (*App, *seed.Population) {
	t.Helper()
	st, err := store.OpenInMemory()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pop := seed.NewPopulation("ledger-test", 6)
	gen, _ := json.Marshal(pop.Genesis())
	app := New(st, Domain(nil))
	if _, err := app.InitChain(context.Background(), &abci.InitChainRequest{ChainId: testChain, AppStateBytes: gen}); err != nil {
		t.Fatal(err)
	}
	deliver(t, app)
	return app, pop
}

// signed builds a domain transaction for id at its committed sequence+extra.
func signed(t testing.TB, app *App, id seed.Identity, extra uint64, typ string, payload any) []byte {
	t.Helper()
	seq, err := Sequence(app.Store().Committed(), id.DID)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tx.Build(testChain, id.DID, id.Key, seq+extra, typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func pub(id seed.Identity) string { return tx.EncodeKey(id.Key.Public().(ed25519.PublicKey)) }

// mustCommit delivers txs in one block and fails unless all succeed.
func mustCommit(t testing.TB, app *App, txs ...[]byte) {
	t.Helper()
	for i, r := range deliver(t, app, txs...).TxResults {
		if r.Code != 0 {
			t.Fatalf("tx %d: %d %s", i, r.Code, r.Log)
		}
	}
}

func TestDomainRejections(t *testing.T) {
	app, pop := MustDomainApp(t)
	pts := pop.Patients
	for _, p := range pts {
		mustCommit(t, app, signed(t, app, p, 0, "patient.register", map[string]string{"public_key": pub(p)}))
	}
	// Patient 0 names guardians 1, 2, 3 with threshold 2; guardian 1 approves.
	mustCommit(t, app, signed(t, app, pts[0], 0, "did.guardians.set", map[string]any{
		"guardians": []cc.DID{pts[1].DID, pts[2].DID, pts[3].DID}, "threshold": 2, "delay_blocks": 3}))
	newKey := pub(pts[5])
	mustCommit(t, app, signed(t, app, pts[1], 0, "did.recovery.approve", map[string]string{"did": string(pts[0].DID), "new_public_key": newKey}))

	tests := []struct {
		name string
		raw  []byte
		want cc.Kind
	}{
		{"unauthorized governance proposal", signed(t, app, pts[4], 0, "gov.propose", map[string]any{
			"action": "org.admit", "params": map[string]string{"id": "rogue-clinic", "name": "Rogue", "type": "clinic", "admin": string(pts[4].DID)}}), cc.Unauthorized},
		{"recovery without threshold", signed(t, app, pts[4], 0, "did.recovery.execute", map[string]string{"did": string(pts[0].DID)}), cc.FailedPrecondition},
		{"approval by a non-guardian", signed(t, app, pts[4], 0, "did.recovery.approve", map[string]string{"did": string(pts[0].DID), "new_public_key": newKey}), cc.Unauthorized},
		{"rotation signed by a stranger's key", func() []byte {
			raw, _ := tx.Build(testChain, pts[0].DID, pts[4].Key, 2, "did.rotate", map[string]string{"new_public_key": newKey})
			return raw
		}(), cc.BadSignature},
		{"self-registration with someone else's key", signed(t, app, pts[4], 0, "did.create", map[string]string{"public_key": pub(pts[3]), "kind": "practitioner"}), cc.Unauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := MustDigest(t, app)
			if r := checkTx(t, app, tt.raw); r.Code != tt.want.Code() {
				t.Errorf("CheckTx: code %d (%s), want %v", r.Code, r.Log, tt.want)
			}
			r := deliver(t, app, tt.raw)
			if got := r.TxResults[0].Code; got != tt.want.Code() {
				t.Errorf("FinalizeBlock: code %d (%s), want %v", got, r.TxResults[0].Log, tt.want)
			}
			if !bytes.Equal(MustDigest(t, app), before) {
				t.Errorf("state changed")
			}
		})
	}
	// With the second approval and after the delay, recovery succeeds and
	// the new key signs for the DID.
	mustCommit(t, app, signed(t, app, pts[2], 0, "did.recovery.approve", map[string]string{"did": string(pts[0].DID), "new_public_key": newKey}))
	for i := 0; i < 3; i++ {
		deliver(t, app)
	}
	mustCommit(t, app, signed(t, app, pts[4], 0, "did.recovery.execute", map[string]string{"did": string(pts[0].DID)}))
	rec, err := identity.GetDID(app.Store().Committed(), pts[0].DID)
	if err != nil || tx.EncodeKey(rec.PublicKey) != newKey {
		t.Fatalf("after recovery: %v %+v", err, rec)
	}
	recovered := seed.Identity{Name: "recovered", DID: pts[0].DID, Key: pts[5].Key}
	mustCommit(t, app, signed(t, app, recovered, 0, "did.delegate.grant", map[string]any{
		"delegate": pts[1].DID, "scopes": []string{"records.read"}, "expires": "2030-01-01T00:00:00Z"}))
	// Consent contracts run through the same ledger.
	mustCommit(t, app, signed(t, app, pts[2], 0, "consent.grant", map[string]any{"patient": pts[2].DID,
		"provisions": []map[string]any{{"type": "permit", "actors": []map[string]any{{"did": pts[3].DID}}, "purposes": []string{"TREAT"}}}}))
	if cs, err := consent.ListConsents(app.Store().Committed(), pts[2].DID); err != nil || len(cs) != 1 {
		t.Errorf("consents after grant: %v %+v", err, cs)
	}
}

// TestDomainReuseMatchesExecution registers patients through CheckTx
// first, then in two blocks: the first block's transactions were admitted
// at its height and are reused, the second block's at an earlier height and
// are executed again (patient.register records the height). Results and
// AppHashes equal an App's that executed everything.
func TestDomainReuseMatchesExecution(t *testing.T) {
	warm, pop := MustDomainApp(t)
	cold, _ := MustDomainApp(t)
	var txs [][]byte
	for _, p := range pop.Patients {
		raw := signed(t, warm, p, 0, identity.TypePatientRegister, map[string]string{"public_key": pub(p)})
		if r := checkTx(t, warm, raw); r.Code != 0 {
			t.Fatalf("CheckTx: %d %s", r.Code, r.Log)
		}
		txs = append(txs, raw)
	}
	half := len(txs) / 2
	sameResults(t, 2, deliver(t, warm, txs[:half]...), deliver(t, cold, txs[:half]...))
	if got, want := warm.Stats().Reused.Load(), uint64(half); got != want {
		t.Fatalf("reused %d registrations, want %d", got, want)
	}
	for _, raw := range txs[half:] { // CometBFT's recheck of the rest
		if r, err := warm.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: raw, Type: abci.CHECK_TX_TYPE_RECHECK}); err != nil || r.Code != 0 {
			t.Fatalf("recheck: %v %v", r, err)
		}
	}
	sameResults(t, 3, deliver(t, warm, txs[half:]...), deliver(t, cold, txs[half:]...))
	if got, want := warm.Stats().Reused.Load(), uint64(half); got != want {
		t.Fatalf("reused %d registrations, want %d (none of the second block)", got, want)
	}
	last := pop.Patients[len(pop.Patients)-1]
	pt, err := identity.GetPatient(warm.Store().Committed(), last.DID)
	if err != nil || pt.Registered != 3 {
		t.Fatalf("last patient %+v, %v: want registered at height 3", pt, err)
	}
}

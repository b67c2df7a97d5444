package gatekeeper

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/chain"
	"carechain/consent"
	"carechain/ledger/tx"
	"carechain/records"
	"carechain/seed"
)

// staff returns the demo practitioner named name.
func (w *world) staff(t *testing.T, name string) seed.Identity {
	t.Helper()
	for _, s := range w.pop.Staff {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no staff %s", name)
	return seed.Identity{}
}

var nonce int

// signedRead builds a requester's signed read of ids for purpose.
func (w *world) signedRead(t *testing.T, who seed.Identity, patient cc.DID, purpose string, ids ...string) access.SignedRead {
	t.Helper()
	st, _ := w.chain.Status(context.Background())
	nonce++
	sr, err := access.SignRead(access.ReadRequest{ChainID: st.ChainID, Requester: who.DID, Patient: patient, Action: "read",
		Purpose: purpose, Records: ids, Issued: st.LatestBlockTime, Nonce: fmt.Sprintf("nonce-%016d", nonce)}, who.Key)
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

// submit commits a transaction by id or fails.
func (w *world) submit(t *testing.T, id seed.Identity, typ string, payload any) []byte {
	t.Helper()
	ctx := context.Background()
	seq, _ := w.chain.Sequence(ctx, id.DID)
	raw, err := tx.Build("gk-chain", id.DID, id.Key, seq, typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	r := w.chain.Submit(ctx, [][]byte{raw}, true)[0]
	if !r.Accepted {
		t.Fatalf("%s: %s", typ, r.Log)
	}
	return r.Data
}

// mustIngestBob ingests Synthea's provider directory and then Bob's
// patient bundle for the first demo patient, whom it returns with the
// result.
func (w *world) mustIngestBob(t *testing.T) (seed.Identity, *IngestResult) {
	t.Helper()
	ctx := context.Background()
	dir := testdata(t, "synthea")
	for _, f := range []string{"hospitalInformation1633536936158.json", "practitionerInformation1633536936158.json"} {
		if _, err := w.gk.IngestBundle(ctx, mustRead(t, filepath.Join(dir, f)), w.submitter("")); err != nil {
			t.Fatal(err)
		}
	}
	pt := w.pop.Patients[0]
	res, err := w.gk.IngestBundle(ctx, mustRead(t, filepath.Join(dir, "patients", "Bob965_Keeling57_3f6fd0bb-6cd3-eb3f-4401-cd38ace25f2b.json")), w.submitter(pt.DID))
	if err != nil {
		t.Fatal(err)
	}
	return pt, res
}

func TestReadDecidedAndLoggedBeforeRelease(t *testing.T) {
	w := MustWorld(t)
	ctx := context.Background()
	pt, res := w.mustIngestBob(t)
	var imm string
	for _, id := range res.IDs {
		if strings.HasPrefix(id, "Immunization/") {
			imm = id
			break
		}
	}
	other := w.staff(t, "riverside-physician")
	author := w.staff(t, "st-mary-nurse")

	read := func(who seed.Identity, purpose string) (*Release, error) {
		return w.gk.Read(ctx, w.signedRead(t, who, pt.DID, purpose, imm))
	}
	// Before any consent: the patient and the authoring organization read;
	// another hospital's clinician gets "not found".
	tests := []struct {
		name  string
		who   seed.Identity
		basis cc.Basis
		want  cc.Kind
	}{
		{"patient", pt, cc.BasisPatient, 0},
		{"authoring organization", author, cc.BasisAuthor, 0},
		{"other clinician without consent", other, "", cc.NotFound},
	}
	for _, tt := range tests {
		rel, err := read(tt.who, "TREAT")
		if tt.want != 0 {
			if !cc.Is(tt.want, err) {
				t.Errorf("%s: err %v, want %v", tt.name, err, tt.want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if rel.Event.Basis != tt.basis || len(rel.Records) != 1 || !strings.Contains(string(rel.Records[0].JSON), `"Immunization"`) {
			t.Errorf("%s: release %+v", tt.name, rel.Event)
		}
	}

	// The patient grants the other clinician TREAT access; the read is
	// released with the consent as basis and appears in the patient's log.
	data := w.submit(t, pt, consent.TypeGrant, map[string]any{"patient": pt.DID, "provisions": []map[string]any{
		{"type": "permit", "actors": []map[string]any{{"did": other.DID}}, "purposes": []string{"TREAT"}, "resource_types": []string{"Immunization"}}}})
	rel, err := read(other, "TREAT")
	if err != nil {
		t.Fatalf("consented read: %v", err)
	}
	if rel.Event.Basis != cc.BasisConsent || !strings.Contains(string(data), rel.Event.Ref) {
		t.Errorf("consented read event %+v (grant %s)", rel.Event, data)
	}
	if _, err := read(other, "HPAYMT"); !cc.Is(cc.NotFound, err) {
		t.Errorf("wrong purpose: %v", err)
	}
	log, err := access.AccessLog(w.chain.State(), pt.DID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range log {
		if e.Accessor == other.DID && e.Basis == cc.BasisConsent && len(e.Records) == 1 && e.Records[0] == imm {
			found = true
		}
	}
	if !found {
		t.Errorf("the consented read is not in the patient's access log: %+v", log)
	}

	// A tampered request fails its signature.
	sr := w.signedRead(t, other, pt.DID, "TREAT", imm)
	sr.Request = []byte(strings.Replace(string(sr.Request), "TREAT", "TREAT ", 1))
	if _, err := w.gk.Read(ctx, sr); err == nil {
		t.Errorf("tampered request was served")
	}
	// A record of another custodian or a made-up id looks the same as a denial.
	if _, err := w.gk.Read(ctx, w.signedRead(t, pt, pt.DID, "TREAT", "Immunization/does-not-exist")); !cc.Is(cc.NotFound, err) {
		t.Errorf("missing record: %v", err)
	}
}

// heldChain is the test world's chain whose SubmitThen executes the
// transaction at once (so its block has begun executing) but keeps the
// committed outcome from the caller until hold is closed.
type heldChain struct {
	*chain.Local
	hold chan struct{}
}

func (h heldChain) SubmitThen(ctx context.Context, raw []byte) (cc.SubmitResult, func(context.Context) cc.SubmitResult) {
	r, wait := h.Local.SubmitThen(ctx, raw)
	if wait == nil {
		return r, nil
	}
	return r, func(ctx context.Context) cc.SubmitResult {
		<-h.hold
		return wait(ctx)
	}
}

// TestReadPreparedWhileBlockExecutes checks that a read prepares its
// answer once its access event's block begins executing, releases nothing
// before the outcome, and then releases exactly the vault's version — or,
// for an event the ledger does not log (a stale request), nothing.
func TestReadPreparedWhileBlockExecutes(t *testing.T) {
	w := MustWorld(t)
	ctx := context.Background()
	pt, res := w.mustIngestBob(t)
	id := res.IDs[len(res.IDs)-1]
	a, err := records.GetAnchor(w.chain.State(), id)
	if err != nil {
		t.Fatal(err)
	}
	want, err := w.gk.version(a)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		stale bool
	}{{"logged", false}, {"stale, not logged", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held := heldChain{Local: w.chain, hold: make(chan struct{})}
			node := w.pop.Nodes["st-mary-hospital"]
			gk := New(Config{Chain: held, Vault: w.vault, Index: w.gk.cfg.Index, Org: "st-mary-hospital", NodeDID: node.DID, NodeKey: node.Key})
			sr := w.signedRead(t, pt, pt.DID, "PATRQT", id)
			if tt.stale {
				st, _ := w.chain.Status(ctx)
				nonce++
				sr, err = access.SignRead(access.ReadRequest{ChainID: st.ChainID, Requester: pt.DID, Patient: pt.DID, Action: "read",
					Purpose: "PATRQT", Records: []string{id}, Issued: st.LatestBlockTime.Add(-2 * access.ReadWindow), Nonce: fmt.Sprintf("nonce-%016d", nonce)}, pt.Key)
				if err != nil {
					t.Fatal(err)
				}
			}
			type result struct {
				rel *Release
				err error
			}
			got := make(chan result, 1)
			go func() {
				rel, err := gk.Read(ctx, sr)
				got <- result{rel, err}
			}()
			deadline := time.Now().Add(10 * time.Second)
			for gk.logger().prepared.Load() == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the read did not prepare its answer while its block executed")
				}
				time.Sleep(time.Millisecond)
			}
			select {
			case r := <-got:
				t.Fatalf("released before the outcome: %+v, %v", r.rel, r.err)
			case <-time.After(20 * time.Millisecond):
			}
			close(held.hold)
			r := <-got
			if tt.stale {
				if !cc.Is(cc.NotFound, r.err) || r.rel != nil {
					t.Fatalf("a stale read: %+v, %v; want NotFound", r.rel, r.err)
				}
				return
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			if len(r.rel.Records) != 1 || string(r.rel.Records[0].JSON) != string(want) || r.rel.Event.Status != access.StatusLogged {
				t.Errorf("released %+v, want the vault's version", r.rel)
			}
		})
	}
}

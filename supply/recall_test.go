package supply

import (
	"slices"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
	"carechain/records"
)

// recallEnv: the vaccine registered; v1…v5 and u1 (another GTIN)
// commissioned in lot LOT-A1; v1 and v2 packed in c1; v4 shipped to and
// received by distrib; v5 decommissioned; administrations of LOT-A1 to
// patient A (twice, the vaccine), patient B (GTIN unknown) and patient C
// (u1's GTIN).
func recallEnv(t testing.TB) *env {
	t.Helper()
	e := newMasterEnv(t)
	e.mustRun(t, mfg, TypeProductRegister, vaccine(nil))
	e.mustCapture(t, mfg, "pharma-co",
		commission(sgtin("v1"), sgtin("v2"), sgtin("v3"), sgtin("v4"), sgtin("v5"), unreg("u1")),
		pack(sscc("1001"), sgtin("v1"), sgtin("v2")),
		ship("distrib", sgtin("v4")),
		decommission(sgtin("v5")))
	e.mustCapture(t, dist, "distrib", receive(distSite, sgtin("v4")))
	adms := []Administration{
		{RecordID: "Immunization/a1", Patient: patientA.did, Org: "clinic", Lot: "LOT-A1", GTIN: vialGTIN, Year: 2026, Doses: 1, Height: 20},
		{RecordID: "Immunization/a2", Patient: patientA.did, Org: "clinic", Lot: "LOT-A1", EPC: sgtin("v3"), Year: 2026, Doses: 1, Height: 21},
		{RecordID: "Immunization/b1", Patient: patientB.did, Org: "distrib", Lot: "LOT-A1", Year: 2025, Doses: 1, Height: 22},
		{RecordID: "Immunization/c1", Patient: patientC.did, Org: "clinic", Lot: "LOT-A1", GTIN: "09506000134352", Year: 2026, Doses: 1, Height: 23},
		{RecordID: "Immunization/x1", Patient: patientC.did, Org: "clinic", Lot: "LOT-Z", Year: 2026, Doses: 1, Height: 24},
	}
	for i, a := range adms {
		putAdministration(t, e.kv, a, i)
	}
	return e
}

func TestRecall(t *testing.T) {
	e := recallEnv(t)
	res := e.mustRun(t, mfg, TypeRecall, obj{"org": "pharma-co", "lot": "LOT-A1", "gtin": "10614141073464", "reason": "particles found in vials"})
	rec := cctest.DecodeData[Recall](t, res)
	want := Recall{Lot: "LOT-A1", GTINs: []string{vialGTIN}, Org: "pharma-co", Signer: mfg.did, Reason: "particles found in vials",
		Items: 4, Patients: 2, Height: e.height, Time: rec.Time, TxHash: rec.TxHash}
	if !slices.Equal(rec.GTINs, want.GTINs) || rec.Lot != want.Lot || rec.Org != want.Org || rec.Signer != want.Signer ||
		rec.Reason != want.Reason || rec.Items != want.Items || rec.Patients != want.Patients || rec.Height != want.Height || rec.TxHash == "" {
		t.Errorf("recall\n got %+v\nwant %+v", rec, want)
	}
	if cctest.Attr(res, "supply.recall", "items") != "4" || cctest.Attr(res, "supply.recall", "patients") != "2" {
		t.Errorf("events %+v", res.Events)
	}
	items := map[string]struct{ status, prev, owner string }{
		sgtin("v1"):  {StatusRecalled, StatusActive, "pharma-co"},
		sgtin("v3"):  {StatusRecalled, StatusActive, "pharma-co"},
		sgtin("v4"):  {StatusRecalled, StatusReceived, "distrib"},
		sgtin("v5"):  {StatusDecommissioned, "", "pharma-co"},
		unreg("u1"):  {StatusActive, "", "pharma-co"},
		sscc("1001"): {StatusActive, "", "pharma-co"},
	}
	for epc, w := range items {
		it := e.item(t, epc)
		if it.Status != w.status || it.PrevStatus != w.prev || it.Owner != w.owner {
			t.Errorf("%s = %+v, want %+v", epc, *it, w)
		}
	}
	if it := e.item(t, sgtin("v1")); it.Disposition != DispositionRecalled {
		t.Errorf("v1 disposition %q", it.Disposition)
	}
	if ok, why := Usable(e.item(t, sgtin("v3")), e.time); ok || why != StatusRecalled {
		t.Errorf("Usable(recalled) = %v, %q", ok, why)
	}
	lots, _ := GetLot(e.kv, "LOT-A1")
	if len(lots) != 2 || lots[0].Status != LotActive || lots[1].Status != LotRecalled || lots[1].RecalledAt != e.height || lots[1].RecallReason != "particles found in vials" {
		t.Errorf("lots %+v", lots)
	}
	wantNotes := map[*actor]int{patientA: 1, patientB: 1, patientC: 0}
	for p, n := range wantNotes {
		notes, err := records.Notifications(e.kv, p.did)
		if err != nil || len(notes) != n {
			t.Errorf("%s has %d notifications (%v), want %d", p.name, len(notes), err, n)
			continue
		}
		if n == 1 && (notes[0].Kind != NoticeRecall || notes[0].Ref != "LOT-A1") {
			t.Errorf("%s notification %+v", p.name, notes[0])
		}
	}

	// The same GTIN again is a conflict; without a GTIN the rest of the
	// lot (u1's GTIN) is recalled.
	wantRejected(t, e, mfgAdmin, TypeRecall, obj{"org": "pharma-co", "lot": "LOT-A1", "gtin": vialGTIN, "reason": "again"}, cc.Conflict, "already recalled")
	rec2 := cctest.DecodeData[Recall](t, e.mustRun(t, regOfficer, TypeRecall, obj{"org": "health-reg", "lot": "LOT-A1", "reason": "whole lot"}))
	if !slices.Equal(rec2.GTINs, []string{"09506000134352"}) || rec2.Items != 1 || rec2.Patients != 2 {
		t.Errorf("second recall %+v", rec2)
	}
	wantRejected(t, e, regOfficer, TypeRecall, obj{"org": "health-reg", "lot": "LOT-A1", "reason": "again"}, cc.Conflict, "already recalled")
	if recs, err := Recalls(e.kv); err != nil || len(recs) != 2 {
		t.Errorf("Recalls = %d, %v", len(recs), err)
	}
	// No new item of a recalled lot.
	wantRejected(t, e, mfg, TypeCapture, events(commission(sgtin("v9"))), cc.FailedPrecondition, "recalled")
}

func TestRecallRejections(t *testing.T) {
	e := recallEnv(t)
	recall := func(set obj) obj {
		p := obj{"org": "pharma-co", "lot": "LOT-A1", "gtin": vialGTIN, "reason": "particles"}
		for k, v := range set {
			if v == nil {
				delete(p, k)
			} else {
				p[k] = v
			}
		}
		return p
	}
	tests := []struct {
		name    string
		signer  *actor
		payload any
		kind    cc.Kind
		msg     string
	}{
		{"not an object", mfg, []byte(`1`), cc.Malformed, ""},
		{"unknown field", mfg, recall(obj{"items": 1}), cc.Malformed, "items"},
		{"bad org", mfg, recall(obj{"org": "P"}), cc.Invalid, "org"},
		{"bad lot", mfg, recall(obj{"lot": "LOT A1"}), cc.Invalid, "lot"},
		{"bad gtin", mfg, recall(obj{"gtin": "10614141073465"}), cc.Invalid, "gtin"},
		{"no reason", mfg, recall(obj{"reason": nil}), cc.Invalid, "reason"},
		{"unknown lot", mfg, recall(obj{"lot": "LOT-Q"}), cc.NotFound, "LOT-Q"},
		{"unknown lot without gtin", mfg, recall(obj{"lot": "LOT-Q", "gtin": nil}), cc.NotFound, "LOT-Q"},
		{"lot of another gtin", mfg, recall(obj{"gtin": "96385074"}), cc.NotFound, "00000096385074"},
		{"distributor", dist, recall(obj{"org": "distrib"}), cc.Unauthorized, "may not recall"},
		{"another manufacturer", bioAdmin, recall(obj{"org": "bio-co"}), cc.Unauthorized, "commissioned by pharma-co"},
		{"not a member", dist, recall(nil), cc.Unauthorized, "needs role"},
		{"regulator without a review role", regClerk, recall(obj{"org": "health-reg"}), cc.Unauthorized, "public-health-officer"},
		{"suspended regulator", oldReg, recall(obj{"org": "old-reg"}), cc.Unauthorized, "suspended"},
		{"unknown org", mfg, recall(obj{"org": "nowhere"}), cc.Unauthorized, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantRejected(t, e, tc.signer, TypeRecall, tc.payload, tc.kind, tc.msg)
		})
	}
	// The brand owner (who registered the product) recalls a lot another
	// organization commissioned; a regulator recalls any lot.
	f := e.fork()
	f.mustRun(t, bioAdmin, TypeProductRegister, vaccine(obj{"org": "bio-co", "gtin": "09506000134352"}))
	f.mustRun(t, bioAdmin, TypeRecall, recall(obj{"org": "bio-co", "gtin": "09506000134352"}))
	f.mustRun(t, regAdmin, TypeRecall, recall(obj{"org": "health-reg"}))
	wantRejected(t, f, bioAdmin, TypeRecall, recall(obj{"org": "bio-co", "gtin": nil}), cc.Unauthorized, "commissioned by pharma-co")
}

func TestRecalledItemsMoveHeld(t *testing.T) {
	e := recallEnv(t)
	e.mustRun(t, mfg, TypeRecall, obj{"org": "pharma-co", "lot": "LOT-A1", "gtin": vialGTIN, "reason": "particles"})
	c1, v1 := sscc("1001"), sgtin("v1")
	// c1 (not of the lot) holds recalled v1 and v2: shipping and receiving
	// it moves them, still recalled.
	e.mustCapture(t, mfg, "pharma-co", ship("distrib", c1))
	if it := e.item(t, v1); it.Status != StatusRecalled || it.PrevStatus != StatusInTransit || it.InTransitTo != "distrib" {
		t.Fatalf("v1 shipped: %+v", *it)
	}
	e.mustCapture(t, dist, "distrib", receive(distSite, c1))
	if it := e.item(t, v1); it.Status != StatusRecalled || it.PrevStatus != StatusReceived || it.Owner != "distrib" {
		t.Fatalf("v1 received: %+v", *it)
	}
	// A recalled item can be unpacked and destroyed by its holder.
	e.mustCapture(t, dist, "distrib", unpack(c1), decommission(v1))
	if it := e.item(t, v1); it.Status != StatusDecommissioned {
		t.Errorf("v1 = %+v", *it)
	}
}

func TestTrace(t *testing.T) {
	e := recallEnv(t)
	v1 := e.item(t, sgtin("v1"))
	v1.DosesUsed = 3
	if err := cc.SetJSON(e.kv, itemKey(v1.EPC), v1); err != nil {
		t.Fatal(err)
	}
	rep, err := Trace(e.kv, "LOT-A1")
	if err != nil {
		t.Fatal(err)
	}
	wantSites := []TraceSite{
		{Org: "distrib", Items: 1, DosesRemaining: 10, ByStatus: []TraceCount{{Status: StatusReceived, Items: 1, Doses: 10}}},
		{Org: "pharma-co", Items: 4, DosesRemaining: 28, ByStatus: []TraceCount{{Status: StatusActive, Items: 4, Doses: 28}}},
	}
	if len(rep.Sites) != len(wantSites) {
		t.Fatalf("sites %+v", rep.Sites)
	}
	for i, w := range wantSites {
		g := rep.Sites[i]
		if g.Org != w.Org || g.Items != w.Items || g.DosesRemaining != w.DosesRemaining || !slices.Equal(g.ByStatus, w.ByStatus) {
			t.Errorf("site %d = %+v, want %+v", i, g, w)
		}
	}
	if rep.Decommissioned != 1 || len(rep.Lots) != 2 || len(rep.Administrations) != 4 {
		t.Errorf("report %+v", *rep)
	}
	wantPatients := []cc.DID{patientA.did, patientB.did, patientC.did}
	slices.Sort(wantPatients)
	if !slices.Equal(rep.Patients, wantPatients) {
		t.Errorf("patients %v, want %v", rep.Patients, wantPatients)
	}
	if a := rep.Administrations[2]; a.Patient != patientB.did || a.Org != "distrib" || a.Year != 2025 {
		t.Errorf("administration %+v", a)
	}
	if _, err := Trace(e.kv, "LOT-NONE"); !cc.Is(cc.NotFound, err) {
		t.Errorf("Trace(unknown) = %v", err)
	}
	if _, err := Trace(e.kv, "bad lot"); !cc.Is(cc.NotFound, err) {
		t.Errorf("Trace(bad) = %v", err)
	}
	// Only administrations known: still a report.
	if rep, err := Trace(e.kv, "LOT-Z"); err != nil || len(rep.Sites) != 0 || len(rep.Patients) != 1 {
		t.Errorf("Trace(LOT-Z) = %+v, %v", rep, err)
	}
}

// TestNewTransactionsDeterministic runs each new transaction type twice on
// the same state: same writes, same result.
func TestNewTransactionsDeterministic(t *testing.T) {
	e := recallEnv(t)
	e.mustCapture(t, mfg, "pharma-co", pack(sscc("2001"), sscc("1001"), sgtin("v3")))
	e.time = day("10:00")
	runs := []struct {
		typ     string
		signer  *actor
		payload obj
	}{
		{TypeProductRegister, mfg, vaccine(obj{"condition": "reading.max_milli_c > 8000"})},
		{TypeLocationRegister, dist, obj{"org": "distrib", "gln": distSite, "name": "Hub"}},
		{TypeCapture, mfg, events(observeTemps([]obj{temp(at("08:00"), 9000), span("08:00", "09:00", 9000, nil)}, sscc("2001")))},
		{TypeRecall, mfg, obj{"org": "pharma-co", "lot": "LOT-A1", "reason": "particles"}},
	}
	for _, r := range runs {
		e.next()
		raw := mustJSON(t, r.payload)
		kv := cctest.RunTwiceStrict(t, r.typ, Handlers()[r.typ], e.ctx(r.signer.did, r.typ), e.kv, raw)
		kv.Flush(e.kv)
	}
	if exc, _ := Excursions(e.kv); len(exc) != 1 {
		t.Errorf("excursions %+v", exc)
	}
	e.next()
	raw := mustJSON(t, obj{"org": "health-reg", "epcs": []string{sscc("2001")}, "decision": DecisionRelease, "reason": "ok"})
	cctest.RunTwiceStrict(t, "review", Handlers()[TypeQuarantineReview], e.ctx(regAdmin.did, TypeQuarantineReview), e.kv, raw)
}

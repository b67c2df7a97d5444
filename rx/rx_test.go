package rx

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/internal/cctest"
)

// TestIssueRules checks every rule of rx.issue; each refusal changes
// nothing.
func TestIssueRules(t *testing.T) {
	e := newEnv(t)
	const id = "MedicationRequest/mr-1"
	e.mustAnchor(t, hnode, anchor(id, pat, "st-marys", doc), anchor("MedicationRequest/by-nurse", pat, "st-marys", nurse),
		anchor("Observation/o-1", pat, "st-marys", doc))
	e.mustAnchor(t, anode, anchor("MedicationRequest/at-pharmacy", pat, "pharm-a", pharmA))
	e.mustRun(t, hnode, TypeIssue, obj{"org": "st-marys", "prescriptions": []obj{rxItem("MedicationRequest/done", nil)},
		"anchors": []obj{anchor("MedicationRequest/done", pat, "st-marys", doc)}})
	payload := func(set obj) obj { return obj{"org": "st-marys", "prescriptions": []obj{rxItem(id, set)}} }
	tests := []struct {
		name    string
		signer  *actor
		payload any
		kind    cc.Kind
		msg     string
	}{
		{"not JSON", hnode, []byte(`{"org":`), cc.Malformed, ""},
		{"unknown field", hnode, obj{"org": "st-marys", "prescriptions": []obj{rxItem(id, nil)}, "x": 1}, cc.Malformed, "x"},
		{"a float quantity", hnode, payload(obj{"quantity_milli": 2.5}), cc.Malformed, "quantity_milli"},
		{"bad org", hnode, obj{"org": "St Marys", "prescriptions": []obj{rxItem(id, nil)}}, cc.Invalid, "organization id"},
		{"no prescriptions", hnode, obj{"org": "st-marys", "prescriptions": []obj{}}, cc.Invalid, "prescriptions must list"},
		{"not a MedicationRequest id", hnode, payload(obj{"record_id": "Observation/o-1"}), cc.Invalid, "MedicationRequest record id"},
		{"listed twice", hnode, obj{"org": "st-marys", "prescriptions": []obj{rxItem(id, nil), rxItem(id, nil)}}, cc.Invalid, "listed twice"},
		{"zero quantity", hnode, payload(obj{"quantity_milli": 0}), cc.Invalid, "quantity_milli"},
		{"negative repeats", hnode, payload(obj{"repeats": -1}), cc.Invalid, "repeats"},
		{"100 repeats", hnode, payload(obj{"repeats": 100}), cc.Invalid, "repeats"},
		{"a bad medication", hnode, payload(obj{"medication": "317935006"}), cc.Invalid, "medication"},
		{"a unit with a space", hnode, payload(obj{"unit": "T B"}), cc.Invalid, "unit"},
		{"a bad date", hnode, payload(obj{"valid_until": "2026-02-30"}), cc.Invalid, "YYYY-MM-DD"},
		{"validity in the past", hnode, payload(obj{"valid_until": "2026-02-28"}), cc.Invalid, "in the past"},
		{"validity over two years", hnode, payload(obj{"valid_until": "2028-03-02"}), cc.Invalid, "two years"},
		{"no such record", hnode, payload(obj{"record_id": "MedicationRequest/none"}), cc.NotFound, "no record"},
		{"another organization's record", hnode, payload(obj{"record_id": "MedicationRequest/at-pharmacy"}), cc.Unauthorized, "held by pharm-a"},
		{"a nurse's request", hnode, payload(obj{"record_id": "MedicationRequest/by-nurse"}), cc.Unauthorized, "not a physician"},
		{"signed by a nurse", nurse, payload(nil), cc.Unauthorized, "only its prescriber"},
		{"signed by another org's node", anode, payload(nil), cc.Unauthorized, "only its prescriber"},
		{"already issued", hnode, payload(obj{"record_id": "MedicationRequest/done"}), cc.Conflict, "already issued"},
		{"a bad anchor in the same tx", hnode, obj{"org": "st-marys", "prescriptions": []obj{rxItem("MedicationRequest/new", nil)},
			"anchors": []obj{func() obj { a := anchor("MedicationRequest/new", pat, "st-marys", doc); a["version"] = 2; return a }()}}, cc.NotFound, "no record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRejected(t, e, tt.signer, TypeIssue, tt.payload, tt.kind, tt.msg)
		})
	}

	// The prescriber signs an already anchored record; the default
	// validity is a year.
	res := e.mustRun(t, doc, TypeIssue, payload(obj{"valid_until": nil, "delegate_may_collect": true}))
	if got := cctest.DecodeData[IssueResult](t, res); len(got.Issued) != 1 || got.Issued[0] != id {
		t.Errorf("result %+v", got)
	}
	p := e.prescription(t, id)
	want := e.time.AddDate(1, 0, 0).Format(DateLayout)
	if p.Status != StatusActive || p.Patient != pat.did || p.Prescriber != doc.did || p.Org != "st-marys" ||
		p.ValidUntil != want || p.TotalMilli() != 60000 || !p.DelegateMayCollect || p.IssuedAt != e.height {
		t.Errorf("prescription %+v (valid until want %s)", p, want)
	}
	for _, list := range []func() ([]Prescription, error){
		func() ([]Prescription, error) { return PatientPrescriptions(e.kv, pat.did) },
		func() ([]Prescription, error) { return PrescriberPrescriptions(e.kv, doc.did) },
	} {
		ps, err := list()
		if err != nil || len(ps) != 2 || ps[0].ID != "MedicationRequest/done" || ps[1].ID != id {
			t.Errorf("index: %v %+v", err, ps)
		}
	}
	if ps, _ := PatientPrescriptions(e.kv, pat2.did); len(ps) != 0 {
		t.Errorf("pat2 has %v", ps)
	}
}

// TestDispenseRules checks every rule of rx.dispense against a
// prescription of 30 TAB per fill with one repeat; each refusal changes
// nothing.
func TestDispenseRules(t *testing.T) {
	e := newEnv(t)
	id := e.mustIssue(t, "mr-1", nil)
	cancelled := e.mustIssue(t, "mr-cancelled", nil)
	e.mustRun(t, doc, TypeCancel, obj{"prescription": cancelled, "reason": "altchoice"})
	completed := e.mustIssue(t, "mr-completed", obj{"repeats": 0})
	e.mustRun(t, pharmA, TypeDispense, dispense("pharm-a", pharmA, completed, 30000))
	partial := e.mustIssue(t, "mr-partial", obj{"repeats": 2}) // 90 in 3 fills; 85 dispensed in parts
	e.mustRun(t, pharmA, TypeDispense, dispense("pharm-a", pharmA, partial, 30000, 25000))
	e.mustRun(t, pharmB, TypeDispense, dispense("pharm-b", pharmB, partial, 30000))
	expiring := e.mustIssue(t, "mr-expiring", obj{"valid_until": "2026-03-01"})
	noDelegates := e.mustIssue(t, "mr-no-delegates", obj{"delegate_may_collect": false})
	delegates := e.mustIssue(t, "mr-delegates", obj{"delegate_may_collect": true})
	e.mustRun(t, pharmA, TypeDispense, dispense("pharm-a", pharmA, id, 1000))
	used := "MedicationDispense/d" + itoa(dispenses)
	e.mustAnchor(t, anode, anchor("MedicationDispense/anchored", pat, "pharm-a", pharmA), anchor("MedicationDispense/of-pat2", pat2, "pharm-a", pharmA),
		anchor("Observation/o", pat, "pharm-a", pharmA))
	e.mustAnchor(t, pharmB, anchor("MedicationDispense/at-b", pat, "pharm-b", pharmB))

	with := func(p obj, set obj) obj {
		d := p["dispenses"].([]obj)[0]
		for k, v := range set {
			if v == nil {
				delete(d, k)
			} else {
				d[k] = v
			}
		}
		return p
	}
	existing := func(rec string, set obj) obj {
		d := obj{"record_id": rec, "prescription": id, "quantity_milli": 1000}
		for k, v := range set {
			d[k] = v
		}
		return obj{"org": "pharm-a", "pharmacist": pharmA.did, "dispenses": []obj{d}}
	}
	later := e.fork()
	later.time = time.Date(2026, 3, 2, 0, 0, 1, 0, time.UTC)
	tests := []struct {
		name    string
		e       *env
		signer  *actor
		payload any
		kind    cc.Kind
		msg     string
	}{
		{"not JSON", e, anode, []byte(`[]`), cc.Malformed, ""},
		{"unknown field", e, anode, with(dispense("pharm-a", pharmA, id, 1000), obj{"x": true}), cc.Malformed, "x"},
		{"a float quantity", e, anode, with(dispense("pharm-a", pharmA, id, 1000), obj{"quantity_milli": 0.5}), cc.Malformed, "quantity_milli"},
		{"no dispenses", e, anode, obj{"org": "pharm-a", "pharmacist": pharmA.did, "dispenses": []obj{}}, cc.Invalid, "dispenses must list"},
		{"bad pharmacist", e, anode, obj{"org": "pharm-a", "pharmacist": "bob", "dispenses": []obj{{}}}, cc.Invalid, "pharmacist"},
		{"zero quantity", e, anode, dispense("pharm-a", pharmA, id, 0), cc.Invalid, "quantity_milli"},
		{"not a dispense record", e, anode, existing("Observation/o", nil), cc.Invalid, "MedicationDispense record id"},
		{"not a prescription id", e, anode, with(dispense("pharm-a", pharmA, id, 1000), obj{"prescription": "Observation/o"}), cc.Invalid, "MedicationRequest record id"},
		{"listed twice", e, anode, obj{"org": "pharm-a", "pharmacist": pharmA.did, "dispenses": []obj{
			{"record_id": "MedicationDispense/anchored", "prescription": id, "quantity_milli": 1},
			{"record_id": "MedicationDispense/anchored", "prescription": id, "quantity_milli": 1}}}, cc.Invalid, "listed twice"},
		{"another patient's dispense", e, anode, existing("MedicationDispense/of-pat2", nil), cc.Invalid, "not of the patient"},
		{"another unit", e, anode, existing("MedicationDispense/anchored", obj{"unit": "mL"}), cc.Invalid, "prescribed in TAB"},
		{"a nurse is no pharmacist", e, anode, obj{"org": "pharm-a", "pharmacist": nurse.did, "dispenses": existing("MedicationDispense/anchored", nil)["dispenses"]}, cc.Unauthorized, "not a pharmacist"},
		{"a pharmacist of another pharmacy", e, anode, obj{"org": "pharm-a", "pharmacist": pharmB.did, "dispenses": existing("MedicationDispense/anchored", nil)["dispenses"]}, cc.Unauthorized, "not a pharmacist"},
		{"a suspended pharmacy", e, shady, dispense("gone-pharm", shady, id, 1000), cc.Unauthorized, "not a pharmacist"},
		{"signed by another pharmacist", e, pharmB, existing("MedicationDispense/anchored", nil), cc.Unauthorized, "only the pharmacist"},
		{"signed by the hospital's node", e, hnode, existing("MedicationDispense/anchored", nil), cc.Unauthorized, "only the pharmacist"},
		{"a record of another pharmacy", e, anode, existing("MedicationDispense/at-b", nil), cc.Unauthorized, "held by pharm-b"},
		{"no such record", e, anode, existing("MedicationDispense/none", nil), cc.NotFound, "no record"},
		{"no such prescription", e, anode, with(dispense("pharm-a", pharmA, id, 1000), obj{"prescription": "MedicationRequest/none"}), cc.NotFound, "no prescription"},
		{"a record that dispensed already", e, anode, existing(used, nil), cc.Conflict, "already dispensed"},
		{"cancelled", e, anode, dispense("pharm-a", pharmA, cancelled, 1000), cc.FailedPrecondition, "is cancelled"},
		{"completed", e, anode, dispense("pharm-a", pharmA, completed, 1000), cc.FailedPrecondition, "is completed"},
		{"expired", later, anode, dispense("pharm-a", pharmA, expiring, 1000), cc.FailedPrecondition, "expired on 2026-03-01"},
		{"over one fill", e, anode, dispense("pharm-a", pharmA, id, 30001), cc.FailedPrecondition, "more than the 30 TAB of one fill"},
		{"more than remains", e, anode, dispense("pharm-a", pharmA, partial, 5001), cc.FailedPrecondition, "only 5 TAB remain"},
		{"more than remains within the tx", e, anode, dispense("pharm-a", pharmA, id, 30000, 29001), cc.FailedPrecondition, "dispenses[1]: only 29 TAB remain"},
		{"the second of a tx sees the first", e, anode, dispense("pharm-a", pharmA, partial, 3000, 2500), cc.FailedPrecondition, "dispenses[1]: only 2 TAB remain"},
		{"a delegate the prescription does not allow", e, anode, with(dispense("pharm-a", pharmA, noDelegates, 1000), obj{"collected_by": carer.did}), cc.Unauthorized, "does not allow"},
		{"a delegate without the scope", e, anode, with(dispense("pharm-a", pharmA, delegates, 1000), obj{"collected_by": reader.did}), cc.Unauthorized, "rx.collect"},
		{"a stranger collects", e, anode, with(dispense("pharm-a", pharmA, delegates, 1000), obj{"collected_by": stranger.did}), cc.Unauthorized, "rx.collect"},
		{"a malformed collector", e, anode, with(dispense("pharm-a", pharmA, delegates, 1000), obj{"collected_by": "carer"}), cc.Invalid, "collected_by"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRejected(t, tt.e, tt.signer, TypeDispense, tt.payload, tt.kind, tt.msg)
		})
	}

	// What is allowed: the patient and an allowed delegate collect, the
	// last day of validity dispenses, a dispense anchored before is used.
	e.mustRun(t, anode, TypeDispense, with(dispense("pharm-a", pharmA, delegates, 1000), obj{"collected_by": carer.did}))
	e.mustRun(t, anode, TypeDispense, with(dispense("pharm-a", pharmA, delegates, 1000), obj{"collected_by": pat.did}))
	e.mustRun(t, anode, TypeDispense, dispense("pharm-a", pharmA, expiring, 1000))
	e.mustRun(t, anode, TypeDispense, existing("MedicationDispense/anchored", nil))
	if pid, err := DispenseOf(e.kv, "MedicationDispense/anchored"); pid != id || err != nil {
		t.Errorf("DispenseOf = %q, %v", pid, err)
	}
}

// TestDispenseAcrossPharmacies: two pharmacies share one prescription's
// quantity; the one that comes second for the last repeat is refused with
// what remains, and a completed prescription takes no more.
func TestDispenseAcrossPharmacies(t *testing.T) {
	e := newEnv(t)
	id := e.mustIssue(t, "mr-1", obj{"repeats": 2}) // 90 TAB in 3 fills
	res := e.mustRun(t, pharmA, TypeDispense, dispense("pharm-a", pharmA, id, 30000))
	if got := cctest.DecodeData[DispenseResult](t, res); len(got.Dispenses) != 1 || got.Dispenses[0].RemainingMilli != 60000 || got.Dispenses[0].Fill != 0 {
		t.Errorf("first dispense %+v", got)
	}
	e.mustRun(t, pharmB, TypeDispense, dispense("pharm-b", pharmB, id, 30000))

	// The last repeat: both pharmacies saw 30 TAB left; A's commits first.
	base := e.fork()
	e.mustRun(t, anode, TypeDispense, dispense("pharm-a", pharmA, id, 30000))
	_, err := e.run(t, pharmB, TypeDispense, dispense("pharm-b", pharmB, id, 30000))
	cctest.WantKind(t, err, cc.FailedPrecondition)
	if err == nil || !strings.Contains(err.Error(), "is completed: all 90 TAB were dispensed") {
		t.Errorf("second pharmacy: %v", err)
	}
	// Had B come for 20 while A took 20 of the last 30, B would learn how
	// much remains.
	base.mustRun(t, anode, TypeDispense, dispense("pharm-a", pharmA, id, 20000))
	_, err = base.run(t, pharmB, TypeDispense, dispense("pharm-b", pharmB, id, 20000))
	cctest.WantKind(t, err, cc.FailedPrecondition)
	if err == nil || !strings.Contains(err.Error(), "only 10 TAB remain") {
		t.Errorf("second pharmacy (fills): %v", err)
	}

	p := e.prescription(t, id)
	if p.Status != StatusCompleted || p.DispensedMilli != p.TotalMilli() || p.Fills != 3 || p.CompletedAt == 0 {
		t.Errorf("prescription %+v", p)
	}
	ds, err := Dispenses(e.kv, id)
	if err != nil || len(ds) != 3 {
		t.Fatalf("Dispenses: %v %+v", err, ds)
	}
	var orgs []string
	var total int64
	for i, d := range ds {
		if d.Fill != i {
			t.Errorf("dispense %d has fill %d", i, d.Fill)
		}
		orgs = append(orgs, d.Org)
		total += d.QuantityMilli
	}
	if total != 90000 || orgs[0] != "pharm-a" || orgs[1] != "pharm-b" || orgs[2] != "pharm-a" || ds[2].Signer != anode.did || ds[2].Pharmacist != pharmA.did {
		t.Errorf("dispenses %+v", ds)
	}
}

// TestCancelAndCollection checks rx.cancel and rx.collection.
func TestCancelAndCollection(t *testing.T) {
	e := newEnv(t)
	id := e.mustIssue(t, "mr-1", nil)
	done := e.mustIssue(t, "mr-done", obj{"repeats": 0})
	e.mustRun(t, pharmA, TypeDispense, dispense("pharm-a", pharmA, done, 30000))
	tests := []struct {
		name    string
		signer  *actor
		typ     string
		payload any
		kind    cc.Kind
		msg     string
	}{
		{"cancel: unknown field", doc, TypeCancel, obj{"prescription": id, "reason": "clarif", "x": 1}, cc.Malformed, "x"},
		{"cancel: free-text reason", doc, TypeCancel, obj{"prescription": id, "reason": "patient has HIV"}, cc.Invalid, "reason"},
		{"cancel: no reason", doc, TypeCancel, obj{"prescription": id}, cc.Invalid, "reason"},
		{"cancel: unknown prescription", doc, TypeCancel, obj{"prescription": "MedicationRequest/none", "reason": "clarif"}, cc.NotFound, "no prescription"},
		{"cancel: a nurse", nurse, TypeCancel, obj{"prescription": id, "reason": "clarif"}, cc.Unauthorized, "only its prescriber"},
		{"cancel: the patient", pat, TypeCancel, obj{"prescription": id, "reason": "clarif"}, cc.Unauthorized, "only its prescriber"},
		{"cancel: a pharmacy's node", anode, TypeCancel, obj{"prescription": id, "reason": "clarif"}, cc.Unauthorized, "only its prescriber"},
		{"cancel: completed", doc, TypeCancel, obj{"prescription": done, "reason": "clarif"}, cc.Conflict, "is completed"},
		{"collection: no allow", pat, TypeCollection, obj{"prescription": id}, cc.Invalid, "allow"},
		{"collection: a string", pat, TypeCollection, obj{"prescription": id, "allow": "yes"}, cc.Malformed, "allow"},
		{"collection: the delegate", carer, TypeCollection, obj{"prescription": id, "allow": true}, cc.Unauthorized, "only the patient"},
		{"collection: the prescriber", doc, TypeCollection, obj{"prescription": id, "allow": true}, cc.Unauthorized, "only the patient"},
		{"collection: completed", pat, TypeCollection, obj{"prescription": done, "allow": true}, cc.Conflict, "is completed"},
		{"collection: unknown", pat, TypeCollection, obj{"prescription": "MedicationRequest/none", "allow": true}, cc.NotFound, "no prescription"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRejected(t, e, tt.signer, tt.typ, tt.payload, tt.kind, tt.msg)
		})
	}

	// The patient allows a delegate, who then collects.
	e.mustRun(t, pat, TypeCollection, obj{"prescription": id, "allow": true})
	if !e.prescription(t, id).DelegateMayCollect {
		t.Fatal("collection not allowed")
	}
	e.mustRun(t, anode, TypeDispense, func() obj {
		p := dispense("pharm-a", pharmA, id, 10000)
		p["dispenses"].([]obj)[0]["collected_by"] = carer.did
		return p
	}())
	// The patient withdraws it.
	e.mustRun(t, pat, TypeCollection, obj{"prescription": id, "allow": false})
	p := dispense("pharm-a", pharmA, id, 10000)
	p["dispenses"].([]obj)[0]["collected_by"] = carer.did
	wantRejected(t, e, anode, TypeDispense, p, cc.Unauthorized, "does not allow")

	// The hospital's node cancels; nothing more is dispensed, and a second
	// cancel conflicts.
	e.mustRun(t, hnode, TypeCancel, obj{"prescription": id, "reason": "drughigh"})
	got := e.prescription(t, id)
	if got.Status != StatusCancelled || got.CancelledBy != hnode.did || got.CancelReason != "drughigh" || got.CancelledAt != e.height {
		t.Errorf("cancelled %+v", got)
	}
	wantRejected(t, e, doc, TypeCancel, obj{"prescription": id, "reason": "clarif"}, cc.Conflict, "is cancelled")
	wantRejected(t, e, anode, TypeDispense, dispense("pharm-a", pharmA, id, 1000), cc.FailedPrecondition, "is cancelled")
}

// TestDeterministic runs issue and dispense twice on the same state.
func TestDeterministic(t *testing.T) {
	e := newEnv(t)
	id := "MedicationRequest/twice"
	e.next()
	raw, _ := json.Marshal(obj{"org": "st-marys", "anchors": []obj{anchor(id, pat, "st-marys", doc)}, "prescriptions": []obj{rxItem(id, nil)}})
	kv := cctest.RunTwiceStrict(t, "rx.issue", Handlers()[TypeIssue], e.ctx(hnode.did, TypeIssue), e.kv, raw)
	kv.Flush(e.kv)
	e.next()
	raw, _ = json.Marshal(dispense("pharm-a", pharmA, id, 30000, 30000))
	cctest.RunTwiceStrict(t, "rx.dispense", Handlers()[TypeDispense], e.ctx(anode.did, TypeDispense), e.kv, raw)
}

func TestFormatMilli(t *testing.T) {
	for m, want := range map[int64]string{0: "0", 30000: "30", 2500: "2.5", 1: "0.001", 1230: "1.23", -1500: "-1.5"} {
		if got := FormatMilli(m); got != want {
			t.Errorf("FormatMilli(%d) = %q, want %q", m, got, want)
		}
	}
}

package rx

import (
	"encoding/json"
	"strings"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
	"carechain/supply"
)

// shot is the anchor and the supply.administer entry of a new
// Immunization/{name} of pat held by org, authored by author.
func shot(name, org string, author *actor) (obj, obj) {
	id := "Immunization/" + name
	return anchor(id, pat, org, author), obj{"record_id": id, "vaccine": supply.CVXSystem + "|208", "year": 2026}
}

// TestBundle: rx.bundle records immunizations with a prescription or a
// dispense in one transaction, all or nothing.
func TestBundle(t *testing.T) {
	e := newEnv(t)
	id := e.mustIssue(t, "mr-bundle", nil)

	a1, d1 := shot("b1", "st-marys", doc)
	mr := "MedicationRequest/mr-with-shot"
	issue := obj{"org": "st-marys", "anchors": []obj{a1, anchor(mr, pat, "st-marys", doc)}, "administrations": []obj{d1},
		"prescriptions": []obj{rxItem(mr, nil)}}
	res := e.mustRun(t, hnode, TypeBundle, issue)
	var got BundleResult
	if err := json.Unmarshal(res.Data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Administer.Count != 1 || got.Administer.Unlinked != 1 || got.Issue == nil || len(got.Issue.Issued) != 1 || got.Issue.Issued[0] != mr || got.Dispense != nil {
		t.Errorf("result %+v", got)
	}
	if p := e.prescription(t, mr); p.Status != StatusActive || p.Prescriber != doc.did {
		t.Errorf("prescription %+v", p)
	}
	if adm, _ := supply.AdministrationsAt(e.kv, e.height); len(adm) != 1 || adm[0].RecordID != "Immunization/b1" {
		t.Errorf("administrations %+v", adm)
	}

	// A pharmacy vaccinates and dispenses.
	dispenseWith := func(name string, quantity int64) obj {
		a, d := shot(name, "pharm-a", pharmA)
		p := dispense("pharm-a", pharmA, id, quantity)
		p["anchors"] = append(p["anchors"].([]obj), a)
		p["administrations"] = []obj{d}
		return p
	}
	res = e.mustRun(t, anode, TypeBundle, dispenseWith("b2", 10000))
	got = BundleResult{}
	if err := json.Unmarshal(res.Data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Dispense == nil || len(got.Dispense.Dispenses) != 1 || got.Dispense.Dispenses[0].RemainingMilli != 50000 || got.Issue != nil {
		t.Errorf("result %+v", got)
	}
	if p := e.prescription(t, id); p.DispensedMilli != 10000 || p.Fills != 1 {
		t.Errorf("prescription after the bundle %+v", p)
	}

	both := dispenseWith("b3", 1000)
	both["prescriptions"] = []obj{rxItem("MedicationRequest/mr-x", nil)}
	noRx := dispenseWith("b4", 1000)
	delete(noRx, "dispenses")
	noShot := dispense("pharm-a", pharmA, id, 1000)
	tests := []struct {
		name    string
		signer  *actor
		payload obj
		kind    cc.Kind
		text    string
	}{
		{"no administrations", anode, noShot, cc.Invalid, "administrations must not be empty"},
		{"both prescriptions and dispenses", anode, both, cc.Invalid, "cannot issue and dispense"},
		{"neither prescriptions nor dispenses", anode, noRx, cc.Invalid, "prescriptions or dispenses"},
		// supply.administer succeeds and writes, then rx refuses: nothing stays.
		{"more than one fill", anode, dispenseWith("b5", 31000), cc.FailedPrecondition, "more than the 30 TAB of one fill"},
		{"a stranger signs", stranger, dispenseWith("b6", 1000), cc.Unauthorized, ""},
		{"a delegate without the patient's leave", anode, func() obj {
			p := dispenseWith("b7", 1000)
			p["dispenses"].([]obj)[0]["collected_by"] = carer.did
			return p
		}(), cc.Unauthorized, "does not allow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRejected(t, e, tt.signer, TypeBundle, tt.payload, tt.kind, tt.text)
		})
	}
}

// TestBuffer: reads through the buffer see its writes over the parent, in
// key order; the parent sees them only after flush.
func TestBuffer(t *testing.T) {
	parent := cctest.NewKV()
	for _, k := range []string{"p/a", "p/c", "p/e", "q/x"} {
		parent.Set(k, []byte("old "+k))
	}
	b := newBuffer(parent)
	b.Set("p/b", []byte("new p/b"))
	b.Set("p/c", []byte("new p/c"))
	b.Delete("p/e")
	b.Set("p/f", []byte("new p/f"))
	b.Delete("p/f")
	list := func(kv cc.Reader) string {
		var out []string
		if err := kv.Iterate("p/", func(k string, v []byte) bool {
			out = append(out, k+"="+string(v))
			return true
		}); err != nil {
			t.Fatal(err)
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		name string
		kv   cc.Reader
		want string
	}{
		{"buffer", b, "p/a=old p/a,p/b=new p/b,p/c=new p/c"},
		{"parent before flush", parent, "p/a=old p/a,p/c=old p/c,p/e=old p/e"},
	}
	for _, tt := range tests {
		if got := list(tt.kv); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	if v, _ := b.Get("p/e"); v != nil {
		t.Errorf("a deleted key reads %q", v)
	}
	b.flush()
	if got, want := list(parent), "p/a=old p/a,p/b=new p/b,p/c=new p/c"; got != want {
		t.Errorf("parent after flush: %s, want %s", got, want)
	}
}

package consent

import (
	"slices"
	"testing"
	"time"

	cc "carechain"
	"carechain/internal/cctest"
)

// putBreakGlass writes a break-glass window as package access does.
func putBreakGlass(t testing.TB, kv cc.KV, w cc.BreakGlass) {
	t.Helper()
	if err := cc.SetJSON(kv, breakGlassPrefix(w.Patient, w.Clinician)+w.ID, w); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	e := newEnv(t)
	c1 := e.mustGrant(t, pat, pat, gpPermit)
	c2 := e.mustGrant(t, pat, pat, obj{"type": "deny", "purposes": []string{"HMARKT"}})
	e.mustApply(t, pat, TypeRevoke, obj{"id": c2})
	e.mustGrant(t, pat2, pat2, gpPermit)
	propose := func(signer *actor, provider, recipient string) string {
		return dataID(t, e.mustApply(t, signer, TypeAgreementPropose, obj{"provider": provider, "recipient": recipient,
			"resource_types": []string{"Immunization"}, "purposes": []string{"PUBHLTH"}, "opt_out": true}))
	}
	toPHA := propose(hadmin, "st-marys", "pha")
	e.mustApply(t, padmin, TypeAgreementSign, obj{"id": toPHA})
	fromPHA := propose(hadmin, "pha", "st-marys")
	e.mustApply(t, padmin, TypeAgreementSign, obj{"id": fromPHA})
	propose(hadmin, "st-marys", "uni") // never signed
	toUni := propose(uadmin, "city-clinic", "uni")
	e.mustApply(t, cadmin, TypeAgreementSign, obj{"id": toUni})
	e.mustApply(t, uadmin, TypeAgreementTerminate, obj{"id": toUni})
	w := window("bg-1", genTime, genTime.Add(time.Hour))
	putBreakGlass(t, e.kv, w)
	other := w
	other.ID, other.Clinician = "bg-2", gp.did
	putBreakGlass(t, e.kv, other)

	ids := func(f Facts) (cs, as, ws, ds []string) {
		for _, c := range f.Consents {
			cs = append(cs, c.ID)
		}
		for _, a := range f.Agreements {
			as = append(as, a.ID)
		}
		for _, w := range f.BreakGlass {
			ws = append(ws, w.ID)
		}
		for _, d := range f.Delegations {
			ds = append(ds, string(d.Delegate))
		}
		return
	}
	consents := []string{c1, c2}
	slices.Sort(consents)
	cases := []struct {
		name             string
		req              cc.AccessRequest
		cs, as, ws, dlgs []string
	}{
		{"emergency clinician", ask(erdoc, erOrgs, "ETREAT", lab), consents, nil, []string{"bg-1"}, nil},
		{"officer of pha and admin of uni", ask(officer, []cc.Member{member("uni", cc.RoleAdmin), member("pha", cc.RolePublicHealthOffice)}, "PUBHLTH", imm), consents, []string{toPHA}, nil, nil},
		{"st-marys and pha member", ask(doc, []cc.Member{member("st-marys", cc.RolePhysician), member("pha", cc.RoleAdmin)}, "TREAT", lab), consents, []string{toPHA, fromPHA}, nil, nil},
		{"delegate", ask(helper, nil, "PATRQT", lab), consents, nil, nil, []string{string(helper.did)}},
		{"record without patient", ask(helper, nil, "PATRQT", with(lab, func(r *cc.RecordAnchor) { r.Patient = "" })), nil, nil, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Load(e.kv, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if f.Consents == nil || f.Agreements == nil || f.BreakGlass == nil || f.Delegations == nil {
				t.Errorf("Load returned a nil list: %+v", f)
			}
			cs, as, ws, ds := ids(f)
			if !slices.Equal(cs, tc.cs) || !slices.Equal(as, tc.as) || !slices.Equal(ws, tc.ws) || !slices.Equal(ds, tc.dlgs) {
				t.Errorf("Load = consents %v agreements %v windows %v delegates %v\nwant %v %v %v %v", cs, as, ws, ds, tc.cs, tc.as, tc.ws, tc.dlgs)
			}
		})
	}
	if got := e.decide(t, erdoc, erOrgs, "ETREAT", lab); !sameDecision(got, allow(cc.BasisBreakGlass, "bg-1")) {
		t.Errorf("erdoc in the window: %+v", got)
	}
	if got := e.decide(t, helper, nil, "PATRQT", lab); !sameDecision(got, allow(cc.BasisDelegate, "")) {
		t.Errorf("helper: %+v", got)
	}
}

func TestLoadReportsCorruptState(t *testing.T) {
	e := newEnv(t)
	e.kv.Set(breakGlassPrefix(pat.did, erdoc.did)+"bg-x", []byte("{"))
	_, err := Load(e.kv, ask(erdoc, erOrgs, "ETREAT", lab))
	cctest.WantKind(t, err, cc.Internal)
	e = newEnv(t)
	e.kv.Set(patientKey(pat.did, "cons-"+"00000000000000000000000000000000"), []byte(`"cons-00000000000000000000000000000000"`))
	_, err = Load(e.kv, ask(gp, gpOrgs, "TREAT", lab))
	cctest.WantKind(t, err, cc.Internal)
}

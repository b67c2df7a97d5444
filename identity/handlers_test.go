package identity

import (
	"errors"
	"slices"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

func TestHandlersListsEveryType(t *testing.T) {
	want := []string{
		"did.create", "did.delegate.grant", "did.delegate.revoke", "did.guardians.set",
		"did.recovery.approve", "did.recovery.cancel", "did.recovery.execute", "did.rotate",
		"gov.approve", "gov.propose", "org.member.add", "org.member.remove",
		"patient.attest", "patient.claim", "patient.custodial.create", "patient.link", "patient.register",
	}
	var got []string
	for typ, h := range Handlers() {
		if h == nil {
			t.Errorf("%s: nil handler", typ)
		}
		got = append(got, typ)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("types = %v\nwant    %v", got, want)
	}
	// Every handler rejects an empty payload object without writing.
	e := newEnv(t, 2)
	for _, typ := range want {
		if _, err := e.apply(t, gov1.did, typ, []byte(`{}`)); err == nil {
			t.Errorf("%s accepted {}", typ)
		}
	}
}

func TestNestedParamsAreStrict(t *testing.T) {
	e := newEnv(t, 1)
	for _, params := range []string{
		`{"id":"city-lab","ID":"st-marys"}`,
		`{"id":"city-lab","id":"st-marys"}`,
		`{"id":"city-lab","reason":"x"}`,
		`null`,
		`[]`,
	} {
		payload := []byte(`{"action":"org.suspend","params":` + params + `}`)
		_, err := e.apply(t, gov1.did, TypeGovPropose, payload)
		cctest.WantKind(t, err, cc.Malformed)
	}
	if o, _ := GetOrg(e.kv, "city-lab"); !o.Active {
		t.Error("a rejected proposal suspended city-lab")
	}
}

func TestReadFailuresAreInternal(t *testing.T) {
	kv := cctest.NewFailingKV()
	for i, payload := range fuzzSeeds() {
		for typ, h := range Handlers() {
			ctx := cc.TxContext{ChainID: testChain, Height: 5, Time: genTime, Signer: gov1.did, Type: typ}
			_, err := h(ctx, kv, []byte(payload))
			if err == nil || (cc.KindOf(err) != cc.Internal && cc.KindOf(err) != cc.Invalid && cc.KindOf(err) != cc.Malformed) {
				t.Errorf("seed %d, %s: got %v", i, typ, err)
			}
			if cc.KindOf(err) == cc.Internal && !errors.Is(err, cctest.ErrDisk) {
				t.Errorf("seed %d, %s: internal error %v does not wrap the I/O error", i, typ, err)
			}
		}
	}
	if len(cctest.Keys(kv.Overlay, "")) != 0 {
		t.Errorf("handlers wrote after failed reads: %v", cctest.Keys(kv.Overlay, ""))
	}
	reads := map[string]func() error{
		"GetDID":        func() error { _, err := GetDID(kv, gov1.did); return err },
		"GetOrg":        func() error { _, err := GetOrg(kv, "st-marys"); return err },
		"ListOrgs":      func() error { _, err := ListOrgs(kv); return err },
		"ListMembers":   func() error { _, err := ListMembers(kv, "st-marys"); return err },
		"MembershipsOf": func() error { _, err := MembershipsOf(kv, gov1.did); return err },
		"HasRole":       func() error { _, err := HasRole(kv, "st-marys", gov1.did, cc.RoleAdmin); return err },
		"GetPatient":    func() error { _, err := GetPatient(kv, gov1.did); return err },
		"GetLink":       func() error { _, err := GetLink(kv, gov1.did, "st-marys"); return err },
		"LinksOf":       func() error { _, err := LinksOf(kv, gov1.did); return err },
		"IsLinked":      func() error { _, err := IsLinked(kv, gov1.did, "st-marys"); return err },
		"GetGovernance": func() error { _, err := GetGovernance(kv); return err },
		"ListProposals": func() error { _, err := ListProposals(kv); return err },
		"GetRecovery":   func() error { _, err := GetRecovery(kv, gov1.did); return err },
		"Delegations":   func() error { _, err := ListDelegations(kv, gov1.did); return err },
		"Active": func() error {
			_, err := ActiveDelegation(kv, gov1.did, gov2.did, "x", genTime)
			return err
		},
		"SignerKey": func() error { _, err := SignerKey(kv, gov1.did, TypeDIDRotate, nil); return err },
		"Genesis":   func() error { return InitGenesis(kv, testGenesis(2)) },
	}
	for name, read := range reads {
		if err := read(); cc.KindOf(err) != cc.Internal {
			t.Errorf("%s: got %v, want an Internal error", name, err)
		}
	}
}

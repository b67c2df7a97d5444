package identity

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
	"carechain/ledger/tx"
)

// admitParams are valid org.admit params for id with admin a.
func admitParams(id string, a *actor) obj {
	return obj{"id": id, "name": "Riverside Clinic", "type": "clinic", "admin": a.did}
}

func TestGovernanceTwoOfThreeAdmitsOrg(t *testing.T) {
	e := newEnv(t, 2)
	rc := newActor("riverside-admin")
	e.mustCreate(t, rc, cc.KindPractitioner)

	res := e.mustSubmit(t, gov1, TypeGovPropose, obj{"action": "org.admit", "params": admitParams("riverside", rc)})
	if got := cctest.DecodeData[proposalResult](t, res); got != (proposalResult{Proposal: 1, Action: "org.admit", Status: cc.ProposalOpen, Approvals: 1, Threshold: 2}) {
		t.Errorf("propose data = %+v", got)
	}
	if _, err := GetOrg(e.kv, "riverside"); !cc.Is(cc.NotFound, err) {
		t.Fatalf("org exists before approval: %v", err)
	}
	p, err := GetProposal(e.kv, 1)
	if err != nil {
		t.Fatal(err)
	}
	wantParams := `{"admin":"` + string(rc.did) + `","did":"` + string(rc.did) + `","id":"riverside","name":"Riverside Clinic","type":"clinic"}`
	if string(p.Params) != wantParams || p.Proposer != gov1.did || !slices.Equal(p.Approvals, []cc.DID{gov1.did}) {
		t.Errorf("proposal = %+v\nparams %s\nwant   %s", p, p.Params, wantParams)
	}

	_, err = e.submit(t, gov1, TypeGovApprove, obj{"proposal": 1})
	cctest.WantKind(t, err, cc.Conflict)
	_, err = e.submit(t, doc, TypeGovApprove, obj{"proposal": 1})
	cctest.WantKind(t, err, cc.Unauthorized)

	e.height = 12
	res = e.mustSubmit(t, gov3, TypeGovApprove, obj{"proposal": 1})
	if got, want := eventTypes(res), []string{"gov.approve", "org.admit", "gov.execute"}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	if got := cctest.DecodeData[proposalResult](t, res); got.Status != cc.ProposalExecuted || got.Approvals != 2 {
		t.Errorf("approve data = %+v", got)
	}
	o, err := GetOrg(e.kv, "riverside")
	if err != nil {
		t.Fatal(err)
	}
	if *o != (cc.Organization{ID: "riverside", Name: "Riverside Clinic", Type: cc.OrgClinic, DID: rc.did, Admitted: 12, Active: true}) {
		t.Errorf("org = %+v", o)
	}
	if ok, _ := HasRole(e.kv, "riverside", rc.did, cc.RoleAdmin); !ok {
		t.Error("admin is not an admin member")
	}
	p, _ = GetProposal(e.kv, 1)
	if p.Status != cc.ProposalExecuted || p.Executed != 12 {
		t.Errorf("proposal after execution = %+v", p)
	}
	_, err = e.submit(t, gov2, TypeGovApprove, obj{"proposal": 1})
	cctest.WantKind(t, err, cc.FailedPrecondition)
	_, err = e.submit(t, gov2, TypeGovApprove, obj{"proposal": 2})
	cctest.WantKind(t, err, cc.NotFound)
	_, err = e.submit(t, gov2, TypeGovApprove, obj{"proposal": 0})
	cctest.WantKind(t, err, cc.NotFound)
	_, err = e.submit(t, gov2, TypeGovApprove, obj{"proposal": -1})
	cctest.WantKind(t, err, cc.Malformed)
}

func TestGovProposeRejections(t *testing.T) {
	e := newEnv(t, 2)
	tests := []struct {
		name    string
		signer  *actor
		payload any
		want    cc.Kind
	}{
		{"not a member", doc, obj{"action": "org.admit", "params": admitParams("new-org", doc)}, cc.Unauthorized},
		{"unknown signer", nobody, obj{"action": "org.suspend", "params": obj{"id": "st-marys"}}, cc.UnknownSigner},
		{"unknown action", gov1, obj{"action": "chain.halt", "params": obj{}}, cc.Invalid},
		{"missing params", gov1, obj{"action": "org.suspend"}, cc.Malformed},
		{"params unknown field", gov1, obj{"action": "org.suspend", "params": obj{"id": "st-marys", "why": "x"}}, cc.Malformed},
		{"admit: bad slug", gov1, obj{"action": "org.admit", "params": admitParams("Bad_Slug", doc)}, cc.Invalid},
		{"admit: slug too short", gov1, obj{"action": "org.admit", "params": admitParams("a", doc)}, cc.Invalid},
		{"admit: bad type", gov1, obj{"action": "org.admit", "params": obj{"id": "x-org", "name": "X", "type": "casino", "admin": doc.did}}, cc.Invalid},
		{"admit: empty name", gov1, obj{"action": "org.admit", "params": obj{"id": "x-org", "name": "", "type": "clinic", "admin": doc.did}}, cc.Invalid},
		{"admit: name with newline", gov1, obj{"action": "org.admit", "params": obj{"id": "x-org", "name": "X\nY", "type": "clinic", "admin": doc.did}}, cc.Invalid},
		{"admit: admin not a DID", gov1, obj{"action": "org.admit", "params": obj{"id": "x-org", "name": "X", "type": "clinic", "admin": "doc"}}, cc.Invalid},
		{"admit: admin not on ledger", gov1, obj{"action": "org.admit", "params": admitParams("x-org", nobody)}, cc.NotFound},
		{"admit: org did not on ledger", gov1, obj{"action": "org.admit", "params": obj{"id": "x-org", "name": "X", "type": "clinic", "admin": doc.did, "did": nobody.did}}, cc.NotFound},
		{"admit: id taken", gov1, obj{"action": "org.admit", "params": admitParams("st-marys", doc)}, cc.Conflict},
		{"suspend: unknown org", gov1, obj{"action": "org.suspend", "params": obj{"id": "nowhere"}}, cc.NotFound},
		{"reinstate: active org", gov1, obj{"action": "org.reinstate", "params": obj{"id": "st-marys"}}, cc.Conflict},
		{"validator: bad key", gov1, obj{"action": "validator.update", "params": obj{"pub_key": "xyz", "power": 1}}, cc.Invalid},
		{"validator: power too high", gov1, obj{"action": "validator.update", "params": obj{"pub_key": doc.key(), "power": MaxValidatorPower + 1}}, cc.Invalid},
		{"validator: negative power", gov1, obj{"action": "validator.update", "params": obj{"pub_key": doc.key(), "power": -1}}, cc.Invalid},
		{"validator: power not integer", gov1, obj{"action": "validator.update", "params": obj{"pub_key": doc.key(), "power": "10"}}, cc.Malformed},
		{"gov.update: threshold above members", gov1, obj{"action": "gov.update", "params": obj{"members": []cc.DID{gov1.did}, "threshold": 2}}, cc.Invalid},
		{"gov.update: no members", gov1, obj{"action": "gov.update", "params": obj{"members": []cc.DID{}, "threshold": 0}}, cc.Invalid},
		{"gov.update: duplicate member", gov1, obj{"action": "gov.update", "params": obj{"members": []cc.DID{gov1.did, gov1.did}, "threshold": 1}}, cc.Invalid},
		{"gov.update: member not on ledger", gov1, obj{"action": "gov.update", "params": obj{"members": []cc.DID{gov1.did, nobody.did}, "threshold": 1}}, cc.NotFound},
		{"approve: not an integer", gov1, json.RawMessage(`{"action":"org.suspend","params":{"id":"st-marys"},"x":1}`), cc.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.submit(t, tt.signer, TypeGovPropose, tt.payload)
			cctest.WantKind(t, err, tt.want)
		})
	}
	if ps, _ := ListProposals(e.kv); len(ps) != 0 {
		t.Errorf("rejected proposals were stored: %+v", ps)
	}
}

func TestGovernanceWithoutGovernanceState(t *testing.T) {
	e := &env{kv: cctest.NewKV(), height: 1, time: genTime}
	e.mustCreate(t, gov1, cc.KindNode)
	_, err := e.submit(t, gov1, TypeGovPropose, obj{"action": "org.suspend", "params": obj{"id": "st-marys"}})
	cctest.WantKind(t, err, cc.Unauthorized)
	if _, err := GetGovernance(e.kv); !cc.Is(cc.NotFound, err) {
		t.Errorf("GetGovernance = %v, want NotFound", err)
	}
}

func TestValidatorUpdate(t *testing.T) {
	e := newEnv(t, 1)
	v1, _ := testKey("validator-1")
	v2, _ := testKey("validator-2")
	if err := RecordValidators(e.kv, []cc.ValidatorUpdate{{PubKey: v1, Power: 10}}); err != nil {
		t.Fatal(err)
	}
	propose := func(key []byte, power int64) (cc.Result, error) {
		return e.submit(t, gov1, TypeGovPropose, obj{"action": "validator.update", "params": obj{"pub_key": tx.EncodeKey(key), "power": power}})
	}

	_, err := propose(v1, 0)
	cctest.WantKind(t, err, cc.FailedPrecondition) // the last validator
	_, err = propose(v2, 0)
	cctest.WantKind(t, err, cc.FailedPrecondition) // not a validator

	res, err := propose(v2, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Validators) != 1 || !bytes.Equal(res.Validators[0].PubKey, v2) || res.Validators[0].Power != 7 {
		t.Errorf("validators = %+v", res.Validators)
	}
	if got, want := eventTypes(res), []string{"gov.propose", "validator.update", "gov.execute"}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	if got := cctest.Attr(res, "validator.update", "power"); got != "7" {
		t.Errorf("event power = %q", got)
	}
	res, err = propose(v1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Validators) != 1 || !bytes.Equal(res.Validators[0].PubKey, v1) || res.Validators[0].Power != 0 {
		t.Errorf("removal validators = %+v", res.Validators)
	}
	vals, err := ListValidators(e.kv)
	if err != nil || len(vals) != 1 || !bytes.Equal(vals[0].PubKey, v2) || vals[0].Power != 7 {
		t.Errorf("ListValidators = %+v, %v", vals, err)
	}
	if d := cctest.DecodeData[proposalResult](t, res); d.Proposal != 2 || d.Status != cc.ProposalExecuted {
		t.Errorf("data = %+v", d)
	}

	// With 2 of 3 the update rides on the approving transaction.
	e2 := newEnv(t, 2)
	res = e2.mustSubmit(t, gov2, TypeGovPropose, obj{"action": "validator.update", "params": obj{"pub_key": tx.EncodeKey(v2), "power": 5}})
	if len(res.Validators) != 0 {
		t.Errorf("open proposal returned validators %+v", res.Validators)
	}
	res = e2.mustSubmit(t, gov1, TypeGovApprove, obj{"proposal": 1})
	if len(res.Validators) != 1 || res.Validators[0].Power != 5 {
		t.Errorf("approve validators = %+v", res.Validators)
	}
}

func TestRecordValidatorsRejects(t *testing.T) {
	v1, _ := testKey("validator-1")
	tests := []struct {
		name string
		vals []cc.ValidatorUpdate
	}{
		{"short key", []cc.ValidatorUpdate{{PubKey: v1[:31], Power: 1}}},
		{"zero power", []cc.ValidatorUpdate{{PubKey: v1, Power: 0}}},
		{"duplicate", []cc.ValidatorUpdate{{PubKey: v1, Power: 1}, {PubKey: v1, Power: 2}}},
	}
	for _, tt := range tests {
		kv := cctest.NewKV()
		cctest.WantKind(t, RecordValidators(kv, tt.vals), cc.Invalid)
		if len(cctest.Keys(kv, "")) != 0 {
			t.Errorf("%s: wrote %v", tt.name, cctest.Keys(kv, ""))
		}
	}
}

func TestGovUpdate(t *testing.T) {
	e := newEnv(t, 2)
	e.mustSubmit(t, gov1, TypeGovPropose, obj{"action": "org.suspend", "params": obj{"id": "city-lab"}}) // 1
	e.mustSubmit(t, gov2, TypeGovPropose, obj{"action": "gov.update", "params": obj{"members": []cc.DID{gov2.did, gov1.did}, "threshold": 2}})
	res := e.mustSubmit(t, gov3, TypeGovApprove, obj{"proposal": 2})
	if got := cctest.Attr(res, "gov.update", "threshold"); got != "2" {
		t.Errorf("gov.update event threshold = %q", got)
	}
	g, err := GetGovernance(e.kv)
	want := []cc.DID{gov1.did, gov2.did}
	slices.Sort(want)
	if err != nil || !slices.Equal(g.Members, want) || g.Threshold != 2 {
		t.Errorf("governance = %+v, %v", g, err)
	}
	_, err = e.submit(t, gov3, TypeGovApprove, obj{"proposal": 1})
	cctest.WantKind(t, err, cc.Unauthorized)
	_, err = e.submit(t, gov3, TypeGovPropose, obj{"action": "org.suspend", "params": obj{"id": "st-marys"}})
	cctest.WantKind(t, err, cc.Unauthorized)

	// gov3 approved nothing; proposal 1 has gov1's approval, gov2 completes it.
	e.mustSubmit(t, gov2, TypeGovApprove, obj{"proposal": 1})
	if o, _ := GetOrg(e.kv, "city-lab"); o == nil || o.Active {
		t.Errorf("city-lab after suspend = %+v", o)
	}
	ps, err := ListProposals(e.kv)
	if err != nil || len(ps) != 2 || ps[0].ID != 1 || ps[1].ID != 2 {
		t.Fatalf("ListProposals = %+v, %v", ps, err)
	}
}

func TestApprovalsOfRemovedMembersDoNotCount(t *testing.T) {
	e := newEnv(t, 1)
	e.mustSubmit(t, gov1, TypeGovPropose, obj{"action": "gov.update", "params": obj{"members": []cc.DID{gov1.did, gov2.did, gov3.did}, "threshold": 3}}) // 1, executes
	e.mustSubmit(t, gov3, TypeGovPropose, obj{"action": "org.suspend", "params": obj{"id": "city-lab"}})                                                 // 2
	e.mustSubmit(t, gov1, TypeGovPropose, obj{"action": "gov.update", "params": obj{"members": []cc.DID{gov1.did, gov2.did}, "threshold": 2}})           // 3
	e.mustSubmit(t, gov2, TypeGovApprove, obj{"proposal": 3})
	e.mustSubmit(t, gov3, TypeGovApprove, obj{"proposal": 3}) // executes: gov3 leaves
	// Proposal 2 holds gov3's approval, which no longer counts.
	res := e.mustSubmit(t, gov1, TypeGovApprove, obj{"proposal": 2})
	if d := cctest.DecodeData[proposalResult](t, res); d.Approvals != 1 || d.Threshold != 2 || d.Status != cc.ProposalOpen {
		t.Errorf("proposal 2 after gov1's approval = %+v", d)
	}
	res = e.mustSubmit(t, gov2, TypeGovApprove, obj{"proposal": 2})
	if d := cctest.DecodeData[proposalResult](t, res); d.Approvals != 2 || d.Status != cc.ProposalExecuted {
		t.Errorf("proposal 2 after gov2's approval = %+v", d)
	}
}

func TestStaleProposalFailsAndStaysOpen(t *testing.T) {
	e := newEnv(t, 2)
	a, b := newActor("admin-a"), newActor("admin-b")
	e.mustCreate(t, a, cc.KindPractitioner)
	e.mustCreate(t, b, cc.KindPractitioner)
	e.mustSubmit(t, gov1, TypeGovPropose, obj{"action": "org.admit", "params": admitParams("shared-id", a)})
	e.mustSubmit(t, gov1, TypeGovPropose, obj{"action": "org.admit", "params": admitParams("shared-id", b)})
	e.mustSubmit(t, gov2, TypeGovApprove, obj{"proposal": 1})
	_, err := e.submit(t, gov2, TypeGovApprove, obj{"proposal": 2})
	cctest.WantKind(t, err, cc.Conflict)
	p, _ := GetProposal(e.kv, 2)
	if p.Status != cc.ProposalOpen || len(p.Approvals) != 1 {
		t.Errorf("stale proposal = %+v", p)
	}
}

func TestSuspendAndReinstate(t *testing.T) {
	e := newEnv(t, 1)
	e.mustSubmit(t, gov1, TypeGovPropose, obj{"action": "org.suspend", "params": obj{"id": "st-marys"}})
	if ok, _ := HasRole(e.kv, "st-marys", hadmin.did, cc.RoleAdmin); ok {
		t.Error("HasRole is true in a suspended org")
	}
	_, err := e.submit(t, gov1, TypeGovPropose, obj{"action": "org.suspend", "params": obj{"id": "st-marys"}})
	cctest.WantKind(t, err, cc.Conflict)
	_, err = e.submit(t, hadmin, TypeOrgMemberAdd, obj{"org": "st-marys", "member": gov1.did, "roles": []string{"nurse"}})
	cctest.WantKind(t, err, cc.FailedPrecondition)
	res := e.mustSubmit(t, gov1, TypeGovPropose, obj{"action": "org.reinstate", "params": obj{"id": "st-marys"}})
	if got := cctest.Attr(res, "org.reinstate", "org"); got != "st-marys" {
		t.Errorf("reinstate event org = %q", got)
	}
	if ok, _ := HasRole(e.kv, "st-marys", hadmin.did, cc.RoleAdmin); !ok {
		t.Error("HasRole is false after reinstatement")
	}
}

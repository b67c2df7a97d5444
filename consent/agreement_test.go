package consent

import (
	"strings"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

// immPUBHLTH is a proposal that st-marys release Immunizations to pha for
// PUBHLTH unless the patient opted out.
var immPUBHLTH = obj{
	"provider": "st-marys", "recipient": "pha",
	"resource_types": []string{"Immunization", "Condition"}, "purposes": []string{"PUBHLTH"},
	"opt_out": true, "period": obj{"start": "2025-01-01T00:00:00Z"},
	"terms": obj{"ref": "https://example.org/dsa/42", "version": 1},
}

func TestAgreementLifecycle(t *testing.T) {
	e := newEnv(t)
	res := e.mustApply(t, hadmin, TypeAgreementPropose, immPUBHLTH)
	id := dataID(t, res)
	if !validID(agreementIDPrefix, id) || cctest.Attr(res, TypeAgreementPropose, "recipient") != "pha" {
		t.Fatalf("propose: id %q, events %+v", id, res.Events)
	}
	a, err := GetAgreement(e.kv, id)
	if err != nil || a.Status != cc.AgreementProposed || a.ProposedBy != hadmin.did || !a.OptOut || a.Created != e.height ||
		string(a.Terms) != `{"ref":"https://example.org/dsa/42","version":1}` {
		t.Fatalf("GetAgreement = %+v, %v", a, err)
	}
	if got := e.decide(t, officer, officerOrgs, "PUBHLTH", imm); got.Allow {
		t.Errorf("a proposed agreement allowed %+v", got)
	}

	// Only an admin of the other organization countersigns.
	for _, who := range []*actor{hadmin, hadmin2, officer, gp} {
		_, err := e.apply(t, who, TypeAgreementSign, obj{"id": id})
		cctest.WantKind(t, err, cc.Unauthorized)
	}
	e.height++
	res = e.mustApply(t, padmin, TypeAgreementSign, obj{"id": id})
	if string(res.Data) != `{"id":"`+id+`","status":"active"}` {
		t.Errorf("sign data %s", res.Data)
	}
	a, _ = GetAgreement(e.kv, id)
	if a.Status != cc.AgreementActive || a.SignedBy != padmin.did || a.Effective != e.height {
		t.Errorf("after sign: %+v", a)
	}
	_, err = e.apply(t, padmin, TypeAgreementSign, obj{"id": id})
	cctest.WantKind(t, err, cc.Conflict)

	// Data flows under it, unless the patient opts out.
	if got := e.decide(t, officer, officerOrgs, "PUBHLTH", imm); !sameDecision(got, allow(cc.BasisAgreement, id)) {
		t.Errorf("officer reading an immunization: %+v", got)
	}
	for _, tc := range []struct {
		who     *actor
		orgs    []cc.Member
		purpose string
		rec     cc.RecordAnchor
	}{
		{officer, officerOrgs, "HRESEARCH", imm},
		{officer, officerOrgs, "PUBHLTH", lab},
		{gp, gpOrgs, "PUBHLTH", imm},
	} {
		if got := e.decide(t, tc.who, tc.orgs, tc.purpose, tc.rec); got.Allow {
			t.Errorf("%s for %s of %s: %+v", tc.who.name, tc.purpose, tc.rec.Type, got)
		}
	}
	optOut := e.mustGrant(t, pat, pat, obj{"type": "deny", "actors": []obj{{"org": "pha"}}})
	if got := e.decide(t, officer, officerOrgs, "PUBHLTH", imm); got.Allow {
		t.Errorf("after the patient's opt-out: %+v", got)
	}
	e.mustApply(t, pat, TypeRevoke, obj{"id": optOut})
	if got := e.decide(t, officer, officerOrgs, "PUBHLTH", imm); !got.Allow {
		t.Errorf("after the opt-out was revoked: %+v", got)
	}

	// Either side's admin terminates it.
	_, err = e.apply(t, cadmin, TypeAgreementTerminate, obj{"id": id})
	cctest.WantKind(t, err, cc.Unauthorized)
	res = e.mustApply(t, padmin, TypeAgreementTerminate, obj{"id": id})
	a, _ = GetAgreement(e.kv, id)
	if a.Status != cc.AgreementTerminated || a.Terminated != e.height || cctest.Attr(res, TypeAgreementTerminate, "by") != string(padmin.did) {
		t.Errorf("after terminate: %+v", a)
	}
	if got := e.decide(t, officer, officerOrgs, "PUBHLTH", imm); got.Allow {
		t.Errorf("after termination: %+v", got)
	}
	if keys := cctest.Keys(e.kv, prefixRecipient); len(keys) != 0 {
		t.Errorf("recipient index after termination: %v", keys)
	}
	_, err = e.apply(t, hadmin, TypeAgreementTerminate, obj{"id": id})
	cctest.WantKind(t, err, cc.Conflict)
	_, err = e.apply(t, padmin, TypeAgreementSign, obj{"id": id})
	cctest.WantKind(t, err, cc.Conflict)
}

func TestAgreementOptIn(t *testing.T) {
	e := newEnv(t)
	p := obj{"provider": "st-marys", "recipient": "pha", "resource_types": []string{"Immunization"},
		"purposes": []string{"PUBHLTH"}, "opt_out": false, "condition": `record.org == "st-marys"`}
	id := dataID(t, e.mustApply(t, padmin, TypeAgreementPropose, p)) // proposed by the recipient
	_, err := e.apply(t, padmin, TypeAgreementSign, obj{"id": id})
	cctest.WantKind(t, err, cc.Unauthorized)
	e.mustApply(t, hadmin2, TypeAgreementSign, obj{"id": id})
	if got := e.decide(t, officer, officerOrgs, "PUBHLTH", imm); got.Allow {
		t.Errorf("opt-in without the patient's permit: %+v", got)
	}
	e.mustGrant(t, pat, pat, obj{"type": "permit", "actors": []obj{{"org": "pha"}}, "purposes": []string{"PUBHLTH"}})
	if got := e.decide(t, officer, officerOrgs, "PUBHLTH", imm); !sameDecision(got, allow(cc.BasisAgreement, id)) {
		t.Errorf("opt-in with the patient's permit: %+v", got)
	}
	// A proposal can be withdrawn before it is signed.
	id2 := dataID(t, e.mustApply(t, hadmin, TypeAgreementPropose, p))
	e.mustApply(t, hadmin, TypeAgreementTerminate, obj{"id": id2})
	list, err := ListAgreements(e.kv)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListAgreements = %v, %v", list, err)
	}
}

func TestProposeRejections(t *testing.T) {
	e := newEnv(t)
	with := func(kvs ...any) obj {
		q := obj{}
		for k, v := range immPUBHLTH {
			q[k] = v
		}
		for i := 0; i+1 < len(kvs); i += 2 {
			if kvs[i+1] == nil {
				delete(q, kvs[i].(string))
			} else {
				q[kvs[i].(string)] = kvs[i+1]
			}
		}
		return q
	}
	cases := []struct {
		name    string
		signer  *actor
		payload any
		want    cc.Kind
	}{
		{"not an object", hadmin, []byte(`"x"`), cc.Malformed},
		{"unknown field", hadmin, with("actions", []string{"read"}), cc.Malformed},
		{"unknown period field", hadmin, with("period", obj{"from": "2025-01-01T00:00:00Z"}), cc.Malformed},
		{"opt_out not a boolean", hadmin, with("opt_out", "yes"), cc.Malformed},
		{"bad provider", hadmin, with("provider", "St Marys"), cc.Invalid},
		{"bad recipient", hadmin, with("recipient", ""), cc.Invalid},
		{"same organization", hadmin, with("recipient", "st-marys"), cc.Invalid},
		{"no resource types", hadmin, with("resource_types", []string{}), cc.Invalid},
		{"bad resource type", hadmin, with("resource_types", []string{"Immunization/1"}), cc.Invalid},
		{"bad category", hadmin, with("categories", []string{""}), cc.Invalid},
		{"no purposes", hadmin, with("purposes", nil), cc.Invalid},
		{"bad purpose", hadmin, with("purposes", []string{"PUBLIC"}), cc.Invalid},
		{"bad condition", hadmin, with("condition", "record.nope"), cc.Invalid},
		{"bad period", hadmin, with("period", obj{"start": "2026-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"}), cc.Invalid},
		{"opt_out missing", hadmin, with("opt_out", nil), cc.Invalid},
		{"terms an array", hadmin, with("terms", []int{1}), cc.Invalid},
		{"terms too long", hadmin, with("terms", strings.Repeat("x", MaxTermsLen)), cc.Invalid},
		{"unknown provider", hadmin, with("provider", "nowhere"), cc.NotFound},
		{"unknown recipient", hadmin, with("recipient", "nowhere"), cc.NotFound},
		{"not an admin", doc, immPUBHLTH, cc.Unauthorized},
		{"admin of a third org", cadmin, immPUBHLTH, cc.Unauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.apply(t, tc.signer, TypeAgreementPropose, tc.payload)
			cctest.WantKind(t, err, tc.want)
		})
	}
	for _, typ := range []string{TypeAgreementSign, TypeAgreementTerminate} {
		_, err := e.apply(t, padmin, typ, obj{"id": "agr-1"})
		cctest.WantKind(t, err, cc.Invalid)
		_, err = e.apply(t, padmin, typ, obj{"id": "agr-" + strings.Repeat("0", 32)})
		cctest.WantKind(t, err, cc.NotFound)
		_, err = e.apply(t, padmin, typ, obj{"ID": "agr-" + strings.Repeat("0", 32)})
		cctest.WantKind(t, err, cc.Malformed)
	}
}

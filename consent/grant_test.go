package consent

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/internal/cctest"
)

// gpPermit is a provision permitting gp to read for TREAT.
var gpPermit = obj{"type": "permit", "actors": []obj{{"did": gp.did}}, "actions": []string{"read"}, "purposes": []string{"TREAT"}}

func TestGrantByPatientAndRead(t *testing.T) {
	e := newEnv(t)
	if got := e.decide(t, gp, gpOrgs, "TREAT", lab); got.Allow {
		t.Fatalf("before the grant: %+v", got)
	}
	res := e.mustApply(t, pat, TypeGrant, obj{"patient": pat.did, "provisions": []obj{
		gpPermit,
		{"type": "deny", "categories": []string{"SEX"}, "period": obj{"start": "2025-01-01T01:00:00+01:00"}},
	}})
	id := dataID(t, res)
	if !validID(consentIDPrefix, id) {
		t.Fatalf("id %q", id)
	}
	if got := cctest.Attr(res, TypeGrant, "id"); got != id {
		t.Errorf("event id %q, want %q", got, id)
	}
	if got := cctest.Attr(res, TypeGrant, "grantor"); got != string(pat.did) {
		t.Errorf("event grantor %q", got)
	}
	c, err := GetConsent(e.kv, id)
	if err != nil {
		t.Fatal(err)
	}
	want := cc.Consent{ID: id, Patient: pat.did, Grantor: pat.did, Created: e.height, Time: genTime, Provisions: []cc.Provision{
		{Type: cc.Permit, Actors: []cc.Actor{{DID: gp.did}}, Actions: []string{"read"}, Purposes: []string{"TREAT"}},
		{Type: cc.Deny, Categories: []string{"SEX"}, Period: cc.Period{Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("GetConsent = %+v, want %+v", *c, want)
	}
	list, err := ListConsents(e.kv, pat.did)
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("ListConsents = %v, %v", list, err)
	}
	if got := e.decide(t, gp, gpOrgs, "TREAT", lab); !sameDecision(got, allow(cc.BasisConsent, id)) {
		t.Errorf("after the grant: %+v", got)
	}

	e.height++
	res = e.mustApply(t, pat, TypeRevoke, obj{"id": id})
	if dataID(t, res) != id || cctest.Attr(res, TypeRevoke, "by") != string(pat.did) {
		t.Errorf("revoke result %q %+v", res.Data, res.Events)
	}
	c, _ = GetConsent(e.kv, id)
	if c.Revoked != e.height {
		t.Errorf("revoked = %d, want %d", c.Revoked, e.height)
	}
	if got := e.decide(t, gp, gpOrgs, "TREAT", lab); got.Allow {
		t.Errorf("after the revocation: %+v", got)
	}
	_, err = e.apply(t, pat, TypeRevoke, obj{"id": id})
	cctest.WantKind(t, err, cc.Conflict)
}

func TestGrantByDelegate(t *testing.T) {
	e := newEnv(t)
	id := e.mustGrant(t, parent, pat, gpPermit)
	c, err := GetConsent(e.kv, id)
	if err != nil || c.Grantor != parent.did || c.Patient != pat.did {
		t.Fatalf("GetConsent = %+v, %v", c, err)
	}
	e.mustApply(t, parent, TypeRevoke, obj{"id": id})

	// helper may read for pat but not manage pat's consents; nor may
	// parent once the delegation expired, nor a stranger, nor pat for pat2.
	grant := obj{"patient": pat.did, "provisions": []obj{gpPermit}}
	_, err = e.apply(t, helper, TypeGrant, grant)
	cctest.WantKind(t, err, cc.Unauthorized)
	_, err = e.apply(t, stranger, TypeGrant, grant)
	cctest.WantKind(t, err, cc.Unauthorized)
	_, err = e.apply(t, pat, TypeGrant, obj{"patient": pat2.did, "provisions": []obj{gpPermit}})
	cctest.WantKind(t, err, cc.Unauthorized)
	id = e.mustGrant(t, pat, pat, gpPermit)
	_, err = e.apply(t, helper, TypeRevoke, obj{"id": id})
	cctest.WantKind(t, err, cc.Unauthorized)
	e.time = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err = e.apply(t, parent, TypeGrant, grant)
	cctest.WantKind(t, err, cc.Unauthorized)
	_, err = e.apply(t, parent, TypeRevoke, obj{"id": id})
	cctest.WantKind(t, err, cc.Unauthorized)
}

func TestGrantRejections(t *testing.T) {
	e := newEnv(t)
	with := func(p obj, kvs ...any) obj {
		q := obj{}
		for k, v := range p {
			q[k] = v
		}
		for i := 0; i+1 < len(kvs); i += 2 {
			q[kvs[i].(string)] = kvs[i+1]
		}
		return q
	}
	grant := func(ps ...obj) obj { return obj{"patient": pat.did, "provisions": ps} }
	many := make([]obj, MaxProvisions+1)
	for i := range many {
		many[i] = gpPermit
	}
	cases := []struct {
		name    string
		signer  *actor
		payload any
		want    cc.Kind
	}{
		{"not JSON", pat, []byte(`{"patient":`), cc.Malformed},
		{"not an object", pat, []byte(`[]`), cc.Malformed},
		{"trailing data", pat, []byte(`{"patient":"x","provisions":[]} {}`), cc.Malformed},
		{"unknown field", pat, with(grant(gpPermit), "extra", 1), cc.Malformed},
		{"case-variant field", pat, []byte(`{"Patient":"` + string(pat.did) + `","provisions":[{"type":"permit"}]}`), cc.Malformed},
		{"duplicate field", pat, []byte(`{"patient":"` + string(pat.did) + `","patient":"x","provisions":[{"type":"permit"}]}`), cc.Malformed},
		{"unknown provision field", pat, grant(with(gpPermit, "excluded", []string{"PSY"})), cc.Malformed},
		{"case-variant provision field", pat, grant(obj{"Type": "permit"}), cc.Malformed},
		{"unknown actor field", pat, grant(obj{"type": "permit", "actors": []obj{{"did": gp.did, "name": "x"}}}), cc.Malformed},
		{"unknown period field", pat, grant(obj{"type": "permit", "period": obj{"begin": "2025-01-01T00:00:00Z"}}), cc.Malformed},
		{"wrong JSON type", pat, obj{"patient": pat.did, "provisions": "all"}, cc.Malformed},
		{"wrong nested JSON type", pat, grant(obj{"type": "permit", "actions": "read"}), cc.Malformed},
		{"bad patient", pat, obj{"patient": "pat", "provisions": []obj{gpPermit}}, cc.Invalid},
		{"no provisions", pat, grant(), cc.Invalid},
		{"too many provisions", pat, grant(many...), cc.Invalid},
		{"bad type", pat, grant(obj{"type": "maybe"}), cc.Invalid},
		{"actor with two forms", pat, grant(obj{"type": "permit", "actors": []obj{{"did": gp.did, "org": "st-marys"}}}), cc.Invalid},
		{"empty actor", pat, grant(obj{"type": "permit", "actors": []obj{{}}}), cc.Invalid},
		{"role without org", pat, grant(obj{"type": "permit", "actors": []obj{{"role": "nurse"}}}), cc.Invalid},
		{"unknown role", pat, grant(obj{"type": "permit", "actors": []obj{{"org": "st-marys", "role": "surgeon"}}}), cc.Invalid},
		{"bad org id", pat, grant(obj{"type": "permit", "actors": []obj{{"org": "St Marys"}}}), cc.Invalid},
		{"empty care team", pat, grant(obj{"type": "permit", "actors": []obj{{"care_team": []string{}}}}), cc.Invalid},
		{"care team twice", pat, grant(obj{"type": "permit", "actors": []obj{{"care_team": []cc.DID{gp.did, gp.did}}}}), cc.Invalid},
		{"bad action", pat, grant(obj{"type": "permit", "actions": []string{"write"}}), cc.Invalid},
		{"action twice", pat, grant(obj{"type": "permit", "actions": []string{"read", "read"}}), cc.Invalid},
		{"bad purpose", pat, grant(obj{"type": "permit", "purposes": []string{"treat"}}), cc.Invalid},
		{"bad resource type", pat, grant(obj{"type": "permit", "resource_types": []string{"observation"}}), cc.Invalid},
		{"bad category", pat, grant(obj{"type": "permit", "categories": []string{"a|b|c"}}), cc.Invalid},
		{"category with a space", pat, grant(obj{"type": "permit", "categories": []string{"mental health"}}), cc.Invalid},
		{"period start after end", pat, grant(obj{"type": "permit", "period": obj{"start": "2026-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"}}), cc.Invalid},
		{"empty data period", pat, grant(obj{"type": "permit", "data_period": obj{"start": "2025-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"}}), cc.Invalid},
		{"time past 9999 in UTC", pat, grant(obj{"type": "permit", "period": obj{"end": "9999-12-31T23:00:00-05:00"}}), cc.Invalid},
		{"time not RFC 3339", pat, grant(obj{"type": "permit", "period": obj{"start": "yesterday"}}), cc.Invalid},
		{"condition does not compile", pat, grant(obj{"type": "permit", "condition": "request.purpose =="}), cc.Invalid},
		{"condition not bool", pat, grant(obj{"type": "permit", "condition": "request.purpose"}), cc.Invalid},
		{"condition with a time zone", pat, grant(obj{"type": "permit", "condition": `request.time.getHours("Europe/London") > 8`}), cc.Invalid},
		{"condition too long", pat, grant(obj{"type": "permit", "condition": "true" + strings.Repeat(" ", MaxConditionLen)}), cc.Invalid},
		{"unregistered patient", stranger, obj{"patient": stranger.did, "provisions": []obj{gpPermit}}, cc.NotFound},
		{"unknown actor org", pat, grant(obj{"type": "permit", "actors": []obj{{"org": "nowhere"}}}), cc.NotFound},
		{"unknown actor DID", pat, grant(obj{"type": "permit", "actors": []obj{{"did": nobody.did}}}), cc.NotFound},
		{"unknown care team DID", pat, grant(obj{"type": "permit", "actors": []obj{{"care_team": []cc.DID{gp.did, nobody.did}}}}), cc.NotFound},
		{"signer not the patient", gp, grant(gpPermit), cc.Unauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.apply(t, tc.signer, TypeGrant, tc.payload)
			cctest.WantKind(t, err, tc.want)
		})
	}
}

func TestGrantLimitsAndConflicts(t *testing.T) {
	e := newEnv(t)
	// The same transaction hash twice is a conflict.
	payload, _ := json.Marshal(obj{"patient": pat.did, "provisions": []obj{gpPermit}})
	ctx := e.ctx(pat, TypeGrant)
	if _, err := handleGrant(ctx, e.kv, payload); err != nil {
		t.Fatal(err)
	}
	before := cctest.Copy(e.kv)
	_, err := handleGrant(ctx, e.kv, payload)
	cctest.WantKind(t, err, cc.Conflict)
	if d := cctest.Diff(before, e.kv); d != "" {
		t.Errorf("conflict wrote %s", d)
	}
	// A context without a transaction hash is a wiring bug.
	ctx.TxHash = nil
	_, err = handleGrant(ctx, e.kv, payload)
	cctest.WantKind(t, err, cc.Internal)

	for range MaxActiveConsents - 1 {
		e.mustGrant(t, pat, pat, gpPermit)
	}
	_, err = e.apply(t, pat, TypeGrant, obj{"patient": pat.did, "provisions": []obj{gpPermit}})
	cctest.WantKind(t, err, cc.FailedPrecondition)
	list, _ := ListConsents(e.kv, pat.did)
	e.mustApply(t, pat, TypeRevoke, obj{"id": list[0].ID})
	e.mustGrant(t, pat, pat, gpPermit)
}

func TestRevokeRejections(t *testing.T) {
	e := newEnv(t)
	id := e.mustGrant(t, pat, pat, gpPermit)
	cases := []struct {
		name    string
		signer  *actor
		payload any
		want    cc.Kind
	}{
		{"unknown field", pat, obj{"id": id, "reason": "x"}, cc.Malformed},
		{"bad id", pat, obj{"id": "cons-1"}, cc.Invalid},
		{"agreement id", pat, obj{"id": "agr-" + id[len("cons-"):]}, cc.Invalid},
		{"unknown id", pat, obj{"id": "cons-" + strings.Repeat("0", 32)}, cc.NotFound},
		{"other patient", pat2, obj{"id": id}, cc.Unauthorized},
		{"clinician", gp, obj{"id": id}, cc.Unauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.apply(t, tc.signer, TypeRevoke, tc.payload)
			cctest.WantKind(t, err, tc.want)
		})
	}
}

func TestGetConsentNotFound(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"", "cons-", "../x", "cons-" + strings.Repeat("a", 32)} {
		if _, err := GetConsent(e.kv, id); !cc.Is(cc.NotFound, err) {
			t.Errorf("GetConsent(%q) = %v, want not found", id, err)
		}
	}
	if list, err := ListConsents(e.kv, "bad"); err != nil || list == nil || len(list) != 0 {
		t.Errorf("ListConsents(bad) = %v, %v", list, err)
	}
}

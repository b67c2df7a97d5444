package identity

import (
	"slices"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/internal/cctest"
)

func TestDelegations(t *testing.T) {
	e := newEnv(t, 2)
	parent, child := newActor("parent"), newActor("child")
	e.mustCreate(t, parent, cc.KindPractitioner)
	e.mustSubmit(t, child, TypePatientRegister, obj{"public_key": child.key()})
	expires := genTime.Add(48 * time.Hour)

	res := e.mustSubmit(t, child, TypeDelegateGrant, obj{"delegate": parent.did, "scopes": []string{"records.read", "consent.grant"}, "expires": expires.Format(time.RFC3339)})
	d := cctest.DecodeData[cc.Delegation](t, res)
	if !slices.Equal(d.Scopes, []string{"consent.grant", "records.read"}) || !d.Expires.Equal(expires) || d.Principal != child.did || d.Delegate != parent.did {
		t.Errorf("delegation = %+v", d)
	}
	active := []struct {
		name  string
		scope string
		now   time.Time
		want  bool
	}{
		{"granted scope", "records.read", genTime, true},
		{"just before expiry", "consent.grant", expires.Add(-time.Nanosecond), true},
		{"at expiry", "records.read", expires, false},
		{"after expiry", "records.read", expires.Add(time.Hour), false},
		{"other scope", "records.write", genTime, false},
	}
	for _, tt := range active {
		got, err := ActiveDelegation(e.kv, child.did, parent.did, tt.scope, tt.now)
		if err != nil || got != tt.want {
			t.Errorf("%s: ActiveDelegation = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	if got, _ := ActiveDelegation(e.kv, parent.did, child.did, "records.read", genTime); got {
		t.Error("delegation is not symmetric")
	}

	// A new grant replaces the old one; "*" covers every scope. An offset
	// time is stored in UTC.
	e.height = 15
	e.mustSubmit(t, child, TypeDelegateGrant, obj{"delegate": parent.did, "scopes": []string{"*"}, "expires": "2025-03-02T14:00:00+02:00"})
	if got, _ := ActiveDelegation(e.kv, child.did, parent.did, "records.write", genTime); !got {
		t.Error("* does not cover records.write")
	}
	e.mustSubmit(t, child, TypeDelegateGrant, obj{"delegate": doc.did, "scopes": []string{"records.read"}, "expires": "2026-01-01T00:00:00Z"})
	list, err := ListDelegations(e.kv, child.did)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Delegate > list[1].Delegate {
		t.Fatalf("ListDelegations = %+v", list)
	}
	for _, d := range list {
		if d.Delegate == parent.did && (d.Created != 15 || d.Expires.Location() != time.UTC || d.Expires.Hour() != 12) {
			t.Errorf("replaced delegation = %+v", d)
		}
	}

	res = e.mustSubmit(t, child, TypeDelegateRevoke, obj{"delegate": parent.did})
	if got := cctest.Attr(res, TypeDelegateRevoke, "delegate"); got != string(parent.did) {
		t.Errorf("revoke event delegate = %q", got)
	}
	if got, _ := ActiveDelegation(e.kv, child.did, parent.did, "records.read", genTime); got {
		t.Error("revoked delegation is active")
	}
	_, err = e.submit(t, child, TypeDelegateRevoke, obj{"delegate": parent.did})
	cctest.WantKind(t, err, cc.NotFound)
	_, err = e.submit(t, child, TypeDelegateRevoke, obj{"delegate": "parent"})
	cctest.WantKind(t, err, cc.Invalid)
}

func TestDelegateGrantRejections(t *testing.T) {
	e := newEnv(t, 2)
	ok := genTime.Add(time.Hour).Format(time.RFC3339)
	many := make([]string, MaxScopes+1)
	for i := range many {
		many[i] = "s" + strings.Repeat("x", i)
	}
	tests := []struct {
		name    string
		signer  *actor
		payload obj
		want    cc.Kind
	}{
		{"expired", doc, obj{"delegate": hadmin.did, "scopes": []string{"a"}, "expires": genTime.Add(-time.Second).Format(time.RFC3339)}, cc.Invalid},
		{"expires at block time", doc, obj{"delegate": hadmin.did, "scopes": []string{"a"}, "expires": genTime.Format(time.RFC3339)}, cc.Invalid},
		{"not RFC 3339", doc, obj{"delegate": hadmin.did, "scopes": []string{"a"}, "expires": "tomorrow"}, cc.Invalid},
		{"date only", doc, obj{"delegate": hadmin.did, "scopes": []string{"a"}, "expires": "2030-01-01"}, cc.Invalid},
		{"after year 9999 in UTC", doc, obj{"delegate": hadmin.did, "scopes": []string{"a"}, "expires": "9999-12-31T23:59:59-01:00"}, cc.Invalid},
		{"no scopes", doc, obj{"delegate": hadmin.did, "scopes": []string{}, "expires": ok}, cc.Invalid},
		{"empty scope", doc, obj{"delegate": hadmin.did, "scopes": []string{""}, "expires": ok}, cc.Invalid},
		{"scope with space", doc, obj{"delegate": hadmin.did, "scopes": []string{"records read"}, "expires": ok}, cc.Invalid},
		{"scope too long", doc, obj{"delegate": hadmin.did, "scopes": []string{strings.Repeat("a", MaxScopeLen+1)}, "expires": ok}, cc.Invalid},
		{"duplicate scope", doc, obj{"delegate": hadmin.did, "scopes": []string{"a", "a"}, "expires": ok}, cc.Invalid},
		{"too many scopes", doc, obj{"delegate": hadmin.did, "scopes": many, "expires": ok}, cc.Invalid},
		{"self", doc, obj{"delegate": doc.did, "scopes": []string{"a"}, "expires": ok}, cc.Invalid},
		{"delegate not on ledger", doc, obj{"delegate": nobody.did, "scopes": []string{"a"}, "expires": ok}, cc.NotFound},
		{"delegate not a DID", doc, obj{"delegate": "bob", "scopes": []string{"a"}, "expires": ok}, cc.Invalid},
		{"scopes not strings", doc, obj{"delegate": hadmin.did, "scopes": []int{1}, "expires": ok}, cc.Malformed},
		{"unknown signer", nobody, obj{"delegate": hadmin.did, "scopes": []string{"a"}, "expires": ok}, cc.UnknownSigner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.submit(t, tt.signer, TypeDelegateGrant, tt.payload)
			cctest.WantKind(t, err, tt.want)
		})
	}
}

package records

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	cc "carechain"
	"carechain/identity"
	"carechain/internal/cctest"
	"carechain/ledger/tx"
)

func TestAnchorRolesAreCustodianRoles(t *testing.T) {
	want := []cc.Role{cc.RolePhysician, cc.RoleNurse, cc.RoleEmergency, cc.RolePharmacist, cc.RoleNode}
	if !slices.Equal(anchorRoles, want) || !slices.Equal(identity.CustodianRoles(), want) {
		t.Errorf("anchorRoles = %v, identity.CustodianRoles() = %v, want both %v", anchorRoles, identity.CustodianRoles(), want)
	}
}

// TestAnchorNeedsLinkedPatient checks that an organization anchors a
// patient's records only once the patient is linked to it: with the
// patient's approval (patient.link) or as the custodian of a DID it created
// (patient.custodial.create), before and after the person claims it.
func TestAnchorNeedsLinkedPatient(t *testing.T) {
	base := newEnv(t)
	unlinked, linked, cust, own := newActor("unlinked"), newActor("linked"), newActor("cust"), newActor("cust-own")
	for _, p := range []*actor{unlinked, linked} {
		base.mustApply(t, p, identity.TypePatientRegister, obj{"public_key": tx.EncodeKey(p.pub)})
	}
	base.mustLink(t, node, linked, "st-marys")
	const code = "ABCD-EFGH"
	base.mustApply(t, node, identity.TypeCustodialCreate, obj{"public_key": tx.EncodeKey(cust.pub), "org": "st-marys",
		"claim_hash": base64.RawURLEncoding.EncodeToString(identity.ClaimHash(cust.did, code))})
	claimed := &env{kv: cctest.Copy(base.kv), height: base.height + 1, time: base.time}
	key, proof := identity.SignClaimProof(own.priv, testChain, cust.did)
	claimed.mustApply(t, node, identity.TypePatientClaim, obj{"did": cust.did, "code": code, "public_key": key, "proof": proof})

	lab := obj{"org": "city-lab", "author": labdoc.did, "author_org": "city-lab"}
	of := func(p *actor, set obj) obj {
		s := obj{"patient": p.did}
		for k, v := range set {
			s[k] = v
		}
		return s
	}
	tests := []struct {
		name    string
		e       *env
		signer  *actor
		payload obj
		want    cc.Kind
	}{
		{"linked patient", base, doc, anchors(anchor("Observation/n", of(linked, nil))), 0},
		{"linked patient, by the node", base, node, anchors(anchor("Observation/n", of(linked, nil))), 0},
		{"fixture patient at the lab", base, labdoc, anchors(anchor("Observation/n", lab)), 0},
		{"custodial patient", base, node, anchors(anchor("Observation/n", of(cust, nil))), 0},
		{"claimed custodial patient", claimed, doc, anchors(anchor("Observation/n", of(cust, nil))), 0},
		{"directory record", base, doc, anchors(anchor("Practitioner/p", obj{"type": "Practitioner", "patient": ""})), 0},
		{"unlinked patient", base, doc, anchors(anchor("Observation/n", of(unlinked, nil))), cc.Unauthorized},
		{"unlinked patient, by the node", base, node, anchors(anchor("Observation/n", of(unlinked, nil))), cc.Unauthorized},
		{"patient linked to another organization", base, labdoc, anchors(anchor("Observation/n", of(linked, lab))), cc.Unauthorized},
		{"custodial patient of another organization", base, labdoc, anchors(anchor("Observation/n", of(cust, lab))), cc.Unauthorized},
		{"claimed patient of another organization", claimed, labdoc, anchors(anchor("Observation/n", of(cust, lab))), cc.Unauthorized},
		{"one unlinked patient in a batch", base, doc, anchors(anchor("Observation/n", of(linked, nil)), anchor("Observation/m", of(unlinked, nil))), cc.Unauthorized},
		{"unregistered patient", base, doc, anchors(anchor("Observation/n", obj{"patient": stranger.did})), cc.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &env{kv: cctest.Copy(tt.e.kv), height: tt.e.height, time: tt.e.time}
			_, err := e.apply(t, tt.signer, TypeAnchor, tt.payload)
			cctest.WantKind(t, err, tt.want)
			if tt.want == cc.Unauthorized && err != nil && !strings.Contains(err.Error(), "is not linked to org") {
				t.Errorf("error %q does not say that the patient is not linked", err)
			}
		})
	}

	// Once linked, the organization anchors the patient's records.
	e := &env{kv: cctest.Copy(base.kv), height: base.height + 1, time: base.time}
	_, err := e.apply(t, doc, TypeAnchor, anchors(anchor("Observation/n", of(unlinked, nil))))
	wantText := "patient " + string(unlinked.did) + " is not linked to org st-marys: link with the patient's approval (patient.link) or create a custodial DID"
	if err == nil || !strings.Contains(err.Error(), wantText) {
		t.Errorf("got %v, want an error containing %q", err, wantText)
	}
	e.mustLink(t, doc, unlinked, "st-marys")
	e.mustApply(t, doc, TypeAnchor, anchors(anchor("Observation/n", of(unlinked, nil))))
}

package identity

import (
	"slices"
	"strings"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

func TestPatientRegister(t *testing.T) {
	e := newEnv(t, 2)
	pat := newActor("pat")
	res := e.mustSubmit(t, pat, TypePatientRegister, obj{"public_key": pat.key()})
	if got := cctest.Attr(res, TypePatientRegister, "did_created"); got != "true" {
		t.Errorf("did_created = %q", got)
	}
	rec := mustDID(t, e.kv, pat.did)
	if rec.Kind != cc.KindPatient || rec.KeyVersion != 1 {
		t.Errorf("record = %+v", rec)
	}
	p, err := GetPatient(e.kv, pat.did)
	if err != nil || p.DID != pat.did || p.Registered != e.height || p.AttestedBy != nil {
		t.Errorf("patient = %+v, %v", p, err)
	}
	if got := cctest.DecodeData[cc.Patient](t, res); got.DID != pat.did || got.Registered != e.height {
		t.Errorf("data = %+v", got)
	}
	// The patient is its DID record: one state entry names the DID.
	var keys []string
	if err := e.kv.Iterate("", func(k string, _ []byte) bool {
		if strings.Contains(k, string(pat.did)) {
			keys = append(keys, k)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{didKey(pat.did)}; !slices.Equal(keys, want) || rec.PatientSince != e.height {
		t.Errorf("state keys of a registered patient %v, want %v; patient_since %d", keys, want, rec.PatientSince)
	}
	_, err = e.submit(t, pat, TypePatientRegister, obj{"public_key": pat.key()})
	cctest.WantKind(t, err, cc.Conflict)

	// A practitioner may also be a patient; its DID is kept, and marked.
	before := mustDID(t, e.kv, doc.did)
	if _, err := GetPatient(e.kv, doc.did); !cc.Is(cc.NotFound, err) {
		t.Errorf("GetPatient(practitioner) error %v, want NotFound", err)
	}
	e.height++
	res = e.mustSubmit(t, doc, TypePatientRegister, obj{"public_key": doc.key()})
	if got := cctest.Attr(res, TypePatientRegister, "did_created"); got != "false" {
		t.Errorf("did_created = %q", got)
	}
	after := mustDID(t, e.kv, doc.did)
	if after.Kind != cc.KindPractitioner || after.PatientSince != e.height || after.Created != before.Created ||
		after.Updated != before.Updated || !slices.Equal(after.PublicKey, before.PublicKey) {
		t.Errorf("practitioner's record after patient.register %+v, before %+v", after, before)
	}
	if p, err := GetPatient(e.kv, doc.did); err != nil || p.Registered != e.height {
		t.Errorf("GetPatient(practitioner) = %+v, %v", p, err)
	}
	_, err = e.submit(t, doc, TypePatientRegister, obj{"public_key": doc.key()})
	cctest.WantKind(t, err, cc.Conflict)

	other := newActor("other")
	tests := []struct {
		name    string
		signer  *actor
		payload obj
		want    cc.Kind
	}{
		{"key of another DID", other, obj{"public_key": pat.key()}, cc.Unauthorized},
		{"bad key", other, obj{"public_key": "!!"}, cc.Invalid},
		{"extra field", other, obj{"public_key": other.key(), "kind": "patient"}, cc.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.submit(t, tt.signer, TypePatientRegister, tt.payload)
			cctest.WantKind(t, err, tt.want)
		})
	}
	_, err = e.apply(t, other.did, TypePatientRegister, mustJSON(t, obj{"public_key": pat.key()}))
	cctest.WantKind(t, err, cc.Unauthorized)
}

func TestPatientAttest(t *testing.T) {
	e := newEnv(t, 2)
	pat, pharm := newActor("pat"), newActor("pharm")
	e.mustSubmit(t, pat, TypePatientRegister, obj{"public_key": pat.key()})
	e.mustCreate(t, pharm, cc.KindPractitioner)
	e.mustSubmit(t, hadmin, TypeOrgMemberAdd, obj{"org": "st-marys", "member": pharm.did, "roles": []string{"pharmacist"}})

	res := e.mustSubmit(t, doc, TypePatientAttest, obj{"patient": pat.did, "org": "st-marys"})
	if got := cctest.DecodeData[cc.Patient](t, res); !slices.Equal(got.AttestedBy, []string{"st-marys"}) {
		t.Errorf("data = %+v", got)
	}
	_, err := e.submit(t, hadmin, TypePatientAttest, obj{"patient": pat.did, "org": "st-marys"})
	cctest.WantKind(t, err, cc.Conflict)
	e.mustSubmit(t, labby, TypePatientAttest, obj{"patient": pat.did, "org": "city-lab"})
	p, _ := GetPatient(e.kv, pat.did)
	if want := []string{"city-lab", "st-marys"}; !slices.Equal(p.AttestedBy, want) || !slices.Equal(mustDID(t, e.kv, pat.did).Attested, want) {
		t.Errorf("attested_by = %v, record %v", p.AttestedBy, mustDID(t, e.kv, pat.did).Attested)
	}

	tests := []struct {
		name    string
		signer  *actor
		payload obj
		want    cc.Kind
	}{
		{"not a member", gov1, obj{"patient": pat.did, "org": "st-marys"}, cc.Unauthorized},
		{"member without attest role", pharm, obj{"patient": pat.did, "org": "st-marys"}, cc.Unauthorized},
		{"member of another org", doc, obj{"patient": pat.did, "org": "city-lab"}, cc.Unauthorized},
		{"unknown org", doc, obj{"patient": pat.did, "org": "nowhere"}, cc.NotFound},
		{"bad org", doc, obj{"patient": pat.did, "org": "X"}, cc.Invalid},
		{"not a patient", doc, obj{"patient": hadmin.did, "org": "st-marys"}, cc.NotFound},
		{"patient not a DID", doc, obj{"patient": "pat", "org": "st-marys"}, cc.Invalid},
		{"missing org", doc, obj{"patient": pat.did}, cc.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.submit(t, tt.signer, TypePatientAttest, tt.payload)
			cctest.WantKind(t, err, tt.want)
		})
	}

	// A suspended organization cannot attest.
	other := newActor("pat2")
	e.mustSubmit(t, other, TypePatientRegister, obj{"public_key": other.key()})
	e.mustSubmit(t, gov1, TypeGovPropose, obj{"action": "org.suspend", "params": obj{"id": "st-marys"}})
	e.mustSubmit(t, gov2, TypeGovApprove, obj{"proposal": 1})
	_, err = e.submit(t, doc, TypePatientAttest, obj{"patient": other.did, "org": "st-marys"})
	cctest.WantKind(t, err, cc.FailedPrecondition)
}

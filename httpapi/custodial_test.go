package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http/httptest"
	"path/filepath"
	"testing"

	cc "carechain"
	"carechain/client"
	"carechain/httpapi"
	"carechain/identity"
	"carechain/internal/recordtest"
	"carechain/records"
)

// TestCustodialDIDAndClaim ingests Synthea's Bob for a person without a
// DID: St Mary's creates a custodial DID and answers a one-time claim
// code; a wrong code is refused and changes nothing; the right code with
// the person's new key moves the DID to that key, after which the person
// reads their own records; the code cannot be used twice.
func TestCustodialDIDAndClaim(t *testing.T) {
	w := recordtest.MustWorld(t, "httpapi-custodial", 2)
	api := httpapi.New(w.Chain, nil)
	api.SetRecords(w.All()...)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	c := client.New(srv.URL)
	ctx := context.Background()
	doc := w.Staff(t, "st-mary-physician")
	me := client.NewSigner(doc.DID, doc.Key)
	dir := recordtest.Testdata(t, "synthea")
	for _, f := range []string{recordtest.SyntheaHospitals, recordtest.SyntheaPractitioners} {
		if _, err := c.Ingest(ctx, me, stMary, "", "", recordtest.Read(t, filepath.Join(dir, f))); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := c.IngestCustodial(ctx, me, stMary, recordtest.Read(t, filepath.Join(dir, "patients", recordtest.SyntheaBob)))
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Patient.Valid() || len(sum.ClaimCode) != 19 || sum.Created != 238 {
		t.Fatalf("custodial ingest: patient %q code %q created %d", sum.Patient, sum.ClaimCode, sum.Created)
	}
	l, err := identity.GetLink(w.Chain.State(), sum.Patient, stMary)
	if err != nil || !l.Custodial {
		t.Fatalf("link %+v, %v: want custodial at St Mary's", l, err)
	}
	var patientRef string
	records.PatientRecords(w.Chain.State(), sum.Patient, func(a cc.RecordAnchor) bool {
		if a.Type == "Patient" {
			patientRef = a.ID
		}
		return patientRef == ""
	})

	_, newKey, _ := ed25519.GenerateKey(rand.Reader)
	before, _ := identity.GetDID(w.Chain.State(), sum.Patient)
	if err := c.Claim(ctx, sum.Patient, "AAAA-BBBB-CCCC-DDDD", newKey); !cc.Is(cc.Unauthorized, err) {
		t.Fatalf("claim with a wrong code: %v, want unauthorized", err)
	}
	if after, _ := identity.GetDID(w.Chain.State(), sum.Patient); string(after.PublicKey) != string(before.PublicKey) {
		t.Fatal("a wrong code changed the DID's key")
	}
	if err := c.Claim(ctx, sum.Patient, sum.ClaimCode, newKey); err != nil {
		t.Fatalf("claim: %v", err)
	}
	r, err := c.ReadFHIR(ctx, client.NewSigner(sum.Patient, newKey), client.ReadOptions{Patient: sum.Patient, Purpose: "PATRQT"}, "/fhir/"+patientRef)
	if err != nil || r.Basis != "patient" {
		t.Fatalf("the person reads their record after the claim: %v (basis %q)", err, r.Basis)
	}
	if err := c.Claim(ctx, sum.Patient, sum.ClaimCode, newKey); !cc.Is(cc.NotFound, err) {
		t.Errorf("second claim: %v, want not found (no claim pending)", err)
	}
}

package gatekeeper_test

import (
	"context"
	"strings"
	"testing"

	"carechain/gatekeeper"
	"carechain/internal/recordtest"
)

// TestOnImmunizations checks the coverage-trend hook gets the occurrence
// date (day precision, as written) of an Immunization a signed write
// creates, under its record id, while the ledger gets the year only.
func TestOnImmunizations(t *testing.T) {
	w := recordtest.MustWorld(t, "gatekeeper-onimmunizations", 1)
	var got []gatekeeper.ImmunizationDate
	n := w.Pop.Nodes[stMary]
	gk := gatekeeper.New(gatekeeper.Config{Chain: w.Chain, Vault: w.Vault, Index: w.Index, Org: stMary, NodeDID: n.DID, NodeKey: n.Key,
		OnImmunizations: func(d []gatekeeper.ImmunizationDate) { got = append(got, d...) }})
	body := immunization("", "140")
	patient := w.Pop.Patients[0].DID
	res, err := gk.Ingest(context.Background(), body, w.SignedWrite(t, w.Staff(t, "st-mary-nurse"), stMary, patient, body), "")
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, e := range res.Entries {
		if strings.HasPrefix(e.Ref, "Immunization/") {
			id = e.Ref
		}
	}
	if id == "" || len(got) != 1 || got[0] != (gatekeeper.ImmunizationDate{RecordID: id, Date: "2026-11-30"}) {
		t.Fatalf("OnImmunizations got %+v, want the date of %q (entries %+v)", got, id, res.Entries)
	}
}

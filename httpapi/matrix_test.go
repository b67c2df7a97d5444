package httpapi_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/client"
	"carechain/consent"
	"carechain/httpapi"
	"carechain/internal/recordtest"
	"carechain/records"
	"carechain/seed"
)

// bobTypes are the resource types of Synthea's Bob bundle with their
// counts.
var bobTypes = map[string]int{"Claim": 32, "DiagnosticReport": 32, "DocumentReference": 32, "Encounter": 32,
	"ExplanationOfBenefit": 32, "Immunization": 46, "Observation": 30, "Patient": 1, "Provenance": 1}

// TestAuthorizationMatrix reads every resource type of one patient's
// records as each kind of actor, by search and by id, over HTTP, and
// checks the released types against an independent expectation: zero
// leaks, nothing withheld that should be released, and every released
// resource named by exactly one committed access event of that actor.
func TestAuthorizationMatrix(t *testing.T) {
	w := recordtest.MustWorld(t, "httpapi-matrix", 6)
	api := httpapi.New(w.Chain, nil)
	api.SetRecords(w.All()...)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	c := client.New(srv.URL)
	ctx := context.Background()
	pt, deleg := w.Pop.Patients[5], w.Pop.Patients[4] // pt delegated records.read to deleg (seed)
	doc := w.Staff(t, "st-mary-physician")
	signer := func(id seed.Identity) *client.Signer { return client.NewSigner(id.DID, id.Key) }

	dir := recordtest.Testdata(t, "synthea")
	for _, f := range []string{recordtest.SyntheaHospitals, recordtest.SyntheaPractitioners} {
		if _, err := c.Ingest(ctx, signer(doc), stMary, "", "", recordtest.Read(t, filepath.Join(dir, f))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Ingest(ctx, signer(doc), stMary, pt.DID, "", recordtest.Read(t, filepath.Join(dir, "patients", recordtest.SyntheaBob))); err != nil {
		t.Fatal(err)
	}
	ids := map[string][]string{} // type → record ids
	records.PatientRecords(w.Chain.State(), pt.DID, func(a cc.RecordAnchor) bool {
		ids[a.Type] = append(ids[a.Type], a.ID)
		return true
	})
	for typ, n := range bobTypes {
		if len(ids[typ]) != n {
			t.Fatalf("%s: %d anchored, want %d", typ, len(ids[typ]), n)
		}
	}

	// The consent state: northside's physician may read Immunizations and
	// Observations for treatment, except survey Observations; a consent to
	// riverside's nurse is revoked; one to northside's nurse has expired;
	// St Mary's shares Immunizations with the ministry for public health
	// (opt-out agreement); riverside's emergency clinician breaks the glass.
	northDoc, northNurse := w.Staff(t, "northside-physician"), w.Staff(t, "northside-nurse")
	river, riverER := w.Staff(t, "riverside-physician"), w.Staff(t, "riverside-emergency")
	officer, researcher := w.Staff(t, "ministry-officer"), w.Staff(t, "nri-researcher")
	grant := func(provisions ...cc.Provision) string {
		var out struct {
			ID string `json:"id"`
		}
		json.Unmarshal(w.MustTx(t, pt, consent.TypeGrant, map[string]any{"patient": pt.DID, "provisions": provisions}), &out)
		return out.ID
	}
	grant(cc.Provision{Type: cc.Permit, Actors: []cc.Actor{{DID: northDoc.DID}}, Purposes: []string{"TREAT"}, ResourceTypes: []string{"Immunization", "Observation"}},
		cc.Provision{Type: cc.Deny, Actors: []cc.Actor{{DID: northDoc.DID}}, Categories: []string{"survey"}})
	revoked := grant(cc.Provision{Type: cc.Permit, Actors: []cc.Actor{{DID: w.Staff(t, "riverside-physician").DID}}, Purposes: []string{"TREAT"}})
	w.MustTx(t, pt, consent.TypeRevoke, map[string]any{"id": revoked})
	grant(cc.Provision{Type: cc.Permit, Actors: []cc.Actor{{DID: northNurse.DID}}, Purposes: []string{"TREAT"},
		Period: cc.Period{End: time.Now().UTC().Add(2 * time.Second).Truncate(time.Second)}})
	var ag struct {
		ID string `json:"id"`
	}
	json.Unmarshal(w.MustTx(t, w.Pop.Admins[stMary], consent.TypeAgreementPropose, map[string]any{
		"provider": stMary, "recipient": "ministry-of-health", "resource_types": []string{"Immunization"},
		"purposes": []string{"PUBHLTH"}, "opt_out": true}), &ag)
	w.MustTx(t, w.Pop.Admins["ministry-of-health"], consent.TypeAgreementSign, map[string]any{"id": ag.ID})
	w.MustTx(t, riverER, access.TypeBreakGlassDeclare, map[string]any{"patient": pt.DID, "org": "riverside-hospital",
		"reason_code": "unconscious", "minutes": 60})
	time.Sleep(3 * time.Second) // the nurse's consent expires
	w.MustTx(t, pt, consent.TypeGrant, map[string]any{"patient": pt.DID, "provisions": []cc.Provision{{Type: cc.Permit, Actors: []cc.Actor{{Org: "national-research-institute"}}, Purposes: []string{"HRESEARCH"}, ResourceTypes: []string{"Condition"}}}})

	all := slices.Sorted(maps.Keys(bobTypes))
	actors := []struct {
		name    string
		who     seed.Identity
		purpose string
		want    []string // types released
	}{
		{"patient", pt, "PATRQT", all},
		{"delegate", deleg, "PATRQT", all},
		{"author org physician", doc, "TREAT", all},
		{"consented physician", northDoc, "TREAT", []string{"Immunization", "Observation"}}, // only the exam Observation passes the survey exclusion
		{"consented physician, wrong purpose", northDoc, "HPAYMT", nil},
		{"expired consent", northNurse, "TREAT", nil},
		{"revoked consent", river, "TREAT", nil},
		{"agreement partner", officer, "PUBHLTH", []string{"Immunization"}},
		{"agreement partner, wrong purpose", officer, "TREAT", nil},
		{"break-glass", riverER, "ETREAT", all},
		{"researcher", researcher, "HRESEARCH", nil}, // the research consent covers Condition only: Bob has none here
	}
	type release struct {
		event string
		ids   []string
	}
	for _, a := range actors {
		t.Run(a.name, func(t *testing.T) {
			var releases []release
			got := map[string]int{}
			opts := client.ReadOptions{Patient: pt.DID, Purpose: a.purpose}
			for _, typ := range all {
				r, err := c.ReadFHIR(ctx, signer(a.who), opts, "/fhir/"+typ+"?patient="+ids["Patient"][0]+"&_count=1000")
				if err != nil {
					t.Fatalf("search %s: %v", typ, err)
				}
				rel := release{event: r.AccessEvent, ids: bundleIDs(t, r.Body)}
				got[typ] += len(rel.ids)
				if len(rel.ids) > 0 {
					releases = append(releases, rel)
				} else if r.AccessEvent != "" {
					t.Errorf("empty search %s logged %s", typ, r.AccessEvent)
				}
				// A read by id of the type's first record agrees with the
				// search: released exactly when the search released it.
				first := ids[typ][0]
				r, err = c.ReadFHIR(ctx, signer(a.who), opts, "/fhir/"+first)
				searched := slices.Contains(rel.ids, first)
				switch {
				case err == nil && searched:
					releases = append(releases, release{event: r.AccessEvent, ids: []string{first}})
				case err == nil:
					t.Errorf("LEAK: read of %s released, its search did not", first)
				case !cc.Is(cc.NotFound, err):
					t.Errorf("read %s: %v", first, err)
				case searched:
					t.Errorf("read of %s withheld, its search released it", first)
				}
			}
			for _, typ := range all {
				want := 0
				if slices.Contains(a.want, typ) {
					want = bobTypes[typ]
				}
				if a.name == "consented physician" && typ == "Observation" {
					want = 1 // the exam, not the 29 surveys
				}
				if got[typ] != want {
					t.Errorf("%s: %d released, want %d", typ, got[typ], want)
				}
			}
			// Every release is exactly one committed event of this actor
			// naming exactly the released ids; denials logged nothing.
			log, err := access.AccessLog(w.Chain.State(), pt.DID)
			if err != nil {
				t.Fatal(err)
			}
			mine := map[string]cc.AccessEvent{}
			for _, e := range log {
				if e.Accessor == a.who.DID && e.Purpose == a.purpose {
					if _, dup := mine[e.ID]; dup {
						t.Errorf("event %s logged twice", e.ID)
					}
					mine[e.ID] = e
				}
			}
			if len(mine) != len(releases) {
				t.Errorf("%d events for %d releases", len(mine), len(releases))
			}
			for _, rel := range releases {
				e, ok := mine[rel.event]
				sort.Strings(rel.ids)
				evIDs := slices.Sorted(slices.Values(e.Records))
				if !ok || !slices.Equal(evIDs, rel.ids) {
					t.Errorf("release of %d records under event %q: logged %v", len(rel.ids), rel.event, ok)
				}
				if a.name == "break-glass" && !e.BreakGlass {
					t.Errorf("break-glass read %s not flagged", e.ID)
				}
			}
		})
	}
	// The break-glass window's reads notified the patient, and the
	// window awaits riverside's privacy officer.
	ns, err := records.Notifications(w.Chain.State(), pt.DID)
	if err != nil || !slices.ContainsFunc(ns, func(n cc.Notification) bool { return strings.Contains(n.Kind, "break") }) {
		t.Errorf("notifications %+v, %v: want a break-glass notice", ns, err)
	}
}

// bundleIDs returns "Type/id" of a searchset's entries.
func bundleIDs(t *testing.T, b []byte) []string {
	t.Helper()
	var doc struct {
		Entry []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
				ID           string `json:"id"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range doc.Entry {
		out = append(out, e.Resource.ResourceType+"/"+e.Resource.ID)
	}
	return out
}

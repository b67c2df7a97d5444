package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/client"
	"carechain/fhir"
)

// manifest is what the tests read of a Bulk Data manifest: the resources
// exported by type (each NDJSON line parsed as valid R4) and the access
// events named.
type manifest struct {
	counts map[string]int
	events []string
}

// awaitExport polls a status URL until the export is done.
func awaitExport(t *testing.T, status string) manifest {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var m struct {
		Output []struct {
			Type string `json:"type"`
			URL  string `json:"url"`
		} `json:"output"`
		Events []string `json:"cc:accessEvents"`
	}
	for {
		resp, err := http.Get(status)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			break
		}
		if resp.StatusCode != http.StatusAccepted || time.Now().After(deadline) {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out := manifest{counts: map[string]int{}, events: m.Events}
	for _, o := range m.Output {
		resp, err := http.Get(o.URL)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			r, err := fhir.Parse(bytes.Clone(sc.Bytes()))
			if err != nil {
				t.Fatalf("%s line: %v", o.Type, err)
			}
			out.counts[r.Type]++
		}
		resp.Body.Close()
	}
	return out
}

// TestSystemExport runs FHIR Bulk Data system-level exports over the
// patients a requester signed for: only what the requester may see is
// exported, with _type and _since applied, and every exported resource is
// named by a logged access event of its patient.
func TestSystemExport(t *testing.T) {
	fw := mustFHIRWorld(t)
	ctx := context.Background()
	bob, other := fw.patient.DID, fw.Pop.Patients[1].DID // Bob's records are at St Mary's; the other patient has none
	stranger := fw.Staff(t, "nri-researcher")
	before := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	after := time.Now().UTC().Add(time.Second).Format(time.RFC3339)
	tests := []struct {
		name     string
		who      client.ReadOptions
		signer   *client.Signer
		patients []cc.DID
		query    url.Values
		want     map[string]int
	}{
		{"the author organization, two patients", client.ReadOptions{Purpose: "TREAT"}, fw.signer(fw.doc), []cc.DID{other, bob},
			url.Values{"_type": {"Immunization,Patient"}}, map[string]int{"Immunization": 46, "Patient": 1}},
		{"_since before the ingest", client.ReadOptions{Purpose: "TREAT"}, fw.signer(fw.doc), []cc.DID{bob},
			url.Values{"_type": {"Patient"}, "_since": {before}}, map[string]int{"Patient": 1}},
		{"_since after the ingest", client.ReadOptions{Purpose: "TREAT"}, fw.signer(fw.doc), []cc.DID{bob},
			url.Values{"_since": {after}}, map[string]int{}},
		{"a stranger", client.ReadOptions{Purpose: "TREAT"}, fw.signer(stranger), []cc.DID{bob, other}, nil, map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, err := fw.c.KickOffSystemExport(ctx, tt.signer, tt.who, tt.patients, tt.query)
			if err != nil {
				t.Fatal(err)
			}
			m := awaitExport(t, status)
			if len(m.counts) != len(tt.want) {
				t.Errorf("exported %v, want %v", m.counts, tt.want)
			}
			for typ, n := range tt.want {
				if m.counts[typ] != n {
					t.Errorf("exported %v, want %v", m.counts, tt.want)
				}
			}
			total := 0
			for _, n := range m.counts {
				total += n
			}
			if total == 0 && len(m.events) != 0 {
				t.Errorf("nothing exported but events %v", m.events)
			}
			if total == 0 {
				return
			}
			// Every exported resource is in a logged access event of
			// its patient, by this requester, for export.
			log, err := access.AccessLog(fw.Chain.State(), bob)
			if err != nil {
				t.Fatal(err)
			}
			logged := 0
			for _, e := range log {
				for _, id := range m.events {
					if e.ID == id && e.Action == access.ActionExport && e.Accessor == tt.signer.DID {
						logged += len(e.Records)
					}
				}
			}
			if len(m.events) != 1 || logged != total {
				t.Errorf("events %v log %d records, want one event of %d", m.events, logged, total)
			}
		})
	}

	// Refused kick-offs answer an OperationOutcome.
	chainID, _ := fw.c.ChainID(ctx)
	n := 0
	signed := func(p cc.DID, query string) string {
		n++
		sr, err := access.SignRead(access.ReadRequest{ChainID: chainID, Requester: fw.doc.DID, Patient: p, Purpose: "TREAT",
			Action: access.ActionExport, Query: query, Issued: time.Now().UTC(), Nonce: "nonce-sysexport-" + itoa(n)}, fw.doc.Key)
		if err != nil {
			t.Fatal(err)
		}
		return sr.Header()
	}
	refusals := []struct {
		name    string
		query   string
		headers []string
		prefer  string
		code    int
		text    string
	}{
		{"no signed request", "", nil, "respond-async", http.StatusForbidden, "one Carechain-Read header per patient"},
		{"no Prefer", "", []string{signed(bob, "")}, "", http.StatusBadRequest, "respond-async"},
		{"another query signed", "_type=Patient", []string{signed(bob, "")}, "respond-async", http.StatusBadRequest, "must be an export with query"},
		{"a patient twice", "", []string{signed(bob, ""), signed(bob, "")}, "respond-async", http.StatusBadRequest, "named twice"},
		{"a bad _since", "_since=yesterday", []string{signed(bob, "_since=yesterday")}, "respond-async", http.StatusBadRequest, "_since"},
		{"another output format", "_outputFormat=text/csv", []string{signed(bob, "")}, "respond-async", http.StatusBadRequest, "_outputFormat"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, fw.srv.URL+"/fhir/$export?"+tt.query, nil)
			for _, h := range tt.headers {
				req.Header.Add(access.HeaderRead, h)
			}
			if tt.prefer != "" {
				req.Header.Set("Prefer", tt.prefer)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code || !strings.Contains(string(b), `"OperationOutcome"`) || !strings.Contains(string(b), tt.text) {
				t.Errorf("%d %s, want %d (%s)", resp.StatusCode, b, tt.code, tt.text)
			}
		})
	}
}

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

	"carechain/client"
	"carechain/fhir"
)

// TestBulkExport runs a FHIR Bulk Data patient-level export: kick-off,
// status polling, NDJSON files of valid resources, one logged access
// event; a stranger's export is empty; a kick-off without Prefer:
// respond-async is refused.
func TestBulkExport(t *testing.T) {
	fw := mustFHIRWorld(t)
	ctx := context.Background()
	export := func(who client.ReadOptions, signer *client.Signer, q url.Values) map[string]any {
		t.Helper()
		status, err := fw.c.KickOffExport(ctx, signer, who, fw.bobID, q)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := http.Get(status)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatal(err)
				}
				return m
			}
			if resp.StatusCode != http.StatusAccepted || time.Now().After(deadline) {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	m := export(client.ReadOptions{Patient: fw.patient.DID, Purpose: "PATRQT"}, fw.signer(fw.patient), url.Values{"_type": {"Immunization,Patient"}})
	outputs, _ := m["output"].([]any)
	counts := map[string]int{}
	for _, o := range outputs {
		o := o.(map[string]any)
		resp, err := http.Get(o["url"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/fhir+ndjson" {
			t.Errorf("file content type %q", ct)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			r, err := fhir.Parse(bytes.Clone(sc.Bytes()))
			if err != nil {
				t.Fatalf("%s line: %v", o["type"], err)
			}
			counts[r.Type]++
		}
		resp.Body.Close()
	}
	if counts["Immunization"] != 46 || counts["Patient"] != 1 || len(counts) != 2 {
		t.Errorf("exported %v, want 46 Immunization and 1 Patient", counts)
	}
	if ev, _ := m["cc:accessEvent"].(string); ev == "" {
		t.Errorf("manifest names no access event: %v", m)
	}

	// A stranger's export: nothing released, nothing logged.
	stranger := fw.Staff(t, "nri-researcher")
	m = export(client.ReadOptions{Patient: fw.patient.DID, Purpose: "TREAT"}, fw.signer(stranger), nil)
	if outs, _ := m["output"].([]any); len(outs) != 0 {
		t.Errorf("stranger's export has %d files", len(outs))
	}

	// Without Prefer: respond-async the kick-off is refused.
	req, _ := http.NewRequest(http.MethodGet, fw.srv.URL+"/fhir/"+fw.bobID+"/$export", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "respond-async") {
		t.Errorf("kick-off without Prefer: %d %s", resp.StatusCode, b)
	}
	// An unknown job answers not found.
	resp, _ = http.Get(fw.srv.URL + "/fhir/$export-status/0123")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown job: %d", resp.StatusCode)
	}
}

package fhir

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// syntheaDir is ../shared/testdata/synthea/patients from the project root.
func syntheaDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "shared", "testdata", "synthea", "patients")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared testdata not found: %v", err)
	}
	return dir
}

func pseudonym(typ, id string) string {
	h := sha256.Sum256([]byte("test-key|" + typ + "|" + id))
	return hex.EncodeToString(h[:12])
}

// directIdentifiers collects, from a source bundle, every person name
// part, identifier value, telecom value, address line and city, and full
// birth date.
func directIdentifiers(v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if typ, _ := x["resourceType"].(string); typ == "Patient" || typ == "Practitioner" {
			if bd, ok := x["birthDate"].(string); ok {
				out[bd] = true
			}
			for _, n := range anyList(x["name"]) {
				m, _ := n.(map[string]any)
				for _, g := range anyList(m["given"]) {
					out[g.(string)] = true
				}
				if f, ok := m["family"].(string); ok {
					out[f] = true
				}
			}
			for _, tc := range anyList(x["telecom"]) {
				if s, ok := tc.(map[string]any)["value"].(string); ok {
					out[s] = true
				}
			}
			for _, a := range anyList(x["address"]) {
				m, _ := a.(map[string]any)
				for _, l := range anyList(m["line"]) {
					out[l.(string)] = true
				}
				if c, ok := m["city"].(string); ok {
					out[c] = true
				}
			}
		}
		for _, id := range anyList(x["identifier"]) {
			if m, ok := id.(map[string]any); ok {
				if s, ok := m["value"].(string); ok {
					out[s] = true
				}
			}
		}
		for _, e := range x {
			directIdentifiers(e, out)
		}
	case []any:
		for _, e := range x {
			directIdentifiers(e, out)
		}
	}
}

func anyList(v any) []any { l, _ := v.([]any); return l }

var fullDate = regexp.MustCompile(`"[0-9]{4}-[0-9]{2}`)

// TestDeidentifySynthea de-identifies every resource of the Synthea
// bundles and scans the NDJSON for every direct identifier of the source.
func TestDeidentifySynthea(t *testing.T) {
	dir := syntheaDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Skip("no Synthea bundles")
	}
	d := Deidentifier{AsOfYear: 2026, Pseudonym: pseudonym}
	for _, f := range files {
		raw := mustRead(t, f)
		resources := bundleResources(t, raw)
		var src any
		json.Unmarshal(raw, &src)
		ids := map[string]bool{}
		directIdentifiers(src, ids)
		var nd bytes.Buffer
		kept, patients := 0, 0
		for _, res := range resources {
			out, err := d.Deidentify(res)
			if err != nil {
				t.Fatalf("%s: %v", filepath.Base(f), err)
			}
			if out == nil {
				continue
			}
			kept++
			if bytes.Contains(out, []byte(`"resourceType":"Patient"`)) {
				patients++
				var p map[string]any
				json.Unmarshal(out, &p)
				if p["gender"] == nil || p["birthDate"] == nil || len(p["birthDate"].(string)) != 4 {
					t.Errorf("%s: the Patient lost its research value: %s", filepath.Base(f), out)
				}
			}
			nd.Write(out)
			nd.WriteByte('\n')
		}
		if kept == 0 || patients != 1 {
			t.Fatalf("%s: kept %d resources, %d patients", filepath.Base(f), kept, patients)
		}
		text := nd.String()
		for s := range ids {
			if len(s) < 3 {
				continue
			}
			if strings.Contains(text, s) {
				t.Errorf("%s: the extract contains the direct identifier %q", filepath.Base(f), s)
			}
		}
		if m := fullDate.FindString(text); m != "" {
			t.Errorf("%s: the extract contains a date finer than a year: %s", filepath.Base(f), m)
		}
		for _, bad := range []string{"urn:uuid:", `"div"`, `"identifier"`, `"telecom"`, `"name"`, `"line"`} {
			if strings.Contains(text, bad) {
				t.Errorf("%s: the extract contains %s", filepath.Base(f), bad)
			}
		}
		t.Logf("%s: %d resources kept, %d source identifiers scanned for", filepath.Base(f), kept, len(ids))
		if len(ids) < 5 {
			t.Errorf("%s: only %d identifiers collected from the source; the scan would prove little", filepath.Base(f), len(ids))
		}
	}
}

func TestDeidentifyRules(t *testing.T) {
	d := Deidentifier{AsOfYear: 2026, Pseudonym: func(typ, id string) string { return "p-" + id }}
	tests := []struct {
		name, in, want string
	}{
		{"patient", `{"resourceType":"Patient","id":"a","birthDate":"1990-04-27","gender":"female","name":[{"family":"X"}],
			"address":[{"line":["1 Main St"],"city":"Town","state":"MA","postalCode":"02134","country":"US"}],
			"maritalStatus":{"coding":[{"system":"s","code":"M","display":"Married"}],"text":"M"}}`,
			`{"address":[{"country":"US","postalCode":"021","state":"MA"}],"birthDate":"1990","gender":"female","id":"p-a","maritalStatus":{"coding":[{"code":"M","display":"Married","system":"s"}],"text":"M"},"resourceType":"Patient"}`},
		{"over 89", `{"resourceType":"Patient","id":"b","birthDate":"1930-01-02"}`, `{"birthDate":"1936","id":"p-b","resourceType":"Patient"}`},
		{"references and dates", `{"resourceType":"Immunization","id":"i","patient":{"reference":"Patient/a","display":"Ann X"},
			"encounter":{"reference":"urn:uuid:123"},"occurrenceDateTime":"2021-03-04T10:00:00+01:00","note":[{"text":"called mum"}],
			"vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"208"}]},"lotNumber":"L1"}`,
			`{"id":"p-i","lotNumber":"L1","occurrenceDateTime":"2021","patient":{"reference":"Patient/p-a"},"resourceType":"Immunization","vaccineCode":{"coding":[{"code":"208","system":"http://hl7.org/fhir/sid/cvx"}]}}`},
		{"dropped type", `{"resourceType":"DocumentReference","id":"d"}`, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.Deidentify([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	if _, err := d.Deidentify([]byte(`[]`)); err == nil {
		t.Error("a non-object was accepted")
	}
}

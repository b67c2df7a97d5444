package fhir

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// manifestCounts reads the "Synthea patient bundles" table of
// testdata/MANIFEST.md: file → resource type → expected count.
func manifestCounts(t *testing.T) map[string]map[string]int {
	t.Helper()
	f, err := os.Open(filepath.Join(testdataDir(t), "MANIFEST.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile(`^\| (\S+\.json) \| (\d+): (.*) \|$`)
	out := map[string]map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := row.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		counts, total := map[string]int{}, 0
		for _, part := range strings.Split(m[3], ", ") {
			typ, n, ok := strings.Cut(part, " ")
			k, err := strconv.Atoi(n)
			if !ok || err != nil {
				t.Fatalf("MANIFEST.md: cannot read %q", part)
			}
			counts[typ] = k
			total += k
		}
		if want, _ := strconv.Atoi(m[2]); want != total {
			t.Fatalf("MANIFEST.md: %s: %d entries but the counts add up to %d", m[1], want, total)
		}
		out[m[1]] = counts
	}
	if len(out) != 11 {
		t.Fatalf("MANIFEST.md: read %d patient rows, want 11", len(out))
	}
	return out
}

// loadProviders resolves the Synthea hospital and practitioner directories
// into s, hospitals first (practitioner roles reference them).
func loadProviders(t *testing.T, s *store) (hospitals, practitioners []byte) {
	t.Helper()
	dir := testdataDir(t, "synthea")
	hospitals = mustRead(t, filepath.Join(dir, "hospitalInformation1633536936158.json"))
	practitioners = mustRead(t, filepath.Join(dir, "practitionerInformation1633536936158.json"))
	s.load(t, mustParseBundle(t, hospitals))
	s.load(t, mustParseBundle(t, practitioners))
	return hospitals, practitioners
}

// TestSyntheaPatients ingests every Synthea patient bundle after the
// provider directories and checks the stored counts against MANIFEST.md,
// that no urn:uuid or conditional reference survives, that every resource
// lands in its patient's compartment, and that a second load is a no-op.
func TestSyntheaPatients(t *testing.T) {
	want := manifestCounts(t)
	s := newStore()
	loadProviders(t, s)
	files, _ := filepath.Glob(filepath.Join(testdataDir(t, "synthea", "patients"), "*.json"))
	if len(files) != len(want) {
		t.Fatalf("%d patient bundles, MANIFEST.md lists %d", len(files), len(want))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			b := mustParseBundle(t, mustRead(t, f))
			if b.Type != "transaction" {
				t.Fatalf("Type = %q, want transaction", b.Type)
			}
			// Before Resolve, every entry names the patient by its fullUrl.
			patientURL := b.Entries[0].FullURL
			for i, e := range b.Entries {
				if e.Resource.Patient != patientURL {
					t.Fatalf("entry %d (%s): Patient = %q, want %q", i, e.Resource.Type, e.Resource.Patient, patientURL)
				}
			}
			res, created := s.load(t, b)
			if !reflect.DeepEqual(created, want[name]) {
				t.Errorf("created %v\nwant    %v", created, want[name])
			}
			var patient string
			for _, e := range res.Entries {
				if e.Resource.Type == "Patient" {
					patient = e.Resource.Reference()
				}
			}
			for _, e := range res.Entries {
				r := e.Resource
				for _, ref := range allReferences(t, r.JSON) {
					if strings.HasPrefix(ref, "urn:") || strings.Contains(ref, "?") {
						t.Errorf("%s/%s still holds the reference %q", r.Type, r.ID, ref)
					}
				}
				if r.Patient != patient {
					t.Errorf("%s/%s: Patient = %q, want %q", r.Type, r.ID, r.Patient, patient)
				}
				if r.DataTime.IsZero() && r.Type != "Patient" {
					t.Errorf("%s/%s: no DataTime", r.Type, r.ID)
				}
			}
			// The same bundle again creates nothing: each entry's urn:uuid
			// fullUrl is already stored.
			again, created := s.load(t, mustParseBundle(t, mustRead(t, f)))
			if len(created) != 0 {
				t.Errorf("second load created %v", created)
			}
			for i, e := range again.Entries {
				if !e.Existing || e.Resource.ID != res.Entries[i].Resource.ID || e.Resource.Patient != patient {
					t.Errorf("second load, entry %d: Existing=%v id %s patient %s, want the first load's %s in %s",
						i, e.Existing, e.Resource.ID, e.Resource.Patient, res.Entries[i].Resource.ID, patient)
				}
			}
		})
	}
}

// TestSyntheaProvidersTwice loads the provider directories twice: the
// second time every entry is Existing and no id is drawn.
func TestSyntheaProvidersTwice(t *testing.T) {
	s := newStore()
	hospitals, practitioners := loadProviders(t, s)
	wantTypes := map[string]int{"Organization": 1191, "Location": 1191, "Practitioner": 1191, "PractitionerRole": 1191}
	if !reflect.DeepEqual(s.types, wantTypes) {
		t.Errorf("first load stored %v, want %v", s.types, wantTypes)
	}
	// Locations point at their managing Organization, resolved within the
	// same batch from the conditional reference.
	h := mustParseBundle(t, hospitals)
	for _, raw := range [][]byte{hospitals, practitioners} {
		ids := s.next
		res, created := s.load(t, mustParseBundle(t, raw))
		if len(created) != 0 || s.next != ids {
			t.Errorf("second load created %v and drew %d ids", created, s.next-ids)
		}
		for _, e := range res.Entries {
			if !e.Existing {
				t.Errorf("entry %d (%s) is not Existing", e.Index, e.Resource.Type)
			}
		}
	}
	if len(h.Entries) != 2382 {
		t.Errorf("hospital entries = %d, want 2382", len(h.Entries))
	}
}

// TestResolveRewritesConditionalReferences follows a Synthea patient's
// encounters to the practitioners, organizations and locations of the
// provider directories, through their conditional references.
func TestResolveRewritesConditionalReferences(t *testing.T) {
	s := newStore()
	loadProviders(t, s)
	stored := map[string]bool{}
	for k, id := range s.byIdent {
		typ, _, _ := strings.Cut(k, "|")
		stored[typ+"/"+id] = true
	}
	f := filepath.Join(testdataDir(t, "synthea", "patients"), "Bob965_Keeling57_3f6fd0bb-6cd3-eb3f-4401-cd38ace25f2b.json")
	res, _ := s.load(t, mustParseBundle(t, mustRead(t, f)))
	checked := map[string]int{}
	for _, e := range res.Entries {
		if e.Resource.Type != "Encounter" {
			continue
		}
		for _, ref := range allReferences(t, e.Resource.JSON) {
			typ := refType(ref, nil)
			switch typ {
			case "Practitioner", "Organization", "Location":
				if !stored[ref] {
					t.Errorf("Encounter/%s: %q is not in the provider directory", e.Resource.ID, ref)
				}
				checked[typ]++
			}
		}
	}
	if len(checked) != 3 {
		t.Errorf("followed %v, want practitioners, organizations and locations", checked)
	}
}

// allReferences lists every Reference.reference string of a resource.
func allReferences(t *testing.T, b []byte) []string {
	t.Helper()
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "reference" {
					out = append(out, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	return out
}

// TestBundleEnvelopeFromTop checks that the envelope read from a bundle's
// decoded top level is what decoding the whole bundle into it gives, and
// fails where that fails.
func TestBundleEnvelopeFromTop(t *testing.T) {
	for _, doc := range []string{
		`{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient"}}]}`,
		`{"resourceType":"Bundle","type":"batch"}`,
		`{"resourceType":"Bundle","type":null,"entry":null}`,
		`{"resourceType":"Bundle","Type":"batch","entry":[]}`,
		`{"resourceType":"Bundle","type":"collection","ENTRY":[{"fullUrl":"x"}]}`,
		`{"resourceType":"Bundle","entry":[{"fullUrl":"a"}],"Entry":[{"fullUrl":"b"}]}`,
		`{"resourceType":"Bundle","type":5}`,
		`{"resourceType":"Bundle","entry":{"fullUrl":"a"}}`,
		`{"resourceType":"Bundle","entry":[1]}`,
	} {
		top, _, err := resourceObject([]byte(doc), "")
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		var got, want bundleEnvelope
		gotErr := got.from(top, []byte(doc))
		wantErr := unmarshal([]byte(doc), &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Errorf("%s: error %v, decoding the whole bundle: %v", doc, gotErr, wantErr)
			continue
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%s: envelope %+v, decoding the whole bundle: %+v", doc, got, want)
		}
	}
}

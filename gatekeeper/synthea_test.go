package gatekeeper_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"carechain/gatekeeper"
	"carechain/internal/recordtest"
)

// manifestCounts reads the shared MANIFEST.md's table of Synthea patient
// bundles: file → resource type → entries.
func manifestCounts(t *testing.T) map[string]map[string]int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(recordtest.Testdata(t), "MANIFEST.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`^\| ([^|]+\.json) \| (\d+): ([^|]+) \|$`)
	out := map[string]map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		m := row.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		counts := map[string]int{}
		total := 0
		for _, part := range strings.Split(m[3], ",") {
			f := strings.Fields(part)
			n, err := strconv.Atoi(f[len(f)-1])
			if err != nil || len(f) != 2 {
				t.Fatalf("manifest row %q: cannot read %q", m[1], part)
			}
			counts[f[0]] = n
			total += n
		}
		if want, _ := strconv.Atoi(m[2]); want != total {
			t.Fatalf("manifest row %q: types add up to %d, not %d", m[1], total, want)
		}
		out[m[1]] = counts
	}
	return out
}

// TestIngestEverySyntheaBundle stores every Synthea patient bundle, as it
// is, after the provider directory, each for its own linked patient, and
// checks the stored count of each resource type against the manifest.
func TestIngestEverySyntheaBundle(t *testing.T) {
	want := manifestCounts(t)
	if len(want) != 11 {
		t.Fatalf("manifest lists %d patient bundles, want 11", len(want))
	}
	dir := recordtest.Testdata(t, "synthea")
	w := recordtest.MustWorld(t, "gatekeeper-synthea", len(want))
	g := w.Gatekeepers["st-mary-hospital"]
	doc := w.Staff(t, "st-mary-physician")
	ctx := context.Background()
	for _, f := range []string{recordtest.SyntheaHospitals, recordtest.SyntheaPractitioners} {
		if _, err := g.IngestBundle(ctx, recordtest.Read(t, filepath.Join(dir, f)), gatekeeper.Submitter{Author: doc.DID, AuthorOrg: "st-mary-hospital"}); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	i := 0
	for file, counts := range want {
		p := w.Pop.Patients[i]
		i++
		r, err := g.IngestBundle(ctx, recordtest.Read(t, filepath.Join(dir, "patients", file)), gatekeeper.Submitter{Author: doc.DID, AuthorOrg: "st-mary-hospital", Patient: p.DID})
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		for typ, n := range counts {
			if r.ByType[typ] != n {
				t.Errorf("%s: %s stored %d, manifest %d", file, typ, r.ByType[typ], n)
			}
		}
		if len(r.ByType) != len(counts) || r.Existing != 0 {
			t.Errorf("%s: stored types %v (existing %d), manifest %v", file, r.ByType, r.Existing, counts)
		}
	}
}

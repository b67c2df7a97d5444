package httpapi_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"regexp"
	"sort"
	"testing"

	"carechain/internal/recordtest"
)

// phiStrings collects, from a FHIR bundle, the strings that identify a
// person or are free text: names, birth dates, addresses, telecoms,
// identifiers, resource ids, narrative and every "text", "display"-free
// note or string value of six characters or more.
func phiStrings(t *testing.T, bundle []byte) []string {
	t.Helper()
	var doc any
	if err := json.Unmarshal(bundle, &doc); err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	add := func(s string) {
		if len(s) >= 6 {
			set[s] = true
		}
	}
	tags := regexp.MustCompile(`<[^>]*>`)
	types := map[string]bool{} // resource type names are on the ledger by design
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch x := v.(type) {
		case map[string]any:
			if rt, ok := x["resourceType"].(string); ok {
				types[rt] = true
			}
			for k, c := range x {
				walk(c, k)
			}
		case []any:
			for _, c := range x {
				walk(c, key)
			}
		case string:
			switch key {
			case "given", "family", "birthDate", "line", "city", "postalCode", "value", "id", "text", "valueString", "deceasedDateTime":
				add(x)
			case "div":
				for _, part := range tags.Split(x, -1) {
					add(part)
				}
			}
		}
	}
	walk(doc, "")
	out := make([]string, 0, len(set))
	for s := range set {
		if !types[s] {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// TestNoPHIOnLedger ingests Synthea's provider directory and a patient
// bundle through the HTTP API, reads and searches them, then scans every
// transaction of every block and every state value for the bundle's
// personal data and free text: none may appear, in clear or as hex.
func TestNoPHIOnLedger(t *testing.T) {
	fw := mustFHIRWorld(t)
	if _, err := fw.read(fw.doc, "TREAT", "/fhir/Observation?patient="+fw.bobID); err != nil {
		t.Fatal(err)
	}
	bob := recordtest.Read(t, filepath.Join(recordtest.Testdata(t, "synthea"), "patients", recordtest.SyntheaBob))
	phi := phiStrings(t, bob)
	if len(phi) < 100 {
		t.Fatalf("only %d PHI strings found in the bundle: the scan would prove little", len(phi))
	}
	ctx := context.Background()
	st, err := fw.Chain.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var haystacks [][]byte
	for h := int64(1); h <= st.LatestHeight; h++ {
		b, err := fw.Chain.Block(ctx, h)
		if err != nil {
			continue // Local keeps the blocks it executed
		}
		for _, hash := range b.TxHashes {
			raw, _ := hex.DecodeString(hash)
			info, err := fw.Chain.Tx(ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			haystacks = append(haystacks, info.Tx)
		}
	}
	if len(haystacks) < 5 {
		t.Fatalf("only %d transactions to scan", len(haystacks))
	}
	if err := fw.Chain.State().Iterate("", func(k string, v []byte) bool {
		haystacks = append(haystacks, []byte(k), v)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	for _, s := range phi {
		needles := [][]byte{[]byte(s), []byte(hex.EncodeToString([]byte(s)))}
		for _, hs := range haystacks {
			for _, n := range needles {
				if bytes.Contains(hs, n) {
					t.Errorf("PHI %q found on the ledger in %.200s", s, hs)
				}
			}
		}
	}
}

package gatekeeper

import (
	"context"
	"fmt"
	"testing"
)

// TestIndexLookup: identifiers resolve per organization and type, exactly
// (not by prefix), before and after the index's tables are flushed and
// compacted to the bottom level (where lookups use the Bloom filters too),
// and after a reopen.
func TestIndexLookup(t *testing.T) {
	dir := t.TempDir()
	x, err := OpenIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	var entries []IndexEntry
	for i := 0; i < 2000; i++ {
		entries = append(entries, IndexEntry{Type: "Patient", ID: fmt.Sprintf("p%d", i), Identifiers: []string{fmt.Sprintf("urn:ietf:rfc:3986|urn:uuid:%04d", i)}})
	}
	if err := x.Put("org-a", entries); err != nil {
		t.Fatal(err)
	}
	check := func(stage string) {
		t.Helper()
		tests := []struct {
			org, typ, ident string
			want            string
			ok              bool
		}{
			{"org-a", "Patient", "urn:ietf:rfc:3986|urn:uuid:0042", "p42", true},
			{"org-a", "Patient", "urn:ietf:rfc:3986|urn:uuid:1999", "p1999", true},
			{"org-a", "Patient", "urn:ietf:rfc:3986|urn:uuid:004", "", false},   // a prefix of a held one
			{"org-a", "Patient", "urn:ietf:rfc:3986|urn:uuid:00420", "", false}, // a held one is its prefix
			{"org-a", "Practitioner", "urn:ietf:rfc:3986|urn:uuid:0042", "", false},
			{"org-b", "Patient", "urn:ietf:rfc:3986|urn:uuid:0042", "", false},
			{"org-a", "Patient", "urn:ietf:rfc:3986|urn:uuid:9999", "", false},
		}
		for _, tt := range tests {
			got, ok := x.Lookup(tt.org, tt.typ, tt.ident)
			if got != tt.want || ok != tt.ok {
				t.Errorf("%s: Lookup(%s, %s, %s) = %q, %v; want %q, %v", stage, tt.org, tt.typ, tt.ident, got, ok, tt.want, tt.ok)
			}
		}
	}
	check("memtable")
	if err := x.db.Compact(context.Background(), []byte("a"), []byte("z"), true); err != nil {
		t.Fatal(err)
	}
	if n := x.db.Metrics().Levels[6].TablesCount; n == 0 {
		t.Fatalf("no tables in L6 after a full compaction")
	}
	check("compacted")
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if x, err = OpenIndex(dir); err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	check("reopened")
}

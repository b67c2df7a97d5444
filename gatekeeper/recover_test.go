package gatekeeper

import (
	"testing"
)

// TestRecoverAmong checks what crash recovery removes: a version without a
// committed anchor that was stored at startup goes, one written since (an
// ingest in flight while recovery waits for the chain) stays, and an
// anchored version always stays.
func TestRecoverAmong(t *testing.T) {
	w := MustWorld(t)
	if _, err := w.vault.Put("Observation/orphan", 1, []byte(`{"resourceType":"Observation"}`)); err != nil {
		t.Fatal(err)
	}
	stored, err := w.gk.Stored()
	if err != nil {
		t.Fatal(err)
	}
	if !stored[VersionRef{"Observation/orphan", 1}] {
		t.Fatalf("Stored() = %v, want the orphan", stored)
	}
	if _, err := w.vault.Put("Observation/inflight", 1, []byte(`{"resourceType":"Observation"}`)); err != nil {
		t.Fatal(err)
	}
	n, err := w.gk.RecoverAmong(stored)
	if err != nil || n != 1 {
		t.Fatalf("RecoverAmong = %d, %v; want 1 removed", n, err)
	}
	for _, c := range []struct {
		id   string
		want bool
	}{{"Observation/orphan", false}, {"Observation/inflight", true}} {
		if got, err := w.vault.Has(c.id, 1); err != nil || got != c.want {
			t.Errorf("Has(%s) = %v, %v; want %v", c.id, got, err, c.want)
		}
	}
	// Recover (every version) removes the in-flight orphan too.
	if n, err := w.gk.Recover(); err != nil || n != 1 {
		t.Errorf("Recover = %d, %v; want 1 removed", n, err)
	}
}

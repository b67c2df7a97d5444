package seed

import (
	"bytes"
	"testing"
	"time"

	"carechain/fhir"
)

func TestPatientBundleValidates(t *testing.T) {
	p := NewPopulation("fhir-seed-test", 8)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= 8; i++ {
		b := p.PatientBundle(i, now)
		bun, err := fhir.ParseBundle(b)
		if err != nil {
			t.Fatalf("patient %d: %v", i, err)
		}
		if got, want := len(bun.Entries), 1+1+len(vitals)+2+1; got != want {
			t.Errorf("patient %d: %d entries, want %d", i, got, want)
		}
		if !bytes.Equal(b, p.PatientBundle(i, now)) {
			t.Errorf("patient %d: bundle is not deterministic", i)
		}
	}
	if !bytes.Contains(p.PatientBundle(4, now), []byte(`"PSY"`)) {
		t.Error("every fourth patient's condition is labelled sensitive (PSY)")
	}
}

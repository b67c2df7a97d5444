package dp

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"testing"
	"time"

	cc "carechain"
	"carechain/research"
)

// stream is a deterministic byte source for tests (SHA-256 in counter mode).
type stream struct {
	n   uint64
	buf []byte
}

func (s *stream) Read(p []byte) (int, error) {
	for len(s.buf) < len(p) {
		var c [8]byte
		binary.BigEndian.PutUint64(c[:], s.n)
		s.n++
		h := sha256.Sum256(c[:])
		s.buf = append(s.buf, h[:]...)
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

// zero is a source whose every geometric draw is the same, so the noise
// is exactly 0.
type zero struct{}

func (zero) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0xff
	}
	return len(p), nil
}

func people(region, sex string, n, withDoses, birthYear int) []Subject {
	out := make([]Subject, n)
	for i := range out {
		out[i] = Subject{Strata: map[string]string{"region": region, "sex": sex}, BirthYear: birthYear}
		if i < withDoses {
			out[i].Doses = 2
		}
	}
	return out
}

var domains = map[string][]string{"region": {"North", "South", "unknown"}, "sex": {"female", "male"}}

func TestAnswerSuppression(t *testing.T) {
	var subjects []Subject
	subjects = append(subjects, people("North", "female", 30, 15, 1990)...)
	subjects = append(subjects, people("South", "female", 5, 2, 1980)...) // a small cell
	subjects = append(subjects, people("North", "male", 12, 3, 2000)...)  // a small numerator
	tests := []struct {
		name string
		q    research.QuerySpec
		want []research.Cell // with zero noise
	}{
		{"count by region", research.QuerySpec{Measure: research.MeasureCount, By: []string{"region"}, AsOf: 2026}, []research.Cell{
			{Group: []string{}, N: 47},
			{Group: []string{"North"}, N: 42},
			{Group: []string{"South"}, Suppressed: true},
			{Group: []string{"unknown"}, Suppressed: true},
		}},
		{"coverage by region and sex", research.QuerySpec{Measure: research.MeasureCoverage, Vaccine: "208", Dose: 2, By: []string{"region", "sex"}, AsOf: 2026}, []research.Cell{
			{Group: []string{}, N: 47, Num: 20, RatePPM: 425531},
			{Group: []string{"North", "female"}, N: 30, Num: 15, RatePPM: 500000},
			{Group: []string{"North", "male"}, Suppressed: true},
			{Group: []string{"South", "female"}, Suppressed: true},
			{Group: []string{"South", "male"}, Suppressed: true},
			{Group: []string{"unknown", "female"}, Suppressed: true},
			{Group: []string{"unknown", "male"}, Suppressed: true},
		}},
		{"mean age", research.QuerySpec{Measure: research.MeasureMeanAge, AsOf: 2026}, []research.Cell{
			{Group: []string{}, N: 47, MeanMilli: (30*36 + 5*46 + 12*26) * 1000 / 47},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Answer(tt.q, 500_000, subjects, domains, 7, zero{})
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Cells) != len(tt.want) {
				t.Fatalf("got %d cells %+v, want %d", len(a.Cells), a.Cells, len(tt.want))
			}
			for i, c := range a.Cells {
				w := tt.want[i]
				if c.Suppressed != w.Suppressed || c.N != w.N || c.Num != w.Num || c.RatePPM != w.RatePPM || c.MeanMilli != w.MeanMilli || len(c.Group) != len(w.Group) {
					t.Errorf("cell %d = %+v, want %+v", i, c, w)
				}
			}
			q := research.Query{Spec: tt.q, EpsilonMicro: 500_000}
			if err := research.CheckAnswer("test", &q, a); err != nil {
				t.Errorf("the ledger would refuse the answer: %v", err)
			}
		})
	}
}

// TestSmallCellsNeverShown: with real noise, no released stratum has a
// true count below k, whatever the draw.
func TestSmallCellsNeverShown(t *testing.T) {
	var subjects []Subject
	for i, n := range []int{3, 10, 11, 40} {
		subjects = append(subjects, people([]string{"North", "South", "unknown", "East"}[i], "male", n, n, 1970)...)
	}
	dom := map[string][]string{"region": {"East", "North", "South", "unknown"}}
	q := research.QuerySpec{Measure: research.MeasureCount, By: []string{"region"}, AsOf: 2026}
	rnd := &stream{}
	for range 200 {
		a, err := Answer(q, 2_000_000, subjects, dom, 1, rnd)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range a.Cells[1:] {
			if (c.Group[0] == "North" || c.Group[0] == "South") && !c.Suppressed {
				t.Fatalf("a small stratum was released: %+v", c)
			}
			if !c.Suppressed && c.N < research.MinCell {
				t.Fatalf("a released value below k: %+v", c)
			}
		}
	}
}

func TestDiscreteLaplaceMoments(t *testing.T) {
	const scale, n = 4.0, 40000
	rnd := &stream{}
	var sum, sq float64
	for range n {
		x, err := DiscreteLaplace(rnd, scale)
		if err != nil {
			t.Fatal(err)
		}
		sum += float64(x)
		sq += float64(x * x)
	}
	q := math.Exp(-1 / scale)
	wantVar := 2 * q / ((1 - q) * (1 - q))
	mean, variance := sum/n, sq/n-(sum/n)*(sum/n)
	if math.Abs(mean) > 0.15 || math.Abs(variance-wantVar)/wantVar > 0.05 {
		t.Errorf("mean %.3f variance %.2f, want 0 and %.2f", mean, variance, wantVar)
	}
	if _, err := DiscreteLaplace(bytes.NewReader(nil), scale); err == nil {
		t.Error("an empty random source gave no error")
	}
	if _, err := DiscreteLaplace(rnd, 0); cc.KindOf(err) != cc.Invalid {
		t.Errorf("scale 0: %v, want Invalid", err)
	}
}

func TestAnswerLimits(t *testing.T) {
	q := research.QuerySpec{Measure: research.MeasureCount, By: []string{"region"}, AsOf: time.Now().Year()}
	if _, err := Answer(q, 500_000, nil, map[string][]string{}, 1, zero{}); cc.KindOf(err) != cc.Invalid {
		t.Errorf("no domain: %v, want Invalid", err)
	}
	if _, err := Answer(q, 0, nil, domains, 1, zero{}); cc.KindOf(err) != cc.Invalid {
		t.Errorf("ε 0: %v, want Invalid", err)
	}
}

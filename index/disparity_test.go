package index

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	cc "carechain"
	"carechain/supply"
)

// The hand-computed population of the disparities tests (everyone female,
// born 2000; doses of cvx140; no unregistered patients):
//
//	region  district     people  ≥1 dose  ≥2 doses
//	North   Northbridge  40      30       20
//	South   Riverside    50      45       40
//	East    Eastfield    30      12        0
//	West    Lakeview      8       5        0
//	total                128     92       60
//
// Coverage of dose 1 by region (k = 11): West's denominator 8 < 11 is
// suppressed, and, alone suppressed in the line, makes the unsuppressed
// group with the smallest numerator (East, 12) suppressed too. South
// (45/50 = 0.9) is the reference.
//
// Wilson (z = 1.959963984540054, z² = 3.841458820694124):
//
//	North 30/40: p = 0.75, d = 1 + z²/40 = 1.096036470517353,
//	  centre = (0.75 + z²/80)/d = 0.7280945997,
//	  half = z/d·√(0.75·0.25/40 + z²/6400) = 0.1300342139,
//	  CI = [0.5980603858, 0.8581288136]
//	South 45/50: CI = [0.7863976856, 0.9565242351]
//	total 92/128 = 0.71875: CI = [0.6353658087, 0.7893867729]
//
// Katz, North vs South: RR = 0.75/0.9 = 0.8333333333,
// SE = √(1/30 − 1/40 + 1/45 − 1/50) = √0.0105555556 = 0.1027402334,
// CI = exp(ln 0.8333 ± 1.96·0.10274) = [0.6813434869, 1.0192281248].
// Newcombe, North − South = −0.15:
// low = −0.15 − √((0.75 − 0.59806)² + (0.95652 − 0.9)²) = −0.3121130331,
// high = −0.15 + √((0.85813 − 0.75)² + (0.9 − 0.78640)²) = 0.0068353473.
// Target 90 %: North's gap 0.15 and its upper bound 0.858 < 0.9 (below
// target); South's gap 0 (not ranked).
//
// Completion of dose 2 among dose-1 recipients: the dose-2 coverage
// report suppresses West (8 < 11) and then East (smallest numerator, 0);
// East and West are suppressed in completion too. North 20/30 = 0.6667,
// CI [0.4878005164, 0.8076950192]; South 40/45 = 0.8889 (reference),
// CI [0.7650090300, 0.9515952821]; RR = 0.6667/0.8889 = 0.75,
// SE = √(1/20 − 1/30 + 1/40 − 1/45) = 0.1394433378, CI [0.5706461337,
// 0.9857247194]; total 60/92 = 0.6521739130, CI [0.5505267372,
// 0.7416224052].
var handCohorts = []struct {
	area                string
	people, one, twoOf1 int // people, with ≥1 dose, of whom with 2
}{
	{"Northbridge", 40, 30, 20},
	{"Riverside", 50, 45, 40},
	{"Eastfield", 30, 12, 0},
	{"Lakeview", 8, 5, 0},
}

func handFixture(t *testing.T) *DB {
	t.Helper()
	l := newLedger(t)
	var people []Person
	for _, c := range handCohorts {
		var adms []supply.Administration
		for i := range c.people {
			p := Person{DID: did(fmt.Sprint("hand-", c.area, i)), BirthDate: "2000", Sex: "female", Area: c.area}
			people = append(people, p)
			doses := 0
			switch {
			case i < c.twoOf1:
				doses = 2
			case i < c.one:
				doses = 1
			}
			for k := range doses {
				adms = append(adms, supply.Administration{RecordID: fmt.Sprintf("Immunization/%s-%d-%d", c.area, i, k),
					Patient: p.DID, Org: "clinic", Vaccine: cvx140, Year: 2026})
			}
		}
		l.administer(t, adms...)
	}
	d, _ := openDB(t)
	if err := d.UpsertPeople(people); err != nil {
		t.Fatal(err)
	}
	mustSync(t, d, l)
	return d
}

// fig is an expected figure: the value, or absent (nil).
func fig(v float64) *float64 { return &v }

func ival(lo, hi float64) *cc.Interval { return &cc.Interval{Low: lo, High: hi} }

const tol = 1e-9

func sameF(got, want *float64) bool {
	if got == nil || want == nil {
		return got == want
	}
	return math.Abs(*got-*want) < tol
}

func sameI(got, want *cc.Interval) bool {
	if got == nil || want == nil {
		return got == want
	}
	return math.Abs(got.Low-want.Low) < tol && math.Abs(got.High-want.High) < tol
}

// wantRow is the expected part of a row.
type wantRow struct {
	label      string
	suppressed bool
	num, den   int64
	rate       *float64
	ci         *cc.Interval
	ratio      *float64
	ratioCI    *cc.Interval
	diff       *float64
	diffCI     *cc.Interval
	gap        *float64
	below, ref bool
}

func checkRow(t *testing.T, where string, got cc.DisparityRow, w wantRow) {
	t.Helper()
	if got.Label != w.label || got.Suppressed != w.suppressed || got.Numerator != w.num || got.Denominator != w.den ||
		got.Reference != w.ref || got.BelowTarget != w.below {
		t.Errorf("%s: got %q suppressed=%v %d/%d ref=%v below=%v, want %q %v %d/%d ref=%v below=%v", where,
			got.Label, got.Suppressed, got.Numerator, got.Denominator, got.Reference, got.BelowTarget,
			w.label, w.suppressed, w.num, w.den, w.ref, w.below)
	}
	for _, c := range []struct {
		name      string
		got, want *float64
	}{{"rate", got.Rate, w.rate}, {"ratio", got.RateRatio, w.ratio}, {"difference", got.RateDifference, w.diff},
		{"gap", got.GapToTarget, w.gap}} {
		if !sameF(c.got, c.want) {
			t.Errorf("%s %s: got %v, want %v", where, c.name, deref(c.got), deref(c.want))
		}
	}
	for _, c := range []struct {
		name      string
		got, want *cc.Interval
	}{{"CI", got.CI, w.ci}, {"ratio CI", got.RatioCI, w.ratioCI}, {"difference CI", got.DifferenceCI, w.diffCI}} {
		if !sameI(c.got, c.want) {
			t.Errorf("%s %s: got %+v, want %+v", where, c.name, c.got, c.want)
		}
	}
}

func deref(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

func TestDisparitiesHandComputed(t *testing.T) {
	d := handFixture(t)
	rep, err := d.Disparities(DisparityQuery{Vaccine: "140", Dose: 1, Target: 900, Tables: [][]string{{DimRegion}}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Vaccine != cvx140 || rep.MinCell != 11 || rep.Confidence != 0.95 || len(rep.Tables) != 2 || len(rep.Methods) == 0 {
		t.Fatalf("report %s k=%d conf=%v tables=%d", rep.Vaccine, rep.MinCell, rep.Confidence, len(rep.Tables))
	}
	cov, comp := rep.Tables[0], rep.Tables[1]
	if cov.Measure != cc.MeasureCoverage || comp.Measure != cc.MeasureCompletion ||
		cov.Reference != "South" || comp.Reference != "South" {
		t.Errorf("tables %s (ref %q), %s (ref %q)", cov.Measure, cov.Reference, comp.Measure, comp.Reference)
	}
	sup := func(l string) wantRow { return wantRow{label: l, suppressed: true} }
	covWant := []wantRow{
		sup("East"),
		{label: "North", num: 30, den: 40, rate: fig(0.75), ci: ival(0.5980603857923197, 0.858128813609037),
			ratio: fig(0.8333333333333333), ratioCI: ival(0.6813434868693877, 1.0192281247675123),
			diff: fig(-0.15), diffCI: ival(-0.31211303314543726, 0.006835347303495221), gap: fig(0.15), below: true},
		{label: "South", num: 45, den: 50, rate: fig(0.9), ci: ival(0.7863976856252035, 0.9565242350681096),
			ratio: fig(1), diff: fig(0), gap: fig(0), ref: true},
		sup("West"),
	}
	compWant := []wantRow{
		sup("East"),
		{label: "North", num: 20, den: 30, rate: fig(20.0 / 30), ci: ival(0.4878005164454384, 0.8076950191632386),
			ratio: fig(0.75), ratioCI: ival(0.5706461336570875, 0.9857247194423598),
			diff: fig(20.0/30 - 40.0/45), diffCI: ival(-0.4117616414436117, -0.03451176530587288)},
		{label: "South", num: 40, den: 45, rate: fig(40.0 / 45), ci: ival(0.7650090300423141, 0.9515952820543282),
			ratio: fig(1), diff: fig(0), ref: true},
		sup("West"),
	}
	for name, tc := range map[string]struct {
		got  cc.DisparityTable
		want []wantRow
	}{"coverage": {cov, covWant}, "completion": {comp, compWant}} {
		if len(tc.got.Rows) != len(tc.want) {
			t.Fatalf("%s: %d rows, want %d", name, len(tc.got.Rows), len(tc.want))
		}
		for i, w := range tc.want {
			checkRow(t, name+" "+w.label, tc.got.Rows[i], w)
		}
	}
	checkRow(t, "coverage total", cov.Total, wantRow{label: "all", num: 92, den: 128, rate: fig(0.71875),
		ci: ival(0.6353658087171573, 0.7893867729131828), gap: fig(0.9 - 0.71875), below: true})
	checkRow(t, "completion total", comp.Total, wantRow{label: "all", num: 60, den: 92, rate: fig(60.0 / 92),
		ci: ival(0.550526737225395, 0.7416224051659375)})
	want := []cc.RankedGroup{{Rank: 1, Table: 0, By: []string{DimRegion}, Label: "North", Rate: 0.75,
		CI: cc.Interval{Low: 0.5980603857923197, High: 0.858128813609037}, Gap: 0.15, BelowTarget: true}}
	if len(rep.Furthest) != 1 || !sameF(&rep.Furthest[0].Gap, &want[0].Gap) {
		t.Fatalf("furthest = %+v, want %+v", rep.Furthest, want)
	}
	rep.Furthest[0].Gap = want[0].Gap // compared within tol above
	if !reflect.DeepEqual(rep.Furthest, want) {
		t.Errorf("furthest = %+v, want %+v", rep.Furthest, want)
	}
}

func TestDisparitiesRankingAndPairs(t *testing.T) {
	d := handFixture(t)
	// min cell 1: nothing suppressed. Coverage by quintile: Q1 Eastfield
	// 12/30 = 0.4, Q2 Northbridge + Lakeview 35/48, Q3 Riverside 45/50.
	// Gaps to 95 %: Q1 0.55, Q2 0.95 − 35/48 = 0.2208, Q3 0.05; by region:
	// East 0.55, West 0.95 − 5/8 = 0.325, North 0.2, South 0.05. Ranked
	// (ties keep table order; the region+sex table repeats the regions, all
	// female): East, Q1, East · female, West, West · female.
	rep, err := d.Disparities(DisparityQuery{Vaccine: cvx140, Dose: 1, Target: 950, MinCell: 1,
		Tables: [][]string{{DimRegion}, {DimQuintile}, {DimRegion, DimSex}}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range rep.Furthest {
		got = append(got, fmt.Sprintf("%d:%d:%s", g.Rank, g.Table, g.Label))
	}
	want := []string{"1:0:East", "2:2:Q1", "3:4:East · female", "4:0:West", "5:4:West · female"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("furthest = %v, want %v", got, want)
	}
	if n := len(rep.Tables); n != 6 {
		t.Fatalf("%d tables, want 6", n)
	}
	pair := rep.Tables[4]
	if len(pair.Rows) != 4 || pair.Rows[0].Label != "East · female" || pair.Reference != "South · female" {
		t.Errorf("region+sex table: ref %q, rows %+v", pair.Reference, pair.Rows)
	}
	// West's completion: 0 of 5 (shown with min cell 1), ratio 0 with no
	// Katz interval (a zero count).
	west := rep.Tables[1].Rows[3]
	if west.Label != "West" || west.Numerator != 0 || west.Denominator != 5 || !sameF(west.RateRatio, fig(0)) || west.RatioCI != nil {
		t.Errorf("West completion = %+v", west)
	}
}

func TestDisparitiesErrors(t *testing.T) {
	d := handFixture(t)
	tests := []struct {
		name string
		q    DisparityQuery
		kind cc.Kind
	}{
		{"no vaccine", DisparityQuery{Dose: 1}, cc.Invalid},
		{"dose 100", DisparityQuery{Vaccine: cvx140, Dose: 100}, cc.Invalid},
		{"bad dimension", DisparityQuery{Vaccine: cvx140, Dose: 1, Tables: [][]string{{"county"}}}, cc.Invalid},
		{"triple", DisparityQuery{Vaccine: cvx140, Dose: 1, Tables: [][]string{{DimRegion, DimSex, DimQuintile}}}, cc.Invalid},
		{"age without year", DisparityQuery{Vaccine: cvx140, Dose: 1, Tables: [][]string{{DimAgeBand}}}, cc.Invalid},
		{"top", DisparityQuery{Vaccine: cvx140, Dose: 1, Top: 101}, cc.Invalid},
		{"unknown code", DisparityQuery{Vaccine: "999", Dose: 1, AsOf: 2026}, cc.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := d.Disparities(tt.q); cc.KindOf(err) != tt.kind {
				t.Errorf("err = %v, want kind %v", err, tt.kind)
			}
		})
	}
}

func TestParseDisparityTables(t *testing.T) {
	tests := []struct {
		in   string
		want [][]string
		ok   bool
	}{
		{"", nil, true},
		{"region", [][]string{{"region"}}, true},
		{"region, quintile+sex", [][]string{{"region"}, {"quintile", "sex"}}, true},
		{"region+", nil, false},
		{"a+b+c", nil, false},
	}
	for _, tt := range tests {
		got, err := ParseDisparityTables(tt.in)
		if (err == nil) != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseDisparityTables(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestWilsonKatzEdges(t *testing.T) {
	// 0/10 and 10/10: the Wilson interval is [0, z²/n/(1 + z²/n)] =
	// [0, 0.3841458821/1.3841458821] = [0, 0.2775327999] and its mirror.
	if got := wilson(0, 10); !sameI(&got, ival(0, 0.2775327998628892)) {
		t.Errorf("wilson(0, 10) = %+v", got)
	}
	if got := wilson(10, 10); !sameI(&got, ival(0.7224672001371107, 1)) {
		t.Errorf("wilson(10, 10) = %+v", got)
	}
	if rr, _, ok := katz(0, 10, 5, 10); ok || rr != 0 {
		t.Errorf("katz(0, 10, 5, 10) = %v, %v; want 0 without an interval", rr, ok)
	}
}

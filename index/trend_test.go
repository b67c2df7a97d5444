package index

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	cc "carechain"
	"carechain/supply"
)

// trendPopulation writes a small hand-checked population of cvx140
// (weeks start on Monday 2026-03-02, 03-09 and 03-16):
//
//	North (Northbridge), 30 people: dose 1 for 12 on 03-03, 3 on 03-10,
//	  10 on 03-17, 5 none; the first 12 have dose 2 on 03-17.
//	East (Eastfield), 17 people: dose 1 for 11 on 03-04, 2 on 03-18, and 2
//	  whose dose this node holds no date for (undated); 2 none.
func trendPopulation(t *testing.T) *DB {
	t.Helper()
	d, _ := openDB(t)
	l := newLedger(t)
	var people []Person
	var adms []supply.Administration
	var occ []Occurrence
	dose := func(p cc.DID, id, day string) {
		rec := "Immunization/" + id
		adms = append(adms, supply.Administration{RecordID: rec, Patient: p, Org: "clinic", Vaccine: cvx140, Year: 2026})
		if day != "" {
			occ = append(occ, Occurrence{RecordID: rec, Date: day})
		}
	}
	for i := range 30 {
		p := Person{DID: did(fmt.Sprint("tn", i)), BirthDate: "1990", Sex: "female", Area: "Northbridge"}
		people = append(people, p)
		switch {
		case i < 12:
			dose(p.DID, fmt.Sprint("tn", i, "a"), "2026-03-03")
			dose(p.DID, fmt.Sprint("tn", i, "b"), "2026-03-17")
		case i < 15:
			dose(p.DID, fmt.Sprint("tn", i, "a"), "2026-03-10")
		case i < 25:
			dose(p.DID, fmt.Sprint("tn", i, "a"), "2026-03-17")
		}
	}
	for i := range 17 {
		p := Person{DID: did(fmt.Sprint("te", i)), BirthDate: "1990", Sex: "male", Area: "Eastfield"}
		people = append(people, p)
		switch {
		case i < 11:
			dose(p.DID, fmt.Sprint("te", i, "a"), "2026-03-04")
		case i < 13:
			dose(p.DID, fmt.Sprint("te", i, "a"), "2026-03-18")
		case i < 15:
			dose(p.DID, fmt.Sprint("te", i, "a"), "")
		}
	}
	l.administer(t, adms...)
	mustSync(t, d, l)
	if err := d.UpsertPeople(people); err != nil {
		t.Fatal(err)
	}
	if err := d.UpsertOccurrences(occ); err != nil {
		t.Fatal(err)
	}
	return d
}

// cellString renders a point's cell as "num/den" or "-" when suppressed.
func cellString(g CoverageGroup) string {
	if g.Suppressed {
		return "-"
	}
	return fmt.Sprintf("%d/%d", g.Numerator, g.Denominator)
}

func trendTable(rep *TrendReport) []string {
	var out []string
	for _, p := range rep.Points {
		s := p.Period + " total " + cellString(p.Total)
		for _, g := range p.Groups {
			s += " " + g.Group[DimRegion] + " " + cellString(g)
		}
		out = append(out, s)
	}
	return out
}

func TestTrendByWeekAndRegion(t *testing.T) {
	d := trendPopulation(t)
	rep, err := d.Trend(TrendQuery{Vaccine: "140", Dose: 1, By: []string{DimRegion}})
	if err != nil {
		t.Fatal(err)
	}
	// Cumulative dose 1: total 23, 26, 38 of 47; North 12, 15, 25 of 30;
	// East 11, 11, 13 of 17. Week 2: the total and North grew by 3
	// (suppressed), so East, alone left, is suppressed too. Week 3: East
	// grew by 2 (suppressed), so North is too; the total grew by 15 since
	// the last shown (23).
	want := []string{
		"2026-03-02 total 23/47 East 11/17 North 12/30",
		"2026-03-09 total - East - North -",
		"2026-03-16 total 38/47 East - North -",
	}
	if got := trendTable(rep); !reflect.DeepEqual(got, want) {
		t.Fatalf("weekly trend:\n got %q\nwant %q", got, want)
	}
	if rep.Vaccine != cvx140 || rep.Interval != IntervalWeek || rep.MinCell != DefaultMinCell {
		t.Fatalf("report header: %+v", rep)
	}
	if rep.Undated != 0 || !rep.UndatedSuppressed {
		t.Fatalf("2 undated people must be suppressed: %d %v", rep.Undated, rep.UndatedSuppressed)
	}
	if r := rep.Points[0].Total.Rate; r == nil || *r != 23.0/47 {
		t.Fatalf("rate of week 1: %v", r)
	}
}

func TestTrendByMonthDoseTwoAndOverall(t *testing.T) {
	d := trendPopulation(t)
	rep, err := d.Trend(TrendQuery{Vaccine: cvx140, Dose: 1, By: []string{DimRegion}, Interval: IntervalMonth})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2026-03-01 total 38/47 East 13/17 North 25/30"}
	if got := trendTable(rep); !reflect.DeepEqual(got, want) {
		t.Fatalf("monthly trend:\n got %q\nwant %q", got, want)
	}
	// Dose 2: 12 North people in the week of 03-16; East 0 (shown: a zero
	// numerator over 17).
	rep, err = d.Trend(TrendQuery{Vaccine: cvx140, Dose: 2, By: []string{DimRegion}})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"2026-03-16 total 12/47 East 0/17 North 12/30"}
	if got := trendTable(rep); !reflect.DeepEqual(got, want) {
		t.Fatalf("dose 2 trend:\n got %q\nwant %q", got, want)
	}
	// Overall, a smaller threshold shows week 2 (grew by 3 ≥ 2).
	rep, err = d.Trend(TrendQuery{Vaccine: cvx140, Dose: 1, MinCell: 2})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"2026-03-02 total 23/47", "2026-03-09 total 26/47", "2026-03-16 total 38/47"}
	if got := trendTable(rep); !reflect.DeepEqual(got, want) {
		t.Fatalf("overall trend:\n got %q\nwant %q", got, want)
	}
	if rep.Undated != 2 || rep.UndatedSuppressed {
		t.Fatalf("undated with min_cell 2: %d %v", rep.Undated, rep.UndatedSuppressed)
	}
	// A corrected date moves the dose: the 3 of week 2 go to week 1.
	var occ []Occurrence
	for i := 12; i < 15; i++ {
		occ = append(occ, Occurrence{RecordID: fmt.Sprint("Immunization/tn", i, "a"), Date: "2026-03-08"})
	}
	if err := d.UpsertOccurrences(occ); err != nil {
		t.Fatal(err)
	}
	rep, err = d.Trend(TrendQuery{Vaccine: cvx140, Dose: 1, MinCell: 2})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"2026-03-02 total 26/47", "2026-03-09 total 26/47", "2026-03-16 total 38/47"}
	if got := trendTable(rep); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the correction:\n got %q\nwant %q", got, want)
	}
}

func TestTrendErrors(t *testing.T) {
	d := trendPopulation(t)
	for _, q := range []TrendQuery{
		{Vaccine: cvx140, Dose: 1, Interval: "day"},
		{Vaccine: cvx140, Dose: 0},
		{Vaccine: cvx140, Dose: 1, By: []string{DimAgeBand}},
		{Vaccine: cvx140, Dose: 1, By: []string{"city"}},
	} {
		if _, err := d.Trend(q); !cc.Is(cc.Invalid, err) {
			t.Errorf("%+v: want Invalid, got %v", q, err)
		}
	}
	if _, err := d.Trend(TrendQuery{Vaccine: "999", Dose: 1}); !cc.Is(cc.NotFound, err) {
		t.Errorf("unknown vaccine: %v", err)
	}
	for _, o := range []Occurrence{{RecordID: "", Date: "2026-03-01"}, {RecordID: "Immunization/x", Date: "2026-3-1"}} {
		if err := d.UpsertOccurrences([]Occurrence{o}); !cc.Is(cc.Invalid, err) {
			t.Errorf("%+v: want Invalid, got %v", o, err)
		}
	}
	// A vaccine with no dated doses: no points.
	rep, err := d.Trend(TrendQuery{Vaccine: "http://hl7.org/fhir/sid/cvx|208", Dose: 1})
	if err != nil || len(rep.Points) != 0 {
		t.Fatalf("no doses: %+v %v", rep, err)
	}
}

func TestPeriodStart(t *testing.T) {
	for _, c := range []struct{ day, interval, want string }{
		{"2026-03-02", IntervalWeek, "2026-03-02"}, // a Monday
		{"2026-03-08", IntervalWeek, "2026-03-02"}, // the Sunday after
		{"2026-01-01", IntervalWeek, "2025-12-29"},
		{"2026-03-31", IntervalMonth, "2026-03-01"},
	} {
		day, _ := time.Parse(time.DateOnly, c.day)
		if got := periodStart(day, c.interval).Format("2006-01-02"); got != c.want {
			t.Errorf("periodStart(%s, %s) = %s, want %s", c.day, c.interval, got, c.want)
		}
	}
}

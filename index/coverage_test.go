package index

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	cc "carechain"
	"carechain/supply"
)

const cvx140 = "http://hl7.org/fhir/sid/cvx|140"

// cohort is a block of register entries and their doses of cvx140.
type cohort struct {
	name      string
	n         int
	birth     string
	sex, area string
	doses     []int // doses[i] of the first len(doses) people (the rest none)
}

// The hand-checked population (as of 2026):
//
//	Northbridge (North, q2): 40 female b. 2000 (30 with 2 doses, 5 with 1),
//	                         30 male b. 2000 (15 with 1)
//	Eastfield (East, q1):    20 female b. 1950 (12 with 1), 5 male b. 2020 (3 with 1)
//	Riverside (South, q3):   25 female b. 2015-06-01 (20 with 1)
//	Atlantis (not listed):   12 people, no sex or birth date (none)
//	unregistered:            4 patients with 1 dose
//
// The first doses of Northbridge women are linked, the rest unlinked.
var cohorts = []cohort{
	{"nbf", 40, "2000", "female", "Northbridge", append(rep(30, 2), rep(5, 1)...)},
	{"nbm", 30, "2000", "male", "northbridge", rep(15, 1)},
	{"eff", 20, "1950-02-03", "female", "D04", rep(12, 1)},
	{"efm", 5, "2020", "male", "Eastfield", rep(3, 1)},
	{"rsf", 25, "2015-06-01", "female", "Riverside", rep(20, 1)},
	{"atl", 12, "", "", "Atlantis", nil},
}

func rep(n, v int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// population returns the register and writes the administrations to l,
// one block per cohort.
func population(t testing.TB, l *ledger) []Person {
	var people []Person
	for _, c := range cohorts {
		var adms []supply.Administration
		for i := range c.n {
			p := Person{DID: did(fmt.Sprint(c.name, i)), BirthDate: c.birth, Sex: c.sex, Area: c.area}
			people = append(people, p)
			if i < len(c.doses) {
				for k := range c.doses[i] {
					adms = append(adms, supply.Administration{
						RecordID: fmt.Sprintf("Immunization/%s-%d-%d", c.name, i, k),
						Patient:  p.DID, Org: "clinic", Vaccine: cvx140, Year: 2026,
						Linked: c.name == "nbf" && k == 0,
					})
				}
			}
		}
		if len(adms) > 0 {
			l.administer(t, adms...)
		}
	}
	var un []supply.Administration
	for i := range 4 {
		un = append(un, supply.Administration{RecordID: fmt.Sprint("Immunization/un-", i),
			Patient: did(fmt.Sprint("unregistered", i)), Org: "clinic", Vaccine: cvx140, Year: 2026})
	}
	// A re-recorded Immunization (same record id) and one without a
	// vaccine code: neither counts.
	un = append(un,
		supply.Administration{RecordID: "Immunization/un-0", Patient: did("unregistered0"), Org: "clinic", Vaccine: cvx140},
		supply.Administration{RecordID: "Immunization/nocode", Patient: did("unregistered0"), Org: "clinic"})
	l.administer(t, un...)
	return people
}

func covFixture(t *testing.T) *DB {
	t.Helper()
	l := newLedger(t)
	people := population(t, l)
	d, _ := openDB(t)
	if err := d.UpsertPeople(people); err != nil {
		t.Fatal(err)
	}
	mustSync(t, d, l)
	return d
}

// row is a compact expected group: the values of By, den, num (−1, −1
// when suppressed).
type row struct {
	vals     string // "|"-joined
	den, num int64
}

func rowsOf(r *CoverageReport) []row {
	var out []row
	for _, g := range r.Groups {
		var vals []string
		for _, dim := range r.By {
			vals = append(vals, g.Group[dim])
		}
		x := row{strings.Join(vals, "|"), g.Denominator, g.Numerator}
		if g.Suppressed {
			x.den, x.num = -1, -1
		}
		out = append(out, x)
	}
	return out
}

func TestCoverageGroups(t *testing.T) {
	d := covFixture(t)
	const sup = -1
	tests := []struct {
		name string
		q    CoverageQuery
		want []row
	}{
		{"region", CoverageQuery{Vaccine: cvx140, Dose: 1, By: []string{DimRegion}},
			// unknown (12 + 4 unregistered, 4 vaccinated) is suppressed, so
			// the smallest other numerator (East, 15) is too.
			[]row{{"East", sup, sup}, {"North", 70, 50}, {"South", 25, 20}, {"unknown", sup, sup}}},
		{"quintile", CoverageQuery{Vaccine: cvx140, Dose: 1, By: []string{DimQuintile}},
			[]row{{"1", sup, sup}, {"2", 70, 50}, {"3", 25, 20}, {"unknown", sup, sup}}},
		{"region x sex cascades", CoverageQuery{Vaccine: cvx140, Dose: 1, By: []string{DimRegion, DimSex}},
			// East/male (3) is suppressed; North/male then (lone one among
			// males), then North/female and East/female (lone ones in
			// their regions). unknown/unknown is alone in both lines.
			[]row{{"East|female", sup, sup}, {"East|male", sup, sup}, {"North|female", sup, sup},
				{"North|male", sup, sup}, {"South|female", 25, 20}, {"unknown|unknown", sup, sup}}},
		{"age band", CoverageQuery{Vaccine: cvx140, Dose: 1, By: []string{DimAgeBand}, AsOf: 2026},
			[]row{{"5-11", 30, 23}, {"18-49", 70, 50}, {"65+", sup, sup}, {"unknown", sup, sup}}},
		{"dose 2 by sex", CoverageQuery{Vaccine: cvx140, Dose: 2, By: []string{DimSex}},
			[]row{{"female", 85, 30}, {"male", 35, 0}, {"unknown", 16, 0}}},
		{"bare code, min cell 1", CoverageQuery{Vaccine: "140", Dose: 1, By: []string{DimSex}, MinCell: 1},
			[]row{{"female", 85, 67}, {"male", 35, 18}, {"unknown", 16, 4}}},
		{"overall", CoverageQuery{Vaccine: cvx140, Dose: 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := d.Coverage(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := rowsOf(r); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("groups:\n got %v\nwant %v", got, tt.want)
			}
			if r.Total.Denominator != 136 && tt.q.Dose == 1 {
				t.Errorf("total denominator = %d, want 136", r.Total.Denominator)
			}
			if tt.q.Dose == 1 && r.Total.Numerator != 89 {
				t.Errorf("total numerator = %d, want 89", r.Total.Numerator)
			}
			if r.Vaccine != cvx140 || r.Linked != 35 || r.Unlinked != 84 {
				t.Errorf("vaccine %s linked %d unlinked %d, want %s 35 84", r.Vaccine, r.Linked, r.Unlinked, cvx140)
			}
			wantUnreg := int64(4)
			if tt.q.Dose == 2 {
				wantUnreg = 0
			}
			if r.Unregistered != wantUnreg {
				t.Errorf("unregistered = %d, want %d", r.Unregistered, wantUnreg)
			}
		})
	}
}

func near(got *float64, want float64) bool {
	return got != nil && math.Abs(*got-want) < 1e-9
}

func TestCoverageDisparities(t *testing.T) {
	d := covFixture(t)
	r, err := d.Coverage(CoverageQuery{Vaccine: cvx140, Dose: 1, By: []string{DimRegion}, Target: 900})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Reference, map[string]string{DimRegion: "South"}) {
		t.Errorf("reference = %v, want South", r.Reference)
	}
	north := r.Groups[1]
	for _, c := range []struct {
		name string
		got  *float64
		want float64
	}{
		{"north rate", north.Rate, 50.0 / 70},
		{"north ratio", north.RateRatio, (50.0 / 70) / 0.8},
		{"north difference", north.RateDifference, 50.0/70 - 0.8},
		{"north gap", north.GapToTarget, 0.9 - 50.0/70},
		{"south ratio", r.Groups[2].RateRatio, 1},
		{"south difference", r.Groups[2].RateDifference, 0},
		{"south gap", r.Groups[2].GapToTarget, 0.1},
		{"total rate", r.Total.Rate, 89.0 / 136},
		{"total gap", r.Total.GapToTarget, 0.9 - 89.0/136},
	} {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	east := r.Groups[0]
	if !east.Suppressed || east.Numerator != 0 || east.Denominator != 0 || east.Rate != nil || east.RateRatio != nil {
		t.Errorf("suppressed East shows %+v", east)
	}
	if r.Total.RateRatio != nil {
		t.Errorf("the total has a rate ratio")
	}
}

func TestCoverageRegisterLater(t *testing.T) {
	// Registering people after their doses are indexed, or changing their
	// entry, gives the same aggregates as registering them first.
	l := newLedger(t)
	people := population(t, l)
	first := covFixture(t)
	d, _ := openDB(t)
	mustSync(t, d, l)
	scrambled := append([]Person{}, people...)
	for i := range scrambled {
		scrambled[i].Area, scrambled[i].Sex = "Oakridge", "other"
	}
	if err := d.UpsertPeople(scrambled); err != nil {
		t.Fatal(err)
	}
	if err := d.UpsertPeople(people); err != nil {
		t.Fatal(err)
	}
	q := CoverageQuery{Vaccine: cvx140, Dose: 1, By: []string{DimRegion, DimSex, DimAgeBand, DimQuintile}, AsOf: 2026, MinCell: 1}
	want, err := first.Coverage(q)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Coverage(q)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("late registration:\n got %+v\nwant %+v", rowsOf(got), rowsOf(want))
	}

	// Registering one of the unregistered patients moves them out of
	// "unknown".
	if err := d.UpsertPeople([]Person{{DID: did("unregistered0"), BirthDate: "2015", Sex: "female", Area: "riverside"}}); err != nil {
		t.Fatal(err)
	}
	r, err := d.Coverage(CoverageQuery{Vaccine: cvx140, Dose: 1, By: []string{DimRegion}, MinCell: 1})
	if err != nil {
		t.Fatal(err)
	}
	wantRows := []row{{"East", 25, 15}, {"North", 70, 50}, {"South", 26, 21}, {"unknown", 15, 3}}
	if g := rowsOf(r); !reflect.DeepEqual(g, wantRows) || r.Unregistered != 3 || r.Total.Denominator != 136 {
		t.Errorf("after registering: %v unregistered %d total %d, want %v 3 136", g, r.Unregistered, r.Total.Denominator, wantRows)
	}
}

func TestCoverageErrors(t *testing.T) {
	d := covFixture(t)
	l := newLedger(t)
	l.administer(t, supply.Administration{RecordID: "Immunization/x", Patient: did("x"), Vaccine: "urn:other|140"})
	d2, _ := openDB(t)
	mustSync(t, d2, l)
	tests := []struct {
		name string
		db   *DB
		q    CoverageQuery
		kind cc.Kind
	}{
		{"no vaccine", d, CoverageQuery{Dose: 1}, cc.Invalid},
		{"dose 0", d, CoverageQuery{Vaccine: cvx140}, cc.Invalid},
		{"bad dim", d, CoverageQuery{Vaccine: cvx140, Dose: 1, By: []string{"postcode"}}, cc.Invalid},
		{"dim twice", d, CoverageQuery{Vaccine: cvx140, Dose: 1, By: []string{DimSex, DimSex}}, cc.Invalid},
		{"age without year", d, CoverageQuery{Vaccine: cvx140, Dose: 1, By: []string{DimAgeBand}}, cc.Invalid},
		{"target", d, CoverageQuery{Vaccine: cvx140, Dose: 1, Target: 1001}, cc.Invalid},
		{"unknown code", d, CoverageQuery{Vaccine: "999", Dose: 1}, cc.NotFound},
		{"like metacharacters", d, CoverageQuery{Vaccine: "1%", Dose: 1}, cc.NotFound},
	}
	for _, tt := range tests {
		if _, err := tt.db.Coverage(tt.q); !cc.Is(tt.kind, err) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.kind)
		}
	}
	// Ambiguous bare code: two systems with code 140.
	l.administer(t, supply.Administration{RecordID: "Immunization/y", Patient: did("y"), Vaccine: cvx140})
	mustSync(t, d2, l)
	if _, err := d2.Coverage(CoverageQuery{Vaccine: "140", Dose: 1}); !cc.Is(cc.Invalid, err) {
		t.Errorf("ambiguous code: err = %v, want invalid", err)
	}
	// A system|code with no doses yet is coverage 0, not an error.
	r, err := d.Coverage(CoverageQuery{Vaccine: "http://hl7.org/fhir/sid/cvx|208", Dose: 1, MinCell: 1})
	if err != nil || r.Total.Numerator != 0 || r.Total.Denominator != 136 {
		t.Errorf("no doses yet: %+v, %v", r, err)
	}
}

func TestPeopleAndAreas(t *testing.T) {
	d, _ := openDB(t)
	bad := []Person{
		{DID: "did:cc:short"},
		{DID: did("a"), BirthDate: "20-01-01"},
		{DID: did("a"), Sex: "f"},
	}
	for i, p := range bad {
		if err := d.UpsertPeople([]Person{p}); !cc.Is(cc.Invalid, err) {
			t.Errorf("bad[%d]: err = %v, want invalid", i, err)
		}
	}
	areas, err := d.Areas()
	if err != nil || len(areas) != 12 {
		t.Fatalf("embedded areas: %d, %v", len(areas), err)
	}
	regions := map[string]int{}
	for _, a := range areas {
		regions[a.Region]++
	}
	if len(regions) != 4 {
		t.Errorf("regions = %v, want 4", regions)
	}
	for _, in := range []string{
		"",
		"code,name,region\nA,B,C\n",
		"code,name,region,quintile\nA,B,C,6\n",
		"code,name,region,quintile\nA,B,C,1\nB,D,C,2\n",
		"code,name,region,quintile\nA,,C,1\n",
	} {
		if err := d.LoadAreas(strings.NewReader(in)); !cc.Is(cc.Invalid, err) {
			t.Errorf("LoadAreas(%q): err = %v, want invalid", in, err)
		}
	}
	// A replaced table applies at once to the people already registered.
	l := newLedger(t)
	l.administer(t, supply.Administration{RecordID: "Immunization/p", Patient: did("p"), Vaccine: cvx140})
	mustSync(t, d, l)
	if err := d.UpsertPeople([]Person{{DID: did("p"), Area: "Springfield"}}); err != nil {
		t.Fatal(err)
	}
	q := CoverageQuery{Vaccine: cvx140, Dose: 1, By: []string{DimRegion, DimQuintile}, MinCell: 1}
	r, _ := d.Coverage(q)
	if got := rowsOf(r); !reflect.DeepEqual(got, []row{{"unknown|unknown", 1, 1}}) {
		t.Errorf("before LoadAreas: %v", got)
	}
	if err := d.LoadAreas(strings.NewReader("code,name,region,quintile\nS1,Springfield,Central,4\n")); err != nil {
		t.Fatal(err)
	}
	r, _ = d.Coverage(q)
	if got := rowsOf(r); !reflect.DeepEqual(got, []row{{"Central|4", 1, 1}}) {
		t.Errorf("after LoadAreas: %v", got)
	}
}

func TestAgeBand(t *testing.T) {
	for _, c := range []struct {
		born int
		want string
	}{
		{0, Unknown}, {2027, Unknown}, {2026, "0-1"}, {2025, "0-1"}, {2024, "2-4"}, {2022, "2-4"},
		{2021, "5-11"}, {2015, "5-11"}, {2014, "12-17"}, {2009, "12-17"}, {2008, "18-49"},
		{1977, "18-49"}, {1976, "50-64"}, {1962, "50-64"}, {1961, "65+"}, {1900, "65+"},
	} {
		if got := AgeBand(2026, c.born); got != c.want {
			t.Errorf("AgeBand(2026, %d) = %s, want %s", c.born, got, c.want)
		}
	}
}

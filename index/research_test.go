package index

import (
	"slices"
	"testing"

	cc "carechain"
)

func TestSubjects(t *testing.T) {
	d := covFixture(t)
	dids := []cc.DID{did("rsf0"), did("atl0"), did("unregistered1"), did("nobody")}
	got, err := d.Subjects(dids, 2026, "140")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		birth  int
		region string
		sex    string
		band   string
		doses  int
	}{
		{2015, "South", "female", "5-11", 1},
		{0, Unknown, SexUnknown, Unknown, 0},
		{0, Unknown, Unknown, Unknown, 1},
		{0, Unknown, Unknown, Unknown, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d subjects, want %d", len(got), len(want))
	}
	for i, w := range want {
		s := got[i]
		if s.DID != dids[i] || s.BirthYear != w.birth || s.Strata[DimRegion] != w.region || s.Strata[DimSex] != w.sex || s.Strata[DimAgeBand] != w.band || s.Doses != w.doses {
			t.Errorf("subject %d = %+v, want %+v", i, s, w)
		}
	}
	// An unknown vaccine gives no doses rather than an error.
	if got, err := d.Subjects(dids[:1], 2026, "999"); err != nil || got[0].Doses != 0 {
		t.Errorf("unknown vaccine: %+v, %v", got, err)
	}
	dom, err := d.StrataDomains()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dom[DimRegion], []string{"East", "North", "South", "West", Unknown}) || len(dom[DimAgeBand]) != len(AgeBands)+1 || len(dom[DimQuintile]) != 6 {
		t.Errorf("domains = %v", dom)
	}
}

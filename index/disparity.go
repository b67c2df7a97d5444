package index

import (
	"context"
	"database/sql"
	"slices"
	"strconv"
	"strings"

	cc "carechain"
)

// DisparityQuery asks for a disparities report of one dose of one
// vaccine: coverage and dose completion by group, with confidence
// intervals, rate ratios and the groups furthest from target.
type DisparityQuery struct {
	// Vaccine, Dose, AsOf, Target and MinCell are as in CoverageQuery;
	// Dose is at most 99 (completion looks at Dose+1).
	Vaccine string
	Dose    int
	AsOf    int
	Target  int
	MinCell int
	// Tables lists the groupings, each one dimension or a pair (e.g.
	// {{"region"}, {"region", "sex"}}); empty means region, age band, sex
	// and deprivation quintile one by one. At most MaxDisparityTables.
	Tables [][]string
	// Top bounds the ranking of the groups furthest from target; 0 means
	// DefaultTop.
	Top int
}

// MaxDisparityTables bounds the groupings of one report.
const MaxDisparityTables = 12

// DefaultTop is the default length of the furthest-from-target ranking.
const DefaultTop = 5

// DefaultDisparityTables are the groupings of a report that names none.
var DefaultDisparityTables = [][]string{{DimRegion}, {DimAgeBand}, {DimSex}, {DimQuintile}}

// ParseDisparityTables parses groupings written as "region,quintile" or
// with pairs joined by '+' ("region+sex"); "" gives nil (the default). A
// malformed list is cc.Invalid (the dimensions themselves are checked by
// Disparities).
func ParseDisparityTables(s string) ([][]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out [][]string
	for _, t := range strings.Split(s, ",") {
		dims := strings.Split(strings.TrimSpace(t), "+")
		for i := range dims {
			dims[i] = strings.TrimSpace(dims[i])
		}
		if len(dims) > 2 || slices.Contains(dims, "") {
			return nil, cc.Errorf("index.disparities", cc.Invalid, "grouping %q must be one dimension or two joined by +", cc.Echo(t))
		}
		out = append(out, dims)
	}
	return out, nil
}

// Disparities computes the report q asks for from one snapshot of the read
// model. Each grouping gives two tables: coverage of Dose (with the gap to
// Target) and completion of Dose+1 among the people with Dose. Suppression
// is the coverage report's (see the package documentation): a suppressed
// cell shows no counts and no figures. The statistics are in stats.go
// (Wilson score intervals, Katz rate-ratio intervals, Newcombe
// difference intervals). A bad query is cc.Invalid; an unknown vaccine
// code cc.NotFound.
func (d *DB) Disparities(q DisparityQuery) (*cc.DisparityReport, error) {
	const op = "index.disparities"
	if q.Dose > 99 {
		return nil, cc.Errorf(op, cc.Invalid, "dose must be 1 to 99")
	}
	if q.Top < 0 || q.Top > 100 {
		return nil, cc.Errorf(op, cc.Invalid, "top must be 0 to 100")
	}
	if q.Top == 0 {
		q.Top = DefaultTop
	}
	tables := q.Tables
	if len(tables) == 0 {
		tables = DefaultDisparityTables
	}
	if len(tables) > MaxDisparityTables {
		return nil, cc.Errorf(op, cc.Invalid, "at most %d groupings", MaxDisparityTables)
	}
	base := CoverageQuery{Vaccine: q.Vaccine, Dose: q.Dose, AsOf: q.AsOf, Target: q.Target, MinCell: q.MinCell}
	for _, by := range tables {
		if len(by) == 0 || len(by) > 2 {
			return nil, cc.Errorf(op, cc.Invalid, "a grouping is one dimension or a pair")
		}
		cq := base
		cq.By = by
		if err := checkCoverageQuery(&cq); err != nil {
			return nil, err
		}
	}
	if err := checkCoverageQuery(&base); err != nil {
		return nil, err
	}
	ctx := context.Background()
	tx, err := d.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	defer tx.Rollback()
	rep := &cc.DisparityReport{Dose: q.Dose, AsOf: q.AsOf, Target: q.Target, MinCell: base.MinCell,
		Confidence: 0.95, Methods: slices.Clone(statsMethods), Tables: []cc.DisparityTable{},
		Furthest: []cc.RankedGroup{}}
	for i, by := range tables {
		cq := base
		cq.By = slices.Clone(by)
		cov, err := d.coverageIn(ctx, tx, cq)
		if err != nil {
			return nil, err
		}
		cq.Dose++
		next, err := d.coverageIn(ctx, tx, cq)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			rep.Vaccine, rep.Height = cov.Vaccine, cov.Height
			rep.Linked, rep.Unlinked, rep.Unregistered = cov.Linked, cov.Unlinked, cov.Unregistered
		}
		rep.Tables = append(rep.Tables, coverageTable(cov), completionTable(cov, next))
	}
	rep.Furthest = furthest(rep, q.Top)
	return rep, nil
}

// counts is a cell of a table under construction: its group, whether it
// is suppressed, and its counts.
type counts struct {
	group      map[string]string
	suppressed bool
	num, den   int64
}

// coverageTable is the coverage table of a coverage report.
func coverageTable(r *CoverageReport) cc.DisparityTable {
	cells := make([]counts, len(r.Groups))
	for i, g := range r.Groups {
		cells[i] = counts{g.Group, g.Suppressed, g.Numerator, g.Denominator}
	}
	total := counts{nil, r.Total.Suppressed, r.Total.Numerator, r.Total.Denominator}
	title := "Coverage of dose " + itoa(r.Dose) + " of " + r.Vaccine + " by " + dimsTitle(r.By)
	return table(cc.MeasureCoverage, title, r.By, total, cells, r.Target)
}

// completionTable is the table of dose Dose+1 among the people with dose
// Dose: per group, next's numerator over cov's. A cell is suppressed when
// either coverage cell is, or on its own counts (numerator 1 to
// MinCell−1, denominator below MinCell). Both counts are ones the two
// coverage reports publish, so the table discloses nothing more.
func completionTable(cov, next *CoverageReport) cc.DisparityTable {
	min := int64(cov.MinCell)
	byKey := map[string]CoverageGroup{}
	for _, g := range next.Groups {
		byKey[groupKey(next.By, g.Group)] = g
	}
	cell := func(c, n CoverageGroup, ok bool) counts {
		out := counts{group: c.Group, num: n.Numerator, den: c.Numerator}
		out.suppressed = c.Suppressed || !ok || n.Suppressed || small(out.num, min) || out.den < min
		if out.suppressed {
			out.num, out.den = 0, 0
		}
		return out
	}
	cells := make([]counts, len(cov.Groups))
	for i, g := range cov.Groups {
		n, ok := byKey[groupKey(cov.By, g.Group)]
		if !ok { // nobody of the group has dose Dose+1
			n, ok = CoverageGroup{Group: g.Group}, true
		}
		cells[i] = cell(g, n, ok)
	}
	total := cell(cov.Total, next.Total, true)
	title := "Completion of dose " + itoa(cov.Dose+1) + " among people with dose " + itoa(cov.Dose) +
		" of " + cov.Vaccine + " by " + dimsTitle(cov.By)
	return table(cc.MeasureCompletion, title, cov.By, total, cells, 0)
}

// table computes the figures of a table's cells: rates and Wilson
// intervals, the reference, ratios and differences against it, and (with
// target > 0) the gap to target.
func table(measure, title string, by []string, total counts, cells []counts, target int) cc.DisparityTable {
	t := cc.DisparityTable{Measure: measure, Title: title, By: slices.Clone(by), Rows: []cc.DisparityRow{}}
	ref := -1
	var refRate float64
	for i, c := range cells {
		if c.suppressed || c.den == 0 || hasUnknown(c.group) {
			continue
		}
		if r := float64(c.num) / float64(c.den); ref < 0 || r > refRate {
			ref, refRate = i, r
		}
	}
	t.Total = figures(total, by, nil, target)
	t.Total.Label = "all"
	for i, c := range cells {
		var rc *counts
		if ref >= 0 {
			rc = &cells[ref]
		}
		row := figures(c, by, rc, target)
		if i == ref {
			row.Reference = true
			row.RatioCI, row.DifferenceCI = nil, nil
			t.Reference = row.Label
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// figures computes a row from c, against the reference ref when not nil.
func figures(c counts, by []string, ref *counts, target int) cc.DisparityRow {
	row := cc.DisparityRow{Group: c.group, Label: label(by, c.group), Suppressed: c.suppressed}
	if row.Group == nil {
		row.Group = map[string]string{}
	}
	if c.suppressed {
		return row
	}
	row.Numerator, row.Denominator = c.num, c.den
	if c.den == 0 {
		return row
	}
	rate := float64(c.num) / float64(c.den)
	ci := wilson(c.num, c.den)
	row.Rate, row.CI = &rate, &ci
	if ref != nil {
		refRate := float64(ref.num) / float64(ref.den)
		refCI := wilson(ref.num, ref.den)
		diff := rate - refRate
		dci := newcombe(rate, ci, refRate, refCI)
		row.RateDifference, row.DifferenceCI = &diff, &dci
		if ref.num > 0 {
			rr, rci, ok := katz(c.num, c.den, ref.num, ref.den)
			row.RateRatio = &rr
			if ok {
				row.RatioCI = &rci
			}
		}
	}
	if target > 0 {
		t := float64(target) / 1000
		gap := t - rate
		row.GapToTarget = &gap
		row.BelowTarget = ci.High < t
	}
	return row
}

// furthest ranks the unsuppressed coverage groups with no unknown value
// that are below target, the largest gap first (ties: table order, then
// row order), at most top of them.
func furthest(rep *cc.DisparityReport, top int) []cc.RankedGroup {
	out := []cc.RankedGroup{}
	for ti, t := range rep.Tables {
		if t.Measure != cc.MeasureCoverage {
			continue
		}
		for _, r := range t.Rows {
			if r.Suppressed || r.GapToTarget == nil || *r.GapToTarget <= 0 || hasUnknown(r.Group) {
				continue
			}
			out = append(out, cc.RankedGroup{Table: ti, By: t.By, Label: r.Label, Rate: *r.Rate, CI: *r.CI,
				Gap: *r.GapToTarget, BelowTarget: r.BelowTarget})
		}
	}
	slices.SortStableFunc(out, func(a, b cc.RankedGroup) int {
		switch {
		case a.Gap > b.Gap:
			return -1
		case a.Gap < b.Gap:
			return 1
		}
		return 0
	})
	if len(out) > top {
		out = out[:top]
	}
	for i := range out {
		out[i].Rank = i + 1
	}
	return out
}

func hasUnknown(g map[string]string) bool {
	for _, v := range g {
		if v == Unknown {
			return true
		}
	}
	return false
}

func groupKey(by []string, g map[string]string) string {
	vals := make([]string, len(by))
	for i, d := range by {
		vals[i] = g[d]
	}
	return strings.Join(vals, "\x00")
}

// label joins a group's values in the order of by: "North · 1".
func label(by []string, g map[string]string) string {
	vals := make([]string, 0, len(by))
	for _, d := range by {
		v := g[d]
		if d == DimQuintile && v != Unknown && v != "" {
			v = "Q" + v
		}
		vals = append(vals, v)
	}
	return strings.Join(vals, " · ")
}

// dimNames are the dimensions in words.
var dimNames = map[string]string{DimRegion: "region", DimAgeBand: "age band", DimSex: "sex",
	DimQuintile: "deprivation quintile (1 = most deprived)"}

func dimsTitle(by []string) string {
	names := make([]string, len(by))
	for i, d := range by {
		names[i] = dimNames[d]
	}
	return strings.Join(names, " and ")
}

func itoa(n int) string { return strconv.Itoa(n) }

package index

import (
	"context"
	"database/sql"
	"slices"
	"strconv"
	"strings"

	cc "carechain"
)

// The coverage dimensions.
const (
	DimRegion   = "region"
	DimAgeBand  = "age_band"
	DimSex      = "sex"
	DimQuintile = "quintile"
)

// AgeBands are the age bands, youngest first; a person's age is AsOf minus
// the birth year (the age reached during the AsOf year).
var AgeBands = []string{"0-1", "2-4", "5-11", "12-17", "18-49", "50-64", "65+"}

// DefaultMinCell is the smallest count shown: a smaller non-zero
// numerator, or a smaller denominator, is suppressed.
const DefaultMinCell = 11

// CoverageQuery asks for the coverage of one dose of one vaccine.
type CoverageQuery struct {
	// Vaccine is "system|code" (e.g. "http://hl7.org/fhir/sid/cvx|140")
	// or a bare code, which must match the code of exactly one system.
	Vaccine string
	// Dose (≥ 1): a person counts when they have at least Dose counted
	// administrations of Vaccine.
	Dose int
	// By lists the group-by dimensions, a subset of DimRegion,
	// DimAgeBand, DimSex and DimQuintile in the order the report keys
	// them; empty gives the overall figure only.
	By []string
	// AsOf is the year ages are computed at; required with DimAgeBand.
	AsOf int
	// Target is the target coverage in permille (900 = 90 %); 0 for none.
	Target int
	// MinCell is the suppression threshold (numerators 1 to MinCell−1
	// and denominators below MinCell are suppressed); 0 means
	// DefaultMinCell.
	MinCell int
}

// CoverageGroup is one cell of a coverage report. When Suppressed, the
// counts are 0 and the measures absent. The measures are absent too when
// they cannot be computed (no reference, no target).
type CoverageGroup struct {
	// Group holds the cell's value of each dimension of the query's By
	// ("unknown" where not known); empty for the total.
	Group       map[string]string `json:"group"`
	Denominator int64             `json:"denominator"`
	Numerator   int64             `json:"numerator"`
	Suppressed  bool              `json:"suppressed"`
	// Rate is Numerator / Denominator.
	Rate *float64 `json:"rate,omitempty"`
	// RateRatio and RateDifference compare Rate with the reference
	// group's: Rate / reference and Rate − reference.
	RateRatio      *float64 `json:"rate_ratio,omitempty"`
	RateDifference *float64 `json:"rate_difference,omitempty"`
	// GapToTarget is Target/1000 − Rate (positive: below target), when
	// the query has a target.
	GapToTarget *float64 `json:"gap_to_target,omitempty"`
}

// CoverageReport answers a CoverageQuery.
type CoverageReport struct {
	Vaccine string          `json:"vaccine"` // as resolved: system|code
	Dose    int             `json:"dose"`
	By      []string        `json:"by"`
	AsOf    int             `json:"as_of,omitempty"`
	Target  int             `json:"target_permille,omitempty"`
	MinCell int             `json:"min_cell"`
	Height  int64           `json:"height"` // the indexed height the figures are at
	Total   CoverageGroup   `json:"total"`
	Groups  []CoverageGroup `json:"groups"`
	// Reference is the best-covered unsuppressed group with no unknown
	// dimension value, against which RateRatio and RateDifference are
	// measured (absent when there is none).
	Reference map[string]string `json:"reference,omitempty"`
	// Linked and Unlinked count the counted administrations of the
	// vaccine taken from tracked stock or not.
	Linked   int64 `json:"linked"`
	Unlinked int64 `json:"unlinked"`
	// Unregistered counts the people in the numerator who are not in the
	// population register: they are in the "unknown" groups (and in
	// their denominators), never dropped.
	Unregistered int64 `json:"unregistered"`
}

// group is a coverage cell under construction.
type group struct {
	vals       []string
	num, den   int64
	suppressed bool
}

// Coverage computes q from the pre-aggregated tables (see the package
// documentation): it reads a few thousand rows whatever the population.
// A bad query is cc.Invalid; an unknown vaccine is cc.NotFound.
func (d *DB) Coverage(q CoverageQuery) (*CoverageReport, error) {
	const op = "index.coverage"
	if err := checkCoverageQuery(&q); err != nil {
		return nil, err
	}
	ctx := context.Background()
	tx, err := d.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	defer tx.Rollback()
	return d.coverageIn(ctx, tx, q)
}

// coverageIn computes the checked query q within the read transaction tx,
// so that several reports can share one snapshot.
func (d *DB) coverageIn(ctx context.Context, tx *sql.Tx, q CoverageQuery) (*CoverageReport, error) {
	const op = "index.coverage"
	vaccine, err := resolveVaccine(ctx, tx, q.Vaccine)
	if err != nil {
		return nil, err
	}
	rep := &CoverageReport{Vaccine: vaccine, Dose: q.Dose, By: slices.Clone(q.By), AsOf: q.AsOf,
		Target: q.Target, MinCell: q.MinCell, Groups: []CoverageGroup{}}
	if rep.Height, err = getMeta(ctx, tx, metaHeight); err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	if err := tx.QueryRowContext(ctx, "SELECT linked, unlinked FROM vaccine_stats WHERE vaccine = ?", vaccine).
		Scan(&rep.Linked, &rep.Unlinked); err != nil && err != sql.ErrNoRows {
		return nil, cc.E(op, cc.Internal, err)
	}
	areas, err := d.areaLookup(ctx, tx)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	groups := map[string]*group{}
	at := func(c cell) *group {
		vals := make([]string, len(q.By))
		for i, dim := range q.By {
			vals[i] = dimValue(dim, c, areas, q.AsOf)
		}
		k := strings.Join(vals, "\x00")
		g := groups[k]
		if g == nil {
			g = &group{vals: vals}
			groups[k] = g
		}
		return g
	}
	var total group
	err = scanCells(ctx, tx, "SELECT reg, birth_year, sex, area, n FROM pop_agg WHERE n != 0", nil, func(c cell, n int64) {
		at(c).den += n
		total.den += n
	})
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	err = scanCells(ctx, tx, "SELECT reg, birth_year, sex, area, n FROM cov_agg WHERE vaccine = ? AND doses >= ? AND n != 0",
		[]any{vaccine, q.Dose}, func(c cell, n int64) {
			at(c).num += n
			total.num += n
			if c.reg == 0 {
				rep.Unregistered += n
			}
		})
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	list := make([]*group, 0, len(groups))
	for _, g := range groups {
		if len(q.By) > 0 {
			list = append(list, g)
		}
	}
	slices.SortFunc(list, func(a, b *group) int { return compareVals(q.By, a.vals, b.vals) })
	suppress(list, len(q.By), int64(q.MinCell))
	total.suppressed = small(total.num, int64(q.MinCell)) || total.den < int64(q.MinCell)

	var ref *group
	var refRate float64
	for _, g := range list {
		if g.suppressed || g.den == 0 || slices.Contains(g.vals, Unknown) {
			continue
		}
		if r := float64(g.num) / float64(g.den); ref == nil || r > refRate {
			ref, refRate = g, r
		}
	}
	if ref != nil {
		rep.Reference = groupMap(q.By, ref.vals)
	}
	rep.Total = output(q, &total, nil, nil, 0)
	for _, g := range list {
		rep.Groups = append(rep.Groups, output(q, g, q.By, ref, refRate))
	}
	return rep, nil
}

// checkCoverageQuery validates q and fills in its defaults.
func checkCoverageQuery(q *CoverageQuery) error {
	const op = "index.coverage"
	if q.Vaccine == "" {
		return cc.Errorf(op, cc.Invalid, "a vaccine (system|code or code) is required")
	}
	if q.Dose < 1 || q.Dose > 100 {
		return cc.Errorf(op, cc.Invalid, "dose must be 1 to 100")
	}
	if q.Target < 0 || q.Target > 1000 {
		return cc.Errorf(op, cc.Invalid, "target must be 0 to 1000 permille")
	}
	if q.MinCell < 0 {
		return cc.Errorf(op, cc.Invalid, "min_cell must not be negative")
	}
	if q.MinCell == 0 {
		q.MinCell = DefaultMinCell
	}
	seen := map[string]bool{}
	for _, dim := range q.By {
		switch dim {
		case DimRegion, DimAgeBand, DimSex, DimQuintile:
		default:
			return cc.Errorf(op, cc.Invalid, "by %q must be region, age_band, sex or quintile", cc.Echo(dim))
		}
		if seen[dim] {
			return cc.Errorf(op, cc.Invalid, "by lists %s twice", dim)
		}
		seen[dim] = true
	}
	if seen[DimAgeBand] && (q.AsOf < 1800 || q.AsOf > 9999) {
		return cc.Errorf(op, cc.Invalid, "age bands need the as-of year")
	}
	return nil
}

// resolveVaccine returns the indexed "system|code" v names.
func resolveVaccine(ctx context.Context, tx *sql.Tx, v string) (string, error) {
	const op = "index.coverage"
	query, arg := "SELECT vaccine FROM vaccine_stats WHERE vaccine = ?", v
	if !strings.Contains(v, "|") {
		query, arg = "SELECT vaccine FROM vaccine_stats WHERE vaccine LIKE ? ESCAPE '\\'", "%|"+escapeLike(v)
	}
	rows, err := tx.QueryContext(ctx, query, arg)
	if err != nil {
		return "", cc.E(op, cc.Internal, err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return "", cc.E(op, cc.Internal, err)
		}
		if strings.Contains(v, "|") || s[strings.LastIndex(s, "|")+1:] == v {
			found = append(found, s)
		}
	}
	if err := rows.Err(); err != nil {
		return "", cc.E(op, cc.Internal, err)
	}
	switch len(found) {
	case 0:
		if strings.Contains(v, "|") {
			return v, nil // known vaccine code, no doses yet: coverage 0
		}
		return "", cc.Errorf(op, cc.NotFound, "no administrations of vaccine code %q; give system|code", cc.Echo(v))
	case 1:
		return found[0], nil
	}
	return "", cc.Errorf(op, cc.Invalid, "vaccine code %q is ambiguous (%s); give system|code", cc.Echo(v), strings.Join(found, ", "))
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s)
}

// scanCells runs query and calls fn with each row's cell and count.
func scanCells(ctx context.Context, tx *sql.Tx, query string, args []any, fn func(cell, int64)) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var c cell
		var n int64
		if err := rows.Scan(&c.reg, &c.birthYear, &c.sex, &c.area, &n); err != nil {
			return err
		}
		fn(c, n)
	}
	return rows.Err()
}

// dimValue is the value of dimension dim for population cell c.
func dimValue(dim string, c cell, areas map[string]Area, asOf int) string {
	switch dim {
	case DimRegion:
		if a, ok := areas[c.area]; ok {
			return a.Region
		}
		return Unknown
	case DimQuintile:
		if a, ok := areas[c.area]; ok {
			return strconv.Itoa(a.Quintile)
		}
		return Unknown
	case DimSex:
		return c.sex
	case DimAgeBand:
		return ageBand(asOf, c.birthYear)
	}
	return Unknown
}

// AgeBand returns the age band (one of AgeBands) of a person born in
// birthYear, in the year asOf ("unknown" without a birth year or when born
// after asOf): the bands coverage reports and programs' targets use.
func AgeBand(asOf, birthYear int) string { return ageBand(asOf, birthYear) }

// ageBand returns the age band of a person born in birthYear, in the year
// asOf ("unknown" without a birth year or when born after asOf).
func ageBand(asOf, birthYear int) string {
	age := asOf - birthYear
	switch {
	case birthYear == 0 || age < 0:
		return Unknown
	case age <= 1:
		return AgeBands[0]
	case age <= 4:
		return AgeBands[1]
	case age <= 11:
		return AgeBands[2]
	case age <= 17:
		return AgeBands[3]
	case age <= 49:
		return AgeBands[4]
	case age <= 64:
		return AgeBands[5]
	}
	return AgeBands[6]
}

// rank orders a dimension's values: age bands youngest first, sexes
// female, male, other, others alphabetically; "unknown" last.
func rank(dim, v string) (int, string) {
	if v == Unknown {
		return 1 << 30, ""
	}
	switch dim {
	case DimAgeBand:
		return slices.Index(AgeBands, v), ""
	case DimSex:
		return slices.Index([]string{SexFemale, SexMale, SexOther}, v), ""
	}
	return 0, v
}

func compareVals(by, a, b []string) int {
	for i, dim := range by {
		ra, sa := rank(dim, a[i])
		rb, sb := rank(dim, b[i])
		if ra != rb {
			return ra - rb
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
	}
	return 0
}

// small reports whether a numerator n is a small count: 1 to min−1 (a
// zero numerator is shown).
func small(n, min int64) bool { return n > 0 && n < min }

// suppress marks the groups whose numerator is small or whose denominator
// is below min,
// then applies complementary suppression: along each dimension, within
// each line of groups that agree on every other dimension (whose sum a
// coarser query publishes), a single suppressed group could be recovered
// by subtraction, so the unsuppressed group with the smallest numerator
// (then denominator, then order) is suppressed too; repeated until stable.
// groups must be sorted.
func suppress(groups []*group, ndims int, min int64) {
	for _, g := range groups {
		g.suppressed = small(g.num, min) || g.den < min
	}
	complement(groups, ndims)
}

// complement applies suppress's complementary suppression to groups whose
// primary suppression is already marked.
func complement(groups []*group, ndims int) {
	if ndims == 0 {
		return
	}
	for changed := true; changed; {
		changed = false
		for dim := range ndims {
			lines := map[string][]*group{}
			var order []string
			for _, g := range groups {
				k := strings.Join(slices.Delete(slices.Clone(g.vals), dim, dim+1), "\x00")
				if lines[k] == nil {
					order = append(order, k)
				}
				lines[k] = append(lines[k], g)
			}
			for _, k := range order {
				var pick *group
				n := 0
				for _, g := range lines[k] {
					switch {
					case g.suppressed:
						n++
					case pick == nil || g.num < pick.num || g.num == pick.num && g.den < pick.den:
						pick = g
					}
				}
				if n == 1 && pick != nil {
					pick.suppressed = true
					changed = true
				}
			}
		}
	}
}

func groupMap(by, vals []string) map[string]string {
	m := make(map[string]string, len(by))
	for i, dim := range by {
		m[dim] = vals[i]
	}
	return m
}

// output renders g, comparing it with ref (rate refRate) when not nil.
func output(q CoverageQuery, g *group, by []string, ref *group, refRate float64) CoverageGroup {
	out := CoverageGroup{Group: groupMap(by, g.vals), Suppressed: g.suppressed}
	if g.suppressed {
		return out
	}
	out.Numerator, out.Denominator = g.num, g.den
	if g.den == 0 {
		return out
	}
	r := float64(g.num) / float64(g.den)
	out.Rate = &r
	if ref != nil {
		diff := r - refRate
		out.RateDifference = &diff
		if refRate > 0 {
			ratio := r / refRate
			out.RateRatio = &ratio
		}
	}
	if q.Target > 0 {
		gap := float64(q.Target)/1000 - r
		out.GapToTarget = &gap
	}
	return out
}

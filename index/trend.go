package index

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	cc "carechain"
)

// Coverage trends. The ledger keeps only the year a dose was given (a
// precise date relating to a person is PHI), so a trend by block time
// would show when doses were recorded, not when they were given. A
// custodian node knows more about the doses it ingested itself: the
// occurrence date of each FHIR Immunization (occurrenceDateTime, kept at
// day precision). The node's custodians hand it over (the gatekeepers'
// OnImmunizations hook, like the population register) and it stays in
// this node's SQLite file, joined to the ledger's administrations by
// record id. A trend therefore covers the doses this node ingested;
// doses whose date the node does not know are counted apart (Undated).

// The trend intervals.
const (
	IntervalWeek  = "week"  // ISO weeks, starting on Monday
	IntervalMonth = "month" // calendar months
)

// MaxTrendPeriods bounds the periods of one trend.
const MaxTrendPeriods = 1000

// Occurrence is the occurrence date of one administration (an
// Immunization's record id, "Immunization/{id}") ingested by this node.
type Occurrence struct {
	RecordID string `json:"record_id"`
	// Date is "YYYY-MM-DD" (the local date of occurrenceDateTime).
	Date string `json:"date"`
}

// MaxOccurrencesPerCall bounds one UpsertOccurrences call.
const MaxOccurrencesPerCall = 1_000_000

// UpsertOccurrences records (or replaces) the occurrence dates of
// administrations, in one transaction. A bad entry is cc.Invalid naming
// occurrences[i], and nothing is written. They are node-local inputs:
// a rebuild from the chain keeps them.
func (d *DB) UpsertOccurrences(occ []Occurrence) error {
	const op = "index.occurrences"
	if len(occ) > MaxOccurrencesPerCall {
		return cc.Errorf(op, cc.TooLarge, "at most %d occurrences per call", MaxOccurrencesPerCall)
	}
	for i, o := range occ {
		if o.RecordID == "" || len(o.RecordID) > 200 {
			return cc.Errorf(op, cc.Invalid, "occurrences[%d]: record_id must be 1 to 200 bytes", i)
		}
		if t, err := time.Parse(time.DateOnly, o.Date); err != nil || t.Year() < 1800 {
			return cc.Errorf(op, cc.Invalid, "occurrences[%d]: date must be YYYY-MM-DD", i)
		}
	}
	ctx := context.Background()
	d.mu.Lock()
	defer d.mu.Unlock()
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	defer tx.Rollback()
	s, err := tx.PrepareContext(ctx, `INSERT INTO occurrences(record_id, day) VALUES(?, ?)
		ON CONFLICT(record_id) DO UPDATE SET day = excluded.day`)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	defer s.Close()
	for _, o := range occ {
		if _, err := s.ExecContext(ctx, o.RecordID, o.Date); err != nil {
			return cc.E(op, cc.Internal, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	return nil
}

// TrendQuery asks for the cumulative coverage of one dose of one vaccine
// by occurrence week or month.
type TrendQuery struct {
	Vaccine string // as CoverageQuery.Vaccine
	Dose    int    // ≥ 1
	// By lists the group-by dimensions: a subset of DimRegion, DimSex and
	// DimQuintile (age bands move with time and are not offered); empty
	// gives the overall series only.
	By       []string
	Interval string // IntervalWeek (default) or IntervalMonth
	MinCell  int    // 0 means DefaultMinCell
}

// TrendPoint is the cumulative coverage at the end of one period: the
// people whose Dose-th dose occurred on or before the period's last day,
// over the current denominators (the register as it is now: the node
// keeps no history of it).
type TrendPoint struct {
	Period string          `json:"period"` // the period's first day, YYYY-MM-DD
	Total  CoverageGroup   `json:"total"`
	Groups []CoverageGroup `json:"groups"`
}

// TrendReport answers a TrendQuery.
type TrendReport struct {
	Vaccine  string       `json:"vaccine"`
	Dose     int          `json:"dose"`
	By       []string     `json:"by"`
	Interval string       `json:"interval"`
	MinCell  int          `json:"min_cell"`
	Height   int64        `json:"height"`
	Points   []TrendPoint `json:"points"`
	// Undated counts the people with at least Dose counted doses of
	// which this node does not know every occurrence date (doses ingested
	// by other nodes): they are in no point. Small counts are suppressed
	// (UndatedSuppressed, Undated 0).
	Undated           int64 `json:"undated"`
	UndatedSuppressed bool  `json:"undated_suppressed"`
}

// Trend computes q. A person counts from the period of their Dose-th
// dose (by occurrence date, among their counted administrations of the
// vaccine, all of which must be dated). Suppression is the coverage
// report's (numerators 1..MinCell−1 and denominators below MinCell, then
// complementary suppression within each period), and in addition a point
// is suppressed when it grew by 1..MinCell−1 people since the last point
// shown of its series, so that no two points shown differ by a small
// count. It scans the vaccine's administrations (not the pre-aggregates).
// A bad query is cc.Invalid; an unknown vaccine is cc.NotFound.
func (d *DB) Trend(q TrendQuery) (*TrendReport, error) {
	const op = "index.trend"
	switch q.Interval {
	case "":
		q.Interval = IntervalWeek
	case IntervalWeek, IntervalMonth:
	default:
		return nil, cc.Errorf(op, cc.Invalid, "interval %q must be week or month", cc.Echo(q.Interval))
	}
	if slices.Contains(q.By, DimAgeBand) {
		return nil, cc.Errorf(op, cc.Invalid, "a trend is not offered by age band (ages move with time)")
	}
	cq := CoverageQuery{Vaccine: q.Vaccine, Dose: q.Dose, By: q.By, MinCell: q.MinCell}
	if err := checkCoverageQuery(&cq); err != nil {
		return nil, err
	}
	q.MinCell = cq.MinCell
	min := int64(q.MinCell)
	ctx := context.Background()
	tx, err := d.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	defer tx.Rollback()
	vaccine, err := resolveVaccine(ctx, tx, q.Vaccine)
	if err != nil {
		return nil, err
	}
	rep := &TrendReport{Vaccine: vaccine, Dose: q.Dose, By: slices.Clone(q.By), Interval: q.Interval,
		MinCell: q.MinCell, Points: []TrendPoint{}}
	if rep.Height, err = getMeta(ctx, tx, metaHeight); err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	areas, err := d.areaLookup(ctx, tx)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	keyOf := func(c cell) (string, []string) {
		vals := make([]string, len(q.By))
		for i, dim := range q.By {
			vals[i] = dimValue(dim, c, areas, 0)
		}
		return strings.Join(vals, "\x00"), vals
	}
	// The denominators: as the coverage report's.
	dens := map[string]int64{}
	valsOf := map[string][]string{}
	var totalDen int64
	err = scanCells(ctx, tx, "SELECT reg, birth_year, sex, area, n FROM pop_agg WHERE n != 0", nil, func(c cell, n int64) {
		k, vals := keyOf(c)
		dens[k] += n
		valsOf[k] = vals
		totalDen += n
	})
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}

	// Each person's doses: their cell and the days (""when undated).
	type person struct {
		c    cell
		days []string
	}
	people := map[string]*person{}
	rows, err := tx.QueryContext(ctx, `SELECT a.patient, COALESCE(o.day, ''),
			p.did IS NOT NULL, COALESCE(p.birth_year, 0), COALESCE(p.sex, ''), COALESCE(p.area, '')
		FROM administrations a
		LEFT JOIN occurrences o ON o.record_id = a.record_id
		LEFT JOIN people p ON p.did = a.patient
		WHERE a.vaccine = ? AND a.counted = 1`, vaccine)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	for rows.Next() {
		var patient, day string
		var c cell
		if err := rows.Scan(&patient, &day, &c.reg, &c.birthYear, &c.sex, &c.area); err != nil {
			rows.Close()
			return nil, cc.E(op, cc.Internal, err)
		}
		if c.reg == 0 {
			c = unregistered
		}
		p := people[patient]
		if p == nil {
			p = &person{c: c}
			people[patient] = p
		}
		p.days = append(p.days, day)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}

	// The period each person reaches the dose in.
	type reach struct {
		key    string
		period time.Time
	}
	var reached []reach
	for _, p := range people {
		if len(p.days) < q.Dose {
			continue
		}
		if slices.Contains(p.days, "") {
			rep.Undated++
			continue
		}
		slices.Sort(p.days)
		day, err := time.Parse(time.DateOnly, p.days[q.Dose-1])
		if err != nil {
			return nil, cc.E(op, cc.Internal, err)
		}
		k, vals := keyOf(p.c)
		valsOf[k] = vals
		reached = append(reached, reach{k, periodStart(day, q.Interval)})
	}
	if small(rep.Undated, min) {
		rep.Undated, rep.UndatedSuppressed = 0, true
	}
	if len(reached) == 0 {
		return rep, nil
	}
	first, last := reached[0].period, reached[0].period
	for _, r := range reached {
		if r.period.Before(first) {
			first = r.period
		}
		if r.period.After(last) {
			last = r.period
		}
	}
	var periods []time.Time
	for p := first; !p.After(last); p = nextPeriod(p, q.Interval) {
		if len(periods) == MaxTrendPeriods {
			return nil, cc.Errorf(op, cc.Invalid, "the doses span more than %d %ss; ask by month", MaxTrendPeriods, q.Interval)
		}
		periods = append(periods, p)
	}
	index := make(map[time.Time]int, len(periods))
	for i, p := range periods {
		index[p] = i
	}
	// new[k][i]: the people of group k reaching the dose in period i.
	fresh := map[string][]int64{}
	totalFresh := make([]int64, len(periods))
	for _, r := range reached {
		if fresh[r.key] == nil {
			fresh[r.key] = make([]int64, len(periods))
		}
		fresh[r.key][index[r.period]]++
		totalFresh[index[r.period]]++
	}
	keys := make([]string, 0, len(valsOf))
	for k := range valsOf {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return compareVals(q.By, valsOf[a], valsOf[b]) })

	cum := map[string]int64{}
	shown := map[string]int64{} // the last shown cumulative numerator of each series
	var totalCum, totalShown int64
	for i, p := range periods {
		pt := TrendPoint{Period: p.Format(time.DateOnly), Groups: []CoverageGroup{}}
		totalCum += totalFresh[i]
		tg := &group{num: totalCum, den: totalDen}
		tg.suppressed = small(tg.num, min) || tg.den < min || small(tg.num-totalShown, min)
		if !tg.suppressed {
			totalShown = tg.num
		}
		pt.Total = output(cq, tg, nil, nil, 0)
		if len(q.By) > 0 {
			list := make([]*group, len(keys))
			for j, k := range keys {
				if f := fresh[k]; f != nil {
					cum[k] += f[i]
				}
				g := &group{vals: valsOf[k], num: cum[k], den: dens[k]}
				g.suppressed = small(g.num, min) || g.den < min || small(g.num-shown[k], min)
				list[j] = g
			}
			complement(list, len(q.By))
			for j, g := range list {
				if !g.suppressed {
					shown[keys[j]] = g.num
				}
				pt.Groups = append(pt.Groups, output(cq, g, q.By, nil, 0))
			}
		}
		rep.Points = append(rep.Points, pt)
	}
	return rep, nil
}

// periodStart returns the first day of the period holding day.
func periodStart(day time.Time, interval string) time.Time {
	day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	if interval == IntervalMonth {
		return day.AddDate(0, 0, 1-day.Day())
	}
	wd := (int(day.Weekday()) + 6) % 7 // Monday 0 … Sunday 6
	return day.AddDate(0, 0, -wd)
}

// nextPeriod returns the first day of the period after the one starting
// at p.
func nextPeriod(p time.Time, interval string) time.Time {
	if interval == IntervalMonth {
		return p.AddDate(0, 1, 0)
	}
	return p.AddDate(0, 0, 7)
}

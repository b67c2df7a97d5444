package index

import (
	"encoding/csv"
	"io"
	"strconv"

	cc "carechain"
)

// WriteCoverageCSV writes r as CSV: a header of the report's dimensions
// followed by denominator, numerator, rate, suppressed, rate_ratio,
// rate_difference and gap_to_target; then the total (every dimension
// "all") and one row per group. Suppressed counts are empty, as are
// absent measures. Rates are fractions with 4 decimals.
func WriteCoverageCSV(w io.Writer, r *CoverageReport) error {
	cw := csv.NewWriter(w)
	head := append(append([]string{}, r.By...), "denominator", "numerator", "rate", "suppressed",
		"rate_ratio", "rate_difference", "gap_to_target")
	if err := cw.Write(head); err != nil {
		return cc.E("index.csv", cc.Internal, err)
	}
	row := func(g CoverageGroup, total bool) []string {
		rec := make([]string, 0, len(head))
		for _, dim := range r.By {
			if total {
				rec = append(rec, "all")
			} else {
				rec = append(rec, g.Group[dim])
			}
		}
		if g.Suppressed {
			rec = append(rec, "", "")
		} else {
			rec = append(rec, strconv.FormatInt(g.Denominator, 10), strconv.FormatInt(g.Numerator, 10))
		}
		return append(rec, num(g.Rate), strconv.FormatBool(g.Suppressed),
			num(g.RateRatio), num(g.RateDifference), num(g.GapToTarget))
	}
	if err := cw.Write(row(r.Total, true)); err != nil {
		return cc.E("index.csv", cc.Internal, err)
	}
	for _, g := range r.Groups {
		if err := cw.Write(row(g, false)); err != nil {
			return cc.E("index.csv", cc.Internal, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return cc.E("index.csv", cc.Internal, err)
	}
	return nil
}

// WriteKPICSV writes r as one CSV table with a "kind" column: "stock"
// rows (org, location, lot, expiry and the item counts) then "org" rows
// (org and the organization's KPIs); columns that do not apply to a
// row's kind are empty.
func WriteKPICSV(w io.Writer, r *KPIReport) error {
	cw := csv.NewWriter(w)
	head := []string{"kind", "org", "location", "lot", "expiry", "items", "usable", "in_transit",
		"quarantined", "expired", "other", "doses_used", "doses", "no_product",
		"usable_items", "usable_doses", "administered_28d", "daily_doses", "days_of_supply",
		"commissioned", "received", "wasted", "wastage_rate", "excursions", "quarantine_events"}
	recs := [][]string{head}
	itoa := strconv.Itoa
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	for _, s := range r.Stock {
		rec := []string{"stock", s.Org, s.Location, s.Lot, s.Expiry, itoa(s.Items), itoa(s.Usable), itoa(s.InTransit),
			itoa(s.Quarantined), itoa(s.Expired), itoa(s.Other), itoa(s.DosesUsed), itoa(s.Doses), itoa(s.NoProduct)}
		recs = append(recs, append(rec, make([]string, len(head)-len(rec))...))
	}
	for _, o := range r.Orgs {
		rec := append(make([]string, 14), itoa(o.UsableItems), itoa(o.UsableDoses), itoa(o.Administered),
			strconv.FormatFloat(o.DailyDoses, 'f', 4, 64), num(o.DaysOfSupply),
			i64(o.Commissioned), i64(o.Received), i64(o.Wasted), num(o.WastageRate), itoa(o.Excursions),
			i64(o.QuarantineEvents))
		rec[0], rec[1] = "org", o.Org
		recs = append(recs, rec)
	}
	if err := cw.WriteAll(recs); err != nil {
		return cc.E("index.csv", cc.Internal, err)
	}
	return nil
}

// num formats an optional measure with 4 decimals ("" when absent).
func num(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'f', 4, 64)
}

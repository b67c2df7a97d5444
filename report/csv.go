package report

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"

	cc "carechain"
)

// CSVHeader is the header row of WriteCSV.
var CSVHeader = []string{"table", "measure", "by", "group", "suppressed", "numerator", "denominator",
	"rate", "ci_low", "ci_high", "reference", "rate_ratio", "rate_ratio_ci_low", "rate_ratio_ci_high",
	"rate_difference", "rate_difference_ci_low", "rate_difference_ci_high", "gap_to_target",
	"below_target", "rank_from_target"}

// WriteCSV writes r as one CSV table with CSVHeader: per table (numbered
// from 1) its total (group "all") then one row per group. by joins the
// table's dimensions with '+'; rates, bounds and differences are
// fractions with 6 decimals, ratios too; rank_from_target is the group's
// rank among the furthest from target, if any. A suppressed row has no
// counts and no figures. An error writing is cc.Internal.
func WriteCSV(w io.Writer, r *cc.DisparityReport) error {
	const op = "report.csv"
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	ranks := map[[2]string]int{}
	for _, g := range r.Furthest {
		ranks[[2]string{strconv.Itoa(g.Table), g.Label}] = g.Rank
	}
	for ti, t := range r.Tables {
		by := strings.Join(t.By, "+")
		rows := append([]cc.DisparityRow{t.Total}, t.Rows...)
		for i, row := range rows {
			rank := ""
			if n, ok := ranks[[2]string{strconv.Itoa(ti), row.Label}]; ok && i > 0 {
				rank = strconv.Itoa(n)
			}
			if err := cw.Write(csvRow(ti+1, t.Measure, by, row, rank)); err != nil {
				return cc.E(op, cc.Internal, err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	return nil
}

// csvRow is one row of WriteCSV.
func csvRow(table int, measure, by string, r cc.DisparityRow, rank string) []string {
	rec := []string{strconv.Itoa(table), measure, by, r.Label, strconv.FormatBool(r.Suppressed)}
	if r.Suppressed {
		return append(rec, make([]string, len(CSVHeader)-len(rec))...)
	}
	rec = append(rec, strconv.FormatInt(r.Numerator, 10), strconv.FormatInt(r.Denominator, 10),
		f6(r.Rate), lo(r.CI), hi(r.CI), strconv.FormatBool(r.Reference),
		f6(r.RateRatio), lo(r.RatioCI), hi(r.RatioCI),
		f6(r.RateDifference), lo(r.DifferenceCI), hi(r.DifferenceCI),
		f6(r.GapToTarget), "", rank)
	if r.GapToTarget != nil {
		rec[18] = strconv.FormatBool(r.BelowTarget)
	}
	return rec
}

func f6(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', 6, 64)
}

func lo(i *cc.Interval) string {
	if i == nil {
		return ""
	}
	return strconv.FormatFloat(i.Low, 'f', 6, 64)
}

func hi(i *cc.Interval) string {
	if i == nil {
		return ""
	}
	return strconv.FormatFloat(i.High, 'f', 6, 64)
}

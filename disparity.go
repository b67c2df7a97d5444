package carechain

// This file holds the plain data of a disparities report: what the read
// model (package index) computes and what the report renderer (package
// report), the HTTP API and the CLI exchange. Rates are float64 fractions:
// this is reporting, never consensus state.

// The measures of a disparities table.
const (
	// MeasureCoverage is the share of the population register with at
	// least Dose counted doses of the vaccine.
	MeasureCoverage = "coverage"
	// MeasureCompletion is the share of the people with at least Dose
	// doses who also have at least Dose+1 (e.g. second-dose completion
	// among first-dose recipients).
	MeasureCompletion = "completion"
)

// Interval is a two-sided confidence interval [Low, High].
type Interval struct {
	Low  float64 `json:"low"`
	High float64 `json:"high"`
}

// DisparityRow is one group of a disparities table. When Suppressed,
// the counts are 0 and every figure is absent; figures are absent too
// where they cannot be computed (an empty denominator, a zero reference
// rate, a zero count in a ratio's variance).
type DisparityRow struct {
	// Group holds the value of each of the table's dimensions; empty for
	// the table's total.
	Group map[string]string `json:"group"`
	// Label is the group's values joined with " · " ("all" for the total).
	Label       string `json:"label"`
	Suppressed  bool   `json:"suppressed"`
	Numerator   int64  `json:"numerator"`
	Denominator int64  `json:"denominator"`
	// Rate is Numerator / Denominator; CI its Wilson score interval.
	Rate *float64  `json:"rate,omitempty"`
	CI   *Interval `json:"ci,omitempty"`
	// Reference marks the table's reference group.
	Reference bool `json:"reference,omitempty"`
	// RateRatio is Rate / the reference's rate, with RatioCI by the Katz
	// log method.
	RateRatio *float64  `json:"rate_ratio,omitempty"`
	RatioCI   *Interval `json:"rate_ratio_ci,omitempty"`
	// RateDifference is Rate − the reference's rate, with DifferenceCI by
	// Newcombe's hybrid score method (from the two Wilson intervals).
	RateDifference *float64  `json:"rate_difference,omitempty"`
	DifferenceCI   *Interval `json:"rate_difference_ci,omitempty"`
	// GapToTarget is Target/1000 − Rate (positive: below target), when the
	// report has a target and the measure is coverage.
	GapToTarget *float64 `json:"gap_to_target,omitempty"`
	// BelowTarget is true when even the CI's upper bound is below target.
	BelowTarget bool `json:"below_target,omitempty"`
}

// DisparityTable is one measure by one set of dimensions.
type DisparityTable struct {
	// Measure is MeasureCoverage or MeasureCompletion.
	Measure string `json:"measure"`
	// Title says what the table shows, in words.
	Title string `json:"title"`
	// By lists the table's dimensions (region, age_band, sex, quintile).
	By []string `json:"by"`
	// Reference is the label of the reference group ("" when none): the
	// unsuppressed group with the highest rate and no unknown value.
	Reference string         `json:"reference,omitempty"`
	Total     DisparityRow   `json:"total"`
	Rows      []DisparityRow `json:"rows"`
}

// RankedGroup is one of the groups furthest from target.
type RankedGroup struct {
	Rank  int      `json:"rank"`
	Table int      `json:"table"` // index into DisparityReport.Tables
	By    []string `json:"by"`
	Label string   `json:"label"`
	Rate  float64  `json:"rate"`
	CI    Interval `json:"ci"`
	Gap   float64  `json:"gap_to_target"`
	// BelowTarget is true when even the CI's upper bound is below target.
	BelowTarget bool `json:"below_target"`
}

// DisparityReport is the disparities report of one dose of one vaccine.
type DisparityReport struct {
	Vaccine string `json:"vaccine"` // system|code
	Dose    int    `json:"dose"`
	AsOf    int    `json:"as_of"`
	// Target is the coverage target in permille (0: none).
	Target  int   `json:"target_permille,omitempty"`
	MinCell int   `json:"min_cell"`
	Height  int64 `json:"height"` // the indexed height of the figures
	// Confidence is the level of every interval (0.95).
	Confidence float64 `json:"confidence"`
	// Methods describes the statistics, in words, for the reader.
	Methods []string         `json:"methods"`
	Tables  []DisparityTable `json:"tables"`
	// Furthest ranks the unsuppressed coverage groups below target, the
	// largest gap first (at most the query's Top).
	Furthest []RankedGroup `json:"furthest_from_target"`
	// Linked, Unlinked and Unregistered are as in the coverage report:
	// doses from tracked stock or not, vaccinated people not in the
	// population register.
	Linked       int64 `json:"linked"`
	Unlinked     int64 `json:"unlinked"`
	Unregistered int64 `json:"unregistered"`
}

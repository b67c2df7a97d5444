// Package report renders a disparities report (cc.DisparityReport, which
// the read model computes) as a self-contained HTML page and as CSV. It is
// an adapter: it imports the root package, html/template and the chart
// library (gonum.org/v1/plot, SVG output drawn inline into the page, so the
// page works offline with no script, style sheet or font to fetch), and no
// other carechain package.
//
// The page is accessible: one <h1>, a <section> with an <h2> per table,
// every table with a <caption> and <th scope>, every chart an inline
// <svg role="img"> with a <title> and a <desc> that states its figures in
// words. A suppressed cell shows "suppressed" and no figure.
package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"

	cc "carechain"
)

// WriteHTML writes r as one HTML document to w: a summary, the groups
// furthest from target, then per table a chart and the table of figures,
// then the methods. An error writing is cc.Internal.
func WriteHTML(w io.Writer, r *cc.DisparityReport) error {
	const op = "report.html"
	page := htmlPage{R: r}
	for i, t := range r.Tables {
		target := 0
		if t.Measure == cc.MeasureCoverage {
			target = r.Target
		}
		svg, err := chartSVG(t, target, "chart"+strconv.Itoa(i+1))
		if err != nil {
			return err
		}
		page.Tables = append(page.Tables, htmlTable{T: t, ID: "t" + strconv.Itoa(i+1),
			Chart: template.HTML(svg), HasTarget: target > 0})
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, page); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if _, err := buf.WriteTo(w); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	return nil
}

type htmlPage struct {
	R      *cc.DisparityReport
	Tables []htmlTable
}

type htmlTable struct {
	T  cc.DisparityTable
	ID string
	// Chart is the table's inline SVG, drawn by the chart library from
	// the report's numbers (trusted markup; every text in it is escaped).
	Chart     template.HTML
	HasTarget bool
}

var funcs = template.FuncMap{
	"pct":  pct,
	"pctV": pctV,
	"ci": func(i *cc.Interval) string {
		if i == nil {
			return ""
		}
		return pctV(i.Low) + " – " + pctV(i.High)
	},
	"ratio": ratio,
	"ratioCI": func(i *cc.Interval) string {
		if i == nil {
			return ""
		}
		return fmt.Sprintf("%.2f – %.2f", i.Low, i.High)
	},
	"diffCI": func(i *cc.Interval) string {
		if i == nil {
			return ""
		}
		return pts(i.Low) + " to " + pts(i.High)
	},
	"pts": func(v *float64) string {
		if v == nil {
			return ""
		}
		return pts(*v)
	},
	"permille": func(n int) string { return trimPct(float64(n)/10) + "%" },
	"dims":     func(by []string) string { return strings.Join(by, " × ") },
	"inc":      func(i int) int { return i + 1 },
}

// pct formats a fraction as a percentage with one decimal ("" for none).
func pct(v *float64) string {
	if v == nil {
		return ""
	}
	return pctV(*v)
}

func pctV(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" }

// pts formats a difference of fractions in percentage points.
func pts(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + " pts" }

func ratio(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', 2, 64)
}

var pageTemplate = template.Must(template.New("page").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Disparities report: {{.R.Vaccine}} dose {{.R.Dose}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1a1a1a;line-height:1.45}
table{border-collapse:collapse;margin:1rem 0 2rem;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding:.4rem 0}
th,td{border:1px solid #bbb;padding:.25rem .55rem;text-align:right}
th[scope=row],thead th{text-align:left;background:#f2f2f2}
tr.ref th{font-weight:700} td.sup{color:#555;font-style:italic;text-align:left}
figure{margin:1rem 0} figure svg{max-width:100%;height:auto}
.below{color:#a0361c;font-weight:600}
</style>
</head>
<body>
<main>
<h1>Disparities report: vaccine {{.R.Vaccine}}, dose {{.R.Dose}}</h1>
<p>Figures from the read model at ledger height {{.R.Height}}; ages as of {{.R.AsOf}}.
{{if .R.Target}}Coverage target: {{permille .R.Target}}.{{end}}
Counts below {{.R.MinCell}} are suppressed and show no figures. Intervals are {{pctV .R.Confidence}} confidence intervals.
Doses counted: {{.R.Linked}} from tracked stock, {{.R.Unlinked}} unlinked; {{.R.Unregistered}} vaccinated people are not in the population register.</p>

<section aria-labelledby="furthest">
<h2 id="furthest">Groups furthest from target</h2>
{{if .R.Target}}{{if .R.Furthest}}
<table>
<caption>Coverage groups below the {{permille .R.Target}} target, largest gap first (unsuppressed, known groups only)</caption>
<thead><tr><th scope="col">rank</th><th scope="col">grouping</th><th scope="col">group</th><th scope="col">coverage</th><th scope="col">95% CI</th><th scope="col">gap to target</th><th scope="col">significantly below</th></tr></thead>
<tbody>
{{range .R.Furthest}}<tr><td>{{.Rank}}</td><td>{{dims .By}}</td><th scope="row">{{.Label}}</th><td>{{pctV .Rate}}</td><td>{{pctV .CI.Low}} – {{pctV .CI.High}}</td><td>{{pts .Gap}}</td><td>{{if .BelowTarget}}<span class="below">yes</span>{{else}}no{{end}}</td></tr>
{{end}}</tbody>
</table>
{{else}}<p>No unsuppressed group is below target.</p>{{end}}
{{else}}<p>No target was given.</p>{{end}}
</section>

{{range .Tables}}
<section aria-labelledby="{{.ID}}">
<h2 id="{{.ID}}">{{.T.Title}}</h2>
<figure>
{{.Chart}}
<figcaption>{{.T.Title}}: bars are rates, whiskers 95% Wilson intervals{{if .HasTarget}}, the dashed line the target{{end}}. The table below gives every figure.</figcaption>
</figure>
<table>
<caption>{{.T.Title}}{{if .T.Reference}} (reference group: {{.T.Reference}}){{end}}</caption>
<thead><tr><th scope="col">{{dims .T.By}}</th><th scope="col">numerator</th><th scope="col">denominator</th><th scope="col">rate</th><th scope="col">95% CI</th><th scope="col">rate ratio</th><th scope="col">ratio 95% CI</th><th scope="col">rate difference</th><th scope="col">difference 95% CI</th>{{if .HasTarget}}<th scope="col">gap to target</th>{{end}}</tr></thead>
<tbody>
{{$t := .}}{{range .T.Rows}}<tr{{if .Reference}} class="ref"{{end}}><th scope="row">{{.Label}}{{if .Reference}} (reference){{end}}</th>{{if .Suppressed}}<td class="sup" colspan="{{if $t.HasTarget}}9{{else}}8{{end}}">suppressed (a count below the minimum cell size)</td>{{else}}<td>{{.Numerator}}</td><td>{{.Denominator}}</td><td>{{pct .Rate}}</td><td>{{ci .CI}}</td><td>{{ratio .RateRatio}}</td><td>{{ratioCI .RatioCI}}</td><td>{{pts .RateDifference}}</td><td>{{diffCI .DifferenceCI}}</td>{{if $t.HasTarget}}<td{{if .BelowTarget}} class="below"{{end}}>{{pts .GapToTarget}}</td>{{end}}{{end}}</tr>
{{end}}{{with .T.Total}}<tr><th scope="row">all</th>{{if .Suppressed}}<td class="sup" colspan="{{if $t.HasTarget}}9{{else}}8{{end}}">suppressed</td>{{else}}<td>{{.Numerator}}</td><td>{{.Denominator}}</td><td>{{pct .Rate}}</td><td>{{ci .CI}}</td><td></td><td></td><td></td><td></td>{{if $t.HasTarget}}<td>{{pts .GapToTarget}}</td>{{end}}{{end}}</tr>{{end}}
</tbody>
</table>
</section>
{{end}}

<section aria-labelledby="methods">
<h2 id="methods">Methods</h2>
<ul>
{{range .R.Methods}}<li>{{.}}</li>
{{end}}</ul>
</section>
</main>
</body>
</html>
`))

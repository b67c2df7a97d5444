package report

import (
	"bytes"
	"fmt"
	"html"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	cc "carechain"
)

// The chart colours (a colour-blind-safe pair) and sizes.
var (
	barColour    = color.RGBA{R: 0x00, G: 0x72, B: 0xb2, A: 0xff} // blue
	targetColour = color.RGBA{R: 0xd5, G: 0x5e, B: 0x00, A: 0xff} // vermilion
)

// ciBars is the points and relative Wilson bounds of the unsuppressed
// rows, in percent, for plotter.NewYErrorBars.
type ciBars struct {
	plotter.XYs
	plotter.YErrors
}

// chartSVG draws table t as a bar chart of the rate of each group (in
// percent) with its 95 % interval as an error bar and, when target > 0,
// the target as a dashed line; a suppressed group has no bar and is
// labelled "(suppressed)". The answer is an inline <svg> element (no XML
// prologue) with role="img", a <title> and a <desc> that says every
// figure in words, identified by id.
func chartSVG(t cc.DisparityTable, target int, id string) (string, error) {
	const op = "report.chart"
	p := plot.New()
	p.Title.Text = t.Title
	p.Y.Label.Text = "rate (%) with 95% CI"
	p.Y.Min, p.Y.Max = 0, 100
	names := make([]string, len(t.Rows))
	values := make(plotter.Values, len(t.Rows))
	var bars ciBars
	for i, r := range t.Rows {
		names[i] = r.Label
		switch {
		case r.Suppressed:
			names[i] += " (suppressed)"
		case r.Rate != nil:
			values[i] = *r.Rate * 100
			bars.XYs = append(bars.XYs, plotter.XY{X: float64(i), Y: values[i]})
			bars.YErrors = append(bars.YErrors, struct{ Low, High float64 }{
				Low: values[i] - r.CI.Low*100, High: r.CI.High*100 - values[i]})
		}
	}
	if len(t.Rows) > 0 {
		bc, err := plotter.NewBarChart(values, vg.Points(barWidth(len(t.Rows))))
		if err != nil {
			return "", cc.E(op, cc.Internal, err)
		}
		bc.Color = barColour
		bc.LineStyle.Width = 0
		p.Add(bc)
		p.NominalX(names...)
	}
	if len(bars.XYs) > 0 {
		eb, err := plotter.NewYErrorBars(bars)
		if err != nil {
			return "", cc.E(op, cc.Internal, err)
		}
		eb.LineStyle.Width = vg.Points(1.2)
		p.Add(eb)
	}
	if target > 0 && len(t.Rows) > 0 {
		y := float64(target) / 10
		line, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: y}, {X: float64(len(t.Rows)) - 0.5, Y: y}})
		if err != nil {
			return "", cc.E(op, cc.Internal, err)
		}
		line.Color = targetColour
		line.Width = vg.Points(1.5)
		line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("target %s%%", trimPct(y)), line)
	}
	p.Legend.Top = true
	if len(t.Rows) > 5 {
		p.X.Tick.Label.Rotation = math.Pi / 5
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
	w := vg.Length(math.Max(5, 1.6+0.7*float64(len(t.Rows)))) * vg.Inch
	wt, err := p.WriterTo(w, 3.6*vg.Inch, "svg")
	if err != nil {
		return "", cc.E(op, cc.Internal, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return "", cc.E(op, cc.Internal, err)
	}
	return accessibleSVG(buf.String(), id, t.Title, describe(t, target))
}

func barWidth(n int) float64 { return math.Max(14, math.Min(40, 240/float64(n))) }

func trimPct(v float64) string { return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0") }

// accessibleSVG turns gonum's SVG document into an inline element: the
// XML prologue and comment go, role="img" and aria-labelledby are added
// to <svg>, and <title> and <desc> become its first children.
func accessibleSVG(doc, id, title, desc string) (string, error) {
	start := strings.Index(doc, "<svg")
	if start < 0 {
		return "", cc.Errorf("report.chart", cc.Internal, "the chart library wrote no <svg> element")
	}
	doc = doc[start:]
	end := strings.IndexByte(doc, '>')
	open := strings.TrimSpace(doc[len("<svg"):end])
	return fmt.Sprintf(`<svg role="img" aria-labelledby="%[1]s-title %[1]s-desc" %[2]s><title id="%[1]s-title">%[3]s</title><desc id="%[1]s-desc">%[4]s</desc>%[5]s`,
		id, open, html.EscapeString(title), html.EscapeString(desc), doc[end+1:]), nil
}

// describe says a chart's figures in words, for its <desc> and alt text.
func describe(t cc.DisparityTable, target int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Bar chart of %s.", strings.ToLower(t.Title[:1])+t.Title[1:])
	if target > 0 {
		fmt.Fprintf(&b, " Target %s%%.", trimPct(float64(target)/10))
	}
	for _, r := range t.Rows {
		switch {
		case r.Suppressed:
			fmt.Fprintf(&b, " %s: suppressed.", r.Label)
		case r.Rate == nil:
			fmt.Fprintf(&b, " %s: no one in the group.", r.Label)
		default:
			fmt.Fprintf(&b, " %s: %s (95%% CI %s to %s).", r.Label, pct(r.Rate), pctV(r.CI.Low), pctV(r.CI.High))
		}
	}
	return b.String()
}

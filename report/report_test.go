package report

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	cc "carechain"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func f(v float64) *float64 { return &v }

// fixture is the report index computes for the hand-computed population
// of index/disparity_test.go (coverage of dose 1 by region, target 90 %,
// and completion of dose 2), with a label that needs escaping added.
func fixture() *cc.DisparityReport {
	sup := func(l string) cc.DisparityRow {
		return cc.DisparityRow{Group: map[string]string{"region": l}, Label: l, Suppressed: true}
	}
	return &cc.DisparityReport{
		Vaccine: "http://hl7.org/fhir/sid/cvx|140", Dose: 1, AsOf: 2026, Target: 900, MinCell: 11, Height: 7,
		Confidence: 0.95, Methods: []string{"Wilson score intervals.", "Katz log method."},
		Linked: 0, Unlinked: 152,
		Tables: []cc.DisparityTable{{
			Measure: cc.MeasureCoverage, Title: "Coverage of dose 1 of http://hl7.org/fhir/sid/cvx|140 by region",
			By: []string{"region"}, Reference: "South",
			Total: cc.DisparityRow{Group: map[string]string{}, Label: "all", Numerator: 92, Denominator: 128,
				Rate: f(0.71875), CI: &cc.Interval{Low: 0.6353658087171573, High: 0.7893867729131828},
				GapToTarget: f(0.18125), BelowTarget: true},
			Rows: []cc.DisparityRow{
				sup("East"),
				{Group: map[string]string{"region": "North"}, Label: "North", Numerator: 30, Denominator: 40,
					Rate: f(0.75), CI: &cc.Interval{Low: 0.5980603857923197, High: 0.858128813609037},
					RateRatio: f(0.8333333333333333), RatioCI: &cc.Interval{Low: 0.6813434868693877, High: 1.0192281247675123},
					RateDifference: f(-0.15), DifferenceCI: &cc.Interval{Low: -0.31211303314543726, High: 0.006835347303495221},
					GapToTarget: f(0.15), BelowTarget: true},
				{Group: map[string]string{"region": "South"}, Label: "South", Numerator: 45, Denominator: 50,
					Rate: f(0.9), CI: &cc.Interval{Low: 0.7863976856252035, High: 0.9565242350681096},
					Reference: true, RateRatio: f(1), RateDifference: f(0), GapToTarget: f(0)},
				sup("West <b>&"),
			},
		}, {
			Measure: cc.MeasureCompletion, Title: "Completion of dose 2 among people with dose 1 by region",
			By: []string{"region"}, Reference: "South",
			Total: cc.DisparityRow{Group: map[string]string{}, Label: "all", Numerator: 60, Denominator: 92,
				Rate: f(60.0 / 92), CI: &cc.Interval{Low: 0.550526737225395, High: 0.7416224051659375}},
			Rows: []cc.DisparityRow{
				sup("East"),
				{Group: map[string]string{"region": "North"}, Label: "North", Numerator: 20, Denominator: 30,
					Rate: f(20.0 / 30), CI: &cc.Interval{Low: 0.4878005164454384, High: 0.8076950191632386},
					RateRatio: f(0.75), RatioCI: &cc.Interval{Low: 0.5706461336570875, High: 0.9857247194423598},
					RateDifference: f(20.0/30 - 40.0/45), DifferenceCI: &cc.Interval{Low: -0.4117616414436117, High: -0.03451176530587288}},
				{Group: map[string]string{"region": "South"}, Label: "South", Numerator: 40, Denominator: 45,
					Rate: f(40.0 / 45), CI: &cc.Interval{Low: 0.7650090300423141, High: 0.9515952820543282},
					Reference: true, RateRatio: f(1), RateDifference: f(0)},
				sup("West <b>&"),
			},
		}},
		Furthest: []cc.RankedGroup{{Rank: 1, Table: 0, By: []string{"region"}, Label: "North", Rate: 0.75,
			CI: cc.Interval{Low: 0.5980603857923197, High: 0.858128813609037}, Gap: 0.15, BelowTarget: true}},
	}
}

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test ./report -update and review the diff)", name)
	}
}

func TestWriteCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCSV(&buf, fixture()); err != nil {
		t.Fatal(err)
	}
	golden(t, "disparities.csv", buf.Bytes())
	recs, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(recs[0], CSVHeader) || len(recs) != 1+2*5 {
		t.Fatalf("header %v, %d records; want %v and 11", recs[0], len(recs), CSVHeader)
	}
	col := map[string]int{}
	for i, h := range CSVHeader {
		col[h] = i
	}
	tests := []struct {
		rec  int
		want map[string]string
	}{
		{1, map[string]string{"table": "1", "group": "all", "numerator": "92", "rate": "0.718750", "below_target": "true", "rank_from_target": ""}},
		{2, map[string]string{"group": "East", "suppressed": "true", "numerator": "", "denominator": "", "rate": "", "ci_low": "", "gap_to_target": ""}},
		{3, map[string]string{"group": "North", "numerator": "30", "denominator": "40", "ci_low": "0.598060", "ci_high": "0.858129",
			"rate_ratio": "0.833333", "rate_ratio_ci_low": "0.681343", "rate_ratio_ci_high": "1.019228",
			"rate_difference": "-0.150000", "rate_difference_ci_low": "-0.312113", "rate_difference_ci_high": "0.006835",
			"gap_to_target": "0.150000", "below_target": "true", "rank_from_target": "1"}},
		{4, map[string]string{"group": "South", "reference": "true", "rate_ratio": "1.000000", "rate_ratio_ci_low": "", "below_target": "false"}},
		{8, map[string]string{"table": "2", "measure": "completion", "group": "North", "rate": "0.666667", "gap_to_target": "", "below_target": ""}},
	}
	for _, tt := range tests {
		for k, want := range tt.want {
			if got := recs[tt.rec][col[k]]; got != want {
				t.Errorf("record %d %s = %q, want %q", tt.rec, k, got, want)
			}
		}
	}
}

// node is a parsed HTML element: its name, attributes, text and children.
type node struct {
	name     string
	attr     map[string]string
	text     strings.Builder
	children []*node
}

// parseHTML parses doc with encoding/xml in HTML mode (non-strict, HTML
// auto-closing and entities) and fails t if it is not well nested.
func parseHTML(t *testing.T, doc []byte) *node {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	root := &node{name: "#root"}
	stack := []*node{root}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the HTML does not parse: %v", err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &node{name: strings.ToLower(tk.Name.Local), attr: map[string]string{}}
			for _, a := range tk.Attr {
				n.attr[a.Name.Local] = a.Value
			}
			top := stack[len(stack)-1]
			top.children = append(top.children, n)
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) == 1 || stack[len(stack)-1].name != strings.ToLower(tk.Name.Local) {
				t.Fatalf("unbalanced </%s>", tk.Name.Local)
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			for _, n := range stack {
				n.text.Write(tk)
			}
		}
	}
	if len(stack) != 1 {
		t.Fatalf("unclosed <%s>", stack[len(stack)-1].name)
	}
	return root
}

// all returns the descendants of n named name, in document order.
func (n *node) all(name string) []*node {
	var out []*node
	for _, c := range n.children {
		if c.name == name {
			out = append(out, c)
		}
		out = append(out, c.all(name)...)
	}
	return out
}

func TestWriteHTML(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, fixture()); err != nil {
		t.Fatal(err)
	}
	golden(t, "disparities.html", buf.Bytes())
	doc := parseHTML(t, buf.Bytes())
	if n := len(doc.all("h1")); n != 1 {
		t.Errorf("%d <h1>, want 1", n)
	}
	// Two charts, inline SVG with a title and a description naming figures.
	svgs := doc.all("svg")
	if len(svgs) != 2 {
		t.Fatalf("%d <svg>, want 2", len(svgs))
	}
	for i, s := range svgs {
		titles, descs := s.all("title"), s.all("desc")
		if s.attr["role"] != "img" || len(titles) != 1 || len(descs) != 1 || s.attr["aria-labelledby"] == "" {
			t.Errorf("svg %d: role %q, %d titles, %d descs", i, s.attr["role"], len(titles), len(descs))
			continue
		}
		if d := descs[0].text.String(); !strings.Contains(d, "East: suppressed.") || !strings.Contains(d, "West <b>&: suppressed.") {
			t.Errorf("svg %d desc %q does not say what is suppressed", i, d)
		}
		if len(s.all("path")) == 0 || len(s.all("text")) == 0 {
			t.Errorf("svg %d draws nothing", i)
		}
	}
	if d := svgs[0].all("desc")[0].text.String(); !strings.Contains(d, "North: 75.0% (95% CI 59.8% to 85.8%)") || !strings.Contains(d, "Target 90%") {
		t.Errorf("coverage chart description %q", d)
	}
	// Three tables (furthest from target, coverage, completion), each with
	// a caption; the figures are there, suppressed rows show none.
	tables := doc.all("table")
	if len(tables) != 3 {
		t.Fatalf("%d tables, want 3", len(tables))
	}
	for i, tb := range tables {
		if len(tb.all("caption")) != 1 {
			t.Errorf("table %d has no caption", i)
		}
	}
	cov := tables[1].text.String()
	for _, want := range []string{"South (reference)", "75.0%", "59.8% – 85.8%", "0.83", "0.68 – 1.02", "-15.0 pts", "-31.2 pts to 0.7 pts", "15.0 pts", "92", "128"} {
		if !strings.Contains(cov, want) {
			t.Errorf("the coverage table lacks %q", want)
		}
	}
	for _, tr := range tables[1].all("tr") {
		th := tr.all("th")
		if len(th) == 1 && strings.HasPrefix(th[0].text.String(), "East") {
			if txt := tr.text.String(); !strings.Contains(txt, "suppressed") || strings.ContainsAny(txt, "0123456789%") {
				t.Errorf("suppressed row shows %q", txt)
			}
		}
	}
	if far := tables[0].text.String(); !strings.Contains(far, "North") || !strings.Contains(far, "yes") {
		t.Errorf("furthest-from-target table %q", far)
	}
	// Self-contained: no script, no external reference; the raw label is escaped.
	s := buf.String()
	for _, bad := range []string{"<script", "src=", "href=\"http", "url(", "@import", "<b>&"} {
		if strings.Contains(s, bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
}

func TestWriteHTMLEmpty(t *testing.T) {
	// No target and no groups still makes a valid page that says so.
	r := &cc.DisparityReport{Vaccine: "x|1", Dose: 1, MinCell: 11, Confidence: 0.95,
		Tables: []cc.DisparityTable{{Measure: cc.MeasureCoverage, Title: "Coverage", By: []string{"sex"},
			Total: cc.DisparityRow{Label: "all", Suppressed: true}}}}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	doc := parseHTML(t, buf.Bytes())
	if !strings.Contains(doc.text.String(), "No target was given.") || len(doc.all("svg")) != 1 {
		t.Errorf("empty report page: %s", buf.String())
	}
}

package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/index"
	"carechain/report"
	"carechain/seed"
)

// TestReportDisparities seeds the demo's records, supply chain and
// vaccination campaign on an in-memory ledger behind a real HTTP API,
// feeds the read model from the chain, and runs `carechain report
// disparities` against it: report.html and report.csv are written, and
// the CSV's figures are the read model's coverage. The HTTP formats and
// errors of GET /v1/reports/disparities are checked on the same node.
func TestReportDisparities(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds a demo world")
	}
	da := mustDemoAPI(t, "report-disparities", 45)
	w, idx, srv, c := da.w, da.idx, da.srv, da.c
	ctx := context.Background()
	pop := w.Pop
	if err := seedRecords(ctx, func(string) string { return "" }, c, pop, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	if err := seedSupply(ctx, c, pop, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	var people []index.Person
	for i, p := range pop.Patients {
		sex := []string{"female", "male"}[i%2]
		people = append(people, index.Person{DID: p.DID, Area: pop.District(i + 1), Sex: sex, BirthDate: "1990"})
	}
	if err := idx.UpsertPeople(people); err != nil {
		t.Fatal(err)
	}
	st, _ := w.Chain.Status(ctx)
	if err := idx.Sync(ctx, w.Chain.State(), st.LatestHeight, nil); err != nil {
		t.Fatal(err)
	}
	cov, err := idx.Coverage(index.CoverageQuery{Vaccine: seed.CampaignCVX, Dose: 1, By: []string{index.DimSex}})
	if err != nil || cov.Total.Numerator == 0 || cov.Total.Suppressed {
		t.Fatalf("coverage %+v, %v: the demo campaign should have vaccinated people", cov, err)
	}

	dir := filepath.Join(t.TempDir(), "out")
	env := []string{"CARECHAIN_NODE=" + srv.URL}
	out, stderr, code := run(t, env, "report", "disparities", "--vaccine", seed.CampaignCVX, "--by", "sex,region+sex",
		"--target", "900", "--out", dir)
	if code != 0 || !strings.Contains(out, "wrote "+filepath.Join(dir, "report.html")) || !strings.Contains(out, "report.csv") {
		t.Fatalf("report disparities: exit %d\n%s%s", code, out, stderr)
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(page), "<svg role=\"img\""); n != 4 || strings.Count(string(page), "<caption>") < 4 {
		t.Errorf("report.html has %d charts (want 4: coverage and completion by sex and by region+sex)", n)
	}
	f, err := os.Open(filepath.Join(dir, "report.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) < 2 || strings.Join(recs[0], ",") != strings.Join(report.CSVHeader, ",") {
		t.Fatalf("report.csv: %v, %d records", err, len(recs))
	}
	// Row 1 is the coverage total; then female and male, as the read
	// model's coverage by sex has them.
	want := [][3]string{{"all", i64(cov.Total.Numerator), i64(cov.Total.Denominator)}}
	for _, g := range cov.Groups {
		want = append(want, [3]string{g.Group[index.DimSex], i64(g.Numerator), i64(g.Denominator)})
	}
	for i, wt := range want {
		r := recs[1+i]
		if r[0] != "1" || r[1] != cc.MeasureCoverage || r[3] != wt[0] || (r[4] == "false" && (r[5] != wt[1] || r[6] != wt[2])) {
			t.Errorf("csv record %d = %v, want group %s %s/%s", 1+i, r[:7], wt[0], wt[1], wt[2])
		}
	}

	// JSON, CSV and HTML over HTTP; errors are problems.
	var rep cc.DisparityReport
	if err := c.Get(ctx, "/v1/reports/disparities?vaccine="+seed.CampaignCVX+"&by=quintile&target=950", &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Tables) != 2 || rep.Tables[0].By[0] != index.DimQuintile || rep.Confidence != 0.95 || rep.AsOf == 0 {
		t.Errorf("JSON report: %d tables, as of %d", len(rep.Tables), rep.AsOf)
	}
	for _, tt := range []struct {
		query, status, ctype, body string
	}{
		{"vaccine=" + seed.CampaignCVX + "&format=csv", "200", "text/csv", "table,measure,by,group"},
		{"vaccine=" + seed.CampaignCVX + "&format=html&as_of=2026", "200", "text/html", "<svg role=\"img\""},
		{"format=html", "400", "application/problem+json", "vaccine is required"},
		{"vaccine=" + seed.CampaignCVX + "&format=pdf", "400", "application/problem+json", "format"},
		{"vaccine=" + seed.CampaignCVX + "&by=region+sex+quintile", "400", "application/problem+json", "grouping"},
		{"vaccine=999999", "404", "application/problem+json", "no administrations"},
	} {
		resp, err := http.Get(srv.URL + "/v1/reports/disparities?" + strings.ReplaceAll(tt.query, "+", "%2B"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strconv.Itoa(resp.StatusCode) != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.ctype) ||
			!strings.Contains(string(body), tt.body) {
			t.Errorf("GET ?%s: %d %s\n%.300s", tt.query, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	if _, stderr, code := run(t, env, "report", "disparities"); code != exitUsage || !strings.Contains(stderr, "--vaccine") {
		t.Errorf("report disparities without --vaccine: exit %d %s", code, stderr)
	}
	out, _, code = run(t, env, "report", "disparities", "--vaccine", seed.CampaignCVX, "--out", dir, "-o", "json")
	var wrote reportWritten
	if code != 0 || json.Unmarshal([]byte(out), &wrote) != nil || wrote.Tables != 8 || wrote.HTML == "" {
		t.Errorf("report disparities -o json: exit %d %s", code, out)
	}
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

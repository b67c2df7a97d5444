package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/report"
)

func newReportCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "report",
		Short: "Reports from a node's read model (disparities)",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newReportDisparitiesCmd(g))
	return c
}

// reportWritten is what `report disparities` wrote.
type reportWritten struct {
	HTML    string `json:"html"`
	CSV     string `json:"csv"`
	Vaccine string `json:"vaccine"`
	Dose    int    `json:"dose"`
	Height  int64  `json:"height"`
	Tables  int    `json:"tables"`
}

func newReportDisparitiesCmd(g *globals) *cobra.Command {
	var vaccine, by, out string
	var dose, asOf, target, minCell, top int
	c := &cobra.Command{
		Use:   "disparities --vaccine CODE [--dose N] [--by region,quintile,region+sex] [--target 900] [--out DIR]",
		Short: "Coverage and dose completion by group with 95% intervals, rate ratios and the groups furthest from target (HTML + CSV)",
		Long: `disparities asks the node (--node) for the disparities report of one dose of one
vaccine (GET /v1/reports/disparities) and writes DIR/report.html, a self-contained
page with a chart and a table per grouping, and DIR/report.csv.

For each grouping of --by (one dimension of region, age_band, sex, quintile, or a
pair joined by '+'; default: each of the four) there are two tables: coverage of
--dose in the population register, and completion of dose N+1 among the people
with dose N. Every rate has a 95% Wilson score interval; the rate ratio (Katz log
interval) and the rate difference (Newcombe interval) compare each group with the
best-covered one; the gap to --target (permille) ranks the groups furthest from
target. Counts below --min-cell (default 11) are suppressed and show no figures.`,
		Example: `  carechain report disparities --vaccine 208 --target 900 --out ./report
  carechain report disparities --vaccine 208 --dose 1 --by region,quintile,region+sex --top 10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if vaccine == "" {
				return usageError{fmt.Errorf("--vaccine is required (a CVX code such as 208, or system|code)")}
			}
			q := url.Values{"vaccine": {vaccine}, "dose": {strconv.Itoa(dose)}}
			if by != "" {
				q.Set("by", by)
			}
			for _, p := range []struct {
				name string
				v    int
			}{{"as_of", asOf}, {"target", target}, {"min_cell", minCell}, {"top", top}} {
				if p.v != 0 {
					q.Set(p.name, strconv.Itoa(p.v))
				}
			}
			raw, err := g.getRaw("/v1/reports/disparities?" + q.Encode())
			if err != nil {
				return err
			}
			var rep cc.DisparityReport
			if err := json.Unmarshal(raw, &rep); err != nil {
				return cc.Errorf("report", cc.Internal, "the node's answer is not a disparities report")
			}
			wrote, err := writeDisparities(out, &rep)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return g.emit(wrote, nil)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Disparities report of %s dose %d at height %d: %d tables, %d groups furthest from target\nwrote %s\nwrote %s\n",
				rep.Vaccine, rep.Dose, rep.Height, len(rep.Tables), len(rep.Furthest), wrote.HTML, wrote.CSV)
			return nil
		},
	}
	c.Flags().StringVar(&vaccine, "vaccine", "", "vaccine: CVX code or system|code")
	c.Flags().IntVar(&dose, "dose", 1, "dose number (completion is dose N+1 among dose N)")
	c.Flags().StringVar(&by, "by", "", "groupings: region, age_band, sex, quintile, pairs with + (comma-separated)")
	c.Flags().IntVar(&asOf, "as-of", 0, "year ages are computed at (default: the latest block's)")
	c.Flags().IntVar(&target, "target", 0, "target coverage in permille (900 = 90%)")
	c.Flags().IntVar(&minCell, "min-cell", 0, "suppress counts below this (default 11)")
	c.Flags().IntVar(&top, "top", 0, "how many groups furthest from target to rank (default 5)")
	c.Flags().StringVar(&out, "out", ".", "directory to write report.html and report.csv into")
	return c
}

// writeDisparities renders rep into dir/report.html and dir/report.csv
// (creating dir) and says what it wrote.
func writeDisparities(dir string, rep *cc.DisparityReport) (reportWritten, error) {
	const op = "report"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return reportWritten{}, cc.E(op, cc.Internal, err)
	}
	var page, table bytes.Buffer
	if err := report.WriteHTML(&page, rep); err != nil {
		return reportWritten{}, err
	}
	if err := report.WriteCSV(&table, rep); err != nil {
		return reportWritten{}, err
	}
	w := reportWritten{HTML: filepath.Join(dir, "report.html"), CSV: filepath.Join(dir, "report.csv"),
		Vaccine: rep.Vaccine, Dose: rep.Dose, Height: rep.Height, Tables: len(rep.Tables)}
	for path, b := range map[string][]byte{w.HTML: page.Bytes(), w.CSV: table.Bytes()} {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return reportWritten{}, cc.E(op, cc.Internal, err)
		}
	}
	return w, nil
}

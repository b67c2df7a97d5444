package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/gatekeeper"
	"carechain/index"
)

// readModelPath is the node's SQLite read model (EPCIS query, coverage,
// supply KPIs): rebuildable from the chain, except the population
// register, which the node's own ingests feed.
func readModelPath(home string) string { return filepath.Join(home, "data", "readmodel.sqlite") }

// readModel is the running read model and its follower.
type readModel struct {
	db      *index.DB
	cancel  context.CancelFunc
	stopped chan struct{}
}

// openReadModel opens home's read model and follows the chain: every
// interval it indexes the blocks committed since the last pass.
func openReadModel(home string, chain cc.Chain, log *slog.Logger, interval time.Duration) (*readModel, error) {
	if err := os.MkdirAll(filepath.Dir(readModelPath(home)), 0o700); err != nil {
		return nil, cc.E("readmodel", cc.Internal, err)
	}
	db, err := index.Open(readModelPath(home))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	rm := &readModel{db: db, cancel: cancel, stopped: make(chan struct{})}
	go func() {
		defer close(rm.stopped)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if err := rm.sync(ctx, chain); err != nil && ctx.Err() == nil {
				log.Error("read model sync", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return rm, nil
}

// sync indexes the chain up to its latest committed height.
func (rm *readModel) sync(ctx context.Context, chain cc.Chain) error {
	st, err := chain.Status(ctx)
	if err != nil {
		return err
	}
	h, err := rm.db.Height()
	if err != nil || h >= st.LatestHeight {
		return err
	}
	return rm.db.Sync(ctx, chain.State(), st.LatestHeight, nil)
}

// register adds the demographics of ingested patients to the population
// register (the gatekeepers' OnPatients hook).
func (rm *readModel) register(log *slog.Logger) func([]gatekeeper.PatientDemographics) {
	return func(ps []gatekeeper.PatientDemographics) {
		people := make([]index.Person, len(ps))
		for i, p := range ps {
			people[i] = index.Person{DID: p.DID, BirthDate: p.BirthDate, Sex: p.Sex, Area: p.Area}
		}
		if err := rm.db.UpsertPeople(people); err != nil {
			log.Error("population register", "err", err, "people", len(people))
		}
	}
}

func (rm *readModel) close() {
	if rm == nil {
		return
	}
	rm.cancel()
	<-rm.stopped
	rm.db.Close()
}

func newCoverageCmd(g *globals) *cobra.Command {
	var vaccine, by, format string
	var dose, asOf, target, minCell int
	c := &cobra.Command{
		Use:   "coverage --vaccine CODE [--dose N] [--by region,age_band,sex,quintile] [--format table|csv|json]",
		Short: "Immunization coverage and disparities from a node's read model",
		Long: `coverage asks the node (--node) for the coverage of one dose of one vaccine,
overall and by the dimensions of --by, with the rate ratio and rate difference of
each group against the best-covered one and the gap to --target (permille).
Counts below --min-cell (default 11) are suppressed.

The numerator is every recorded immunization (lot-linked or not) of the vaccine;
the denominator is the node's population register (the Patient resources it
ingested): region and deprivation quintile come from the patient's home address
district or city through the area table (see the README, "Coverage").`,
		Example: `  carechain coverage --vaccine 208 --by region,quintile --target 900
  carechain coverage --vaccine http://hl7.org/fhir/sid/cvx|140 --dose 1 --by age_band --format csv > coverage.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if vaccine == "" {
				return usageError{fmt.Errorf("--vaccine is required (a CVX code such as 208, or system|code)")}
			}
			q := url.Values{"vaccine": {vaccine}, "dose": {fmt.Sprint(dose)}}
			if by != "" {
				q.Set("by", by)
			}
			for name, v := range map[string]int{"as_of": asOf, "target": target, "min_cell": minCell} {
				if v != 0 {
					q.Set(name, fmt.Sprint(v))
				}
			}
			switch format {
			case "csv":
				q.Set("format", "csv")
				raw, err := g.getRaw("/v1/coverage?" + q.Encode())
				if err != nil {
					return err
				}
				_, err = os.Stdout.Write(raw)
				return err
			case "table", "json":
			default:
				return usageError{fmt.Errorf("--format must be table, csv or json, not %q", format)}
			}
			raw, err := g.getRaw("/v1/coverage?" + q.Encode())
			if err != nil {
				return err
			}
			var rep index.CoverageReport
			if err := json.Unmarshal(raw, &rep); err != nil {
				return cc.Errorf("coverage", cc.Internal, "the node's answer is not a coverage report")
			}
			if format == "json" || g.output == "json" {
				g.output = "json"
				return g.emit(rep, nil)
			}
			printCoverage(os.Stdout, &rep)
			return nil
		},
	}
	c.Flags().StringVar(&vaccine, "vaccine", "", "vaccine: CVX code or system|code")
	c.Flags().IntVar(&dose, "dose", 1, "dose number (people with at least this many doses)")
	c.Flags().StringVar(&by, "by", "", "group by: region, age_band, sex, quintile (comma-separated)")
	c.Flags().IntVar(&asOf, "as-of", 0, "year ages are computed at (default: the latest block's)")
	c.Flags().IntVar(&target, "target", 0, "target coverage in permille (900 = 90%)")
	c.Flags().IntVar(&minCell, "min-cell", 0, "suppress counts below this (default 11)")
	c.Flags().StringVar(&format, "format", "table", "table, csv or json")
	return c
}

// printCoverage renders a coverage report as a table.
func printCoverage(w io.Writer, rep *index.CoverageReport) {
	fmt.Fprintf(w, "Coverage of %s, dose %d (height %d; counts below %d suppressed)\n", rep.Vaccine, rep.Dose, rep.Height, rep.MinCell)
	fmt.Fprintf(w, "doses counted: %d lot-linked, %d unlinked; %d vaccinated people not in the register\n\n", rep.Linked, rep.Unlinked, rep.Unregistered)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := append(append([]string{}, rep.By...), "vaccinated", "population", "rate", "ratio", "difference", "gap")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	row := func(name []string, gr index.CoverageGroup) {
		cells := append([]string{}, name...)
		if gr.Suppressed {
			cells = append(cells, fmt.Sprintf("<%d", rep.MinCell), "…", "…", "", "", "")
		} else {
			cells = append(cells, fmt.Sprint(gr.Numerator), fmt.Sprint(gr.Denominator), pct(gr.Rate), ratio(gr.RateRatio), pct(gr.RateDifference), pct(gr.GapToTarget))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	for _, gr := range rep.Groups {
		name := make([]string, len(rep.By))
		for i, d := range rep.By {
			name[i] = gr.Group[d]
		}
		row(name, gr)
	}
	total := make([]string, len(rep.By))
	if len(total) > 0 {
		total[0] = "all"
	}
	row(total, rep.Total)
	tw.Flush()
}

func pct(v *float64) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%.1f%%", *v*100)
}

func ratio(v *float64) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%.2f", *v)
}

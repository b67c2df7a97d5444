package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/client"
	"carechain/httpapi"
	"carechain/keystore"
	"carechain/research"
)

// microEpsilon converts an ε given on the command line to micro-ε.
func microEpsilon(eps float64) (int64, error) {
	if !(eps > 0) || math.IsInf(eps, 0) || eps > float64(research.MaxBudgetMicro)/research.MicroPerEpsilon {
		return 0, usageError{fmt.Errorf("ε must be positive and at most %d", research.MaxBudgetMicro/research.MicroPerEpsilon)}
	}
	return int64(math.Round(eps * research.MicroPerEpsilon)), nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newResearchCmd(g *globals) *cobra.Command {
	tf := &txFlags{commit: true}
	c := &cobra.Command{
		Use:   "research",
		Short: "Research projects: register, approve, opt in/out, ask aggregate questions, extract de-identified data",
		Long: `research works with research projects on the ledger (package research): a research
institute registers a project, governance approves it, patients opt in or out (the
default is out), researchers ask aggregate questions answered with small-cell
suppression and differential-privacy noise from the project's ε budget, and take
de-identified FHIR NDJSON extracts of the consenting patients (each read logged in
the patient's access log).`,
	}
	tf.keys.register(c)
	c.PersistentFlags().StringVar(&tf.key, "key", "", "keystore name of the signing key")
	project := &cobra.Command{Use: "project", Short: "Register, approve and inspect research projects"}
	project.AddCommand(newResearchRegisterCmd(g, tf), newResearchApproveCmd(g, tf), newResearchStatusCmd(g))
	c.AddCommand(project, newResearchChoiceCmd(g, tf, "optin", research.TypeOptIn), newResearchChoiceCmd(g, tf, "optout", research.TypeOptOut),
		newResearchAskCmd(g, tf), newResearchExtractCmd(g, tf))
	return c
}

func newResearchRegisterCmd(g *globals, tf *txFlags) *cobra.Command {
	var id, org, title, protocol, ethics, purposes, types, cats string
	var aggregates, extracts bool
	var months int
	var budget float64
	c := g.txCmd(tf, "register --id ID --org INSTITUTE --title T --protocol REF --ethics REF --types T1,T2 --budget EPS",
		"Register a research project of your research institute (pending until governance approves it)", research.TypeRegister, cobra.NoArgs,
		func(c *cobra.Command) {
			c.Flags().StringVar(&id, "id", "", "project id (a slug: [a-z0-9-])")
			c.Flags().StringVar(&org, "org", "", "the research institute's organization id")
			c.Flags().StringVar(&title, "title", "", "title")
			c.Flags().StringVar(&protocol, "protocol", "", "protocol reference (URL, registry id or document hash)")
			c.Flags().StringVar(&ethics, "ethics", "", "ethics approval reference")
			c.Flags().StringVar(&purposes, "purposes", "HRESEARCH", "purposes of use (comma-separated; HRESEARCH among them)")
			c.Flags().StringVar(&types, "types", "Patient,Immunization", "FHIR resource types requested (comma-separated)")
			c.Flags().StringVar(&cats, "categories", "", "categories requested, system|code (comma-separated)")
			c.Flags().BoolVar(&aggregates, "aggregates", true, "aggregate questions requested")
			c.Flags().BoolVar(&extracts, "extracts", true, "de-identified extracts requested")
			c.Flags().IntVar(&months, "months", 12, "duration in months from now")
			c.Flags().Float64Var(&budget, "budget", 5, "privacy budget ε")
		},
		func(_ *keystore.Key, _ []string) (any, error) {
			b, err := microEpsilon(budget)
			if err != nil {
				return nil, err
			}
			now := time.Now().UTC().Truncate(time.Second)
			return map[string]any{"id": id, "org": org, "title": title, "protocol": protocol, "ethics": ethics,
				"purposes": splitList(purposes), "resource_types": splitList(types), "categories": splitList(cats),
				"aggregates": aggregates, "extracts": extracts, "budget_micro_epsilon": b,
				"period": map[string]string{"start": now.Format(time.RFC3339), "end": now.AddDate(0, months, 0).Format(time.RFC3339)}}, nil
		})
	return c
}

func newResearchApproveCmd(g *globals, tf *txFlags) *cobra.Command {
	return g.txCmd(tf, "approve ID", "Approve a research project as a governance member", research.TypeApprove, cobra.ExactArgs(1), nil,
		func(_ *keystore.Key, a []string) (any, error) { return map[string]string{"id": a[0]}, nil })
}

func newResearchStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status [ID]",
		Short: "A project's status, approvals and budget (every project without ID)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			var views []httpapi.ProjectView
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := client.New(g.node)
			if len(a) == 1 {
				var v httpapi.ProjectView
				if err := c.Get(ctx, "/v1/research/projects/"+url.PathEscape(a[0]), &v); err != nil {
					return err
				}
				views = append(views, v)
			} else if err := c.Get(ctx, "/v1/research/projects", &views); err != nil {
				return err
			}
			return g.emit(views, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
				fmt.Fprintln(tw, "PROJECT\tORG\tSTATUS\tAPPROVALS\tACTIVE\tε SPENT / BUDGET\tQUESTIONS\tPERIOD")
				for _, v := range views {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d of %d\t%v\t%s / %s\t%d\t%s – %s\n", v.ID, v.Org, v.Status, v.Approval.Approvals, v.Approval.Threshold,
						v.Active, eps(v.SpentMicro), eps(v.BudgetMicro), v.Queries, v.Period.Start.Format(time.DateOnly), v.Period.End.Format(time.DateOnly))
				}
				tw.Flush()
			})
		},
	}
}

// eps renders micro-ε as ε.
func eps(micro int64) string { return fmt.Sprintf("%.6g", float64(micro)/research.MicroPerEpsilon) }

func newResearchChoiceCmd(g *globals, tf *txFlags, use, typ string) *cobra.Command {
	var patient string
	short := "Opt in to a research project (grants the institute's researchers a HRESEARCH consent for the project's data and period)"
	if typ == research.TypeOptOut {
		short = "Opt out of a research project (wins over any other research consent; revokes the opt-in consent)"
	}
	return g.txCmd(tf, use+" PROJECT [--patient DID]", short, typ, cobra.ExactArgs(1),
		func(c *cobra.Command) {
			c.Flags().StringVar(&patient, "patient", "", "the patient (default: the --key's DID; a delegate with consent.manage names the patient)")
		},
		func(k *keystore.Key, a []string) (any, error) {
			p := cc.DID(patient)
			if p == "" {
				if err := needKey(k); err != nil {
					return nil, err
				}
				p = k.DID
			}
			return map[string]any{"project": a[0], "patient": p}, nil
		})
}

func newResearchAskCmd(g *globals, tf *txFlags) *cobra.Command {
	var measure, vaccine, by string
	var dose, asOf int
	var epsilon float64
	c := &cobra.Command{
		Use:   "ask PROJECT --measure count|coverage|mean_age [--vaccine CODE --dose N] [--by region,age_band,sex,quintile] --epsilon EPS",
		Short: "Ask an aggregate question (spends ε from the project's budget; answered once, with noise and suppression)",
		Example: `  carechain research ask covid-uptake --measure coverage --vaccine 208 --by region --epsilon 0.5 --key nri-researcher
  carechain research ask covid-uptake --measure count --by sex,age_band --epsilon 0.25 --key nri-researcher`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			e, err := microEpsilon(epsilon)
			if err != nil {
				return err
			}
			spec := map[string]any{"measure": measure, "by": splitList(by)}
			if vaccine != "" {
				spec["vaccine"] = vaccine
			}
			if dose != 0 {
				spec["dose"] = dose
			}
			if asOf != 0 {
				spec["as_of"] = asOf
			}
			res, _, err := g.send(tf, research.TypeAsk, map[string]any{"project": a[0], "query": spec, "epsilon_micro": e})
			if err != nil {
				return err
			}
			var q research.Query
			if err := json.Unmarshal(res.Data, &q); err != nil {
				return cc.Errorf("research.ask", cc.Internal, "the ledger's answer is not a question")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := client.New(g.node).Get(ctx, fmt.Sprintf("/v1/research/projects/%s/queries/%d", url.PathEscape(a[0]), q.N), &q); err != nil {
				return err
			}
			return g.emit(q, func(w io.Writer) { printAnswer(w, &q) })
		},
	}
	c.Flags().StringVar(&measure, "measure", research.MeasureCount, "count, coverage or mean_age")
	c.Flags().StringVar(&vaccine, "vaccine", "", "coverage: vaccine code (CVX) or system|code")
	c.Flags().IntVar(&dose, "dose", 0, "coverage: at least this many doses (default 1)")
	c.Flags().StringVar(&by, "by", "", "strata: region, age_band, sex, quintile (comma-separated)")
	c.Flags().IntVar(&asOf, "as-of", 0, "year ages are computed at (default: this year)")
	c.Flags().Float64Var(&epsilon, "epsilon", 0.5, "ε this question spends")
	return c
}

// printAnswer prints a question and its answer as a table.
func printAnswer(w io.Writer, q *research.Query) {
	fmt.Fprintf(w, "question %d of %s: %s", q.N, q.Project, q.Spec.Measure)
	if q.Spec.Vaccine != "" {
		fmt.Fprintf(w, " of vaccine %s (≥ %d doses)", q.Spec.Vaccine, q.Spec.Dose)
	}
	if len(q.Spec.By) > 0 {
		fmt.Fprintf(w, " by %s", strings.Join(q.Spec.By, ", "))
	}
	fmt.Fprintf(w, "; ε %s spent at height %d\n", eps(q.EpsilonMicro), q.Height)
	if q.Answer == nil {
		fmt.Fprintln(w, "not answered yet (ask a custodian node: it records the answer once)")
		return
	}
	a := q.Answer
	fmt.Fprintf(w, "answered at height %d by %s: %s noise (sensitivity %d, δ = 0), cells below %d suppressed\n\n", q.AnsweredAt, q.AnsweredBy, a.Mechanism, a.Sensitivity, a.MinCell)
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	head := strings.ToUpper(strings.Join(append([]string{"group"}, "n"), "\t"))
	switch q.Spec.Measure {
	case research.MeasureCoverage:
		head += "\tVACCINATED\tRATE"
	case research.MeasureMeanAge:
		head += "\tMEAN AGE"
	}
	fmt.Fprintln(tw, head)
	for _, c := range a.Cells {
		g := "total"
		if len(c.Group) > 0 {
			g = strings.Join(c.Group, " / ")
		}
		if c.Suppressed {
			fmt.Fprintf(tw, "%s\tsuppressed\n", g)
			continue
		}
		switch q.Spec.Measure {
		case research.MeasureCoverage:
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f%%\n", g, c.N, c.Num, float64(c.RatePPM)/10000)
		case research.MeasureMeanAge:
			fmt.Fprintf(tw, "%s\t%d\t%.1f\n", g, c.N, float64(c.MeanMilli)/1000)
		default:
			fmt.Fprintf(tw, "%s\t%d\n", g, c.N)
		}
	}
	tw.Flush()
}

func newResearchExtractCmd(g *globals, tf *txFlags) *cobra.Command {
	var org, out string
	c := &cobra.Command{
		Use:   "extract PROJECT --org INSTITUTE --key RESEARCHER [--out DIR]",
		Short: "Take a de-identified FHIR NDJSON extract of the project's consenting patients",
		Long: `extract signs one export read (purpose HRESEARCH, acting for --org) per consenting
patient and custodian, has the node release them through the gatekeeper (each read is
logged on-chain and shows in the patient's access log) and de-identify them, and
writes the NDJSON files to --out.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if tf.key == "" || org == "" {
				return usageError{fmt.Errorf("--key and --org are required")}
			}
			k, err := tf.keys.unlock(tf.key)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			defer cancel()
			c := client.New(g.node)
			job, err := c.StartResearchExtract(ctx, client.NewSigner(k.DID, k.PrivateKey()), a[0], org)
			if err != nil {
				return err
			}
			st, err := c.WaitResearchExtract(ctx, job)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
			for _, f := range st.Files {
				var body []byte
				u, err := url.Parse(f.URL)
				if err != nil {
					return cc.Errorf("research.extract", cc.Internal, "bad file URL %q", f.URL)
				}
				if err := c.Get(ctx, u.Path, &body); err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(out, f.Type+".ndjson"), body, 0o600); err != nil {
					return err
				}
			}
			return g.emit(st, func(w io.Writer) {
				fmt.Fprintf(w, "extract %s: %d patients (%d reads skipped), %d access events logged\n", st.Job, st.Patients, st.Skipped, len(st.Events))
				for _, f := range st.Files {
					fmt.Fprintf(w, "  %s\t%d resources\n", filepath.Join(out, f.Type+".ndjson"), f.Count)
				}
			})
		},
	}
	c.Flags().StringVar(&org, "org", "", "the research institute the key acts for")
	c.Flags().StringVar(&out, "out", "research-extract", "directory for the NDJSON files")
	return c
}

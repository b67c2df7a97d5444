package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/client"
	"carechain/httpapi"
	"carechain/keystore"
	"carechain/programs"
)

// newProgramCmd is `carechain program`: deploy and steer public-health
// intervention programs and read their status.
func newProgramCmd(g *globals) *cobra.Command {
	tf := &txFlags{}
	c := &cobra.Command{Use: "program", Short: "Public-health intervention programs: deploy, activate, pause, close, enroll, run, status",
		Long: `Intervention programs are contracts a public-health agency deploys on the ledger: a target
population (a CEL expression), a coverage goal with milestones, per-dose incentive credits from a
fixed budget, reminders for overdue doses and escalation of regions behind target. They run in
consensus; every decision is logged with the dose or run that triggered it.`}
	tf.keys.register(c)
	c.PersistentFlags().StringVar(&tf.key, "key", "", "keystore name of the signing key (the agency's admin, public-health officer or node key)")
	c.PersistentFlags().BoolVar(&tf.commit, "commit", true, "wait until the transaction is committed in a block")

	var org, id string
	deploy := g.txCmd(tf, "deploy SPEC.json", "Deploy a program (draft) or a new version of a draft or paused one, from a JSON spec file", programs.TypeDeploy, cobra.ExactArgs(1),
		func(c *cobra.Command) {
			c.Flags().StringVar(&org, "org", "", "the public-health agency")
			c.Flags().StringVar(&id, "id", "", "the program id (lowercase letters, digits and '-')")
		},
		func(_ *keystore.Key, a []string) (any, error) {
			if org == "" || id == "" {
				return nil, usageError{fmt.Errorf("--org and --id are required")}
			}
			raw, err := os.ReadFile(a[0])
			if err != nil {
				return nil, usageError{err}
			}
			var spec json.RawMessage
			if err := json.Unmarshal(raw, &spec); err != nil {
				return nil, usageError{fmt.Errorf("%s: not JSON: %v", a[0], err)}
			}
			return map[string]any{"org": org, "id": id, "spec": spec}, nil
		})
	idArg := func(_ *keystore.Key, a []string) (any, error) { return map[string]string{"id": a[0]}, nil }
	activate := g.txCmd(tf, "activate ID", "Start a draft or paused program", programs.TypeActivate, cobra.ExactArgs(1), nil, idArg)
	pause := g.txCmd(tf, "pause ID", "Pause an active program: doses still count, nothing is paid or sent", programs.TypePause, cobra.ExactArgs(1), nil, idArg)
	closeCmd := g.txCmd(tf, "close ID", "Close a program for good", programs.TypeClose, cobra.ExactArgs(1), nil, idArg)
	var limit int
	run := g.txCmd(tf, "run ID", "Send due reminders, check milestone dates and escalate regions behind target (the agency's node does this every minute)", programs.TypeRun, cobra.ExactArgs(1),
		func(c *cobra.Command) {
			c.Flags().IntVar(&limit, "limit", 0, "most reminders in this run (0: the ledger's cap)")
		},
		func(_ *keystore.Key, a []string) (any, error) { return map[string]any{"id": a[0], "limit": limit}, nil })

	enroll := &cobra.Command{Use: "enroll ID MEMBERS.json", Args: cobra.ExactArgs(2),
		Short: "Enroll people from a JSON array or NDJSON file of {patient, facts: {age_band, sex, region, quintile, risks}}",
		Long: `Enroll people in a program. The ledger enrolls those the program's target admits and whose Patient
record the agency may read for PUBHLTH under their consent and the agency's agreements; the others
are counted, not named. Sent in transactions of up to 1000 people.`,
		RunE: func(cmd *cobra.Command, a []string) error { return g.enroll(tf, a[0], a[1]) }}

	status := &cobra.Command{Use: "status [ID]", Short: "A program's status, coverage, milestones, regions and payments (all programs without ID)", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if len(a) == 0 {
				return g.programList()
			}
			return g.programStatus(a[0])
		}}
	var kind string
	var last int
	decisions := &cobra.Command{Use: "decisions ID", Short: "A program's decision log (credits, refusals, reminders, milestones, escalations)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			q := url.Values{}
			if kind != "" {
				q.Set("kind", kind)
			}
			if last > 0 {
				q.Set("limit", fmt.Sprint(last))
			}
			var ds []programs.Decision
			if err := g.getJSON("/v1/programs/"+url.PathEscape(a[0])+"/decisions?"+q.Encode(), &ds); err != nil {
				return err
			}
			return g.emit(ds, func(w io.Writer) {
				for _, d := range ds {
					fmt.Fprintf(w, "%s  h%-7d %-18s %s\n", d.Time[:min(19, len(d.Time))], d.Height, d.Kind, describeDecision(d))
				}
				if len(ds) == 0 {
					fmt.Fprintln(w, "no decisions yet")
				}
			})
		}}
	decisions.Flags().StringVar(&kind, "kind", "", "only this kind: credit, budget-exhausted, condition-error, reminder, milestone-reached, milestone-missed, escalation")
	decisions.Flags().IntVar(&last, "last", 0, "only the last N")
	c.AddCommand(deploy, activate, pause, closeCmd, enroll, run, status, decisions)
	return c
}

// describeDecision is one line about d.
func describeDecision(d programs.Decision) string {
	switch d.Kind {
	case programs.DecisionCredit:
		return fmt.Sprintf("%d credits to %s for dose %d (%s)", d.Credits, d.Org, d.Dose, d.Trigger.Record)
	case programs.DecisionReminder:
		return fmt.Sprintf("dose %d reminder to %s", d.Dose, d.Patient)
	case programs.DecisionEscalation:
		return fmt.Sprintf("region %s at %d‰ for %s: %s", d.Region, d.Permille, d.Milestone, d.Reason)
	case programs.DecisionReached, programs.DecisionMissed:
		return fmt.Sprintf("%s: dose %d at %d‰ %s", d.Milestone, d.Dose, d.Permille, d.Reason)
	}
	return fmt.Sprintf("%s dose %d: %s", d.Org, d.Dose, d.Reason)
}

// getJSON fetches an API path into out.
func (g *globals) getJSON(path string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return client.New(g.node).Get(ctx, path, out)
}

func (g *globals) programList() error {
	var ps []programs.Program
	if err := g.getJSON("/v1/programs", &ps); err != nil {
		return err
	}
	return g.emit(ps, func(w io.Writer) {
		if len(ps) == 0 {
			fmt.Fprintln(w, "no programs")
		}
		for _, p := range ps {
			fmt.Fprintf(w, "%-28s v%-3d %-7s %-22s enrolled %-6d credits %d/%d  %s\n", p.ID, p.Version, p.Status, p.Org, p.Enrolled, p.Spent, p.Budget, p.Title)
		}
	})
}

func (g *globals) programStatus(id string) error {
	var v httpapi.ProgramView
	if err := g.getJSON("/v1/programs/"+url.PathEscape(id), &v); err != nil {
		return err
	}
	return g.emit(v, func(w io.Writer) {
		p := v.Program
		fmt.Fprintf(w, "%s — %s\n", p.ID, p.Title)
		fmt.Fprintf(w, "status %s, version %d, by %s (deployed at height %d, changed at %d)\n", p.Status, p.Version, p.Org, p.Created, p.Updated)
		fmt.Fprintf(w, "vaccines: %s\ntarget:   %s\n", strings.Join(v.Spec.Vaccines, ", "), v.Spec.Target)
		fmt.Fprintf(w, "members:  %d, doses counted %d, reminders sent %d, escalations %d\n", p.Enrolled, p.Doses, p.Reminders, p.Escalations)
		for _, c := range v.Coverage {
			fmt.Fprintf(w, "  dose %d: %d members (%.1f%%)\n", c.Dose, c.Reached, float64(c.Permille)/10)
		}
		fmt.Fprintln(w, "milestones:")
		for _, c := range p.Checkpoints {
			fmt.Fprintf(w, "  %-16s dose %d ≥ %.1f%% by %s: %s\n", c.Name, c.Dose, float64(c.Permille)/10, c.By, c.State)
		}
		if len(v.Regions) > 0 {
			fmt.Fprintln(w, "regions (goal dose):")
			for _, r := range v.Regions {
				esc := ""
				if len(r.Escalated) > 0 {
					esc = "  ESCALATED: " + strings.Join(r.Escalated, ", ")
				}
				fmt.Fprintf(w, "  %-12s %5d members %5.1f%%%s\n", r.Region, r.Enrolled, float64(r.Coverage(v.Spec.Goal.Dose))/10, esc)
			}
		}
		if v.Spec.Incentive != nil {
			fmt.Fprintf(w, "incentive: %d credits per dose, %d of %d spent on %d doses\n", v.Spec.Incentive.CreditsPerDose, p.Spent, p.Budget, p.Credits)
			for _, py := range v.Payees {
				fmt.Fprintf(w, "  %-24s %6d credits for %d doses\n", py.Org, py.Credits, py.Doses)
			}
		}
	})
}

// enrollMember is one line of an enrollment file.
type enrollMember struct {
	Patient cc.DID         `json:"patient"`
	Facts   programs.Facts `json:"facts"`
}

// readMembers reads a JSON array or NDJSON file of enrollMember.
func readMembers(path string) ([]enrollMember, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError{err}
	}
	var out []enrollMember
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
		if err := json.Unmarshal(t, &out); err != nil {
			return nil, usageError{fmt.Errorf("%s: %v", path, err)}
		}
		return out, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var m enrollMember
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, usageError{fmt.Errorf("%s line %d: %v", path, n, err)}
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// enroll sends the members of file to program id in batches.
func (g *globals) enroll(tf *txFlags, id, file string) error {
	members, err := readMembers(file)
	if err != nil {
		return err
	}
	if len(members) == 0 {
		return usageError{fmt.Errorf("%s lists nobody", file)}
	}
	var total programs.EnrollResult
	bar := newBar(int64(len(members)), "enrolling")
	for start := 0; start < len(members); start += programs.MaxEnrollPerTx {
		batch := members[start:min(start+programs.MaxEnrollPerTx, len(members))]
		res, _, err := g.send(tf, programs.TypeEnroll, map[string]any{"id": id, "members": batch})
		if err != nil {
			return err
		}
		var r programs.EnrollResult
		if err := json.Unmarshal(res.Data, &r); err == nil {
			total.Enrolled += r.Enrolled
			total.Already += r.Already
			total.NotEligible += r.NotEligible
			total.NotVisible += r.NotVisible
		}
		bar.Add(len(batch))
	}
	bar.Finish()
	return g.emit(total, func(w io.Writer) {
		fmt.Fprintf(w, "\nenrolled %d, already members %d, not in the target %d, not visible to the agency %d\n",
			total.Enrolled, total.Already, total.NotEligible, total.NotVisible)
	})
}

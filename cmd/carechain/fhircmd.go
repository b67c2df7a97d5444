package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/client"
)

func newFHIRCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "fhir",
		Short: "Read FHIR records through their custodian's gatekeeper (signed and logged on the ledger)",
	}
	var kf keyFlags
	kf.register(c)
	var key, patient, purpose, org string
	get := &cobra.Command{
		Use:   "get PATH --key NAME --patient DID --purpose CODE [--org ORG]",
		Short: "Signed FHIR read or search; prints the body and, on standard error, the access event",
		Long: `get signs a read of PATH with --key and sends it to --node. PATH is
/fhir/{type}/{id}, /fhir/{type}/{id}/_history[/{vid}], /fhir/{type}?{query} (a
search) or /fhir/Patient/{id}/$everything (the leading /fhir may be left out).
--patient is the DID of the patient whose record is read and --purpose the
HL7 v3 PurposeOfUse (TREAT for care, ETREAT for an emergency, PATRQT for a
patient's own request, …). --org is the organization you act for.

The body is printed to standard output as indented JSON; the access event the
read committed is printed to standard error. A record that is missing, or that
you may not read, answers exit code 5 alike; so does an erased one.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if key == "" || patient == "" || purpose == "" {
				return usageError{fmt.Errorf("--key NAME, --patient DID and --purpose CODE are required")}
			}
			if !cc.DID(patient).Valid() {
				return usageError{fmt.Errorf("--patient %q is not a DID (did:cc:…)", patient)}
			}
			if org != "" && !cc.ValidOrgID(org) {
				return usageError{fmt.Errorf("--org %q is not an organization id", org)}
			}
			path := fhirPath(args[0])
			k, err := kf.unlock(key)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			resp, err := client.New(g.node).ReadFHIR(ctx, client.NewSigner(k.DID, k.PrivateKey()),
				client.ReadOptions{Patient: cc.DID(patient), Purpose: purpose, Org: org}, path)
			if err != nil {
				return err
			}
			if err := printJSON(os.Stdout, resp.Body); err != nil {
				return err
			}
			if resp.AccessEvent != "" {
				fmt.Fprintf(os.Stderr, "access event %s (basis %s) at height %d\n", resp.AccessEvent, orDash(resp.Basis), resp.Height)
			} else {
				fmt.Fprintln(os.Stderr, "no access event (nothing was read)")
			}
			return nil
		},
	}
	get.Flags().StringVar(&key, "key", "", "keystore name of the requester")
	get.Flags().StringVar(&patient, "patient", "", "DID of the patient whose record is read")
	get.Flags().StringVar(&purpose, "purpose", "", "HL7 v3 PurposeOfUse code, e.g. TREAT, ETREAT, PATRQT")
	get.Flags().StringVar(&org, "org", "", "organization the requester acts for")
	c.AddCommand(get)
	return c
}

// fhirPath accepts "/fhir/Patient/x", "fhir/Patient/x", "/Patient/x" or
// "Patient/x" and returns "/fhir/Patient/x".
func fhirPath(p string) string {
	p = strings.TrimPrefix(p, "/")
	if p != "fhir" && !strings.HasPrefix(p, "fhir/") {
		p = "fhir/" + p
	}
	return "/" + p
}

// printJSON writes b indented (or as it is, if it is not JSON).
func printJSON(w io.Writer, b []byte) error {
	var buf bytes.Buffer
	if json.Indent(&buf, bytes.TrimSpace(b), "", "  ") != nil {
		_, err := w.Write(b)
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// loggedAccess mirrors an entry of GET /v1/patients/{did}/access-log.
type loggedAccess struct {
	ID         string    `json:"id"`
	Patient    cc.DID    `json:"patient"`
	Accessor   cc.DID    `json:"accessor"`
	Org        string    `json:"org,omitempty"`
	Records    []string  `json:"records"`
	Action     string    `json:"action"`
	Purpose    string    `json:"purpose"`
	Basis      string    `json:"basis"`
	Bases      []string  `json:"bases,omitempty"`
	Ref        string    `json:"ref,omitempty"`
	BreakGlass bool      `json:"break_glass,omitempty"`
	Height     int64     `json:"height"`
	Time       time.Time `json:"time"`
	ProofKey   string    `json:"proof_key"`
}

// getRaw fetches an API path's raw answer.
func (g *globals) getRaw(path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var raw []byte
	if err := client.New(g.node).Get(ctx, path, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

func didArg(s string) (cc.DID, error) {
	d := cc.DID(s)
	if !d.Valid() {
		return "", usageError{fmt.Errorf("%q is not a DID (did:cc:…)", s)}
	}
	return d, nil
}

func newAccessLogCmd(g *globals) *cobra.Command {
	var asFHIR bool
	c := &cobra.Command{
		Use:   "access-log DID [--fhir]",
		Short: "Who read a patient's records, when, why and on which basis (newest first)",
		Long: `access-log lists a patient's access events from the ledger: time, accessor,
organization, action, purpose of use, the basis that allowed it, how many
records, and whether it was an emergency (break-glass) access. -o json prints
the node's JSON (each event with the proof_key to prove it with
carechain query proof); --fhir prints them as a FHIR Bundle of AuditEvents.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := didArg(args[0])
			if err != nil {
				return err
			}
			path := "/v1/patients/" + url.PathEscape(string(d)) + "/access-log"
			if asFHIR {
				raw, err := g.getRaw(path + "?format=fhir")
				if err != nil {
					return err
				}
				if err := outcomeAsError(raw); err != nil {
					return err
				}
				return printJSON(os.Stdout, raw)
			}
			raw, err := g.getRaw(path)
			if err != nil {
				return err
			}
			var evs []loggedAccess
			if err := json.Unmarshal(raw, &evs); err != nil {
				return cc.Errorf("access-log", cc.Internal, "the node's answer is not a list of access events")
			}
			if g.output == "json" {
				return printJSON(os.Stdout, raw)
			}
			return g.emit(evs, func(w io.Writer) { printAccessLog(w, d, evs) })
		},
	}
	c.Flags().BoolVar(&asFHIR, "fhir", false, "print a FHIR Bundle of AuditEvent resources")
	return c
}

func printAccessLog(w io.Writer, d cc.DID, evs []loggedAccess) {
	if len(evs) == 0 {
		fmt.Fprintf(w, "no access events for %s\n", d)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACCESSOR\tORG\tACTION\tPURPOSE\tBASIS\tRECORDS\tBREAK-GLASS")
	for _, e := range evs {
		bg := ""
		if e.BreakGlass {
			bg = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Accessor, orDash(e.Org),
			e.Action, orDash(e.Purpose), orDash(e.Basis), len(e.Records), bg)
	}
	tw.Flush()
}

// outcomeAsError turns a FHIR OperationOutcome answer into an error.
func outcomeAsError(raw []byte) error {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	if json.Unmarshal(raw, &oo) != nil || oo.ResourceType != "OperationOutcome" {
		return nil
	}
	var msgs []string
	for _, is := range oo.Issue {
		if is.Diagnostics != "" {
			msgs = append(msgs, is.Diagnostics)
		}
	}
	return cc.Errorf("access-log", cc.Internal, "the node answered an OperationOutcome: %s", strings.Join(msgs, "; "))
}

// notification mirrors an entry of GET /v1/patients/{did}/notifications.
type notification struct {
	ID      string    `json:"id"`
	Patient cc.DID    `json:"patient"`
	Kind    string    `json:"kind"`
	Ref     string    `json:"ref,omitempty"`
	Text    string    `json:"text"`
	Height  int64     `json:"height"`
	Time    time.Time `json:"time"`
}

func newNotificationsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "notifications DID",
		Short: "A patient's notifications (reads of their records, emergency access, consent changes, …)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := didArg(args[0])
			if err != nil {
				return err
			}
			raw, err := g.getRaw("/v1/patients/" + url.PathEscape(string(d)) + "/notifications")
			if err != nil {
				return err
			}
			var ns []notification
			if err := json.Unmarshal(raw, &ns); err != nil {
				return cc.Errorf("notifications", cc.Internal, "the node's answer is not a list of notifications")
			}
			if g.output == "json" {
				return printJSON(os.Stdout, raw)
			}
			return g.emit(ns, func(w io.Writer) {
				if len(ns) == 0 {
					fmt.Fprintf(w, "no notifications for %s\n", d)
					return
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tHEIGHT\tKIND\tREF\tTEXT")
				for _, n := range ns {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", n.Time.UTC().Format(time.RFC3339), n.Height, n.Kind, orDash(n.Ref), n.Text)
				}
				tw.Flush()
			})
		},
	}
}

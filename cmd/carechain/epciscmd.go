package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/epcis"
	"carechain/supply"
)

// parseEPCIS reads and validates one EPCIS document file.
func parseEPCIS(path string) (*epcis.Document, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, cc.Errorf("epcis", cc.NotFound, "%v", err)
	}
	return epcis.Parse(b)
}

func newEPCISCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "epcis",
		Short: "GS1 EPCIS 2.0: validate documents, capture their events on the ledger",
	}
	c.AddCommand(&cobra.Command{
		Use:   "validate FILE...",
		Short: "Validate EPCIS 2.0 JSON/JSON-LD documents (official schema and semantic rules)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var first error
			for _, f := range args {
				doc, err := parseEPCIS(f)
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s: %v\n", f, err)
					if first == nil {
						first = err
					}
					continue
				}
				fmt.Printf("%s: valid, %d events\n", f, len(doc.Events))
			}
			return first
		},
	})
	var tf txFlags
	var org string
	capture := &cobra.Command{
		Use:   "capture FILE... --key NAME --org ORG",
		Short: "Validate EPCIS documents and capture their events in supply.capture transactions signed by a member of ORG",
		Long: `capture validates each document (official EPCIS 2.0 schema and semantic rules), converts
its events (temperatures to integer milli-°C) and submits them in a supply.capture transaction
signed with --key, a member of --org (logistics, pharmacist, physician, nurse or node role).
The ledger applies the custody rules: only the owner ships, only the addressee receives,
packing keeps the hierarchy, decommissioned items end; a re-commissioned or unknown serial is
refused and recorded as a fraud alert.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tf.key == "" || org == "" {
				return usageError{fmt.Errorf("--key NAME and --org ORG are required")}
			}
			var results []*cc.SubmitResult
			for _, f := range args {
				doc, err := parseEPCIS(f)
				if err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
				evs, err := epcis.SupplyEvents(doc)
				if err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
				res, _, err := g.send(&tf, supply.TypeCapture, map[string]any{"org": org, "events": evs})
				if err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
				results = append(results, res)
			}
			return g.emit(results, func(w io.Writer) {
				for i, res := range results {
					fmt.Fprintf(w, "%s: ", args[i])
					printResult(w, supply.TypeCapture, res)
				}
			})
		},
	}
	tf.keys.register(capture)
	capture.Flags().StringVar(&tf.key, "key", "", "keystore name of a member of --org")
	capture.Flags().StringVar(&org, "org", "", "the capturing organization")
	capture.Flags().BoolVar(&tf.commit, "commit", true, "wait until the transaction is committed")
	c.AddCommand(capture)
	return c
}

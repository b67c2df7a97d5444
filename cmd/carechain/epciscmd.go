package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/epcis"
	"carechain/supply"
)

// captureEvents converts parsed EPCIS events into supply.capture events:
// times in RFC 3339 with the event's own zone offset, lots and expiry
// dates from the ILMD, and temperature reports as integer milli-degrees
// Celsius (the ledger holds no floats). Reports that are not temperatures
// are left out. TransformationEvents, which the ledger does not capture
// yet, are cc.Invalid.
func captureEvents(doc *epcis.Document) ([]supply.Event, error) {
	out := make([]supply.Event, 0, len(doc.Events))
	for i, e := range doc.Events {
		if e.Type == epcis.TransformationEvent {
			return nil, cc.Errorf("epcis", cc.Invalid, "event %d: TransformationEvent is not captured yet", i)
		}
		se := supply.Event{
			Type: e.Type, Action: e.Action, EventTime: e.EventTime.Format(time.RFC3339Nano), EventID: e.EventID,
			EPCs: e.EPCs, ParentID: e.ParentID, ChildEPCs: e.ChildEPCs, BizStep: e.BizStep, Disposition: e.Disposition,
			ReadPoint: e.ReadPoint, BizLocation: e.BizLocation, Lot: e.ILMD.Lot,
		}
		for _, l := range e.Sources {
			se.Sources = append(se.Sources, supply.Link{Type: l.Type, ID: l.ID})
		}
		for _, l := range e.Destinations {
			se.Destinations = append(se.Destinations, supply.Link{Type: l.Type, ID: l.ID})
		}
		if !e.ILMD.Expiry.IsZero() {
			se.Expiry = e.ILMD.Expiry.Format("2006-01-02")
		}
		for _, s := range e.Sensors {
			c := s.Celsius
			if c == nil {
				c = s.MaxCelsius // an interval report: its worst value
			}
			if c == nil {
				continue
			}
			sr := supply.Sensor{Type: s.Type, ValueMilliC: int64(math.Round(*c * 1000))}
			if !s.Time.IsZero() {
				sr.Time = s.Time.Format(time.RFC3339Nano)
			}
			se.Sensors = append(se.Sensors, sr)
		}
		out = append(out, se)
	}
	return out, nil
}

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
				evs, err := captureEvents(doc)
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

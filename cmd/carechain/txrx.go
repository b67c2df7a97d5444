package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"carechain/keystore"
	"carechain/rx"
)

// rxTxCmds are the `carechain tx` commands of e-prescriptions that people
// sign themselves (issue and dispense go through the gatekeeper with the
// FHIR MedicationRequest and MedicationDispense).
func rxTxCmds(g *globals, tf *txFlags) []*cobra.Command {
	var reason string
	cancel := g.txCmd(tf, "rx-cancel PRESCRIPTION", "As the prescriber (or the organization's node), cancel an active e-prescription (MedicationRequest/{id})", rx.TypeCancel, cobra.ExactArgs(1),
		func(c *cobra.Command) {
			c.Flags().StringVar(&reason, "reason", "", "a reason code (a-z, 0-9, '.', '_', '-'; never free text), e.g. altchoice, clarif, drughigh")
		},
		func(_ *keystore.Key, a []string) (any, error) {
			if reason == "" {
				return nil, usageError{fmt.Errorf("--reason CODE is required")}
			}
			return map[string]string{"prescription": a[0], "reason": reason}, nil
		})
	collection := g.txCmd(tf, "rx-collection PRESCRIPTION true|false", "As the patient, allow (or forbid) a delegate with the rx.collect scope to collect an e-prescription", rx.TypeCollection, cobra.ExactArgs(2), nil,
		func(_ *keystore.Key, a []string) (any, error) {
			allow, err := strconv.ParseBool(a[1])
			if err != nil {
				return nil, usageError{fmt.Errorf("the second argument must be true or false, not %q", a[1])}
			}
			return map[string]any{"prescription": a[0], "allow": allow}, nil
		})
	return []*cobra.Command{cancel, collection}
}

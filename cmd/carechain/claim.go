package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"carechain/client"
)

func newClaimCmd(g *globals) *cobra.Command {
	var kf keyFlags
	var key, code string
	c := &cobra.Command{
		Use:   "claim DID --code CODE --key NAME",
		Short: "Claim a custodial patient DID with its one-time code, moving it to your own key",
		Long: `claim takes over a custodial patient DID that an organization created for you when it
stored your records (carechain ingest --custodial): give the DID and the one-time code
the organization handed you, and --key, your own key in the keystore (create it first
with carechain keys create NAME). The organization's node relays the claim; the ledger
checks the code and moves the DID to your key, so from then on only you can sign for
it: grant and revoke consents, read your records and their access log.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := didArg(args[0])
			if err != nil {
				return err
			}
			if key == "" || code == "" {
				return usageError{fmt.Errorf("--key NAME and --code CODE are required")}
			}
			k, err := kf.unlock(key)
			if err != nil {
				return err
			}
			if err := client.New(g.node).Claim(context.Background(), d, code, k.PrivateKey()); err != nil {
				return err
			}
			return g.emit(map[string]any{"did": d, "claimed": true, "key": key}, func(w io.Writer) {
				fmt.Fprintf(w, "%s is yours: it now answers to key %q\n", d, key)
			})
		},
	}
	kf.register(c)
	c.Flags().StringVar(&key, "key", "", "your key (keystore name) the DID moves to")
	c.Flags().StringVar(&code, "code", "", "the one-time claim code")
	return c
}

package main

import (
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

// get fetches an API path and prints it (JSON, or text via render).
func (g *globals) get(path string, render func(w io.Writer, v map[string]any)) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var raw []byte
	if err := client.New(g.node).Get(ctx, path, &raw); err != nil {
		return err
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		return cc.Errorf("query", cc.Internal, "answer is not a JSON object")
	}
	if render == nil {
		return g.emit(v, nil)
	}
	return g.emit(v, func(w io.Writer) { render(w, v) })
}

func simple(g *globals, use, short string, args cobra.PositionalArgs, path func(a []string) string) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Args: args, RunE: func(cmd *cobra.Command, a []string) error {
		return g.get(path(a), nil)
	}}
}

func newQueryCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "query", Aliases: []string{"q"}, Short: "Read committed ledger state from a node"}
	c.AddCommand(
		&cobra.Command{Use: "status", Short: "Chain id, height, AppHash and validators", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return g.get("/v1/status", func(w io.Writer, v map[string]any) {
					fmt.Fprintf(w, "chain:      %v\nheight:     %v\napp hash:   %v\nblock time: %v\nmempool:    %v\n", v["chain_id"], v["latest_height"], v["latest_app_hash"], v["latest_block_time"], v["mempool_size"])
					if vals, ok := v["validators"].([]any); ok {
						fmt.Fprintf(w, "validators: %d\n", len(vals))
						for _, x := range vals {
							m, _ := x.(map[string]any)
							fmt.Fprintf(w, "  %v power %v\n", m["address"], m["power"])
						}
					}
				})
			}},
		simple(g, "account DID", "A DID's kind, next sequence, memberships, recovery and delegations", cobra.ExactArgs(1), func(a []string) string { return "/v1/accounts/" + url.PathEscape(a[0]) }),
		simple(g, "prescriptions DID", "A patient's e-prescriptions: status, quantities and dispense history", cobra.ExactArgs(1), func(a []string) string { return "/v1/patients/" + url.PathEscape(a[0]) + "/prescriptions" }),
		simple(g, "org ID", "One organization", cobra.ExactArgs(1), func(a []string) string { return "/v1/orgs/" + url.PathEscape(a[0]) }),
		&cobra.Command{Use: "orgs", Short: "Admitted organizations", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
			return g.get("/v1/orgs", func(w io.Writer, v map[string]any) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tTYPE\tNAME")
				for _, x := range asList(v["organizations"]) {
					fmt.Fprintf(tw, "%v\t%v\t%v\n", x["id"], x["type"], x["name"])
				}
				tw.Flush()
			})
		}},
		&cobra.Command{Use: "members ORG", Short: "Members of an organization and their roles", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, a []string) error {
			return g.get("/v1/orgs/"+url.PathEscape(a[0])+"/members", func(w io.Writer, v map[string]any) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "DID\tROLES")
				for _, x := range asList(v["members"]) {
					fmt.Fprintf(tw, "%v\t%v\n", x["did"], x["roles"])
				}
				tw.Flush()
			})
		}},
		simple(g, "patient DID", "A registered patient and who attested it", cobra.ExactArgs(1), func(a []string) string { return "/v1/patients/" + url.PathEscape(a[0]) }),
		simple(g, "governance", "Governance members and threshold", cobra.NoArgs, func([]string) string { return "/v1/governance" }),
		simple(g, "proposals", "Governance proposals", cobra.NoArgs, func([]string) string { return "/v1/proposals" }),
		simple(g, "proposal ID", "One governance proposal", cobra.ExactArgs(1), func(a []string) string { return "/v1/proposals/" + url.PathEscape(a[0]) }),
		simple(g, "block HEIGHT|latest", "A committed block", cobra.ExactArgs(1), func(a []string) string { return "/v1/blocks/" + url.PathEscape(a[0]) }),
		simple(g, "tx HASH", "Where a committed transaction is", cobra.ExactArgs(1), func(a []string) string { return "/v1/txs/" + url.PathEscape(a[0]) }),
		simple(g, "item EPC", "The custody state of a supply-chain item (SGTIN, SSCC … or a GS1 Digital Link)", cobra.ExactArgs(1), func(a []string) string { return "/v1/supply/items/" + a[0] }),
		simple(g, "trace LOT", "Where a lot's stock is and which patients (DIDs) received its doses", cobra.ExactArgs(1), func(a []string) string { return "/v1/supply/lots/" + url.PathEscape(a[0]) + "/trace" }),
		newProofQueryCmd(g),
	)
	return c
}

func newProofQueryCmd(g *globals) *cobra.Command {
	var key, txh, out string
	c := &cobra.Command{
		Use:   "proof",
		Short: "Fetch an inclusion proof of a state key or a transaction (check it with verify-proof)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			switch {
			case txh != "":
				q.Set("tx", strings.ToLower(txh))
			case key != "":
				q.Set("key", key)
			default:
				return usageError{fmt.Errorf("give --key KEY or --tx HASH")}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var raw []byte
			if err := client.New(g.node).Get(ctx, "/v1/proofs?"+q.Encode(), &raw); err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err := os.Stdout.Write(raw)
				return err
			}
			if err := os.WriteFile(out, raw, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "wrote %s; check it with: carechain verify-proof %s\n", out, out)
			return nil
		},
	}
	c.Flags().StringVar(&key, "key", "", "state key, e.g. id/did/did:cc:…")
	c.Flags().StringVar(&txh, "tx", "", "transaction hash (hex)")
	c.Flags().StringVar(&out, "out", "", "file to write (default: standard output)")
	return c
}

func newDIDCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "did", Short: "Resolve did:cc identifiers"}
	c.AddCommand(&cobra.Command{Use: "resolve DID", Short: "Print the W3C DID document the ledger holds for DID", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var raw []byte
			if err := client.New(g.node).Get(ctx, "/v1/dids/"+url.PathEscape(a[0]), &raw); err != nil {
				return err
			}
			_, err := os.Stdout.Write(raw)
			return err
		}})
	return c
}

func asList(v any) []map[string]any {
	xs, _ := v.([]any)
	out := make([]map[string]any, 0, len(xs))
	for _, x := range xs {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

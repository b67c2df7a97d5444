package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/cometbft/cometbft/types"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/chain"
)

func newVerifyCmd(g *globals) *cobra.Command {
	var home string
	c := &cobra.Command{
		Use:   "verify",
		Short: "Re-verify a stopped node's whole chain: signatures, AppHash by replay, state digest",
		Long: `verify checks every block's commit signatures, replays every block from genesis into a
fresh application and compares the AppHash at every height with the headers and the
node's own records, then compares the node's state with the replay key by key and
recomputes the state digest. When the node holds records (custodians), it also checks
the vault: every blob decrypts and matches its anchored salted hash, no blob lacks an
anchor and no anchored version lacks its blob. It names the first height and key that
diverge and exits with code 8 on any tampering. Stop the node first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if home == "" {
				return usageError{fmt.Errorf("--home is required")}
			}
			var bar *progressbar.ProgressBar
			stage := ""
			rep, err := chain.Verify(home, func(s string, done, total int64) {
				if g.output == "json" {
					return
				}
				if s != stage {
					if bar != nil {
						bar.Finish()
					}
					stage = s
					bar = newBar(total, s)
				}
				bar.Set64(done)
			})
			if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return err
			}
			vrep, err := verifyVault(home)
			if err != nil {
				return err
			}
			out := struct {
				*chain.Report
				Vault *vaultReport `json:"vault,omitempty"`
			}{rep, vrep}
			if err := g.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "chain %s: %d blocks, application state at height %d\n", rep.ChainID, rep.BlockHeight, rep.StateHeight)
				fmt.Fprintf(w, "  commit signatures: %s\n  AppHash replay:    %s\n  state vs replay:   %s\n  state digest:      %s\n", okText(rep.CommitsOK), okText(rep.ReplayOK), okText(rep.StateOK), okText(rep.DigestOK))
				for _, p := range rep.Problems {
					fmt.Fprintf(w, "  - %s\n", p)
				}
				if vrep != nil {
					fmt.Fprintf(w, "  record vault:      %s (%d anchored versions of %v)\n", okText(vrep.OK()), vrep.Versions, vrep.Custodians)
					for _, p := range vrep.Problems {
						fmt.Fprintf(w, "  - %s\n", p)
					}
				}
			}); err != nil {
				return err
			}
			if vrep != nil && !vrep.OK() {
				return cc.Errorf("verify", cc.Integrity, "the record vault does not match the anchors: %s", vrep.Problems[0])
			}
			if !rep.OK() {
				msg := fmt.Sprintf("verification failed at height %d", rep.FirstBadBlock)
				if rep.FirstBadKey != "" {
					msg += fmt.Sprintf(", key %q", rep.FirstBadKey)
				}
				return cc.Errorf("verify", cc.Integrity, "%s", msg)
			}
			return nil
		},
	}
	c.Flags().StringVar(&home, "home", "", "the node's home directory")
	return c
}

func okText(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAILED"
}

func newVerifyProofCmd(g *globals) *cobra.Command {
	var genesis string
	c := &cobra.Command{
		Use:   "verify-proof FILE",
		Short: "Check a proof bundle offline against its validator-signed header",
		Long: `verify-proof checks a proof from GET /v1/proofs (or carechain query proof): the store
proof recomputes an AppHash, the signed header of the next height carries that AppHash,
and more than two thirds of the validator set signed the header. With --genesis it
also checks that validator set is the genesis one. Exit code 8 if anything fails.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			b, err := os.ReadFile(a[0])
			if err != nil {
				return cc.Errorf("verify-proof", cc.NotFound, "%v", err)
			}
			var bundle cc.ProofBundle
			if err := json.Unmarshal(b, &bundle); err != nil {
				return cc.Errorf("verify-proof", cc.Malformed, "%s is not a proof bundle: %v", a[0], err)
			}
			v, err := chain.VerifyBundle(&bundle)
			if err != nil {
				return err
			}
			if genesis != "" {
				doc, err := types.GenesisDocFromFile(genesis)
				if err != nil {
					return cc.Errorf("verify-proof", cc.Invalid, "genesis: %v", err)
				}
				vals := make([]*types.Validator, len(doc.Validators))
				for i, gv := range doc.Validators {
					vals[i] = types.NewValidator(gv.PubKey, gv.Power)
				}
				want := hex.EncodeToString(types.NewValidatorSet(vals).Hash())
				if want != v.ValidatorsHash {
					return cc.Errorf("verify-proof", cc.Integrity, "the header was signed by validator set %s, not the genesis set %s", v.ValidatorsHash, want)
				}
			}
			return g.emit(v, func(w io.Writer) {
				state := "value " + fmt.Sprintf("%q", v.Value)
				if v.Deleted {
					state = "deleted"
				}
				fmt.Fprintf(w, "proof OK\n  key:        %s (%s)\n  written in: block %d\n  app hash:   %s\n  signed by:  %d of %d voting power in header %d (block %s)\n  validators: %s\n",
					v.Key, truncate(state, 120), v.Height, v.AppHash, v.SignedPower, v.TotalPower, v.HeaderHeight, v.BlockHash, v.ValidatorsHash)
			})
		},
	}
	c.Flags().StringVar(&genesis, "genesis", "", "genesis.json whose validator set must have signed the header")
	return c
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/client"
	"carechain/keystore"
	"carechain/ledger/tx"
)

// txFlags are shared by every `carechain tx` command.
type txFlags struct {
	keys   keyFlags
	key    string
	commit bool
}

// send signs typ/payload with the --key key and submits it to --node.
func (g *globals) send(tf *txFlags, typ string, payload any) (*cc.SubmitResult, *keystore.Key, error) {
	if tf.key == "" {
		return nil, nil, usageError{fmt.Errorf("--key NAME is required (see `carechain keys list`)")}
	}
	k, err := tf.keys.unlock(tf.key)
	if err != nil {
		return nil, nil, err
	}
	c := client.New(g.node)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := c.Do(ctx, client.NewSigner(k.DID, k.PrivateKey()), typ, payload, tf.commit)
	if err != nil {
		return nil, k, err
	}
	return res, k, nil
}

// txCmd builds one `carechain tx …` command: flags are bound by bind, and
// payload returns the transaction payload once flags are parsed.
func (g *globals) txCmd(tf *txFlags, use, short, typ string, args cobra.PositionalArgs, bind func(c *cobra.Command), payload func(k *keystore.Key, args []string) (any, error)) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  short + "\n\nTransaction type: " + typ + ". Signed with --key from the keystore and sent to --node.",
		Args:  args,
		RunE: func(cmd *cobra.Command, a []string) error {
			var k *keystore.Key
			if tf.key != "" {
				if ks, err := tf.keys.open(); err == nil {
					k, _ = ks.Show(tf.key)
				}
			}
			p, err := payload(k, a)
			if err != nil {
				return err
			}
			res, _, err := g.send(tf, typ, p)
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) { printResult(w, typ, res) })
		},
	}
	if bind != nil {
		bind(c)
	}
	return c
}

func printResult(w io.Writer, typ string, res *cc.SubmitResult) {
	if res.Height > 0 {
		fmt.Fprintf(w, "%s committed at height %d (tx %s)\n", typ, res.Height, res.Hash)
	} else {
		fmt.Fprintf(w, "%s accepted into the mempool (tx %s); add --commit to wait for the block\n", typ, res.Hash)
	}
	if len(res.Data) > 0 {
		fmt.Fprintf(w, "result: %s\n", res.Data)
	}
}

func needKey(k *keystore.Key) error {
	if k == nil {
		return usageError{fmt.Errorf("--key NAME is required and must exist in the keystore")}
	}
	return nil
}

func newTxCmd(g *globals) *cobra.Command {
	tf := &txFlags{}
	c := &cobra.Command{Use: "tx", Short: "Sign and submit identity, organization and governance transactions"}
	tf.keys.register(c)
	c.PersistentFlags().StringVar(&tf.key, "key", "", "keystore name of the signing key")
	c.PersistentFlags().BoolVar(&tf.commit, "commit", true, "wait until the transaction is committed in a block")

	var kind string
	didCreate := g.txCmd(tf, "did-create", "Put the key's DID on the ledger (practitioners, organizations, nodes)", "did.create", cobra.NoArgs,
		func(c *cobra.Command) {
			c.Flags().StringVar(&kind, "kind", "practitioner", "practitioner, organization, node or patient")
		},
		func(k *keystore.Key, _ []string) (any, error) {
			if err := needKey(k); err != nil {
				return nil, err
			}
			return map[string]string{"public_key": tx.EncodeKey(k.PublicKey), "kind": kind}, nil
		})
	register := g.txCmd(tf, "patient-register", "Register as a patient with your own key", "patient.register", cobra.NoArgs, nil,
		func(k *keystore.Key, _ []string) (any, error) {
			if err := needKey(k); err != nil {
				return nil, err
			}
			return map[string]string{"public_key": tx.EncodeKey(k.PublicKey)}, nil
		})
	var org string
	attest := g.txCmd(tf, "patient-attest PATIENT-DID", "Attest a patient's registration on behalf of an organization", "patient.attest", cobra.ExactArgs(1),
		func(c *cobra.Command) { c.Flags().StringVar(&org, "org", "", "organization id") },
		func(_ *keystore.Key, a []string) (any, error) {
			return map[string]string{"patient": a[0], "org": org}, nil
		})

	var guardians []string
	var threshold int
	var delay int64
	guard := g.txCmd(tf, "guardians-set", "Name the guardians who can recover your DID (M of N, after a delay)", "did.guardians.set", cobra.NoArgs,
		func(c *cobra.Command) {
			c.Flags().StringSliceVar(&guardians, "guardian", nil, "guardian DID (repeat)")
			c.Flags().IntVar(&threshold, "threshold", 0, "approvals needed (M)")
			c.Flags().Int64Var(&delay, "delay-blocks", 100, "blocks during which you can still cancel a recovery")
		},
		func(_ *keystore.Key, _ []string) (any, error) {
			return map[string]any{"guardians": nonNil(guardians), "threshold": threshold, "delay_blocks": delay}, nil
		})
	var newKey string
	approve := g.txCmd(tf, "recovery-approve DID", "As a guardian, approve moving DID to a new public key", "did.recovery.approve", cobra.ExactArgs(1),
		func(c *cobra.Command) {
			c.Flags().StringVar(&newKey, "new-public-key", "", "the new base64url Ed25519 public key")
		},
		func(_ *keystore.Key, a []string) (any, error) {
			return map[string]string{"did": a[0], "new_public_key": newKey}, nil
		})
	cancel := g.txCmd(tf, "recovery-cancel", "Cancel a pending recovery of your DID (signed with your current key)", "did.recovery.cancel", cobra.NoArgs, nil,
		func(k *keystore.Key, _ []string) (any, error) {
			if err := needKey(k); err != nil {
				return nil, err
			}
			return map[string]string{"did": string(k.DID)}, nil
		})
	execute := g.txCmd(tf, "recovery-execute DID", "Complete a recovery once approved and its delay has passed", "did.recovery.execute", cobra.ExactArgs(1), nil,
		func(_ *keystore.Key, a []string) (any, error) { return map[string]string{"did": a[0]}, nil })

	var scopes []string
	var expires string
	grant := g.txCmd(tf, "delegate-grant DELEGATE-DID", "Let a delegate (parent, representative) act for you within scopes until a time", "did.delegate.grant", cobra.ExactArgs(1),
		func(c *cobra.Command) {
			c.Flags().StringSliceVar(&scopes, "scope", nil, "scope (repeat), e.g. records.read, consent.manage")
			c.Flags().StringVar(&expires, "expires", "", "RFC 3339 expiry, e.g. 2027-06-30T00:00:00Z")
		},
		func(_ *keystore.Key, a []string) (any, error) {
			return map[string]any{"delegate": a[0], "scopes": nonNil(scopes), "expires": expires}, nil
		})
	revoke := g.txCmd(tf, "delegate-revoke DELEGATE-DID", "Revoke a delegation", "did.delegate.revoke", cobra.ExactArgs(1), nil,
		func(_ *keystore.Key, a []string) (any, error) { return map[string]string{"delegate": a[0]}, nil })

	var action, params string
	propose := g.txCmd(tf, "gov-propose", "Propose a governance action (org.admit, org.suspend, validator.update, gov.update)", "gov.propose", cobra.NoArgs,
		func(c *cobra.Command) {
			c.Flags().StringVar(&action, "action", "", "org.admit, org.suspend, validator.update or gov.update")
			c.Flags().StringVar(&params, "params", "{}", `the action's parameters as JSON, e.g. {"id":"x","name":"X","type":"clinic","admin":"did:cc:…"}`)
		},
		func(_ *keystore.Key, _ []string) (any, error) {
			if !json.Valid([]byte(params)) {
				return nil, cc.Errorf("gov-propose", cc.Malformed, "--params is not valid JSON")
			}
			return map[string]any{"action": action, "params": json.RawMessage(params)}, nil
		})
	var proposal uint64
	gapprove := g.txCmd(tf, "gov-approve", "Approve a governance proposal", "gov.approve", cobra.NoArgs,
		func(c *cobra.Command) { c.Flags().Uint64Var(&proposal, "proposal", 0, "proposal id") },
		func(_ *keystore.Key, _ []string) (any, error) { return map[string]any{"proposal": proposal}, nil })

	var orgID, orgName, orgType, orgAdmin string
	admit := g.txCmd(tf, "org-admit", "As a governance member, propose admitting an organization (gov.propose org.admit)", "gov.propose", cobra.NoArgs,
		func(c *cobra.Command) {
			c.Flags().StringVar(&orgID, "id", "", "organization id (slug: lowercase letters, digits, dashes)")
			c.Flags().StringVar(&orgName, "name", "", "display name")
			c.Flags().StringVar(&orgType, "type", "", "hospital, clinic, pharmacy, laboratory, manufacturer, distributor, public-health-agency, research-institute or regulator")
			c.Flags().StringVar(&orgAdmin, "admin", "", "DID of the organization's first admin (must be on the ledger)")
		},
		func(_ *keystore.Key, _ []string) (any, error) {
			return map[string]any{"action": "org.admit", "params": map[string]string{"id": orgID, "name": orgName, "type": orgType, "admin": orgAdmin}}, nil
		})
	var valKey string
	var valPower int64
	valUpdate := g.txCmd(tf, "validator-update", "As a governance member, propose adding, re-weighting or removing (power 0) a validator", "gov.propose", cobra.NoArgs,
		func(c *cobra.Command) {
			c.Flags().StringVar(&valKey, "pub-key", "", "the validator's Ed25519 public key, base64url or standard base64 (priv_validator_key.json pub_key.value)")
			c.Flags().Int64Var(&valPower, "power", 10, "voting power; 0 removes the validator")
		},
		func(_ *keystore.Key, _ []string) (any, error) {
			k, err := normalizeKey(valKey)
			if err != nil {
				return nil, err
			}
			return map[string]any{"action": "validator.update", "params": map[string]any{"pub_key": k, "power": valPower}}, nil
		})

	var member string
	var roles []string
	madd := g.txCmd(tf, "member-add", "As an organization admin, add a member with roles", "org.member.add", cobra.NoArgs,
		func(c *cobra.Command) {
			c.Flags().StringVar(&org, "org", "", "organization id")
			c.Flags().StringVar(&member, "member", "", "member DID")
			c.Flags().StringSliceVar(&roles, "role", nil, "role (repeat): physician, nurse, pharmacist, emergency-clinician, privacy-officer, logistics, public-health-officer, researcher, admin")
		},
		func(_ *keystore.Key, _ []string) (any, error) {
			return map[string]any{"org": org, "member": member, "roles": nonNil(roles)}, nil
		})
	mrem := g.txCmd(tf, "member-remove", "As an organization admin, remove a member", "org.member.remove", cobra.NoArgs,
		func(c *cobra.Command) {
			c.Flags().StringVar(&org, "org", "", "organization id")
			c.Flags().StringVar(&member, "member", "", "member DID")
		},
		func(_ *keystore.Key, _ []string) (any, error) {
			return map[string]any{"org": org, "member": member}, nil
		})

	var typ, payload string
	raw := g.txCmd(tf, "raw", "Sign and submit any transaction type with a JSON payload", "(given by --type)", cobra.NoArgs,
		func(c *cobra.Command) {
			c.Flags().StringVar(&typ, "type", "", "transaction type")
			c.Flags().StringVar(&payload, "payload", "{}", "payload JSON")
		}, nil)
	raw.RunE = func(cmd *cobra.Command, _ []string) error {
		if !json.Valid([]byte(payload)) {
			return cc.Errorf("tx raw", cc.Malformed, "--payload is not valid JSON")
		}
		res, _, err := g.send(tf, typ, json.RawMessage(payload))
		if err != nil {
			return err
		}
		return g.emit(res, func(w io.Writer) { printResult(w, typ, res) })
	}

	c.AddCommand(didCreate, register, attest, newRotateCmd(g, tf), guard, approve, cancel, execute, grant, revoke, propose, gapprove, admit, valUpdate, madd, mrem, raw)
	c.AddCommand(recordsTxCmds(g, tf)...)
	c.AddCommand(supplyTxCmds(g, tf)...)
	c.AddCommand(rxTxCmds(g, tf)...)
	return c
}

// newRotateCmd rotates the key on the ledger, then in the keystore.
func newRotateCmd(g *globals, tf *txFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "did-rotate",
		Short: "Rotate your DID to a freshly generated key (ledger first, then the keystore)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pub, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			tf.commit = true
			res, k, err := g.send(tf, "did.rotate", map[string]string{"new_public_key": tx.EncodeKey(pub)})
			if err != nil {
				return err
			}
			ks, err := tf.keys.open()
			if err != nil {
				return err
			}
			pass, err := passphrase("passphrase for "+tf.key, false)
			if err != nil {
				return err
			}
			if err := ks.Rotate(k.Name, pass, priv); err != nil {
				return fmt.Errorf("the ledger rotated %s at height %d but the keystore could not be updated (%v); the new private key seed is %x — store it now", k.DID, res.Height, err, priv.Seed())
			}
			return g.emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "rotated %s to %s at height %d\n", k.DID, tx.EncodeKey(pub), res.Height)
			})
		},
	}
}

// normalizeKey accepts an Ed25519 public key in base64url or standard
// base64 (as CometBFT writes it) and returns base64url.
func normalizeKey(s string) (string, error) {
	if k, err := tx.DecodeKey(s); err == nil {
		return tx.EncodeKey(k), nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return "", cc.Errorf("validator-update", cc.Invalid, "--pub-key must be a 32-byte Ed25519 key in base64")
	}
	return tx.EncodeKey(b), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

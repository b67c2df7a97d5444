package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/client"
	"carechain/credential"
	"carechain/httpapi"
	"carechain/shc"
)

// A node's SMART Health Card issuers live beside its custodian keys:
//
//	HOME/config/shc/ORG.jwk  an issuing organization's ES256 private key and rid secret (0600)
func shcDir(home string) string       { return filepath.Join(home, "config", "shc") }
func shcPath(home, org string) string { return filepath.Join(shcDir(home), org+".jwk") }

// writeIssuer writes an issuer's key file (0600), refusing to overwrite.
func writeIssuer(home string, is *shc.Issuer) error {
	if err := os.MkdirAll(shcDir(home), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(shcPath(home, is.Org), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return cc.Errorf("shc.issuer", cc.Conflict, "%s already has an issuer key (%s)", is.Org, shcPath(home, is.Org))
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(is.Marshal()); err != nil {
		return err
	}
	return f.Sync()
}

// loadIssuers reads every issuer key of home.
func loadIssuers(home string) ([]*shc.Issuer, error) {
	ents, err := os.ReadDir(shcDir(home))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*shc.Issuer
	for _, e := range ents {
		if e.IsDir() || filepath.Ext(e.Name()) != ".jwk" {
			continue
		}
		p := filepath.Join(shcDir(home), e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		is, err := shc.ParseIssuer(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, is)
	}
	return out, nil
}

func newSHCCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "shc",
		Short: "SMART Health Cards: register issuers, issue, verify and revoke immunization cards",
	}
	tf := &txFlags{}
	tf.keys.register(c)
	c.AddCommand(newSHCIssuerCmd(g, tf), newSHCIssueCmd(g, tf), newSHCVerifyCmd(g), newSHCRevokeCmd(g, tf))
	return c
}

func newSHCIssuerCmd(g *globals, tf *txFlags) *cobra.Command {
	c := &cobra.Command{Use: "issuer", Short: "Manage the SMART Health Card issuers this node signs for"}
	var home, org, url string
	add := &cobra.Command{
		Use:   "add --home DIR --org ORG --url URL [--key ADMIN]",
		Short: "Create ORG's issuer key on this node and register its public key on the ledger",
		Long: `issuer add creates HOME/config/shc/ORG.jwk (0600): ORG's ES256 signing key and the
secret its revocation ids are derived with. The public key must be registered on
the ledger by an admin of ORG (transaction credential.issuer.register); with --key
this command submits it, else it prints the payload to submit.

URL is the cards' issuer ("iss"): https, or http on a loopback host. A node
serves the key set at URL/.well-known/jwks.json when URL is
http(s)://HOST/shc/ORG on its API; restart the node to serve and issue.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if home == "" || org == "" || url == "" {
				return usageError{fmt.Errorf("--home, --org and --url are required")}
			}
			is, err := shc.NewIssuer(org, url)
			if err != nil {
				return err
			}
			payload := map[string]any{"org": org, "issuer_url": url, "jwks": is.JWKS()}
			if tf.key != "" {
				// Check the admin can sign before the key file exists.
				if _, err := tf.keys.unlock(tf.key); err != nil {
					return err
				}
			}
			if err := writeIssuer(home, is); err != nil {
				return err
			}
			out := map[string]any{"org": org, "issuer_url": url, "kid": is.Kid(), "file": shcPath(home, org), "payload": payload}
			if tf.key == "" {
				return g.emit(out, func(w io.Writer) {
					b, _ := json.Marshal(payload)
					fmt.Fprintf(w, "issuer key for %s: kid %s\n  file: %s\nNext: an admin of %s registers it on the ledger:\n  carechain tx raw --key %s-admin --type %s --payload '%s'\n",
						org, is.Kid(), shcPath(home, org), org, org, credential.TypeIssuerRegister, b)
				})
			}
			res, _, err := g.send(tf, credential.TypeIssuerRegister, payload)
			if err != nil {
				return fmt.Errorf("the key file %s was written but registering it failed (rerun the transaction): %w", shcPath(home, org), err)
			}
			out["tx"] = res
			return g.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "issuer key for %s: kid %s\n  file: %s\n", org, is.Kid(), shcPath(home, org))
				printResult(w, credential.TypeIssuerRegister, res)
			})
		},
	}
	add.Flags().StringVar(&home, "home", "", "node home directory")
	add.Flags().StringVar(&org, "org", "", "issuing organization id")
	add.Flags().StringVar(&url, "url", "", "issuer URL (the cards' iss), e.g. http://127.0.0.1:8080/shc/ORG")
	add.Flags().StringVar(&tf.key, "key", "", "keystore key of an admin of ORG: submit the registration")
	add.Flags().BoolVar(&tf.commit, "commit", true, "wait until the registration is committed")
	c.AddCommand(add)
	return c
}

func newSHCIssueCmd(g *globals, tf *txFlags) *cobra.Command {
	var org, out, qrDir string
	c := &cobra.Command{
		Use:   "issue --key PATIENT --org ORG [--out FILE] [--qr DIR]",
		Short: "Get a SMART Health Card of your immunizations from ORG's issuer on the node",
		Long: `issue asks --node for a SMART Health Card of the --key patient's immunizations,
signed by ORG's issuer. The node reads the records through their custodian's
gatekeeper (the read is logged on the ledger). The card is written to --out
(default immunizations.smart-health-card); with --qr, each QR code is written to
DIR as a PNG (qr-N.png) with its shc:/ text (qr-N.txt).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tf.key == "" || org == "" {
				return usageError{fmt.Errorf("--key and --org are required")}
			}
			k, err := tf.keys.unlock(tf.key)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			card, err := client.New(g.node).IssueSHC(ctx, client.NewSigner(k.DID, k.PrivateKey()), org, "", 0)
			if err != nil {
				return err
			}
			if out == "" {
				out = "immunizations.smart-health-card"
			}
			if err := os.WriteFile(out, card.Body, 0o600); err != nil {
				return err
			}
			jwss, err := shc.Extract(card.Body)
			if err != nil {
				return err
			}
			qr, err := shc.EncodeQR(jwss[0])
			if err != nil {
				return err
			}
			var files []string
			if qrDir != "" {
				if err := os.MkdirAll(qrDir, 0o700); err != nil {
					return err
				}
				for i, text := range qr {
					img, err := shc.QRPNG(text, 4)
					if err != nil {
						return err
					}
					base := filepath.Join(qrDir, fmt.Sprintf("qr-%d", i+1))
					if err := os.WriteFile(base+".png", img, 0o600); err != nil {
						return err
					}
					if err := os.WriteFile(base+".txt", []byte(text+"\n"), 0o600); err != nil {
						return err
					}
					files = append(files, base+".png")
				}
			}
			res := map[string]any{"file": out, "kid": card.Kid, "qr_codes": len(qr), "qr_files": files, "access_event": card.AccessEvent}
			return g.emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "SMART Health Card written to %s (key %s, %d QR code(s))\n", out, card.Kid, len(qr))
				for _, f := range files {
					fmt.Fprintf(w, "  QR: %s\n", f)
				}
				fmt.Fprintf(w, "the read of your records is logged as access event %s\n", card.AccessEvent)
			})
		},
	}
	c.Flags().StringVar(&tf.key, "key", "", "keystore key of the patient")
	c.Flags().StringVar(&org, "org", "", "issuing organization id")
	c.Flags().StringVar(&out, "out", "", "where to write the .smart-health-card file")
	c.Flags().StringVar(&qrDir, "qr", "", "directory to write the QR codes to (PNG and shc:/ text)")
	return c
}

func newSHCVerifyCmd(g *globals) *cobra.Command {
	var jwksFile, crlFile string
	c := &cobra.Command{
		Use:   "verify FILE|QR-TEXT [--jwks FILE [--crl FILE]]",
		Short: "Verify a SMART Health Card (.smart-health-card file, JWS file or shc:/ text)",
		Long: `verify checks a card: its JWS form and ES256 signature, the issuer and key, the
credential, the FHIR content, and revocation. The argument is a file (a
.smart-health-card file, a JWS, or shc:/ text one QR code per line) or shc:/ text
itself. By default the node (--node) verifies against the ledger's issuer registry
and revocation lists; with --jwks the card is verified offline with that key set
(an external issuer's .well-known/jwks.json), and --crl adds its revocation list.
Exits 8 (integrity) when the card is not valid.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			input := []byte(args[0])
			if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(args[0])), "shc:/") {
				b, err := os.ReadFile(args[0])
				if err != nil {
					return usageError{fmt.Errorf("%s is neither shc:/ text nor a readable file", args[0])}
				}
				input = b
			}
			var v httpapi.SHCVerification
			if jwksFile != "" {
				b, err := os.ReadFile(jwksFile)
				if err != nil {
					return err
				}
				ks, err := shc.ParseJWKS(b)
				if err != nil {
					return err
				}
				var crls []*credential.CRL
				if crlFile != "" {
					b, err := os.ReadFile(crlFile)
					if err != nil {
						return err
					}
					crl, err := shc.ParseCRL(b)
					if err != nil {
						return err
					}
					crls = append(crls, crl)
				}
				jwss, err := shc.Extract(input)
				if err != nil {
					return err
				}
				v.Valid = true
				for _, jws := range jwss {
					r := shc.Verify(jws, shc.StaticTrust(ks, crls...))
					v.Valid = v.Valid && r.Valid
					v.Results = append(v.Results, r)
				}
			} else {
				if crlFile != "" {
					return usageError{fmt.Errorf("--crl goes with --jwks")}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := client.New(g.node).VerifySHC(ctx, input, &v); err != nil {
					return err
				}
			}
			if err := g.emit(v, func(w io.Writer) { printVerification(w, v) }); err != nil {
				return err
			}
			if !v.Valid {
				return cc.Errorf("shc verify", cc.Integrity, "the card is not valid")
			}
			return nil
		},
	}
	c.Flags().StringVar(&jwksFile, "jwks", "", "verify offline with this issuer key set (JWKS JSON)")
	c.Flags().StringVar(&crlFile, "crl", "", "with --jwks: the key's revocation list (JSON)")
	return c
}

func printVerification(w io.Writer, v httpapi.SHCVerification) {
	for i, r := range v.Results {
		state := "VALID"
		if !r.Valid {
			state = "NOT VALID"
		}
		fmt.Fprintf(w, "card %d: %s\n", i+1, state)
		if r.Issuer != "" {
			fmt.Fprintf(w, "  issuer: %s (key %s)\n", r.Issuer, r.Kid)
		}
		if r.NotBefore != nil {
			fmt.Fprintf(w, "  issued: %s\n", r.NotBefore.Format(time.RFC3339))
		}
		for _, c := range r.Checks {
			mark := "ok  "
			if !c.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(w, "  %s %s", mark, c.Name)
			if c.Detail != "" {
				fmt.Fprintf(w, ": %s", strings.TrimPrefix(c.Detail, c.Name+": "))
			}
			fmt.Fprintln(w)
		}
	}
}

func newSHCRevokeCmd(g *globals, tf *txFlags) *cobra.Command {
	var org, kid, reason, card string
	var rids []string
	c := &cobra.Command{
		Use:   "revoke --key NAME --org ORG (--card FILE | --kid KID --rid RID…) --reason TEXT",
		Short: "Revoke SMART Health Cards on the ledger by revocation id (rid)",
		Long: `revoke submits credential.revoke: the rids are added to the key's revocation list
(served at ISSUER/.well-known/crl/KID.json), and verifiers refuse the cards. A rid
"RID.T" revokes only the cards issued before Unix second T. --card takes the key
and rid from a card. Signed by an admin, physician or node member of ORG.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if org == "" || reason == "" {
				return usageError{fmt.Errorf("--org and --reason are required")}
			}
			if card != "" {
				b, err := os.ReadFile(card)
				if err != nil {
					return err
				}
				jwss, err := shc.Extract(b)
				if err != nil {
					return err
				}
				for _, jws := range jwss {
					k, rid, err := shc.Identify(jws)
					if err != nil {
						return err
					}
					if kid != "" && k != kid {
						return usageError{fmt.Errorf("the file's cards are signed with different keys; revoke them one at a time")}
					}
					kid, rids = k, append(rids, rid)
				}
			}
			if kid == "" || len(rids) == 0 {
				return usageError{fmt.Errorf("give --card, or --kid and --rid")}
			}
			payload := map[string]any{"org": org, "kid": kid, "rids": rids, "reason": reason}
			res, _, err := g.send(tf, credential.TypeRevoke, payload)
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) { printResult(w, credential.TypeRevoke, res) })
		},
	}
	c.Flags().StringVar(&tf.key, "key", "", "keystore key of an admin, physician or node member of ORG")
	c.Flags().BoolVar(&tf.commit, "commit", true, "wait until the revocation is committed")
	c.Flags().StringVar(&org, "org", "", "issuing organization id")
	c.Flags().StringVar(&kid, "kid", "", "the issuer key id the cards are signed with")
	c.Flags().StringSliceVar(&rids, "rid", nil, "revocation id (repeatable): RID or RID.UNIX-SECONDS")
	c.Flags().StringVar(&card, "card", "", "a card to revoke (.smart-health-card, JWS or shc:/ text file)")
	c.Flags().StringVar(&reason, "reason", "", "why the cards are revoked")
	return c
}

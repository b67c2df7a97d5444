package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	cc "carechain"
	"carechain/keystore"
	"carechain/ledger/tx"
)

// keyFlags locate the keystore and unlock keys.
type keyFlags struct {
	dir string
}

func defaultKeystore() string {
	if v := os.Getenv("CARECHAIN_KEYSTORE"); v != "" {
		return v
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".carechain/keys"
	}
	return filepath.Join(home, ".carechain", "keys")
}

func (k *keyFlags) register(c *cobra.Command) {
	c.PersistentFlags().StringVar(&k.dir, "keystore", defaultKeystore(), "keystore directory (env CARECHAIN_KEYSTORE); a demo's is HOME/keys")
}

func (k *keyFlags) open() (*keystore.Store, error) { return keystore.Open(k.dir) }

// passphrase returns $CARECHAIN_PASSPHRASE, or asks on the terminal.
func passphrase(prompt string, confirm bool) (string, error) {
	if v, ok := os.LookupEnv("CARECHAIN_PASSPHRASE"); ok {
		return v, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", usageError{fmt.Errorf("no passphrase: set CARECHAIN_PASSPHRASE or run in a terminal")}
	}
	fmt.Fprint(os.Stderr, prompt+": ")
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return "", err
	}
	if confirm {
		fmt.Fprint(os.Stderr, "again: ")
		b2, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return "", err
		}
		if string(b) != string(b2) {
			return "", cc.Errorf("keys", cc.Invalid, "passphrases differ")
		}
	}
	return string(b), nil
}

// openAsking opens the keystore and asks for a passphrase.
func (k *keyFlags) openAsking(prompt string, confirm bool) (*keystore.Store, string, error) {
	ks, err := k.open()
	if err != nil {
		return nil, "", err
	}
	pass, err := passphrase(prompt, confirm)
	if err != nil {
		return nil, "", err
	}
	return ks, pass, nil
}

// unlock opens the keystore and unlocks name.
func (k *keyFlags) unlock(name string) (*keystore.Key, error) {
	ks, err := k.open()
	if err != nil {
		return nil, err
	}
	if _, err := ks.Show(name); err != nil {
		return nil, err
	}
	pass, err := passphrase("passphrase for "+name, false)
	if err != nil {
		return nil, err
	}
	return ks.Unlock(name, pass)
}

func newKeysCmd(g *globals) *cobra.Command {
	kf := &keyFlags{}
	c := &cobra.Command{
		Use:   "keys",
		Short: "Manage Ed25519 keys in a passphrase-encrypted local keystore",
		Long: `Keys live in a local keystore, one file per key, encrypted with a key derived from
your passphrase (scrypt) and sealed with XChaCha20-Poly1305. The passphrase comes
from CARECHAIN_PASSPHRASE or a terminal prompt. A key's DID (did:cc:…) is derived
from its first public key and stays the same when the key is rotated.`,
	}
	kf.register(c)
	c.AddCommand(&cobra.Command{
		Use:   "create NAME",
		Short: "Create a new random key and show its DID",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, pass, err := kf.openAsking("new passphrase for "+args[0], true)
			if err != nil {
				return err
			}
			k, err := ks.Create(args[0], pass)
			if err != nil {
				return err
			}
			return g.emit(keyView(k), func(w io.Writer) {
				fmt.Fprintf(w, "created %s\n  did:        %s\n  public key: %s\n", k.Name, k.DID, tx.EncodeKey(k.PublicKey))
			})
		},
	})
	c.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List keys (names, DIDs, public keys)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := kf.open()
			if err != nil {
				return err
			}
			keys, err := ks.List()
			if err != nil {
				return err
			}
			views := make([]keyJSON, len(keys))
			for i := range keys {
				views[i] = keyView(&keys[i])
			}
			return g.emit(views, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tDID\tCREATED")
				for _, k := range keys {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Name, k.DID, k.Created.Format("2006-01-02"))
				}
				tw.Flush()
			})
		},
	})
	c.AddCommand(&cobra.Command{
		Use:   "show NAME",
		Short: "Show one key's DID and public key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := kf.open()
			if err != nil {
				return err
			}
			k, err := ks.Show(args[0])
			if err != nil {
				return err
			}
			return g.emit(keyView(k), nil)
		},
	})
	var out string
	export := &cobra.Command{
		Use:   "export NAME",
		Short: "Export a key as a PLAINTEXT key file (keep it safe; the portal can import it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, pass, err := kf.openAsking("passphrase for "+args[0], false)
			if err != nil {
				return err
			}
			b, err := ks.Export(args[0], pass)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = os.Stdout.Write(append(b, '\n'))
				return err
			}
			if err := os.WriteFile(out, append(b, '\n'), 0o600); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "wrote %s (plaintext private key, mode 0600)\n", out)
			return nil
		},
	}
	export.Flags().StringVar(&out, "out", "", "file to write (default: standard output)")
	c.AddCommand(export)
	c.AddCommand(&cobra.Command{
		Use:   "import NAME FILE",
		Short: "Import a key file written by `keys export` (or the portal)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[1])
			if err != nil {
				return cc.Errorf("keys import", cc.NotFound, "%v", err)
			}
			did, priv, err := keystore.ParseExport(b)
			if err != nil {
				return err
			}
			ks, pass, err := kf.openAsking("new passphrase for "+args[0], true)
			if err != nil {
				return err
			}
			k, err := ks.Import(args[0], pass, priv, did)
			if err != nil {
				return err
			}
			return g.emit(keyView(k), func(w io.Writer) { fmt.Fprintf(w, "imported %s as %s\n", k.DID, k.Name) })
		},
	})
	return c
}

type keyJSON struct {
	Name      string `json:"name"`
	DID       cc.DID `json:"did"`
	PublicKey string `json:"public_key"`
	Created   string `json:"created"`
}

func keyView(k *keystore.Key) keyJSON {
	return keyJSON{Name: k.Name, DID: k.DID, PublicKey: tx.EncodeKey(k.PublicKey), Created: k.Created.UTC().Format("2006-01-02T15:04:05Z")}
}

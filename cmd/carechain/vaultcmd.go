package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/vault"
)

func newVaultCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "vault",
		Short: "Maintain a node's encrypted record vault",
	}
	var home string
	rotate := &cobra.Command{
		Use:   "rotate-kek --home DIR",
		Short: "Rotate the vault's key-encryption key (node stopped)",
		Long: `rotate-kek creates a new key-encryption key, re-wraps every record's data key and salt
under it (the encrypted records themselves are not rewritten), and makes it the KEK:
HOME/config/vault.kek is replaced and the old one kept as vault.kek.<old id>.retired,
which only backups made before the rotation still need; destroy it when they expire.
Stop the node first. An interrupted rotation is finished by running it again. A KEK
given in CARECHAIN_KEK cannot be rotated in place: unset it to use the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if home == "" {
				return usageError{fmt.Errorf("--home is required")}
			}
			if os.Getenv(KEKEnv) != "" {
				return cc.Errorf("rotate-kek", cc.FailedPrecondition, "the KEK comes from %s; rotate-kek rotates HOME/config/vault.kek: unset %s", KEKEnv, KEKEnv)
			}
			old, err := vault.LoadKEK(kekPath(home))
			if err != nil {
				return err
			}
			next := kekPath(home) + ".next"
			nk, err := vault.LoadKEK(next) // a rotation that was interrupted
			if cc.Is(cc.NotFound, err) {
				nk, err = vault.GenerateKEK(next, "kek-"+time.Now().UTC().Format("20060102T150405"))
			}
			if err != nil {
				return err
			}
			v, err := vault.Open(vaultDir(home), nk, old)
			if err != nil {
				return err
			}
			bar := newBar(-1, "re-wrapping data keys")
			err = v.RotateKEK(nk, func(done, total int) {
				bar.ChangeMax(total)
				bar.Set(done)
			})
			bar.Finish()
			if cerr := v.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			retired := kekPath(home) + "." + old.ID + ".retired"
			if err := os.Rename(kekPath(home), retired); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if err := os.Rename(next, kekPath(home)); err != nil {
				return err
			}
			return g.emit(map[string]string{"kek": nk.ID, "retired": retired}, func(w io.Writer) {
				fmt.Fprintf(w, "the vault's KEK is now %s (%s); the old one is %s\n", nk.ID, kekPath(home), retired)
			})
		},
	}
	rotate.Flags().StringVar(&home, "home", "", "node home directory")
	c.AddCommand(rotate)
	return c
}

package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/gatekeeper"
	"carechain/ledger"
	"carechain/ledger/tx"
	"carechain/vault"
)

// KEKEnv names the environment variable that can hold the vault's
// key-encryption key ("<id>:<base64 32 bytes>") instead of the KEK file.
const KEKEnv = "CARECHAIN_KEK"

// A node's records live beside its ledger state:
//
//	HOME/config/vault.kek            the key-encryption key (0600), unless CARECHAIN_KEK is set
//	HOME/config/custodians/ORG.json  a custodian organization's gatekeeper key (0600)
//	HOME/data/vault                  encrypted FHIR resources (Pebble)
//	HOME/data/fhir-index             identifiers and search codes (Pebble, off-chain)
func kekPath(home string) string       { return filepath.Join(home, "config", "vault.kek") }
func custodiansDir(home string) string { return filepath.Join(home, "config", "custodians") }
func vaultDir(home string) string      { return filepath.Join(home, "data", "vault") }
func indexDir(home string) string      { return filepath.Join(home, "data", "fhir-index") }
func custodianPath(home, org string) string {
	return filepath.Join(custodiansDir(home), org+".json")
}

// nodeKeyFile is a custodian's gatekeeper key on disk.
type nodeKeyFile struct {
	Org        string `json:"org"`
	DID        cc.DID `json:"did"`
	PrivateKey string `json:"private_key"` // base64url of the 32-byte Ed25519 seed
}

// writeNodeKey writes org's gatekeeper key (0600), refusing to overwrite.
func writeNodeKey(home, org string, key ed25519.PrivateKey) (cc.DID, error) {
	if err := os.MkdirAll(custodiansDir(home), 0o700); err != nil {
		return "", err
	}
	d := tx.DeriveDID(key.Public().(ed25519.PublicKey))
	b, _ := json.MarshalIndent(nodeKeyFile{Org: org, DID: d, PrivateKey: base64.RawURLEncoding.EncodeToString(key.Seed())}, "", "  ")
	f, err := os.OpenFile(custodianPath(home, org), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return "", cc.Errorf("custodian", cc.Conflict, "%s already has a gatekeeper key (%s)", org, custodianPath(home, org))
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return "", err
	}
	return d, f.Sync()
}

// loadNodeKeys reads every custodian key of home.
func loadNodeKeys(home string) ([]nodeKeyFile, []ed25519.PrivateKey, error) {
	ents, err := os.ReadDir(custodiansDir(home))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var files []nodeKeyFile
	var keys []ed25519.PrivateKey
	for _, e := range ents {
		if e.IsDir() || filepath.Ext(e.Name()) != ".json" {
			continue
		}
		p := filepath.Join(custodiansDir(home), e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		var f nodeKeyFile
		seed, derr := []byte(nil), json.Unmarshal(b, &f)
		if derr == nil {
			seed, derr = base64.RawURLEncoding.DecodeString(f.PrivateKey)
		}
		if derr != nil || len(seed) != ed25519.SeedSize || !cc.ValidOrgID(f.Org) {
			return nil, nil, cc.Errorf("custodian", cc.Malformed, "%s is not a gatekeeper key file", p)
		}
		files = append(files, f)
		keys = append(keys, ed25519.NewKeyFromSeed(seed))
	}
	return files, keys, nil
}

// loadKEK returns the vault KEK from CARECHAIN_KEK or HOME/config/vault.kek.
func loadKEK(home string) (*vault.KEK, error) {
	if os.Getenv(KEKEnv) != "" {
		return vault.KEKFromEnv(KEKEnv)
	}
	return vault.LoadKEK(kekPath(home))
}

// openVault opens home's vault under its KEK.
func openVault(home string) (*vault.Vault, error) {
	kek, err := loadKEK(home)
	if err != nil {
		return nil, err
	}
	return vault.Open(vaultDir(home), kek)
}

// ensureKEK creates HOME/config/vault.kek unless it or CARECHAIN_KEK exists.
func ensureKEK(home string) error {
	if os.Getenv(KEKEnv) != "" {
		return nil
	}
	if _, err := os.Stat(kekPath(home)); err == nil {
		return nil
	}
	k, err := vault.GenerateKEK(kekPath(home), "kek-"+time.Now().UTC().Format("20060102"))
	if err != nil {
		return err
	}
	k.Destroy()
	return nil
}

// recordsService is a node's vault, index and gatekeepers.
type recordsService struct {
	vault   *vault.Vault
	index   *gatekeeper.Index
	gks     []*gatekeeper.Gatekeeper
	stopped chan struct{}
	cancel  context.CancelFunc
	unsub   func() // ends the gatekeepers' commit notices
}

// openRecords opens home's vault and index and a gatekeeper per custodian
// key, reconciles the vault with the ledger (crash recovery) and starts
// the erasure sweep. With commits (the node's commit notifier; nil
// without) every gatekeeper is told of each committed block
// (gatekeeper.Committed): it reads the chain status once per block, and
// the first one shreds the records of each committed erasure at once
// instead of walking the vault. A home without custodian keys serves no
// records.
func openRecords(home string, chain cc.Chain, commits *ledger.Notifier, log *slog.Logger, onPatients func([]gatekeeper.PatientDemographics), onImmunizations func([]gatekeeper.ImmunizationDate)) (*recordsService, error) {
	files, keys, err := loadNodeKeys(home)
	if err != nil || len(files) == 0 {
		return &recordsService{}, err
	}
	if err := ensureKEK(home); err != nil {
		return nil, err
	}
	v, err := openVault(home)
	if err != nil {
		return nil, err
	}
	idx, err := gatekeeper.OpenIndex(indexDir(home))
	if err != nil {
		v.Close()
		return nil, err
	}
	rs := &recordsService{vault: v, index: idx, stopped: make(chan struct{})}
	for i, f := range files {
		rs.gks = append(rs.gks, gatekeeper.New(gatekeeper.Config{Chain: chain, Vault: v, Index: idx, Org: f.Org,
			NodeDID: f.DID, NodeKey: keys[i], Log: log.With("custodian", f.Org), OnPatients: onPatients,
			OnImmunizations: onImmunizations}))
	}
	if commits != nil {
		// Before recovery's full sweep, so no erasure falls between the
		// two (see gatekeeper.Committed).
		gks := rs.gks
		rs.unsub = commits.Subscribe(func(outs []ledger.TxOutcome) {
			for _, g := range gks {
				g.Committed(outs)
			}
		})
	}
	stored, err := rs.gks[0].Stored() // what recovery may remove: nothing ingested from now on
	if err != nil {
		rs.close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs.cancel = cancel
	started := chainHeight(ctx, chain)
	go func() {
		defer close(rs.stopped)
		if !rs.recover(ctx, chain, started, stored, log) {
			return
		}
		// Reads of erased records answer 410 at once; the sweep destroys
		// the keys (at each committed erasure, with commit notices).
		rs.gks[0].Watch(ctx, time.Minute)
	}()
	return rs, nil
}

// recover reconciles the vault with the ledger once the chain has
// committed a block above started, the height at which the node opened:
// a block that was in flight when the node stopped (its proposal and
// votes in CometBFT's consensus WAL) is decided by then, so a blob whose
// anchor it carries is not mistaken for one whose anchor never committed.
// The blobs of stored (the vault at startup) without a committed anchor
// are then removed; blobs written since, by ingests in flight, are not
// touched. It reports false when ctx ended first (the next start
// recovers).
func (rs *recordsService) recover(ctx context.Context, chain cc.Chain, started int64, stored map[gatekeeper.VersionRef]bool, log *slog.Logger) bool {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for chainHeight(ctx, chain) <= started {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	removed, err := rs.gks[0].RecoverAmong(stored)
	if err != nil {
		log.Error("record vault recovery", "err", err)
		return ctx.Err() == nil
	}
	if removed > 0 {
		log.Warn("recovery removed blobs whose anchors never committed", "count", removed)
	}
	log.Info("record vault recovered", "removed", removed, "after_height", started)
	return true
}

// chainHeight is the chain's latest committed height (0 if unknown).
func chainHeight(ctx context.Context, chain cc.Chain) int64 {
	st, err := chain.Status(ctx)
	if err != nil {
		return 0
	}
	return st.LatestHeight
}

func (rs *recordsService) close() {
	if rs == nil || rs.vault == nil {
		return
	}
	if rs.unsub != nil {
		rs.unsub()
	}
	if rs.cancel != nil {
		rs.cancel()
		<-rs.stopped
	}
	rs.index.Close()
	rs.vault.Close()
}

func newCustodianCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "custodian",
		Short: "Manage the organizations whose FHIR records this node holds",
	}
	var home, org string
	add := &cobra.Command{
		Use:   "add --home DIR --org ORG",
		Short: "Create a gatekeeper key for ORG on this node and say how to admit it",
		Long: `custodian add creates HOME/config/custodians/ORG.json, the key this node's
gatekeeper signs ORG's record anchors and access events with. ORG's admin must
then add its DID as a member with the node role:

  carechain tx member-add --key ORG-admin --org ORG --member DID --role node

Restart the node afterwards; it then serves ORG's records under /fhir.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if home == "" || org == "" {
				return usageError{fmt.Errorf("--home and --org are required")}
			}
			if !cc.ValidOrgID(org) {
				return usageError{fmt.Errorf("--org %q is not an organization id", org)}
			}
			_, key, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			d, err := writeNodeKey(home, org, key)
			if err != nil {
				return err
			}
			if err := ensureKEK(home); err != nil {
				return err
			}
			return g.emit(map[string]any{"org": org, "did": d, "file": custodianPath(home, org)}, func(w io.Writer) {
				fmt.Fprintf(w, "gatekeeper key for %s: %s\n  file: %s\nNext: carechain tx member-add --key %s-admin --org %s --member %s --role node\n",
					org, d, custodianPath(home, org), org, org, d)
			})
		},
	}
	add.Flags().StringVar(&home, "home", "", "node home directory")
	add.Flags().StringVar(&org, "org", "", "organization id")
	c.AddCommand(add)
	return c
}

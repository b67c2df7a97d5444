package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/client"
	"carechain/credential"
	"carechain/keystore"
	"carechain/node"
	"carechain/records"
	"carechain/seed"
	"carechain/shc"
)

// DemoPassphrase unlocks every key of the demo keystore. Demo only.
const DemoPassphrase = "demo"

func defaultDemoHome() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return "carechain-demo"
	}
	return filepath.Join(home, ".carechain", "demo")
}

func newDemoCmd(g *globals) *cobra.Command {
	var home, httpAddr, p2pAddr, rpcAddr, seedStr string
	var patients int
	var fresh bool
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run a single-validator carechain with a seeded demo world, API on 127.0.0.1",
		Long: `demo runs one embedded validator in HOME (created and seeded on first run; a restart
continues the same chain), with organizations (a ministry/public-health agency, two
hospitals, a clinic, a pharmacy, a manufacturer, a distributor, a research institute,
a regulator), their practitioners and patients. Every key is in HOME/keys with the
passphrase "demo". Ctrl-C stops cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fresh {
				if err := os.RemoveAll(home); err != nil {
					return err
				}
			}
			sigs := stopSignals()
			pop := seed.NewPopulation(seedStr, patients)
			if _, err := os.Stat(filepath.Join(home, "config", "genesis.json")); os.IsNotExist(err) {
				if err := createDemoHome(home, httpAddr, p2pAddr, rpcAddr, pop); err != nil {
					return err
				}
			}
			log, closeLog, err := newLogger(home)
			if err != nil {
				return err
			}
			defer closeLog()
			ctx := context.Background()
			r, err := startNode(ctx, home, httpAddr, log)
			if err != nil {
				return err
			}
			if !seed.Seeded(r.node) {
				bar := newBar(-1, "seeding demo world")
				err := seed.Apply(ctx, r.node, pop, time.Now(), func(step string, done, total int) {
					bar.ChangeMax(total)
					bar.Describe("seeding: " + step)
					bar.Set(done)
				})
				bar.Finish()
				if err != nil {
					r.stop()
					return err
				}
			}
			bar := newBar(int64(len(pop.Patients)), "demo patient records")
			err = seedRecords(ctx, func(string) string { return "" }, client.New("http://"+r.addr), pop, time.Now(), func(step string, done, total int) { bar.Set(done) })
			bar.Finish()
			if err != nil {
				r.stop()
				return err
			}
			if err := seedCredentials(ctx, client.New("http://"+r.addr), home, pop); err != nil {
				r.stop()
				return err
			}
			if err := seedDemoPrograms(ctx, r, pop); err != nil {
				r.stop()
				return err
			}
			bar = newBar(-1, "demo supply chain and campaign")
			err = seedSupply(ctx, client.New("http://"+r.addr), pop, time.Now(), func(step string, done, total int) {
				bar.ChangeMax(total)
				bar.Describe(step)
				bar.Set(done)
			})
			bar.Finish()
			if err != nil {
				r.stop()
				return err
			}
			if err := seedResearch(ctx, client.New("http://"+r.addr), pop); err != nil {
				r.stop()
				return err
			}
			runCtx, stopRunner := context.WithCancel(ctx)
			defer stopRunner()
			go runPrograms(runCtx, client.New("http://"+r.addr), pop.Nodes[demoAgency], demoAgency, time.Minute, log)
			serveWebUI(r)
			printDemoGuide(home, r.addr, pop, demoPatientRef(r.node, pop))
			sig := <-sigs
			fmt.Printf("\n%s: stopping (the chain continues from here next time: carechain demo --home %s)\n", sig, home)
			return r.stop()
		},
	}
	c.Flags().StringVar(&home, "home", defaultDemoHome(), "demo home directory")
	c.Flags().StringVar(&httpAddr, "http", "127.0.0.1:8080", "API listen address")
	c.Flags().StringVar(&p2pAddr, "p2p", "127.0.0.1:26656", "CometBFT P2P listen address, set when HOME is created (127.0.0.1:0 picks a free port)")
	c.Flags().StringVar(&rpcAddr, "rpc", "127.0.0.1:26657", "CometBFT RPC listen address, set when HOME is created (127.0.0.1:0 picks a free port)")
	c.Flags().StringVar(&seedStr, "seed", "carechain-demo", "seed for the demo identities (same seed, same DIDs)")
	c.Flags().IntVar(&patients, "patients", 200, "number of demo patients (the coverage figures need a few hundred)")
	c.Flags().BoolVar(&fresh, "fresh", false, "delete HOME first and start a new chain")
	return c
}

// createDemoHome writes the validator home with the population's genesis
// and puts every demo key in HOME/keys. p2pAddr and rpcAddr are CometBFT's
// listen addresses ("" for the defaults, 127.0.0.1:26656 and :26657).
func createDemoHome(home, httpAddr, p2pAddr, rpcAddr string, pop *seed.Population) error {
	state, err := json.Marshal(pop.Genesis())
	if err != nil {
		return err
	}
	if err := node.Init(node.InitOptions{Home: home, Moniker: "demo", ChainID: "carechain-demo", AppState: state, P2PAddr: p2pAddr, RPCAddr: rpcAddr}); err != nil {
		return err
	}
	if err := saveSettings(home, settings{HTTP: httpAddr}); err != nil {
		return err
	}
	ks, err := keystore.Open(filepath.Join(home, "keys"))
	if err != nil {
		return err
	}
	ks.SetScryptN(keystore.DemoScryptN)
	all := pop.All()
	bar := newBar(int64(len(all)), "writing demo keystore")
	for _, id := range all {
		if _, err := ks.Import(id.Name, DemoPassphrase, id.Key, id.DID); err != nil && !cc.Is(cc.Conflict, err) {
			return err
		}
		bar.Add(1)
	}
	bar.Finish()
	// The demo node holds the records of every organization that has a
	// seeded node key (a member with the node role).
	for org, n := range pop.Nodes {
		if _, err := writeNodeKey(home, org, n.Key); err != nil && !cc.Is(cc.Conflict, err) {
			return err
		}
	}
	// The organizations that vaccinate issue SMART Health Cards; their
	// issuer URL is on this node's API (seedCredentials registers them).
	for _, org := range seed.LinkedOrgs {
		is, err := shc.NewIssuer(org, demoIssuerURL(httpAddr, org))
		if err != nil {
			return err
		}
		if err := writeIssuer(home, is); err != nil && !cc.Is(cc.Conflict, err) {
			return err
		}
	}
	return ensureKEK(home)
}

// demoIssuerURL is the SMART Health Card issuer of a demo organization.
func demoIssuerURL(httpAddr, org string) string { return "http://" + httpAddr + "/shc/" + org }

// seedCredentials registers, as each organization's admin, the SMART
// Health Card issuer keys createDemoHome wrote (those not registered yet).
func seedCredentials(ctx context.Context, c *client.Client, home string, pop *seed.Population) error {
	issuers, err := loadIssuers(home)
	if err != nil {
		return err
	}
	var reg json.RawMessage
	if err := c.Get(ctx, "/v1/shc/issuers", &reg); err != nil {
		return err
	}
	for _, is := range issuers {
		if strings.Contains(string(reg), is.Kid()) {
			continue
		}
		admin := pop.Admins[is.Org]
		if _, err := c.Do(ctx, client.NewSigner(admin.DID, admin.Key), credential.TypeIssuerRegister,
			map[string]any{"org": is.Org, "issuer_url": is.URL, "jwks": is.JWKS()}, true); err != nil {
			return fmt.Errorf("registering the SMART Health Card issuer of %s: %w", is.Org, err)
		}
	}
	return nil
}

// demoPatientRef returns the FHIR Patient id of the first demo patient.
func demoPatientRef(chain cc.Chain, pop *seed.Population) string {
	ref := "Patient/ID"
	records.PatientRecords(chain.State(), pop.Patients[0].DID, func(a cc.RecordAnchor) bool {
		if a.Type == "Patient" {
			ref = a.ID
			return false
		}
		return true
	})
	return ref
}

func printDemoGuide(home, addr string, pop *seed.Population, patientRef string) {
	api := "http://" + addr
	p1 := pop.Patients[0]
	fmt.Printf(`
carechain demo is running — one validator, chain "carechain-demo".
  home:      %[1]s   (keys in %[1]s/keys, passphrase "demo")
  API:       %[2]s/v1/status
  metrics:   %[2]s/metrics

Open and try:
  curl %[2]s/v1/status
  curl %[2]s/v1/orgs
  curl %[2]s/v1/orgs/st-mary-hospital/members
  curl %[2]s/v1/dids/%[3]s          (a patient's W3C DID document)
  curl %[2]s/v1/accounts/%[3]s      (guardians: 2 of 3, recovery delay 10 blocks)

Patient records (FHIR R4, encrypted off-chain, anchored on-chain; every read of
someone else's data is consent-checked and logged on-chain before release;
the CLI lines need the environment below):
  curl %[2]s/v1/patients/%[3]s/records        (anchors: ids, types, custodians — no PHI)
  curl %[2]s/v1/patients/%[3]s/access-log     (who read what, when, why, on which basis)
  curl '%[2]s/fhir/AuditEvent?patient=%[3]s'  (the same, as FHIR AuditEvents)
  curl '%[2]s/fhir/Consent?patient=%[3]s'     (%[4]s's consent, as FHIR)
  carechain fhir get '/fhir/%[5]s/$everything' --key %[4]s --patient %[3]s --purpose PATRQT
  carechain fhir get '/fhir/Immunization?patient=%[5]s' --key riverside-physician --patient %[3]s --purpose TREAT
  carechain fhir get '/fhir/Immunization?patient=%[5]s' --key nri-researcher --patient %[3]s --purpose TREAT   (no consent: nothing)
  carechain access-log %[3]s

With the CLI (export CARECHAIN_KEYSTORE=%[1]s/keys CARECHAIN_PASSPHRASE=demo CARECHAIN_NODE=%[2]s):
  carechain keys list
  carechain query orgs
  carechain tx did-rotate --key %[4]s
  carechain query proof --key id/did/%[3]s --out proof.json && carechain verify-proof proof.json

Vaccine supply chain (GS1 EPCIS 2.0; Acme → national store → regional stores → sites):
  curl '%[2]s/epcis/events?EQ_ILMD_lotNumber=%[6]s&perPage=5'   (EPCIS query document)
  curl %[2]s/v1/supply/excursions             (lot %[7]s quarantined at the South store)
  curl %[2]s/v1/supply/recalls                (lot %[6]s recalled by Acme)
  curl %[2]s/v1/supply/lots/%[6]s/trace       (where its stock is, who received doses)
  curl %[2]s/v1/supply/kpis                   (stock by site and lot, days of supply, wastage)
  carechain coverage --vaccine 208 --by quintile --target 900   (uptake by deprivation)
  carechain shc issue --key %[4]s --org st-mary-hospital --out card.smart-health-card --qr qr
  carechain shc verify card.smart-health-card          (SMART Health Card: signature, issuer, revocation)
  carechain coverage --vaccine 208 --dose 2 --by region --format csv

Public-health programs (contracts run by the ledger; the ministry's node runs them every minute):
  carechain program status                              (the childhood MMR incentive and the second-dose campaign)
  carechain program status covid-second-dose            (coverage, milestones, regions)
  carechain program decisions childhood-mmr-incentive   (credits paid per dose, until the budget runs out)
  curl %[2]s/v1/programs/childhood-mmr-incentive/disbursements

Ctrl-C stops; then carechain verify --home %[1]s re-verifies the whole chain.
`, home, api, p1.DID, p1.Name, patientRef, seed.LotRecalled, seed.LotExcursion)
}

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"carechain/keystore"
	"carechain/supply"
)

// supplyTxCmds are the `carechain tx` commands of the vaccine supply
// chain that are not EPCIS captures (see `carechain epcis capture`):
// master data, recalls and the regulator's review of quarantined stock.
func supplyTxCmds(g *globals, tf *txFlags) []*cobra.Command {
	var org, gtin, name, cvx, snomed, condition string
	var minC, maxC float64
	var excursion, doses int
	product := g.txCmd(tf, "product-register", "As a manufacturer's admin or logistics member, register (or update) a vaccine product: GTIN, codes, storage range, excursion budget, doses per vial", "supply.product.register", cobra.NoArgs,
		func(c *cobra.Command) {
			f := c.Flags()
			f.StringVar(&org, "org", "", "the manufacturer")
			f.StringVar(&gtin, "gtin", "", "GTIN (8, 12, 13 or 14 digits, with its check digit)")
			f.StringVar(&name, "name", "", "product name")
			f.StringVar(&cvx, "cvx", "", "CVX vaccine code")
			f.StringVar(&snomed, "snomed", "", "SNOMED CT concept id")
			f.Float64Var(&minC, "min-c", 2, "lowest storage temperature, °C")
			f.Float64Var(&maxC, "max-c", 8, "highest storage temperature, °C")
			f.IntVar(&excursion, "excursion-minutes", 0, "cumulative minutes allowed outside the range")
			f.IntVar(&doses, "doses-per-vial", 1, "doses per vial")
			f.StringVar(&condition, "condition", "", "optional CEL excursion condition (replaces the range rule)")
		},
		func(_ *keystore.Key, _ []string) (any, error) {
			if org == "" || gtin == "" || name == "" {
				return nil, usageError{fmt.Errorf("--org, --gtin and --name are required")}
			}
			p := map[string]any{"org": org, "gtin": gtin, "name": name, "storage_min_milli_c": milli(minC), "storage_max_milli_c": milli(maxC),
				"excursion_minutes": excursion, "doses_per_vial": doses}
			for k, v := range map[string]string{"cvx": cvx, "snomed": snomed, "condition": condition} {
				if v != "" {
					p[k] = v
				}
			}
			return p, nil
		})
	var gln, region string
	location := g.txCmd(tf, "location-register", "As an organization's admin or logistics member, register one of its locations (GLN)", "supply.location.register", cobra.NoArgs,
		func(c *cobra.Command) {
			f := c.Flags()
			f.StringVar(&org, "org", "", "the owning organization")
			f.StringVar(&gln, "gln", "", "GLN-13, an SGLN URN or a GS1 Digital Link /414/")
			f.StringVar(&name, "name", "", "location name")
			f.StringVar(&region, "region", "", "region (optional)")
		},
		func(_ *keystore.Key, _ []string) (any, error) {
			if org == "" || gln == "" || name == "" {
				return nil, usageError{fmt.Errorf("--org, --gln and --name are required")}
			}
			return map[string]any{"org": org, "gln": gln, "name": name, "region": region}, nil
		})
	var lot, reason string
	recall := g.txCmd(tf, "supply-recall", "As the manufacturer or a regulator, recall a lot: every item becomes recalled, its patients are notified", supply.TypeRecall, cobra.NoArgs,
		func(c *cobra.Command) {
			f := c.Flags()
			f.StringVar(&org, "org", "", "your organization (the manufacturer or a regulator)")
			f.StringVar(&lot, "lot", "", "the lot number")
			f.StringVar(&gtin, "gtin", "", "the product's GTIN, when lot numbers are shared between products")
			f.StringVar(&reason, "reason", "", "why (no patient data)")
		},
		func(_ *keystore.Key, _ []string) (any, error) {
			if org == "" || lot == "" || reason == "" {
				return nil, usageError{fmt.Errorf("--org, --lot and --reason are required")}
			}
			p := map[string]any{"org": org, "lot": lot, "reason": reason}
			if gtin != "" {
				p["gtin"] = gtin
			}
			return p, nil
		})
	var epcs []string
	var decision string
	review := g.txCmd(tf, "supply-review", "As a regulator, release or destroy quarantined items (and everything packed in them) after review", supply.TypeQuarantineReview, cobra.NoArgs,
		func(c *cobra.Command) {
			f := c.Flags()
			f.StringVar(&org, "org", "", "your regulator organization")
			f.StringSliceVar(&epcs, "epc", nil, "a quarantined EPC (repeat)")
			f.StringVar(&decision, "decision", "", "release or destroy")
			f.StringVar(&reason, "reason", "", "the review's finding")
		},
		func(_ *keystore.Key, _ []string) (any, error) {
			if org == "" || len(epcs) == 0 || decision == "" || reason == "" {
				return nil, usageError{fmt.Errorf("--org, --epc, --decision and --reason are required")}
			}
			return map[string]any{"org": org, "epcs": epcs, "decision": decision, "reason": reason}, nil
		})
	return []*cobra.Command{product, location, recall, review}
}

// milli converts °C to integer milli-degrees.
func milli(c float64) int64 {
	if c < 0 {
		return int64(c*1000 - 0.5)
	}
	return int64(c*1000 + 0.5)
}

package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/keystore"
)

// recordsTxCmds are the `carechain tx` commands of patients' records:
// consents, erasure and break-glass.
func recordsTxCmds(g *globals, tf *txFlags) []*cobra.Command {
	var patient, toDID, toOrg, role, until, condition string
	var purposes, types, actions, deny []string
	patientOf := func(k *keystore.Key) (cc.DID, error) {
		if patient != "" {
			return cc.DID(patient), nil
		}
		if k == nil {
			return "", usageError{fmt.Errorf("--patient DID is required (or a --key of the patient)")}
		}
		return k.DID, nil
	}
	grant := g.txCmd(tf, "consent-grant", "As a patient (or a delegate with consent.manage), permit an actor to read records for purposes, optionally excluding sensitive categories", "consent.grant", cobra.NoArgs,
		func(c *cobra.Command) {
			f := c.Flags()
			f.StringVar(&patient, "patient", "", "the patient DID (default: the --key's DID)")
			f.StringVar(&toDID, "to-did", "", "grantee: a practitioner's DID")
			f.StringVar(&toOrg, "to-org", "", "grantee: an organization (with --role: that role within it)")
			f.StringVar(&role, "role", "", "with --to-org: only members with this role")
			f.StringSliceVar(&purposes, "purpose", []string{"TREAT"}, "purpose of use (repeat): TREAT, ETREAT, HPAYMT, HOPERAT, PUBHLTH, HRESEARCH, …")
			f.StringSliceVar(&types, "type", nil, "FHIR resource type (repeat; default all)")
			f.StringSliceVar(&actions, "action", []string{"read", "search"}, "actions (repeat): read, search, export")
			f.StringVar(&until, "until", "", "end of validity (YYYY-MM-DD or RFC 3339; default none)")
			f.StringSliceVar(&deny, "exclude", nil, "category or security label to keep out (repeat), e.g. PSY, ETH, SEX")
			f.StringVar(&condition, "condition", "", "optional CEL condition")
		},
		func(k *keystore.Key, _ []string) (any, error) {
			p, err := patientOf(k)
			if err != nil {
				return nil, err
			}
			var actor cc.Actor
			switch {
			case toDID != "" && toOrg == "":
				actor = cc.Actor{DID: cc.DID(toDID)}
			case toOrg != "" && toDID == "":
				actor = cc.Actor{Org: toOrg, Role: cc.Role(role)}
			default:
				return nil, usageError{fmt.Errorf("give the grantee: --to-did DID or --to-org ORG [--role ROLE]")}
			}
			permit := cc.Provision{Type: cc.Permit, Actors: []cc.Actor{actor}, Actions: actions, Purposes: purposes, ResourceTypes: types, Condition: condition}
			if until != "" {
				t, err := parseWhen(until)
				if err != nil {
					return nil, err
				}
				permit.Period.End = t
			}
			provisions := []cc.Provision{permit}
			if len(deny) > 0 {
				provisions = append(provisions, cc.Provision{Type: cc.Deny, Actors: []cc.Actor{actor}, Categories: deny})
			}
			return map[string]any{"patient": p, "provisions": provisions}, nil
		})
	revoke := g.txCmd(tf, "consent-revoke ID", "Revoke a consent (effective from the next block)", "consent.revoke", cobra.ExactArgs(1), nil,
		func(_ *keystore.Key, a []string) (any, error) { return map[string]string{"id": a[0]}, nil })

	var all bool
	erase := g.txCmd(tf, "record-erase [RECORD-ID…]", "As a patient, erase records (or --all): their data keys are destroyed, reads answer 410, the anchors stay", "record.erase", cobra.ArbitraryArgs,
		func(c *cobra.Command) {
			c.Flags().StringVar(&patient, "patient", "", "the patient DID (default: the --key's DID)")
			c.Flags().BoolVar(&all, "all", false, "erase every record of the patient")
		},
		func(k *keystore.Key, a []string) (any, error) {
			p, err := patientOf(k)
			if err != nil {
				return nil, err
			}
			if all == (len(a) > 0) {
				return nil, usageError{fmt.Errorf("give record ids (Type/id) or --all")}
			}
			if all {
				return map[string]any{"patient": p, "all": true}, nil
			}
			return map[string]any{"patient": p, "ids": a}, nil
		})

	var org, reasonCode, reason string
	var minutes int
	declare := g.txCmd(tf, "breakglass-declare", "As an emergency clinician, open a time-boxed emergency access window for one patient (flagged, the patient is notified, the privacy officer reviews it)", "breakglass.declare", cobra.NoArgs,
		func(c *cobra.Command) {
			f := c.Flags()
			f.StringVar(&patient, "patient", "", "the patient DID")
			f.StringVar(&org, "org", "", "your organization")
			f.StringVar(&reasonCode, "reason-code", "", "life-threatening, no-consent-possible, unconscious or other")
			f.StringVar(&reason, "reason", "", "free-text reason (required with other; no patient data)")
			f.IntVar(&minutes, "minutes", 0, "window length (default: the ledger's default)")
		},
		func(_ *keystore.Key, _ []string) (any, error) {
			if patient == "" || org == "" || reasonCode == "" {
				return nil, usageError{fmt.Errorf("--patient, --org and --reason-code are required")}
			}
			return map[string]any{"patient": patient, "org": org, "reason_code": reasonCode, "reason": reason, "minutes": minutes}, nil
		})
	var outcome, note string
	review := g.txCmd(tf, "breakglass-review ID", "As the organization's privacy officer, review an emergency access window", "breakglass.review", cobra.ExactArgs(1),
		func(c *cobra.Command) {
			c.Flags().StringVar(&outcome, "outcome", "", "accepted or misuse")
			c.Flags().StringVar(&note, "note", "", "review note (no patient data)")
		},
		func(_ *keystore.Key, a []string) (any, error) {
			return map[string]string{"id": a[0], "outcome": outcome, "note": note}, nil
		})
	return []*cobra.Command{grant, revoke, erase, declare, review}
}

// parseWhen parses a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time.
func parseWhen(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("%q is not a date (YYYY-MM-DD) or an RFC 3339 time", s)}
	}
	return t.UTC(), nil
}

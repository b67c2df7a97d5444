package gatekeeper

import (
	"context"
	"encoding/json"
	"strings"

	cc "carechain"
	"carechain/fhir"
	"carechain/records"
	"carechain/rx"
	"carechain/supply"
)

// rxPlan is what one chunk of an ingest means for the ledger's
// e-prescriptions (package rx):
//
//   - a new MedicationRequest with prescription facts (fhir.RxFacts:
//     active, an order, a dispenseRequest with a quantity) is issued, its
//     author the prescriber;
//   - a new MedicationDispense with dispense facts (completed or
//     in-progress) whose authorizingPrescription is a prescription on the
//     ledger is dispensed against it, the write request's author the
//     pharmacist. A dispense without a quantity is cc.Invalid;
//   - a dispense whose MedicationDispense.receiver names a carechain DID
//     (identifier system fhir.DIDSystem) records it as collected_by: the
//     ledger then checks that it is the patient, or a delegate of the
//     patient with scope rx.ScopeCollect when the patient allows delegate
//     collection (rx.collection), else the dispense is refused
//     (cc.Unauthorized) and nothing is stored. Naming more than one DID
//     receiver is cc.Invalid.
//
// The chunk's anchors then go through rx.dispense or rx.issue instead of
// record.anchor, so records and prescription state commit together and a
// refused dispense stores nothing: the ingest answers the ledger's reason
// (cc.FailedPrecondition "only 10 TAB remain", "expired on …", …). A
// chunk that also holds new Immunizations goes through rx.bundle: the
// doses (supply.administer) and the prescriptions or dispenses commit in
// one transaction or not at all. A bundle that both issues and dispenses
// is cc.Invalid (submit them in two bundles). Updates of existing
// MedicationRequests do not change the prescription (use rx.cancel).
type rxPlan struct {
	issues    []map[string]any
	dispenses []map[string]any
}

// planRx reads the prescriptions and dispenses of a chunk of fresh
// resources (prev[i] nil for a new record).
func (g *Gatekeeper) planRx(state cc.Reader, fresh []*fhir.Resource, prev []*cc.RecordAnchor) (rxPlan, error) {
	var p rxPlan
	for i, r := range fresh {
		if prev[i] != nil {
			continue
		}
		switch {
		case r.Rx != nil:
			if !r.Rx.QuantityOK || r.Rx.QuantityMilli == 0 {
				return p, cc.Errorf("ingest", cc.Invalid, "%s: dispenseRequest.quantity must be a positive decimal with at most three decimals", r.Reference())
			}
			it := map[string]any{"record_id": r.Reference(), "quantity_milli": r.Rx.QuantityMilli, "repeats": r.Rx.Repeats}
			if r.Rx.Unit != "" {
				it["unit"] = r.Rx.Unit
			}
			if r.Rx.ValidUntil != "" {
				it["valid_until"] = r.Rx.ValidUntil
			}
			if r.Rx.Medication != "" {
				it["medication"] = r.Rx.Medication
			}
			p.issues = append(p.issues, it)
		case r.Dispense != nil && strings.HasPrefix(r.Dispense.Prescription, rx.RequestType+"/"):
			if _, err := rx.GetPrescription(state, r.Dispense.Prescription); cc.Is(cc.NotFound, err) {
				continue // not an e-prescription of this ledger: a plain record
			} else if err != nil {
				return p, err
			}
			if !r.Dispense.QuantityOK || r.Dispense.QuantityMilli == 0 {
				return p, cc.Errorf("ingest", cc.Invalid, "%s dispenses e-prescription %s: its quantity must be a positive decimal with at most three decimals", r.Reference(), r.Dispense.Prescription)
			}
			it := map[string]any{"record_id": r.Reference(), "prescription": r.Dispense.Prescription, "quantity_milli": r.Dispense.QuantityMilli}
			if r.Dispense.Unit != "" {
				it["unit"] = r.Dispense.Unit
			}
			switch len(r.Dispense.Receivers) {
			case 0:
			case 1:
				it["collected_by"] = r.Dispense.Receivers[0]
			default:
				return p, cc.Errorf("ingest", cc.Invalid, "%s dispenses e-prescription %s: receiver names %d carechain DIDs; name the one person who collected it", r.Reference(), r.Dispense.Prescription, len(r.Dispense.Receivers))
			}
			p.dispenses = append(p.dispenses, it)
		}
	}
	return p, nil
}

// submitChunk commits one chunk of anchors: through rx.bundle when it
// holds immunizations (doses) and e-prescription facts, supply.administer
// when it holds immunizations only, rx.dispense or rx.issue when it holds
// e-prescription facts only, else record.anchor.
func (g *Gatekeeper) submitChunk(ctx context.Context, anchors []map[string]any, doses []map[string]any, p rxPlan, who Submitter) (cc.SubmitResult, error) {
	org := g.cfg.Org
	switch {
	case len(p.dispenses) > 0 && len(p.issues) > 0:
		return cc.SubmitResult{}, cc.Errorf("ingest", cc.Invalid, "a bundle cannot issue and dispense e-prescriptions together: submit them in two bundles")
	case len(doses) > 0 && len(p.dispenses)+len(p.issues) > 0:
		payload := map[string]any{"org": org, "anchors": anchors, "administrations": doses}
		if len(p.issues) > 0 {
			payload["prescriptions"] = p.issues
		} else {
			payload["pharmacist"], payload["dispenses"] = who.Author, p.dispenses
		}
		r, err := g.submit(ctx, rx.TypeBundle, payload)
		if err == nil {
			var res rx.BundleResult
			if err = json.Unmarshal(r.Data, &res); err != nil {
				return r, cc.E("ingest", cc.Internal, err)
			}
			err = refusedDoses(res.Administer)
		}
		return r, err
	case len(doses) > 0:
		// Immunizations go with their anchors through the supply
		// chain, which links each dose to the clinic's stock.
		r, err := g.submit(ctx, supply.TypeAdminister, map[string]any{"org": org, "anchors": anchors, "administrations": doses})
		if err == nil {
			err = administerRefusal(r.Data)
		}
		return r, err
	case len(p.dispenses) > 0:
		return g.submit(ctx, rx.TypeDispense, map[string]any{"org": org, "pharmacist": who.Author, "anchors": anchors, "dispenses": p.dispenses})
	case len(p.issues) > 0:
		return g.submit(ctx, rx.TypeIssue, map[string]any{"org": org, "anchors": anchors, "prescriptions": p.issues})
	}
	return g.submit(ctx, records.TypeAnchor, map[string]any{"anchors": anchors})
}

// withRxLedger returns b, the released version of a, with the ledger's
// state of its prescription (fhir.WithRxLedger: status, dispensed,
// remaining and total quantities, fills, validity) when a is the current
// version of a MedicationRequest issued as an e-prescription; an older
// version (vread, _history) or any other record is returned as stored.
func (g *Gatekeeper) withRxLedger(a *cc.RecordAnchor, b []byte) ([]byte, error) {
	if a.Type != rx.RequestType {
		return b, nil
	}
	state := g.cfg.Chain.State()
	p, err := rx.GetPrescription(state, a.ID)
	if cc.Is(cc.NotFound, err) {
		return b, nil
	} else if err != nil {
		return nil, err
	}
	if cur, err := records.GetAnchor(state, a.ID); err != nil {
		return nil, err
	} else if cur.Version != a.Version {
		return b, nil
	}
	return fhir.WithRxLedger(b, fhir.RxLedger{Status: p.Status, TotalMilli: p.TotalMilli(), DispensedMilli: p.DispensedMilli,
		RemainingMilli: p.RemainingMilli(), Unit: p.Unit, Fills: p.Fills, ValidUntil: p.ValidUntil}), nil
}

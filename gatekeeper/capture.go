package gatekeeper

import (
	"context"
	"encoding/json"
	"fmt"

	cc "carechain"
	"carechain/access"
	"carechain/supply"
)

// captureRoles are the roles whose members may capture supply events for
// their organization through its gatekeeper.
var captureRoles = []cc.Role{cc.RoleLogistics, cc.RolePharmacist, cc.RolePhysician, cc.RoleNurse, cc.RoleAdmin}

// CaptureResult is the outcome of a capture: the ledger's per-transaction
// results summed, with rejected events numbered in the submitted
// document.
type CaptureResult struct {
	Count    int                `json:"count"`
	Accepted int                `json:"accepted"`
	Rejected []supply.Rejection `json:"rejected"`
	Height   int64              `json:"height"`
	TxHashes []string           `json:"tx_hashes"`
}

// Capture is the gatekeeper's door for POST /epcis/capture: body is the
// EPCIS document as received, events its events converted by the caller
// (package epcis), sw the author's signed write request for body. The
// author must be a member of this gatekeeper's organization with the
// logistics, pharmacist, physician, nurse or admin role. The node signs
// supply.capture transactions for the organization, each within the
// ledger's limits, in order, and waits for each to commit; a transaction
// that fails stops the capture and returns its error (the transactions
// before it stay committed, and the result says how far it went).
func (g *Gatekeeper) Capture(ctx context.Context, body []byte, sw access.SignedRead, events []supply.Event) (*CaptureResult, error) {
	const op = "epcis.capture"
	if _, err := g.verifyWrite(ctx, op, body, sw, captureRoles, "capture supply events"); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, cc.Errorf(op, cc.Invalid, "the document holds no event")
	}
	res := &CaptureResult{Rejected: []supply.Rejection{}, TxHashes: []string{}}
	for start := 0; start < len(events); {
		end, epcs := start, 0
		for end < len(events) && end-start < supply.MaxEventsPerTx {
			n := len(events[end].EPCs) + len(events[end].ChildEPCs)
			if end > start && epcs+n > supply.MaxEPCsPerTx {
				break
			}
			epcs += n
			end++
		}
		r, err := g.submit(ctx, supply.TypeCapture, map[string]any{"org": g.cfg.Org, "events": events[start:end]})
		if err != nil {
			return res, shiftEventIndex(err, start)
		}
		var cr supply.CaptureResult
		if err := json.Unmarshal(r.Data, &cr); err != nil {
			return res, cc.E(op, cc.Internal, err)
		}
		res.Count += cr.Count
		res.Accepted += cr.Accepted
		for _, rej := range cr.Rejected {
			rej.Event += start
			res.Rejected = append(res.Rejected, rej)
		}
		res.Height = r.Height
		res.TxHashes = append(res.TxHashes, r.Hash)
		start = end
	}
	return res, nil
}

// shiftEventIndex says, in the error of a chunk starting at start, which
// event of the whole document failed.
func shiftEventIndex(err error, start int) error {
	if start == 0 {
		return err
	}
	e, ok := err.(*cc.Error)
	if !ok {
		return err
	}
	return &cc.Error{Op: e.Op, Kind: e.Kind, Msg: e.Msg + fmt.Sprintf(" (events numbered from %d of the document)", start)}
}

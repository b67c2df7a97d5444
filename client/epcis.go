package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"carechain/access"
	"carechain/supply"
)

// CaptureResult mirrors the node's answer to POST /epcis/capture.
type CaptureResult struct {
	Count    int                `json:"count"`
	Accepted int                `json:"accepted"`
	Rejected []supply.Rejection `json:"rejected"`
	Height   int64              `json:"height"`
	TxHashes []string           `json:"tx_hashes"`
}

// CaptureEPCIS posts an EPCIS 2.0 document (JSON / JSON-LD) to POST
// /epcis/capture on behalf of org, signed by s (a logistics, pharmacist,
// physician, nurse or admin member of org). The node validates it
// (schema and semantic rules), and its gatekeeper for org signs and
// commits the events; the answer counts the accepted events and lists
// those rejected as fraud signals.
func (c *Client) CaptureEPCIS(ctx context.Context, s *Signer, org string, doc []byte) (*CaptureResult, error) {
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	w := access.WriteRequest{ChainID: chainID, Author: s.DID, Org: org, Body: access.BodyHash(doc), Issued: time.Now().UTC(), Nonce: nonce()}
	sw, err := access.SignWrite(w, s.Key)
	if err != nil {
		return nil, err
	}
	var out CaptureResult
	hdr := http.Header{access.HeaderWrite: []string{sw.Header()}}
	if err := c.doWith(ctx, http.MethodPost, "/epcis/capture", hdr, doc, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// QueryEPCIS answers GET /epcis/events with the query parameters q (EPCIS
// 2.0 REST names: MATCH_anyEPC, EQ_bizStep, EQ_disposition, EQ_bizLocation,
// EQ_readPoint, GE_eventTime, LT_eventTime, EQ_ILMD_lotNumber, eventType,
// perPage, nextPageToken): the EPCISQueryDocument as JSON-LD bytes.
func (c *Client) QueryEPCIS(ctx context.Context, q url.Values) ([]byte, error) {
	var b []byte
	path := "/epcis/events"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	if err := c.Get(ctx, path, &b); err != nil {
		return nil, err
	}
	return b, nil
}

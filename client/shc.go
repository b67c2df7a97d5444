package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	cc "carechain"
	"carechain/access"
)

// SHCIssueQuery is the export query a patient signs to be issued a SMART
// Health Card (the node's httpapi.SHCIssueQuery).
var SHCIssueQuery = access.SearchQuery("Patient,Immunization", url.Values{"_count": {strconv.Itoa(access.MaxEventRecords)}})

// SHCCard is an issued card as the node answered it.
type SHCCard struct {
	Body        []byte // the .smart-health-card file, or a PNG with format qr
	Chunks      int    // QR codes the card needs
	Kid         string
	AccessEvent string // the access event that logged the read of the records
}

// IssueSHC asks org's issuer on the node for a SMART Health Card of the
// signer's own immunizations (s must be the patient). format is "" (the
// file) or "qr" (the PNG of QR code chunk, from 1).
func (c *Client) IssueSHC(ctx context.Context, s *Signer, org, format string, chunk int) (*SHCCard, error) {
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	sr, err := access.SignRead(access.ReadRequest{ChainID: chainID, Requester: s.DID, Patient: s.DID, Action: access.ActionExport,
		Purpose: "PATRQT", Query: SHCIssueQuery, Issued: time.Now().UTC(), Nonce: nonce()}, s.Key)
	if err != nil {
		return nil, err
	}
	q := url.Values{"org": {org}}
	if format != "" {
		q.Set("format", format)
		q.Set("chunk", strconv.Itoa(max(chunk, 1)))
	}
	path := "/v1/shc/issue?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+path, nil)
	if err != nil {
		return nil, cc.E("client", cc.Invalid, err)
	}
	req.Header.Set(access.HeaderRead, sr.Header())
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, c.sendError(req, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, cc.Errorf("client", cc.Internal, "reading answer: %v", err)
	}
	if resp.StatusCode >= 400 {
		return nil, problemError("POST /v1/shc/issue", resp.StatusCode, b)
	}
	n, _ := strconv.Atoi(resp.Header.Get("Carechain-SHC-Chunks"))
	return &SHCCard{Body: b, Chunks: n, Kid: resp.Header.Get("Carechain-SHC-Kid"), AccessEvent: resp.Header.Get("Carechain-Access-Event")}, nil
}

// VerifySHC asks the node to verify a .smart-health-card file, a JWS or
// shc:/ text against the ledger's issuer registry; out receives the
// node's answer (httpapi.SHCVerification).
func (c *Client) VerifySHC(ctx context.Context, input []byte, out any) error {
	return c.do(ctx, http.MethodPost, "/v1/shc/verify", bytes.TrimSpace(input), out)
}

// problemError turns a JSON problem answer into a *cc.Error.
func problemError(op string, status int, b []byte) error {
	var p problem
	if json.Unmarshal(b, &p) == nil && p.Code != 0 {
		return &cc.Error{Op: op, Kind: cc.KindFromCode(p.Code), Msg: p.Detail}
	}
	return cc.Errorf(op, cc.Internal, "HTTP %d", status)
}

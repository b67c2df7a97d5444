// Package client is a Go client for carechain's HTTP API (/v1), used by the
// CLI, tests and benchmarks. It signs transactions locally: private keys
// never leave the caller.
package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	cc "carechain"
	"carechain/ledger/tx"
)

// ErrUnreachable is wrapped by errors for requests that reached no node.
var ErrUnreachable = errors.New("node unreachable")

// Client talks to one carechain node.
type Client struct {
	Base string // e.g. http://127.0.0.1:8080
	HTTP *http.Client

	mu      sync.Mutex
	chainID string
}

// New returns a client for the node at base. A request gives up after ten
// minutes (a large bundle or EPCIS document on a busy node can take
// minutes); callers bound shorter work with their context.
func New(base string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), HTTP: &http.Client{Timeout: 10 * time.Minute}}
}

// problem mirrors httpapi.Problem.
type problem struct {
	Kind   string `json:"kind"`
	Code   uint32 `json:"code"`
	Detail string `json:"detail"`
	Status int    `json:"status"`
}

// do sends a request and decodes a JSON answer into out. Problems become
// *cc.Error values with the server's Kind.
func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	return c.doWith(ctx, method, path, nil, body, out)
}

// doWith is do with extra request headers.
func (c *Client) doWith(ctx context.Context, method, path string, hdr http.Header, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return cc.E("client", cc.Invalid, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return c.sendError(req, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return cc.Errorf("client", cc.Internal, "reading answer: %v", err)
	}
	if resp.StatusCode >= 400 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		var p problem
		if json.Unmarshal(b, &p) == nil {
			return &cc.Error{Op: method + " " + path, Kind: cc.KindFromCode(p.Code), Msg: p.Detail}
		}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = b
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return cc.Errorf("client", cc.Internal, "answer from %s is not JSON (HTTP %d)", path, resp.StatusCode)
	}
	return nil
}

// Get fetches path (e.g. "/v1/orgs") and decodes the JSON answer into out
// (or, if out is *[]byte, stores the raw body).
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

// SubmitResponse is the answer to POST /v1/txs.
type SubmitResponse struct {
	Results  []cc.SubmitResult `json:"results"`
	Accepted int               `json:"accepted"`
	Rejected int               `json:"rejected"`
}

// Submit posts raw transactions as one batch. With commit, the node answers
// once each accepted transaction is committed.
func (c *Client) Submit(ctx context.Context, txs [][]byte, commit bool) (*SubmitResponse, error) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, t := range txs {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(t)
	}
	buf.WriteByte(']')
	path := "/v1/txs"
	if commit {
		path += "?commit=true"
	}
	var out SubmitResponse
	if err := c.do(ctx, http.MethodPost, path, buf.Bytes(), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Status returns the node status.
func (c *Client) Status(ctx context.Context) (*cc.Status, error) {
	var st cc.Status
	if err := c.Get(ctx, "/v1/status", &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// ChainID returns (and caches) the node's chain id.
func (c *Client) ChainID(ctx context.Context) (string, error) {
	c.mu.Lock()
	id := c.chainID
	c.mu.Unlock()
	if id != "" {
		return id, nil
	}
	st, err := c.Status(ctx)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.chainID = st.ChainID
	c.mu.Unlock()
	return st.ChainID, nil
}

// Account is the answer to GET /v1/accounts/{did} (fields the client uses).
type Account struct {
	DID        cc.DID `json:"did"`
	Sequence   uint64 `json:"sequence"`
	KeyVersion int    `json:"key_version"`
}

// NextSequence returns the sequence the signer must use next: 0 for a DID
// not yet on the ledger.
func (c *Client) NextSequence(ctx context.Context, d cc.DID) (uint64, error) {
	var a Account
	err := c.Get(ctx, "/v1/accounts/"+url.PathEscape(string(d)), &a)
	if cc.Is(cc.NotFound, err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return a.Sequence, nil
}

// Signer signs transactions for one DID, tracking its sequence locally
// after the first lookup so many transactions can be sent back to back.
type Signer struct {
	DID cc.DID
	Key ed25519.PrivateKey

	mu    sync.Mutex
	seq   uint64
	known bool
}

// NewSigner returns a Signer for did with key.
func NewSigner(did cc.DID, key ed25519.PrivateKey) *Signer { return &Signer{DID: did, Key: key} }

// Build signs a transaction of type typ with payload at the signer's next
// sequence (fetched from the node the first time) and advances the local
// sequence.
func (c *Client) Build(ctx context.Context, s *Signer, typ string, payload any) ([]byte, error) {
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.known {
		n, err := c.NextSequence(ctx, s.DID)
		if err != nil {
			return nil, err
		}
		s.seq, s.known = n, true
	}
	raw, err := tx.Build(chainID, s.DID, s.Key, s.seq, typ, payload)
	if err != nil {
		return nil, err
	}
	s.seq++
	return raw, nil
}

// Resync forgets the signer's local sequence (after a rejection).
func (s *Signer) Resync() {
	s.mu.Lock()
	s.known = false
	s.mu.Unlock()
}

// Do builds, submits and (with commit) waits for one transaction, returning
// its result or the rejection as a *cc.Error.
func (c *Client) Do(ctx context.Context, s *Signer, typ string, payload any, commit bool) (*cc.SubmitResult, error) {
	raw, err := c.Build(ctx, s, typ, payload)
	if err != nil {
		return nil, err
	}
	resp, err := c.Submit(ctx, [][]byte{raw}, commit)
	if err != nil {
		s.Resync()
		return nil, err
	}
	r := resp.Results[0]
	if !r.Accepted {
		s.Resync()
		return &r, &cc.Error{Op: typ, Kind: cc.KindFromCode(r.Code), Msg: trimOp(r.Log)}
	}
	return &r, nil
}

// trimOp strips a leading "op: kind: " from a ledger log for re-wrapping.
func trimOp(log string) string {
	parts := strings.SplitN(log, ": ", 3)
	if len(parts) == 3 {
		return parts[2]
	}
	return log
}

// sendError describes a request that got no answer: it timed out (the
// node is busy: cc.Unavailable) or reached no node (ErrUnreachable).
func (c *Client) sendError(req *http.Request, err error) error {
	var ne net.Error
	if req.Context().Err() != nil || errors.As(err, &ne) && ne.Timeout() {
		return &cc.Error{Op: "client", Kind: cc.Unavailable, Msg: fmt.Sprintf("the node at %s did not answer %s %s in time (it may be busy; try again)", c.Base, req.Method, req.URL.Path)}
	}
	return &cc.Error{Op: "client", Kind: cc.Internal, Msg: fmt.Sprintf("cannot reach the node at %s (is it running? set --node or CARECHAIN_NODE)", c.Base), Err: ErrUnreachable}
}

// String describes the client.
func (c *Client) String() string { return fmt.Sprintf("carechain node %s", c.Base) }

package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/identity"
)

// nonce returns a fresh random nonce for a signed request.
func nonce() string {
	var b [18]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// FHIRResponse is a FHIR answer: the body (a resource or Bundle) and the
// access event that logged a read (empty for writes and empty searches).
type FHIRResponse struct {
	Body        []byte
	Status      int
	AccessEvent string // the committed access event id
	Basis       string // its decision basis
	Height      int64  // the block that holds the event (or the anchors)
	Header      http.Header
}

// IngestSummary is what a POST /fhir stored, from its transaction-response.
type IngestSummary struct {
	Created, Updated, Existing int
	ByType                     map[string]int // created or updated, by resource type
	Height                     int64
	// Patient and ClaimCode answer a custodial ingest: the patient DID
	// created and the one-time code to hand to the person.
	Patient   cc.DID
	ClaimCode string
	// Refs are the stored resources ("Type/id"), in the order of the
	// request's entries.
	Refs []string
}

// Ingest posts a FHIR Bundle (or, with resourceType, one resource) to the
// custodian org's gatekeeper, signed by s (a practitioner of org). patient
// is the DID the bundle's Patient belongs to (empty for directory data).
func (c *Client) Ingest(ctx context.Context, s *Signer, org string, patient cc.DID, resourceType string, body []byte) (*IngestSummary, error) {
	return c.ingest(ctx, s, access.WriteRequest{Org: org, Patient: patient}, resourceType, body)
}

// IngestCustodial is Ingest for a person without a DID: the custodian
// creates a custodial patient DID for the bundle's Patient and answers it
// with the one-time claim code to hand to the person (see Claim).
func (c *Client) IngestCustodial(ctx context.Context, s *Signer, org string, body []byte) (*IngestSummary, error) {
	return c.ingest(ctx, s, access.WriteRequest{Org: org, Custodial: true}, "", body)
}

func (c *Client) ingest(ctx context.Context, s *Signer, w access.WriteRequest, resourceType string, body []byte) (*IngestSummary, error) {
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	w.ChainID, w.Author, w.Body, w.Issued, w.Nonce = chainID, s.DID, access.BodyHash(body), time.Now().UTC(), nonce()
	sw, err := access.SignWrite(w, s.Key)
	if err != nil {
		return nil, err
	}
	path := "/fhir"
	if resourceType != "" {
		path += "/" + url.PathEscape(resourceType)
	}
	resp, err := c.fhir(ctx, http.MethodPost, path, access.HeaderWrite, sw, body)
	if err != nil {
		return nil, err
	}
	sum := &IngestSummary{ByType: map[string]int{}, Height: resp.Height,
		Patient: cc.DID(resp.Header.Get("Carechain-Patient")), ClaimCode: resp.Header.Get("Carechain-Claim-Code")}
	if resourceType != "" {
		loc := resp.Header.Get("Location")
		sum.Refs = append(sum.Refs, refOf(loc))
		sum.ByType[resourceType]++
		if resp.Status == http.StatusCreated {
			sum.Created++
		} else if strings.HasSuffix(loc, "/_history/1") {
			sum.Existing++
		} else {
			sum.Updated++
		}
		return sum, nil
	}
	var b struct {
		Entry []struct {
			Response struct {
				Status   string `json:"status"`
				Location string `json:"location"`
			} `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(resp.Body, &b); err != nil {
		return nil, cc.Errorf("client.ingest", cc.Internal, "the node's answer is not a Bundle")
	}
	// An existing resource answers "200 OK" at version 1; an update at a
	// later version.
	for _, e := range b.Entry {
		sum.Refs = append(sum.Refs, refOf(e.Response.Location))
		typ, _, _ := strings.Cut(e.Response.Location, "/")
		switch {
		case strings.HasPrefix(e.Response.Status, "201"):
			sum.Created++
			sum.ByType[typ]++
		case strings.HasSuffix(e.Response.Location, "/_history/1"):
			sum.Existing++
		default:
			sum.Updated++
			sum.ByType[typ]++
		}
	}
	return sum, nil
}

// refOf returns "Type/id" of a resource location ("[base/]Type/id[/_history/v]").
func refOf(loc string) string {
	loc, _, _ = strings.Cut(loc, "/_history/")
	parts := strings.Split(strings.TrimSuffix(loc, "/"), "/")
	if len(parts) < 2 {
		return loc
	}
	return parts[len(parts)-2] + "/" + parts[len(parts)-1]
}

// ReadOptions say on whose record and why a read is made.
type ReadOptions struct {
	Patient cc.DID // the patient whose data is read
	Purpose string // HL7 v3 PurposeOfUse, e.g. TREAT
	Org     string // the organization the requester acts for (optional)
}

// ReadFHIR signs and sends a FHIR read: path is "/fhir/{type}/{id}",
// "/fhir/{type}/{id}/_history[/{vid}]", "/fhir/{type}?{query}" (search) or
// "/fhir/Patient/{id}/$everything[?{query}]". A denied or missing record
// answers cc.NotFound, an erased one cc.Gone.
func (c *Client) ReadFHIR(ctx context.Context, s *Signer, o ReadOptions, path string) (*FHIRResponse, error) {
	sr, err := c.SignFHIRRead(ctx, s, o, path)
	if err != nil {
		return nil, err
	}
	return c.SendFHIRRead(ctx, sr, path)
}

// SignFHIRRead returns the signed read request of a FHIR read of path (as
// ReadFHIR; issued now, with a fresh nonce) without sending it: a device
// can sign ahead, and the request is good for one read within
// access.ReadWindow.
func (c *Client) SignFHIRRead(ctx context.Context, s *Signer, o ReadOptions, path string) (access.SignedRead, error) {
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return access.SignedRead{}, err
	}
	u, err := url.Parse(path)
	if err != nil || !strings.HasPrefix(u.Path, "/fhir/") {
		return access.SignedRead{}, cc.Errorf("client.read", cc.Invalid, "%q is not a /fhir/… path", path)
	}
	req := access.ReadRequest{ChainID: chainID, Requester: s.DID, Patient: o.Patient, Purpose: o.Purpose, Org: o.Org,
		Issued: time.Now().UTC(), Nonce: nonce()}
	seg := strings.Split(strings.TrimPrefix(u.Path, "/fhir/"), "/")
	switch {
	case len(seg) == 3 && seg[0] == "Patient" && seg[2] == "$everything":
		req.Action, req.Query = access.ActionExport, access.SearchQuery("", u.Query())
	case len(seg) == 1:
		req.Action, req.Query = access.ActionSearch, access.SearchQuery(seg[0], u.Query())
	case len(seg) >= 2:
		req.Action, req.Records = access.ActionRead, []string{seg[0] + "/" + seg[1]}
	default:
		return access.SignedRead{}, cc.Errorf("client.read", cc.Invalid, "%q is not a FHIR read or search", path)
	}
	return access.SignRead(req, s.Key)
}

// SendFHIRRead sends a read signed by SignFHIRRead for path.
func (c *Client) SendFHIRRead(ctx context.Context, sr access.SignedRead, path string) (*FHIRResponse, error) {
	return c.fhir(ctx, http.MethodGet, path, access.HeaderRead, sr, nil)
}

// fhir sends a signed FHIR request; an OperationOutcome error answer
// becomes a *cc.Error with the kind of its HTTP status.
func (c *Client) fhir(ctx context.Context, method, path, header string, sr access.SignedRead, body []byte) (*FHIRResponse, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return nil, cc.E("client", cc.Invalid, err)
	}
	req.Header.Set(header, sr.Header())
	req.Header.Set("Accept", "application/fhir+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
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
		return nil, OutcomeError(method+" "+path, resp.StatusCode, b)
	}
	out := &FHIRResponse{Body: b, Status: resp.StatusCode, Header: resp.Header,
		AccessEvent: resp.Header.Get("Carechain-Access-Event"), Basis: resp.Header.Get("Carechain-Access-Basis")}
	if h := resp.Header.Get("Carechain-Height"); h != "" {
		json.Unmarshal([]byte(h), &out.Height)
	}
	return out, nil
}

// OutcomeError turns an error answer (an OperationOutcome) of op with
// HTTP status into a *cc.Error: the kind from the status, the message
// from the issues.
func OutcomeError(op string, status int, body []byte) error {
	kinds := map[int]cc.Kind{400: cc.Invalid, 401: cc.BadSignature, 403: cc.Unauthorized, 404: cc.NotFound,
		409: cc.Conflict, 410: cc.Gone, 413: cc.TooLarge, 422: cc.FailedPrecondition, 503: cc.Unavailable}
	k, ok := kinds[status]
	if !ok {
		k = cc.Internal
	}
	var oo struct {
		Issue []struct {
			Diagnostics string   `json:"diagnostics"`
			Expression  []string `json:"expression"`
		} `json:"issue"`
	}
	var msgs []string
	if json.Unmarshal(body, &oo) == nil {
		for _, is := range oo.Issue {
			m := is.Diagnostics
			if len(is.Expression) > 0 {
				m = strings.Join(is.Expression, ", ") + ": " + m
			}
			if m != "" {
				msgs = append(msgs, m)
			}
		}
	}
	msg := strings.Join(msgs, "; ")
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &cc.Error{Op: op, Kind: k, Msg: msg}
}

// Claim claims the custodial DID did with the one-time code, moving it to
// newKey (the person's own key, which signs the proof). The node relays it
// to the ledger, which checks the code.
func (c *Client) Claim(ctx context.Context, did cc.DID, code string, newKey ed25519.PrivateKey) error {
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return err
	}
	pub, proof := identity.SignClaimProof(newKey, chainID, did)
	body, _ := json.Marshal(map[string]string{"did": string(did), "code": code, "public_key": pub, "proof": proof})
	return c.do(ctx, http.MethodPost, "/v1/claims", body, nil)
}

// KickOffSystemExport starts a FHIR Bulk Data system-level export (GET
// /fhir/$export with Prefer: respond-async) of the records of patients
// that s may see, with one signed export request per patient (for
// o.Purpose and o.Org; o.Patient is not used); query may give _type,
// _since and _count. It returns the status URL to poll.
func (c *Client) KickOffSystemExport(ctx context.Context, s *Signer, o ReadOptions, patients []cc.DID, query url.Values) (string, error) {
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return "", err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+"/fhir/$export", nil)
	if err != nil {
		return "", cc.E("client", cc.Invalid, err)
	}
	if len(query) > 0 {
		hreq.URL.RawQuery = query.Encode()
	}
	for _, p := range patients {
		req := access.ReadRequest{ChainID: chainID, Requester: s.DID, Patient: p, Purpose: o.Purpose, Org: o.Org,
			Issued: time.Now().UTC(), Nonce: nonce(), Action: access.ActionExport, Query: access.SearchQuery("", query)}
		sr, err := access.SignRead(req, s.Key)
		if err != nil {
			return "", err
		}
		hreq.Header.Add(access.HeaderRead, sr.Header())
	}
	hreq.Header.Set("Prefer", "respond-async")
	hreq.Header.Set("Accept", "application/fhir+json")
	resp, err := c.HTTP.Do(hreq)
	if err != nil {
		return "", c.sendError(hreq, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return "", OutcomeError("GET /fhir/$export", resp.StatusCode, b)
	}
	return resp.Header.Get("Content-Location"), nil
}

// KickOffExport starts a FHIR Bulk Data export of one patient's records
// (GET /fhir/Patient/{id}/$export with Prefer: respond-async), signed by s
// as an export for o.Patient with o.Purpose; query may give _type, _count
// and _offset. It returns the status URL to poll (ExportStatus).
func (c *Client) KickOffExport(ctx context.Context, s *Signer, o ReadOptions, patientRef string, query url.Values) (string, error) {
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return "", err
	}
	req := access.ReadRequest{ChainID: chainID, Requester: s.DID, Patient: o.Patient, Purpose: o.Purpose, Org: o.Org,
		Issued: time.Now().UTC(), Nonce: nonce(), Action: access.ActionExport, Query: access.SearchQuery("", query)}
	sr, err := access.SignRead(req, s.Key)
	if err != nil {
		return "", err
	}
	path := "/fhir/Patient/" + url.PathEscape(strings.TrimPrefix(patientRef, "Patient/")) + "/$export"
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	hdr := http.Header{access.HeaderRead: []string{sr.Header()}, "Prefer": []string{"respond-async"}, "Accept": []string{"application/fhir+json"}}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return "", cc.E("client", cc.Invalid, err)
	}
	for k, v := range hdr {
		hreq.Header[k] = v
	}
	resp, err := c.HTTP.Do(hreq)
	if err != nil {
		return "", c.sendError(hreq, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return "", OutcomeError("GET "+path, resp.StatusCode, b)
	}
	return resp.Header.Get("Content-Location"), nil
}

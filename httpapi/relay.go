package httpapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/identity"
	"carechain/records"
)

// HeaderRelay carries, on a read one node forwards to the custodian's
// node, the forwarding node's signed write request over the requester's
// signed read header (gatekeeper.SignRelay).
const HeaderRelay = "Carechain-Relay"

// SetPeers tells the server where other custodians' nodes are: an
// organization id → the base URL of the node that holds its records. A
// read of a record held by a peer's organization is forwarded there,
// with the requester's signed read unchanged (the custodian decides and
// logs it) and this node's relay signature; the answer is passed back.
func (s *Server) SetPeers(peers map[string]string) {
	s.gkMu.Lock()
	defer s.gkMu.Unlock()
	s.peers = map[string]string{}
	for org, u := range peers {
		s.peers[org] = strings.TrimRight(u, "/")
	}
}

// peer returns the base URL of org's node, if known.
func (s *Server) peer(org string) (string, bool) {
	s.gkMu.RLock()
	defer s.gkMu.RUnlock()
	u, ok := s.peers[org]
	return u, ok
}

// relaySigner returns the relay signing function of a local gatekeeper
// (its node key signs relays), or nil when this node holds no records.
func (s *Server) relaySigner() func(chainID string, b []byte, t time.Time) (access.SignedRead, error) {
	s.gkMu.RLock()
	defer s.gkMu.RUnlock()
	for _, g := range s.gks {
		return g.SignRelay
	}
	return nil
}

// tryRelay forwards r to the node of the organization holding record id,
// when that is a peer and r was not itself relayed. It reports whether it
// answered.
func (s *Server) tryRelay(w http.ResponseWriter, r *http.Request, recordID string) bool {
	if r.Header.Get(HeaderRelay) != "" {
		return false // one hop only
	}
	state := s.chain.State()
	a, err := records.GetAnchor(state, recordID)
	if err != nil {
		return false
	}
	base, ok := s.peer(a.Org)
	sign := s.relaySigner()
	if !ok || sign == nil {
		return false
	}
	st, err := s.chain.Status(r.Context())
	if err != nil {
		writeOutcome(w, s.log, err)
		return true
	}
	read := r.Header.Get(access.HeaderRead)
	rs, err := sign(st.ChainID, []byte(read), time.Now().UTC())
	if err != nil {
		writeOutcome(w, s.log, err)
		return true
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, base+r.URL.RequestURI(), nil)
	if err != nil {
		writeOutcome(w, s.log, cc.E("relay", cc.Internal, err))
		return true
	}
	req.Header.Set(access.HeaderRead, read)
	req.Header.Set(HeaderRelay, rs.Header())
	resp, err := s.relayClient().Do(req)
	if err != nil {
		writeOutcome(w, s.log, cc.Errorf("relay", cc.Unavailable, "the custodian's node for %s did not answer", a.Org))
		return true
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxFHIRBytes))
	if err != nil {
		writeOutcome(w, s.log, cc.Errorf("relay", cc.Unavailable, "the custodian's node for %s broke off its answer", a.Org))
		return true
	}
	for k, vs := range resp.Header {
		if strings.HasPrefix(k, "Carechain-") || k == "Etag" || k == "Last-Modified" || k == "Content-Type" {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
	}
	w.Header().Set("Carechain-Custodian", a.Org)
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, bytes.NewReader(body))
	return true
}

func (s *Server) relayClient() *http.Client {
	return &http.Client{Timeout: 60 * time.Second}
}

// checkRelay verifies a relay signature when a request carries one: the
// relaying node must sign the read header it forwards with a key that has
// the node role in an organization (cc.Unauthorized otherwise). Requests
// without one are direct and fine.
func (s *Server) checkRelay(r *http.Request) error {
	v := r.Header.Get(HeaderRelay)
	if v == "" {
		return nil
	}
	sw, err := access.ParseHeader(v)
	if err != nil {
		return err
	}
	state := s.chain.State()
	wr, _, err := access.VerifyWrite(state, sw, []byte(r.Header.Get(access.HeaderRead)))
	if err != nil {
		return cc.Errorf("relay", cc.Unauthorized, "relay signature: %v", err)
	}
	ok, err := identity.HasRole(state, wr.Org, wr.Author, cc.RoleNode)
	if err != nil {
		return err
	}
	if !ok {
		return cc.Errorf("relay", cc.Unauthorized, "%s is not a node of %s", wr.Author, wr.Org)
	}
	s.log.Info("relayed read", "node", wr.Author, "org", wr.Org, "path", r.URL.Path)
	return nil
}

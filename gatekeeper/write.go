package gatekeeper

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/fhir"
	"carechain/identity"
)

// writeRoles are the roles whose members may submit records for their
// organization through its gatekeeper.
var writeRoles = []cc.Role{cc.RolePhysician, cc.RoleNurse, cc.RoleEmergency, cc.RolePharmacist, cc.RoleAdmin}

// Ingest is the gatekeeper's door for POST /fhir (a Bundle) and POST
// /fhir/{type} (one resource, resourceType given): the body must come with
// the author's signed write request (access.SignWrite) for this chain and
// this custodian organization, issued within access.ReadWindow of now and
// not seen before (cc.Invalid, cc.SequenceReplay); the author must be a
// member of the organization with a clinical or admin role
// (cc.Unauthorized). A single resource is stored as a one-entry
// transaction. See IngestBundle for the rest.
func (g *Gatekeeper) Ingest(ctx context.Context, body []byte, sw access.SignedRead, resourceType string) (*IngestResult, error) {
	w, err := g.verifyWrite(ctx, "ingest", body, sw, writeRoles, "submit records")
	if err != nil {
		return nil, err
	}
	if resourceType != "" {
		// Validate the resource on its own first, so problems are located
		// in it ("Observation.status"), not in the wrapping bundle.
		if _, err := fhir.Parse(body); err != nil {
			return nil, err
		}
		if body, err = singleEntryBundle(resourceType, body); err != nil {
			return nil, err
		}
	}
	who := Submitter{Author: w.Author, AuthorOrg: w.Org, Patient: w.Patient}
	// Validate and resolve first, so an invalid bundle creates no
	// custodial DID.
	entries, err := g.prepare(body)
	if err != nil {
		return nil, err
	}
	var code string
	if w.Custodial {
		if who.Patient, code, err = g.createCustodial(ctx); err != nil {
			return nil, err
		}
	}
	res, err := g.store(ctx, entries, who)
	if err != nil {
		return nil, err
	}
	if w.Custodial {
		res.Patient, res.ClaimCode = who.Patient, code
	}
	return res, nil
}

// verifyWrite checks a signed write request for body: a valid signature by
// a known author (access.VerifyWrite), this chain, this gatekeeper's
// organization, issued within access.ReadWindow of now, an author with
// one of roles in the organization (cc.Unauthorized, saying the author may
// not do what), and not seen before (cc.SequenceReplay).
func (g *Gatekeeper) verifyWrite(ctx context.Context, op string, body []byte, sw access.SignedRead, roles []cc.Role, what string) (*access.WriteRequest, error) {
	state := g.cfg.Chain.State()
	w, hash, err := access.VerifyWrite(state, sw, body)
	if err != nil {
		return nil, err
	}
	st, err := g.cfg.Chain.Status(ctx)
	if err != nil {
		return nil, err
	}
	if w.ChainID != st.ChainID {
		return nil, cc.Errorf(op, cc.WrongChain, "the request is for chain %q, this is %q", w.ChainID, st.ChainID)
	}
	if w.Org != g.cfg.Org {
		return nil, cc.Errorf(op, cc.Invalid, "the request is for %q; this gatekeeper serves %q", w.Org, g.cfg.Org)
	}
	now := time.Now()
	if skew := now.Sub(w.Issued); skew > access.ReadWindow || skew < -access.ReadWindow {
		return nil, cc.Errorf(op, cc.Invalid, "the request was issued at %s, more than %s from now", w.Issued.UTC().Format(time.RFC3339), access.ReadWindow)
	}
	allowed := false
	for _, r := range roles {
		if ok, err := identity.HasRole(state, w.Org, w.Author, r); err != nil {
			return nil, err
		} else if ok {
			allowed = true
			break
		}
	}
	if !allowed {
		return nil, cc.Errorf(op, cc.Unauthorized, "%s may not %s for %q", w.Author, what, w.Org)
	}
	if !g.nonces().first(string(hash), now) {
		return nil, cc.Errorf(op, cc.SequenceReplay, "this signed request was used before")
	}
	return w, nil
}

// singleEntryBundle wraps one resource of typ in a transaction bundle that
// creates it.
func singleEntryBundle(typ string, body []byte) ([]byte, error) {
	var probe struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, cc.Errorf("ingest", cc.Malformed, "the body is not a JSON resource")
	}
	if probe.ResourceType != typ {
		return nil, cc.Errorf("ingest", cc.Invalid, "the body is a %q; POST /fhir/%s takes a %s", cc.Echo(probe.ResourceType), typ, typ)
	}
	return json.Marshal(map[string]any{
		"resourceType": "Bundle", "type": "transaction",
		"entry": []any{map[string]any{
			"resource": json.RawMessage(body),
			"request":  map[string]string{"method": "POST", "url": typ},
		}},
	})
}

// nonceCache remembers the hashes of signed write requests for twice the
// freshness window, so a captured request cannot be replayed.
type nonceCache struct {
	mu   sync.Mutex
	seen map[string]time.Time
	next time.Time // next sweep
}

func (g *Gatekeeper) nonces() *nonceCache {
	g.nonceOnce.Do(func() { g.nonce = &nonceCache{seen: map[string]time.Time{}} })
	return g.nonce
}

// first records key and reports whether it was not seen within the window.
func (c *nonceCache) first(key string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.After(c.next) {
		for k, t := range c.seen {
			if now.Sub(t) > 2*access.ReadWindow {
				delete(c.seen, k)
			}
		}
		c.next = now.Add(access.ReadWindow)
	}
	if _, dup := c.seen[key]; dup {
		return false
	}
	c.seen[key] = now
	return true
}

package gatekeeper

import (
	"context"
	"sync"

	cc "carechain"
	"carechain/access"
	"carechain/consent"
	"carechain/identity"
)

// decision decides a requester's access to one patient's records with the
// committed state: the facts are loaded once. A decision is used by one
// goroutine (allow sets the record it decides).
type decision struct {
	req   cc.AccessRequest
	facts consent.Facts
}

func (d *decision) allow(a *cc.RecordAnchor) bool {
	d.req.Record = *a
	return consent.Can(d.req, d.facts).Allow
}

// decider returns the decision for req's requester, organization, patient,
// action and purpose on the committed state at the latest block time. A
// gatekeeper told of commits (Committed) keeps the decisions it loaded
// until the next commit (decisionCache): the committed state they come
// from does not change in between. This is the gatekeeper's pre-check
// only: the ledger decides every logged read again in its block.
func (g *Gatekeeper) decider(ctx context.Context, req *access.ReadRequest) (*decision, error) {
	key := decisionKey{requester: req.Requester, org: req.Org, patient: req.Patient, action: req.Action, purpose: req.Purpose}
	gen, ok := g.decisions.generation()
	if ok {
		if d, hit := g.decisions.get(key, gen); hit {
			return d, nil
		}
	}
	state := g.cfg.Chain.State()
	st, err := g.status(ctx)
	if err != nil {
		return nil, err
	}
	orgs, err := identity.MembershipsOf(state, req.Requester)
	if err != nil {
		return nil, err
	}
	if req.Org != "" {
		orgs = onlyOrg(orgs, req.Org)
	}
	ar := cc.AccessRequest{Requester: req.Requester, Orgs: orgs, Action: req.Action, Purpose: req.Purpose,
		Record: cc.RecordAnchor{Patient: req.Patient}, Time: st.LatestBlockTime}
	facts, err := consent.Load(state, ar)
	if err != nil {
		return nil, err
	}
	d := &decision{req: ar, facts: facts}
	if ok {
		g.decisions.put(key, gen, d)
	}
	return d, nil
}

// maxDecisions bounds the decisions kept for one block.
const maxDecisions = 20_000

// decisionKey is what a decision depends on besides the committed state
// and the block time.
type decisionKey struct {
	requester, patient cc.DID
	org                string
	action, purpose    string
}

// decisionCache keeps the decisions loaded since the latest commit the
// gatekeeper was told of. Each commit notice starts a new generation and
// drops the decisions; a decision loaded while a commit was noticed (from
// the state before or after it) is not kept.
type decisionCache struct {
	mu        sync.Mutex
	following bool   // Committed was called
	gen       uint64 // commits noticed
	m         map[decisionKey]*decision
}

// committed starts a new generation.
func (c *decisionCache) committed() {
	c.mu.Lock()
	c.following = true
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}

// generation returns the current generation, and false when the
// gatekeeper is not told of commits (nothing is cached then).
func (c *decisionCache) generation() (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.following
}

// get returns a copy of the decision kept for k in generation gen.
func (c *decisionCache) get(k decisionKey, gen uint64) (*decision, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.m[k]
	if !ok || c.gen != gen {
		return nil, false
	}
	cp := *d
	return &cp, true
}

// put keeps a copy of d for k if gen is still the current generation.
func (c *decisionCache) put(k decisionKey, gen uint64, d *decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || len(c.m) >= maxDecisions {
		return
	}
	if c.m == nil {
		c.m = map[decisionKey]*decision{}
	}
	cp := *d
	c.m[k] = &cp
}

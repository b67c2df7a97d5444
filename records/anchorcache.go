package records

import (
	"encoding/json"
	"slices"
	"sync"

	cc "carechain"
)

// A read meets a record's anchor four times: the HTTP API (custodianOf),
// the gatekeeper's pre-check, and the access.log transaction's CheckTx and
// FinalizeBlock. decodedAnchors remembers what json.Unmarshal made of an
// anchor's stored bytes, keyed by the bytes themselves, so that each
// meeting after the first reads the state as before but does not decode
// again. A decoded anchor is a pure function of its bytes: a hit returns
// exactly what decoding would, a miss decodes, and the result never
// depends on which entries a node holds (GetAnchor stays deterministic).

// maxAnchorCacheBytes bounds one generation of decodedAnchors by the size
// of the stored bytes it holds (two generations are kept).
const maxAnchorCacheBytes = 4 << 20

// anchorCache maps an anchor's stored bytes to its decoded value, in two
// generations: when the current one is full it becomes the previous one
// and the older one is dropped; a hit in the previous generation moves
// the entry to the current one.
type anchorCache struct {
	mu        sync.Mutex
	max, cost int
	cur, prev map[string]*cc.RecordAnchor
}

var decodedAnchors = &anchorCache{max: maxAnchorCacheBytes, cur: map[string]*cc.RecordAnchor{}, prev: map[string]*cc.RecordAnchor{}}

// decode returns a fresh copy of the anchor stored as b (the caller may
// modify it), decoding b unless the same bytes were decoded before.
func (c *anchorCache) decode(b []byte) (*cc.RecordAnchor, error) {
	c.mu.Lock()
	a, ok := c.cur[string(b)]
	if !ok {
		if a, ok = c.prev[string(b)]; ok {
			delete(c.prev, string(b))
			c.add(string(b), a)
		}
	}
	c.mu.Unlock()
	if !ok {
		a = new(cc.RecordAnchor)
		if err := json.Unmarshal(b, a); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.add(string(b), a)
		c.mu.Unlock()
	}
	out := *a
	out.Categories = slices.Clone(a.Categories)
	out.PrevHash = slices.Clone(a.PrevHash)
	out.ContentHash = slices.Clone(a.ContentHash)
	return &out, nil
}

// add puts a under key (c.mu held), rotating the generations first if
// the current one is full.
func (c *anchorCache) add(key string, a *cc.RecordAnchor) {
	if _, ok := c.cur[key]; ok {
		return
	}
	if c.cost+len(key) > c.max && len(c.cur) > 0 {
		c.prev, c.cur, c.cost = c.cur, map[string]*cc.RecordAnchor{}, 0
	}
	c.cur[key] = a
	c.cost += len(key)
}

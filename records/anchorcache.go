package records

import (
	"slices"

	cc "carechain"
	"carechain/internal/decoded"
)

// decodedAnchors remembers decoded anchors by their stored bytes (see
// package decoded): a read meets the same anchor four times — the HTTP
// API (custodianOf), the gatekeeper's pre-check, and the access.log
// transaction's CheckTx and FinalizeBlock — and GetAnchor reads it from
// the state each time but decodes it once.
var decodedAnchors = decoded.New(4<<20, cloneAnchor)

// cloneAnchor returns a copy of a that shares no slice with it.
func cloneAnchor(a *cc.RecordAnchor) *cc.RecordAnchor {
	c := *a
	c.Categories = slices.Clone(a.Categories)
	c.PrevHash = slices.Clone(a.PrevHash)
	c.ContentHash = slices.Clone(a.ContentHash)
	return &c
}

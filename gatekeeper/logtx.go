package gatekeeper

import (
	"strconv"

	"carechain/access"
	"carechain/internal/signature"
	"carechain/ledger/tx"
)

// The access.log transaction is the gatekeeper's most frequent one: one per
// batch of reads, every few milliseconds under load. tx.Build would
// marshal its payload and body with encoding/json and then canonicalize
// the whole body (RFC 8785) — parsing again the signed read requests it
// carries, which are canonical already. canonicalLogBody writes the same
// canonical bytes directly.

// maxExactInt is the largest integer RFC 8785 writes as plain decimal
// digits (an IEEE 754 double holds every integer up to 2^53 exactly).
const maxExactInt = 1 << 53

// canonicalLogBody returns the RFC 8785 canonical body of the access.log
// transaction of items for chainID at sequence seq — byte for byte what
// tx.Build makes of payload {"events": items} — and true; false when it
// cannot vouch for that (a request that is not a well-formed canonical
// read request, a string needing escapes, a sequence past 2^53), in which
// case the caller builds with tx.Build.
func canonicalLogBody(chainID string, seq uint64, items []logItem) ([]byte, bool) {
	if seq > maxExactInt || !tx.Plain(chainID) {
		return nil, false
	}
	n := 96 + len(chainID)
	for _, it := range items {
		if !tx.Plain(it.Read.Sig) || !access.WellFormedRequest(it.Read.Request) {
			return nil, false
		}
		n += 48 + len(it.Read.Request) + len(it.Read.Sig)
		for _, id := range it.Records {
			if !tx.Plain(id) {
				return nil, false
			}
			n += len(id) + 3
		}
	}
	// Members in RFC 8785 order (their names are ASCII, so UTF-16 order is
	// byte order): chain_id < payload < sequence < type; read < records;
	// request < sig.
	b := make([]byte, 0, n)
	b = append(b, `{"chain_id":"`...)
	b = append(b, chainID...)
	b = append(b, `","payload":{"events":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"read":{"request":`...)
		b = append(b, it.Read.Request...)
		b = append(b, `,"sig":"`...)
		b = append(b, it.Read.Sig...)
		b = append(b, `"},"records":[`...)
		for j, id := range it.Records {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, id...)
			b = append(b, '"')
		}
		b = append(b, "]}"...)
	}
	b = append(b, `]},"sequence":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"type":"`...)
	b = append(b, access.TypeLog...)
	return append(b, `"}`...), true
}

// buildLog returns the builder (for signWith) of the access.log
// transaction of items: canonicalLogBody signed and encoded, or tx.Build
// when canonicalLogBody declines.
func (g *Gatekeeper) buildLog(items []logItem) func(chainID string, seq uint64) ([]byte, error) {
	return func(chainID string, seq uint64) ([]byte, error) {
		body, ok := canonicalLogBody(chainID, seq, items)
		if !ok {
			return tx.Build(chainID, g.cfg.NodeDID, g.cfg.NodeKey, seq, access.TypeLog, map[string]any{"events": items})
		}
		return tx.Encode(body, g.cfg.NodeDID, signature.Sign(g.cfg.NodeKey, tx.SignBytes(g.cfg.NodeDID, body)))
	}
}

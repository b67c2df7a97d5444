package ledger

import (
	"strconv"

	cc "carechain"
)

// seqKey is the state key of a signer's next sequence.
func seqKey(d cc.DID) string { return "seq/" + string(d) }

// Sequence returns the next sequence number signer must use (0 for a signer
// that has never committed a transaction).
func Sequence(kv cc.Reader, signer cc.DID) (uint64, error) {
	b, err := kv.Get(seqKey(signer))
	if err != nil {
		return 0, cc.E("ledger.sequence", cc.Internal, err)
	}
	if b == nil {
		return 0, nil
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, cc.E("ledger.sequence", cc.Internal, err)
	}
	return n, nil
}

func setSequence(kv cc.KV, signer cc.DID, next uint64) {
	kv.Set(seqKey(signer), strconv.AppendUint(nil, next, 10))
}

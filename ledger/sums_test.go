package ledger

import (
	"testing"

	"carechain/ledger/tx"
)

// TestPrepareSums: admissions whose commitment hashes PrepareSums computed
// after CheckTx, and admissions whose hashes it did not, give a block the
// same results and AppHash as an App that executes everything; hashes of
// transactions never admitted, malformed hashes and hashes after the
// admissions' Commit are ignored.
func TestPrepareSums(t *testing.T) {
	keys := newTestKeys(3)
	a, b, c := keys.dids[0], keys.dids[1], keys.dids[2]
	warm, cold := MustApp(t, keys), coldApp(t, keys)
	for h, seq := 2, uint64(0); h <= 3; h, seq = h+1, seq+1 {
		s1, s2, s3 := MustTx(t, keys, a, seq, "kv.set", "k", "1"), MustTx(t, keys, b, seq, "kv.set", "j", "2"), MustTx(t, keys, c, seq, "kv.copy", "k", "c")
		for _, raw := range [][]byte{s1, s2, s3} {
			if r := checkTx(t, warm, raw); r.Code != 0 {
				t.Fatalf("CheckTx: %d %s", r.Code, r.Log)
			}
		}
		warm.PrepareSums(tx.Hash(s1), tx.Hash(s3), tx.Hash([]byte("never admitted")), []byte("short"))
		ready := func(raw []byte) bool {
			var key [32]byte
			copy(key[:], tx.Hash(raw))
			return warm.mp.byHash[key].sums.Load() != nil
		}
		if !ready(s1) || ready(s2) || !ready(s3) {
			t.Fatalf("height %d: sums ready for s1, s2, s3: %v %v %v; want true false true", h, ready(s1), ready(s2), ready(s3))
		}
		before := warm.stats.Reused.Load()
		sameResults(t, h, deliver(t, warm, s1, s2, s3), deliver(t, cold, s1, s2, s3))
		if got := warm.stats.Reused.Load() - before; got != 3 {
			t.Fatalf("height %d: %d admissions reused, want 3", h, got)
		}
		warm.PrepareSums(tx.Hash(s2)) // committed: nothing left to prepare
		if n := len(warm.sums.m); n != 0 {
			t.Fatalf("%d admissions left to sum after Commit", n)
		}
	}
}

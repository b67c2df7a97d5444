package vault

import (
	"bytes"
	"crypto/hmac"
	"maps"

	"github.com/cockroachdb/pebble/v2"

	cc "carechain"
)

// rotateBatch is how many wrapped keys RotateKEK rewrites per synced batch.
const rotateBatch = 512

// RotateKEK re-wraps every data key and salt under newKEK, in synced
// batches of rotateBatch keys, and makes newKEK the KEK that wraps new keys
// from the start. progress (may be nil) is called with the number of keys
// re-wrapped so far and the number that needed it when the rotation began,
// first with done = 0 and last with done = total.
//
// It is crash-safe: each key is replaced atomically and records the id of
// its KEK, so after a crash every key is readable by the old or the new
// KEK (Open with both), and calling RotateKEK again finishes the job. A
// key wrapped by a KEK that is not loaded stops the rotation with an
// Integrity error naming that KEK id; keys re-wrapped so far stay so.
func (v *Vault) RotateKEK(newKEK *KEK, progress func(done, total int)) error {
	const op = "vault.RotateKEK"
	if newKEK == nil {
		return cc.Errorf(op, cc.Invalid, "no KEK")
	}
	if err := checkKEKID(op, newKEK.ID); err != nil {
		return err
	}
	if progress == nil {
		progress = func(int, int) {}
	}
	if err := v.enter(op); err != nil {
		return err
	}
	defer v.exit()
	if err := v.usePrimary(op, newKEK); err != nil {
		return err
	}

	usage, err := v.KEKUsage()
	if err != nil {
		return err
	}
	total := 0
	for id, n := range usage {
		if id != newKEK.ID {
			total += n
		}
	}
	progress(0, total)
	done := 0
	for _, p := range []string{saltPrefix, dekPrefix} {
		lo, hi := prefixRange(p)
		for {
			keys, next, err := v.pendingKeys(lo, hi, newKEK.ID, rotateBatch)
			if err != nil {
				return cc.E(op, cc.Internal, err)
			}
			if len(keys) > 0 {
				n, err := v.rewrap(op, p, keys, newKEK)
				if err != nil {
					return err
				}
				done = min(done+n, total)
				progress(done, total)
			}
			if next == nil {
				break
			}
			lo = next
		}
	}
	if done < total {
		progress(total, total) // the rest was shredded or deleted meanwhile
	}
	return nil
}

// usePrimary makes k the KEK that wraps new keys, after checking it against
// the loaded KEKs and the stored key check of its id.
func (v *Vault) usePrimary(op string, k *KEK) error {
	v.wmu.Lock()
	defer v.wmu.Unlock()
	ring := v.ring.Load()
	if old, ok := ring.byID[k.ID]; ok && !old.equal(k) {
		return cc.Errorf(op, cc.Invalid, "a different KEK named %q is already loaded; give the new KEK a new id", k.ID)
	}
	stored, ok, err := v.get(v.db, []byte(kekCheckKey+k.ID))
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if ok && !hmac.Equal(stored, kekCheck(k)) {
		return cc.Errorf(op, cc.Integrity, "KEK %q is not the key this vault knows by that id; give the new KEK a new id", k.ID)
	}
	byID := maps.Clone(ring.byID)
	byID[k.ID] = k
	v.ring.Store(&keyring{primary: k, byID: byID})
	return nil
}

// pendingKeys returns up to limit keys in [lo, hi) whose wrapped value is
// not under the KEK newID, and the lower bound to continue from (nil when
// the range is exhausted).
func (v *Vault) pendingKeys(lo, hi []byte, newID string, limit int) (keys [][]byte, next []byte, err error) {
	it, err := v.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		val, err := it.ValueAndErr()
		if err != nil {
			return nil, nil, err
		}
		if id, ok := wrappedKEKID(val); ok && id == newID {
			continue
		}
		keys = append(keys, append([]byte(nil), it.Key()...))
		if len(keys) == limit {
			return keys, append(bytes.Clone(keys[len(keys)-1]), 0), it.Error()
		}
	}
	return keys, nil, it.Error()
}

// rewrap re-wraps the given salt or data keys (prefix says which) under
// newKEK in one synced batch, skipping keys deleted or already re-wrapped
// since they were listed. It returns how many it rewrote.
func (v *Vault) rewrap(op, prefix string, keys [][]byte, newKEK *KEK) (int, error) {
	v.wmu.Lock()
	defer v.wmu.Unlock()
	b := v.db.NewBatch()
	defer b.Close()
	n := 0
	for _, key := range keys {
		val, ok, err := v.get(v.db, key)
		if err != nil {
			return 0, cc.E(op, cc.Internal, err)
		}
		if !ok {
			continue
		}
		if id, ok := wrappedKEKID(val); ok && id == newKEK.ID {
			continue
		}
		var ad func(kekID string) []byte
		var what func() string
		switch prefix {
		case saltPrefix:
			id, ok := parseRecordKey(prefix, key)
			if !ok {
				return 0, cc.Errorf(op, cc.Integrity, "malformed salt key %q", key)
			}
			ad = func(kekID string) []byte { return saltAD(kekID, id) }
			what = func() string { return recordWhat("salt", id, 0) }
		default:
			id, ver, ok := parseVersionKey(prefix, key)
			if !ok {
				return 0, cc.Errorf(op, cc.Integrity, "malformed data key key %q", key)
			}
			ad = func(kekID string) []byte { return dekAD(kekID, id, ver) }
			what = func() string { return recordWhat("data key", id, ver) }
		}
		secret, err := v.unwrap(op, val, ad, what)
		if err != nil {
			return 0, err
		}
		w, err := newKEK.wrap(v.rand, secret, ad(newKEK.ID))
		clear(secret)
		if err != nil {
			return 0, cc.E(op, cc.Internal, err)
		}
		if err := b.Set(key, encodeWrapped(w), nil); err != nil {
			return 0, cc.E(op, cc.Internal, err)
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	if err := v.commit(b, newKEK); err != nil {
		return 0, cc.E(op, cc.Internal, err)
	}
	return n, nil
}

// KEKUsage counts the stored data keys and salts by the id of the KEK that
// wraps them ("" counts malformed values). An old KEK may be destroyed once
// it no longer appears here.
func (v *Vault) KEKUsage() (map[string]int, error) {
	const op = "vault.KEKUsage"
	if err := v.enter(op); err != nil {
		return nil, err
	}
	defer v.exit()
	usage := map[string]int{}
	for _, p := range []string{saltPrefix, dekPrefix} {
		lo, hi := prefixRange(p)
		it, err := v.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
		if err != nil {
			return nil, cc.E(op, cc.Internal, err)
		}
		for ok := it.First(); ok; ok = it.Next() {
			val, err := it.ValueAndErr()
			if err != nil {
				it.Close()
				return nil, cc.E(op, cc.Internal, err)
			}
			id, _ := wrappedKEKID(val)
			usage[id]++
		}
		if err := it.Close(); err != nil {
			return nil, cc.E(op, cc.Internal, err)
		}
	}
	return usage, nil
}

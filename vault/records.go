package vault

import (
	"bytes"
	"crypto/hmac"

	"github.com/cockroachdb/pebble/v2"

	cc "carechain"
)

// Records calls fn for every stored version, in (record id, version)
// order, until fn returns false. Recovery uses it to reconcile blobs with
// anchors after a crash. fn must not call Close.
func (v *Vault) Records(fn func(recordID string, version int) bool) error {
	const op = "vault.Records"
	if err := v.enter(op); err != nil {
		return err
	}
	defer v.exit()
	lo, hi := prefixRange(blobPrefix)
	it, err := v.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		id, ver, ok := parseVersionKey(blobPrefix, it.Key())
		if !ok {
			continue // Verify reports it
		}
		if !fn(id, ver) {
			break
		}
	}
	if err := it.Close(); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	return nil
}

// Delete removes one version's blob and data key, and the record's salt
// when no other version remains. It is for recovery: removing a blob whose
// anchor never reached the ledger. Deleting an absent version does nothing.
func (v *Vault) Delete(recordID string, version int) error {
	const op = "vault.Delete"
	if err := checkRecord(op, recordID, version); err != nil {
		return err
	}
	if err := v.enter(op); err != nil {
		return err
	}
	defer v.exit()
	v.wmu.Lock()
	defer v.wmu.Unlock()
	blobKey := versionKey(blobPrefix, recordID, version)
	dekKey := versionKey(dekPrefix, recordID, version)
	hasBlob, err := v.has(v.db, blobKey)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	hasDEK, err := v.has(v.db, dekKey)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if !hasBlob && !hasDEK {
		return nil
	}
	b := v.db.NewBatch()
	defer b.Close()
	if err := b.Delete(blobKey, nil); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if err := b.Delete(dekKey, nil); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	others, err := v.otherVersions(recordID, blobKey)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if !others {
		if err := b.Delete(recordKey(saltPrefix, recordID), nil); err != nil {
			return cc.E(op, cc.Internal, err)
		}
	}
	if err := v.commit(b, nil); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	return nil
}

// otherVersions reports whether the record has a blob other than the one
// at key.
func (v *Vault) otherVersions(id string, key []byte) (bool, error) {
	lo, hi := recordRange(blobPrefix, id)
	it, err := v.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return false, err
	}
	found := false
	for ok := it.First(); ok && !found; ok = it.Next() {
		found = !bytes.Equal(it.Key(), key)
	}
	return found, it.Close()
}

// Prune deletes every stored version that anchored reports has no anchor,
// and returns how many it deleted. Run it at startup, before ingest
// resumes: a version written by an ingest still in flight has no anchor yet.
func (v *Vault) Prune(anchored func(recordID string, version int) (bool, error)) (int, error) {
	var refs []ref
	if err := v.Records(func(id string, ver int) bool {
		refs = append(refs, ref{id, ver})
		return true
	}); err != nil {
		return 0, err
	}
	n := 0
	for _, r := range refs {
		ok, err := anchored(r.id, r.version)
		if err != nil {
			return n, err
		}
		if ok {
			continue
		}
		if err := v.Delete(r.id, r.version); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Verify decrypts every stored version and checks it against its anchored
// content hash, as `carechain verify` does. anchorHash returns the hash of
// a version's anchor (ok false if it has none); nil skips the anchor check
// (blobs are then only authenticated). report is called for every failure,
// in key order: Integrity for a blob, data key or salt that fails
// authentication, a version without its data key or blob, a mismatched
// hash or an erased record with data left; NotFound for a blob without an
// anchor; Integrity with recordID "" for a malformed key. Verify returns an
// error only when it cannot read the database.
//
// It reads one consistent snapshot in a single pass: blobs and data keys
// are walked side by side, and each record's salt is unwrapped once.
func (v *Vault) Verify(anchorHash func(recordID string, version int) ([]byte, bool), report func(recordID string, version int, err error)) error {
	const op = "vault.Verify"
	if err := v.enter(op); err != nil {
		return err
	}
	defer v.exit()
	snap := v.db.NewSnapshot()
	defer snap.Close()
	blobs, err := newPrefixIter(snap, blobPrefix)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	defer blobs.Close()
	deks, err := newPrefixIter(snap, dekPrefix)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	defer deks.Close()

	var (
		lastID  string
		lastErr error // the record's tombstone or salt failure, if any
		salt    []byte
	)
	defer func() { clear(salt) }()
	check := func(id string, ver int, blob, wrappedDEK []byte) error {
		if id != lastID {
			clear(salt)
			lastID, lastErr, salt = id, nil, nil
			if err := v.checkNotErased(op, snap, id); err != nil {
				lastErr = err
				if cc.KindOf(err) == cc.Gone {
					lastErr = cc.Errorf(op, cc.Integrity, "record %q was erased but versions of it are still stored", id)
				}
			} else {
				salt, lastErr = v.salt(op, snap, id, true)
			}
		}
		if lastErr != nil {
			return lastErr
		}
		plain, err := v.decrypt(op, id, ver, blob, wrappedDEK)
		if err != nil {
			return err
		}
		defer clear(plain)
		if anchorHash == nil {
			return nil
		}
		want, ok := anchorHash(id, ver)
		if !ok {
			return cc.Errorf(op, cc.NotFound, "record %q version %d is stored but has no anchor", id, ver)
		}
		if !hmac.Equal(contentHash(salt, plain), want) {
			return cc.Errorf(op, cc.Integrity, "record %q version %d does not match its anchored content hash", id, ver)
		}
		return nil
	}

	bok, kok := blobs.First(), deks.First()
	for bok || kok {
		var c int
		switch {
		case !kok:
			c = -1
		case !bok:
			c = 1
		default:
			c = bytes.Compare(blobs.Key()[len(blobPrefix):], deks.Key()[len(dekPrefix):])
		}
		var key []byte
		if c <= 0 {
			key = blobs.Key()
		} else {
			key = deks.Key()
		}
		prefix := string(key[:2])
		id, ver, ok := parseVersionKey(prefix, key)
		switch {
		case !ok:
			report("", 0, cc.Errorf(op, cc.Integrity, "malformed key %q", key))
		case c < 0:
			report(id, ver, cc.Errorf(op, cc.Integrity, "record %q version %d has a blob but no data key", id, ver))
		case c > 0:
			report(id, ver, cc.Errorf(op, cc.Integrity, "record %q version %d has a data key but no blob", id, ver))
		default:
			blob, err := blobs.ValueAndErr()
			if err != nil {
				return cc.E(op, cc.Internal, err)
			}
			wrappedDEK, err := deks.ValueAndErr()
			if err != nil {
				return cc.E(op, cc.Internal, err)
			}
			if err := check(id, ver, blob, wrappedDEK); err != nil {
				if cc.KindOf(err) == cc.Internal {
					return err
				}
				report(id, ver, err)
			}
		}
		if c <= 0 {
			bok = blobs.Next()
		}
		if c >= 0 {
			kok = deks.Next()
		}
	}
	if err := blobs.Error(); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if err := deks.Error(); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	return nil
}

// newPrefixIter returns an iterator over the keys with the prefix.
func newPrefixIter(snap *pebble.Snapshot, prefix string) (*pebble.Iterator, error) {
	lo, hi := prefixRange(prefix)
	return snap.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
}

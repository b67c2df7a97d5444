package vault

import (
	"crypto/hmac"
	"fmt"

	cc "carechain"
)

// Get returns the plaintext of one version, checked against wantHash, the
// content hash of its on-chain anchor. It fails with Gone if the record was
// shredded, NotFound if the version is not in the vault, and Integrity if
// the stored data fails authentication (a tampered blob, data key or salt,
// or a KEK with the right id and the wrong key) or the plaintext does not
// match wantHash.
func (v *Vault) Get(recordID string, version int, wantHash []byte) ([]byte, error) {
	const op = "vault.Get"
	if err := checkRecord(op, recordID, version); err != nil {
		return nil, err
	}
	if len(wantHash) == 0 {
		return nil, cc.Errorf(op, cc.Invalid, "no anchored content hash to check against")
	}
	if err := v.enter(op); err != nil {
		return nil, err
	}
	defer v.exit()
	// One consistent view of the four keys a read may need, read in one
	// pass (cheaper than a snapshot and a Get each, see prefetched).
	view, err := v.prefetch([][]byte{versionKey(blobPrefix, recordID, version), versionKey(dekPrefix, recordID, version),
		recordKey(saltPrefix, recordID), recordKey(tombPrefix, recordID)})
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	// Shred deletes every blob and data key of a record and writes its
	// tombstone in one batch, and Put (under the same write lock) writes
	// none after a tombstone: a view holding the version's blob holds no
	// tombstone, so only a missing version needs the tombstone's check.
	plain, err := v.open(op, view, recordID, version)
	if cc.Is(cc.NotFound, err) {
		if gone := v.checkNotErased(op, view, recordID); gone != nil {
			return nil, gone
		}
	}
	if err != nil {
		return nil, err
	}
	salt, err := v.salt(op, view, recordID, true)
	if err != nil {
		clear(plain)
		return nil, err
	}
	defer clear(salt)
	if !hmac.Equal(contentHash(salt, plain), wantHash) {
		clear(plain)
		return nil, cc.Errorf(op, cc.Integrity, "record %q version %d does not match its anchored content hash", recordID, version)
	}
	return plain, nil
}

// Has reports whether the vault holds a blob of the version. It is false
// for a shredded record (see Erased).
func (v *Vault) Has(recordID string, version int) (bool, error) {
	const op = "vault.Has"
	if err := checkRecord(op, recordID, version); err != nil {
		return false, err
	}
	if err := v.enter(op); err != nil {
		return false, err
	}
	defer v.exit()
	ok, err := v.has(v.db, versionKey(blobPrefix, recordID, version))
	if err != nil {
		return false, cc.E(op, cc.Internal, err)
	}
	return ok, nil
}

// Erased reports whether the record was shredded. Recovery uses it to tell
// an anchor whose blob was erased (resubmit the erasure event if it is not
// on the ledger yet) from one whose blob is missing.
func (v *Vault) Erased(recordID string) (bool, error) {
	const op = "vault.Erased"
	if err := checkID(op, recordID); err != nil {
		return false, err
	}
	if err := v.enter(op); err != nil {
		return false, err
	}
	defer v.exit()
	ok, err := v.has(v.db, recordKey(tombPrefix, recordID))
	if err != nil {
		return false, cc.E(op, cc.Internal, err)
	}
	return ok, nil
}

// ContentHash returns HMAC-SHA256 of plaintext under the record's salt: the
// content hash an anchor of this content would carry, for checking an
// amendment or a resubmission. It fails with NotFound for a record with no
// version in the vault and Gone for a shredded one.
func (v *Vault) ContentHash(recordID string, plaintext []byte) ([]byte, error) {
	const op = "vault.ContentHash"
	if err := checkID(op, recordID); err != nil {
		return nil, err
	}
	if err := v.enter(op); err != nil {
		return nil, err
	}
	defer v.exit()
	view, err := v.prefetch([][]byte{recordKey(saltPrefix, recordID), recordKey(tombPrefix, recordID)})
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	if err := v.checkNotErased(op, view, recordID); err != nil {
		return nil, err
	}
	salt, err := v.salt(op, view, recordID, false)
	if err != nil {
		return nil, err
	}
	defer clear(salt)
	return contentHash(salt, plaintext), nil
}

// checkNotErased fails with Gone if the record has a tombstone.
func (v *Vault) checkNotErased(op string, r reader, id string) error {
	erased, err := v.has(r, recordKey(tombPrefix, id))
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if erased {
		return cc.Errorf(op, cc.Gone, "record %q was erased", id)
	}
	return nil
}

// open reads and decrypts one version. The caller has checked the
// tombstone. A blob without its data key, or the reverse, is an Integrity
// error: they are only ever written and deleted together.
func (v *Vault) open(op string, r reader, id string, version int) ([]byte, error) {
	blob, okBlob, err := v.get(r, versionKey(blobPrefix, id, version))
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	wrappedDEK, okDEK, err := v.get(r, versionKey(dekPrefix, id, version))
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	switch {
	case !okBlob && !okDEK:
		return nil, cc.Errorf(op, cc.NotFound, "record %q version %d is not in the vault", id, version)
	case !okDEK:
		return nil, cc.Errorf(op, cc.Integrity, "record %q version %d has a blob but no data key", id, version)
	case !okBlob:
		return nil, cc.Errorf(op, cc.Integrity, "record %q version %d has a data key but no blob", id, version)
	}
	return v.decrypt(op, id, version, blob, wrappedDEK)
}

// decrypt unwraps a version's data key and opens its blob.
func (v *Vault) decrypt(op, id string, version int, blob, wrappedDEK []byte) ([]byte, error) {
	what := func() string { return recordWhat("data key", id, version) }
	dek, err := v.unwrap(op, wrappedDEK, func(kekID string) []byte { return dekAD(kekID, id, version) }, what)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	plain, err := openBlob(dek, blob, blobAD(id, version))
	if err != nil {
		return nil, cc.Errorf(op, cc.Integrity, "blob of record %q version %d fails authentication", id, version)
	}
	return plain, nil
}

// salt returns the record's unwrapped salt. A missing salt is NotFound, or
// Integrity when the caller holds a version that needs one (mustExist).
func (v *Vault) salt(op string, r reader, id string, mustExist bool) ([]byte, error) {
	val, ok, err := v.get(r, recordKey(saltPrefix, id))
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	if !ok {
		if mustExist {
			return nil, cc.Errorf(op, cc.Integrity, "record %q has versions but no salt", id)
		}
		return nil, cc.Errorf(op, cc.NotFound, "record %q is not in the vault", id)
	}
	what := func() string { return recordWhat("salt", id, 0) }
	return v.unwrap(op, val, func(kekID string) []byte { return saltAD(kekID, id) }, what)
}

// unwrap opens a wrapped value with the KEK named in it; ad builds the
// associated data for that KEK id and what names the value in errors.
func (v *Vault) unwrap(op string, val []byte, ad func(kekID string) []byte, what func() string) ([]byte, error) {
	w, ok := decodeWrapped(val)
	if !ok {
		return nil, cc.Errorf(op, cc.Integrity, "%s is malformed", what())
	}
	k := v.ring.Load().byID[w.KEKID]
	if k == nil {
		return nil, cc.Errorf(op, cc.Integrity, "%s is wrapped by KEK %q, which is not loaded (pass it to Open as an older KEK)", what(), w.KEKID)
	}
	secret, err := k.unwrap(w, ad(w.KEKID))
	if err != nil {
		return nil, cc.Errorf(op, cc.Integrity, "%s fails authentication under KEK %q (tampered, or the wrong key for that id)", what(), w.KEKID)
	}
	return secret, nil
}

// recordWhat names a stored secret in error messages: "data key of record
// "Observation/1" version 2" or "salt of record "Observation/1"".
func recordWhat(kind, id string, version int) string {
	if version == 0 {
		return fmt.Sprintf("%s of record %q", kind, id)
	}
	return fmt.Sprintf("%s of record %q version %d", kind, id, version)
}

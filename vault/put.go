package vault

import (
	"bytes"

	"github.com/cockroachdb/pebble/v2"

	cc "carechain"
)

// Item is one resource version for PutBatch.
type Item struct {
	RecordID  string
	Version   int
	Plaintext []byte
}

// ref names one version of one record.
type ref struct {
	id      string
	version int
}

// Put encrypts one resource version and stores it with one synced write:
// a fresh random 32-byte data key and 12-byte nonce, AES-256-GCM with the
// record id and version as associated data, the data key wrapped by the
// KEK. The record's first version creates its random 32-byte salt. Put
// returns the content hash for the anchor, HMAC-SHA256(salt, plaintext).
//
// Versions are immutable: putting a stored version again with the same
// plaintext returns its content hash and writes nothing (a retried ingest);
// with a different plaintext it fails with Conflict. Put on a shredded
// record fails with Gone.
func (v *Vault) Put(recordID string, version int, plaintext []byte) ([]byte, error) {
	hashes, err := v.putBatch("vault.Put", []Item{{RecordID: recordID, Version: version, Plaintext: plaintext}})
	if err != nil {
		return nil, err
	}
	return hashes[0], nil
}

// PutBatch stores many versions in one Pebble batch with one fsync, all or
// nothing, and returns their content hashes in item order. Each item is as
// in Put; an item repeated with the same plaintext is stored once.
func (v *Vault) PutBatch(items []Item) ([][]byte, error) {
	return v.putBatch("vault.PutBatch", items)
}

// putBatch validates, encrypts outside the write lock, then, holding it,
// resolves salts, checks tombstones and stored versions, wraps the data
// keys and commits.
func (v *Vault) putBatch(op string, items []Item) (hashes [][]byte, err error) {
	first := make(map[ref]int, len(items)) // index of each version's first item
	total := 0
	for i, it := range items {
		if err := checkRecord(op, it.RecordID, it.Version); err != nil {
			return nil, err
		}
		if len(it.Plaintext) > MaxPlaintext {
			return nil, cc.Errorf(op, cc.TooLarge, "record %q version %d: %d bytes is over the %d-byte limit", it.RecordID, it.Version, len(it.Plaintext), MaxPlaintext)
		}
		if total += len(it.Plaintext); total > MaxBatchBytes {
			return nil, cc.Errorf(op, cc.TooLarge, "batch is over the %d-byte limit", MaxBatchBytes)
		}
		r := ref{it.RecordID, it.Version}
		if j, dup := first[r]; dup {
			if !bytes.Equal(items[j].Plaintext, it.Plaintext) {
				return nil, cc.Errorf(op, cc.Conflict, "record %q version %d appears twice with different contents", it.RecordID, it.Version)
			}
			continue
		}
		first[r] = i
	}
	if err := v.enter(op); err != nil {
		return nil, err
	}
	defer v.exit()

	deks := make([][]byte, len(items))
	blobs := make([][]byte, len(items))
	defer func() {
		for _, d := range deks {
			clear(d)
		}
	}()
	for i, it := range items {
		if first[ref{it.RecordID, it.Version}] != i {
			continue
		}
		if deks[i], err = randomSecret(v.rand); err != nil {
			return nil, cc.E(op, cc.Internal, err)
		}
		if blobs[i], err = sealBlob(v.rand, deks[i], it.Plaintext, blobAD(it.RecordID, it.Version)); err != nil {
			return nil, cc.E(op, cc.Internal, err)
		}
	}

	v.wmu.Lock()
	defer v.wmu.Unlock()
	kek := v.ring.Load().primary
	b := v.db.NewBatchWithSize(batchSize(items))
	defer b.Close()
	salts := map[string][]byte{}
	created := map[string]bool{} // records whose salt this batch creates
	defer func() {
		for _, s := range salts {
			clear(s)
		}
	}()
	// Every key the loop below looks up, read in one pass.
	keys := make([][]byte, 0, 4*len(items))
	for i, it := range items {
		if first[ref{it.RecordID, it.Version}] != i {
			continue
		}
		keys = append(keys, recordKey(tombPrefix, it.RecordID), recordKey(saltPrefix, it.RecordID),
			versionKey(dekPrefix, it.RecordID, it.Version), versionKey(blobPrefix, it.RecordID, it.Version))
	}
	r, err := v.prefetch(keys)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	hashes = make([][]byte, len(items))
	wrote := false
	for i, it := range items {
		id, ver := it.RecordID, it.Version
		if j := first[ref{id, ver}]; j != i {
			hashes[i] = bytes.Clone(hashes[j])
			continue
		}
		salt, ok := salts[id]
		if !ok {
			if salt, created[id], err = v.saltForPut(op, r, b, kek, id); err != nil {
				return nil, err
			}
			salts[id] = salt
		}
		hashes[i] = contentHash(salt, it.Plaintext)
		// A version counts as stored if its data key or its blob is (both
		// were prefetched above); samePlaintext then reads it, and one
		// without the other is an Integrity error there.
		stored, err := v.has(r, versionKey(dekPrefix, id, ver))
		if err == nil && !stored {
			stored, err = v.has(r, versionKey(blobPrefix, id, ver))
		}
		if err != nil {
			return nil, cc.E(op, cc.Internal, err)
		}
		if stored {
			if created[id] {
				return nil, cc.Errorf(op, cc.Integrity, "record %q has versions but no salt", id)
			}
			if err := v.samePlaintext(op, id, ver, it.Plaintext); err != nil {
				return nil, err
			}
			continue
		}
		w, err := kek.wrap(v.rand, deks[i], dekAD(kek.ID, id, ver))
		if err != nil {
			return nil, cc.E(op, cc.Internal, err)
		}
		if err := b.Set(versionKey(dekPrefix, id, ver), encodeWrapped(w), nil); err != nil {
			return nil, cc.E(op, cc.Internal, err)
		}
		if err := b.Set(versionKey(blobPrefix, id, ver), blobs[i], nil); err != nil {
			return nil, cc.E(op, cc.Internal, err)
		}
		blobs[i] = nil
		wrote = true
	}
	if wrote {
		if err := v.commit(b, kek); err != nil {
			return nil, cc.E(op, cc.Internal, err)
		}
	}
	return hashes, nil
}

// saltForPut returns the record's salt for a write: the stored one, or a new
// one (created true) added, wrapped by kek, to b. It fails with Gone for a
// shredded record. The caller holds wmu.
func (v *Vault) saltForPut(op string, r reader, b *pebble.Batch, kek *KEK, id string) (salt []byte, created bool, err error) {
	if err := v.checkNotErased(op, r, id); err != nil {
		return nil, false, err
	}
	salt, err = v.salt(op, r, id, false)
	if err == nil || cc.KindOf(err) != cc.NotFound {
		return salt, false, err
	}
	if salt, err = randomSecret(v.rand); err != nil {
		return nil, false, cc.E(op, cc.Internal, err)
	}
	w, err := kek.wrap(v.rand, salt, saltAD(kek.ID, id))
	if err != nil {
		clear(salt)
		return nil, false, cc.E(op, cc.Internal, err)
	}
	if err := b.Set(recordKey(saltPrefix, id), encodeWrapped(w), nil); err != nil {
		clear(salt)
		return nil, false, cc.E(op, cc.Internal, err)
	}
	return salt, true, nil
}

// samePlaintext checks that a stored version holds plaintext: nil if it
// does, Conflict if it holds something else, the read's error if it cannot
// be read. The caller holds wmu.
func (v *Vault) samePlaintext(op, id string, version int, plaintext []byte) error {
	old, err := v.open(op, v.db, id, version)
	if err != nil {
		return err
	}
	defer clear(old)
	if !bytes.Equal(old, plaintext) {
		return cc.Errorf(op, cc.Conflict, "record %q version %d is stored with different contents", id, version)
	}
	return nil
}

// batchSize estimates the Pebble batch size of items: each blob (plaintext,
// nonce, tag), its data key and salt, and their keys.
func batchSize(items []Item) int {
	n := 0
	for _, it := range items {
		n += len(it.Plaintext) + 1 + nonceSize + tagSize + 3*(len(it.RecordID)+16) + 2*(2+maxKEKID+nonceSize+wrappedSize)
	}
	return n
}

package vault

import (
	"context"
	"encoding/binary"
	"time"

	cc "carechain"
)

// Shred crypto-shreds a record: in one synced batch it deletes the data key
// and blob of every version and the record's salt, and writes a tombstone,
// so afterwards Get, ContentHash and Put answer Gone (not NotFound) and no
// key that could decrypt the record is left in the database, even for the
// holder of the KEK. It then compacts the record's key ranges so Pebble
// drops the deleted values from its table files; the package documentation
// says how KEK rotation covers copies outside the live database.
//
// Shred is idempotent and keeps the time of the first erasure. It writes a
// tombstone even for a record the vault never held, so the erasure stands
// whatever arrives later. An error after the batch committed (from the
// compaction) leaves the record erased; calling Shred again retries.
func (v *Vault) Shred(recordID string) error {
	const op = "vault.Shred"
	if err := checkID(op, recordID); err != nil {
		return err
	}
	if err := v.enter(op); err != nil {
		return err
	}
	defer v.exit()
	if err := v.shred(op, recordID); err != nil {
		return err
	}
	ctx := context.Background()
	for _, p := range []string{dekPrefix, blobPrefix} {
		lo, hi := recordRange(p, recordID)
		if err := v.db.Compact(ctx, lo, hi, false); err != nil {
			return cc.E(op, cc.Internal, err)
		}
	}
	lo := recordKey(saltPrefix, recordID)
	if err := v.db.Compact(ctx, lo, append(lo, 0), false); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	return nil
}

// shred commits the erasure batch.
func (v *Vault) shred(op, id string) error {
	v.wmu.Lock()
	defer v.wmu.Unlock()
	b := v.db.NewBatch()
	defer b.Close()
	tomb := recordKey(tombPrefix, id)
	erased, err := v.has(v.db, tomb)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if !erased {
		at := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
		if err := b.Set(tomb, at, nil); err != nil {
			return cc.E(op, cc.Internal, err)
		}
	}
	for _, p := range []string{dekPrefix, blobPrefix} {
		lo, hi := recordRange(p, id)
		if err := b.DeleteRange(lo, hi, nil); err != nil {
			return cc.E(op, cc.Internal, err)
		}
	}
	if err := b.Delete(recordKey(saltPrefix, id), nil); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if err := v.commit(b, nil); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	return nil
}

// ErasedAt returns when the record was shredded (the node's clock at the
// first Shred); ok is false if it was not.
func (v *Vault) ErasedAt(recordID string) (at time.Time, ok bool, err error) {
	const op = "vault.ErasedAt"
	if err := checkID(op, recordID); err != nil {
		return time.Time{}, false, err
	}
	if err := v.enter(op); err != nil {
		return time.Time{}, false, err
	}
	defer v.exit()
	val, ok, err := v.get(v.db, recordKey(tombPrefix, recordID))
	if err != nil {
		return time.Time{}, false, cc.E(op, cc.Internal, err)
	}
	if !ok {
		return time.Time{}, false, nil
	}
	if len(val) != 8 {
		return time.Time{}, true, cc.Errorf(op, cc.Integrity, "erasure tombstone of record %q is malformed", recordID)
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(val))).UTC(), true, nil
}

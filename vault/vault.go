// Package vault is carechain's off-chain store of PHI: every version of a
// FHIR resource encrypted at rest, in its own Pebble database, apart from
// the ledger state. It is an adapter (it does I/O) and is not on the
// consensus path.
//
// # Encryption
//
// Each resource version is sealed with AES-256-GCM under its own random
// 32-byte data key (DEK) and a random 12-byte nonce, with the record id and
// version as associated data, so a blob cannot be moved to another record
// or version. The DEK is wrapped (AES-256-GCM, its own random nonce) by the
// node's key-encryption key (KEK); the associated data binds it to the
// record id, version and KEK id, and the KEK id is stored beside it. The KEK
// never touches the disk of the vault: it comes from a 0600 file (LoadKEK,
// GenerateKEK) or the environment (KEKFromEnv).
//
// # Salted content hashes
//
// A record gets a random 32-byte salt at its first version, kept (wrapped
// by the KEK like a DEK) for all its versions. The anchor's ContentHash is
// HMAC-SHA256(salt, plaintext): equal content hashes alike within a record
// and differently across records, and nobody without the vault can confirm
// a guessed resource from its anchor.
//
// # Erasure (crypto-shredding)
//
// Shred deletes every DEK, blob and the salt of a record in one synced
// batch, writes a tombstone (so reads answer Gone rather than NotFound) and
// compacts the record's key ranges so Pebble drops the deleted values from
// its files. Copies that may remain outside the live database (Pebble's
// recycled write-ahead log, backups, freed disk blocks) are wrapped by the
// KEK: rotating the KEK (RotateKEK) and destroying the old one makes them
// undecryptable too. The anchors stay on the ledger.
//
// # KEK rotation
//
// The rotation command is, in order:
//
//  1. GenerateKEK(newPath, "kek-2") writes the new key (0600).
//  2. Open(dir, oldKEK) then RotateKEK(newKEK, progress) re-wraps every DEK
//     and salt in synced batches. A crash leaves each key wrapped by either
//     KEK (each records its KEK id): Open(dir, newKEK, oldKEK) reads them
//     all, and running RotateKEK again finishes the job.
//  3. Point the node at the new key; once KEKUsage reports nothing under the
//     old id, destroy the old key file.
//
// Wrapping uses random 96-bit nonces, so a KEK should be rotated well
// before it has wrapped 2^32 keys (two per version plus one per record).
//
// Open records a check value of each KEK that wrapped something, and
// refuses a KEK whose id it knows with a different key (Integrity, naming
// the id). A key wrapped by a KEK that was not passed to Open fails to read
// with an Integrity error naming that KEK id.
//
// # Errors
//
// Every error is a *carechain.Error: Invalid for bad record ids, versions
// or KEKs; NotFound for an absent version; Gone for a shredded record;
// Integrity when stored data fails authentication or does not match the
// anchored hash; Conflict when Put would replace a different version;
// TooLarge past MaxPlaintext; Unavailable once closed; Internal for I/O
// failures. Messages never contain key material or plaintext.
package vault

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	cc "carechain"
)

// Vault is an encrypted blob store in its own Pebble database. Its methods
// are safe for concurrent use; writes are serialised (each is one synced
// Pebble batch), reads run in parallel.
type Vault struct {
	db *pebble.DB

	// rmu guards closed and inflight: every database use is counted so
	// Close waits for in-flight calls instead of closing Pebble under them.
	rmu      sync.Mutex
	drained  *sync.Cond
	closed   bool
	inflight int

	ring atomic.Pointer[keyring] // the loaded KEKs; replaced, never changed

	// wmu serialises writes and guards checked.
	wmu     sync.Mutex
	checked map[string]bool // KEK ids whose check is stored

	rand         io.Reader    // entropy; crypto/rand outside tests
	beforeCommit func() error // test hook: runs before a write batch commits
}

// keyring is the set of loaded KEKs: primary wraps new keys, byID (which
// includes primary) unwraps.
type keyring struct {
	primary *KEK
	byID    map[string]*KEK
}

// Open opens (creating if needed) the vault whose Pebble files are in dir,
// which must not be the ledger state's directory. kek wraps new data keys;
// older KEKs, passed after a rotation, let the vault read keys they wrapped.
func Open(dir string, kek *KEK, older ...*KEK) (*Vault, error) {
	return OpenFS(dir, vfs.Default, kek, older...)
}

// OpenFS is Open on the given filesystem; tests use it with vfs.NewMem or
// vfs.NewCrashableMem.
func OpenFS(dir string, fs vfs.FS, kek *KEK, older ...*KEK) (*Vault, error) {
	const op = "vault.Open"
	if kek == nil {
		return nil, cc.Errorf(op, cc.Invalid, "no KEK")
	}
	keks := map[string]*KEK{}
	for _, k := range append([]*KEK{kek}, older...) {
		if k == nil {
			return nil, cc.Errorf(op, cc.Invalid, "nil older KEK")
		}
		if err := checkKEKID(op, k.ID); err != nil {
			return nil, err
		}
		if prev, ok := keks[k.ID]; ok && !prev.equal(k) {
			return nil, cc.Errorf(op, cc.Invalid, "two different KEKs named %q", k.ID)
		}
		keks[k.ID] = k
	}
	db, err := pebble.Open(dir, pebbleOptions(fs))
	if err != nil {
		return nil, &cc.Error{Op: op, Kind: cc.Internal, Msg: "cannot open the vault database in " + dir, Err: err}
	}
	v := &Vault{db: db, checked: map[string]bool{}, rand: rand.Reader}
	v.ring.Store(&keyring{primary: kek, byID: keks})
	v.drained = sync.NewCond(&v.rmu)
	if err := v.load(op); err != nil {
		db.Close()
		return nil, err
	}
	return v, nil
}

// pebbleOptions configures Pebble for the vault: a 64 MB block cache and
// Bloom filters at every level, because writes check that keys are absent
// (a new record's salt, a new version) and reads are point lookups; and
// 32 MB memtables, because blobs are large: with Pebble's 4 MB default an
// ingest flushed many small tables and compacted the same blobs again and
// again (compactions 1.04 → 0.39 s of CPU per 27,768 resources).
func pebbleOptions(fs vfs.FS) *pebble.Options {
	o := &pebble.Options{
		FS:                 fs,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             quietLogger{},
		CacheSize:          64 << 20,
		MemTableSize:       32 << 20,
	}
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return o
}

// load checks the layout version (writing it into a new vault) and the
// stored check of every loaded KEK.
func (v *Vault) load(op string) error {
	format, ok, err := v.get(v.db, keyFormat)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	switch {
	case !ok:
		empty, err := v.empty()
		if err != nil {
			return cc.E(op, cc.Internal, err)
		}
		if !empty {
			return cc.Errorf(op, cc.Invalid, "the database is not a vault (the ledger state's, perhaps); give the vault its own directory")
		}
		if err := v.db.Set(keyFormat, []byte(formatVersion), pebble.Sync); err != nil {
			return cc.E(op, cc.Internal, err)
		}
	case string(format) != formatVersion:
		return cc.Errorf(op, cc.Integrity, "vault layout %q is not %q", format, formatVersion)
	}
	for id, k := range v.ring.Load().byID {
		stored, ok, err := v.get(v.db, []byte(kekCheckKey+id))
		if err != nil {
			return cc.E(op, cc.Internal, err)
		}
		if !ok {
			continue
		}
		if !hmac.Equal(stored, kekCheck(k)) {
			return cc.Errorf(op, cc.Integrity, "KEK %q is not the key this vault knows by that id (wrong key file?)", id)
		}
		v.checked[id] = true
	}
	return nil
}

// empty reports whether the database holds no key at all.
func (v *Vault) empty() (bool, error) {
	it, err := v.db.NewIter(nil)
	if err != nil {
		return false, err
	}
	found := it.First()
	return !found, it.Close()
}

// Close waits for in-flight calls and closes the database. Calls after
// Close fail with Unavailable; a second Close returns nil.
func (v *Vault) Close() error {
	v.rmu.Lock()
	if v.closed {
		v.rmu.Unlock()
		return nil
	}
	v.closed = true
	for v.inflight > 0 {
		v.drained.Wait()
	}
	v.rmu.Unlock()
	if err := v.db.Close(); err != nil {
		return cc.E("vault.Close", cc.Internal, err)
	}
	return nil
}

// enter counts a call in; it fails once the vault is closed.
func (v *Vault) enter(op string) error {
	v.rmu.Lock()
	defer v.rmu.Unlock()
	if v.closed {
		return cc.Errorf(op, cc.Unavailable, "vault is closed")
	}
	v.inflight++
	return nil
}

// exit counts a call out.
func (v *Vault) exit() {
	v.rmu.Lock()
	v.inflight--
	if v.inflight == 0 {
		v.drained.Broadcast()
	}
	v.rmu.Unlock()
}

// reader is what point reads need: the database or a snapshot.
type reader interface {
	Get(key []byte) ([]byte, io.Closer, error)
}

// get returns key's value; ok is false if it is absent. The value is the
// caller's to read and keep, not to modify: a copy of what the database
// returned, or a prefetched value as it is (prefetch copied it already,
// and it may be handed out again).
func (v *Vault) get(r reader, key []byte) (val []byte, ok bool, err error) {
	b, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if _, owned := closer.(noClose); owned {
		return b, true, nil
	}
	val = bytes.Clone(b)
	closer.Close()
	return val, true, nil
}

// has reports whether key is present.
func (v *Vault) has(r reader, key []byte) (bool, error) {
	_, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	closer.Close()
	return true, nil
}

// commit runs the test hook and commits b with a sync. It must be called
// with wmu held. When the batch holds keys wrapped by kek, it records kek's
// check in the same batch the first time, so a check is stored exactly when
// data depends on it.
func (v *Vault) commit(b *pebble.Batch, kek *KEK) error {
	record := kek != nil && !v.checked[kek.ID]
	if record {
		if err := b.Set([]byte(kekCheckKey+kek.ID), kekCheck(kek), nil); err != nil {
			return err
		}
	}
	if v.beforeCommit != nil {
		if err := v.beforeCommit(); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	if record {
		v.checked[kek.ID] = true
	}
	return nil
}

// quietLogger drops Pebble's routine informational messages and passes
// errors and fatal errors to Pebble's default logger.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}

func (quietLogger) Errorf(format string, args ...any) {
	pebble.DefaultLogger.Errorf(format, args...)
}

func (quietLogger) Fatalf(format string, args ...any) {
	pebble.DefaultLogger.Fatalf(format, args...)
}

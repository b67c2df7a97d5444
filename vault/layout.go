package vault

import (
	"bytes"
	"encoding/binary"
	"math"
	"unicode/utf8"

	cc "carechain"
)

// The Pebble key layout. Every key starts with a two-byte prefix naming its
// kind, then (for per-record keys) the record id, a 0x00 terminator and,
// for per-version keys, the version as 4-byte big-endian:
//
//	m/format                  layout version (formatVersion)
//	m/kek/<kek id>            key check of a KEK that wrapped something (kekCheck)
//	s/<record id> 00          the record's salt, wrapped by a KEK (wrapped value)
//	k/<record id> 00 <ver>    a version's data key, wrapped by a KEK (wrapped value)
//	b/<record id> 00 <ver>    a version's ciphertext (blob value)
//	x/<record id> 00          erasure tombstone: 8-byte big-endian Unix nanoseconds
//
// Record ids never contain 0x00, so the terminator makes one id's keys
// disjoint from every other id's (no id is a prefix-collision of another)
// and keeps keys in (record id, version) order. The data keys live apart
// from the blobs so a KEK rotation rewrites small values only.
//
// A wrapped value (data key or salt) is
//
//	0x01 ‖ len(kek id) (1 byte) ‖ kek id ‖ nonce (12) ‖ AES-256-GCM(32-byte secret) (48)
//
// and a blob value is
//
//	0x01 ‖ nonce (12) ‖ AES-256-GCM(plaintext)
//
// The associated data binds each ciphertext to its place: a blob to its
// record id and version, a data key to its record id, version and KEK id, a
// salt to its record id and KEK id (see seal.go).
const (
	metaPrefix  = "m/"
	saltPrefix  = "s/"
	dekPrefix   = "k/"
	blobPrefix  = "b/"
	tombPrefix  = "x/"
	kekCheckKey = "m/kek/"

	formatVersion = "carechain-vault-v1"

	valueFormat = 0x01 // first byte of every wrapped and blob value
	nonceSize   = 12
	secretSize  = 32 // data keys and salts
	tagSize     = 16
	wrappedSize = secretSize + tagSize

	// MaxRecordID is the longest record id in bytes.
	MaxRecordID = 200
	// MaxPlaintext is the largest resource version Put accepts.
	MaxPlaintext = 64 << 20
	// MaxBatchBytes bounds the total plaintext of one PutBatch.
	MaxBatchBytes = 512 << 20
)

var keyFormat = []byte(metaPrefix + "format")

// checkRecord validates a record id and version: a record id is 1 to
// MaxRecordID bytes of printable UTF-8 (no NUL or other control character)
// that does not start with '/'; versions count from 1.
func checkRecord(op, id string, version int) error {
	if err := checkID(op, id); err != nil {
		return err
	}
	if version < 1 || version > math.MaxUint32 {
		return cc.Errorf(op, cc.Invalid, "record %q: version %d out of range 1..%d", id, version, uint32(math.MaxUint32))
	}
	return nil
}

// checkID validates a record id (see checkRecord).
func checkID(op, id string) error {
	switch {
	case id == "":
		return cc.Errorf(op, cc.Invalid, "empty record id")
	case len(id) > MaxRecordID:
		return cc.Errorf(op, cc.Invalid, "record id longer than %d bytes", MaxRecordID)
	case id[0] == '/':
		return cc.Errorf(op, cc.Invalid, "record id %q starts with '/'", id)
	case !utf8.ValidString(id):
		return cc.Errorf(op, cc.Invalid, "record id %q is not valid UTF-8", id)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return cc.Errorf(op, cc.Invalid, "record id %q contains a control character", id)
		}
	}
	return nil
}

// recordKey returns prefix ‖ id ‖ 0x00, the key (or key prefix) of a record.
func recordKey(prefix, id string) []byte {
	k := make([]byte, 0, len(prefix)+len(id)+5)
	k = append(k, prefix...)
	k = append(k, id...)
	return append(k, 0)
}

// versionKey returns prefix ‖ id ‖ 0x00 ‖ version, the key of one version.
func versionKey(prefix, id string, version int) []byte {
	return binary.BigEndian.AppendUint32(recordKey(prefix, id), uint32(version))
}

// recordRange returns the bounds [lo, hi) of every version key of a record.
func recordRange(prefix, id string) (lo, hi []byte) {
	lo = recordKey(prefix, id)
	hi = bytes.Clone(lo)
	hi[len(hi)-1] = 1
	return lo, hi
}

// prefixRange returns the bounds [lo, hi) of every key with the prefix.
func prefixRange(prefix string) (lo, hi []byte) {
	lo = []byte(prefix)
	hi = bytes.Clone(lo)
	hi[len(hi)-1]++
	return lo, hi
}

// parseVersionKey splits a version key (prefix already checked) into its
// record id and version; ok is false for a malformed key.
func parseVersionKey(prefix string, key []byte) (id string, version int, ok bool) {
	rest := key[len(prefix):]
	if len(rest) < 6 || rest[len(rest)-5] != 0 {
		return "", 0, false
	}
	id = string(rest[:len(rest)-5])
	if bytes.IndexByte(rest[:len(rest)-5], 0) >= 0 {
		return "", 0, false
	}
	return id, int(binary.BigEndian.Uint32(rest[len(rest)-4:])), true
}

// parseRecordKey returns the record id of a per-record key (salt or
// tombstone); ok is false for a malformed key.
func parseRecordKey(prefix string, key []byte) (id string, ok bool) {
	rest := key[len(prefix):]
	if len(rest) < 2 || rest[len(rest)-1] != 0 || bytes.IndexByte(rest[:len(rest)-1], 0) >= 0 {
		return "", false
	}
	return string(rest[:len(rest)-1]), true
}

// wrapped is a decoded wrapped value: a secret sealed by the KEK KEKID.
type wrapped struct {
	KEKID  string
	Nonce  []byte
	Sealed []byte
}

// encodeWrapped encodes w as a wrapped value.
func encodeWrapped(w wrapped) []byte {
	b := make([]byte, 0, 2+len(w.KEKID)+nonceSize+wrappedSize)
	b = append(b, valueFormat, byte(len(w.KEKID)))
	b = append(b, w.KEKID...)
	b = append(b, w.Nonce...)
	return append(b, w.Sealed...)
}

// decodeWrapped decodes a wrapped value; ok is false if it is malformed.
// The result aliases b.
func decodeWrapped(b []byte) (w wrapped, ok bool) {
	if len(b) < 2 || b[0] != valueFormat {
		return w, false
	}
	n := int(b[1])
	if n == 0 || n > maxKEKID || len(b) != 2+n+nonceSize+wrappedSize {
		return w, false
	}
	w.KEKID = string(b[2 : 2+n])
	w.Nonce = b[2+n : 2+n+nonceSize]
	w.Sealed = b[2+n+nonceSize:]
	return w, true
}

// wrappedKEKID returns the KEK id of a wrapped value without copying the
// rest; ok is false if it is malformed.
func wrappedKEKID(b []byte) (string, bool) {
	w, ok := decodeWrapped(b)
	return w.KEKID, ok
}

// encodeBlob encodes a blob value from its nonce and sealed plaintext.
func encodeBlob(nonce, sealed []byte) []byte {
	b := make([]byte, 0, 1+nonceSize+len(sealed))
	b = append(b, valueFormat)
	b = append(b, nonce...)
	return append(b, sealed...)
}

// decodeBlob splits a blob value into nonce and sealed plaintext; ok is
// false if it is malformed. The results alias b.
func decodeBlob(b []byte) (nonce, sealed []byte, ok bool) {
	if len(b) < 1+nonceSize+tagSize || b[0] != valueFormat {
		return nil, nil, false
	}
	return b[1 : 1+nonceSize], b[1+nonceSize:], true
}

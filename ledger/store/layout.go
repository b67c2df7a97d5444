package store

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/minio/minlz"
)

// The Pebble key layout. Every key of the database starts with one of two
// prefixes, so state keys (any string) can never collide with metadata:
//
//	s/<key>                     live state entry: height of its latest write ‖ the value
//	m/v                         layout version (formatVersion), written with block 1
//	m/h                         last committed height, 8-byte big-endian
//	m/g                         AppHash(0), the genesis hash, if one was set
//	m/b/<height>                BlockMeta of a height (encodeMeta)
//	m/w/<height>                every write of a block, in key order (encodeWritesRecord)
//	m/k/<key>                   height of the key's latest deletion
//
// <height> is 8-byte big-endian. A block's writes are one record, and the
// height of a live key's latest write (for its proof) rides in its state
// entry, so a write costs one Pebble record besides its share of the
// block's; only a deletion adds an m/k/ record. Layout v1 kept
// m/w/<height><key> and m/k/<key> for every write: three records per
// write, each a memtable insert on the Commit path and a key to compact.
// All keys of one block are written in one synced batch.
//
// Layout v4 (formatVersion) compresses the m/w/ record (a codec byte, then
// the writes in MinLZ blocks; they compress ~20× on bench epcis's blocks,
// at ~4 GB/s): it is as large as all the block's state entries together,
// and every byte of it was copied into the batch, the WAL and the memtable
// and through each flush — a third of a write's CPU cost
// (BenchmarkBlocksCPU). A store created in layout v3 (formatV3, the same
// keys with a bare m/w/ record) is opened and continued in v3.
const (
	statePrefix     = "s/"
	blockPrefix     = "m/b/"
	writesPrefix    = "m/w/"
	lastWritePrefix = "m/k/"

	formatVersion = "carechain-store-v4"
	formatV3      = "carechain-store-v3"
)

// The codecs of a v4 m/w/ record, its first byte.
const (
	writesPlain byte = 0 // the writes as appendWrite appends them
	writesMinLZ byte = 1 // the same bytes cut into pieces of at most writesChunk, each uvarint(len(block)) ‖ its MinLZ block
)

// writesChunk is the most bytes of a writes record in one MinLZ block (the
// block format's limit).
const writesChunk = minlz.MaxBlockSize

var (
	keyVersion = []byte("m/v")
	keyHeight  = []byte("m/h")
	keyGenesis = []byte("m/g")
)

// appendStateKey appends the Pebble key of state key k to buf.
func appendStateKey(buf []byte, k string) []byte {
	return append(append(buf, statePrefix...), k...)
}

// stateKey returns the Pebble key of state key k.
func stateKey(k string) []byte {
	return appendStateKey(make([]byte, 0, len(statePrefix)+len(k)), k)
}

// blockKey returns the Pebble key of the BlockMeta at height h.
func blockKey(h int64) []byte {
	return binary.BigEndian.AppendUint64([]byte(blockPrefix), uint64(h))
}

// writesKey returns the Pebble key of the writes of block h.
func writesKey(h int64) []byte {
	return binary.BigEndian.AppendUint64([]byte(writesPrefix), uint64(h))
}

// appendLastWriteKey appends the Pebble key holding k's latest deletion
// height.
func appendLastWriteKey(buf []byte, k string) []byte {
	return append(append(buf, lastWritePrefix...), k...)
}

// prefixEnd returns the smallest key greater than every key starting with
// p, or nil if there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// A block's writes record is the concatenation of its writes in key order,
// each uvarint(len(key)) ‖ key ‖ flag byte, then for a set uvarint(len(value))
// ‖ value.
const (
	flagSet    byte = 0
	flagDelete byte = 1
)

// writesSize returns the encoded size of writes.
func writesSize(writes []Write) int {
	n := 0
	for _, w := range writes {
		n += 2*binary.MaxVarintLen64 + 1 + len(w.Key) + len(w.Value)
	}
	return n
}

// appendWrite appends the stored form of w to buf.
func appendWrite(buf []byte, w Write) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(w.Key)))
	buf = append(buf, w.Key...)
	if w.Deleted {
		return append(buf, flagDelete)
	}
	buf = append(buf, flagSet)
	buf = binary.AppendUvarint(buf, uint64(len(w.Value)))
	return append(buf, w.Value...)
}

// recordBuffers are the scratch buffers of a block's writes record (encode),
// kept by the store for the next block: the record is megabytes, and fresh
// buffers of that size are mostly page faults.
type recordBuffers struct {
	raw, rec []byte
}

// encode returns the m/w/ record of writes: in layout v4 the codec byte
// writesMinLZ and the MinLZ blocks of their appendWrite encoding, in
// layout v3 (plain) that encoding alone. The result is valid until the
// next call.
func (buf *recordBuffers) encode(writes []Write, plain bool) []byte {
	raw := slices.Grow(buf.raw[:0], writesSize(writes))
	for _, w := range writes {
		raw = appendWrite(raw, w)
	}
	buf.raw = raw
	if plain {
		return raw
	}
	rec := append(buf.rec[:0], writesMinLZ)
	for len(raw) > 0 {
		piece := raw[:min(len(raw), writesChunk)]
		raw = raw[len(piece):]
		// uvarint(len(block)) ‖ block: room for the length, then the block.
		at := len(rec)
		rec = slices.Grow(rec, binary.MaxVarintLen64+minlz.MaxEncodedLen(len(piece)))
		block, err := minlz.AppendEncoded(rec[:at+binary.MaxVarintLen64], piece, minlz.LevelFastest)
		if err != nil { // cannot happen: piece is within the block size limit
			panic(fmt.Sprintf("store: compressing block writes: %v", err))
		}
		n := len(block) - at - binary.MaxVarintLen64
		rec = binary.AppendUvarint(rec[:at], uint64(n))
		rec = append(rec, block[at+binary.MaxVarintLen64:]...) // overlapping copy, moving left
	}
	buf.rec = rec
	return rec
}

// decodeWritesRecord is the inverse of recordBuffers.encode.
func decodeWritesRecord(b []byte, plain bool) ([]Write, error) {
	if plain || len(b) == 0 {
		return decodeWrites(b)
	}
	switch b[0] {
	case writesPlain:
		return decodeWrites(b[1:])
	case writesMinLZ:
		var raw []byte
		for b = b[1:]; len(b) > 0; {
			n, k := binary.Uvarint(b)
			if k <= 0 || n > uint64(len(b)-k) {
				return nil, fmt.Errorf("compressed writes: bad block length")
			}
			block := b[k : k+int(n)]
			b = b[k+int(n):]
			if ok, size, err := minlz.IsMinLZ(block); err != nil || !ok || size > writesChunk {
				return nil, fmt.Errorf("compressed writes: not a MinLZ block")
			}
			var err error
			if raw, err = minlz.AppendDecoded(raw, block); err != nil {
				return nil, fmt.Errorf("compressed writes: %v", err)
			}
		}
		return decodeWrites(raw)
	}
	return nil, fmt.Errorf("writes record of unknown codec %d", b[0])
}

// decodeWrites is the inverse of appending each write with appendWrite;
// keys must be strictly increasing. Values alias b (capacity-limited, so
// appending to one cannot touch the rest).
func decodeWrites(b []byte) ([]Write, error) {
	var out []Write
	field := func(what string) ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, fmt.Errorf("write %d: bad %s length", len(out), what)
		}
		end := k + int(n)
		f := b[k:end:end]
		b = b[end:]
		return f, nil
	}
	for len(b) > 0 {
		key, err := field("key")
		if err != nil {
			return nil, err
		}
		if len(out) > 0 && string(key) <= out[len(out)-1].Key {
			return nil, fmt.Errorf("write of %q after %q: keys not increasing", key, out[len(out)-1].Key)
		}
		if len(b) == 0 {
			return nil, fmt.Errorf("write of %q: no flag", key)
		}
		flag := b[0]
		b = b[1:]
		switch flag {
		case flagDelete:
			out = append(out, Write{Key: string(key), Deleted: true})
		case flagSet:
			v, err := field("value")
			if err != nil {
				return nil, err
			}
			out = append(out, Write{Key: string(key), Value: v})
		default:
			return nil, fmt.Errorf("write of %q: unknown flag %d", key, flag)
		}
	}
	return out, nil
}

// heightLen is the length of an encoded height.
const heightLen = 8

// appendStateValue appends the stored form of a state entry written at
// height h with value v: h ‖ v.
func appendStateValue(buf []byte, h int64, v []byte) []byte {
	return append(binary.BigEndian.AppendUint64(buf, uint64(h)), v...)
}

// splitStateValue is the inverse of appendStateValue; value aliases b.
func splitStateValue(b []byte) (height int64, value []byte, err error) {
	if len(b) < heightLen {
		return 0, nil, fmt.Errorf("state entry of %d bytes has no height", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), b[heightLen:], nil
}

// encodeHeight returns h as 8 bytes big-endian.
func encodeHeight(h int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(h))
}

// decodeHeight is the inverse of encodeHeight.
func decodeHeight(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("height record of %d bytes, want 8", len(b))
	}
	h := int64(binary.BigEndian.Uint64(b))
	if h < 0 {
		return 0, fmt.Errorf("negative height %d", h)
	}
	return h, nil
}

// metaVersion starts every encoded BlockMeta.
const metaVersion byte = 1

// encodeMeta returns the stored form of m: version byte ‖ height ‖
// num writes (8 bytes big-endian each) ‖ uvarint len ‖ PrevAppHash ‖
// WritesRoot ‖ StateDigest ‖ AppHash (32 bytes each).
func encodeMeta(m *BlockMeta) []byte {
	b := make([]byte, 0, 1+8+8+binary.MaxVarintLen64+len(m.PrevAppHash)+3*hashSize)
	b = append(b, metaVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Height))
	b = binary.BigEndian.AppendUint64(b, uint64(m.NumWrites))
	b = binary.AppendUvarint(b, uint64(len(m.PrevAppHash)))
	b = append(b, m.PrevAppHash...)
	b = append(b, m.WritesRoot...)
	b = append(b, m.StateDigest...)
	return append(b, m.AppHash...)
}

// decodeMeta is the inverse of encodeMeta; the result owns its slices.
func decodeMeta(b []byte) (*BlockMeta, error) {
	if len(b) < 17 || b[0] != metaVersion {
		return nil, fmt.Errorf("block meta: bad header")
	}
	m := &BlockMeta{
		Height:    int64(binary.BigEndian.Uint64(b[1:9])),
		NumWrites: int64(binary.BigEndian.Uint64(b[9:17])),
	}
	rest := b[17:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest)-k) {
		return nil, fmt.Errorf("block meta: bad prev app hash length")
	}
	rest = rest[k:]
	if uint64(len(rest)) != n+3*hashSize {
		return nil, fmt.Errorf("block meta: %d trailing bytes, want %d", len(rest), n+3*hashSize)
	}
	m.PrevAppHash = clone(rest[:n])
	rest = rest[n:]
	m.WritesRoot = clone(rest[:hashSize])
	m.StateDigest = clone(rest[hashSize : 2*hashSize])
	m.AppHash = clone(rest[2*hashSize:])
	if m.Height < 1 || m.NumWrites < 0 {
		return nil, fmt.Errorf("block meta: height %d, %d writes", m.Height, m.NumWrites)
	}
	return m, nil
}

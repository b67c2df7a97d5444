package supply

import (
	"encoding/binary"
	"encoding/json"
	"errors"

	cc "carechain"
)

// Items are the bulk of the supply state (one per tracked EPC, rewritten
// by every custody change), so they are stored in a compact binary form
// instead of JSON: encodeItem/decodeItem are far cheaper than reflective
// encoding/json, and the values are about half the size.
//
// The encoding is deterministic (one byte string per Item): the version
// byte itemV1, then the fields in declaration order — strings as a
// uvarint length and the bytes, integers as zig-zag varints, Container as
// one byte 0 or 1 — except that EPC is not repeated (it is the key's
// segment; the decoder gets it from the caller) and each child after the
// first is a uvarint count of bytes shared with the child before it (the
// children are sorted, so siblings share their company prefix) and the
// rest as a string. A value starting with '{' is an Item in JSON (state
// written before this encoding), still read.
const itemV1 = 0x01

var errItemEncoding = errors.New("supply: malformed item value")

// encodeItem returns the stored form of it.
func encodeItem(it *Item) []byte {
	n := 16 + len(it.Owner) + len(it.Status) + len(it.InTransitTo) + len(it.Location) + len(it.Parent) +
		len(it.Lot) + len(it.Expiry) + len(it.Disposition) + len(it.CommissionedBy) + len(it.PrevStatus) + len(it.PrevDisposition) + 16*binary.MaxVarintLen64
	for _, ch := range it.Children {
		n += len(ch) + 2*binary.MaxVarintLen64
	}
	b := make([]byte, 0, n)
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = append(b, itemV1)
	str(it.Owner)
	str(it.Status)
	str(it.InTransitTo)
	str(it.Location)
	str(it.Parent)
	b = binary.AppendUvarint(b, uint64(len(it.Children)))
	prev := ""
	for _, ch := range it.Children {
		k := sharedPrefix(prev, ch)
		b = binary.AppendUvarint(b, uint64(k))
		str(ch[k:])
		prev = ch
	}
	str(it.Lot)
	str(it.Expiry)
	str(it.Disposition)
	if it.Container {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendVarint(b, int64(it.DosesUsed))
	b = binary.AppendVarint(b, it.CommissionedAt)
	str(it.CommissionedBy)
	b = binary.AppendVarint(b, it.UpdatedAt)
	b = binary.AppendVarint(b, it.ExcursionSeconds)
	str(it.PrevStatus)
	str(it.PrevDisposition)
	return b
}

// decodeItem decodes the stored item of epc into it.
func decodeItem(epc string, b []byte, it *Item) error {
	if len(b) > 0 && b[0] == '{' {
		*it = Item{}
		return json.Unmarshal(b, it)
	}
	if len(b) == 0 || b[0] != itemV1 {
		return errItemEncoding
	}
	d := itemDecoder{b: b[1:]}
	*it = Item{EPC: epc}
	it.Owner = d.str()
	it.Status = d.str()
	it.InTransitTo = d.str()
	it.Location = d.str()
	it.Parent = d.str()
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(d.b)) { // each child takes at least one byte
			return errItemEncoding
		}
		it.Children = make([]string, 0, n)
		prev := ""
		for range n {
			k := d.uvarint()
			rest := d.str()
			if d.err != nil {
				return d.err
			}
			ch, ok := unshare(prev, k, rest)
			if !ok {
				return errItemEncoding
			}
			it.Children = append(it.Children, ch)
			prev = ch
		}
	}
	it.Lot = d.str()
	it.Expiry = d.str()
	it.Disposition = d.str()
	switch c := d.byte(); c {
	case 0, 1:
		it.Container = c == 1
	default:
		return errItemEncoding
	}
	it.DosesUsed = int(d.varint())
	it.CommissionedAt = d.varint()
	it.CommissionedBy = d.str()
	it.UpdatedAt = d.varint()
	it.ExcursionSeconds = d.varint()
	it.PrevStatus = d.str()
	it.PrevDisposition = d.str()
	if d.err == nil && len(d.b) != 0 {
		return errItemEncoding
	}
	return d.err
}

type itemDecoder struct {
	b   []byte
	err error
}

// uvarint reads a uvarint (binary.AppendUvarint) in its one encoding, the
// shortest: binary.Uvarint also reads padded forms (0x80 0x00 for 0), which
// would decode to the same value and encode differently.
func (d *itemDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n > 1 && d.b[n-1] == 0 {
		d.err = errItemEncoding
		return 0
	}
	d.b = d.b[n:]
	return v
}

// varint reads a zig-zag encoded signed varint (binary.AppendVarint).
func (d *itemDecoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *itemDecoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errItemEncoding
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *itemDecoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errItemEncoding
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// getItem reads the stored item of epc into it; false if there is none.
func getItem(kv cc.Reader, epc string, it *Item) (bool, error) {
	b, err := kv.Get(itemKey(epc))
	if err != nil {
		return false, cc.E("state.get", cc.Internal, err)
	}
	if b == nil {
		return false, nil
	}
	if err := decodeItem(epc, b, it); err != nil {
		return false, cc.E("state.get", cc.Internal, err)
	}
	return true, nil
}

// setItem writes it.
func setItem(kv cc.KV, it *Item) {
	cc.SetOwned(kv, itemKey(it.EPC), encodeItem(it)) // a fresh encoding
}

// sharedPrefix is how many leading bytes s shares with prev: the count an
// EPC list stores before the rest of each EPC (vials of a case share all
// but their last digits).
func sharedPrefix(prev, s string) int {
	k := 0
	for k < len(prev) && k < len(s) && prev[k] == s[k] {
		k++
	}
	return k
}

// unshare rebuilds an EPC stored as k bytes shared with prev and rest; ok
// is false unless k is what sharedPrefix gives for the result, so that
// every list has exactly one encoding (a decoded value encodes back to
// the same bytes).
func unshare(prev string, k uint64, rest string) (s string, ok bool) {
	if k > uint64(len(prev)) || (rest != "" && k < uint64(len(prev)) && rest[0] == prev[k]) {
		return "", false
	}
	return prev[:k] + rest, true
}

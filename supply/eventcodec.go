package supply

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	cc "carechain"
)

// Stored events (sup/ev/) are the largest values a capture writes (one per
// accepted event, kept for the read model and queries), so like items they
// are stored in a compact binary form instead of JSON: a fraction of the
// bytes — which the store writes twice (state and the block's write log)
// and compacts — and no reflective encoding.
//
// The encoding is deterministic (one byte string per StoredEvent): the
// version byte eventV1, Org and Signer, then the Event fields in
// declaration order. Strings are a uvarint length and the bytes, integers
// zig-zag varints. A list is a uvarint 0 when nil, else its length + 1
// (so nil and empty lists survive a round trip, as in JSON), then its
// elements: an EPC list's elements as a uvarint count of bytes shared with
// the EPC before it (vials of a case share all but their last digits) and
// the rest as a string; a Link as Type, ID; a Quantity as Class, Quantity,
// UOM; a Sensor as Type, Time, ValueMilliC, StartTime, EndTime, a flag
// byte (1: MinMilliC follows, 2: MaxMilliC follows) and the flagged
// values. Height, TxHash and Index are not stored: they are the key's
// segments (eventKey), and the decoder takes them from the key. A value
// starting with '{' is a StoredEvent in JSON (state written before this
// encoding), still read.
const eventV1 = 0x01

var errEventEncoding = errors.New("supply: malformed stored event")

// encodeStoredEvent returns the stored form of se (without Height, TxHash
// and Index, which are in its key).
func encodeStoredEvent(se *StoredEvent) []byte {
	e := &se.Event
	b := make([]byte, 0, 128+len(se.Org)+len(se.Signer)+len(e.EventTime)+len(e.EventID)+len(e.ParentID)+
		len(e.BizStep)+len(e.Disposition)+len(e.ReadPoint)+len(e.BizLocation)+len(e.Lot)+len(e.Expiry)+
		16*(len(e.EPCs)+len(e.ChildEPCs))+len(e.TransformationID))
	w := eventWriter{b: append(b, eventV1)}
	w.str(se.Org)
	w.str(string(se.Signer))
	w.str(e.Type)
	w.str(e.Action)
	w.str(e.EventTime)
	w.str(e.EventID)
	w.epcs(e.EPCs)
	w.str(e.ParentID)
	w.epcs(e.ChildEPCs)
	w.str(e.BizStep)
	w.str(e.Disposition)
	w.str(e.ReadPoint)
	w.str(e.BizLocation)
	w.links(e.Sources)
	w.links(e.Destinations)
	w.str(e.Lot)
	w.str(e.Expiry)
	w.count(e.Sensors == nil, len(e.Sensors))
	for i := range e.Sensors {
		s := &e.Sensors[i]
		w.str(s.Type)
		w.str(s.Time)
		w.b = binary.AppendVarint(w.b, s.ValueMilliC)
		w.str(s.StartTime)
		w.str(s.EndTime)
		var flags byte
		if s.MinMilliC != nil {
			flags |= 1
		}
		if s.MaxMilliC != nil {
			flags |= 2
		}
		w.b = append(w.b, flags)
		if s.MinMilliC != nil {
			w.b = binary.AppendVarint(w.b, *s.MinMilliC)
		}
		if s.MaxMilliC != nil {
			w.b = binary.AppendVarint(w.b, *s.MaxMilliC)
		}
	}
	w.links(e.BizTransactions)
	w.quantities(e.Quantities)
	w.quantities(e.ChildQuantities)
	w.epcs(e.InputEPCs)
	w.epcs(e.OutputEPCs)
	w.quantities(e.InputQuantities)
	w.quantities(e.OutputQuantities)
	w.str(e.TransformationID)
	return w.b
}

type eventWriter struct{ b []byte }

func (w *eventWriter) str(s string) {
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
}

// count writes a list's length: 0 for a nil list, else n + 1.
func (w *eventWriter) count(isNil bool, n int) {
	if isNil {
		w.b = append(w.b, 0)
		return
	}
	w.b = binary.AppendUvarint(w.b, uint64(n)+1)
}

func (w *eventWriter) epcs(l []string) {
	w.count(l == nil, len(l))
	prev := ""
	for _, s := range l {
		k := sharedPrefix(prev, s)
		w.b = binary.AppendUvarint(w.b, uint64(k))
		w.str(s[k:])
		prev = s
	}
}

func (w *eventWriter) links(l []Link) {
	w.count(l == nil, len(l))
	for _, k := range l {
		w.str(k.Type)
		w.str(k.ID)
	}
}

func (w *eventWriter) quantities(l []Quantity) {
	w.count(l == nil, len(l))
	for _, q := range l {
		w.str(q.Class)
		w.str(q.Quantity)
		w.str(q.UOM)
	}
}

// EncodeEvent returns the compact binary form in which the ledger stores
// se, without its Height, TxHash and Index; DecodeEvent reverses it. The
// read model keeps events in the same form.
func EncodeEvent(se *StoredEvent) []byte { return encodeStoredEvent(se) }

// DecodeEvent decodes b, the EncodeEvent form of the event at index idx of
// transaction txHash (hex) at height, into se. A StoredEvent in JSON (what
// earlier versions stored) is read as well. A malformed b is an error.
func DecodeEvent(height int64, txHash string, idx int, b []byte, se *StoredEvent) error {
	return decodeEventAt(b, se, func() (int64, string, int, bool) { return height, txHash, idx, true })
}

// decodeStoredEvent decodes the stored event at key (an eventKey) into se.
func decodeStoredEvent(key string, b []byte, se *StoredEvent) error {
	return decodeEventAt(b, se, func() (int64, string, int, bool) { return parseEventKey(key) })
}

// decodeEventAt decodes b into se; pos gives the Height, TxHash and Index
// of a binary form (a JSON form carries its own).
func decodeEventAt(b []byte, se *StoredEvent, pos func() (int64, string, int, bool)) error {
	*se = StoredEvent{}
	if len(b) > 0 && b[0] == '{' {
		return json.Unmarshal(b, se)
	}
	if len(b) == 0 || b[0] != eventV1 {
		return errEventEncoding
	}
	var ok bool
	if se.Height, se.TxHash, se.Index, ok = pos(); !ok {
		return errEventEncoding
	}
	d := eventReader{itemDecoder{b: b[1:]}}
	e := &se.Event
	se.Org = d.str()
	se.Signer = cc.DID(d.str())
	e.Type = d.str()
	e.Action = d.str()
	e.EventTime = d.str()
	e.EventID = d.str()
	e.EPCs = d.epcs()
	e.ParentID = d.str()
	e.ChildEPCs = d.epcs()
	e.BizStep = d.str()
	e.Disposition = d.str()
	e.ReadPoint = d.str()
	e.BizLocation = d.str()
	e.Sources = d.links()
	e.Destinations = d.links()
	e.Lot = d.str()
	e.Expiry = d.str()
	if n, isNil := d.count(); !isNil {
		e.Sensors = make([]Sensor, n)
		for i := range e.Sensors {
			s := &e.Sensors[i]
			s.Type = d.str()
			s.Time = d.str()
			s.ValueMilliC = d.varint()
			s.StartTime = d.str()
			s.EndTime = d.str()
			flags := d.byte()
			if flags&^3 != 0 {
				return errEventEncoding
			}
			if flags&1 != 0 {
				v := d.varint()
				s.MinMilliC = &v
			}
			if flags&2 != 0 {
				v := d.varint()
				s.MaxMilliC = &v
			}
		}
	}
	e.BizTransactions = d.links()
	e.Quantities = d.quantities()
	e.ChildQuantities = d.quantities()
	e.InputEPCs = d.epcs()
	e.OutputEPCs = d.epcs()
	e.InputQuantities = d.quantities()
	e.OutputQuantities = d.quantities()
	e.TransformationID = d.str()
	if d.err == nil && len(d.b) != 0 {
		return errEventEncoding
	}
	return d.err
}

type eventReader struct{ itemDecoder }

// count reads a list's length; isNil for a nil list. A count larger than
// the bytes left (every element takes at least one) is an error.
func (d *eventReader) count() (n int, isNil bool) {
	c := d.uvarint()
	if d.err != nil {
		return 0, true
	}
	if c == 0 {
		return 0, true
	}
	if c-1 > uint64(len(d.b)) {
		d.err = errEventEncoding
		return 0, true
	}
	return int(c - 1), false
}

func (d *eventReader) epcs() []string {
	n, isNil := d.count()
	if isNil {
		return nil
	}
	out := make([]string, 0, n)
	prev := ""
	for range n {
		k := d.uvarint()
		rest := d.str()
		if d.err != nil {
			return nil
		}
		s, ok := unshare(prev, k, rest)
		if !ok {
			d.err = errEventEncoding
			return nil
		}
		out = append(out, s)
		prev = s
	}
	return out
}

func (d *eventReader) links() []Link {
	n, isNil := d.count()
	if isNil {
		return nil
	}
	out := make([]Link, n)
	for i := range out {
		out[i] = Link{Type: d.str(), ID: d.str()}
	}
	return out
}

func (d *eventReader) quantities() []Quantity {
	n, isNil := d.count()
	if isNil {
		return nil
	}
	out := make([]Quantity, n)
	for i := range out {
		out[i] = Quantity{Class: d.str(), Quantity: d.str(), UOM: d.str()}
	}
	return out
}

// parseEventKey returns the height, transaction hash and index of an
// eventKey.
func parseEventKey(key string) (height int64, txHash string, idx int, ok bool) {
	rest, found := strings.CutPrefix(key, prefixEvent)
	if !found {
		return 0, "", 0, false
	}
	h, rest, found := strings.Cut(rest, "/")
	if !found {
		return 0, "", 0, false
	}
	j := strings.LastIndexByte(rest, '/')
	if j < 0 {
		return 0, "", 0, false
	}
	height, err1 := strconv.ParseInt(h, 10, 64)
	idx, err2 := strconv.Atoi(rest[j+1:])
	if err1 != nil || err2 != nil {
		return 0, "", 0, false
	}
	return height, rest[:j], idx, true
}

// setStoredEvent writes se under its key.
func setStoredEvent(kv cc.KV, se *StoredEvent) {
	kv.Set(eventKey(se.Height, se.TxHash, se.Index), encodeStoredEvent(se))
}

// iterateEvents calls fn with every stored event under prefix, in key
// order, until fn returns false.
func iterateEvents(op string, kv cc.Reader, prefix string, fn func(StoredEvent) bool) error {
	var derr error
	err := kv.Iterate(prefix, func(k string, v []byte) bool {
		var se StoredEvent
		if err := decodeStoredEvent(k, v, &se); err != nil {
			derr = cc.Errorf(op, cc.Internal, "%s: %v", k, err)
			return false
		}
		return fn(se)
	})
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	return derr
}

package access

import (
	"bytes"

	cc "carechain"
)

// scannedItem is one event of an access.log payload as scanLogPayload
// finds it: what strictly decoding the event into logItem and its read into
// SignedRead would give (basis and ref are never present in the scanned
// form).
type scannedItem struct {
	read    SignedRead
	records []string
}

// scanLogPayload reads an access.log payload in exactly the form the
// gatekeeper writes (canonicalLogBody) in one pass:
//
//	{"events":[{"read":{"request":R,"sig":"S"},"records":["id",…]},…]}
//
// with no whitespace, at least one event and one record per event, each R
// an RFC 8785 canonical JSON object (cc.CanonicalValue) and every string
// printable ASCII without escapes. For such a payload it returns what
// uncachedParseLog's strict decoding of the payload, each event and each
// read would give, and true; for anything else false, and the general path
// decodes and words any error. FuzzScanLogPayload checks the two agree.
// The items refer to one private copy of payload.
func scanLogPayload(payload []byte) ([]scannedItem, bool) {
	const head, tail = `{"events":[`, `]}`
	if !bytes.HasPrefix(payload, []byte(head)) || !bytes.HasSuffix(payload, []byte(tail)) {
		return nil, false
	}
	b := bytes.Clone(payload)
	end := len(b) - len(tail)
	items := make([]scannedItem, 0, bytes.Count(b, []byte(`{"read":`)))
	i := len(head)
	for {
		var it scannedItem
		var ok bool
		if i, ok = expect(b, i, `{"read":{"request":`); !ok {
			return nil, false
		}
		if i >= end || b[i] != '{' {
			return nil, false
		}
		start := i
		if i, ok = cc.CanonicalValue(b, i); !ok || i > end {
			return nil, false
		}
		it.read.Request = b[start:i:i]
		if i, ok = expect(b, i, `,"sig":`); !ok {
			return nil, false
		}
		var sig []byte
		if sig, i, ok = cc.PlainString(b, i); !ok {
			return nil, false
		}
		it.read.Sig = string(sig)
		if i, ok = expect(b, i, `},"records":[`); !ok {
			return nil, false
		}
		for {
			var id []byte
			if id, i, ok = cc.PlainString(b, i); !ok {
				return nil, false
			}
			it.records = append(it.records, string(id))
			if i < end && b[i] == ',' {
				i++
				continue
			}
			break
		}
		if i, ok = expect(b, i, `]}`); !ok {
			return nil, false
		}
		items = append(items, it)
		switch {
		case i == end:
			return items, true
		case i < end && b[i] == ',':
			i++
		default:
			return nil, false
		}
	}
}

// expect returns the index after lit if b holds lit at i.
func expect(b []byte, i int, lit string) (int, bool) {
	if !bytes.HasPrefix(b[i:], []byte(lit)) {
		return i, false
	}
	return i + len(lit), true
}

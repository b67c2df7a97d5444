package access

import (
	"crypto/sha256"
	"slices"
	"strconv"

	cc "carechain"
	"carechain/records"
)

// parsedRead is what a signed read's request bytes establish without the
// state: the request strictly decoded and checked, the bytes its signature
// must cover and their hash. It is shared through parsedReads and never
// modified after parseRead returns it.
type parsedRead struct {
	req  *ReadRequest // nil if err is set
	msg  []byte       // ReadSignBytes(req.Requester, request)
	hash []byte       // SHA-256 of msg: the request hash
	err  error        // the first rule the bytes break (VerifyRead's kinds), or nil
}

// parsedReads holds parseRead's results by the SHA-256 of the request
// bytes.
var parsedReads = newCache[[sha256.Size]byte, *parsedRead](maxParsedReadBytes)

// parseRead returns the state-independent checks of a signed read's
// request bytes (VerifyRead's cc.TooLarge, cc.Malformed, cc.NonCanonical
// and cc.Invalid), computing them unless the same bytes were parsed before
// in this process. It is a pure function of request.
func parseRead(request []byte) *parsedRead {
	const op = "access.verify_read"
	if len(request) > MaxRequestBytes {
		return uncachedParseRead(op, request)
	}
	k := sha256.Sum256(request)
	if p, ok := parsedReads.get(k); ok {
		return p
	}
	p := uncachedParseRead(op, request)
	parsedReads.put(k, p, len(request)+parsedReadOverhead)
	return p
}

// uncachedParseRead is parseRead without the cache.
func uncachedParseRead(op string, request []byte) *parsedRead {
	var r ReadRequest
	_, msg, err := parseCanonical(op, ReadPrefix, request, &r, func() (cc.DID, error) {
		return r.Requester, checkRequest(op, &r)
	})
	if err != nil {
		return &parsedRead{err: err}
	}
	h := sha256.Sum256(msg)
	return &parsedRead{req: &r, msg: msg, hash: h[:]}
}

// verify completes VerifyRead for p: the parse error if any, else the
// signature sig (base64url) must verify with the requester's current key
// in kv. The state is read on every call.
func (p *parsedRead) verify(kv cc.Reader, sig string) error {
	if p.err != nil {
		return p.err
	}
	return verifySigned("access.verify_read", kv, p.req.Requester, p.msg, sig)
}

// parsedEvent is one event of an access.log payload as the payload's
// bytes establish it: the signed read, the records to release (checked:
// 1..MaxEventRecords distinct ids) and the parse of the read's request.
// It is shared through parsedLogs and never modified.
type parsedEvent struct {
	read    SignedRead
	records []string
	parsed  *parsedRead
}

// parsedLogs holds the events of access.log payloads that parsed, by the
// SHA-256 of the payload bytes.
var parsedLogs = newCache[[sha256.Size]byte, []parsedEvent](maxParsedLogBytes)

// parseLog returns the events of an access.log payload, checked as far as
// the bytes go (cc.Malformed, cc.Invalid: shape, counts, record ids,
// claimed bases and references), computing them unless the same payload
// parsed before in this process: CheckTx parses, FinalizeBlock finds the
// result. Payloads that fail are not remembered. It is a pure function of
// payload.
func parseLog(op string, payload []byte) ([]parsedEvent, error) {
	k := sha256.Sum256(payload)
	if evs, ok := parsedLogs.get(k); ok {
		return evs, nil
	}
	evs, err := uncachedParseLog(op, payload)
	if err != nil {
		return nil, err
	}
	parsedLogs.put(k, evs, 2*len(payload))
	return evs, nil
}

// uncachedParseLog is parseLog without the cache. A payload in the
// gatekeeper's form is read by scanLogPayload in one pass; any other is
// decoded strictly, payload, events and reads one by one, which also words
// every malformation. Both then apply the same checks in the same order,
// so the first error is the same either way.
func uncachedParseLog(op string, payload []byte) ([]parsedEvent, error) {
	if items, ok := scanLogPayload(payload); ok {
		return parseScannedLog(op, items)
	}
	return decodeLogPayload(op, payload)
}

// parseScannedLog is uncachedParseLog for the events scanLogPayload read.
func parseScannedLog(op string, items []scannedItem) ([]parsedEvent, error) {
	if len(items) > MaxEventsPerTx {
		return nil, cc.Errorf(op, cc.Invalid, "events must list 1 to %d events", MaxEventsPerTx)
	}
	evs := make([]parsedEvent, len(items))
	total := 0
	for i := range items {
		evs[i].read = items[i].read
		if err := checkLogItem(op, i, items[i].records, "", "", &total); err != nil {
			return nil, err
		}
		evs[i].records = items[i].records
		evs[i].parsed = parseRead(evs[i].read.Request)
	}
	return evs, nil
}

// decodeLogPayload is uncachedParseLog by strict decoding.
func decodeLogPayload(op string, payload []byte) ([]parsedEvent, error) {
	var p logPayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return nil, err
	}
	if len(p.Events) == 0 || len(p.Events) > MaxEventsPerTx {
		return nil, cc.Errorf(op, cc.Invalid, "events must list 1 to %d events", MaxEventsPerTx)
	}
	evs := make([]parsedEvent, len(p.Events))
	total := 0
	for i, raw := range p.Events {
		what := eventWhat(i)
		var it logItem
		if err := decodeObject(op, what, raw, &it); err != nil {
			return nil, err
		}
		if err := decodeObject(op, what+".read", it.Read, &evs[i].read); err != nil {
			return nil, err
		}
		if err := checkLogItem(op, i, it.Records, it.Basis, it.Ref, &total); err != nil {
			return nil, err
		}
		evs[i].records = it.Records
		evs[i].parsed = parseRead(evs[i].read.Request)
	}
	return evs, nil
}

// eventWhat names event i of a payload in errors: "events[i]".
func eventWhat(i int) string { return "events[" + strconv.Itoa(i) + "]" }

// checkLogItem applies the rules on event i's records, basis and ref that
// its bytes alone decide, adding its records to *total (the records of
// the events before it).
func checkLogItem(op string, i int, ids []string, basis cc.Basis, ref string, total *int) error {
	if len(ids) == 0 || len(ids) > MaxEventRecords {
		return cc.Errorf(op, cc.Invalid, "%s: records must list 1 to %d records", eventWhat(i), MaxEventRecords)
	}
	if *total += len(ids); *total > MaxRecordsPerTx {
		return cc.Errorf(op, cc.Invalid, "the events release more than %d records", MaxRecordsPerTx)
	}
	var seen map[string]bool // for long lists; short ones are searched
	if len(ids) > 8 {
		seen = make(map[string]bool, len(ids))
	}
	for j, id := range ids {
		if !records.ValidID(id) {
			return cc.Errorf(op, cc.Invalid, "%s: records[%d] %q is not a record id", eventWhat(i), j, cc.Echo(id))
		}
		if seen != nil && seen[id] || seen == nil && slices.Contains(ids[:j], id) {
			return cc.Errorf(op, cc.Invalid, "%s: records[%d] %s is listed twice", eventWhat(i), j, id)
		}
		if seen != nil {
			seen[id] = true
		}
	}
	if basis != "" && !validBasis(basis) {
		return cc.Errorf(op, cc.Invalid, "%s: unknown basis %q", eventWhat(i), cc.Echo(string(basis)))
	}
	if ref != "" && !printable(ref, MaxRefLen, false) {
		return cc.Errorf(op, cc.Invalid, "%s: ref must be 1 to %d printable characters", eventWhat(i), MaxRefLen)
	}
	return nil
}

// WellFormedRequest reports whether request passes every check of
// VerifyRead that depends on its bytes only (size, RFC 8785 canonical
// form, strict decoding, the request's rules); the answer comes from
// parseRead's cache when the same bytes were verified before.
func WellFormedRequest(request []byte) bool { return parseRead(request).err == nil }

package carechain

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strconv"
)

// JSONAppender is a state record that appends its JSON encoding — the
// very bytes encoding/json.Marshal makes of it — without reflection.
// SetJSON and ResultData use it: the records every registration writes (a
// DID record, a transaction's index entry) and its result (a Patient) were
// ~2 % of a validator's CPU under load in json.Marshal's reflection. The
// bytes are state or results, committed to by the AppHash and the results
// hash, so an AppendJSON must equal json.Marshal for every value (the
// tests check each against it).
type JSONAppender interface {
	AppendJSON(b []byte) []byte
}

// AppendJSONString appends s encoded as encoding/json encodes a string
// (HTML characters, control characters, U+2028/U+2029 escaped, invalid
// UTF-8 replaced). A string of plain printable ASCII is copied; any other
// is left to encoding/json.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s) // a string always encodes
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// AppendJSONBytes appends p encoded as encoding/json encodes a []byte:
// standard padded base64 in quotes, null for a nil slice.
func AppendJSONBytes(b, p []byte) []byte {
	if p == nil {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, p)
	return append(b, '"')
}

// AppendJSONStrings appends ss as encoding/json encodes a slice of
// strings (or of a string type): null for a nil slice.
func AppendJSONStrings[S ~string](b []byte, ss []S) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, string(s))
	}
	return append(b, ']')
}

// nilPointer reports whether v is a nil pointer (json.Marshal encodes it
// as null; its value methods cannot be called).
func nilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// appendField appends `,"name":` (without the comma for the first field).
func appendField(b []byte, name string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// appendStringsField appends `,"name":` and ss, or nothing if ss is empty
// (a field tagged omitempty, not the first).
func appendStringsField[S ~string](b []byte, name string, ss []S) []byte {
	if len(ss) == 0 {
		return b
	}
	return AppendJSONStrings(appendField(b, name, false), ss)
}

// AppendJSON appends r as json.Marshal encodes it.
func (r DIDRecord) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendField(b, "id", true)
	b = AppendJSONString(b, string(r.ID))
	b = appendField(b, "kind", false)
	b = AppendJSONString(b, string(r.Kind))
	b = appendField(b, "public_key", false)
	b = AppendJSONBytes(b, r.PublicKey)
	b = appendField(b, "key_version", false)
	b = strconv.AppendInt(b, int64(r.KeyVersion), 10)
	b = appendField(b, "created", false)
	b = strconv.AppendInt(b, r.Created, 10)
	b = appendField(b, "updated", false)
	b = strconv.AppendInt(b, r.Updated, 10)
	b = appendStringsField(b, "guardians", r.Guardians)
	if r.Threshold != 0 {
		b = appendField(b, "threshold", false)
		b = strconv.AppendInt(b, int64(r.Threshold), 10)
	}
	if r.DelayBlock != 0 {
		b = appendField(b, "delay_blocks", false)
		b = strconv.AppendInt(b, r.DelayBlock, 10)
	}
	b = appendStringsField(b, "attested_by", r.Attested)
	if r.PatientSince != 0 {
		b = appendField(b, "patient_since", false)
		b = strconv.AppendInt(b, r.PatientSince, 10)
	}
	return append(b, '}')
}

// AppendJSON appends p as json.Marshal encodes it.
func (p Patient) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendField(b, "did", true)
	b = AppendJSONString(b, string(p.DID))
	b = appendField(b, "registered", false)
	b = strconv.AppendInt(b, p.Registered, 10)
	b = appendStringsField(b, "attested_by", p.AttestedBy)
	return append(b, '}')
}

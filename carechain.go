// Package carechain holds the domain types and interfaces shared by every
// part of the carechain ledger: identities, the deterministic key-value state
// that transactions change, the context a transaction runs in, and the one
// error type. It imports no adapter (Pebble, CometBFT, HTTP); adapters import it.
package carechain

import (
	"encoding/json"
	"strings"
	"time"
)

// DID is a decentralized identifier of the did:cc method, e.g.
// "did:cc:3q7c…". The method-specific id is derived from the DID's initial
// public key (see ledger/tx.DeriveDID) and never changes when keys rotate.
type DID string

// DIDPrefix starts every carechain DID.
const DIDPrefix = "did:cc:"

// Valid reports whether d has the did:cc form: the prefix and 32 lowercase
// base32 characters.
func (d DID) Valid() bool {
	s := string(d)
	if !strings.HasPrefix(s, DIDPrefix) || len(s) != len(DIDPrefix)+32 {
		return false
	}
	for _, c := range s[len(DIDPrefix):] {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// CheckDID returns an Invalid error unless d is a did:cc identifier; field
// names d in the message.
func CheckDID(op, field string, d DID) error {
	if !d.Valid() {
		return Errorf(op, Invalid, "%s %q is not a did:cc identifier", field, Echo(string(d)))
	}
	return nil
}

// KV is the deterministic application state a transaction reads and writes.
// Keys are printable strings with '/'-separated segments; values are opaque
// bytes (carechain stores canonical JSON). Iterate visits keys in ascending
// byte order and stops early when fn returns false. Implementations must be
// deterministic; errors from Get and Iterate are Internal (I/O) failures.
type KV interface {
	Get(key string) ([]byte, error) // nil, nil when absent
	Set(key string, value []byte)
	Delete(key string)
	Iterate(prefix string, fn func(key string, value []byte) bool) error
}

// Reader is the read half of KV.
type Reader interface {
	Get(key string) ([]byte, error)
	Iterate(prefix string, fn func(key string, value []byte) bool) error
}

// TxContext is everything a state transition may know about the transaction
// it applies and the block it is in. Time is the block header's time, never
// the wall clock.
type TxContext struct {
	ChainID  string
	Height   int64
	Time     time.Time
	Signer   DID
	Sequence uint64
	Type     string
	TxHash   []byte
	// Check is true during CheckTx (mempool admission): a transition should
	// validate fully but its writes are discarded after the block commits.
	Check bool
}

// Event is an indexed fact a transaction emits, carried in the ABCI result.
// Attributes must be in a deterministic order.
type Event struct {
	Type       string      `json:"type"`
	Attributes []Attribute `json:"attributes"`
}

// Attribute is one key/value of an Event.
type Attribute struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// NewEvent returns an Event of type typ whose attributes are the
// alternating keys and values kvs, in the order given (an odd last key is
// dropped).
func NewEvent(typ string, kvs ...string) Event {
	e := Event{Type: typ, Attributes: make([]Attribute, 0, len(kvs)/2)}
	for i := 0; i+1 < len(kvs); i += 2 {
		e.Attributes = append(e.Attributes, Attribute{Key: kvs[i], Value: kvs[i+1]})
	}
	return e
}

// ValidatorUpdate changes the voting power of a validator (0 removes it).
// PubKey is the raw 32-byte Ed25519 key.
type ValidatorUpdate struct {
	PubKey []byte `json:"pub_key"`
	Power  int64  `json:"power"`
}

// Result is what a successful state transition reports back.
type Result struct {
	Events     []Event
	Validators []ValidatorUpdate
	Data       []byte // returned to the submitter, e.g. a created id
	// SameFor, set by a handler in CheckTx (ctx.Check) only, vouches that
	// FinalizeBlock would make exactly this execution's writes and result
	// for any block time in the window, the rest of the context (chain,
	// height, signer, sequence, hash) and every value read being the same:
	// the handler compared ctx.Time only with instants that fall on the
	// same side of every time in the window, wrote no time, and wrote
	// nothing else because of ctx.Check. The ledger may then reuse the
	// admission (see ledger.Config.TimeFree, which makes that claim for
	// every transaction of a type). The zero window claims nothing.
	SameFor TimeWindow
}

// TimeWindow is the half-open interval [From, Until) of block times; the
// zero value is empty.
type TimeWindow struct{ From, Until time.Time }

// Contains reports whether t is in w.
func (w TimeWindow) Contains(t time.Time) bool { return !t.Before(w.From) && t.Before(w.Until) }

// ResultData marshals v with encoding/json for a Result's Data (a
// JSONAppender encodes itself: the same bytes); a failure is an Internal
// error of op.
func ResultData(op string, v any) ([]byte, error) {
	return marshalJSON(op, v, 128)
}

// marshalJSON is json.Marshal(v), a failure an Internal error of op; a
// JSONAppender (not a nil pointer) appends the same bytes itself into a
// buffer of room bytes.
func marshalJSON(op string, v any, room int) ([]byte, error) {
	if a, ok := v.(JSONAppender); ok && !nilPointer(v) {
		return a.AppendJSON(make([]byte, 0, room)), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, E(op, Internal, err)
	}
	return b, nil
}

// GetJSON reads key and unmarshals it into v. It reports whether the key
// existed; a value that does not decode is an Internal error.
func GetJSON(kv Reader, key string, v any) (bool, error) {
	b, err := kv.Get(key)
	if err != nil {
		return false, E("state.get", Internal, err)
	}
	if b == nil {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, E("state.get", Internal, err)
	}
	return true, nil
}

// IterateJSON unmarshals every value under prefix, in key order, into a T
// and passes it to fn, stopping early when fn returns false. A value that
// does not decode, or a failing read, is an Internal error of op.
func IterateJSON[T any](op string, kv Reader, prefix string, fn func(T) bool) error {
	var decodeErr error
	err := kv.Iterate(prefix, func(_ string, value []byte) bool {
		var v T
		if err := json.Unmarshal(value, &v); err != nil {
			decodeErr = E(op, Internal, err)
			return false
		}
		return fn(v)
	})
	if err != nil {
		return E(op, Internal, err)
	}
	return decodeErr
}

// SetJSON marshals v with encoding/json (structs in field order, maps with
// sorted keys: deterministic) and writes it to key. A JSONAppender encodes
// itself (the same bytes, without reflection).
func SetJSON(kv KV, key string, v any) error {
	b, err := marshalJSON("state.set", v, 256)
	if err != nil {
		return err
	}
	SetOwned(kv, key, b)
	return nil
}

// sharedSetter is a KV that can take a value without copying it.
type sharedSetter interface {
	SetShared(key string, value []byte)
}

// SetOwned is kv.Set(key, value) without the copy when kv can take the
// value as it is (a store overlay's SetShared). The caller gives value
// up: neither it nor anyone else may modify it afterwards — a freshly
// encoded value, or a constant shared by every write of it.
func SetOwned(kv KV, key string, value []byte) {
	if o, ok := kv.(sharedSetter); ok {
		o.SetShared(key, value)
		return
	}
	kv.Set(key, value)
}

// Handler applies one transaction type's payload to the state. It must be
// deterministic: everything it may use is in ctx, kv and payload. On error
// the ledger discards every write the handler made.
type Handler func(ctx TxContext, kv KV, payload json.RawMessage) (Result, error)

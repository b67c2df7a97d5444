package carechain

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies an Error. Kinds are append-only: a Kind's number is its ABCI
// code and is part of the consensus protocol, so never renumber or remove one.
type Kind uint32

// The kinds of error. The zero value is never used as an error kind, because
// ABCI code 0 means success.
const (
	Other              Kind = iota + 1 // unclassified error
	Invalid                            // well-formed input whose content breaks a rule
	Malformed                          // input that cannot be decoded (bad JSON, bad base64)
	NonCanonical                       // a transaction body that is not RFC 8785 canonical JSON
	TooLarge                           // input over a size limit
	WrongChain                         // transaction for another chain id
	BadSignature                       // signature does not verify against the signer's key
	SequenceReplay                     // sequence already used (a replayed transaction)
	SequenceGap                        // sequence ahead of the signer's next sequence
	UnknownType                        // unknown transaction type or query path
	Unauthorized                       // the signer may not do this
	NotFound                           // no such thing, or not visible to the caller
	Conflict                           // already exists, or conflicts with current state
	FailedPrecondition                 // state does not allow it yet (threshold, delay, expiry)
	Internal                           // a bug or an I/O failure; details go to the log only
	UnknownSigner                      // the signer DID is not on the ledger
	Gone                               // existed once, erased or deactivated
	Integrity                          // stored data does not match its commitment
	Unavailable                        // the node cannot take it now (mempool full, stopping, catching up); retry
)

var kindNames = map[Kind]string{
	Other:              "other",
	Invalid:            "invalid",
	Malformed:          "malformed",
	NonCanonical:       "non_canonical",
	TooLarge:           "too_large",
	WrongChain:         "wrong_chain",
	BadSignature:       "bad_signature",
	SequenceReplay:     "sequence_replay",
	SequenceGap:        "sequence_gap",
	UnknownType:        "unknown_type",
	Unauthorized:       "unauthorized",
	NotFound:           "not_found",
	Conflict:           "conflict",
	FailedPrecondition: "failed_precondition",
	Internal:           "internal",
	UnknownSigner:      "unknown_signer",
	Gone:               "gone",
	Integrity:          "integrity",
	Unavailable:        "unavailable",
}

// String returns the kind's stable snake_case name, used in JSON problems.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind_%d", uint32(k))
}

// Code returns the ABCI response code for the kind (never 0).
func (k Kind) Code() uint32 { return uint32(k) }

// KindFromCode is the inverse of Kind.Code; unknown codes map to Other.
func KindFromCode(code uint32) Kind {
	if _, ok := kindNames[Kind(code)]; ok {
		return Kind(code)
	}
	return Other
}

// Error is carechain's one error type, in the style of Upspin: an operation,
// a kind and a message or wrapped error. Its text is safe to show a user;
// Internal errors carry no detail in Error() (use Unwrap for logs).
type Error struct {
	Op   string // the operation, e.g. "did.rotate" or "store.Commit"
	Kind Kind
	Msg  string // a user-facing explanation
	Err  error  // the underlying error, if any
}

// E builds an *Error. Arguments are interpreted by type: string is the Op,
// Kind the kind, error the wrapped error. Use Errorf for a message.
func E(args ...any) error {
	e := &Error{}
	for _, a := range args {
		switch v := a.(type) {
		case string:
			e.Op = v
		case Kind:
			e.Kind = v
		case error:
			e.Err = v
		}
	}
	if e.Kind == 0 {
		var inner *Error
		if errors.As(e.Err, &inner) {
			e.Kind = inner.Kind
		} else {
			e.Kind = Other
		}
	}
	return e
}

// Errorf builds an *Error with a formatted user-facing message.
func Errorf(op string, kind Kind, format string, args ...any) error {
	return &Error{Op: op, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Error renders "op: kind: message".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.Kind.String())
	switch {
	case e.Msg != "":
		b.WriteString(": ")
		b.WriteString(e.Msg)
	case e.Err != nil && e.Kind != Internal:
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the wrapped error.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err: the outermost *Error's kind, Internal for a
// non-nil error that is not an *Error, and 0 for nil.
func KindOf(err error) Kind {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err is an *Error of kind k.
func Is(k Kind, err error) bool { return err != nil && KindOf(err) == k }

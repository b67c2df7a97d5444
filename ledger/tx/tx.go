// Package tx defines carechain's signed transaction envelope: a canonical
// JSON body (RFC 8785), the signer's DID and an Ed25519 signature over a
// domain-separated prefix, the signer and the body. It is pure: decoding and
// verification use no clock, randomness or I/O.
package tx

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"unicode/utf8"

	cc "carechain"
	"carechain/internal/signature"
)

// MaxTxBytes is the largest transaction the ledger accepts: 1 MiB, as
// CometBFT's mempool max_tx_bytes, so a batch of record anchors or of
// logged reads fits one transaction. Payload decoders bound their own lists.
const MaxTxBytes = 1 << 20

// SignPrefix separates carechain transaction signatures from every other use
// of a key. The signed bytes are SignPrefix + signer + "\n" + body.
const SignPrefix = "carechain-tx-v1\n"

// Body is the signed part of a transaction.
type Body struct {
	ChainID  string          `json:"chain_id"`
	Type     string          `json:"type"`
	Sequence uint64          `json:"sequence"`
	Payload  json.RawMessage `json:"payload"`
}

// Envelope is the wire form: {"body":{…},"signer":"did:cc:…","sig":"…"}.
// Body holds the exact canonical bytes that were signed.
type Envelope struct {
	Body   json.RawMessage `json:"body"`
	Signer cc.DID          `json:"signer"`
	Sig    string          `json:"sig"` // base64url, no padding
}

// Tx is a decoded transaction whose envelope is well formed and whose body is
// canonical. Its signature is not yet verified (see Verify). Its fields are
// never modified once decoded; only the note of which key its signature
// verified under (VerifyCached, VerifyBatch) is set, once, atomically.
type Tx struct {
	Body      Body
	BodyBytes []byte // canonical body
	Signer    cc.DID
	Sig       []byte
	Hash      []byte // sha256 of the raw transaction, as CometBFT hashes it
	Raw       []byte

	verified atomic.Pointer[[ed25519.PublicKeySize]byte] // see VerifiedBy
}

// Hash returns the transaction hash of raw bytes (sha256, as CometBFT).
func Hash(raw []byte) []byte {
	h := sha256.Sum256(raw)
	return h[:]
}

// Decode parses raw into a Tx. It checks the size limit, the envelope
// shape, that the body is canonical JSON and that the signer is a did:cc.
// Every failure is an *carechain.Error with a specific Kind.
func Decode(raw []byte) (*Tx, error) { return DecodeHashed(raw, Hash(raw)) }

// DecodeHashed is Decode for a caller that already has hash = Hash(raw).
// A transaction in exactly the form Encode writes (no whitespace, fields in
// order, a canonical body with its four fields) is split by one byte scan
// (splitEncoded); anything else goes through encoding/json and jcs, which
// also word every error. Both give the same Tx for the same bytes.
func DecodeHashed(raw, hash []byte) (*Tx, error) {
	const op = "tx.decode"
	if len(raw) > MaxTxBytes {
		return nil, cc.Errorf(op, cc.TooLarge, "transaction is %d bytes, limit %d", len(raw), MaxTxBytes)
	}
	env, body, ok := splitEncoded(raw)
	if !ok {
		var err error
		if env, body, err = decodeJSON(raw); err != nil {
			return nil, err
		}
	}
	if body.ChainID == "" || body.Type == "" {
		return nil, cc.Errorf(op, cc.Malformed, "body needs chain_id and type")
	}
	if len(body.Payload) == 0 || body.Payload[0] != '{' {
		return nil, cc.Errorf(op, cc.Malformed, "payload must be a JSON object")
	}
	if !env.Signer.Valid() {
		return nil, cc.Errorf(op, cc.Malformed, "signer %q is not a did:cc identifier", env.Signer)
	}
	sig, err := base64.RawURLEncoding.DecodeString(env.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, cc.Errorf(op, cc.Malformed, "sig must be a base64url Ed25519 signature")
	}
	return &Tx{Body: body, BodyBytes: env.Body, Signer: env.Signer, Sig: sig, Hash: hash, Raw: raw}, nil
}

// decodeJSON is the general path of DecodeHashed: a strict encoding/json
// decode of the envelope, the RFC 8785 check of the body and a strict
// decode of the body.
func decodeJSON(raw []byte) (Envelope, Body, error) {
	const op = "tx.decode"
	var env Envelope
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return env, Body{}, cc.Errorf(op, cc.Malformed, "envelope is not valid JSON: %v", err)
	}
	if dec.More() {
		return env, Body{}, cc.Errorf(op, cc.Malformed, "trailing data after envelope")
	}
	if len(env.Body) == 0 || env.Body[0] != '{' {
		return env, Body{}, cc.Errorf(op, cc.Malformed, "body must be a JSON object")
	}
	canon, err := cc.Canonical(env.Body)
	if err != nil {
		return env, Body{}, cc.Errorf(op, cc.Malformed, "body is not valid JSON: %v", err)
	}
	if !bytes.Equal(canon, env.Body) {
		return env, Body{}, cc.Errorf(op, cc.NonCanonical, "body is not RFC 8785 canonical JSON")
	}
	var body Body
	bdec := json.NewDecoder(bytes.NewReader(canon))
	bdec.DisallowUnknownFields()
	if err := bdec.Decode(&body); err != nil {
		return env, Body{}, cc.Errorf(op, cc.Malformed, "body: %v", err)
	}
	return env, body, nil
}

// splitEncoded decodes raw when it is exactly
//
//	{"body":{"chain_id":"…","payload":{…},"sequence":N,"type":"…"},"signer":"…","sig":"…"}
//
// with a body cc.IsCanonical judges canonical, strings without escapes and
// a sequence of plain digits: then encoding/json would decode the same
// fields from it. ok is false for anything else (decodeJSON decides).
func splitEncoded(raw []byte) (env Envelope, body Body, ok bool) {
	const (
		pBody    = `{"body":`
		pChain   = `{"chain_id":"`
		pPayload = `","payload":`
		pSeq     = `,"sequence":`
		pType    = `,"type":"`
		pSigner  = `},"signer":"`
		pSig     = `","sig":"`
	)
	rest, found := bytes.CutPrefix(raw, []byte(pBody))
	if !found {
		return env, body, false
	}
	end, canonical := cc.CanonicalValue(rest, 0)
	if !canonical || !bytes.HasPrefix(rest, []byte(pChain)) {
		return env, body, false
	}
	env.Body, rest = rest[:end], rest[end-1:] // rest starts at the body's closing brace
	b := env.Body[len(pChain):]
	var s string
	if s, b, ok = plainString(b); !ok {
		return env, body, false
	}
	body.ChainID = s
	if b, ok = bytes.CutPrefix(b, []byte(pPayload[1:])); !ok || len(b) == 0 || b[0] != '{' {
		return env, body, false
	}
	pend, _ := cc.CanonicalValue(b, 0) // within a canonical body
	body.Payload, b = json.RawMessage(b[:pend]), b[pend:]
	if b, ok = bytes.CutPrefix(b, []byte(pSeq)); !ok {
		return env, body, false
	}
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	seq, err := strconv.ParseUint(string(b[:n]), 10, 64)
	if n == 0 || err != nil {
		return env, body, false
	}
	body.Sequence = seq
	if b, ok = bytes.CutPrefix(b[n:], []byte(pType)); !ok {
		return env, body, false
	}
	if s, b, ok = plainString(b); !ok || string(b) != "}" {
		return env, body, false
	}
	body.Type = s
	if rest, ok = bytes.CutPrefix(rest, []byte(pSigner)); !ok {
		return env, body, false
	}
	if s, rest, ok = plainString(rest); !ok {
		return env, body, false
	}
	env.Signer = cc.DID(s)
	if rest, ok = bytes.CutPrefix(rest, []byte(pSig[1:])); !ok {
		return env, body, false
	}
	if s, rest, ok = plainString(rest); !ok || string(rest) != "}" {
		return env, body, false
	}
	env.Sig = s
	return env, body, true
}

// plainString returns the string up to the next '"' in b and what follows
// that quote, when the string is printable ASCII without escapes: what
// encoding/json decodes to the same bytes.
func plainString(b []byte) (string, []byte, bool) {
	for i, c := range b {
		switch {
		case c == '"':
			return string(b[:i]), b[i+1:], true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return "", nil, false
		}
	}
	return "", nil, false
}

// SignBytes returns the bytes a signer signs for body.
func SignBytes(signer cc.DID, canonicalBody []byte) []byte {
	return appendSignBytes(make([]byte, 0, len(SignPrefix)+len(signer)+1+len(canonicalBody)), signer, canonicalBody)
}

// appendSignBytes appends SignBytes(signer, canonicalBody) to b.
func appendSignBytes(b []byte, signer cc.DID, canonicalBody []byte) []byte {
	b = append(b, SignPrefix...)
	b = append(b, signer...)
	b = append(b, '\n')
	return append(b, canonicalBody...)
}

// SignBytes returns the bytes t's signature covers.
func (t *Tx) SignBytes() []byte { return SignBytes(t.Signer, t.BodyBytes) }

// Build signs a transaction of type typ with payload (any JSON-marshalable
// value) for signer at sequence, and returns its wire bytes.
func Build(chainID string, signer cc.DID, key ed25519.PrivateKey, seq uint64, typ string, payload any) ([]byte, error) {
	p, err := NewPayload(payload)
	if err != nil {
		return nil, err
	}
	return BuildPayload(chainID, signer, key, seq, typ, p)
}

// Payload is a transaction payload already in canonical form (RFC 8785),
// made by NewPayload. Canonicalizing a large payload (a 500-event supply
// capture: ~270 KB) is most of Build's work; a caller that numbers its
// transactions under a lock does it before taking the lock and signs with
// BuildPayload under it.
type Payload struct{ canon []byte }

// Bytes returns the canonical payload; the caller must not modify it.
func (p Payload) Bytes() []byte { return p.canon }

// NewPayload returns payload in canonical form, or an Invalid error if it
// does not encode as JSON.
func NewPayload(payload any) (Payload, error) {
	p, err := json.Marshal(payload)
	if err != nil {
		return Payload{}, cc.E("tx.build", cc.Invalid, err)
	}
	canon, err := cc.Canonical(p)
	if err != nil {
		return Payload{}, cc.E("tx.build", cc.Invalid, err)
	}
	return Payload{canon: canon}, nil
}

// BuildPayload is Build of a payload NewPayload made (Build is NewPayload
// and BuildPayload): the canonical body is assembled around the payload
// instead of canonicalizing the payload again.
func BuildPayload(chainID string, signer cc.DID, key ed25519.PrivateKey, seq uint64, typ string, payload Payload) ([]byte, error) {
	if payload.canon == nil {
		return nil, cc.Errorf("tx.build", cc.Invalid, "no payload: make it with NewPayload")
	}
	var body []byte
	// RFC 8785 writes numbers as IEEE doubles: a sequence beyond 2^53 is
	// written as canonicalizing makes it (and then decodes differently).
	if !Plain(chainID) || !Plain(typ) || seq > 1<<53 {
		b, err := json.Marshal(Body{ChainID: chainID, Type: typ, Sequence: seq, Payload: payload.canon})
		if err != nil {
			return nil, cc.E("tx.build", cc.Invalid, err)
		}
		if body, err = cc.Canonical(b); err != nil {
			return nil, cc.E("tx.build", cc.Invalid, err)
		}
		return Encode(body, signer, signature.Sign(key, SignBytes(signer, body)))
	}
	// RFC 8785 orders the members chain_id, payload, sequence, type; plain
	// strings are written as themselves.
	body = make([]byte, 0, len(payload.canon)+len(chainID)+len(typ)+64)
	body = append(body, `{"chain_id":"`...)
	body = append(body, chainID...)
	body = append(body, `","payload":`...)
	body = append(body, payload.canon...)
	body = append(body, `,"sequence":`...)
	body = strconv.AppendUint(body, seq, 10)
	body = append(body, `,"type":"`...)
	body = append(body, typ...)
	body = append(body, `"}`...)
	sig := signature.Sign(key, SignBytes(signer, body))
	return Encode(body, signer, sig)
}

// Encode writes the envelope of a signed canonical body. It does not escape
// HTML characters, so the body's bytes are carried exactly as signed.
func Encode(canonicalBody []byte, signer cc.DID, sig []byte) ([]byte, error) {
	s := base64.RawURLEncoding.EncodeToString(sig)
	if Plain(string(signer)) && cc.IsCanonical(canonicalBody) {
		// What the encoder below writes for a canonical body (which has
		// nothing to compact) and a signer that needs no escape; base64url
		// never does.
		b := make([]byte, 0, len(canonicalBody)+len(signer)+len(s)+30)
		b = append(b, `{"body":`...)
		b = append(b, canonicalBody...)
		b = append(b, `,"signer":"`...)
		b = append(b, signer...)
		b = append(b, `","sig":"`...)
		b = append(b, s...)
		return append(b, `"}`...), nil
	}
	return encodeEnvelope(canonicalBody, signer, s)
}

// Plain reports whether s is written as itself between quotes by both
// encoding/json and RFC 8785: printable ASCII other than '"', '\\' and the
// characters encoding/json escapes for HTML ('<', '>', '&').
func Plain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// encodeEnvelope is Encode by encoding/json, for any body and signer.
func encodeEnvelope(canonicalBody []byte, signer cc.DID, sig string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(Envelope{Body: canonicalBody, Signer: signer, Sig: sig}); err != nil {
		return nil, cc.E("tx.encode", cc.Invalid, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

var didEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// DeriveDID returns the did:cc identifier for an initial Ed25519 public key:
// the lowercase base32 of the first 20 bytes of sha256("carechain-did-v1" ‖ key).
func DeriveDID(pub ed25519.PublicKey) cc.DID {
	// On the stack but for the result: every admission of a new DID derives
	// it two or three times.
	var in [len(didDomain) + ed25519.PublicKeySize]byte
	sum := sha256.Sum256(append(append(in[:0], didDomain...), pub...))
	var out [32]byte // base32 of 20 bytes, unpadded
	didEncoding.Encode(out[:], sum[:20])
	return cc.DID(cc.DIDPrefix + string(out[:]))
}

// didDomain separates DeriveDID's hash from any other use of SHA-256.
const didDomain = "carechain-did-v1"

// DecodeKey decodes a base64url (unpadded) Ed25519 public key.
func DecodeKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key must be 32 bytes of base64url")
	}
	return ed25519.PublicKey(b), nil
}

// EncodeKey encodes an Ed25519 public key as base64url without padding.
func EncodeKey(pub ed25519.PublicKey) string { return base64.RawURLEncoding.EncodeToString(pub) }

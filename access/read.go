package access

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"time"

	cc "carechain"
	"carechain/identity"
	"carechain/internal/signature"
	"carechain/records"
)

// ReadPrefix separates read-request signatures from every other use of a
// key (transactions use "carechain-tx-v1\n"). The signed bytes are
// ReadPrefix + requester + "\n" + the RFC 8785 canonical JSON of the
// ReadRequest; see ReadSignBytes.
const ReadPrefix = "carechain-read-v1\n"

// The actions a read request may ask for.
const (
	ActionRead   = "read"   // read records by id
	ActionSearch = "search" // search the patient's records
	ActionExport = "export" // export the patient's records
)

// Limits of read requests.
const (
	// MaxRequestBytes is the largest canonical read request.
	MaxRequestBytes = 16 << 10
	// MaxReadRecords is the most record ids one read request may name.
	MaxReadRecords = 200
	// MaxQueryLen is the longest search query, in bytes.
	MaxQueryLen = 2048
	// MaxPurposeLen is the longest purpose code, in bytes.
	MaxPurposeLen = 64
	// MinNonceLen and MaxNonceLen bound the nonce, in bytes.
	MinNonceLen, MaxNonceLen = 16, 128
	// MaxChainIDLen is the longest chain id, in bytes.
	MaxChainIDLen = 64
)

// ReadRequest is what a requester signs, with their DID's current key,
// before reading a patient's data. The gatekeeper logs it on-chain with the
// access event, so neither the reader nor the custodian can later deny the
// read.
//
// Org is an addition to the original design: the organization the
// requester acts for. When given, the requester must be a member of it,
// only that membership counts for the decision and the event names it;
// when empty, every membership of an active organization counts.
type ReadRequest struct {
	ChainID   string    `json:"chain_id"`
	Requester cc.DID    `json:"requester"`
	Patient   cc.DID    `json:"patient"`
	Action    string    `json:"action"`            // read | search | export
	Purpose   string    `json:"purpose"`           // HL7 v3 PurposeOfUse code, e.g. TREAT, ETREAT
	Records   []string  `json:"records,omitempty"` // for reads by id: 1..MaxReadRecords record ids
	Query     string    `json:"query,omitempty"`   // for searches: the search as a URL query string
	Org       string    `json:"org,omitempty"`     // the organization the requester acts for (optional)
	Issued    time.Time `json:"issued"`            // the gatekeeper accepts it within ReadWindow of the block time
	Nonce     string    `json:"nonce"`             // MinNonceLen..MaxNonceLen printable characters
}

// SignedRead is a ReadRequest with its signature, as the requester sends it
// and as the access log carries it.
type SignedRead struct {
	Request json.RawMessage `json:"request"` // the canonical bytes that were signed
	Sig     string          `json:"sig"`     // base64url (unpadded) Ed25519 signature
}

// ReadSignBytes returns the bytes a requester signs for the canonical
// request bytes.
func ReadSignBytes(requester cc.DID, canonicalRequest []byte) []byte {
	return signBytes(ReadPrefix, requester, canonicalRequest)
}

// SignRead signs r with key (the requester's current key) and returns the
// signed read. r must be a valid request (see VerifyRead's rules;
// cc.Invalid otherwise).
func SignRead(r ReadRequest, key ed25519.PrivateKey) (SignedRead, error) {
	const op = "access.sign_read"
	if err := checkRequest(op, &r); err != nil {
		return SignedRead{}, err
	}
	return signCanonical(op, ReadPrefix, r.Requester, r, key)
}

// VerifyRead checks a signed read against the state and returns the
// request and its hash, the SHA-256 of ReadSignBytes (what the access event
// records and what replay detection keys on).
//
// The request must be at most MaxRequestBytes (cc.TooLarge) of RFC 8785
// canonical JSON (cc.NonCanonical) decoding strictly into a ReadRequest
// (cc.Malformed) that follows the rules of checkRequest (cc.Invalid); the
// signature must be base64url of 64 bytes (cc.Malformed) and verify with
// the requester's current key (cc.BadSignature); a requester not on the
// ledger is cc.UnknownSigner. Chain id and freshness are the caller's to
// check against its own chain and clock.
//
// The checks of the request bytes are remembered (parseRead) and so is a
// signature that verified (verifySignature); the requester's key is read
// from kv on every call. The returned request and hash are the caller's.
func VerifyRead(kv cc.Reader, s SignedRead) (*ReadRequest, []byte, error) {
	p := parseRead(s.Request)
	if err := p.verify(kv, s.Sig); err != nil {
		return nil, nil, err
	}
	r := *p.req
	r.Records = slices.Clone(r.Records)
	return &r, slices.Clone(p.hash), nil
}

// signCanonical signs the RFC 8785 canonical JSON of v for signer under
// prefix (the bytes signed are prefix + signer + "\n" + canonical JSON).
func signCanonical(op, prefix string, signer cc.DID, v any, key ed25519.PrivateKey) (SignedRead, error) {
	if len(key) != ed25519.PrivateKeySize {
		return SignedRead{}, cc.Errorf(op, cc.Invalid, "key must be an Ed25519 private key")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return SignedRead{}, cc.E(op, cc.Invalid, err)
	}
	canon, err := cc.Canonical(b)
	if err != nil {
		return SignedRead{}, cc.E(op, cc.Invalid, err)
	}
	sig := signature.Sign(key, signBytes(prefix, signer, canon))
	return SignedRead{Request: canon, Sig: base64.RawURLEncoding.EncodeToString(sig)}, nil
}

// signBytes returns prefix + signer + "\n" + canonical.
func signBytes(prefix string, signer cc.DID, canonical []byte) []byte {
	b := make([]byte, 0, len(prefix)+len(signer)+1+len(canonical))
	b = append(b, prefix...)
	b = append(b, signer...)
	b = append(b, '\n')
	return append(b, canonical...)
}

// verifyCanonical decodes s.Request strictly into v (a pointer), then
// check returns the signer and the request's own rule check; the signature
// must verify under prefix with the signer's current key. It returns the
// SHA-256 of the signed bytes. Errors as VerifyRead documents.
func verifyCanonical(op string, kv cc.Reader, prefix string, s SignedRead, v any, check func() (cc.DID, error)) ([]byte, error) {
	signer, msg, err := parseCanonical(op, prefix, s.Request, v, check)
	if err != nil {
		return nil, err
	}
	if err := verifySigned(op, kv, signer, msg, s.Sig); err != nil {
		return nil, err
	}
	h := sha256.Sum256(msg)
	return h[:], nil
}

// parseCanonical is the part of verifyCanonical that depends on the
// request bytes only: it checks that request is at most MaxRequestBytes of
// canonical JSON, decodes it strictly into v, runs check and returns the
// signer and the signed bytes (prefix + signer + "\n" + request).
func parseCanonical(op, prefix string, request []byte, v any, check func() (cc.DID, error)) (cc.DID, []byte, error) {
	if len(request) > MaxRequestBytes {
		return "", nil, cc.Errorf(op, cc.TooLarge, "request is %d bytes, limit %d", len(request), MaxRequestBytes)
	}
	if len(request) == 0 || request[0] != '{' {
		return "", nil, cc.Errorf(op, cc.Malformed, "request must be a JSON object")
	}
	canon, err := cc.Canonical(request)
	if err != nil {
		return "", nil, cc.Errorf(op, cc.Malformed, "request is not valid JSON")
	}
	if !bytes.Equal(canon, request) {
		return "", nil, cc.Errorf(op, cc.NonCanonical, "request is not RFC 8785 canonical JSON")
	}
	if err := decodeObject(op, "request", canon, v); err != nil {
		return "", nil, err
	}
	signer, err := check()
	if err != nil {
		return "", nil, err
	}
	return signer, signBytes(prefix, signer, canon), nil
}

// verifySigned is the part of verifyCanonical that depends on the state
// and the signature: sig must be a base64url Ed25519 signature of msg by
// signer's current key in kv (verifySignature).
func verifySigned(op string, kv cc.Reader, signer cc.DID, msg []byte, sig string) error {
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return cc.Errorf(op, cc.Malformed, "sig must be a base64url Ed25519 signature")
	}
	rec, err := identity.GetDID(kv, signer)
	if cc.Is(cc.NotFound, err) {
		return cc.Errorf(op, cc.UnknownSigner, "%s is not on the ledger", signer)
	}
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if !verifySignature(rec.PublicKey, msg, raw) {
		return cc.Errorf(op, cc.BadSignature, "signature does not verify for %s", signer)
	}
	return nil
}

// checkRequest enforces a read request's rules (cc.Invalid): a chain id;
// requester and patient DIDs (a search may name no patient: a patient
// lookup); a known action; a purpose code of 1..
// MaxPurposeLen letters, digits and ".-_:"; for read 1..MaxReadRecords
// distinct record ids and no query, for search a query of 1..MaxQueryLen
// printable characters and no ids, for export optional ids and query;
// an optional organization slug; an issued time; and a nonce of
// MinNonceLen..MaxNonceLen printable characters without spaces.
func checkRequest(op string, r *ReadRequest) error {
	bad := func(format string, args ...any) error { return cc.Errorf(op, cc.Invalid, format, args...) }
	if !printable(r.ChainID, MaxChainIDLen, false) {
		return bad("chain_id must be 1 to %d printable characters", MaxChainIDLen)
	}
	if err := cc.CheckDID(op, "requester", r.Requester); err != nil {
		return err
	}
	// A search may name no patient: a lookup of a Patient by identifier,
	// whose event is the found patient's (see the access log's rules).
	if r.Patient != "" || r.Action != ActionSearch {
		if err := cc.CheckDID(op, "patient", r.Patient); err != nil {
			return err
		}
	}
	if !validPurpose(r.Purpose) {
		return bad("purpose %q must be 1 to %d letters, digits or \".-_:\"", cc.Echo(r.Purpose), MaxPurposeLen)
	}
	switch r.Action {
	case ActionRead:
		if len(r.Records) == 0 || r.Query != "" {
			return bad("a read names 1 to %d records and no query", MaxReadRecords)
		}
	case ActionSearch:
		if r.Query == "" || len(r.Records) > 0 {
			return bad("a search has a query and names no records")
		}
	case ActionExport:
	default:
		return bad("action %q must be read, search or export", cc.Echo(r.Action))
	}
	if len(r.Records) > MaxReadRecords {
		return bad("a request names at most %d records", MaxReadRecords)
	}
	seen := make(map[string]bool, len(r.Records))
	for i, id := range r.Records {
		if !records.ValidID(id) {
			return bad("records[%d] %q is not a record id", i, cc.Echo(id))
		}
		if seen[id] {
			return bad("records[%d] %s is listed twice", i, id)
		}
		seen[id] = true
	}
	if r.Query != "" && !printable(r.Query, MaxQueryLen, false) {
		return bad("query must be 1 to %d printable characters without spaces (URL-encoded)", MaxQueryLen)
	}
	if r.Org != "" && !cc.ValidOrgID(r.Org) {
		return bad("org %q must be an organization id", cc.Echo(r.Org))
	}
	if r.Issued.IsZero() {
		return bad("issued is required")
	}
	if !printable(r.Nonce, MaxNonceLen, false) || len(r.Nonce) < MinNonceLen {
		return bad("nonce must be %d to %d printable characters without spaces", MinNonceLen, MaxNonceLen)
	}
	return nil
}

// validPurpose reports whether s is 1..MaxPurposeLen letters, digits or
// ".-_:".
func validPurpose(s string) bool {
	if len(s) == 0 || len(s) > MaxPurposeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == ':') {
			return false
		}
	}
	return true
}

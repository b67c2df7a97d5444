package access

import (
	"encoding/base64"
	"net/url"
	"strings"

	cc "carechain"
)

// The HTTP headers that carry signed requests: a read (GET /fhir…) in
// HeaderRead, a write (POST /fhir…) in HeaderWrite, each as
// SignedRead.Header renders it.
const (
	HeaderRead  = "Carechain-Read"
	HeaderWrite = "Carechain-Write"
)

// Header renders s for an HTTP header: base64url (unpadded) of the
// canonical request, a dot, and the base64url signature.
func (s SignedRead) Header() string {
	return base64.RawURLEncoding.EncodeToString(s.Request) + "." + s.Sig
}

// ParseHeader parses a header value that Header rendered (cc.Malformed
// otherwise, cc.TooLarge over the request limit). The signature is not
// checked here: use VerifyRead or VerifyWrite.
func ParseHeader(v string) (SignedRead, error) {
	const op = "access.header"
	req, sig, ok := strings.Cut(strings.TrimSpace(v), ".")
	if !ok || req == "" || sig == "" {
		return SignedRead{}, cc.Errorf(op, cc.Malformed, "a signed request header is base64url(request).base64url(signature)")
	}
	if base64.RawURLEncoding.DecodedLen(len(req)) > MaxRequestBytes {
		return SignedRead{}, cc.Errorf(op, cc.TooLarge, "the signed request is over %d bytes", MaxRequestBytes)
	}
	b, err := base64.RawURLEncoding.DecodeString(req)
	if err != nil {
		return SignedRead{}, cc.Errorf(op, cc.Malformed, "the signed request is not base64url")
	}
	return SignedRead{Request: b, Sig: sig}, nil
}

// SearchQuery returns the ReadRequest.Query a requester signs for GET
// /fhir/{typ}?{v} (action search) or GET /fhir/Patient/{id}/$everything?{v}
// (action export, typ empty): v with _type=typ added when typ is given,
// encoded by url.Values.Encode (keys sorted, values in order).
func SearchQuery(typ string, v url.Values) string {
	c := url.Values{}
	for k, vals := range v {
		c[k] = append([]string(nil), vals...)
	}
	if typ != "" {
		c.Set("_type", typ)
	}
	return c.Encode()
}

package shc

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	cc "carechain"
)

// Payload is the JWT payload of a health card, before DEFLATE.
type Payload struct {
	Iss string      `json:"iss"`
	Nbf json.Number `json:"nbf"` // seconds since the epoch, possibly fractional
	VC  VC          `json:"vc"`
}

// VC is the payload's "vc" claim.
type VC struct {
	Type              []string `json:"type"`
	CredentialSubject Subject  `json:"credentialSubject"`
	RID               string   `json:"rid,omitempty"`
}

// Subject is the credential subject: the FHIR version and the minimized
// Bundle.
type Subject struct {
	FHIRVersion string          `json:"fhirVersion"`
	FHIRBundle  json.RawMessage `json:"fhirBundle"`
}

// NotBefore is the payload's nbf as a time (zero if it is not a number).
func (p *Payload) NotBefore() time.Time {
	f, err := p.Nbf.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// Card is an issued health card in its three forms.
type Card struct {
	JWS  string   `json:"jws"`
	File []byte   `json:"-"`  // the .smart-health-card file
	QR   []string `json:"qr"` // the shc:/ numeric text of each QR code, in order
	RID  string   `json:"rid,omitempty"`
	Kid  string   `json:"kid"`
}

// Sign signs a card: the payload {iss, nbf, vc {type: types, credentialSubject
// {fhirVersion, fhirBundle: bundle}, rid}} as minified JSON, raw DEFLATE,
// compact JWS ES256 with header zip DEF and the issuer's kid. bundle must
// already be minimized (see Minimize). types default to the health-card
// type alone.
func (is *Issuer) Sign(bundle json.RawMessage, nbf time.Time, rid string, types ...string) (*Card, error) {
	const op = "shc.sign"
	if len(types) == 0 {
		types = []string{TypeHealthCard}
	}
	var min bytes.Buffer
	if err := json.Compact(&min, bundle); err != nil {
		return nil, errf(op, cc.Invalid, "the FHIR bundle is not JSON: %v", err)
	}
	p := Payload{Iss: is.URL, Nbf: json.Number(strconv.FormatInt(nbf.Unix(), 10)),
		VC: VC{Type: types, CredentialSubject: Subject{FHIRVersion: FHIRVersion, FHIRBundle: min.Bytes()}, RID: rid}}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	w.Write(raw)
	if err := w.Close(); err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: is.key, KeyID: is.pub.Kid}},
		(&jose.SignerOptions{}).WithHeader("zip", "DEF"))
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	obj, err := signer.Sign(z.Bytes())
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	jws, err := obj.CompactSerialize()
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	qr, err := EncodeQR(jws)
	if err != nil {
		return nil, err
	}
	return &Card{JWS: jws, File: File(jws), QR: qr, RID: rid, Kid: is.pub.Kid}, nil
}

// IssueImmunizations issues a card of a patient's immunizations: the
// Patient resource and the completed Immunizations projected to what the
// SMART Health Cards vaccination profile needs and minimized, with the
// revocation id of subject (the patient's DID), signed at now.
func (is *Issuer) IssueImmunizations(patient json.RawMessage, immunizations []json.RawMessage, subject string, now time.Time) (*Card, error) {
	b, err := ImmunizationBundle(patient, immunizations)
	if err != nil {
		return nil, err
	}
	return is.Sign(b, now, is.RID(subject), TypeHealthCard, TypeImmunization)
}

// fileJSON is a .smart-health-card file.
type fileJSON struct {
	VerifiableCredential []string `json:"verifiableCredential"`
}

// File returns the .smart-health-card file holding jws.
func File(jws ...string) []byte {
	b, _ := json.Marshal(fileJSON{VerifiableCredential: jws})
	return b
}

// MediaType is the media type of a .smart-health-card file.
const MediaType = "application/smart-health-card"

// Extract returns the JWS in input: a .smart-health-card file (JSON), one
// compact JWS, or the shc:/ text of a QR code (every chunk of a chunked
// one, separated by white space, in any order).
func Extract(input []byte) ([]string, error) {
	const op = "shc.read"
	s := strings.TrimSpace(string(input))
	switch {
	case s == "":
		return nil, errf(op, cc.Malformed, "empty input: give a .smart-health-card file, a JWS or shc:/ text")
	case len(s) > 4*MaxJWS:
		return nil, errf(op, cc.TooLarge, "input over %d bytes", 4*MaxJWS)
	case s[0] == '{':
		var f fileJSON
		if err := cc.DecodeStrict(op, "the .smart-health-card file", []byte(s), &f); err != nil {
			return nil, err
		}
		if len(f.VerifiableCredential) == 0 {
			return nil, errf(op, cc.Invalid, "the file's verifiableCredential is empty")
		}
		return f.VerifiableCredential, nil
	case len(s) >= 5 && strings.EqualFold(s[:5], "shc:/"):
		jws, err := DecodeQR(strings.Fields(s)...)
		if err != nil {
			return nil, err
		}
		return []string{jws}, nil
	default:
		if strings.ContainsAny(s, " \t\r\n") {
			return nil, errf(op, cc.Malformed, "a compact JWS has no white space")
		}
		return []string{s}, nil
	}
}

// Identify returns the key id and revocation id of a card without
// verifying it (to name it in a revocation, say).
func Identify(jws string) (kid, rid string, err error) {
	parts := strings.Split(jws, ".")
	bad := errf("shc.identify", cc.Malformed, "not a health card JWS")
	if len(parts) != 3 {
		return "", "", bad
	}
	hb, ok1 := strictB64(parts[0])
	zb, ok2 := strictB64(parts[1])
	if !ok1 || !ok2 {
		return "", "", bad
	}
	var h header
	if json.Unmarshal(hb, &h) != nil || h.Kid == "" {
		return "", "", bad
	}
	raw, err := inflate(zb)
	if err != nil {
		return "", "", bad
	}
	var p Payload
	if json.Unmarshal(raw, &p) != nil {
		return "", "", bad
	}
	if p.VC.RID == "" {
		return "", "", errf("shc.identify", cc.Invalid, "the card has no revocation id (vc.rid)")
	}
	return h.Kid, p.VC.RID, nil
}

// inflate decompresses raw DEFLATE data of at most MaxPayload bytes.
func inflate(b []byte) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(b))
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, MaxPayload+1))
	if err != nil {
		return nil, err
	}
	if len(out) > MaxPayload {
		return nil, errf("shc.inflate", cc.TooLarge, "payload inflates to over %d bytes", MaxPayload)
	}
	return out, nil
}

package fhir

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html"
	"regexp"
	"strings"
	"time"

	cc "carechain"
)

// The identifier systems carechain uses in the FHIR it renders.
const (
	// DIDSystem is the Identifier.system of a carechain DID (patients,
	// practitioners, delegates, organizations' own keys).
	DIDSystem = "urn:carechain:did"
	// OrgSystem is the Identifier.system of a carechain organization id.
	OrgSystem = "urn:carechain:org"
)

// Code systems of the renderings.
const (
	actReasonSystem         = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	participationTypeSystem = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	resourceTypesSystem     = "http://hl7.org/fhir/resource-types"
	carechainActionSystem   = "urn:carechain:action"
	carechainRoleSystem     = "urn:carechain:role"
	xhtmlNamespace          = "http://www.w3.org/1999/xhtml"
)

// The R4 datatypes the renderings are built from. Every optional field is
// omitted when empty, as R4 forbids empty elements (ele-1).
type (
	fCoding struct {
		System  string `json:"system,omitempty"`
		Code    string `json:"code,omitempty"`
		Display string `json:"display,omitempty"`
	}
	fConcept struct {
		Coding []fCoding `json:"coding,omitempty"`
		Text   string    `json:"text,omitempty"`
	}
	fIdentifier struct {
		System string `json:"system,omitempty"`
		Value  string `json:"value,omitempty"`
	}
	fReference struct {
		Reference  string       `json:"reference,omitempty"`
		Type       string       `json:"type,omitempty"`
		Identifier *fIdentifier `json:"identifier,omitempty"`
		Display    string       `json:"display,omitempty"`
	}
	fPeriod struct {
		Start string `json:"start,omitempty"`
		End   string `json:"end,omitempty"`
	}
	fExtension struct {
		URL               string `json:"url"`
		ValueBoolean      *bool  `json:"valueBoolean,omitempty"`
		ValueCode         string `json:"valueCode,omitempty"`
		ValueDecimal      *int64 `json:"valueDecimal,omitempty"`
		ValueString       string `json:"valueString,omitempty"`
		ValueBase64Binary string `json:"valueBase64Binary,omitempty"`
	}
	fNarrative struct {
		Status string `json:"status"`
		Div    string `json:"div"`
	}
	fMeta struct {
		Security []fCoding `json:"security,omitempty"`
	}
)

// heightExtension is a block height as an extension. Heights are 64-bit
// and R4 integers 32-bit, so the value is a decimal (a JSON integer).
func heightExtension(url string, h int64) fExtension {
	return fExtension{URL: url, ValueDecimal: &h}
}

// concept is a CodeableConcept of one coding.
func concept(system, code, display string) fConcept {
	return fConcept{Coding: []fCoding{{System: system, Code: code, Display: display}}}
}

// didRef is a logical reference to a carechain DID.
func didRef(typ string, d cc.DID) fReference {
	return fReference{Type: typ, Identifier: &fIdentifier{System: DIDSystem, Value: string(d)}}
}

// orgRef is a logical reference to a carechain organization.
func orgRef(org string) fReference {
	return fReference{Type: "Organization", Identifier: &fIdentifier{System: OrgSystem, Value: org}}
}

// splitToken reads "system|code" (or a bare code) the way token writes it.
func splitToken(s string) (system, code string) {
	if i := strings.LastIndexByte(s, '|'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "", s
}

// validCode is the R4 code format: no leading, trailing or double
// whitespace, not empty.
var validCode = regexp.MustCompile(`^[^\s]+( [^\s]+)*$`)

// idPattern is the R4 id format.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// SafeID maps any string to a valid R4 logical id ([A-Za-z0-9\-.]{1,64}).
// A string that already is one is returned unchanged, so carechain ids
// ("cns-…", "acc-…") keep their names; any other non-empty string becomes
// its allowed characters (others replaced by '-', cut to 47 bytes), a '-'
// and the first 16 hex digits of its SHA-256, so distinct inputs stay
// distinct. The empty string stays empty.
func SafeID(s string) string {
	if s == "" || idPattern.MatchString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 47; i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' {
			b.WriteByte(c)
		} else {
			b.WriteByte('-')
		}
	}
	sum := sha256.Sum256([]byte(s))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(sum[:8]))
	return b.String()
}

// instant renders t as an R4 instant (and dateTime) in UTC, with as many
// fractional digits as it has, down to the microsecond (the precision of
// google/fhir/go's instants). A time outside the years 1–9999 has no R4
// form and is reported as not ok.
func instant(t time.Time) (string, bool) {
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return "", false
	}
	return t.Truncate(time.Microsecond).Format("2006-01-02T15:04:05.999999Z07:00"), true
}

// renderPeriod renders a carechain Period (a zero bound is open); nil when
// both bounds are open. The R4 Period end is inclusive where carechain's
// is exclusive; the end is rendered as it is, so the period covers at
// most one instant more than carechain does.
func renderPeriod(op, what string, p cc.Period) (*fPeriod, error) {
	var out fPeriod
	var ok bool
	if !p.Start.IsZero() {
		if out.Start, ok = instant(p.Start); !ok {
			return nil, cc.Errorf(op, cc.Invalid, "%s start is out of range", what)
		}
	}
	if !p.End.IsZero() {
		if out.End, ok = instant(p.End); !ok {
			return nil, cc.Errorf(op, cc.Invalid, "%s end is out of range", what)
		}
	}
	if !p.Start.IsZero() && !p.End.IsZero() && p.End.Before(p.Start) {
		return nil, cc.Errorf(op, cc.Invalid, "%s ends before it starts", what) // per-1
	}
	if out == (fPeriod{}) {
		return nil, nil
	}
	return &out, nil
}

// narrative wraps escaped XHTML paragraphs in an R4 generated narrative.
func narrative(body string) *fNarrative {
	return &fNarrative{Status: "generated", Div: `<div xmlns="` + xhtmlNamespace + `">` + body + `</div>`}
}

// esc escapes text for the narrative's XHTML.
func esc(s string) string { return html.EscapeString(s) }

// encode marshals a rendering with encoding/json, without HTML escaping
// (the narratives hold markup) and without a trailing newline. Struct
// fields are written in declaration order, so the same input always gives
// the same bytes.
func encode(op string, doc any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		// Cannot happen: embedded JSON is checked before.
		return nil, cc.E(op, cc.Internal, err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// actReasonDisplay holds the display of the HL7 v3 ActReason codes
// carechain uses as purposes of use (see consent.PurposesOfUse) and BTG.
var actReasonDisplay = map[string]string{
	"BTG":       "break the glass",
	"CAREMGT":   "care management",
	"CLINTRCH":  "clinical trial research",
	"COC":       "coordination of care",
	"DISASTER":  "disaster",
	"ETREAT":    "Emergency Treatment",
	"FAMRQT":    "family requested",
	"HDIRECT":   "directory",
	"HLEGAL":    "legal",
	"HMARKT":    "healthcare marketing",
	"HOPERAT":   "healthcare operations",
	"HOUTCOMS":  "health outcome measure",
	"HPAYMT":    "healthcare payment",
	"HQUALIMP":  "health quality improvement",
	"HRESEARCH": "healthcare research",
	"PATRQT":    "patient requested",
	"POPHLTH":   "population health",
	"PUBHLTH":   "public health",
	"PWATRNY":   "power of attorney",
	"THREAT":    "threat",
	"TREAT":     "treatment",
}

// purposeCoding renders a purpose of use: a bare code is a v3 ActReason
// code; "system|code" keeps its system.
func purposeCoding(op, p string) (fCoding, error) {
	sys, code := splitToken(p)
	if sys == "" {
		sys = actReasonSystem
	}
	if !validCode.MatchString(code) {
		return fCoding{}, cc.Errorf(op, cc.Invalid, "purpose %q is not a code", cc.Echo(p))
	}
	c := fCoding{System: sys, Code: code}
	if sys == actReasonSystem {
		c.Display = actReasonDisplay[code]
	}
	return c, nil
}

// purposeText names a purpose for the narrative: "treatment (TREAT)".
func purposeText(p string) string {
	sys, code := splitToken(p)
	if d := actReasonDisplay[code]; d != "" && (sys == "" || sys == actReasonSystem) {
		return strings.ToLower(d) + " (" + code + ")"
	}
	return p
}

// list joins words for the narrative: "a", "a and b", "a, b and c".
func list(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

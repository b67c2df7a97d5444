package epcis

import (
	"fmt"
	"net/url"
	"strings"
)

// IDLevel says what an identifier names.
type IDLevel int

// The identifier levels.
const (
	OtherURI IDLevel = iota // a URI that is neither an EPC URI nor a GS1 Digital Link URI (private identifiers, geo:, …)
	Instance                // one object, location or party: urn:epc:id:…, or a Digital Link with a serialised key
	Class                   // a class of objects: urn:epc:class:lgtin:…, a GTIN (+ lot) Digital Link
	Pattern                 // a pattern over instances: urn:epc:idpat:…
)

func (l IDLevel) String() string {
	switch l {
	case Instance:
		return "instance"
	case Class:
		return "class"
	case Pattern:
		return "pattern"
	}
	return "other"
}

// CheckID validates one identifier taken from an EPCIS event and reports
// its level. It applies the GS1 Tag Data Standard to EPC URIs
// ("urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:class:lgtin:…",
// "urn:epc:idpat:sgtin:0614141.107346.*"): EPC URIs carry no check digit, so
// what is checked is the scheme, the number of fields, the GS1 Company Prefix
// (6 to 12 digits) plus reference lengths (13 digits for a GTIN, 12 for a
// GLN, 17 for an SSCC, …) and the character set and length of serials and
// lots. It applies the GS1 Digital Link standard to Digital Link URIs
// ("https://id.gs1.org/01/09506000134352/21/12345", any host when the path
// carries a numeric GS1 key): the key's length and check digit (GTIN, GLN,
// SSCC, GRAI, GSRN, GDTI, …) and the allowed qualifiers in their order. Any
// other absolute URI is accepted as OtherURI (EPCIS allows private
// identifiers); an error says precisely what is wrong.
func CheckID(id string) (IDLevel, error) {
	switch {
	case strings.HasPrefix(id, "urn:epc:id:"):
		return Instance, checkEPC(strings.TrimPrefix(id, "urn:epc:id:"), false)
	case strings.HasPrefix(id, "urn:epc:idpat:"):
		return Pattern, checkEPC(strings.TrimPrefix(id, "urn:epc:idpat:"), true)
	case strings.HasPrefix(id, "urn:epc:class:"):
		return Class, checkEPCClass(strings.TrimPrefix(id, "urn:epc:class:"))
	case strings.HasPrefix(id, "urn:epc:"):
		return OtherURI, fmt.Errorf("unknown EPC URI form %s (want urn:epc:id:, urn:epc:class: or urn:epc:idpat:)", quote(id))
	case strings.HasPrefix(id, "https://") || strings.HasPrefix(id, "http://"):
		return checkDigitalLink(id)
	}
	u, err := url.Parse(id)
	if err != nil || u.Scheme == "" {
		return OtherURI, fmt.Errorf("%s is not an absolute URI", quote(id))
	}
	return OtherURI, nil
}

// epcScheme describes one EPC scheme of the Tag Data Standard: the fields
// after "urn:epc:id:<scheme>:", the first always the GS1 Company Prefix.
type epcScheme struct {
	fields    int // dot-separated fields
	keyDigits int // digits of company prefix + field 2 together (0: field 2 is not numeric-fixed)
	maxAlnum  int // for a company prefix + alphanumeric reference (giai, ginc, cpi): max total length
	serialMax int // max length of the last field (serial, extension); 0 if none
	numSerial bool
	optSerial bool // the last field may be empty (sgln extension)
}

var epcSchemes = map[string]epcScheme{
	"sgtin": {fields: 3, keyDigits: 13, serialMax: 20},
	"sscc":  {fields: 2, keyDigits: 17},
	"sgln":  {fields: 3, keyDigits: 12, serialMax: 20, optSerial: true},
	"grai":  {fields: 3, keyDigits: 12, serialMax: 16},
	"giai":  {fields: 2, maxAlnum: 30},
	"gsrn":  {fields: 2, keyDigits: 17},
	"gsrnp": {fields: 2, keyDigits: 17},
	"gdti":  {fields: 3, keyDigits: 12, serialMax: 17},
	"sgcn":  {fields: 3, keyDigits: 12, serialMax: 12, numSerial: true},
	"ginc":  {fields: 2, maxAlnum: 30},
	"gsin":  {fields: 2, keyDigits: 16},
	"pgln":  {fields: 2, keyDigits: 12},
	"cpi":   {fields: 3, maxAlnum: 30, serialMax: 12, numSerial: true},
	"itip":  {fields: 5, keyDigits: 13, serialMax: 20},
	"upui":  {fields: 3, keyDigits: 13, serialMax: 28},
}

// checkEPC validates the part of an EPC pure-identity URI (or, with
// pattern, an EPC pattern URI) after "urn:epc:id:" / "urn:epc:idpat:".
func checkEPC(rest string, pattern bool) error {
	scheme, body, ok := strings.Cut(rest, ":")
	if !ok || body == "" {
		return fmt.Errorf("EPC URI has no scheme-specific part")
	}
	if scheme == "gid" {
		return checkGID(body, pattern)
	}
	sc, known := epcSchemes[scheme]
	if !known {
		return fmt.Errorf("unknown EPC scheme %s", quote(scheme))
	}
	f := strings.SplitN(body, ".", sc.fields)
	if len(f) != sc.fields {
		return fmt.Errorf("EPC %s has %d field(s), want %d", scheme, len(f), sc.fields)
	}
	if pattern {
		return checkPattern(scheme, sc, f)
	}
	return checkFields(scheme, sc, f)
}

// checkPattern checks an idpat: each field is "*" or valid, and once a field
// is "*" every later field is too ("0614141.*.*" but not "*.107346.2017").
func checkPattern(scheme string, sc epcScheme, f []string) error {
	star := -1
	for i, v := range f {
		if v == "*" {
			if star < 0 {
				star = i
			}
		} else if star >= 0 {
			return fmt.Errorf("EPC pattern field %d follows a wildcard; only trailing fields may be \"*\"", i+1)
		}
	}
	if star < 0 {
		return checkFields(scheme, sc, f)
	}
	if star == 0 {
		return nil
	}
	if err := checkCompanyPrefix(f[0]); err != nil {
		return err
	}
	if star > 1 && sc.keyDigits > 0 && len(f[0])+len(f[1]) != sc.keyDigits {
		return fmt.Errorf("EPC %s company prefix + reference have %d digits, want %d", scheme, len(f[0])+len(f[1]), sc.keyDigits)
	}
	if star > 1 && sc.keyDigits > 0 && !isDigits(f[1]) {
		return fmt.Errorf("EPC %s reference %s is not all digits", scheme, quote(f[1]))
	}
	return nil
}

func checkFields(scheme string, sc epcScheme, f []string) error {
	if err := checkCompanyPrefix(f[0]); err != nil {
		return err
	}
	switch {
	case sc.keyDigits > 0:
		if !isDigits(f[1]) && f[1] != "" {
			return fmt.Errorf("EPC %s reference %s is not all digits", scheme, quote(f[1]))
		}
		if n := len(f[0]) + len(f[1]); n != sc.keyDigits {
			return fmt.Errorf("EPC %s company prefix + reference have %d digits, want %d", scheme, n, sc.keyDigits)
		}
	case scheme == "cpi":
		// GS1 character set 39; "/" and "#" are written %2F and %23.
		ref := strings.NewReplacer("%2F", "/", "%2f", "/", "%23", "#").Replace(f[1])
		if ref == "" || len(f[0])+len(ref) > sc.maxAlnum || strings.Trim(ref, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-#/") != "" {
			return fmt.Errorf("EPC cpi component/part reference %s must be 0-9 A-Z - %%2F %%23 and at most %d characters with the company prefix", quote(f[1]), sc.maxAlnum)
		}
	default: // giai, ginc: company prefix + alphanumeric reference
		n, err := cset82Len(f[1])
		if err != nil {
			return fmt.Errorf("EPC %s reference: %v", scheme, err)
		}
		if n == 0 || len(f[0])+n > sc.maxAlnum {
			return fmt.Errorf("EPC %s company prefix + reference have %d characters, want 1 to %d", scheme, len(f[0])+n, sc.maxAlnum)
		}
	}
	if scheme == "itip" {
		if len(f[2]) != 2 || !isDigits(f[2]) || len(f[3]) != 2 || !isDigits(f[3]) {
			return fmt.Errorf("EPC itip piece and total must be two digits each")
		}
		f = []string{f[0], f[1], f[4]}
	}
	if sc.fields < 3 {
		return nil
	}
	last := f[len(f)-1]
	n, err := cset82Len(last)
	if err != nil {
		return fmt.Errorf("EPC %s serial: %v", scheme, err)
	}
	switch {
	case n == 0 && !sc.optSerial:
		return fmt.Errorf("EPC %s has an empty serial", scheme)
	case n > sc.serialMax:
		return fmt.Errorf("EPC %s serial has %d characters, at most %d allowed", scheme, n, sc.serialMax)
	case sc.numSerial && !isDigits(last):
		return fmt.Errorf("EPC %s serial %s must be digits", scheme, quote(last))
	}
	return nil
}

// checkEPCClass validates "lgtin:CompanyPrefix.ItemRefAndIndicator.Lot".
func checkEPCClass(rest string) error {
	scheme, body, _ := strings.Cut(rest, ":")
	if scheme != "lgtin" {
		return fmt.Errorf("unknown EPC class scheme %s (want lgtin)", quote(scheme))
	}
	f := strings.SplitN(body, ".", 3)
	if len(f) != 3 {
		return fmt.Errorf("EPC lgtin has %d field(s), want 3", len(f))
	}
	if err := checkCompanyPrefix(f[0]); err != nil {
		return err
	}
	if !isDigits(f[1]) || len(f[0])+len(f[1]) != 13 {
		return fmt.Errorf("EPC lgtin company prefix + item reference must be 13 digits")
	}
	n, err := cset82Len(f[2])
	if err != nil {
		return fmt.Errorf("EPC lgtin lot: %v", err)
	}
	if n == 0 || n > 20 {
		return fmt.Errorf("EPC lgtin lot has %d characters, want 1 to 20", n)
	}
	return nil
}

// checkGID validates "ManagerNumber.ObjectClass.SerialNumber", decimal
// integers without leading zeros below 2^28, 2^24 and 2^36.
func checkGID(body string, pattern bool) error {
	f := strings.Split(body, ".")
	if len(f) != 3 {
		return fmt.Errorf("EPC gid has %d field(s), want 3", len(f))
	}
	limits := []uint64{1 << 28, 1 << 24, 1 << 36}
	for i, v := range f {
		if pattern && v == "*" {
			continue
		}
		if !isDigits(v) || (len(v) > 1 && v[0] == '0') || len(v) > 11 {
			return fmt.Errorf("EPC gid field %d must be a decimal integer without leading zeros", i+1)
		}
		var n uint64
		for _, c := range v {
			n = n*10 + uint64(c-'0')
		}
		if n >= limits[i] {
			return fmt.Errorf("EPC gid field %d is out of range", i+1)
		}
	}
	return nil
}

func checkCompanyPrefix(p string) error {
	if !isDigits(p) || len(p) < 6 || len(p) > 12 {
		return fmt.Errorf("GS1 Company Prefix %s must be 6 to 12 digits", quote(p))
	}
	return nil
}

// cset82Len checks an EPC URI component against GS1 AI encodable character
// set 82 as the URI spells it (unreserved characters, %-escapes for
// " % & / < > ?) and returns its length in characters.
func cset82Len(s string) (int, error) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("!'()*+,-.:;=_", c) >= 0:
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return 0, fmt.Errorf("bad %%-escape")
			}
			switch strings.ToUpper(s[i+1 : i+3]) {
			case "22", "25", "26", "2F", "3C", "3E", "3F":
			default:
				return 0, fmt.Errorf("%%-escape %s is not one of %%22 %%25 %%26 %%2F %%3C %%3E %%3F", s[i:i+3])
			}
			i += 2
		default:
			return 0, fmt.Errorf("character %q is outside GS1 character set 82", c)
		}
		n++
	}
	return n, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// CheckDigitOK reports whether the last digit of a GS1 numeric key (GTIN-8,
// -12, -13, -14, GLN, SSCC, GSRN, …) is its mod-10 check digit: weights 3
// and 1 alternating from the rightmost data digit.
func CheckDigitOK(key string) bool {
	if len(key) < 2 || !isDigits(key) {
		return false
	}
	return key[len(key)-1]-'0' == checkDigit(key[:len(key)-1])
}

// checkDigit computes the GS1 mod-10 check digit of the data digits s.
func checkDigit(s string) byte {
	sum := 0
	for i := 0; i < len(s); i++ {
		d := int(s[len(s)-1-i] - '0')
		if i%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return byte((10 - sum%10) % 10)
}

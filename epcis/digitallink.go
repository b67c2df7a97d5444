package epcis

import (
	"fmt"
	"net/url"
	"strings"
)

// DLHost is the canonical GS1 Digital Link resolver host. Every URI on it
// must be a valid Digital Link; on other hosts a path is read as a Digital
// Link only when it carries a primary-key AI followed by a numeric value
// (or an alphanumeric key such as GIAI 8004 on id.gs1.org).
const DLHost = "id.gs1.org"

// dlKey describes a GS1 primary key usable in a Digital Link path.
type dlKey struct {
	name       string
	digits     []int    // allowed lengths for a numeric key with a check digit (checked over checkLen digits)
	checkLen   int      // digits covered by the check digit (0: all of the key)
	alnumMax   int      // for alphanumeric keys (GIAI, GINC, CPID, GMN): max length
	serialMax  int      // for keys with a serial component inside the value (GRAI, GDTI, GCN): max serial length
	numSerial  bool     // the in-value serial is digits only (GCN)
	qualifiers []string // allowed qualifier AIs, in the order they must appear
	// instanceWith lists qualifiers any one of which makes the key name an
	// instance; instance is true when the key alone names an instance.
	instanceWith []string
	instance     bool
}

var dlKeys = map[string]dlKey{
	"01":   {name: "GTIN", digits: []int{8, 12, 13, 14}, qualifiers: []string{"22", "10", "21"}, instanceWith: []string{"21"}},
	"00":   {name: "SSCC", digits: []int{18}, instance: true},
	"414":  {name: "GLN", digits: []int{13}, qualifiers: []string{"254"}, instance: true},
	"417":  {name: "party GLN", digits: []int{13}, instance: true},
	"8003": {name: "GRAI", digits: []int{14}, serialMax: 16},
	"8004": {name: "GIAI", alnumMax: 30, instance: true},
	"8006": {name: "ITIP", digits: []int{18}, checkLen: 14, qualifiers: []string{"22", "10", "21"}, instanceWith: []string{"21"}},
	"8010": {name: "CPID", alnumMax: 30, qualifiers: []string{"8011"}, instanceWith: []string{"8011"}},
	"8013": {name: "GMN", alnumMax: 25},
	"8017": {name: "GSRN-P", digits: []int{18}, instance: true},
	"8018": {name: "GSRN", digits: []int{18}, instance: true},
	"253":  {name: "GDTI", digits: []int{13}, serialMax: 17},
	"255":  {name: "GCN", digits: []int{13}, serialMax: 12, numSerial: true},
	"401":  {name: "GINC", alnumMax: 30, instance: true},
	"402":  {name: "GSIN", digits: []int{17}, instance: true},
}

// dlQualifiers bounds qualifier values: max length, digits only.
var dlQualifiers = map[string]struct {
	max     int
	numeric bool
}{
	"22":   {20, false}, // consumer product variant
	"10":   {20, false}, // batch/lot
	"21":   {20, false}, // serial
	"254":  {20, false}, // GLN extension
	"8011": {12, true},  // CPID serial
}

// checkDigitalLink validates an http(s) URI that is, or looks like, a GS1
// Digital Link URI, returning its level; OtherURI for a web URI that is
// not a Digital Link.
func checkDigitalLink(id string) (IDLevel, error) {
	u, err := url.Parse(id)
	if err != nil || u.Host == "" {
		return OtherURI, fmt.Errorf("%s is not an absolute http(s) URI", quote(id))
	}
	segs := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	canonical := strings.EqualFold(u.Hostname(), DLHost)
	start := -1
	for i := 0; i+1 < len(segs); i++ {
		k, ok := dlKeys[segs[i]]
		if !ok {
			continue
		}
		if canonical || (len(k.digits) > 0 && isDigits(segs[i+1])) {
			start = i
			break
		}
	}
	if start < 0 {
		if canonical {
			return OtherURI, fmt.Errorf("%s is on %s but carries no GS1 primary key", quote(id), DLHost)
		}
		return OtherURI, nil
	}
	if canonical && start != 0 {
		return OtherURI, fmt.Errorf("%s: a Digital Link on %s must start with the primary key", quote(id), DLHost)
	}
	return checkDLPath(segs[start:])
}

// checkDLPath validates "ai/value[/qualifierAI/value…]".
func checkDLPath(segs []string) (IDLevel, error) {
	ai := segs[0]
	k := dlKeys[ai]
	if len(segs)%2 != 0 {
		return OtherURI, fmt.Errorf("Digital Link path must be AI/value pairs; %s has an odd number of segments", quote(strings.Join(segs, "/")))
	}
	val, err := url.PathUnescape(segs[1])
	if err != nil {
		return OtherURI, fmt.Errorf("Digital Link %s value: bad %%-escape", k.name)
	}
	instance := k.instance
	if err := checkDLKey(ai, k, val, &instance); err != nil {
		return OtherURI, err
	}
	next := 0 // index into k.qualifiers: qualifiers must come in order
	for i := 2; i < len(segs); i += 2 {
		q := segs[i]
		pos := -1
		for j := next; j < len(k.qualifiers); j++ {
			if k.qualifiers[j] == q {
				pos = j
				break
			}
		}
		if pos < 0 {
			return OtherURI, fmt.Errorf("Digital Link: AI %s is not an allowed qualifier of %s (AI %s) here; allowed in order: %s", quote(q), k.name, ai, strings.Join(k.qualifiers, ", "))
		}
		next = pos + 1
		qv, err := url.PathUnescape(segs[i+1])
		if err != nil {
			return OtherURI, fmt.Errorf("Digital Link AI %s value: bad %%-escape", q)
		}
		rule := dlQualifiers[q]
		if n := cset82Raw(qv); n <= 0 || len(qv) > rule.max || (rule.numeric && !isDigits(qv)) {
			return OtherURI, fmt.Errorf("Digital Link AI %s value %s must be 1 to %d characters of GS1 character set 82", q, quote(qv), rule.max)
		}
		for _, w := range k.instanceWith {
			if w == q {
				instance = true
			}
		}
	}
	if instance {
		return Instance, nil
	}
	return Class, nil
}

// checkDLKey validates a primary key value: its length, digits and check
// digit, or its alphanumeric length, and an in-value serial.
func checkDLKey(ai string, k dlKey, val string, instance *bool) error {
	if k.alnumMax > 0 {
		if n := cset82Raw(val); n <= 0 || n > k.alnumMax {
			return fmt.Errorf("Digital Link %s (AI %s) %s must be 1 to %d characters of GS1 character set 82", k.name, ai, quote(val), k.alnumMax)
		}
		return nil
	}
	key, serial := val, ""
	if k.serialMax > 0 && len(val) > k.digits[0] {
		key, serial = val[:k.digits[0]], val[k.digits[0]:]
	}
	if !isDigits(key) {
		return fmt.Errorf("Digital Link %s (AI %s) %s must be digits", k.name, ai, quote(key))
	}
	okLen := false
	for _, n := range k.digits {
		okLen = okLen || len(key) == n
	}
	if !okLen {
		return fmt.Errorf("Digital Link %s (AI %s) %s has %d digits, want %s", k.name, ai, quote(key), len(key), lengths(k.digits))
	}
	checked := key
	if k.checkLen > 0 {
		checked = key[:k.checkLen]
	}
	if !CheckDigitOK(checked) {
		return fmt.Errorf("Digital Link %s (AI %s) %s has a wrong check digit (want %d)", k.name, ai, quote(checked), checkDigit(checked[:len(checked)-1]))
	}
	if serial != "" {
		if n := cset82Raw(serial); n <= 0 || n > k.serialMax || (k.numSerial && !isDigits(serial)) {
			return fmt.Errorf("Digital Link %s (AI %s) serial %s must be at most %d characters of GS1 character set 82", k.name, ai, quote(serial), k.serialMax)
		}
		*instance = true
	}
	return nil
}

func lengths(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, " or ")
}

// cset82Raw returns the length of s if every character is in GS1 AI
// encodable character set 82 (as decoded from a Digital Link path), else -1.
func cset82Raw(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("!\"%&'()*+,-./:;<=>?_", c) >= 0:
		default:
			return -1
		}
	}
	return len(s)
}

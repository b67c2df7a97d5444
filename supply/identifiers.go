package supply

import (
	"strings"

	cc "carechain"
)

// validDecimal reports whether s is a plain decimal number: an optional
// minus, 1 to 15 digits and at most 6 decimals.
func validDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	whole, frac, hasFrac := strings.Cut(s, ".")
	return len(whole) <= 15 && digits(whole, 0) && (!hasFrac || len(frac) <= 6 && digits(frac, 0))
}

// printable reports whether s is 1..max printable ASCII bytes without
// spaces.
func printable(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// digits reports whether s is n decimal digits (any count when n is 0,
// but at least one).
func digits(s string, n int) bool {
	if s == "" || n > 0 && len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// epcParts reports whether body is n non-empty '.'-separated parts, all
// digits except possibly the last (a serial, which may be alphanumeric).
func epcParts(body string, n int) bool {
	parts := strings.Split(body, ".")
	if len(parts) != n {
		return false
	}
	for i, p := range parts {
		if p == "" || i < n-1 && !digits(p, 0) {
			return false
		}
	}
	return true
}

// ValidEPC reports whether s is an instance-level EPC this package tracks:
// a pure-identity URN urn:epc:id:sgtin:C.I.S, urn:epc:id:sscc:C.S,
// urn:epc:id:grai:C.A.S or urn:epc:id:giai:C.A, or a GS1 Digital Link
// https://id.gs1.org/01/{14 digits}/21/{serial} or
// https://id.gs1.org/00/{18 digits}; at most MaxEPCLen printable bytes.
// It checks syntax only (no check digits: the adapter does that).
func ValidEPC(s string) bool {
	if !printable(s, MaxEPCLen) {
		return false
	}
	switch {
	case strings.HasPrefix(s, "urn:epc:id:sgtin:"):
		return epcParts(s[len("urn:epc:id:sgtin:"):], 3)
	case strings.HasPrefix(s, "urn:epc:id:sscc:"):
		return epcParts(s[len("urn:epc:id:sscc:"):], 2) && !strings.ContainsFunc(s[len("urn:epc:id:sscc:"):], func(r rune) bool { return r != '.' && (r < '0' || r > '9') })
	case strings.HasPrefix(s, "urn:epc:id:grai:"):
		return epcParts(s[len("urn:epc:id:grai:"):], 3)
	case strings.HasPrefix(s, "urn:epc:id:giai:"):
		return epcParts(s[len("urn:epc:id:giai:"):], 2)
	case strings.HasPrefix(s, "https://id.gs1.org/01/"):
		rest := s[len("https://id.gs1.org/01/"):]
		gtin, serial, ok := strings.Cut(rest, "/21/")
		return ok && digits(gtin, 14) && serial != "" && !strings.Contains(serial, "/")
	case strings.HasPrefix(s, "https://id.gs1.org/00/"):
		return digits(s[len("https://id.gs1.org/00/"):], 18)
	}
	return false
}

// ValidLocation reports whether s is a location identifier: an SGLN URN
// (urn:epc:id:sgln:C.L.E) or a Digital Link https://id.gs1.org/414/{13
// digits}[/254/{extension}], at most MaxURILen printable bytes.
func ValidLocation(s string) bool {
	if !printable(s, MaxURILen) {
		return false
	}
	switch {
	case strings.HasPrefix(s, "urn:epc:id:sgln:"):
		parts := strings.Split(s[len("urn:epc:id:sgln:"):], ".")
		return len(parts) == 3 && digits(parts[0], 0) && digits(parts[1], 0) && parts[2] != ""
	case strings.HasPrefix(s, "https://id.gs1.org/414/"):
		rest := s[len("https://id.gs1.org/414/"):]
		gln, ext, hasExt := strings.Cut(rest, "/254/")
		return digits(gln, 13) && (!hasExt || ext != "" && !strings.Contains(ext, "/"))
	}
	return false
}

// validTerm reports whether s is a bare CBV word ([a-z_]{1,64}) or a URI
// (contains ':'), at most MaxURILen printable bytes.
func validTerm(s string) bool {
	if !printable(s, MaxURILen) {
		return false
	}
	if strings.Contains(s, ":") {
		return true
	}
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c == '_') {
			return false
		}
	}
	return true
}

// validLot reports whether s is a lot number: 1..MaxLotLen printable ASCII
// bytes without spaces.
func validLot(s string) bool { return printable(s, MaxLotLen) }

// PartyOrg returns the organization id a party link names: the id itself
// or the id after "org:", if it is a valid organization id.
func PartyOrg(id string) (string, bool) {
	org := strings.TrimPrefix(id, "org:")
	return org, cc.ValidOrgID(org)
}

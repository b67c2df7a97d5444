package supply

import "strings"

// GS1 key arithmetic for the master data: GTINs of products and GLNs of
// locations. (Package epcis has the full EPC code; supply does not import
// it and needs only this.)

// gs1CheckDigit returns the GS1 mod-10 check digit of the digits body
// (the key without its check digit): weights 3 and 1 alternate from the
// rightmost digit, which weighs 3.
func gs1CheckDigit(body string) byte {
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-1-i)%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// gs1Valid reports whether s is n digits whose last is the check digit.
func gs1Valid(s string, n int) bool {
	return digits(s, n) && gs1CheckDigit(s[:n-1]) == s[n-1]
}

// NormalizeGTIN returns s as a GTIN-14: s must be a GTIN-8, -12, -13 or -14
// (that many digits) with a valid GS1 check digit; shorter forms are
// padded with leading zeros.
func NormalizeGTIN(s string) (string, bool) {
	switch len(s) {
	case 8, 12, 13, 14:
	default:
		return "", false
	}
	g := strings.Repeat("0", 14-len(s)) + s
	if !gs1Valid(g, 14) {
		return "", false
	}
	return g, true
}

// GTINOf returns the GTIN-14 (with check digit) of the trade item an EPC
// identifies: an SGTIN URN urn:epc:id:sgtin:{company prefix}.{indicator
// and item reference}.{serial} (the two numbers together 13 digits), or a
// GS1 Digital Link http(s)://{any host}/…/01/{GTIN}/21/{serial} whose GTIN
// has a valid check digit. It reports false for any other EPC (SSCC, GRAI,
// GIAI, malformed).
func GTINOf(epc string) (string, bool) {
	if body, ok := strings.CutPrefix(epc, "urn:epc:id:sgtin:"); ok {
		parts := strings.Split(body, ".")
		if len(parts) != 3 || !digits(parts[0], 0) || !digits(parts[1], 0) || parts[2] == "" ||
			len(parts[0])+len(parts[1]) != 13 {
			return "", false
		}
		g := parts[1][:1] + parts[0] + parts[1][1:]
		return g + string(gs1CheckDigit(g)), true
	}
	segs, ok := digitalLink(epc)
	if !ok {
		return "", false
	}
	for k := 0; k+3 < len(segs); k++ {
		if segs[k] == "01" && segs[k+2] == "21" && k+4 == len(segs) && segs[k+3] != "" {
			return NormalizeGTIN(segs[k+1])
		}
	}
	return "", false
}

// NormalizeGLN returns the GLN-13 a location identifier names: a GLN (13
// digits), an SGLN URN urn:epc:id:sgln:{company prefix}.{location
// reference}.{extension} (the two numbers together 12 digits; the
// extension is dropped), or a GS1 Digital Link http(s)://{any
// host}/…/414/{GLN}[/254/{extension}]. The GLN's check digit must be valid
// (an SGLN has none: it is computed).
func NormalizeGLN(s string) (string, bool) {
	if digits(s, 13) {
		if !gs1Valid(s, 13) {
			return "", false
		}
		return s, true
	}
	if body, ok := strings.CutPrefix(s, "urn:epc:id:sgln:"); ok {
		parts := strings.Split(body, ".")
		if len(parts) != 3 || !digits(parts[0], 0) || !digits(parts[1], 0) || parts[2] == "" ||
			len(parts[0])+len(parts[1]) != 12 {
			return "", false
		}
		g := parts[0] + parts[1]
		return g + string(gs1CheckDigit(g)), true
	}
	segs, ok := digitalLink(s)
	if !ok {
		return "", false
	}
	for k := 0; k+1 < len(segs); k++ {
		if segs[k] != "414" {
			continue
		}
		rest := segs[k+2:]
		if len(rest) == 0 || len(rest) == 2 && rest[0] == "254" && rest[1] != "" {
			if gs1Valid(segs[k+1], 13) {
				return segs[k+1], true
			}
		}
		return "", false
	}
	return "", false
}

// digitalLink returns the path segments of a GS1 Digital Link URI
// http(s)://{host}/{path}, at most MaxURILen printable bytes without a
// query or fragment.
func digitalLink(s string) ([]string, bool) {
	if !printable(s, MaxURILen) || strings.ContainsAny(s, "?#") {
		return nil, false
	}
	rest, ok := strings.CutPrefix(s, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "http://"); !ok {
			return nil, false
		}
	}
	host, path, ok := strings.Cut(rest, "/")
	if !ok || host == "" {
		return nil, false
	}
	return strings.Split(path, "/"), true
}

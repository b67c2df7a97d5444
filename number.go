package carechain

// ScanNumber scans the JSON number that starts at b[i], in JSON's grammar
// (RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?), and returns
// the index just after it. ok is false when b[i:] does not start with a
// number; end is then where the grammar failed. It reads no further than
// the number, so what follows (a delimiter, or more digits after a leading
// 0) is the caller's to judge. Scanners that accept plain JSON in one pass
// (the FHIR adapter's compact check, the EPCIS document reader) share it.
func ScanNumber(b []byte, i int) (end int, ok bool) {
	digits := func(j int) int {
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return i, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return i, false
		}
		i = j
	}
	return i, true
}

package shc

import (
	"strconv"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	cc "carechain"
)

// qrPrefix starts the text of every SMART Health Card QR code.
const qrPrefix = "shc:/"

// numeric encodes s as the specification's numeric mode: each character c
// becomes the two decimal digits of c - 45 ('-' is 0, 'z' is 77).
func numeric(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		n := s[i] - 45
		b.WriteByte('0' + n/10)
		b.WriteByte('0' + n%10)
	}
	return b.String()
}

// fromNumeric reverses numeric.
func fromNumeric(d string) (string, bool) {
	if len(d)%2 != 0 {
		return "", false
	}
	b := make([]byte, len(d)/2)
	for i := 0; i < len(d); i += 2 {
		hi, lo := d[i], d[i+1]
		if hi < '0' || hi > '9' || lo < '0' || lo > '9' {
			return "", false
		}
		n := (hi-'0')*10 + lo - '0'
		if n > 'z'-45 {
			return "", false
		}
		b[i/2] = n + 45
	}
	return string(b), true
}

// EncodeQR returns the shc:/ text of the QR codes that carry jws: one
// "shc:/{digits}" when the JWS fits a single code (MaxSingleJWS), else N
// chunks "shc:/{i}/{N}/{digits}" of roughly equal size, each at most
// MaxChunkJWS characters of the JWS. (Chunking is deprecated by version
// 1.3 of the specification but still defined; readers must accept it.)
func EncodeQR(jws string) ([]string, error) {
	if jws == "" || len(jws) > MaxJWS {
		return nil, errf("shc.qr", cc.Invalid, "a JWS of 1 to %d characters is needed", MaxJWS)
	}
	for i := 0; i < len(jws); i++ {
		if jws[i] < '-' || jws[i] > 'z' {
			return nil, errf("shc.qr", cc.Invalid, "a compact JWS has only base64url characters and dots")
		}
	}
	if len(jws) <= MaxSingleJWS {
		return []string{qrPrefix + numeric(jws)}, nil
	}
	n := (len(jws) + MaxChunkJWS - 1) / MaxChunkJWS
	if n > MaxChunks {
		return nil, errf("shc.qr", cc.TooLarge, "a JWS of %d characters needs over %d QR codes", len(jws), MaxChunks)
	}
	size := (len(jws) + n - 1) / n
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		part := jws[i*size : min((i+1)*size, len(jws))]
		out = append(out, qrPrefix+strconv.Itoa(i+1)+"/"+strconv.Itoa(n)+"/"+numeric(part))
	}
	return out, nil
}

// DecodeQR reassembles the JWS from the shc:/ text of its QR codes: one
// unchunked code, or every chunk of a chunked one exactly once, in any
// order.
func DecodeQR(chunks ...string) (string, error) {
	const op = "shc.qr"
	if len(chunks) == 0 {
		return "", errf(op, cc.Malformed, "no shc:/ text")
	}
	var parts []string
	total := 0
	for ci, c := range chunks {
		idx, n, s, err := parseChunk(c)
		if err != nil {
			return "", errf(op, cc.Malformed, "QR text %d %s", ci+1, err.(*cc.Error).Msg)
		}
		if total == 0 {
			total = n
			parts = make([]string, n)
		} else if n != total {
			return "", errf(op, cc.Malformed, "the QR chunks disagree on their count (%d and %d)", total, n)
		}
		if parts[idx-1] != "" {
			return "", errf(op, cc.Malformed, "QR chunk %d of %d is given twice", idx, n)
		}
		parts[idx-1] = s
	}
	for i, p := range parts {
		if p == "" {
			return "", errf(op, cc.Malformed, "QR chunk %d of %d is missing", i+1, total)
		}
	}
	return strings.Join(parts, ""), nil
}

// parseChunk reads the shc:/ text of one QR code: its chunk index and
// count (1 and 1 when unchunked) and the JWS characters it carries.
func parseChunk(c string) (idx, n int, s string, err error) {
	bad := func(msg string) (int, int, string, error) { return 0, 0, "", errf("shc.qr", cc.Malformed, "%s", msg) }
	if len(c) < len(qrPrefix) || !strings.EqualFold(c[:len(qrPrefix)], qrPrefix) {
		return bad("does not start with shc:/")
	}
	rest := c[len(qrPrefix):]
	idx, n, digits := 1, 1, rest
	if fields := strings.Split(rest, "/"); len(fields) == 3 {
		var err1, err2 error
		idx, err1 = strconv.Atoi(fields[0])
		n, err2 = strconv.Atoi(fields[1])
		digits = fields[2]
		if err1 != nil || err2 != nil || n < 2 || n > MaxChunks || idx < 1 || idx > n ||
			fields[0] != strconv.Itoa(idx) || fields[1] != strconv.Itoa(n) {
			return bad("has a bad chunk header shc:/i/N/")
		}
	} else if len(fields) != 1 {
		return bad("is neither shc:/digits nor shc:/i/N/digits")
	}
	s, ok := fromNumeric(digits)
	if !ok || s == "" {
		return bad("is not an even run of digit pairs 00..77")
	}
	return idx, n, s, nil
}

// QRPNG renders the shc:/ text of one QR code as a PNG image: error
// correction level L, as the specification recommends, at most version 22,
// each module scale pixels wide (with the standard quiet zone).
func QRPNG(text string, scale int) ([]byte, error) {
	const op = "shc.qr"
	if scale < 1 || scale > 40 {
		return nil, errf(op, cc.Invalid, "scale must be 1 to 40 pixels per module")
	}
	if _, _, _, err := parseChunk(text); err != nil {
		return nil, err
	}
	q, err := qrcode.New(text, qrcode.Low)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	if q.VersionNumber > 22 {
		return nil, errf(op, cc.TooLarge, "the QR code needs version %d, over the specification's 22", q.VersionNumber)
	}
	return q.PNG(-scale)
}

package shc

import (
	"bytes"
	"encoding/json"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	zxingqr "github.com/makiuchi-d/gozxing/qrcode"
)

// scanPNG reads the QR code in a PNG image as a scanner would, with an
// independent decoder (ZXing's Go port), and returns its text.
func scanPNG(t *testing.T, img []byte) string {
	t.Helper()
	im, err := png.Decode(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(im)
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		t.Fatalf("the QR code does not scan: %v", err)
	}
	return res.GetText()
}

// TestQRPNGScans: the PNG QR codes of a card scan back, with a decoder
// that shares no code with the encoder, to the card's shc:/ texts, which
// reassemble into its JWS and verify — for a card in one code and a
// chunked one, at several module sizes; a PNG of another card's text
// does not verify as this one.
func TestQRPNGScans(t *testing.T) {
	is := newTestIssuer(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	card := func(doses int) *Card {
		var imms []json.RawMessage
		for d := 1; d <= doses; d++ {
			imms = append(imms, immunization("2020-02-"+two(d), "2"+two(d), "LOT-"+two(d)+"-"+strings.Repeat("x", d%7), "completed"))
		}
		c, err := is.IssueImmunizations(json.RawMessage(patientJSON), imms, "did:cc:p", now)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name  string
		card  *Card
		scale int
		codes int // 0: more than one
	}{
		{"two doses, one code, 2 px", card(2), 2, 1},
		{"two doses, one code, 4 px", card(2), 4, 1},
		{"28 doses, chunked, 3 px", card(28), 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := len(tt.card.QR); tt.codes == 1 && got != 1 || tt.codes == 0 && got < 2 {
				t.Fatalf("%d QR codes", got)
			}
			var scanned []string
			for i, text := range tt.card.QR {
				img, err := QRPNG(text, tt.scale)
				if err != nil {
					t.Fatal(err)
				}
				got := scanPNG(t, img)
				if got != text {
					t.Fatalf("code %d scans as %.40q…, want %.40q…", i+1, got, text)
				}
				scanned = append(scanned, got)
			}
			// Reversed order: chunks reassemble in any order.
			for i, j := 0, len(scanned)-1; i < j; i, j = i+1, j-1 {
				scanned[i], scanned[j] = scanned[j], scanned[i]
			}
			jws, err := DecodeQR(scanned...)
			if err != nil || jws != tt.card.JWS {
				t.Fatalf("DecodeQR: %v (same JWS: %v)", err, jws == tt.card.JWS)
			}
			r := Verify(jws, Trust{Keys: ledgerLike(is, nil).Keys, Now: now})
			mustValid(t, tt.name, r)
			if r.RID != tt.card.RID {
				t.Errorf("rid %q, want %q", r.RID, tt.card.RID)
			}
		})
	}

	// A code printed with one digit pair altered (a character of the
	// JWS's signature part changed) scans as what it shows, and that no
	// longer verifies.
	c := card(2)
	text := c.QR[0]
	at := len(text) - 20 // the low digit of a pair near the end: the signature
	if (at-len("shc:/"))%2 == 0 {
		at++
	}
	for text[at-1] >= '7' { // keep the pair ≤ 77
		at -= 2
	}
	altered := text[:at] + string('0'+(text[at]-'0'+1)%10) + text[at+1:]
	img, err := QRPNG(altered, 3)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := DecodeQR(scanPNG(t, img))
	if err != nil {
		t.Fatal(err)
	}
	if jws == c.JWS {
		t.Fatal("the altered code carries the same JWS")
	}
	if r := Verify(jws, Trust{Keys: ledgerLike(is, nil).Keys, Now: now}); r.Valid {
		t.Errorf("an altered QR code verifies")
	}
}

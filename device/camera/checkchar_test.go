package camera

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/oned"
)

// code128CCheck is the Code 128 check character of digits encoded in code
// set C from the first character (start C, value 105, then one codeword
// per digit pair), computed here independently of gozxing.
func code128CCheck(digits string) int {
	sum := 105
	for i := 0; i+1 < len(digits); i += 2 {
		sum += (i/2 + 1) * (int(digits[i]-'0')*10 + int(digits[i+1]-'0'))
	}
	return sum % 103
}

// TestCode128CheckFNC1 reads 20-digit 码上放心 codes (and GS1-128 codes)
// whose check character is 102, FNC1, the value that gozxing v0.1.1 turns
// into a trailing GS under ASSUME_GS1. The codes are drawn from a fresh
// seed (logged), made with gozxing's Code 128 writer and rendered clean and
// axis-aligned. Every one must read exactly; plain gozxing is run beside
// to show the test meets the fault it guards against.
func TestCode128CheckFNC1(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x128))
	d := newTestDecoder(t, Config{})
	randDigits := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		return b.String()
	}
	var codes []string
	for len(codes) < 12 {
		if c := randDigits(20); code128CCheck(c) == 102 {
			codes = append(codes, c)
		}
	}
	plainWrong := 0
	for _, c := range codes {
		sym := c128Symbol(t, c)
		img := render(640, 480, 0, place{sym: sym, cx: 0.5, cy: 0.5, module: 3, bar: 30})
		res, ok := d.Decode(img)
		check(t, res, ok, want{c, "]C0", Code128})
		// Plain gozxing with the same hint: the trailing GS.
		if r, err := plainRead128(t, sym); err != nil {
			t.Errorf("plain gozxing: %v", err)
		} else if r.GetText() != c {
			if r.GetText() == c+"\x1d" {
				plainWrong++
			} else {
				t.Errorf("plain gozxing read %q for %q", r.GetText(), c)
			}
		}
	}
	if plainWrong == 0 {
		t.Errorf("plain gozxing read all %d codes without a trailing GS: the fault this test guards against is gone (or not met)", len(codes))
	}

	// GS1-128 whose check character is FNC1: found by trying serials.
	found := 0
	for tries := 0; found < 4 && tries < 5000; tries++ {
		serial := randDigits(6)
		text := "ñ01069012345678921" + "0" + serial
		sym := c128Symbol(t, text)
		r, err := plainRead128(t, sym)
		if err != nil {
			t.Fatalf("plain gozxing on %q: %v", text, err)
		}
		raw := r.GetRawBytes()
		if len(raw) < 2 || raw[len(raw)-2] != 102 {
			continue
		}
		found++
		img := render(640, 480, 0, place{sym: sym, cx: 0.5, cy: 0.5, module: 3, bar: 30})
		res, ok := d.Decode(img)
		check(t, res, ok, want{"0106901234567892" + "10" + serial, "]C1", Code128})
	}
	if found == 0 {
		t.Fatal("no GS1-128 code with check character FNC1 in 5000 tries")
	}
}

// plainRead128 is gozxing's Code 128 row decoder, with ASSUME_GS1 as the
// decoder uses it, on the symbol's own modules (one bit per module, a
// quiet zone each side): no image, no binarizer, what gozxing reads from a
// perfect scan line.
func plainRead128(t *testing.T, sym symbol) (*gozxing.Result, error) {
	t.Helper()
	const quiet = 10
	w := sym.m.GetWidth()
	row := gozxing.NewBitArray(w + 2*quiet)
	for x := range w {
		if sym.m.Get(x, 0) {
			row.Set(x + quiet)
		}
	}
	rd, ok := oned.NewCode128Reader().(oned.RowDecoder)
	if !ok {
		t.Fatal("gozxing's Code 128 reader has no DecodeRow")
	}
	return rd.DecodeRow(0, row, map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_ASSUME_GS1: true})
}

// TestCode128CheckFNC2 reads GS1-128 codes whose check character is 97,
// FNC2 in code set B, where gozxing v0.1.1 reports "]C4" and leaves "]C1"
// in the text. The codes come from gozxing's writer (lot numbers drawn
// from a fresh seed until the check character is 97 in code set B).
func TestCode128CheckFNC2(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x97))
	d := newTestDecoder(t, Config{})
	found := 0
	for tries := 0; found < 4 && tries < 20000; tries++ {
		lot := []byte("A")
		for range 3 {
			lot = append(lot, "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"[rng.IntN(33)])
		}
		sym := c128Symbol(t, "ñ010690123456789210"+string(lot))
		r, err := plainRead128(t, sym)
		if err != nil {
			t.Fatalf("plain gozxing on lot %s: %v", lot, err)
		}
		if aim, _ := r.GetResultMetadata()[gozxing.ResultMetadataType_SYMBOLOGY_IDENTIFIER].(string); aim != "]C4" {
			continue
		}
		found++
		img := render(640, 480, 0, place{sym: sym, cx: 0.5, cy: 0.5, module: 3, bar: 30})
		res, ok := d.Decode(img)
		check(t, res, ok, want{"0106901234567892" + "10" + string(lot), "]C1", Code128})
	}
	if found == 0 {
		t.Fatal("gozxing reported no GS1-128 as ]C4 in 20000 tries: the fault this test guards against is gone (or not met)")
	}
}

func TestCode128AIM(t *testing.T) {
	cases := []struct {
		raw  []byte
		want string
		ok   bool
	}{
		{[]byte{105, 102, 1, 16, 97, 106}, "]C1", true},  // FNC1 first; check 97 ignored
		{[]byte{104, 33, 102, 34, 97, 106}, "]C2", true}, // one character, then FNC1
		{[]byte{104, 33, 97, 34, 5, 106}, "]C4", true},   // FNC2 in set B
		{[]byte{105, 12, 97, 106}, "]C0", true},          // 97 is the check character
		{[]byte{105, 97, 102, 34, 3, 106}, "]C0", true},  // 97 in set C is digits; FNC1 after 2 characters
		{[]byte{105, 100, 97, 3, 106}, "]C4", true},      // set C, then B, FNC2
		{[]byte{104, 98, 97, 33, 4, 106}, "]C4", true},   // SHIFT: 97 is FNC2 in set A too
		{[]byte{105, 12, 97}, "", false},                 // no stop
		{[]byte{7, 12, 4, 106}, "", false},               // no start
	}
	for _, c := range cases {
		got, ok := code128AIM(c.raw)
		if got != c.want || ok != c.ok {
			t.Errorf("code128AIM(%v) = %q, %v; want %q, %v", c.raw, got, ok, c.want, c.ok)
		}
	}
}

func TestDropCheckFNC1(t *testing.T) {
	cases := []struct {
		text string
		raw  []byte
		want string
	}{
		{"123\x1d", []byte{105, 12, 102, 106}, "123"},
		{"12\x1d\x1d", []byte{105, 12, 102, 102, 106}, "12\x1d"}, // a real trailing FNC1 stays
		{"123\x1d", []byte{105, 12, 7, 106}, "123\x1d"},          // check is not FNC1
		{"123", []byte{105, 12, 102, 106}, "123"},
		{"x\x1d", []byte{102, 106}, "x\x1d"},
	}
	for _, c := range cases {
		if got := dropCheckFNC1(c.text, c.raw); got != c.want {
			t.Errorf("dropCheckFNC1(%q, %v) = %q; want %q", c.text, c.raw, got, c.want)
		}
	}
}

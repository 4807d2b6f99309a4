package hid

import (
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// splitReports cuts fuzz input into reports: each starts with a length
// byte (taken modulo max+1) followed by that many bytes.
func splitReports(data []byte, max int) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		n := int(data[0]) % (max + 1)
		data = data[1:]
		n = min(n, len(data))
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

// joinReports is the inverse of splitReports, for seeds.
func joinReports(reports [][]byte) []byte {
	var out []byte
	for _, r := range reports {
		out = append(out, byte(len(r)))
		out = append(out, r...)
	}
	return out
}

// checkEvents is what no input may break: codes are non-empty, bounded,
// and free of control characters other than GS.
func checkEvents(t *testing.T, events []event, wantUTF8 bool) {
	for _, e := range events {
		if e.err != nil || e.note != "" {
			continue
		}
		if len(e.code) == 0 || len(e.code) > maxCode+utf8.UTFMax {
			t.Fatalf("code of %d bytes", len(e.code))
		}
		if i := controlFree(e.code); i >= 0 {
			t.Fatalf("control byte 0x%02x in code %q", e.code[i], e.code)
		}
		if wantUTF8 && !utf8.Valid(e.code) {
			t.Fatalf("invalid UTF-8 in code %q", e.code)
		}
	}
}

func seedFixtures(f *testing.F, mode Mode) {
	paths, _ := filepath.Glob("testdata/*.txt")
	for _, p := range paths {
		fx, err := parseFixture(p)
		if err != nil {
			f.Fatal(err)
		}
		if fx.mode != mode {
			continue
		}
		var reports [][]byte
		for _, s := range fx.steps {
			if s != nil {
				reports = append(reports, s)
			}
		}
		var opt byte
		if fx.reportID {
			opt |= 1
		}
		if fx.tabEnds {
			opt |= 2
		}
		switch fx.layout {
		case "de":
			opt |= 4
		case "fr":
			opt |= 8
		}
		f.Add(opt, joinReports(reports))
	}
}

func FuzzKeyboard(f *testing.F) {
	seedFixtures(f, ModeKeyboard)
	f.Fuzz(func(t *testing.T, opt byte, data []byte) {
		lay := layouts["us"]
		switch {
		case opt&4 != 0:
			lay = layouts["de"]
		case opt&8 != 0:
			lay = layouts["fr"]
		}
		d := newKeyboard(lay, opt&1 != 0, opt&2 != 0)
		for i, r := range splitReports(data, 12) {
			checkEvents(t, d.feed(r), true)
			if opt&16 != 0 && i%7 == 6 {
				checkEvents(t, d.flush(), true)
			}
		}
		checkEvents(t, d.flush(), true)
		if d.pending() {
			t.Fatal("pending after flush")
		}
	})
}

func FuzzPOS(f *testing.F) {
	seedFixtures(f, ModePOS)
	f.Fuzz(func(t *testing.T, opt byte, data []byte) {
		d := newPOS(opt&1 != 0)
		for i, r := range splitReports(data, 70) {
			checkEvents(t, d.feed(r), false)
			if opt&16 != 0 && i%3 == 2 {
				checkEvents(t, d.flush(), false)
			}
		}
		checkEvents(t, d.flush(), false)
		if d.pending() {
			t.Fatal("pending after flush")
		}
	})
}

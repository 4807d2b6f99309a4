package hid

import (
	"strings"
	"testing"
)

// press is one key press and release with modifiers.
func press(mods, key byte) [][]byte {
	return [][]byte{{mods, 0, key, 0, 0, 0, 0, 0}, make([]byte, 8)}
}

func feedAll(d decoder, reports ...[][]byte) []event {
	var out []event
	for _, rs := range reports {
		for _, r := range rs {
			out = append(out, d.feed(r)...)
		}
	}
	return out
}

func TestKeyboardCombinations(t *testing.T) {
	for _, tc := range []struct {
		name, layout string
		reports      [][][]byte
		want         string // code, or "error <substring>"
	}{
		{"ctrl+alt on us is not altgr", "us", [][][]byte{press(modLCtrl|modLAlt, 0x1F), press(0, keyEnter)}, "error key 0x1f with Alt"},
		{"right alt on de is altgr", "de", [][][]byte{press(modRAlt, 0x14), press(0, keyEnter)}, "@"},
		{"right ctrl + right alt on de is altgr", "de", [][][]byte{press(modRCtrl|modRAlt, 0x26), press(0, keyEnter)}, "]"},
		{"shift+altgr", "de", [][][]byte{press(modLShift|modRAlt, 0x14), press(0, keyEnter)}, "error with Shift+AltGr"},
		{"altgr level empty", "de", [][][]byte{press(modRAlt, 0x04), press(0, keyEnter)}, "error types nothing at that level"},
		{"ctrl+] on de is gs by position", "de", [][][]byte{press(0, 0x1E), press(modLCtrl, keyGS), press(0, 0x1F), press(0, keyEnter)}, "1\x1d2"},
		{"ctrl+6 is not gs", "us", [][][]byte{press(modLCtrl, 0x23), press(0, keyEnter)}, "error with Ctrl"},
		{"dead key at end", "fr", [][][]byte{press(0, 0x2F), press(0, keyEnter)}, "error dead key '^' at the end"},
		{"fr dead circumflex + space", "fr", [][][]byte{press(0, 0x2F), press(0, keySpace), press(0, keyEnter)}, "^"},
		{"fr altgr tilde is dead", "fr", [][][]byte{press(modRAlt, 0x1F), press(0, keySpace), press(0, keyEnter)}, "~"},
		{"fr shift ² is nothing", "fr", [][][]byte{press(modLShift, 0x35), press(0, keyEnter)}, "error types nothing"},
		{"num lock and scroll lock ignored", "us", [][][]byte{press(0, keyNumLock), press(0, 0x1E), press(0, keyScrollLock), press(0, keyEnter)}, "1"},
		{"keypad operators", "us", [][][]byte{press(0, 0x54), press(0, 0x55), press(0, 0x56), press(0, 0x57), press(0, 0x63), press(0, keyEnter)}, "/*-+."},
		{"modifier keys as usages", "us", [][][]byte{{{0, 0, 0xE5, 0x04, 0, 0, 0, 0}, make([]byte, 8)}, press(0, keyEnter)}, "A"},
		{"alt code 0 is dropped", "us", [][][]byte{{{modLAlt, 0, 0x62, 0, 0, 0, 0, 0}, {modLAlt, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 8)}, press(0, 0x1E), press(0, keyEnter)}, "1"},
		{"alt code overflow", "us", [][][]byte{{{modLAlt, 0, 0x61, 0, 0, 0, 0, 0}, {modLAlt, 0, 0x61, 0x61, 0, 0, 0, 0}, {modLAlt, 0, 0x61, 0x61, 0x61, 0, 0, 0}, {modLAlt, 0, 0x61, 0x61, 0x61, 0x61, 0, 0}, {modLAlt, 0, 0x61, 0x61, 0x61, 0x61, 0x61, 0}, {modLAlt, 0, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61}, make([]byte, 8)}, press(0, 0x1E), press(0, keyEnter)}, "1"},
		{"alt released with a key in one report", "us", [][][]byte{{{modLAlt, 0, 0x5C, 0, 0, 0, 0, 0}, {modLAlt, 0, 0x5C, 0x5D, 0, 0, 0, 0}, {0, 0, 0x1E, 0, 0, 0, 0, 0}, make([]byte, 8)}, press(0, keyEnter)}, "-1"},
		{"error state 0x02", "us", [][][]byte{{{0, 0, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02}}, press(0, keyEnter)}, "error keyboard error state 0x02"},
		{"too short", "us", [][][]byte{{{0, 0}}, press(0, keyEnter)}, "error too short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newKeyboard(layouts[tc.layout], false, false)
			got := describe(feedAll(d, tc.reports...))
			var codes []string
			for _, g := range got {
				if !strings.HasPrefix(g, "note ") {
					codes = append(codes, g)
				}
			}
			if len(codes) != 1 {
				t.Fatalf("events %q", got)
			}
			if want, ok := strings.CutPrefix(tc.want, "error "); ok {
				if !strings.HasPrefix(codes[0], "error ") || !strings.Contains(codes[0], want) {
					t.Fatalf("got %s, want error %q", codes[0], want)
				}
				return
			}
			if w := describe([]event{{code: []byte(tc.want)}})[0]; codes[0] != w {
				t.Fatalf("got %s, want %s", codes[0], w)
			}
		})
	}
}

func TestKeyboardTooLong(t *testing.T) {
	d := newKeyboard(layouts["us"], false, false)
	var rs [][]byte
	for range maxCode + 1 {
		rs = append(rs, press(0, 0x1E)...)
	}
	rs = append(rs, press(0, keyEnter)...)
	got := describe(feedAll(d, rs))
	if len(got) != 1 || !strings.Contains(got[0], "longer than 512 bytes") {
		t.Fatalf("events %q", got)
	}
	// The next code is read normally.
	if got := describe(feedAll(d, press(0, 0x1E), press(0, keyEnter))); len(got) != 1 || got[0] != `code "1" ` {
		t.Fatalf("events %q", got)
	}
}

func TestKeyboardIdleInsideAltCode(t *testing.T) {
	d := newKeyboard(layouts["us"], false, false)
	feedAll(d, [][]byte{{modLAlt, 0, 0x62, 0, 0, 0, 0, 0}})
	if !d.pending() {
		t.Fatal("an Alt code in progress is pending")
	}
	if got := describe(d.flush()); len(got) != 1 || !strings.Contains(got[0], "inside an Alt code") {
		t.Fatalf("events %q", got)
	}
	if d.pending() {
		t.Fatal("pending after flush")
	}
}

func TestPOSTooLong(t *testing.T) {
	d := newPOS(true)
	part := make([]byte, 64)
	part[0], part[1], part[63] = 2, 56, 1
	copy(part[2:], "]d2")
	for i := range 56 {
		part[5+i] = 'A'
	}
	var got []event
	for range maxCode/56 + 1 {
		got = append(got, d.feed(part)...)
	}
	last := append([]byte(nil), part...)
	last[63] = 0
	got = append(got, d.feed(last)...)
	if s := describe(got); len(s) != 1 || !strings.Contains(s[0], "longer than 512 bytes") {
		t.Fatalf("events %q", s)
	}
}

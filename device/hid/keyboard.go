package hid

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Modifier bits of a boot keyboard report's first byte.
const (
	modLCtrl  = 1 << 0
	modLShift = 1 << 1
	modLAlt   = 1 << 2
	modLGUI   = 1 << 3
	modRCtrl  = 1 << 4
	modRShift = 1 << 5
	modRAlt   = 1 << 6
	modRGUI   = 1 << 7
)

// Keyboard usage ids (HID usage page 0x07) with a meaning beyond a
// character.
const (
	keyRolloverError = 0x01 // ErrorRollOver; 0x02 POSTFail, 0x03 ErrorUndefined
	keyEnter         = 0x28
	keyTab           = 0x2B
	keySpace         = 0x2C
	keyGS            = 0x30 // "]" on US: Ctrl+] is GS
	keyCapsLock      = 0x39
	keyScrollLock    = 0x47
	keyNumLock       = 0x53
	keyKPEnter       = 0x58
	keyKP1           = 0x59
	keyKP0           = 0x62
	keyLeftCtrl      = 0xE0 // 0xE0–0xE7: the modifiers as keys
	keyRightGUI      = 0xE7
)

// bootKeys is the number of key slots in a boot keyboard report.
const bootKeys = 6

// maxAltCode caps the value of an Alt code; longer digit runs are dropped
// on release like any code out of range.
const maxAltCode = 99999

var (
	errRollover = errors.New("keyboard rollover error: keys may have been lost")
	errTab      = errors.New("a Tab inside a code (set tab_ends if the scanner ends codes with Tab)")
)

// keyboard decodes boot keyboard reports typed in one layout. The zero
// value is not usable; see newKeyboard.
type keyboard struct {
	lay      *layout
	reportID bool
	tabEnds  bool

	prev  [bootKeys]byte // keys of the previous report
	nPrev int
	caps  bool

	altVal, altDigits int  // Alt code being typed on the keypad
	dead              rune // pending dead key, 0 = none

	code  []byte // the code in progress
	err   error  // first problem in the code in progress; it is dropped
	chars int    // characters typed in the code in progress, for messages
	out   []event
}

func newKeyboard(lay *layout, reportID, tabEnds bool) *keyboard {
	return &keyboard{lay: lay, reportID: reportID, tabEnds: tabEnds}
}

func (d *keyboard) pending() bool {
	return len(d.code) > 0 || d.err != nil || d.altDigits > 0 || d.dead != 0
}

func (d *keyboard) flush() []event {
	d.out = nil
	d.end()
	return d.out
}

func (d *keyboard) feed(report []byte) []event {
	d.out = nil
	r := report
	if d.reportID {
		if len(r) == 0 {
			d.fail(errors.New("empty keyboard report"))
			return d.out
		}
		r = r[1:]
	}
	if len(r) < 3 {
		d.fail(fmt.Errorf("keyboard report of %d bytes: too short for modifiers and a key", len(r)))
		return d.out
	}
	mods := r[0]
	slots := r[2:]
	if len(slots) > bootKeys {
		for _, b := range slots[bootKeys:] {
			if b != 0 {
				d.fail(fmt.Errorf("keyboard report of %d bytes: longer than a boot report (is the scanner in an NKRO or vendor mode?)", len(r)))
				return d.out
			}
		}
		slots = slots[:bootKeys]
	}
	var cur [bootKeys]byte
	n := 0
	for _, k := range slots {
		switch {
		case k == 0:
		case k <= 0x03:
			// The keyboard cannot say which keys are down: keep the
			// previous state, and the code cannot be trusted.
			if k == keyRolloverError {
				d.fail(errRollover)
			} else {
				d.fail(fmt.Errorf("keyboard error state 0x%02x", k))
			}
			return d.out
		case k >= keyLeftCtrl && k <= keyRightGUI:
			mods |= 1 << (k - keyLeftCtrl)
		default:
			cur[n] = k
			n++
		}
	}
	// An Alt code completes when Alt goes up, before any key of this
	// report is typed without it.
	if d.altDigits > 0 && !d.levels(mods).alt {
		d.resolveAlt()
	}
	for i := range n {
		if d.isNew(cur[:n], i) {
			d.press(cur[i], mods)
		}
	}
	d.prev, d.nPrev = cur, n
	return d.out
}

// isNew reports whether cur[i] is a press: the key occurs more often in
// cur[:i+1] than in the previous report.
func (d *keyboard) isNew(cur []byte, i int) bool {
	k := cur[i]
	seen := 0
	for _, c := range cur[:i+1] {
		if c == k {
			seen++
		}
	}
	before := 0
	for _, c := range d.prev[:d.nPrev] {
		if c == k {
			before++
		}
	}
	return seen > before
}

// levels is what a modifier byte means in this layout.
type levels struct {
	shift, ctrl, alt, altGr, gui bool
}

func (d *keyboard) levels(mods byte) levels {
	l := levels{
		shift: mods&(modLShift|modRShift) != 0,
		ctrl:  mods&(modLCtrl|modRCtrl) != 0,
		gui:   mods&(modLGUI|modRGUI) != 0,
	}
	lalt, ralt := mods&modLAlt != 0, mods&modRAlt != 0
	if d.lay.altGr && (ralt || l.ctrl && lalt) {
		// Windows reports AltGr as Ctrl+Alt: the Ctrl is part of it.
		l.altGr, l.ctrl = true, false
	} else {
		l.alt = lalt || ralt
	}
	return l
}

func (d *keyboard) press(k, mods byte) {
	l := d.levels(mods)
	switch k {
	case keyEnter, keyKPEnter:
		d.end()
		return
	case keyTab:
		if d.tabEnds {
			d.end()
		} else {
			d.fail(errTab)
		}
		return
	case keyCapsLock:
		d.caps = !d.caps
		return
	case keyNumLock, keyScrollLock:
		return
	}
	switch {
	case l.gui:
		d.fail(fmt.Errorf("key 0x%02x with GUI at character %d is not a character", k, d.chars+1))
		return
	case l.alt && k >= keyKP1 && k <= keyKP0:
		digit := int(k-keyKP1) + 1
		if k == keyKP0 {
			digit = 0
		}
		d.altVal = min(d.altVal*10+digit, maxAltCode)
		d.altDigits++
		return
	case l.alt:
		d.fail(fmt.Errorf("key 0x%02x with Alt at character %d is not a character (Alt codes use the keypad)", k, d.chars+1))
		return
	case l.ctrl && k == keyGS:
		d.add(gs)
		return
	case l.ctrl:
		d.fail(fmt.Errorf("key 0x%02x with Ctrl at character %d is a control character other than GS (Ctrl+])", k, d.chars+1))
		return
	}
	def, ok := d.lay.keys[k]
	if !ok {
		d.fail(fmt.Errorf("unknown key 0x%02x at character %d (not a character on layout %s)", k, d.chars+1, d.lay.name))
		return
	}
	var r rune
	var dead bool
	switch {
	case l.altGr && l.shift:
		d.fail(fmt.Errorf("key 0x%02x with Shift+AltGr at character %d: not on layout %s", k, d.chars+1, d.lay.name))
		return
	case l.altGr:
		r, dead = def.altGr, def.dead&deadAltGr != 0
	case l.shift != (d.caps && def.letter()):
		r, dead = def.shift, def.dead&deadShift != 0
	default:
		r, dead = def.base, def.dead&deadBase != 0
	}
	if r == 0 {
		d.fail(fmt.Errorf("key 0x%02x at character %d types nothing at that level on layout %s", k, d.chars+1, d.lay.name))
		return
	}
	if d.dead != 0 {
		// Scanners type an accent alone as dead key + Space.
		accent := d.dead
		d.dead = 0
		if k != keySpace {
			d.fail(fmt.Errorf("dead key %q followed by %q at character %d: accented letters are not supported", accent, r, d.chars+1))
			return
		}
		d.add(accent)
		return
	}
	if dead {
		d.dead = r
		return
	}
	d.add(r)
}

// resolveAlt types the character of a finished Alt code.
func (d *keyboard) resolveAlt() {
	v, n := d.altVal, d.altDigits
	d.altVal, d.altDigits = 0, 0
	switch {
	case v == gs:
		d.add(gs)
	case v >= 0x20 && v <= 0x7E:
		d.add(rune(v))
	default:
		d.out = append(d.out, event{note: fmt.Sprintf("Alt code %0*d at character %d is neither GS nor printable ASCII: dropped", n, v, d.chars+1)})
	}
}

func (d *keyboard) add(r rune) {
	if d.err != nil {
		return
	}
	d.chars++
	d.code = utf8.AppendRune(d.code, r)
	if len(d.code) > maxCode {
		d.fail(fmt.Errorf("code longer than %d bytes (several scans run together, or a missing Enter suffix with a long idle timeout?)", maxCode))
	}
}

// fail spoils the code in progress; the first reason is kept.
func (d *keyboard) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// end finishes the code in progress: passed on if clean, dropped and
// reported if anything went wrong in it.
func (d *keyboard) end() {
	if d.dead != 0 {
		d.fail(fmt.Errorf("dead key %q at the end of the code", d.dead))
	}
	if d.altDigits > 0 {
		d.fail(errors.New("code ended inside an Alt code"))
	}
	switch {
	case d.err != nil:
		d.out = append(d.out, event{err: fmt.Errorf("code dropped: %w", d.err)})
	case len(d.code) > 0:
		d.out = append(d.out, event{code: d.code})
	}
	d.code, d.err, d.chars, d.dead, d.altVal, d.altDigits = nil, nil, 0, 0, 0, 0
}

package hid

import "unicode"

// keyDef is what one key types at each level; 0 = nothing.
type keyDef struct {
	base, shift, altGr rune
	dead               deadLevels
}

// deadLevels marks the levels at which a key is a dead key (an accent
// that waits for the next key).
type deadLevels uint8

const (
	deadBase deadLevels = 1 << iota
	deadShift
	deadAltGr
)

// letter reports whether Caps Lock swaps the key's case: its base is a
// lower-case letter whose shifted form is the capital.
func (k keyDef) letter() bool {
	return unicode.IsLower(k.base) && unicode.ToUpper(k.base) == k.shift
}

// layout is a scanner keyboard layout: HID usage id (keyboard page 0x07)
// to characters. Keys not listed are not characters (Escape, F1 …).
type layout struct {
	name string
	// altGr: right Alt (or Ctrl+Alt, as Windows reports AltGr) selects the
	// third level, instead of being an Alt for Alt codes.
	altGr bool
	keys  map[byte]keyDef
}

// keypad keys type the same on the layouts here, except the decimal key,
// which each layout sets (0x63). Digits are typed as if Num Lock were on:
// scanners assume it, and the host's Num Lock state never reaches us.
var keypad = map[byte]keyDef{
	0x54: {base: '/', shift: '/'}, 0x55: {base: '*', shift: '*'},
	0x56: {base: '-', shift: '-'}, 0x57: {base: '+', shift: '+'},
	0x59: {base: '1', shift: '1'}, 0x5A: {base: '2', shift: '2'}, 0x5B: {base: '3', shift: '3'},
	0x5C: {base: '4', shift: '4'}, 0x5D: {base: '5', shift: '5'}, 0x5E: {base: '6', shift: '6'},
	0x5F: {base: '7', shift: '7'}, 0x60: {base: '8', shift: '8'}, 0x61: {base: '9', shift: '9'},
	0x62: {base: '0', shift: '0'},
}

// layouts are the scanner layouts keyboard mode knows, by config name.
// The tables follow the Windows layouts (KBDUS, KBDGR, KBDFR), which is
// what scanners emulate.
var layouts = map[string]*layout{
	"us": newLayout("us", false, map[byte]keyDef{
		0x04: {base: 'a', shift: 'A'}, 0x05: {base: 'b', shift: 'B'}, 0x06: {base: 'c', shift: 'C'},
		0x07: {base: 'd', shift: 'D'}, 0x08: {base: 'e', shift: 'E'}, 0x09: {base: 'f', shift: 'F'},
		0x0A: {base: 'g', shift: 'G'}, 0x0B: {base: 'h', shift: 'H'}, 0x0C: {base: 'i', shift: 'I'},
		0x0D: {base: 'j', shift: 'J'}, 0x0E: {base: 'k', shift: 'K'}, 0x0F: {base: 'l', shift: 'L'},
		0x10: {base: 'm', shift: 'M'}, 0x11: {base: 'n', shift: 'N'}, 0x12: {base: 'o', shift: 'O'},
		0x13: {base: 'p', shift: 'P'}, 0x14: {base: 'q', shift: 'Q'}, 0x15: {base: 'r', shift: 'R'},
		0x16: {base: 's', shift: 'S'}, 0x17: {base: 't', shift: 'T'}, 0x18: {base: 'u', shift: 'U'},
		0x19: {base: 'v', shift: 'V'}, 0x1A: {base: 'w', shift: 'W'}, 0x1B: {base: 'x', shift: 'X'},
		0x1C: {base: 'y', shift: 'Y'}, 0x1D: {base: 'z', shift: 'Z'},
		0x1E: {base: '1', shift: '!'}, 0x1F: {base: '2', shift: '@'}, 0x20: {base: '3', shift: '#'},
		0x21: {base: '4', shift: '$'}, 0x22: {base: '5', shift: '%'}, 0x23: {base: '6', shift: '^'},
		0x24: {base: '7', shift: '&'}, 0x25: {base: '8', shift: '*'}, 0x26: {base: '9', shift: '('},
		0x27: {base: '0', shift: ')'},
		0x2C: {base: ' ', shift: ' '},
		0x2D: {base: '-', shift: '_'}, 0x2E: {base: '=', shift: '+'}, 0x2F: {base: '[', shift: '{'},
		0x30: {base: ']', shift: '}'}, 0x31: {base: '\\', shift: '|'}, 0x32: {base: '\\', shift: '|'},
		0x33: {base: ';', shift: ':'}, 0x34: {base: '\'', shift: '"'}, 0x35: {base: '`', shift: '~'},
		0x36: {base: ',', shift: '<'}, 0x37: {base: '.', shift: '>'}, 0x38: {base: '/', shift: '?'},
		0x63: {base: '.', shift: '.'},
	}),
	// German QWERTZ: y and z swapped, digits shifted to !"§$%&/()=, and
	// []{}@\~| on AltGr.
	"de": newLayout("de", true, map[byte]keyDef{
		0x04: {base: 'a', shift: 'A'}, 0x05: {base: 'b', shift: 'B'}, 0x06: {base: 'c', shift: 'C'},
		0x07: {base: 'd', shift: 'D'}, 0x08: {base: 'e', shift: 'E', altGr: '€'}, 0x09: {base: 'f', shift: 'F'},
		0x0A: {base: 'g', shift: 'G'}, 0x0B: {base: 'h', shift: 'H'}, 0x0C: {base: 'i', shift: 'I'},
		0x0D: {base: 'j', shift: 'J'}, 0x0E: {base: 'k', shift: 'K'}, 0x0F: {base: 'l', shift: 'L'},
		0x10: {base: 'm', shift: 'M', altGr: 'µ'}, 0x11: {base: 'n', shift: 'N'}, 0x12: {base: 'o', shift: 'O'},
		0x13: {base: 'p', shift: 'P'}, 0x14: {base: 'q', shift: 'Q', altGr: '@'}, 0x15: {base: 'r', shift: 'R'},
		0x16: {base: 's', shift: 'S'}, 0x17: {base: 't', shift: 'T'}, 0x18: {base: 'u', shift: 'U'},
		0x19: {base: 'v', shift: 'V'}, 0x1A: {base: 'w', shift: 'W'}, 0x1B: {base: 'x', shift: 'X'},
		0x1C: {base: 'z', shift: 'Z'}, 0x1D: {base: 'y', shift: 'Y'},
		0x1E: {base: '1', shift: '!'}, 0x1F: {base: '2', shift: '"', altGr: '²'}, 0x20: {base: '3', shift: '§', altGr: '³'},
		0x21: {base: '4', shift: '$'}, 0x22: {base: '5', shift: '%'}, 0x23: {base: '6', shift: '&'},
		0x24: {base: '7', shift: '/', altGr: '{'}, 0x25: {base: '8', shift: '(', altGr: '['}, 0x26: {base: '9', shift: ')', altGr: ']'},
		0x27: {base: '0', shift: '=', altGr: '}'},
		0x2C: {base: ' ', shift: ' '},
		0x2D: {base: 'ß', shift: '?', altGr: '\\'}, 0x2E: {base: '´', shift: '`', dead: deadBase | deadShift},
		0x2F: {base: 'ü', shift: 'Ü'}, 0x30: {base: '+', shift: '*', altGr: '~'},
		0x31: {base: '#', shift: '\''}, 0x32: {base: '#', shift: '\''},
		0x33: {base: 'ö', shift: 'Ö'}, 0x34: {base: 'ä', shift: 'Ä'}, 0x35: {base: '^', shift: '°', dead: deadBase},
		0x36: {base: ',', shift: ';'}, 0x37: {base: '.', shift: ':'}, 0x38: {base: '-', shift: '_'},
		0x64: {base: '<', shift: '>', altGr: '|'},
		0x63: {base: ',', shift: ','},
	}),
	// French AZERTY: a/q, z/w and m moved; the digit row types &é"'(-è_çà
	// and needs Shift for the digits; #{[|\^@]} on AltGr.
	"fr": newLayout("fr", true, map[byte]keyDef{
		0x04: {base: 'q', shift: 'Q'}, 0x05: {base: 'b', shift: 'B'}, 0x06: {base: 'c', shift: 'C'},
		0x07: {base: 'd', shift: 'D'}, 0x08: {base: 'e', shift: 'E', altGr: '€'}, 0x09: {base: 'f', shift: 'F'},
		0x0A: {base: 'g', shift: 'G'}, 0x0B: {base: 'h', shift: 'H'}, 0x0C: {base: 'i', shift: 'I'},
		0x0D: {base: 'j', shift: 'J'}, 0x0E: {base: 'k', shift: 'K'}, 0x0F: {base: 'l', shift: 'L'},
		0x10: {base: ',', shift: '?'}, 0x11: {base: 'n', shift: 'N'}, 0x12: {base: 'o', shift: 'O'},
		0x13: {base: 'p', shift: 'P'}, 0x14: {base: 'a', shift: 'A'}, 0x15: {base: 'r', shift: 'R'},
		0x16: {base: 's', shift: 'S'}, 0x17: {base: 't', shift: 'T'}, 0x18: {base: 'u', shift: 'U'},
		0x19: {base: 'v', shift: 'V'}, 0x1A: {base: 'z', shift: 'Z'}, 0x1B: {base: 'x', shift: 'X'},
		0x1C: {base: 'y', shift: 'Y'}, 0x1D: {base: 'w', shift: 'W'},
		0x1E: {base: '&', shift: '1'}, 0x1F: {base: 'é', shift: '2', altGr: '~', dead: deadAltGr}, 0x20: {base: '"', shift: '3', altGr: '#'},
		0x21: {base: '\'', shift: '4', altGr: '{'}, 0x22: {base: '(', shift: '5', altGr: '['}, 0x23: {base: '-', shift: '6', altGr: '|'},
		0x24: {base: 'è', shift: '7', altGr: '`', dead: deadAltGr}, 0x25: {base: '_', shift: '8', altGr: '\\'}, 0x26: {base: 'ç', shift: '9', altGr: '^'},
		0x27: {base: 'à', shift: '0', altGr: '@'},
		0x2C: {base: ' ', shift: ' '},
		0x2D: {base: ')', shift: '°', altGr: ']'}, 0x2E: {base: '=', shift: '+', altGr: '}'},
		0x2F: {base: '^', shift: '¨', dead: deadBase | deadShift}, 0x30: {base: '$', shift: '£', altGr: '¤'},
		0x31: {base: '*', shift: 'µ'}, 0x32: {base: '*', shift: 'µ'},
		0x33: {base: 'm', shift: 'M'}, 0x34: {base: 'ù', shift: '%'}, 0x35: {base: '²'},
		0x36: {base: ';', shift: '.'}, 0x37: {base: ':', shift: '/'}, 0x38: {base: '!', shift: '§'},
		0x64: {base: '<', shift: '>'},
		0x63: {base: '.', shift: '.'},
	}),
}

// newLayout adds the shared keypad keys to a layout's own table.
func newLayout(name string, altGr bool, keys map[byte]keyDef) *layout {
	for u, k := range keypad {
		if _, ok := keys[u]; !ok {
			keys[u] = k
		}
	}
	return &layout{name: name, altGr: altGr, keys: keys}
}

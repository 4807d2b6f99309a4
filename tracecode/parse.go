package tracecode

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Parse classifies and validates one scanned code.
//
// Steps: trim surrounding spaces and trailing CR/LF; reject empty, too long,
// invalid UTF-8 and control characters (GS is allowed, it is the GS1
// separator); strip a leading AIM symbology identifier; replace GS
// substitutes and drop a leading GS; then classify:
//
//   - a GS1 symbology identifier (]d2 ]C1 ]Q3 ]e0) or a leading GS: GS1, decisively;
//   - ^8\d{19}$: 码上放心;
//   - 69 + 11 digits: rejected as a product barcode, whatever the chain rules say;
//   - "(", "01"+14 digits, or digits with a GS inside: GS1, decisively;
//   - otherwise the chain's Other rules, in order;
//   - otherwise an error saying what was expected.
//
// A code recognised as 码上放心 or GS1 is never handed to the chain rules,
// so a mangled GS1 read cannot slip through a loose chain pattern.
//
// The error is always an *Error when non-nil. Code.Input, and Code.Kind when
// the family was recognised, are filled even on error.
func Parse(input string, r Rules) (Code, error) {
	c := Code{Input: input}
	if err := parse(&c, input, r); err != nil {
		c.Normalized, c.Key = "", ""
		return c, err
	}
	return c, nil
}

// Reparse parses a value that Parse produced as Code.Normalized under r,
// e.g. one read back from the queue. Normalized GS1 strings carry every
// separator they need, so they are read with r.GSReliable set (a GS-less one
// would otherwise be re-checked for lost separators and could be reported
// ambiguous), and without a length limit (separators added to a GS-less
// input can make it longer than r.MaxLength).
func Reparse(normalized string, r Rules) (Code, error) {
	r.GSReliable = true
	if r.MaxLength < len(normalized) {
		r.MaxLength = len(normalized)
	}
	return Parse(normalized, r)
}

func parse(c *Code, input string, r Rules) *Error {
	s, off := trimInput(input)
	if s == "" {
		return errf(ReasonEmpty, "nothing was scanned: the input is empty")
	}
	maxLen := r.MaxLength
	if maxLen <= 0 {
		maxLen = DefaultMaxLength
	}
	if len(s) > maxLen {
		return errf(ReasonTooLong, "the input is %d characters long, more than the %d allowed: probably several scans ran together; scan one code at a time", len(s), maxLen)
	}
	if err := checkChars(s, off); err != nil {
		return err
	}

	data := s
	if aimPrefix(s) {
		c.Symbology, data = s[:3], s[3:]
		off += 3
		if data == "" {
			return errf(ReasonEmpty, "only the symbology identifier %s was received, no code data: scan again", c.Symbology)
		}
	}
	sub := replaceSubstitutes(data, r.GSSubstitutes)
	leadingGS := strings.HasPrefix(sub, gs)
	if leadingGS {
		sub = sub[1:] // the leading FNC1, as decoders like gozxing emit it
	}

	switch {
	case isGS1Symbology(c.Symbology) || leadingGS:
		return gs1(c, sub, leadingGS, r)
	case msfxPattern(data):
		c.Kind = KindMSFX
		c.Product, c.Serial, c.Check = data[:7], data[7:16], data[16:]
		c.Special = data[1] == '9'
		if !r.allows(KindMSFX) {
			return notAllowed(KindMSFX, r)
		}
		c.Normalized, c.Key = data, data
		return nil
	case len(data) == 13 && strings.HasPrefix(data, "69") && allDigits(data):
		return errf(ReasonProductBarcode, "%s is a product barcode (商品码, EAN-13 starting 69), not a trace code: scan the 追溯码 (usually 20 digits starting with 8, or the 2-D code) on the pack", data)
	case looksGS1(sub):
		return gs1(c, sub, false, r)
	}

	if i := strings.IndexByte(data, gsByte); i >= 0 {
		return errf(ReasonControlChar, "a GS separator (0x1D) at byte %d, but the data is not a GS1 code: the scanner added it, or the code is damaged", off+i+1)
	}
	if r.allows(KindOther) && cleanForRules(data) {
		for _, rule := range r.Other {
			if rule.matches(data) {
				c.Kind, c.Rule = KindOther, rule.Name
				c.Normalized, c.Key = data, data
				return nil
			}
		}
	}
	return fallback(data, off, r)
}

// gs1 parses GS1 data and applies AllowedKinds. A kind that is not allowed
// wins over a parse error: it is the one thing the clerk can act on.
func gs1(c *Code, data string, leadingGS bool, r Rules) *Error {
	err := parseGS1(c, data, leadingGS || r.GSReliable)
	if !r.allows(KindGS1) {
		return notAllowed(KindGS1, r)
	}
	return err
}

func notAllowed(k Kind, r Rules) *Error {
	return errf(ReasonKindNotAllowed, "this is %s, which this store's rules do not accept (allowed: %s)", kindName(k), allowedList(r))
}

func kindName(k Kind) string {
	switch k {
	case KindMSFX:
		return "a 码上放心 trace code"
	case KindGS1:
		return "a GS1 code"
	case KindOther:
		return "a code accepted by a store rule"
	}
	return string(k)
}

func allowedList(r Rules) string {
	names := make([]string, 0, len(r.AllowedKinds))
	for _, k := range r.AllowedKinds {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

// trimInput removes surrounding spaces and trailing CR/LF and returns the
// byte offset of the result in s.
func trimInput(s string) (string, int) {
	end := len(s)
	for end > 0 && (s[end-1] == ' ' || s[end-1] == '\r' || s[end-1] == '\n') {
		end--
	}
	start := 0
	for start < end && s[start] == ' ' {
		start++
	}
	return s[start:end], start
}

// checkChars rejects invalid UTF-8 and control or invisible characters,
// except GS, naming the 1-based byte position in the raw input.
func checkChars(s string, off int) *Error {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return errf(ReasonBadEncoding, "the input is not valid text (byte 0x%02X at byte %d): check the scanner's interface and character-set settings", s[i], off+i+1)
		}
		if r != gsByte && isControl(r) {
			hint := "the scanner sends extra keys or a prefix/suffix: fix the scanner's prefix/suffix or the reader's framing"
			if r == '\r' || r == '\n' {
				hint = "a line break inside the input: two scans were probably joined; scan one code at a time"
			}
			return errf(ReasonControlChar, "%s at byte %d: %s", describeChar(s[i:]), off+i+1, hint)
		}
		i += size
	}
	return nil
}

// isControl reports control characters (C0, DEL, C1) and invisible format
// characters such as a zero-width space or a byte-order mark.
func isControl(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

// aimPrefix reports whether s starts with an AIM symbology identifier:
// "]", a letter (the symbology) and a letter or digit (the modifier).
func aimPrefix(s string) bool {
	return len(s) >= 3 && s[0] == ']' && isASCIILetter(s[1]) && (isASCIILetter(s[2]) || isDigit(s[2]))
}

// replaceSubstitutes replaces every substitute by GS, scanning left to right
// and trying the substitutes in list order at each position.
func replaceSubstitutes(s string, subs []string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		n := 0
		for _, sub := range subs {
			if sub != "" && strings.HasPrefix(s[i:], sub) {
				n = len(sub)
				break
			}
		}
		if n == 0 {
			i++
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:i])
		b.WriteByte(gsByte)
		i += n
		last = i
	}
	if b.Len() == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// msfxPattern is ^8\d{19}$.
func msfxPattern(s string) bool {
	return len(s) == 20 && s[0] == '8' && allDigits(s)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func isASCIILetter(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }

// cleanForRules reports whether data may be offered to the chain rules:
// NMPAB/T 1002-2019 trace codes use GB/T 1988 (ASCII) graphic characters,
// and data that still starts like an AIM identifier would not read back
// the same.
func cleanForRules(data string) bool {
	for i := 0; i < len(data); i++ {
		if data[i] <= ' ' || data[i] >= 0x7F {
			return false
		}
	}
	return !aimPrefix(data)
}

// matches reports whether the rule accepts data: length bounds in
// characters, and Pattern matching the whole of data.
func (o OtherRule) matches(data string) bool {
	n := utf8.RuneCountInString(data)
	if o.MinLen > 0 && n < o.MinLen || o.MaxLen > 0 && n > o.MaxLen {
		return false
	}
	if o.Pattern == nil {
		return true
	}
	loc := o.Pattern.FindStringIndex(data)
	return loc != nil && loc[0] == 0 && loc[1] == len(data)
}

// fallback explains why data is not a trace code.
func fallback(data string, off int, r Rules) *Error {
	if allDigits(data) {
		n := len(data)
		switch {
		case n == 20:
			return errf(ReasonNotMSFX, "%s has 20 digits but does not start with 8: 码上放心 trace codes start with 8; make sure this is the 追溯码 and scan it again", data)
		case data[0] == '8' && (n == 19 || n == 21):
			return errf(ReasonBadLength, "%s has %d digits, but a 码上放心 trace code has exactly 20: a digit was lost or doubled in the read; scan it again", data, n)
		case (n == 8 || n == 12 || n == 13 || n == 14) && mod10(data[:n-1]) == data[n-1]:
			return errf(ReasonProductBarcode, "%s looks like a product barcode (商品码, EAN/UPC/GTIN), not a trace code: scan the 追溯码 on the pack", data)
		}
		return errf(ReasonBadLength, "%s has %d digits; a 码上放心 trace code has exactly 20 digits starting with 8", data, n)
	}
	for i, ch := range data {
		if ch >= utf8.RuneSelf {
			if isFullWidth(ch) {
				return errf(ReasonNonASCII, "the input contains the full-width character %s at byte %d: the Chinese input method (IME) is rewriting the scanner's keystrokes; switch the keyboard to English/half-width input and scan again", describeChar(data[i:]), off+i+1)
			}
			return errf(ReasonNonASCII, "the input contains the non-ASCII character %s at byte %d: trace codes use ASCII only; check the scanner's keyboard layout/country setting and the input method", describeChar(data[i:]), off+i+1)
		}
	}
	hint := ""
	if i := strings.IndexByte(data, ' '); i >= 0 {
		hint = fmt.Sprintf(" (it contains a space at byte %d)", off+i+1)
	}
	return errf(ReasonUnrecognised, "%s is not a recognised trace code%s: expected %s", quote(data), hint, expected(r))
}

// isFullWidth reports full-width forms and the ideographic space, typical
// of a Chinese IME in full-width mode.
func isFullWidth(r rune) bool {
	return r == 0x3000 || r >= 0xFF01 && r <= 0xFF5E
}

// expected lists what Parse would have accepted under r.
func expected(r Rules) string {
	var parts []string
	if r.allows(KindMSFX) {
		parts = append(parts, "a 码上放心 code (20 digits starting with 8)")
	}
	if r.allows(KindGS1) {
		parts = append(parts, "a GS1 code with GTIN (01) and serial (21)")
	}
	if r.allows(KindOther) {
		for _, o := range r.Other {
			d := fmt.Sprintf("a code matching rule %q", o.Name)
			switch {
			case o.MinLen > 0 && o.MinLen == o.MaxLen:
				d += fmt.Sprintf(" (%d characters)", o.MinLen)
			case o.MinLen > 0 && o.MaxLen > 0:
				d += fmt.Sprintf(" (%d–%d characters)", o.MinLen, o.MaxLen)
			case o.MinLen > 0:
				d += fmt.Sprintf(" (at least %d characters)", o.MinLen)
			case o.MaxLen > 0:
				d += fmt.Sprintf(" (at most %d characters)", o.MaxLen)
			}
			parts = append(parts, d)
		}
	}
	switch len(parts) {
	case 0:
		return "nothing: the rules allow no kind of code"
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}

func errf(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

// quote renders data for a message: in double quotes, GS as <GS>, control
// characters escaped.
func quote(s string) string { return `"` + Printable(s) + `"` }

// describeChar names the first character of s for a message.
func describeChar(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	switch {
	case r == utf8.RuneError && size <= 1:
		if s == "" {
			return "end of data"
		}
		return fmt.Sprintf("byte 0x%02X", s[0])
	case r == gsByte:
		return "GS (0x1D)"
	case r < 0x80 && isControl(r):
		if n := controlName(r); n != "" {
			return fmt.Sprintf("control character 0x%02X (%s)", r, n)
		}
		return fmt.Sprintf("control character 0x%02X", r)
	case isControl(r):
		return fmt.Sprintf("invisible character U+%04X", r)
	case r == ' ':
		return "a space"
	}
	return fmt.Sprintf("%q", r)
}

// controlName returns the ASCII name of common control characters.
func controlName(r rune) string {
	switch r {
	case 0x00:
		return "NUL"
	case 0x02:
		return "STX"
	case 0x03:
		return "ETX"
	case 0x04:
		return "EOT"
	case 0x08:
		return "BS"
	case 0x09:
		return "TAB"
	case 0x0A:
		return "LF"
	case 0x0D:
		return "CR"
	case 0x1B:
		return "ESC"
	case 0x1E:
		return "RS"
	case 0x7F:
		return "DEL"
	}
	return ""
}

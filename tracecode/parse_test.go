package tracecode

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// GTINs used in fixtures; TestFixtureCheckDigits proves they are valid.
const (
	gtinA = "06901234567892" // 0 + EAN-13 6901234567892
	gtinB = "04006381333931" // 0 + EAN-13 4006381333931
	gtinX = "06901234567893" // gtinA with a wrong check digit
)

// checkDigit computes a GS1 mod-10 check digit left to right, independently
// of the package's right-to-left mod10.
func checkDigit(data string) byte {
	sum := 0
	for i := 0; i < len(data); i++ {
		w := 1
		if (len(data)-i)%2 == 1 {
			w = 3
		}
		sum += w * int(data[i]-'0')
	}
	return byte('0' + (10-sum%10)%10)
}

func TestFixtureCheckDigits(t *testing.T) {
	for _, g := range []string{gtinA, gtinB, "6901234567892", "4006381333931", "036000291452", "73513537"} {
		if got := checkDigit(g[:len(g)-1]); got != g[len(g)-1] {
			t.Errorf("fixture %s: check digit should be %c", g, got)
		}
		if got := mod10(g[:len(g)-1]); got != g[len(g)-1] {
			t.Errorf("mod10(%s) = %c, want %c", g[:len(g)-1], got, g[len(g)-1])
		}
	}
	if checkDigit(gtinX[:13]) == gtinX[13] {
		t.Fatalf("gtinX must be invalid")
	}
}

func makerRule() OtherRule {
	return OtherRule{Name: "maker16", Pattern: regexp.MustCompile(`^[0-9A-Z]{16}$`), MinLen: 16, MaxLen: 16}
}

func rulesWith(f func(*Rules)) Rules {
	r := DefaultRules()
	f(&r)
	return r
}

var (
	pipeRules     = rulesWith(func(r *Rules) { r.GSSubstitutes = []string{"|"} })
	escRules      = rulesWith(func(r *Rules) { r.GSSubstitutes = []string{`\x1d`, "<GS>"} })
	makerRules    = rulesWith(func(r *Rules) { r.Other = []OtherRule{makerRule()} })
	reliableRules = rulesWith(func(r *Rules) { r.GSReliable = true })
	legacyRules   = rulesWith(func(r *Rules) {
		r.Other = []OtherRule{makerRule(), {Name: "legacy19", Pattern: regexp.MustCompile(`^8\d{18}$`)}}
	})
	msfxOnly = rulesWith(func(r *Rules) { r.AllowedKinds = []Kind{KindMSFX} })
	gs1Only  = rulesWith(func(r *Rules) { r.AllowedKinds = []Kind{KindGS1} })
	short    = rulesWith(func(r *Rules) { r.MaxLength = 30 })
)

type validCase struct {
	name  string
	in    string
	rules *Rules // nil = DefaultRules
	want  Code   // Input is filled in by the test
}

var validCases = []validCase{
	{name: "msfx example 1", in: "81012350000000157474", want: Code{Kind: KindMSFX,
		Normalized: "81012350000000157474", Key: "81012350000000157474",
		Product: "8101235", Serial: "000000015", Check: "7474"}},
	{name: "msfx example 2", in: "83933310000006711939", want: Code{Kind: KindMSFX,
		Normalized: "83933310000006711939", Key: "83933310000006711939",
		Product: "8393331", Serial: "000000671", Check: "1939"}},
	{name: "msfx example 3", in: "88298420000560224025", want: Code{Kind: KindMSFX,
		Normalized: "88298420000560224025", Key: "88298420000560224025",
		Product: "8829842", Serial: "000056022", Check: "4025"}},
	{name: "msfx special 89", in: "89012345678901234567", want: Code{Kind: KindMSFX,
		Normalized: "89012345678901234567", Key: "89012345678901234567",
		Product: "8901234", Serial: "567890123", Check: "4567", Special: true}},
	{name: "msfx trimmed with AIM and CRLF", in: "  ]C081012350000000157474 \r\n", want: Code{Kind: KindMSFX,
		Symbology: "]C0", Normalized: "81012350000000157474", Key: "81012350000000157474",
		Product: "8101235", Serial: "000000015", Check: "7474"}},

	{name: "gs1 ]d2 with GS", in: "]d2" + "01" + gtinA + "17261231" + "10LOT123\x1d" + "21SER456", want: Code{
		Kind: KindGS1, Symbology: "]d2",
		Normalized: "01" + gtinA + "17261231" + "10LOT123\x1d" + "21SER456",
		Key:        "01" + gtinA + "21SER456",
		Product:    gtinA, GTIN: gtinA, Serial: "SER456", Lot: "LOT123", Expiry: "2026-12-31",
		AIs:   map[string]string{"01": gtinA, "17": "261231", "10": "LOT123", "21": "SER456"},
		Order: []string{"01", "17", "10", "21"}}},
	{name: "gs1 leading GS (gozxing)", in: "\x1d01" + gtinA + "21ABC123\x1d" + "10LOT1", want: Code{
		Kind: KindGS1, Normalized: "01" + gtinA + "21ABC123\x1d10LOT1", Key: "01" + gtinA + "21ABC123",
		Product: gtinA, GTIN: gtinA, Serial: "ABC123", Lot: "LOT1",
		AIs:   map[string]string{"01": gtinA, "21": "ABC123", "10": "LOT1"},
		Order: []string{"01", "21", "10"}}},
	{name: "gs1 <GS> substitute", in: "01" + gtinA + "17261231" + "10LOT123<GS>21SER456", want: Code{
		Kind: KindGS1, Normalized: "01" + gtinA + "17261231" + "10LOT123\x1d21SER456", Key: "01" + gtinA + "21SER456",
		Product: gtinA, GTIN: gtinA, Serial: "SER456", Lot: "LOT123", Expiry: "2026-12-31",
		AIs:   map[string]string{"01": gtinA, "17": "261231", "10": "LOT123", "21": "SER456"},
		Order: []string{"01", "17", "10", "21"}}},
	{name: "gs1 | substitute", in: "]d2" + "01" + gtinB + "21X9Y|10L|17251100", rules: &pipeRules, want: Code{
		Kind: KindGS1, Symbology: "]d2", Normalized: "01" + gtinB + "21X9Y\x1d10L\x1d17251100", Key: "01" + gtinB + "21X9Y",
		Product: gtinB, GTIN: gtinB, Serial: "X9Y", Lot: "L", Expiry: "2025-11-30",
		AIs:   map[string]string{"01": gtinB, "21": "X9Y", "10": "L", "17": "251100"},
		Order: []string{"01", "21", "10", "17"}}},
	{name: "gs1 literal \\x1d substitute", in: `01` + gtinA + `10LOT\x1d21S`, rules: &escRules, want: Code{
		Kind: KindGS1, Normalized: "01" + gtinA + "10LOT\x1d21S", Key: "01" + gtinA + "21S",
		Product: gtinA, GTIN: gtinA, Serial: "S", Lot: "LOT",
		AIs:   map[string]string{"01": gtinA, "10": "LOT", "21": "S"},
		Order: []string{"01", "10", "21"}}},
	{name: "gs1 human-readable", in: "(01)" + gtinA + "(17)261231(10)LOT123(21)SER456", want: Code{
		Kind: KindGS1, Normalized: "01" + gtinA + "17261231" + "10LOT123\x1d21SER456", Key: "01" + gtinA + "21SER456",
		Product: gtinA, GTIN: gtinA, Serial: "SER456", Lot: "LOT123", Expiry: "2026-12-31",
		AIs:   map[string]string{"01": gtinA, "17": "261231", "10": "LOT123", "21": "SER456"},
		Order: []string{"01", "17", "10", "21"}}},
	{name: "gs1 human-readable, 01 not first, Feb day 00", in: "(21)SER10X(17)260200(01)" + gtinB, want: Code{
		Kind: KindGS1, Normalized: "01" + gtinB + "21SER10X\x1d17260200", Key: "01" + gtinB + "21SER10X",
		Product: gtinB, GTIN: gtinB, Serial: "SER10X", Expiry: "2026-02-28",
		AIs:   map[string]string{"01": gtinB, "21": "SER10X", "17": "260200"},
		Order: []string{"21", "17", "01"}}},
	{name: "gs1 fixed-length first, no GS, unambiguous", in: "]d2" + "01" + gtinA + "17261231" + "11250115" + "21SERABC", want: Code{
		Kind: KindGS1, Symbology: "]d2", Normalized: "01" + gtinA + "17261231" + "11250115" + "21SERABC", Key: "01" + gtinA + "21SERABC",
		Product: gtinA, GTIN: gtinA, Serial: "SERABC", Expiry: "2026-12-31", Production: "2025-01-15",
		AIs:   map[string]string{"01": gtinA, "17": "261231", "11": "250115", "21": "SERABC"},
		Order: []string{"01", "17", "11", "21"}}},
	{name: "gs1 GS1-128 ]C1, numeric serial", in: "]C1" + "01" + gtinA + "2112345", want: Code{
		Kind: KindGS1, Symbology: "]C1", Normalized: "01" + gtinA + "2112345", Key: "01" + gtinA + "2112345",
		Product: gtinA, GTIN: gtinA, Serial: "12345",
		AIs: map[string]string{"01": gtinA, "21": "12345"}, Order: []string{"01", "21"}}},
	{name: "gs1 lost separator, only one valid reading", in: "01" + gtinA + "10ABCDEFGHIJKLMNOP" + "21QRSTUVWX", want: Code{
		// Lot and serial run together are 26 characters, more than AI 10
		// allows, so the only valid split is at "21".
		Kind: KindGS1, Normalized: "01" + gtinA + "10ABCDEFGHIJKLMNOP\x1d21QRSTUVWX", Key: "01" + gtinA + "21QRSTUVWX",
		Product: gtinA, GTIN: gtinA, Serial: "QRSTUVWX", Lot: "ABCDEFGHIJKLMNOP",
		AIs:   map[string]string{"01": gtinA, "10": "ABCDEFGHIJKLMNOP", "21": "QRSTUVWX"},
		Order: []string{"01", "10", "21"}}},
	{name: "gs1 day 00 in a leap February", in: "01" + gtinA + "17240200" + "21X", want: Code{
		Kind: KindGS1, Normalized: "01" + gtinA + "17240200" + "21X", Key: "01" + gtinA + "21X",
		Product: gtinA, GTIN: gtinA, Serial: "X", Expiry: "2024-02-29",
		AIs: map[string]string{"01": gtinA, "17": "240200", "21": "X"}, Order: []string{"01", "17", "21"}}},
	{name: "gs1 day 00 in 2000 (leap, century)", in: "01" + gtinA + "17000200" + "21X", want: Code{
		Kind: KindGS1, Normalized: "01" + gtinA + "17000200" + "21X", Key: "01" + gtinA + "21X",
		Product: gtinA, GTIN: gtinA, Serial: "X", Expiry: "2000-02-29",
		AIs: map[string]string{"01": gtinA, "17": "000200", "21": "X"}, Order: []string{"01", "17", "21"}}},
	{name: "gs1 GS-reliable scanner, serial containing an AI-like 10", in: "]d2" + "01" + gtinA + "17261231" + "21SER10X", rules: &reliableRules, want: Code{
		Kind: KindGS1, Symbology: "]d2", Normalized: "01" + gtinA + "17261231" + "21SER10X", Key: "01" + gtinA + "21SER10X",
		Product: gtinA, GTIN: gtinA, Serial: "SER10X", Expiry: "2026-12-31",
		AIs: map[string]string{"01": gtinA, "17": "261231", "21": "SER10X"}, Order: []string{"01", "17", "21"}}},
	{name: "gs1 superfluous GS after predefined AI and at the end", in: "\x1d01" + gtinA + "\x1d21S1\x1d", want: Code{
		Kind: KindGS1, Normalized: "01" + gtinA + "21S1", Key: "01" + gtinA + "21S1",
		Product: gtinA, GTIN: gtinA, Serial: "S1",
		AIs: map[string]string{"01": gtinA, "21": "S1"}, Order: []string{"01", "21"}}},
	{name: "gs1 NHRN and fixed non-predefined AI with separators", in: "]d2" + "01" + gtinA + "422156\x1d" + "710ABC\x1d" + "21Q", want: Code{
		Kind: KindGS1, Symbology: "]d2", Normalized: "01" + gtinA + "422156\x1d710ABC\x1d21Q", Key: "01" + gtinA + "21Q",
		Product: gtinA, GTIN: gtinA, Serial: "Q",
		AIs: map[string]string{"01": gtinA, "422": "156", "710": "ABC", "21": "Q"}, Order: []string{"01", "422", "710", "21"}}},

	{name: "other rule accepts a 16-char maker code", in: "AB12CD34EF56GH78", rules: &makerRules, want: Code{
		Kind: KindOther, Rule: "maker16", Normalized: "AB12CD34EF56GH78", Key: "AB12CD34EF56GH78"}},
	{name: "other rule after AIM strip", in: "]C0AB12CD34EF56GH78\n", rules: &makerRules, want: Code{
		Kind: KindOther, Rule: "maker16", Symbology: "]C0", Normalized: "AB12CD34EF56GH78", Key: "AB12CD34EF56GH78"}},
	{name: "other rule accepts 19 digits starting with 8", in: "8101235000000015747", rules: &legacyRules, want: Code{
		Kind: KindOther, Rule: "legacy19", Normalized: "8101235000000015747", Key: "8101235000000015747"}},
}

func TestParseValid(t *testing.T) {
	for _, tc := range validCases {
		t.Run(tc.name, func(t *testing.T) {
			r := DefaultRules()
			if tc.rules != nil {
				r = *tc.rules
			}
			got, err := Parse(tc.in, r)
			if err != nil {
				t.Fatalf("Parse(%q): unexpected error %v (reason %s)", tc.in, err, ReasonOf(err))
			}
			want := tc.want
			want.Input = tc.in
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse(%q)\n got  %+v\n want %+v", tc.in, got, want)
			}
		})
	}
}

type invalidCase struct {
	name   string
	in     string
	rules  *Rules
	reason Reason
	kind   Kind     // expected Code.Kind ("" = not recognised)
	msg    []string // substrings the message must contain
}

var invalidCases = []invalidCase{
	{name: "empty", in: "", reason: ReasonEmpty},
	{name: "only spaces and CRLF", in: "   \r\n", reason: ReasonEmpty},
	{name: "only an AIM identifier", in: "]d2", reason: ReasonEmpty, msg: []string{"]d2"}},
	{name: "only a GS", in: "\x1d", reason: ReasonEmpty, kind: KindGS1},

	{name: "EAN-13 product barcode", in: "6901234567892", reason: ReasonProductBarcode,
		msg: []string{"6901234567892 is a product barcode", "商品码", "EAN-13 starting 69", "scan the 追溯码"}},
	{name: "EAN-13 with AIM ]E0", in: "]E06901234567892", reason: ReasonProductBarcode},
	{name: "69 EAN even when a chain rule would take 13 digits", in: "6901234567892",
		rules:  ptr(rulesWith(func(r *Rules) { r.Other = []OtherRule{{Name: "any13", MinLen: 13, MaxLen: 13}} })),
		reason: ReasonProductBarcode},
	{name: "bare GTIN-14", in: gtinB, reason: ReasonProductBarcode, msg: []string{"product barcode"}},
	{name: "19 digits starting with 8", in: "8101235000000015747", reason: ReasonBadLength, msg: []string{"19 digits", "exactly 20"}},
	{name: "21 digits starting with 8", in: "810123500000001574741", reason: ReasonBadLength, msg: []string{"21 digits"}},
	{name: "20 digits not starting with 8", in: "71012350000000157474", reason: ReasonNotMSFX, msg: []string{"does not start with 8"}},
	{name: "10 digits", in: "1234567890", reason: ReasonBadLength, msg: []string{"10 digits"}},

	{name: "bad GTIN check digit", in: "01" + gtinX + "21X", reason: ReasonBadGTINCheck, kind: KindGS1,
		msg: []string{"GTIN " + gtinX, "expected 2, found 3"}},
	{name: "bad GTIN check digit in human-readable form", in: "(01)" + gtinX + "(21)X", reason: ReasonBadGTINCheck, kind: KindGS1},
	{name: "bad date month 13", in: "01" + gtinA + "17261331" + "21X", reason: ReasonBadDate, kind: KindGS1,
		msg: []string{"AI 17 (EXPIRY)", "261331", "month 13"}},
	{name: "bad date 29 Feb in a common year", in: "01" + gtinA + "17230229" + "21X", reason: ReasonBadDate, kind: KindGS1, msg: []string{"day 29"}},
	{name: "bad date 31 Feb", in: "(01)" + gtinA + "(17)260231(21)X", reason: ReasonBadDate, kind: KindGS1},
	{name: "bad production date", in: "(01)" + gtinA + "(11)251232(21)X", reason: ReasonBadDate, kind: KindGS1, msg: []string{"AI 11"}},
	{name: "unknown AI", in: "01" + gtinA + "2399" + "21X", reason: ReasonUnknownAI, kind: KindGS1,
		msg: []string{"unknown GS1 application identifier", "position 17", "2399"}},
	{name: "unknown AI in human-readable form", in: "(01)" + gtinA + "(99999)X(21)Y", reason: ReasonUnknownAI, kind: KindGS1, msg: []string{"(99999)"}},
	{name: "letters where an AI is expected", in: "\x1d01" + gtinA + "XY", reason: ReasonUnknownAI, kind: KindGS1},
	{name: "missing serial", in: "]d2" + "01" + gtinA + "17261231" + "10LOT1", reason: ReasonMissingSerial, kind: KindGS1,
		msg: []string{"no serial number (AI 21)", "identifies a product, not a pack", "substitute"}},
	{name: "missing GTIN", in: "(21)ABC(17)261231", reason: ReasonMissingGTIN, kind: KindGS1, msg: []string{"no GTIN (AI 01)"}},
	{name: "duplicate AI", in: "(01)" + gtinA + "(21)A(21)B", reason: ReasonDuplicateAI, kind: KindGS1, msg: []string{"AI 21 (SERIAL) appears twice"}},
	{name: "lost separator, lot could swallow serial", in: "01" + gtinA + "17261231" + "10LOT123" + "21SER456",
		reason: ReasonAmbiguousSeparator, kind: KindGS1,
		msg: []string{"more than one way", "(10)LOT12321SER456", "(10)LOT123(21)SER456", "substitute"}},
	{name: "lost separator, serial last but could end early", in: "]d2" + "01" + gtinA + "17261231" + "21SER10X",
		reason: ReasonAmbiguousSeparator, kind: KindGS1, msg: []string{"(21)SER10X", "(21)SER(10)X"}},
	{name: "lost separator, lot could hide a serial", in: "01" + gtinA + "10202103",
		reason: ReasonAmbiguousSeparator, kind: KindGS1, msg: []string{"(10)202103", "(10)20(21)03"}},
	{name: "lot longer than 20 with GS present", in: "\x1d01" + gtinA + "10ABCDEFGHIJKLMNOPQRSTU\x1d21X",
		reason: ReasonBadAIValue, kind: KindGS1, msg: []string{"AI 10 (BATCH/LOT)", "21 characters long, at most 20", "GS separator"}},
	{name: "character outside set 82", in: "]d2" + "01" + gtinA + "21AB#C", reason: ReasonBadAIValue, kind: KindGS1, msg: []string{"'#'"}},
	{name: "fixed AI cut off", in: "(01)" + gtinA + "(17)2612(21)X", reason: ReasonBadAIValue, kind: KindGS1, msg: []string{"must be 6 characters, found 4"}},
	{name: "two GS in a row", in: "\x1d01" + gtinA + "10A\x1d\x1d21B", reason: ReasonBadSyntax, kind: KindGS1, msg: []string{"two GS separators"}},
	{name: "unclosed parenthesis", in: "(01)" + gtinA + "(21", reason: ReasonBadSyntax, kind: KindGS1, msg: []string{"never closed"}},
	{name: "msfx digits under GS1-128 identifier", in: "]C181012350000000157474", reason: ReasonUnknownAI, kind: KindGS1,
		msg: []string{"looks like a 码上放心 code"}},

	{name: "tab inside", in: "8101235000000015\t7474", reason: ReasonControlChar, msg: []string{"0x09 (TAB)", "byte 17"}},
	{name: "two scans joined by LF", in: "81012350000000157474\n81012350000000157474", reason: ReasonControlChar, msg: []string{"byte 21", "two scans"}},
	{name: "NUL after leading spaces", in: "  8101\x00", reason: ReasonControlChar, msg: []string{"NUL", "byte 7"}},
	{name: "zero-width space", in: "8101235000\u200b0000157474", reason: ReasonControlChar, msg: []string{"U+200B", "byte 11"}},
	{name: "GS in non-GS1 data", in: "ABCD\x1dEFGH", rules: &makerRules, reason: ReasonControlChar, msg: []string{"GS separator (0x1D) at byte 5"}},
	{name: "invalid UTF-8", in: "8101\xff", reason: ReasonBadEncoding, msg: []string{"0xFF", "byte 5"}},
	{name: "too long (default 200)", in: strings.Repeat("8", 201), reason: ReasonTooLong, msg: []string{"201", "200"}},
	{name: "too long (custom limit)", in: "(01)" + gtinA + "(21)ABCDEFGHIJKL", rules: &short, reason: ReasonTooLong, msg: []string{"30"}},
	{name: "full-width digits from an IME", in: "８１０１２３５０００００００１５７４７４", reason: ReasonNonASCII, msg: []string{"full-width", "IME"}},

	{name: "GS1 not allowed", in: "(01)" + gtinA + "(21)X", rules: &msfxOnly, reason: ReasonKindNotAllowed, kind: KindGS1, msg: []string{"GS1", "msfx20"}},
	{name: "GS1 not allowed wins over a GS1 error", in: "(01)" + gtinX + "(21)X", rules: &msfxOnly, reason: ReasonKindNotAllowed, kind: KindGS1},
	{name: "msfx not allowed", in: "81012350000000157474", rules: &gs1Only, reason: ReasonKindNotAllowed, kind: KindMSFX},
	{name: "other not allowed", in: "AB12CD34EF56GH78",
		rules:  ptr(rulesWith(func(r *Rules) { r.Other = []OtherRule{makerRule()}; r.AllowedKinds = []Kind{KindMSFX} })),
		reason: ReasonUnrecognised, msg: []string{"20 digits starting with 8"}},
	{name: "other rule length mismatch", in: "AB12CD34EF56GH7", rules: &makerRules, reason: ReasonUnrecognised,
		msg: []string{`rule "maker16" (16 characters)`, "GS1 code with GTIN (01) and serial (21)"}},
	{name: "unanchored pattern must still match the whole data", in: "AB12CD34EF56GH78ZZ",
		rules:  ptr(rulesWith(func(r *Rules) { r.Other = []OtherRule{{Name: "loose", Pattern: regexp.MustCompile(`[0-9A-Z]{16}`)}} })),
		reason: ReasonUnrecognised},
	{name: "unrecognised text with a space", in: "hello world", reason: ReasonUnrecognised, msg: []string{"space at byte 6"}},
}

func ptr[T any](v T) *T { return &v }

func TestParseInvalid(t *testing.T) {
	for _, tc := range invalidCases {
		t.Run(tc.name, func(t *testing.T) {
			r := DefaultRules()
			if tc.rules != nil {
				r = *tc.rules
			}
			got, err := Parse(tc.in, r)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want error %s", tc.in, got, tc.reason)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			if e.Reason != tc.reason {
				t.Errorf("reason = %s, want %s (msg: %s)", e.Reason, tc.reason, e.Msg)
			}
			if e.Error() != e.Msg || e.Msg == "" {
				t.Errorf("Error() = %q, Msg = %q", e.Error(), e.Msg)
			}
			for _, m := range tc.msg {
				if !strings.Contains(e.Msg, m) {
					t.Errorf("message %q does not contain %q", e.Msg, m)
				}
			}
			if got.Input != tc.in {
				t.Errorf("Input = %q, want %q", got.Input, tc.in)
			}
			if got.Kind != tc.kind {
				t.Errorf("Kind = %q, want %q", got.Kind, tc.kind)
			}
			if got.Normalized != "" || got.Key != "" {
				t.Errorf("Normalized/Key set on error: %q %q", got.Normalized, got.Key)
			}
		})
	}
}

func TestReasonOf(t *testing.T) {
	_, err := Parse("6901234567892", DefaultRules())
	if ReasonOf(err) != ReasonProductBarcode {
		t.Fatalf("ReasonOf = %q", ReasonOf(err))
	}
	if ReasonOf(errors.New("x")) != "" || ReasonOf(nil) != "" {
		t.Fatal("ReasonOf of a foreign error must be empty")
	}
}

// TestErrorKeepsDecodedFields checks that a code without serial still shows
// what was decoded (useful in `code check`), but gives no Normalized/Key.
func TestErrorKeepsDecodedFields(t *testing.T) {
	c, err := Parse("(01)"+gtinA+"(17)261231(10)L1", DefaultRules())
	if ReasonOf(err) != ReasonMissingSerial {
		t.Fatalf("err = %v", err)
	}
	if c.GTIN != gtinA || c.Lot != "L1" || c.Expiry != "2026-12-31" || c.Key != "" || c.Normalized != "" {
		t.Fatalf("code = %+v", c)
	}
}

func TestReparse(t *testing.T) {
	// HRI input needs no separator check; its Normalized has none either,
	// and "SER10X" could be split, so only Reparse reads it back unchanged.
	c, err := Parse("(01)"+gtinA+"(21)SER10X", DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(c.Normalized, DefaultRules()); ReasonOf(err) != ReasonAmbiguousSeparator {
		t.Fatalf("Parse(Normalized) err = %v, want ambiguous_separator", err)
	}
	c2, err := Reparse(c.Normalized, DefaultRules())
	if err != nil || c2.Key != c.Key || c2.Normalized != c.Normalized {
		t.Fatalf("Reparse = %+v, %v", c2, err)
	}
}

func TestDateWindow(t *testing.T) {
	for in, want := range map[string]string{
		"500101": "2050-01-01", "510101": "1951-01-01", "991200": "1999-12-31",
		"250400": "2025-04-30", "000000": "", // month 00 is never formatted: it fails validation first
	} {
		if want == "" {
			if r, _ := dateProblem(in, true); r != ReasonBadDate {
				t.Errorf("dateProblem(%s) = %q, want bad_date", in, r)
			}
			continue
		}
		if got := isoDate(in); got != want {
			t.Errorf("isoDate(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestAITable checks the table's invariants the parser relies on.
func TestAITable(t *testing.T) {
	for ai, s := range aiTable {
		if ai != s.ai || len(ai) < 2 || len(ai) > 4 || !allDigits(ai) {
			t.Errorf("bad key %q", ai)
		}
		if s.min < 1 || s.min > s.max || s.csum > s.digits || s.csum > s.min || s.title == "" {
			t.Errorf("AI %s: inconsistent spec %+v", ai, *s)
		}
		if s.predef && !s.fixed() {
			t.Errorf("AI %s is predefined-length but variable", ai)
		}
		// Prefix-free: no AI is a prefix of another, so lookupAI is unambiguous.
		for n := 2; n < len(ai); n++ {
			if _, ok := aiTable[ai[:n]]; ok {
				t.Errorf("AI %s has AI %s as prefix", ai, ai[:n])
			}
		}
	}
	for _, ai := range []string{"00", "01", "02", "10", "11", "12", "13", "15", "16", "17", "20", "21", "22",
		"235", "240", "241", "242", "250", "251", "253", "254", "30", "3100", "3165", "3200", "3695", "37",
		"3900", "3919", "3929", "3939", "400", "401", "402", "403", "410", "417", "420", "426",
		"7001", "7007", "710", "715", "8001", "8008", "8012", "8017", "8018", "8020", "90", "91", "99"} {
		if aiTable[ai] == nil {
			t.Errorf("AI %s missing", ai)
		}
	}
	for ai, pre := range map[string]bool{"01": true, "17": true, "3103": true, "414": true, "10": false, "21": false, "422": false, "402": false, "7003": false} {
		if aiTable[ai].predef != pre {
			t.Errorf("AI %s predefined = %v, want %v", ai, !pre, pre)
		}
	}
}

// TestConcurrent runs Parse from many goroutines (go test -race).
func TestConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, tc := range validCases {
				r := DefaultRules()
				if tc.rules != nil {
					r = *tc.rules
				}
				if _, err := Parse(tc.in, r); err != nil {
					t.Errorf("%s: %v", tc.name, err)
				}
			}
			for _, tc := range invalidCases {
				_ = Check(tc.in, DefaultRules())
			}
		}()
	}
	wg.Wait()
}

// TestSplitterBounded feeds GS-less data with many overlapping AI starts;
// the search must end (ambiguous or not) without exploding.
func TestSplitterBounded(t *testing.T) {
	body := strings.Repeat("10212290919293", 13) // 182 chars of AI-like digits
	for _, in := range []string{"01" + gtinA + body[:180], "]d2" + body, "01" + gtinA + strings.Repeat("9", 182)} {
		_, err := Parse(in, DefaultRules())
		if err == nil {
			continue
		}
		if ReasonOf(err) == "" {
			t.Fatalf("%q: error without reason", in)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	r := DefaultRules()
	for _, bc := range []struct{ name, in string }{
		{"msfx", "81012350000000157474"},
		{"gs1", "]d2\x1d01" + gtinA + "17261231" + "10LOT123\x1d" + "21SER456"},
		{"gs1-no-gs", "]d2" + "01" + gtinA + "17261231" + "10ABCDEFGHIJKLMNOP" + "21QRSTUVWX"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bc.in, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Package tracecode parses and validates drug trace codes (药品追溯码) as they
// arrive from scanners: 码上放心 20-digit codes, GS1 element strings
// (DataMatrix/GS1-128, raw or in the human-readable "(01)…" form) and codes
// accepted only by a chain's own rule.
//
// The package does no I/O and keeps no mutable global state; the GS1
// application-identifier table is built once and never written afterwards,
// so Parse is safe for concurrent use.
//
// The guiding rule is strictness: a mangled read (lost separator, dropped
// digit, stray key) must be rejected with a clear message rather than turned
// into a plausible but wrong code, because a wrong code ends up in the 医保
// ledger as a different pack.
package tracecode

import (
	"errors"
	"regexp"
)

// Kind is the family a trace code belongs to.
type Kind string

// The kinds of trace code Parse recognises.
const (
	// KindMSFX is a 码上放心 (legacy 电子监管码) code: 20 digits starting with 8.
	KindMSFX Kind = "msfx20"
	// KindGS1 is a GS1 element string with at least GTIN (01) and serial (21).
	KindGS1 Kind = "gs1"
	// KindOther is a code accepted only by one of the chain's own rules.
	KindOther Kind = "other"
)

// DefaultMaxLength is the longest input (after trimming) Parse accepts when
// Rules.MaxLength is 0. Real codes are at most about 100 characters; longer
// input is usually several scans run together.
const DefaultMaxLength = 200

// Code is a parsed trace code.
//
// On error only Input, Kind (if the family was recognised), Symbology and
// whatever fields were decoded before the problem are set; Normalized and Key
// are always empty, so a caller that forgets the error cannot queue the code.
type Code struct {
	// Input is the raw input as given (for display; may contain control chars).
	Input string
	// Kind is the recognised family, "" if none.
	Kind Kind
	// Symbology is the AIM identifier stripped from the front, e.g. "]d2"; "" if none.
	Symbology string
	// Normalized is the code as it is sent to back ends: the 20 digits for
	// 码上放心; for GS1 the element string without AIM identifier or
	// parentheses, AI 01 first and the other AIs in scanned order, with GS
	// (0x1D) after every AI that is not of predefined length and not last;
	// for other codes the trimmed data.
	Normalized string
	// Key identifies the physical pack for duplicate and ledger checks:
	// the 20 digits for 码上放心, "01"+GTIN+"21"+serial for GS1, the data for
	// other codes.
	Key string
	// Product is the 7-digit 药品标识码 prefix (码上放心) or the GTIN-14 (GS1).
	Product string
	// Serial is the 9-digit unit serial, positions 8–16 (码上放心), or AI 21 (GS1).
	Serial string
	// Check is the last 4 digits of a 码上放心 code. They come from a
	// non-public algorithm and are verified only by the platform.
	Check string
	// Special is true for 码上放心 codes starting with "89" (特药).
	Special bool
	// GTIN is AI 01 (GS1).
	GTIN string
	// Lot is AI 10 (GS1).
	Lot string
	// Expiry is AI 17 as YYYY-MM-DD (GS1); day 00 becomes the last day of the month.
	Expiry string
	// Production is AI 11 as YYYY-MM-DD (GS1), with the same day-00 rule.
	Production string
	// AIs maps every GS1 application identifier to its value.
	AIs map[string]string
	// Order lists the GS1 AIs in the order they were scanned.
	Order []string
	// Rule is the name of the chain rule that accepted an other-kind code.
	Rule string
}

// OtherRule is a chain's own acceptance rule for codes that are neither
// 码上放心 nor GS1 (makers' own schemes). The data must match Pattern as a
// whole: a match of only part of the data does not count, so anchoring with
// ^…$ is recommended but not required.
type OtherRule struct {
	// Name identifies the rule in Code.Rule and in messages.
	Name string
	// Pattern must match the whole data; nil accepts any data.
	Pattern *regexp.Regexp
	// MinLen and MaxLen bound the length in characters; 0 = unchecked.
	MinLen, MaxLen int
}

// Rules configures Parse for one chain or device.
type Rules struct {
	// AllowedKinds limits the kinds accepted; empty allows all.
	AllowedKinds []Kind
	// GSSubstitutes are strings a scanner sends in place of GS (0x1D),
	// e.g. "<GS>", "|", `\x1d`. They are matched literally, in list order.
	GSSubstitutes []string
	// Other are the chain's own rules, tried in order.
	Other []OtherRule
	// MaxLength is the longest input accepted after trimming; 0 means
	// DefaultMaxLength.
	MaxLength int
	// GSReliable declares that the scanner path is known to deliver every
	// GS1 separator (serial/CDC, HID-POS, camera decoder). GS1 data without
	// any GS is then read as needing none. When false (the default), such
	// data is checked for every reading a lost separator would allow and is
	// rejected as ambiguous_separator if there is more than one.
	GSReliable bool
}

// DefaultRules returns rules that allow every kind, treat "<GS>" as a GS
// substitute and have no chain rules.
func DefaultRules() Rules {
	return Rules{GSSubstitutes: []string{"<GS>"}, MaxLength: DefaultMaxLength}
}

// allows reports whether k is permitted by r.AllowedKinds.
func (r Rules) allows(k Kind) bool {
	if len(r.AllowedKinds) == 0 {
		return true
	}
	for _, a := range r.AllowedKinds {
		if a == k {
			return true
		}
	}
	return false
}

// Reason is a machine-readable reason code carried by *Error.
type Reason string

// The reasons Parse reports.
const (
	ReasonEmpty              Reason = "empty"               // nothing (or only an AIM identifier) was scanned
	ReasonTooLong            Reason = "too_long"            // longer than Rules.MaxLength
	ReasonControlChar        Reason = "control_char"        // a control or invisible character in the data
	ReasonBadEncoding        Reason = "bad_encoding"        // the input is not valid UTF-8
	ReasonNonASCII           Reason = "non_ascii"           // non-ASCII characters (often an IME in full-width mode)
	ReasonProductBarcode     Reason = "product_barcode"     // a 商品码 (EAN/UPC/GTIN), not a trace code
	ReasonBadLength          Reason = "bad_length"          // all digits but not 20
	ReasonNotMSFX            Reason = "not_msfx"            // 20 digits not starting with 8
	ReasonBadSyntax          Reason = "bad_syntax"          // malformed GS1 structure (parentheses, separators)
	ReasonUnknownAI          Reason = "unknown_ai"          // an application identifier not in the table
	ReasonDuplicateAI        Reason = "duplicate_ai"        // the same AI twice
	ReasonBadAIValue         Reason = "bad_ai_value"        // wrong length, character or check digit in an AI value
	ReasonBadGTINCheck       Reason = "bad_gtin_check"      // GTIN (AI 01/02) check digit wrong
	ReasonBadDate            Reason = "bad_date"            // impossible date in a date AI
	ReasonMissingGTIN        Reason = "missing_gtin"        // GS1 data without AI 01
	ReasonMissingSerial      Reason = "missing_serial"      // GS1 data without AI 21
	ReasonAmbiguousSeparator Reason = "ambiguous_separator" // lost GS separators allow several readings
	ReasonKindNotAllowed     Reason = "kind_not_allowed"    // recognised, but the kind is not in Rules.AllowedKinds
	ReasonUnrecognised       Reason = "unrecognised"        // no kind and no chain rule matched
)

// Error is the error type returned by Parse. Msg is written for a store
// clerk or IT person: it says what is wrong and, where useful, what to do.
type Error struct {
	Reason Reason
	Msg    string
}

// Error returns Msg.
func (e *Error) Error() string { return e.Msg }

// ReasonOf returns the Reason of err if it is (or wraps) an *Error, else "".
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

package tracecode

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Report is the JSON view of a check, used by `pda-agent code check --json`.
// Input, Kind, Valid, Normalized and Error are always present.
type Report struct {
	Input      string            `json:"input"`
	Kind       string            `json:"kind"`
	Valid      bool              `json:"valid"`
	Normalized string            `json:"normalized"`
	Error      string            `json:"error"`
	Reason     string            `json:"reason,omitempty"`
	Symbology  string            `json:"symbology,omitempty"`
	Product    string            `json:"product,omitempty"`
	Serial     string            `json:"serial,omitempty"`
	Check      string            `json:"check,omitempty"`
	Special    bool              `json:"special,omitempty"`
	GTIN       string            `json:"gtin,omitempty"`
	Expiry     string            `json:"expiry,omitempty"`
	Lot        string            `json:"lot,omitempty"`
	Production string            `json:"production,omitempty"`
	AIs        map[string]string `json:"ais,omitempty"`
	Rule       string            `json:"rule,omitempty"`
	Note       string            `json:"note,omitempty"`
}

// Check parses input under r and describes the result. For 码上放心 codes
// Note says that the last 4 check digits cannot be verified offline.
func Check(input string, r Rules) Report {
	c, err := Parse(input, r)
	rep := Report{
		Input:      input,
		Kind:       string(c.Kind),
		Valid:      err == nil,
		Normalized: c.Normalized,
		Symbology:  c.Symbology,
		Product:    c.Product,
		Serial:     c.Serial,
		Check:      c.Check,
		Special:    c.Special,
		GTIN:       c.GTIN,
		Expiry:     c.Expiry,
		Lot:        c.Lot,
		Production: c.Production,
		AIs:        c.AIs,
		Rule:       c.Rule,
	}
	if err != nil {
		rep.Error = err.Error()
		rep.Reason = string(ReasonOf(err))
		return rep
	}
	switch c.Kind {
	case KindMSFX:
		rep.Note = "the last 4 digits (" + c.Check + ") are check digits from a non-public algorithm: they cannot be verified offline, the 码上放心 platform checks them on upload"
		if c.Special {
			rep.Note += "; code starts with 89: 特药 (special drug)"
		}
	case KindOther:
		rep.Note = "accepted by the store rule " + fmt.Sprintf("%q", c.Rule) + ": only its length and pattern were checked"
	}
	return rep
}

// Text renders the report as one line for a terminal, e.g.
//
//	81012350000000157474  valid  msfx20  product 8101235  serial 000000015  check 7474 (not verifiable offline)
//	6901234567892  INVALID  6901234567892 is a product barcode (…) (product_barcode)
//
// GS is shown as <GS> and control characters are escaped.
func (rep Report) Text() string {
	var b strings.Builder
	b.WriteString(Printable(rep.Input))
	if !rep.Valid {
		b.WriteString("  INVALID  ")
		b.WriteString(Printable(rep.Error))
		if rep.Reason != "" {
			b.WriteString(" (" + rep.Reason + ")")
		}
		return b.String()
	}
	b.WriteString("  valid  " + rep.Kind)
	add := func(label, v string) {
		if v != "" {
			b.WriteString("  " + label + " " + Printable(v))
		}
	}
	switch Kind(rep.Kind) {
	case KindMSFX:
		add("product", rep.Product)
		add("serial", rep.Serial)
		add("check", rep.Check)
		b.WriteString(" (not verifiable offline)")
		if rep.Special {
			b.WriteString("  special (特药)")
		}
	case KindGS1:
		add("gtin", rep.GTIN)
		add("serial", rep.Serial)
		add("lot", rep.Lot)
		add("expiry", rep.Expiry)
		add("production", rep.Production)
	case KindOther:
		add("rule", rep.Rule)
	}
	add("symbology", rep.Symbology)
	return b.String()
}

// Printable renders s for display: GS (0x1D) as <GS>, CR, LF and TAB as
// \r \n \t, other control and invisible characters as \xNN or \uNNNN, and
// bytes that are not valid UTF-8 as \xNN.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || isControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == gsByte:
			b.WriteString("<GS>")
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && isControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case isControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

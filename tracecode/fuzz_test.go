package tracecode

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzRules are the rule sets every fuzz input is parsed under: defaults,
// a chain with a "|" substitute and a permissive maker rule, and a
// GS-reliable scanner.
var fuzzRules = []Rules{
	DefaultRules(),
	rulesWith(func(r *Rules) {
		r.GSSubstitutes = []string{"|", "<GS>"}
		r.Other = []OtherRule{makerRule(), {Name: "any", MinLen: 6, MaxLen: 40}}
	}),
	reliableRules,
}

func FuzzParse(f *testing.F) {
	for _, tc := range validCases {
		f.Add(tc.in)
	}
	for _, tc := range invalidCases {
		f.Add(tc.in)
	}
	for _, s := range []string{
		"]Q3(01)" + gtinA + "(21)Q",
		"]e001" + gtinA + "3103000123" + "21X",
		"01" + gtinA + "8006" + gtinA + "0102" + "\x1d21A",
		"01" + gtinA + "7003" + "2612312359" + "\x1d21A",
		"]C0]d2ABC",
		"(01)" + gtinA + "(21)A)B",
		"01" + gtinA + "91" + strings.Repeat("9", 40),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for i, r := range fuzzRules {
			checkOne(t, i, in, r)
		}
	})
}

func checkOne(t *testing.T, ri int, in string, r Rules) {
	c, err := Parse(in, r)
	if c.Input != in {
		t.Fatalf("rules %d: Input = %q, want %q", ri, c.Input, in)
	}
	rep := Check(in, r)
	if _, jerr := json.Marshal(rep); jerr != nil {
		t.Fatalf("rules %d: report does not marshal: %v", ri, jerr)
	}
	if txt := rep.Text(); strings.ContainsAny(txt, "\x00\x1d\r\n\t") {
		t.Fatalf("rules %d: Text has raw control characters: %q", ri, txt)
	}
	if err != nil {
		e, ok := err.(*Error)
		if !ok || e.Reason == "" || e.Msg == "" {
			t.Fatalf("rules %d: bad error %#v", ri, err)
		}
		if c.Normalized != "" || c.Key != "" {
			t.Fatalf("rules %d: Normalized/Key set on error %s: %+v", ri, e.Reason, c)
		}
		if rep.Valid || rep.Reason != string(e.Reason) {
			t.Fatalf("rules %d: report disagrees with Parse: %+v", ri, rep)
		}
		return
	}
	if !rep.Valid || rep.Normalized != c.Normalized {
		t.Fatalf("rules %d: report disagrees with Parse: %+v", ri, rep)
	}
	if c.Normalized == "" || c.Key == "" || !utf8.ValidString(c.Normalized) {
		t.Fatalf("rules %d: accepted without Normalized/Key: %+v", ri, c)
	}
	for _, ch := range c.Normalized {
		if ch != gsByte && isControl(ch) {
			t.Fatalf("rules %d: control character %U in Normalized %q", ri, ch, c.Normalized)
		}
	}
	switch c.Kind {
	case KindMSFX:
		if !msfxPattern(c.Normalized) || c.Key != c.Normalized || c.Product+c.Serial+c.Check != c.Key {
			t.Fatalf("rules %d: bad msfx %+v", ri, c)
		}
	case KindGS1:
		g := c.GTIN
		if len(g) != 14 || !allDigits(g) || checkDigit(g[:13]) != g[13] {
			t.Fatalf("rules %d: accepted GTIN %q with a bad check digit", ri, g)
		}
		if c.Serial == "" || c.Key != "01"+g+"21"+c.Serial || c.AIs["01"] != g || c.AIs["21"] != c.Serial ||
			!strings.HasPrefix(c.Normalized, "01"+g) || len(c.Order) != len(c.AIs) {
			t.Fatalf("rules %d: inconsistent gs1 %+v", ri, c)
		}
		if v, ok := c.AIs["17"]; ok && len(c.Expiry) != 10 || !ok && c.Expiry != "" || len(v) > 6 {
			t.Fatalf("rules %d: bad expiry %q from %q", ri, c.Expiry, v)
		}
	case KindOther:
		if c.Rule == "" || c.Key != c.Normalized {
			t.Fatalf("rules %d: bad other %+v", ri, c)
		}
	default:
		t.Fatalf("rules %d: accepted with kind %q", ri, c.Kind)
	}
	if !r.allows(c.Kind) {
		t.Fatalf("rules %d: kind %s accepted but not allowed", ri, c.Kind)
	}

	// Round trip: a stored Normalized value reads back as the same pack.
	c2, err2 := Reparse(c.Normalized, r)
	if err2 != nil || c2.Key != c.Key || c2.Kind != c.Kind || c2.Normalized != c.Normalized {
		t.Fatalf("rules %d: Reparse(%q) = %+v, %v; original %+v", ri, c.Normalized, c2, err2, c)
	}
	// Plain Parse reads it back too, except where the strict lost-separator
	// check or the length limit legitimately refuses a GS-less GS1 string.
	c3, err3 := Parse(c.Normalized, r)
	if err3 != nil {
		why := ReasonOf(err3)
		if c.Kind != KindGS1 || (why != ReasonAmbiguousSeparator && why != ReasonTooLong) {
			t.Fatalf("rules %d: Parse(Normalized %q) = %v; original %+v", ri, c.Normalized, err3, c)
		}
		if why == ReasonAmbiguousSeparator && strings.Contains(c.Normalized, gs) {
			t.Fatalf("rules %d: Normalized %q with GS reported ambiguous", ri, c.Normalized)
		}
	} else if c3.Key != c.Key || c3.Kind != c.Kind || c3.Normalized != c.Normalized {
		t.Fatalf("rules %d: Parse(Normalized %q) = %+v; original %+v", ri, c.Normalized, c3, c)
	}
}

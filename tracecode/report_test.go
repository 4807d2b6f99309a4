package tracecode

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCheckJSON(t *testing.T) {
	always := []string{"input", "kind", "valid", "normalized", "error"}
	tests := []struct {
		name    string
		in      string
		rules   Rules
		present []string          // keys that must be present besides always
		absent  []string          // keys that must be absent
		values  map[string]any    // key -> expected JSON value
		ais     map[string]string // expected "ais"
	}{
		{name: "msfx", in: "81012350000000157474", rules: DefaultRules(),
			present: []string{"product", "serial", "check", "note"},
			absent:  []string{"reason", "special", "gtin", "ais", "rule", "symbology"},
			values: map[string]any{"kind": "msfx20", "valid": true, "normalized": "81012350000000157474", "error": "",
				"product": "8101235", "serial": "000000015", "check": "7474"}},
		{name: "msfx special with AIM", in: "]C089012345678901234567", rules: DefaultRules(),
			values: map[string]any{"special": true, "symbology": "]C0"}},
		{name: "gs1", in: "]d2\x1d01" + gtinA + "17261231" + "10LOT123\x1d21SER456", rules: DefaultRules(),
			absent: []string{"reason", "check", "note"},
			values: map[string]any{"kind": "gs1", "valid": true, "gtin": gtinA, "product": gtinA, "serial": "SER456",
				"lot": "LOT123", "expiry": "2026-12-31", "symbology": "]d2",
				"normalized": "01" + gtinA + "17261231" + "10LOT123\x1d21SER456"},
			ais: map[string]string{"01": gtinA, "17": "261231", "10": "LOT123", "21": "SER456"}},
		{name: "product barcode", in: "6901234567892", rules: DefaultRules(),
			absent: []string{"product", "note", "ais"},
			values: map[string]any{"kind": "", "valid": false, "normalized": "", "reason": "product_barcode"}},
		{name: "other", in: "AB12CD34EF56GH78", rules: makerRules,
			values: map[string]any{"kind": "other", "valid": true, "rule": "maker16"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := Check(tc.in, tc.rules)
			raw, err := json.Marshal(rep)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range append(always, tc.present...) {
				if _, ok := m[k]; !ok {
					t.Errorf("key %q missing in %s", k, raw)
				}
			}
			for _, k := range tc.absent {
				if _, ok := m[k]; ok {
					t.Errorf("key %q present in %s", k, raw)
				}
			}
			for k, v := range tc.values {
				if m[k] != v {
					t.Errorf("%s = %#v, want %#v", k, m[k], v)
				}
			}
			if tc.ais != nil {
				got, _ := m["ais"].(map[string]any)
				if len(got) != len(tc.ais) {
					t.Errorf("ais = %v, want %v", got, tc.ais)
				}
				for k, v := range tc.ais {
					if got[k] != v {
						t.Errorf("ais[%s] = %v, want %v", k, got[k], v)
					}
				}
			}
			if m["input"] != tc.in {
				t.Errorf("input = %q", m["input"])
			}
			if rep.Valid != (rep.Error == "") {
				t.Errorf("valid %v with error %q", rep.Valid, rep.Error)
			}
		})
	}
}

func TestCheckNote(t *testing.T) {
	rep := Check("81012350000000157474", DefaultRules())
	if !strings.Contains(rep.Note, "7474") || !strings.Contains(rep.Note, "cannot be verified offline") {
		t.Fatalf("note = %q", rep.Note)
	}
}

func TestReportText(t *testing.T) {
	tests := []struct {
		in    string
		rules Rules
		want  string // exact, or prefix when suffix is set
		pre   bool
		parts []string
	}{
		{in: "81012350000000157474", rules: DefaultRules(),
			want: "81012350000000157474  valid  msfx20  product 8101235  serial 000000015  check 7474 (not verifiable offline)"},
		{in: "89012345678901234567", rules: DefaultRules(),
			want: "89012345678901234567  valid  msfx20  product 8901234  serial 567890123  check 4567 (not verifiable offline)  special (特药)"},
		{in: "6901234567892", rules: DefaultRules(), pre: true,
			want:  "6901234567892  INVALID  6901234567892 is a product barcode",
			parts: []string{"(product_barcode)"}},
		{in: "]d2\x1d01" + gtinA + "10L\x1d21S", rules: DefaultRules(),
			want: "]d2<GS>01" + gtinA + "10L<GS>21S  valid  gs1  gtin " + gtinA + "  serial S  lot L  symbology ]d2"},
		{in: "AB12CD34EF56GH78", rules: makerRules, want: "AB12CD34EF56GH78  valid  other  rule maker16"},
		{in: "8101\t2\r\n", rules: DefaultRules(), pre: true, want: `8101\t2\r\n  INVALID  control character 0x09 (TAB)`,
			parts: []string{"(control_char)"}},
	}
	for _, tc := range tests {
		got := Check(tc.in, tc.rules).Text()
		if tc.pre {
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("Text(%q) = %q, want prefix %q", tc.in, got, tc.want)
			}
		} else if got != tc.want {
			t.Errorf("Text(%q)\n got  %q\n want %q", tc.in, got, tc.want)
		}
		for _, p := range tc.parts {
			if !strings.Contains(got, p) {
				t.Errorf("Text(%q) = %q, missing %q", tc.in, got, p)
			}
		}
		if strings.ContainsAny(got, "\x1d\t\r\n\x00") {
			t.Errorf("Text(%q) contains raw control characters: %q", tc.in, got)
		}
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain 追溯码":    "plain 追溯码",
		"a\x1db":       "a<GS>b",
		"\r\n\t":       `\r\n\t`,
		"\x00\x1e\x7f": `\x00\x1e\x7f`,
		"x\u200by":     `x\u200by`,
		"bad\xffbyte":  `bad\xffbyte`,
		"\u0085":       `\u0085`,
		"":             "",
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

package configs

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestNHSAStockKeys: nhsa.stock_change_types and the stock bill types in
// nhsa.bill_types are checked, each problem at its key; the stock-take
// (901) never goes to 码上放心.
func TestNHSAStockKeys(t *testing.T) {
	for _, tc := range []struct{ extra, want string }{
		{"  bill_types: [102, 901, 205, 214]\n  stock_change_types: {\"205\": \"T1\", \"214\": \"T2\"}\n", ""},
		{"  stock_change_types: {\"321\": \"T1\"}\n", "nhsa.stock_change_types.321"},
		{"  stock_change_types: {\"x\": \"T1\"}\n", "nhsa.stock_change_types.x"},
		{"  stock_change_types: {\"205\": \"1234567\"}\n", "nhsa.stock_change_types.205"},
		{"  stock_change_types: {\"205\": \"\"}\n", "nhsa.stock_change_types.205"},
		{"  bill_types: [102, 201]\n", "nhsa.bill_types[1]"},
	} {
		demo := strings.Replace(string(Demo()), "\nnhsa:\n", "\nnhsa:\n"+tc.extra, 1)
		c, err := LoadBytes("demo.yaml", []byte(demo), nil)
		var ce *Error
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.extra, err)
		case tc.want != "" && (!errors.As(err, &ce) || len(ce.Fields) != 1 || ce.Fields[0].Key != tc.want):
			t.Errorf("%q: got %v, want one problem at %s", tc.extra, err, tc.want)
		case tc.want == "":
			if got := c.NHSA.StockChangeCodes(); got[205] != "T1" || got[214] != "T2" || len(got) != 2 {
				t.Errorf("codes %v", got)
			}
			if d := c.Destinations(901); slices.Contains(d, "msfx") || !slices.Contains(d, "nhsa") {
				t.Errorf("901 goes to %v", d)
			}
			if d := c.Destinations(205); !slices.Contains(d, "msfx") || !slices.Contains(d, "nhsa") {
				t.Errorf("205 goes to %v", d)
			}
		}
	}
}

func TestMsfxRefusesStockTake(t *testing.T) {
	demo := strings.Replace(string(Demo()), "\nmsfx:\n  enabled: true\n", "\nmsfx:\n  enabled: true\n  bill_types: [102, 901]\n", 1)
	_, err := LoadBytes("demo.yaml", []byte(demo), nil)
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Fields) != 1 || ce.Fields[0].Key != "msfx.bill_types[1]" {
		t.Fatalf("got %v", err)
	}
}

package msfx

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A 205 销毁出库 names its reason in cancel_reason_des (from stock.reason);
// no other bill type does, and a bill without a reason sends none.
func TestDestructionReason(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1/", nil)
	for _, tt := range []struct {
		typ    int
		reason string
		want   string
	}{
		{205, " 过期药品集中销毁 ", "过期药品集中销毁"},
		{205, "", ""},
		{202, "质量问题", ""},
		{205, strings.Repeat("霉", 150), strings.Repeat("霉", maxCancelReason)},
	} {
		b := testBill("B1", tt.typ, supplierEnt)
		if tt.reason != "" {
			b.Attrs = map[string]string{AttrStockReason: tt.reason}
		}
		_, p, err := c.billParams(b)
		if err != nil {
			t.Fatalf("%d: %v", tt.typ, err)
		}
		got, sent := p["cancel_reason_des"]
		if got != tt.want || sent != (tt.want != "") {
			t.Errorf("%d %q: cancel_reason_des %q (sent %v), want %q", tt.typ, tt.reason, got, sent, tt.want)
		}
		if utf8.RuneCountInString(got) > maxCancelReason {
			t.Errorf("reason not clipped: %d runes", utf8.RuneCountInString(got))
		}
	}
}

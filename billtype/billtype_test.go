package billtype

import "testing"

func TestDirection(t *testing.T) {
	cases := map[int]Direction{102: Inbound, 104: Inbound, 113: Inbound, 116: ConsumerReturn,
		201: Outbound, 202: Outbound, 237: Outbound, 321: Retail, 323: Retail}
	for bt, want := range cases {
		got, err := DirectionOf(bt)
		if err != nil || got != want {
			t.Errorf("DirectionOf(%d) = %v, %v; want %v", bt, got, err, want)
		}
	}
	for _, bt := range []int{0, 101, 114, 200, 208, 320, 324, 999} {
		if _, err := DirectionOf(bt); err == nil {
			t.Errorf("DirectionOf(%d) accepted an unknown type", bt)
		}
	}
	if Name(321) != "使用出库" || Name(5) != "未知类型 5" {
		t.Errorf("names: %q %q", Name(321), Name(5))
	}
}

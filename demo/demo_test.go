package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestStoreDay(t *testing.T) {
	var out bytes.Buffer
	sum, err := Run(context.Background(), Options{Out: &out, DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	want := map[string]uint64{"accepted": 21, "duplicate": 2, "rejected:product_barcode": 1, "rejected:bad_length": 1,
		"rejected:already_sold": 1, "rejected:not_sold": 1}
	for k, v := range want {
		if sum.Scans[k] != v {
			t.Errorf("scans[%s] = %d, want %d", k, sum.Scans[k], v)
		}
	}
	if sum.Finished != 8 || sum.Open != 0 || sum.Retries == 0 {
		t.Errorf("summary %+v", sum)
	}
	for _, dest := range []string{"msfx", "webhook"} {
		d := sum.Dests[dest]
		if d == nil || d.Delivered != 8 || d.Remote != 8 || d.Pending != 0 || d.Dead != 0 || len(d.Mismatches) != 0 {
			t.Errorf("%s: %+v", dest, d)
		}
	}
	if strings.Count(out.String(), "each exactly once, codes identical: OK") != 2 || !strings.Contains(out.String(), "network restored") {
		t.Errorf("output:\n%s", out.String())
	}
}

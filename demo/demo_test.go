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
	if sum.Finished != 8 || sum.Delivered != 8 || sum.SandboxApps != 8 || sum.Pending != 0 || sum.Dead != 0 || sum.Retries == 0 {
		t.Errorf("summary %+v", sum)
	}
	if !strings.Contains(out.String(), "each exactly once, codes identical: OK") || !strings.Contains(out.String(), "network restored") {
		t.Errorf("output:\n%s", out.String())
	}
}

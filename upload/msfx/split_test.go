package msfx

import (
	"fmt"
	"slices"
	"testing"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// fakeCodes returns n distinct 码上放心-shaped codes.
func fakeCodes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("8101235%013d", i)
	}
	return out
}

func TestSplitParts(t *testing.T) {
	tests := []struct {
		n     int
		names []string
		sizes []int
	}{
		{1, []string{"B"}, []int{1}},
		{3500, []string{"B"}, []int{3500}},
		{3501, []string{"B_1", "B_2"}, []int{3500, 1}},
		{7001, []string{"B_1", "B_2", "B_3"}, []int{3500, 3500, 1}},
	}
	for _, tt := range tests {
		codes := fakeCodes(tt.n)
		parts := splitParts("B", codes, wire.MaxCodesPerUpload)
		var names []string
		var sizes []int
		var joined []string
		for _, p := range parts {
			names, sizes = append(names, p.code), append(sizes, len(p.codes))
			joined = append(joined, p.codes...)
		}
		if !slices.Equal(names, tt.names) || !slices.Equal(sizes, tt.sizes) {
			t.Errorf("%d codes: parts %v sizes %v, want %v %v", tt.n, names, sizes, tt.names, tt.sizes)
		}
		if !slices.Equal(joined, codes) {
			t.Errorf("%d codes: parts do not keep item order", tt.n)
		}
		// Deterministic: a retry regenerates identical parts.
		again := splitParts("B", fakeCodes(tt.n), wire.MaxCodesPerUpload)
		p1 := newProgress(wire.MethodUploadRetail, 3500, false, parts)
		p2 := newProgress(wire.MethodUploadRetail, 3500, false, again)
		if p1.encode() != p2.encode() {
			t.Errorf("%d codes: split is not deterministic", tt.n)
		}
		if err := p1.matches(wire.MethodUploadRetail, again); err != nil {
			t.Errorf("%d codes: %v", tt.n, err)
		}
	}
	if splitParts("B", nil, 3500) != nil {
		t.Errorf("no codes gave parts")
	}
}

// TestSplitPinnedByProgress checks that once a part may be on the
// platform, a configuration change cannot re-cut the bill.
func TestSplitPinnedByProgress(t *testing.T) {
	items := make([]queue.Item, 0, 5)
	for i, code := range fakeCodes(5) {
		items = append(items, queue.Item{Seq: i + 1, Code: code, Key: code, Kind: "msfx20"})
	}
	job := upload.Job{Bill: testBill("B", 321, ""), Items: items, Attempt: 2}
	old := newProgress(wire.MethodUploadRetail, 2, false, splitParts("B", fakeCodes(5), 2))
	old.Parts[0].State = stateSent
	job.Progress = old.encode()

	c := newTestClient(t, "http://127.0.0.1:1/", nil) // limit 3500 now
	prog, parts, _, _, err := c.plan(job, wire.MethodUploadRetail)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 || parts[0].code != "B_1" || prog.Limit != 2 {
		t.Fatalf("plan re-cut the bill: %d parts, limit %d", len(parts), prog.Limit)
	}
	// Nothing sent yet: the current configuration applies.
	old.Parts[0].State = statePending
	job.Progress = old.encode()
	_, parts, _, _, err = c.plan(job, wire.MethodUploadRetail)
	if err != nil || len(parts) != 1 || parts[0].code != "B" {
		t.Fatalf("unsent bill not re-planned: %v, %v", parts, err)
	}
	// Items that no longer match a started split are refused.
	old.Parts[0].State = stateSent
	job.Progress = old.encode()
	job.Items = job.Items[:4]
	if _, _, _, _, err := c.plan(job, wire.MethodUploadRetail); err == nil {
		t.Fatalf("changed items accepted")
	}
}

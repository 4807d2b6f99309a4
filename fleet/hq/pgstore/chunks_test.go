package pgstore

import (
	"slices"
	"testing"

	"github.com/pda-agent/pda-agent/fleet/hq"
)

func TestChunks(t *testing.T) {
	mk := func(sizes ...int) []hq.SealedBundle {
		var out []hq.SealedBundle
		for _, n := range sizes {
			out = append(out, hq.SealedBundle{Data: make([]byte, n)})
		}
		return out
	}
	lens := func(cs [][]hq.SealedBundle) []int {
		var out []int
		for _, c := range cs {
			out = append(out, len(c))
		}
		return out
	}
	if got := lens(chunks(nil)); len(got) != 0 {
		t.Errorf("no bundles: %v", got)
	}
	// By bytes: a run closes before it would pass chunkBytes; a bundle
	// bigger than that goes alone.
	big := chunkBytes/2 + 1
	if got := lens(chunks(mk(big, big, 10, chunkBytes+5, 1))); !slices.Equal(got, []int{1, 2, 1, 1}) {
		t.Errorf("by bytes: %v", got)
	}
	// By rows.
	if got := lens(chunks(make([]hq.SealedBundle, 2*chunkRows+3))); len(got) != 3 || got[0] != chunkRows || got[2] != 3 {
		t.Errorf("by rows: %v", got)
	}
}

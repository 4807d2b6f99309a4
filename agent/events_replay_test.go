package agent

import "testing"

func TestHubKeepsBoundedHistory(t *testing.T) {
	h := newHub()
	base := h.seq
	if got, ok := h.since(base); !ok || len(got) != 0 {
		t.Fatalf("fresh hub since its start: %v %v", got, ok)
	}
	if _, ok := h.since(base - 1); ok {
		t.Fatal("an id of an earlier run replayed")
	}
	for i := 0; i < replayBuffer+10; i++ {
		h.publish(Event{Kind: "scan"})
	}
	// The first 10 are gone: asking from before them is a reset.
	if _, ok := h.since(base + 9); ok {
		t.Fatal("replay from an id no longer kept")
	}
	got, ok := h.since(base + 10)
	if !ok || len(got) != replayBuffer || got[0].Seq != base+11 || got[len(got)-1].Seq != base+replayBuffer+10 {
		t.Fatalf("from the oldest kept: ok=%v %d events, %d..%d", ok, len(got), got[0].Seq, got[len(got)-1].Seq)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq != got[i-1].Seq+1 {
			t.Fatalf("out of order at %d: %d after %d", i, got[i].Seq, got[i-1].Seq)
		}
	}
	if _, ok := h.since(h.seq + 1); ok {
		t.Fatal("an id ahead of the hub replayed")
	}
	// A later hub (a restart) does not start below this one.
	if later := newHub(); later.seq < base {
		t.Fatalf("restart seq %d below the earlier run's start %d", later.seq, base)
	}
}

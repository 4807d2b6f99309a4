package api

import (
	"context"
	"strconv"
	"testing"
)

// A client reconnecting with Last-Event-ID gets what it missed, in order,
// then the live events; an id the agent no longer keeps gets "reset".
func TestEventsReplayFromLastEventID(t *testing.T) {
	e := start(t, envOpts{})
	ctx, cancel := context.WithCancel(context.Background())
	events, _ := openStream(t, e, ctx)
	e.ok("POST", "/v1/sessions", map[string]any{"session": "c", "kind": "sale"}, nil)
	opened := next(t, events)
	if opened.name != "bill" {
		t.Fatalf("first event %+v", opened)
	}
	cancel() // the connection drops

	// Meanwhile, two scans.
	e.scan("c", codeA, "accepted")
	e.scan("c", barcode, "rejected")

	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	events, _ = openStream(t, e, ctx2, opened.id)
	last, _ := strconv.ParseUint(opened.id, 10, 64)
	for _, want := range []string{codeA, barcode} {
		ev := next(t, events)
		seq, _ := strconv.ParseUint(ev.id, 10, 64)
		if ev.name != "scan" || ev.data.Code != want || seq != last+1 {
			t.Fatalf("replayed %+v, want the scan of %s with id %d", ev, want, last+1)
		}
		last = seq
	}
	// Then live.
	e.scan("c", codeB, "accepted")
	if ev := next(t, events); ev.data.Code != codeB || ev.id != strconv.FormatUint(last+1, 10) {
		t.Fatalf("live after replay: %+v", ev)
	}
	last++

	// An id from before what is kept (or from another run): reset, with the
	// latest id so the next reconnect goes on from there.
	for _, old := range []string{"1", "not-a-number"} {
		ctx3, cancel3 := context.WithCancel(context.Background())
		events, _ = openStream(t, e, ctx3, old)
		ev := next(t, events)
		if ev.name != "reset" || ev.data.Kind != "reset" || ev.id != strconv.FormatUint(last, 10) || ev.data.Message == "" {
			t.Fatalf("Last-Event-ID %s: %+v, want reset at id %d", old, ev, last)
		}
		cancel3()
	}
	// Up to date: nothing replayed, the next event is live.
	ctx4, cancel4 := context.WithCancel(context.Background())
	defer cancel4()
	events, _ = openStream(t, e, ctx4, strconv.FormatUint(last, 10))
	e.scan("c", codeC, "accepted")
	if ev := next(t, events); ev.data.Code != codeC {
		t.Fatalf("up to date, then %+v", ev)
	}
}

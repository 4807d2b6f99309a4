package upload_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
)

// TestEarlierHold: no hook or no earlier bill sends; an earlier bill makes
// a local wait; a failed lookup retries. Both keep the progress and the
// doubt of an attempt that may have been applied.
func TestEarlierHold(t *testing.T) {
	ctx := context.Background()
	job := upload.Job{Bill: queue.Bill{Code: "B2"}, Unknown: true}
	var none upload.Earlier
	if out := none.Hold(ctx, job, "码上放心", "p"); out != nil {
		t.Fatalf("no hook: %+v", out)
	}
	answer, fail := upload.Blocker{}, error(nil)
	e := upload.Earlier(func(context.Context, queue.Bill, []queue.Item) (upload.Blocker, error) { return answer, fail })
	if out := e.Hold(ctx, job, "码上放心", "p"); out != nil {
		t.Fatalf("nothing earlier: %+v", out)
	}
	answer = upload.Blocker{Code: "B1"} // due now or under way
	out := e.Hold(ctx, job, "码上放心", "p")
	if out == nil || out.Class != upload.Wait || !out.Local || !out.MaybeApplied || out.Progress != "p" || out.RetryAfter != upload.OrderWait ||
		!strings.Contains(out.Message, "waiting for the earlier bill B1") || !strings.Contains(out.Message, "码上放心 first") {
		t.Fatalf("earlier bill: %+v", out)
	}
	// A blocker due in a minute: look again just after it; one due in an
	// hour: no later than MaxOrderWait; one overdue: soon.
	for _, tc := range []struct {
		next     time.Duration
		min, max time.Duration
	}{
		{time.Minute, time.Minute, time.Minute + 2*upload.OrderWait},
		{time.Hour, upload.MaxOrderWait, upload.MaxOrderWait},
		{-time.Hour, upload.OrderWait, upload.OrderWait},
	} {
		answer = upload.Blocker{Code: "B1", Next: time.Now().Add(tc.next)}
		if out := e.Hold(ctx, job, "码上放心", "p"); out == nil || out.RetryAfter < tc.min || out.RetryAfter > tc.max {
			t.Errorf("blocker due in %v: %+v, want a wait in [%v, %v]", tc.next, out, tc.min, tc.max)
		}
	}
	answer, fail = upload.Blocker{}, errors.New("disk error")
	out = e.Hold(ctx, job, "码上放心", "p")
	if out == nil || out.Class != upload.Retry || out.Local || !out.MaybeApplied || !strings.Contains(out.Message, "disk error") {
		t.Fatalf("lookup failed: %+v", out)
	}
}

package upload_test

import (
	"context"
	"errors"
	"strings"
	"testing"

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
	answer, fail := "", error(nil)
	e := upload.Earlier(func(context.Context, queue.Bill, []queue.Item) (string, error) { return answer, fail })
	if out := e.Hold(ctx, job, "码上放心", "p"); out != nil {
		t.Fatalf("nothing earlier: %+v", out)
	}
	answer = "B1"
	out := e.Hold(ctx, job, "码上放心", "p")
	if out == nil || out.Class != upload.Wait || !out.Local || !out.MaybeApplied || out.Progress != "p" ||
		!strings.Contains(out.Message, "waiting for the earlier bill B1") || !strings.Contains(out.Message, "码上放心 first") {
		t.Fatalf("earlier bill: %+v", out)
	}
	answer, fail = "", errors.New("disk error")
	out = e.Hold(ctx, job, "码上放心", "p")
	if out == nil || out.Class != upload.Retry || out.Local || !out.MaybeApplied || !strings.Contains(out.Message, "disk error") {
		t.Fatalf("lookup failed: %+v", out)
	}
}

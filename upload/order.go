package upload

import (
	"context"
	"fmt"
	"time"

	"github.com/pda-agent/pda-agent/queue"
)

// Earlier names an earlier bill moving one of b's packs that has not
// reached the destination yet ("" if none). Back ends that keep each
// pack's state (码上放心, a chain ERP) refuse a pack moved out of order —
// a re-sale before the return that made it sellable again, a return
// before the receiving — and the refusal is final, so such a bill waits.
type Earlier func(ctx context.Context, b queue.Bill, items []queue.Item) (string, error)

// OrderWait is how long a bill waits before it looks again at an earlier
// bill of its packs; the look is local, so it can be short.
const OrderWait = 2 * time.Second

// Hold tells whether job must wait for an earlier bill (nil: it may be
// sent now). The outcome keeps progress and, when the lookup itself
// fails, that the bill may already be at the back end. dest names the
// back end for the operator (e.g. 码上放心).
func (e Earlier) Hold(ctx context.Context, job Job, dest, progress string) *Outcome {
	if e == nil {
		return nil
	}
	code, err := e(ctx, job.Bill, job.Items)
	switch {
	case err != nil:
		return &Outcome{Class: Retry, MaybeApplied: job.Unknown, Progress: progress,
			Message: fmt.Sprintf("bill %s: not sent: looking up earlier bills of its packs: %v", job.Bill.Code, err)}
	case code != "":
		return &Outcome{Class: Wait, RetryAfter: OrderWait, Progress: progress, Local: true, MaybeApplied: job.Unknown,
			Message: fmt.Sprintf("bill %s: waiting for the earlier bill %s, which moves the same packs, to reach %s first", job.Bill.Code, code, dest)}
	}
	return nil
}

package upload

import (
	"context"
	"fmt"
	"time"

	"github.com/pda-agent/pda-agent/queue"
)

// Blocker is an earlier bill moving one of a bill's packs that has not
// reached the destination yet.
type Blocker struct {
	Code string // "" when there is none
	// Next is when its next attempt is due; zero when it is due now or
	// under way.
	Next time.Time
}

// Earlier finds the Blocker of bill b, if any. Back ends that keep each
// pack's state (码上放心, 医保, a chain ERP) refuse a pack moved out of
// order — a re-sale before the return that made it sellable again, a
// return before the receiving — and the refusal is final, so such a bill
// waits.
type Earlier func(ctx context.Context, b queue.Bill, items []queue.Item) (Blocker, error)

// A held bill looks again OrderWait after its blocker's next attempt
// (nothing can change before it), at most MaxOrderWait later: a store
// selling from a receiving stuck for hours holds hundreds of sales, and
// each look is a queue commit on the device's flash.
const (
	OrderWait    = 2 * time.Second
	MaxOrderWait = 5 * time.Minute
)

// Hold tells whether job must wait for an earlier bill (nil: it may be
// sent now). The outcome keeps progress and, when the lookup itself
// fails, that the bill may already be at the back end. dest names the
// back end for the operator (e.g. 码上放心).
func (e Earlier) Hold(ctx context.Context, job Job, dest, progress string) *Outcome {
	if e == nil {
		return nil
	}
	bl, err := e(ctx, job.Bill, job.Items)
	switch {
	case err != nil:
		return &Outcome{Class: Retry, MaybeApplied: job.Unknown, Progress: progress,
			Message: fmt.Sprintf("bill %s: not sent: looking up earlier bills of its packs: %v", job.Bill.Code, err)}
	case bl.Code != "":
		wait := OrderWait
		if !bl.Next.IsZero() {
			wait = min(max(time.Until(bl.Next)+OrderWait, OrderWait), MaxOrderWait)
		}
		return &Outcome{Class: Wait, RetryAfter: wait, Progress: progress, Local: true, MaybeApplied: job.Unknown,
			Message: fmt.Sprintf("bill %s: waiting for the earlier bill %s, which moves the same packs, to reach %s first", job.Bill.Code, bl.Code, dest)}
	}
	return nil
}

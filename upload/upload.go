// Package upload carries finished bills from the durable queue to the back
// ends. A Destination knows how to send one bill to one back end and how to
// classify the answer; the Worker around it owns leasing, retry with backoff,
// rate limiting, concurrency and the dead-letter decision.
package upload

import (
	"context"
	"time"

	"github.com/pda-agent/pda-agent/queue"
)

// Class is how an attempt ended, from the queue's point of view.
type Class int

const (
	// Done: the back end has the bill (accepted now, or already had it).
	Done Class = iota
	// Retry: a transient failure (network, 5xx, throttling); try again later.
	Retry
	// Permanent: the back end refused the bill for a reason retrying cannot
	// fix; the delivery becomes a dead letter carrying Message.
	Permanent
	// Wait: the back end has the bill but its result is not final yet
	// (processing), or the bill must first wait for something on this
	// device (Outcome.Local); look again after RetryAfter. Not a failure.
	Wait
)

func (c Class) String() string {
	switch c {
	case Done:
		return "done"
	case Retry:
		return "retry"
	case Permanent:
		return "permanent"
	case Wait:
		return "wait"
	}
	return "unknown"
}

// Job is one delivery handed to a Destination.
type Job struct {
	Bill  queue.Bill
	Items []queue.Item
	// Attempt counts attempts including this one (1 for the first).
	Attempt int
	// Unknown is true when an earlier attempt may have reached the back end
	// without its answer being recorded; the destination must find out
	// (query) before sending again.
	Unknown bool
	// Progress is what the destination recorded after the previous attempt
	// (Outcome.Progress, or the last Checkpoint of an attempt whose outcome
	// was never recorded); empty on the first.
	Progress string
	// Checkpoint, when set, durably records progress for this delivery
	// before a request leaves the device (write-ahead) and marks the
	// attempt as possibly on the wire: after a crash the next attempt gets
	// Unknown together with this progress. A destination must not send if
	// it fails (the lease may be lost, or the disk refuses). The Outcome's
	// Progress still replaces it when the attempt ends. Nil means the
	// destination cannot write ahead.
	Checkpoint func(progress string) error
}

// Outcome is a destination's verdict on one attempt.
type Outcome struct {
	Class Class
	// RetryAfter is a minimum wait the back end asked for (ban seconds,
	// Retry-After); zero lets the worker's backoff decide.
	RetryAfter time.Duration
	// Message is the back end's own words, kept for the operator.
	Message string
	// Ref is the back end's reference for a delivered bill.
	Ref string
	// MaybeApplied marks a Retry whose request may have reached the back end
	// (timeout or broken connection after sending), or a Wait that left an
	// earlier such doubt unresolved: the next attempt must query before
	// sending again.
	MaybeApplied bool
	// Progress is the destination's state for the next attempt (Retry and
	// Wait), e.g. which parts of a split bill are already uploaded.
	Progress string
	// Local marks an attempt that never reached the back end because the
	// bill waits for something on this device (an earlier bill of its
	// packs): it says nothing about the back end's health.
	Local bool
	// CodeErrors are codes of a Done bill the back end did not take
	// (partial success), code → reason.
	CodeErrors map[string]string
	// Missing, on a Retry, says the bill was held back on this device
	// because it lacks data: nothing of this attempt left the device, and
	// the delivery waits for a repair (bill attrs, catalogue, config)
	// rather than failing.
	Missing []Missing
}

// Missing is one datum a destination needs and a bill lacks (queue.Missing:
// the queue keeps it on the held delivery).
type Missing = queue.Missing

// Checker is an optional interface of a Destination: Check says, without
// sending anything, what the bill lacks for this destination (nil: it can
// be sent as it is). The finish of a bill asks it so that a POS can fix the
// bill before the customer leaves.
type Checker interface {
	Check(ctx context.Context, bill queue.Bill, items []queue.Item) []Missing
}

// AttrUser is an optional interface of a Destination: UsesAttr tells
// whether the bill attribute key can change what the destination sends. A
// destination without it is taken to use every attribute.
type AttrUser interface {
	UsesAttr(key string) bool
}

// Destination sends bills to one back end.
type Destination interface {
	// Name is the destination's name in config and in the queue.
	Name() string
	// Deliver makes one attempt. It must honour ctx and classify every
	// outcome; it never retries by itself.
	Deliver(ctx context.Context, job Job) Outcome
}

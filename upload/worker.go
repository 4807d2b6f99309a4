package upload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"golang.org/x/time/rate"

	"github.com/pda-agent/pda-agent/queue"
)

// Backoff is the retry schedule after transient failures: exponential with
// jitter and no end. A regulated record is retried until the back end takes
// it or refuses it for good; backoff/v4's default of giving up after 15
// minutes would silently strand it.
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
	Jitter     float64 // 0..1, the randomization factor
}

// Delay is the wait before attempt number attempt+1, given attempt failed.
func (b Backoff) Delay(attempt int) time.Duration {
	eb := &backoff.ExponentialBackOff{
		InitialInterval:     b.Initial,
		RandomizationFactor: b.Jitter,
		Multiplier:          b.Multiplier,
		MaxInterval:         b.Max,
		MaxElapsedTime:      0, // never stop
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	eb.Reset()
	d := eb.NextBackOff()
	// The schedule saturates at Max long before 64 steps.
	for i := 1; i < attempt && i < 64; i++ {
		d = eb.NextBackOff()
	}
	return d
}

// WorkerOptions configure one destination's worker.
type WorkerOptions struct {
	// Lease is how long an attempt may take before the delivery is due
	// again.
	Lease time.Duration
	// Concurrency bounds attempts in flight.
	Concurrency int
	// Rate limits requests per second (0 = unlimited), with Burst.
	Rate  float64
	Burst int
	// Backoff schedules retries.
	Backoff Backoff
	// Now is the clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// OnResult, if set, is told every attempt's outcome (progress, metrics).
	OnResult func(Result)
}

// Result is one finished attempt.
type Result struct {
	Dest     string
	Bill     queue.Bill
	Attempt  int
	Outcome  Outcome
	Duration time.Duration
	// Err is set when the queue could not record the outcome.
	Err error
}

// Worker carries one destination's deliveries from the queue to the back
// end: it leases due deliveries, runs attempts under a concurrency bound and
// a rate limit, and records each outcome (ack, nack with the next retry
// time, or dead letter).
type Worker struct {
	store   *queue.Store
	dest    Destination
	opts    WorkerOptions
	limiter *rate.Limiter
	wake    chan struct{}
}

// NewWorker makes a worker for dest.
func NewWorker(store *queue.Store, dest Destination, o WorkerOptions) (*Worker, error) {
	if o.Lease <= 0 || o.Concurrency <= 0 || o.Backoff.Initial <= 0 || o.Backoff.Max < o.Backoff.Initial || o.Backoff.Multiplier < 1 {
		return nil, fmt.Errorf("upload: worker %s: invalid options %+v", dest.Name(), o)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	w := &Worker{store: store, dest: dest, opts: o, wake: make(chan struct{}, 1)}
	if o.Rate > 0 {
		burst := o.Burst
		if burst < 1 {
			burst = 1
		}
		w.limiter = rate.NewLimiter(rate.Limit(o.Rate), burst)
	}
	return w, nil
}

// Name is the destination's name.
func (w *Worker) Name() string { return w.dest.Name() }

// Wake tells the worker that deliveries may be due now. It never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// idlePoll bounds how long the worker sleeps without a known due time, as
// a safety net for missed wake-ups.
const idlePoll = 30 * time.Second

// Run delivers until ctx ends, then waits for attempts in flight. Attempts
// cut short by shutdown are put back in the queue; none is lost.
func (w *Worker) Run(ctx context.Context) error {
	name := w.dest.Name()
	slots := make(chan struct{}, w.opts.Concurrency)
	freed := make(chan struct{}, w.opts.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		if ctx.Err() != nil {
			return nil
		}
		free := w.opts.Concurrency - len(slots)
		if free > 0 {
			leases, err := w.store.Lease(ctx, name, free, w.opts.Lease)
			if err != nil && ctx.Err() == nil {
				w.opts.Logger.Error("upload: lease failed", "dest", name, "err", err)
			}
			for _, l := range leases {
				slots <- struct{}{}
				wg.Add(1)
				go func(l queue.Lease) {
					defer wg.Done()
					w.attempt(ctx, l)
					<-slots
					freed <- struct{}{}
				}(l)
			}
			if len(leases) == free {
				// Maybe more are due: go round as soon as a slot frees.
				select {
				case <-ctx.Done():
					return nil
				case <-freed:
				}
				continue
			}
		}
		wait := idlePoll
		if next, ok, err := w.store.NextDue(name); err == nil && ok {
			wait = min(max(next.Sub(w.opts.Now()), 0), idlePoll)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-w.wake:
		case <-freed:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// attempt delivers one lease and records the outcome. The outcome is
// recorded even when ctx has ended, so shutdown never strands a lease
// whose answer is known.
func (w *Worker) attempt(ctx context.Context, l queue.Lease) {
	name := w.dest.Name()
	record := context.WithoutCancel(ctx)
	if w.limiter != nil {
		if err := w.limiter.Wait(ctx); err != nil {
			// Shutting down before sending: nothing reached the back end.
			err := w.store.Nack(record, l.Bill.ID, name, l.Delivery.Lease, w.opts.Now(), "not sent: agent stopping", l.Unknown)
			w.report(Result{Dest: name, Bill: l.Bill, Attempt: l.Delivery.Attempts, Outcome: Outcome{Class: Retry, Message: "not sent: agent stopping"}, Err: ignoreLost(err)})
			return
		}
	}
	start := w.opts.Now()
	out := w.dest.Deliver(ctx, Job{Bill: l.Bill, Items: l.Items, Attempt: l.Delivery.Attempts, Unknown: l.Unknown})
	took := w.opts.Now().Sub(start)
	var err error
	switch out.Class {
	case Done:
		err = w.store.Ack(record, l.Bill.ID, name, out.Ref)
	case Permanent:
		w.opts.Logger.Warn("upload: refused for good, kept as dead letter", "dest", name, "bill", l.Bill.Code, "reason", out.Message)
		err = w.store.Dead(record, l.Bill.ID, name, l.Delivery.Lease, out.Message)
	default:
		delay := max(w.opts.Backoff.Delay(l.Delivery.Attempts), out.RetryAfter)
		w.opts.Logger.Info("upload: will retry", "dest", name, "bill", l.Bill.Code, "attempt", l.Delivery.Attempts, "in", delay.Round(time.Millisecond), "reason", out.Message)
		err = w.store.Nack(record, l.Bill.ID, name, l.Delivery.Lease, w.opts.Now().Add(delay), out.Message, out.MaybeApplied)
	}
	if err = ignoreLost(err); err != nil {
		w.opts.Logger.Error("upload: cannot record outcome; the delivery will be retried after its lease", "dest", name, "bill", l.Bill.Code, "outcome", out.Class, "err", err)
	}
	w.report(Result{Dest: name, Bill: l.Bill, Attempt: l.Delivery.Attempts, Outcome: out, Duration: took, Err: err})
}

// ignoreLost drops ErrLeaseLost: a newer attempt owns the delivery.
func ignoreLost(err error) error {
	if errors.Is(err, queue.ErrLeaseLost) {
		return nil
	}
	return err
}

func (w *Worker) report(r Result) {
	if w.opts.OnResult != nil {
		w.opts.OnResult(r)
	}
}

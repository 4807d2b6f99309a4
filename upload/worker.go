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
// end: Concurrency loops each lease one due delivery, attempt it under the
// rate limit and record the outcome (ack, nack with the next retry time, or
// dead letter). Their leases and acks meet in the queue's group commit, so
// a backlog drains at the speed of the back end, not of one fsync after
// another.
type Worker struct {
	store   *queue.Store
	dest    Destination
	opts    WorkerOptions
	limiter *rate.Limiter

	mu   sync.Mutex
	wake chan struct{} // closed and replaced by Wake: a broadcast
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
	w := &Worker{store: store, dest: dest, opts: o, wake: make(chan struct{})}
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

// Wake tells the worker's idle loops that deliveries may be due now. It
// never blocks.
func (w *Worker) Wake() {
	w.mu.Lock()
	close(w.wake)
	w.wake = make(chan struct{})
	w.mu.Unlock()
}

func (w *Worker) woken() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.wake
}

// idlePoll bounds how long a loop sleeps without a known due time, as a
// safety net for missed wake-ups.
const idlePoll = 30 * time.Second

// Run delivers until ctx ends, then waits for attempts in flight. Attempts
// cut short by shutdown are put back in the queue; none is lost.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := 0; i < w.opts.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// loop is one delivery slot: lease, attempt, record, again; sleep while
// nothing is due.
func (w *Worker) loop(ctx context.Context) {
	name := w.dest.Name()
	failures := 0
	for ctx.Err() == nil {
		wake := w.woken()
		leases, err := w.store.Lease(ctx, name, 1, w.opts.Lease)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			w.opts.Logger.Error("upload: lease failed", "dest", name, "err", err)
			w.sleep(ctx, wake, min(time.Duration(failures)*time.Second, idlePoll))
			continue
		}
		failures = 0
		if len(leases) > 0 {
			w.attempt(ctx, leases[0])
			continue
		}
		wait := idlePoll
		if next, ok, err := w.store.NextDue(name); err == nil && ok {
			wait = min(max(next.Sub(w.opts.Now()), 0), idlePoll)
		}
		w.sleep(ctx, wake, wait)
	}
}

func (w *Worker) sleep(ctx context.Context, wake <-chan struct{}, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-timer.C:
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
			err := w.store.Nack(record, l.Bill.ID, name, l.Delivery.Lease, queue.Retry{At: w.opts.Now(),
				Error: l.Delivery.LastError, Note: "not sent: agent stopping", MaybeApplied: l.Unknown, Progress: l.Delivery.Progress})
			w.report(Result{Dest: name, Bill: l.Bill, Attempt: l.Delivery.Attempts, Outcome: Outcome{Class: Retry, Message: "not sent: agent stopping"}, Err: ignoreLost(err)})
			return
		}
	}
	start := w.opts.Now()
	checkpoint := func(progress string) error {
		// Recorded even when ctx ends: the caller only sends after it.
		return w.store.Checkpoint(record, l.Bill.ID, name, l.Delivery.Lease, progress, w.opts.Lease)
	}
	out := w.dest.Deliver(ctx, Job{Bill: l.Bill, Items: l.Items, Attempt: l.Delivery.Attempts, Unknown: l.Unknown,
		Progress: l.Delivery.Progress, Checkpoint: checkpoint})
	took := w.opts.Now().Sub(start)
	// A back end may quote the patient's data in its answer: masked before
	// it is logged, stored or shown.
	out.Message = queue.RedactPersonal(l.Bill, out.Message)
	var err error
	switch out.Class {
	case Done:
		err = w.store.Ack(record, l.Bill.ID, name, queue.AckInfo{Ref: out.Ref, CodeErrors: out.CodeErrors, Note: out.Message})
	case Permanent:
		w.opts.Logger.Warn("upload: refused for good, kept as dead letter", "dest", name, "bill", l.Bill.Code, "reason", out.Message)
		err = w.store.Dead(record, l.Bill.ID, name, l.Delivery.Lease, out.Message, out.Progress)
	case Wait:
		wait := max(out.RetryAfter, time.Second)
		err = w.store.Nack(record, l.Bill.ID, name, l.Delivery.Lease, queue.Retry{At: w.opts.Now().Add(wait),
			Note: out.Message, Held: out.Local, Progress: out.Progress, MaybeApplied: out.MaybeApplied})
	default:
		delay := max(w.opts.Backoff.Delay(l.Delivery.Failures+1), out.RetryAfter)
		w.opts.Logger.Info("upload: will retry", "dest", name, "bill", l.Bill.Code, "attempt", l.Delivery.Attempts, "in", delay.Round(time.Millisecond), "reason", out.Message)
		err = w.store.Nack(record, l.Bill.ID, name, l.Delivery.Lease, queue.Retry{At: w.opts.Now().Add(delay),
			Error: out.Message, MaybeApplied: out.MaybeApplied, Progress: out.Progress, Missing: out.Missing})
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

package upload_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/webhook"
	"github.com/pda-agent/pda-agent/upload/webhook/sandbox"
)

func TestBackoffDelay(t *testing.T) {
	b := upload.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2, Jitter: 0.5}
	for attempt := 1; attempt <= 40; attempt++ {
		ideal := float64(100*time.Millisecond) * float64(uint64(1)<<min(attempt-1, 20))
		ideal = min(ideal, float64(2*time.Second))
		d := float64(b.Delay(attempt))
		if d < ideal*0.5-1 || d > ideal*1.5+1 {
			t.Fatalf("attempt %d: delay %v outside %v ± 50%%", attempt, time.Duration(d), time.Duration(ideal))
		}
	}
	// Hour after hour of failures still yields a delay: it never gives up.
	if d := b.Delay(100000); d <= 0 {
		t.Fatalf("gave up: %v", d)
	}
}

const key, secret = "k1", "worker-test-secret-0123456789"

type rig struct {
	store *queue.Store
	sb    *sandbox.Running
	dest  *webhook.Client
}

func newRig(t *testing.T, device string, sb *sandbox.Running) *rig {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := queue.Open(filepath.Join(t.TempDir(), "q.db"), queue.Options{BillPrefix: device, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	d, err := webhook.New(webhook.Options{URL: sb.URL(), KeyID: key, Secret: secret, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{store: s, sb: sb, dest: d}
}

func (r *rig) bill(t *testing.T, typ int, codes ...string) queue.Bill {
	t.Helper()
	ctx := context.Background()
	if _, _, err := r.store.OpenSession(ctx, queue.SessionSpec{Session: "s", Type: typ}); err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		res, err := r.store.Scan(ctx, queue.ScanInput{Session: "s", Code: c, Key: c, Kind: "msfx20"})
		if err != nil || res.Outcome != queue.Accepted {
			t.Fatalf("scan %s: %v %+v", c, err, res)
		}
	}
	b, err := r.store.Finish(ctx, "s", queue.To(r.dest.Name()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (r *rig) worker(t *testing.T, onResult func(upload.Result)) *upload.Worker {
	t.Helper()
	w, err := upload.NewWorker(r.store, r.dest, upload.WorkerOptions{
		Lease: 2 * time.Second, Concurrency: 4,
		Backoff:  upload.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2, Jitter: 0.2},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnResult: onResult,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func waitDrained(t *testing.T, s *queue.Store, dest string, limit time.Duration) queue.DestStats {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		d := st.Dests[dest]
		if d != nil && d.Pending+d.Leased == 0 {
			return *d
		}
		if time.Now().After(deadline) {
			t.Fatalf("not drained after %v: %+v", limit, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWorkerDeliversExactlyOnceThroughFaults runs the worker against the
// strict sandbox while it throws every fault it has, and restarts the worker
// mid-way; every bill must be applied exactly once.
func TestWorkerDeliversExactlyOnceThroughFaults(t *testing.T) {
	sb, err := sandbox.Start("127.0.0.1:0", sandbox.Options{KeyID: key, Secret: secret, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	r := newRig(t, "W1", sb)
	const bills = 150
	for i := 0; i < bills; i++ {
		r.bill(t, 102, fmt.Sprintf("8101235%09d0000", 2*i), fmt.Sprintf("8101235%09d0000", 2*i+1))
	}
	var faults []sandbox.Fault
	for i := 0; i < 6; i++ {
		faults = append(faults, sandbox.FaultHTTP500, sandbox.FaultApplyThenTimeout, sandbox.FaultThrottle)
	}
	sb.InjectFaults(faults...)

	var mu sync.Mutex
	classes := map[upload.Class]int{}
	maybe := 0
	count := func(res upload.Result) {
		mu.Lock()
		defer mu.Unlock()
		classes[res.Outcome.Class]++
		if res.Outcome.MaybeApplied {
			maybe++
		}
	}
	// First run, stopped mid-way.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.worker(t, count).Run(ctx) }()
	time.Sleep(150 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Second run to the end.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- r.worker(t, count).Run(ctx) }()
	d := waitDrained(t, r.store, r.dest.Name(), 30*time.Second)
	cancel()
	<-done

	if d.Dead != 0 {
		t.Fatalf("dead letters: %+v", d)
	}
	got := sb.Bills()
	if len(got) != bills {
		t.Fatalf("sandbox has %d bills, want %d", len(got), bills)
	}
	for _, b := range got {
		if b.Applied != 1 {
			t.Errorf("bill %s applied %d times", b.BillCode, b.Applied)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if classes[upload.Retry] < 12 || classes[upload.Done] < bills || maybe == 0 {
		t.Fatalf("faults not exercised: %v, maybe-applied %d", classes, maybe)
	}
	t.Logf("outcomes %v (maybe applied %d), sandbox %+v", classes, maybe, sb.Stats())
}

// A bill the back end refuses for good becomes a dead letter with the back
// end's words, and the worker goes on with the rest.
func TestWorkerDeadLetters(t *testing.T) {
	sb, err := sandbox.Start("127.0.0.1:0", sandbox.Options{KeyID: key, Secret: secret, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	// Two tills sold the same box: the second sale is refused by the back
	// end (the local ledgers cannot know of each other).
	a, b := newRig(t, "TILLA", sb), newRig(t, "TILLB", sb)
	code := "81012350000000157474"
	a.bill(t, 321, code)
	refused := b.bill(t, 321, code)
	fine := b.bill(t, 321, "81012350000000160016")

	for _, r := range []*rig{a, b} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- r.worker(t, nil).Run(ctx) }()
		waitDrained(t, r.store, r.dest.Name(), 10*time.Second)
		cancel()
		<-done
	}
	dl, err := b.store.DeadLetters()
	if err != nil || len(dl) != 1 || dl[0].BillCode != refused.Code || !strings.Contains(dl[0].Reason, "already_sold") {
		t.Fatalf("dead letters %+v %v", dl, err)
	}
	ds, _ := b.store.Deliveries(fine.ID)
	if len(ds) != 1 || ds[0].State != queue.DeliveryDone {
		t.Fatalf("the next bill was not delivered: %+v", ds)
	}
	bill, _ := b.store.Bill(refused.ID)
	if last := bill.History[len(bill.History)-1]; last.What != "dead letter" || !strings.Contains(last.Detail, "already_sold") {
		t.Fatalf("history %+v", bill.History)
	}
}

// doubtDest waits once with an unresolved doubt, then records whether the
// next attempt was told to look the bill up first.
type doubtDest struct {
	calls       atomic.Int32
	toldUnknown atomic.Bool
}

func (d *doubtDest) Name() string { return "doubt" }

func (d *doubtDest) Deliver(_ context.Context, j upload.Job) upload.Outcome {
	if d.calls.Add(1) == 1 {
		return upload.Outcome{Class: upload.Wait, RetryAfter: time.Millisecond, Local: true, MaybeApplied: true, Message: "waiting for B0"}
	}
	d.toldUnknown.Store(j.Unknown)
	return upload.Outcome{Class: upload.Done}
}

// TestWorkerWaitKeepsDoubt: a bill that waits (for an earlier bill) while
// an earlier attempt may have been applied must still be looked up first
// on its next attempt.
func TestWorkerWaitKeepsDoubt(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	s, err := queue.Open(filepath.Join(t.TempDir(), "q.db"), queue.Options{BillPrefix: "W1", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, _, err := s.OpenSession(ctx, queue.SessionSpec{Session: "s", Type: 321}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Scan(ctx, queue.ScanInput{Session: "s", Code: "81012350000000157474", Key: "81012350000000157474", Kind: "msfx20"}); err != nil || r.Outcome != queue.Accepted {
		t.Fatalf("scan: %v %+v", err, r)
	}
	if _, err := s.Finish(ctx, "s", queue.To("doubt")); err != nil {
		t.Fatal(err)
	}
	d := &doubtDest{}
	w, err := upload.NewWorker(s, d, upload.WorkerOptions{Lease: 2 * time.Second, Concurrency: 1,
		Backoff: upload.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	waitDrained(t, s, "doubt", 10*time.Second)
	cancel()
	<-done
	if d.calls.Load() != 2 || !d.toldUnknown.Load() {
		t.Fatalf("%d attempts; second told unknown: %v", d.calls.Load(), d.toldUnknown.Load())
	}
}

// aheadDest checkpoints before its first "send" and then hangs past the
// lease (as a process that died would); the next attempt records what it
// was given.
type aheadDest struct {
	calls       atomic.Int32
	release     chan struct{}
	cpErr       atomic.Value // error of the first checkpoint, if any
	gotUnknown  atomic.Bool
	gotProgress atomic.Value // string
}

func (d *aheadDest) Name() string { return "ahead" }

func (d *aheadDest) Deliver(_ context.Context, j upload.Job) upload.Outcome {
	if d.calls.Add(1) == 1 {
		if j.Checkpoint == nil {
			d.cpErr.Store(fmt.Errorf("no Checkpoint in the job"))
			return upload.Outcome{Class: upload.Done}
		}
		if err := j.Checkpoint(`{"msgid":"M1","state":"sending"}`); err != nil {
			d.cpErr.Store(err)
		}
		<-d.release // the answer never comes while the lease runs
		return upload.Outcome{Class: upload.Retry, Message: "late", Progress: "stale"}
	}
	d.gotUnknown.Store(j.Unknown)
	d.gotProgress.Store(j.Progress)
	return upload.Outcome{Class: upload.Done}
}

// TestWorkerCheckpointWriteAhead: what a destination checkpoints before
// sending reaches the next attempt, marked Unknown, when the first one
// never records its outcome; the hung attempt's late answer is ignored.
func TestWorkerCheckpointWriteAhead(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	s, err := queue.Open(filepath.Join(t.TempDir(), "q.db"), queue.Options{BillPrefix: "W1", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, _, err := s.OpenSession(ctx, queue.SessionSpec{Session: "s", Type: 321}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Scan(ctx, queue.ScanInput{Session: "s", Code: "81012350000000157474", Key: "81012350000000157474", Kind: "msfx20"}); err != nil || r.Outcome != queue.Accepted {
		t.Fatalf("scan: %v %+v", err, r)
	}
	if _, err := s.Finish(ctx, "s", queue.To("ahead")); err != nil {
		t.Fatal(err)
	}
	d := &aheadDest{release: make(chan struct{})}
	w, err := upload.NewWorker(s, d, upload.WorkerOptions{Lease: 300 * time.Millisecond, Concurrency: 2,
		Backoff: upload.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	waitDrained(t, s, "ahead", 10*time.Second)
	close(d.release)
	cancel()
	<-done
	if e, _ := d.cpErr.Load().(error); e != nil {
		t.Fatalf("checkpoint: %v", e)
	}
	p, _ := d.gotProgress.Load().(string)
	if d.calls.Load() != 2 || !d.gotUnknown.Load() || p != `{"msgid":"M1","state":"sending"}` {
		t.Fatalf("%d attempts; second unknown %v, progress %q", d.calls.Load(), d.gotUnknown.Load(), p)
	}
}

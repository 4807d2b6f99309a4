package queue

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func strp(s string) *string { return &s }

var heldMissing = []Missing{{Field: "prsc_dr_name", Source: "attr nhsa.prsc_dr_name", Detail: "开方医师姓名"}}

// holdOnce leases dest's delivery of the bill and nacks it as held back.
func holdOnce(t *testing.T, s *Store, c *clock, dest string) {
	t.Helper()
	ls, err := s.Lease(context.Background(), dest, 1, time.Minute)
	if err != nil || len(ls) != 1 {
		t.Fatalf("lease %s: %v %+v", dest, err, ls)
	}
	if err := s.Nack(context.Background(), ls[0].Bill.ID, dest, ls[0].Delivery.Lease, Retry{At: c.Now().Add(time.Hour),
		Error: "held back: lacks prsc_dr_name", Missing: heldMissing}); err != nil {
		t.Fatal(err)
	}
}

func deliveryOf(t *testing.T, s *Store, billID uint64, dest string) Delivery {
	t.Helper()
	d, err := s.delivery(billID, dest)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A held delivery is counted apart from failing ones, stays unsent, and a
// change of its bill's attrs makes it due at once.
func TestHeldDeliveryRepair(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	var due []string
	o := testOptions(c)
	o.OnDue = func(d string) { due = append(due, d) }
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), o)
	b := finishedBill(t, s, "s", 1, 2, "nhsa")
	if d := deliveryOf(t, s, b.ID, "nhsa"); !d.Unsent || d.MayHaveBeenSent() {
		t.Fatalf("a new delivery is unsent: %+v", d)
	}
	holdOnce(t, s, c, "nhsa")
	c.Add(time.Hour)
	holdOnce(t, s, c, "nhsa") // looked at again (HoldRetry) and still held: not a failure
	d := deliveryOf(t, s, b.ID, "nhsa")
	if !d.Unsent || len(d.Missing) != 1 || d.Failures != 0 || d.LastError == "" {
		t.Fatalf("held delivery %+v", d)
	}
	st, _ := s.Stats()
	if ds := st.Dests["nhsa"]; ds.Held != 1 || ds.Failing != 0 || ds.Pending != 1 {
		t.Fatalf("stats %+v", ds)
	}
	if ls, _ := s.Lease(ctx, "nhsa", 1, time.Minute); len(ls) != 0 {
		t.Fatal("a held delivery is not due before its next look")
	}

	due = nil
	got, dests, err := s.ChangeAttrs(ctx, b.Code, map[string]*string{"nhsa.prsc_dr_name": strp("张医生"), "nhsa.memo": nil}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Attrs["nhsa.prsc_dr_name"] != "张医生" || len(dests) != 1 || dests[0] != "nhsa" || len(due) != 1 {
		t.Fatalf("bill %+v dests %v due %v", got.Attrs, dests, due)
	}
	if last := got.History[len(got.History)-1]; last.What != "attrs changed" || strings.Contains(last.Detail, "张医生") ||
		!strings.Contains(last.Detail, "nhsa.prsc_dr_name set") {
		t.Fatalf("history %+v", last)
	}
	ls, _ := s.Lease(ctx, "nhsa", 1, time.Minute)
	if len(ls) != 1 || ls[0].Bill.Attrs["nhsa.prsc_dr_name"] != "张医生" {
		t.Fatalf("the repaired bill is due now with its new attrs: %+v", ls)
	}
	// While the attempt is under way, the attrs cannot change.
	_, _, err = s.ChangeAttrs(ctx, b.Code, map[string]*string{"nhsa.prsc_dr_name": strp("李医生")}, nil)
	var ae *AttrsError
	if !errors.As(err, &ae) || ae.Reason != AttrsInFlight || ae.Dest != "nhsa" {
		t.Fatalf("change during an attempt: %v", err)
	}
	// The attempt sent the bill (a retry that is not held): sent for good.
	if err := s.Nack(ctx, b.ID, "nhsa", ls[0].Delivery.Lease, Retry{At: c.Now(), Error: "HTTP 503"}); err != nil {
		t.Fatal(err)
	}
	if d := deliveryOf(t, s, b.ID, "nhsa"); d.Unsent || len(d.Missing) != 0 || d.Failures != 1 {
		t.Fatalf("after a failed send %+v", d)
	}
	_, _, err = s.ChangeAttrs(ctx, b.Code, map[string]*string{"nhsa.prsc_dr_name": strp("李医生")}, nil)
	if !errors.As(err, &ae) || ae.Reason != AttrsSent {
		t.Fatalf("change after a send: %v", err)
	}
	// An attr no sent destination uses may still change; one equal to the
	// present value is no change at all.
	uses := func(dest, key string) bool { return strings.HasPrefix(key, dest+".") }
	if _, _, err := s.ChangeAttrs(ctx, b.Code, map[string]*string{"pos.receipt": strp("R1"), "nhsa.prsc_dr_name": strp("张医生")}, uses); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.BillByCode(b.Code); got.Attrs["pos.receipt"] != "R1" {
		t.Fatalf("attrs %+v", got.Attrs)
	}
}

// Only held or dead deliveries are retried or dropped by an operator; a
// held one dropped never was sent and no longer counts.
func TestRetryAndDropHeld(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(c))
	b := finishedBill(t, s, "s", 1, 1, "nhsa", "msfx")
	if err := s.Retry(ctx, b.ID, "nhsa"); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("retry of a fresh delivery: %v", err)
	}
	holdOnce(t, s, c, "nhsa")
	if err := s.Retry(ctx, b.ID, "nhsa"); err != nil {
		t.Fatal(err)
	}
	if d := deliveryOf(t, s, b.ID, "nhsa"); !d.NextAt.Equal(c.Now()) {
		t.Fatalf("retry: next at %v, want now", d.NextAt)
	}
	if err := s.Drop(ctx, b.ID, "msfx", "no"); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("drop of a delivery that is neither held nor dead: %v", err)
	}
	if err := s.Drop(ctx, b.ID, "nhsa", ""); err == nil {
		t.Fatal("dropped without a reason")
	}
	if err := s.Drop(ctx, b.ID, "nhsa", "not a 医保 sale after all"); err != nil {
		t.Fatal(err)
	}
	d := deliveryOf(t, s, b.ID, "nhsa")
	if d.State != DeliveryDropped || !d.NextAt.IsZero() || !d.Unsent {
		t.Fatalf("dropped %+v", d)
	}
	st, _ := s.Stats()
	if ds := st.Dests["nhsa"]; ds.Held != 0 || ds.Dropped != 1 || ds.Pending != 0 {
		t.Fatalf("stats %+v", ds)
	}
	if ls, _ := s.Lease(ctx, "nhsa", 1, time.Minute); len(ls) != 0 {
		t.Fatal("a dropped delivery was leased")
	}
}

// An attempt whose outcome was never recorded (crash) may have sent the
// bill, even if the next attempt is held back.
func TestUnknownAttemptCountsAsSent(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(c))
	b := finishedBill(t, s, "s", 1, 1, "nhsa")
	if _, err := s.Lease(ctx, "nhsa", 1, time.Second); err != nil {
		t.Fatal(err)
	}
	c.Add(2 * time.Second) // the lease expires unanswered
	holdOnce(t, s, c, "nhsa")
	if d := deliveryOf(t, s, b.ID, "nhsa"); d.Unsent || !d.MayHaveBeenSent() {
		t.Fatalf("after an unknown attempt %+v", d)
	}
	var ae *AttrsError
	if _, _, err := s.ChangeAttrs(ctx, b.Code, map[string]*string{"nhsa.x": strp("1")}, nil); !errors.As(err, &ae) || ae.Reason != AttrsSent {
		t.Fatalf("change: %v", err)
	}
	// Nor is it dropped as "never sent": later returns would leave out
	// packs whose rows may be on the platform.
	if err := s.Drop(ctx, b.ID, "nhsa", "give up"); !errors.Is(err, ErrSentHeld) {
		t.Fatalf("drop of a held delivery that may have sent: %v", err)
	}
	if d := deliveryOf(t, s, b.ID, "nhsa"); d.State != DeliveryPending {
		t.Fatalf("after a refused drop %+v", d)
	}
	// A cancelled bill's attrs never change.
	mustOpenSession(t, s, "c", 321)
	mustScan(t, s, scanIn("c", msfx(50)), Accepted)
	cb, err := s.Cancel(ctx, "c", "customer left")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ChangeAttrs(ctx, cb.Code, map[string]*string{"nhsa.x": strp("1")}, nil); !errors.As(err, &ae) || ae.Reason != AttrsCancelled {
		t.Fatalf("change of a cancelled bill: %v", err)
	}
}

package agent

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/queue"
)

// TestEarlierUndelivered: a sale waits for the receiving of its pack to
// reach the back end, a return for both; nothing waits for a later bill,
// and a delivered receiving holds nothing back.
func TestEarlierUndelivered(t *testing.T) {
	ctx := context.Background()
	s, err := queue.Open(filepath.Join(t.TempDir(), "q.db"), queue.Options{BillPrefix: "T1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const code, other = "81012350000000157474", "81012350000000168888"
	bill := func(typ int, codes ...string) queue.Bill {
		t.Helper()
		if _, _, err := s.OpenSession(ctx, queue.SessionSpec{Session: "s", Type: typ, Partner: "5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4"}); err != nil {
			t.Fatal(err)
		}
		for _, c := range codes {
			r, err := s.Scan(ctx, queue.ScanInput{Session: "s", Code: c, Key: c, Kind: "msfx20", Product: c[:7], Raw: c})
			if err != nil || r.Outcome != queue.Accepted {
				t.Fatalf("scan %s: %v %+v", c, err, r)
			}
		}
		b, err := s.Finish(ctx, "s", queue.To("msfx"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	recv := bill(102, code, other)
	sale := bill(321, code)
	ret := bill(116, code)
	earlier := earlierUndelivered(s, "msfx")
	check := func(b queue.Bill, want string) {
		t.Helper()
		items, err := s.Items(b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := earlier(ctx, b, items); err != nil || got.Code != want {
			t.Fatalf("bill %s waits for %q (%v), want %q", b.Code, got, err, want)
		}
	}
	check(recv, "")
	check(sale, recv.Code)
	check(ret, recv.Code)
	// The receiving is delivered: the sale goes, the return waits for it.
	ls, err := s.Lease(ctx, "msfx", 1, time.Minute)
	if err != nil || len(ls) != 1 || ls[0].Bill.ID != recv.ID {
		t.Fatalf("lease %v %+v", err, ls)
	}
	if err := s.Ack(ctx, recv.ID, "msfx", queue.AckInfo{}); err != nil {
		t.Fatal(err)
	}
	check(sale, "")
	check(ret, sale.Code)
}

// TestEarlierUndeliveredPerDestination: only bills queued for the same
// back end hold a bill back; a receiving that never goes to the webhook
// does not stop the sale from reaching it.
func TestEarlierUndeliveredPerDestination(t *testing.T) {
	ctx := context.Background()
	s, err := queue.Open(filepath.Join(t.TempDir(), "q.db"), queue.Options{BillPrefix: "T1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const code = "81012350000000157474"
	bill := func(typ int, dests ...string) queue.Bill {
		t.Helper()
		if _, _, err := s.OpenSession(ctx, queue.SessionSpec{Session: "s", Type: typ, Partner: "5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4"}); err != nil {
			t.Fatal(err)
		}
		if r, err := s.Scan(ctx, queue.ScanInput{Session: "s", Code: code, Key: code, Kind: "msfx20", Product: code[:7], Raw: code}); err != nil || r.Outcome != queue.Accepted {
			t.Fatalf("scan: %v %+v", err, r)
		}
		b, err := s.Finish(ctx, "s", queue.To(dests...))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	recv := bill(102, "msfx")
	sale := bill(321, "msfx", "webhook")
	items, err := s.Items(sale.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := earlierUndelivered(s, "webhook")(ctx, sale, items); err != nil || got.Code != "" {
		t.Fatalf("webhook: the sale waits for %q (%v)", got, err)
	}
	got, err := earlierUndelivered(s, "msfx")(ctx, sale, items)
	if err != nil || got.Code != recv.Code || got.Next.IsZero() {
		t.Fatalf("msfx: the sale waits for %+v (%v), want %s and its next attempt", got, err, recv.Code)
	}
	// Where only sales and returns count (医保), the receiving does not.
	if got, err := earlierUndelivered(s, "msfx", 321, 116)(ctx, sale, items); err != nil || got.Code != "" {
		t.Fatalf("sales and returns only: the sale waits for %q (%v)", got, err)
	}
}

// TestDeliveryLineHeld: a bill held on the device for an earlier bill was
// not sent; the verdict must not say it was.
func TestDeliveryLineHeld(t *testing.T) {
	now := time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	held := queue.Delivery{Dest: "msfx", State: queue.DeliveryPending, Held: true,
		Note: "msfx: bill B2: waiting for the earlier bill B1, which moves the same packs, to reach 码上放心 first"}
	if got := deliveryLine(held, now); !strings.HasPrefix(got, "held on this device for 码上放心: ") || strings.Contains(got, "sent to") {
		t.Errorf("held: %q", got)
	}
	processing := queue.Delivery{Dest: "msfx", State: queue.DeliveryPending, Note: "msfx: bill B2: uploaded, queued on the platform"}
	if got := deliveryLine(processing, now); !strings.HasPrefix(got, "sent to 码上放心, waiting: ") {
		t.Errorf("processing: %q", got)
	}
}

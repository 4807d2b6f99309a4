package queue

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestResendQueuesADeliveredBillAgain(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "q.db"), Options{BillPrefix: "R1"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, _, err := s.OpenSession(ctx, SessionSpec{Session: "a", Type: 321}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Scan(ctx, ScanInput{Session: "a", Code: "81012350000000000001", Key: "81012350000000000001", Kind: "msfx20", Product: "8101235"}); err != nil {
		t.Fatal(err)
	}
	b, err := s.Finish(ctx, "a", func(Bill) []string { return []string{"msfx"} })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Resend(ctx, b.ID, "msfx", "p", "lost"); !errors.Is(err, ErrNotDone) {
		t.Fatalf("resend of a pending delivery: %v", err)
	}
	ls, err := s.Lease(ctx, "msfx", 1, time.Minute)
	if err != nil || len(ls) != 1 {
		t.Fatal(ls, err)
	}
	if err := s.Ack(ctx, b.ID, "msfx", AckInfo{Ref: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Resend(ctx, b.ID, "msfx", `{"again":true}`, "the platform lost it (reconciliation #1)"); err != nil {
		t.Fatal(err)
	}
	ls, err = s.Lease(ctx, "msfx", 1, time.Minute)
	if err != nil || len(ls) != 1 || ls[0].Bill.ID != b.ID || ls[0].Delivery.Progress != `{"again":true}` || ls[0].Unknown {
		t.Fatalf("leased after resend: %+v %v", ls, err)
	}
	got, _ := s.Bill(b.ID)
	if h := got.History[len(got.History)-1]; h.What != "resend" {
		t.Errorf("history %+v", got.History)
	}
}

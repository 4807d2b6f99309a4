package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// With PersonalRetention a delivered 医保 sale keeps its personal attrs,
// sealed in the file, until its reconciliation found it present and the
// settle time passed, or the retention ran out; without it they go at
// delivery (TestPersonalDataNeverPlainInFile).
func TestPersonalRetention(t *testing.T) {
	needles := []string{testCertno, testName, testPsnNo, testTel}
	ctx := context.Background()
	deliver := func(s *Store, clk *clock) Bill {
		t.Helper()
		code := personalSale(t, s, true)
		b, _ := s.BillByCode(code)
		ls, err := s.Lease(ctx, "msfx", 1, time.Minute)
		if err != nil || len(ls) != 1 {
			t.Fatalf("msfx lease: %v %v", ls, err)
		}
		if err := s.Ack(ctx, b.ID, "msfx", AckInfo{Ref: "M"}); err != nil {
			t.Fatal(err)
		}
		b, err = s.BillByCode(code)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	open := func(t *testing.T) (*Store, *clock, string) {
		path := filepath.Join(t.TempDir(), "queue.db")
		clk := newClock()
		o := testOptions(clk)
		o.PersonalKey = newTestKey(t)
		o.PersonalRetention, o.RetainPersonalFor = 30*24*time.Hour, []string{"nhsa"}
		return openTest(t, path, o), clk, path
	}

	t.Run("reconciled", func(t *testing.T) {
		s, clk, path := open(t)
		b := deliver(s, clk)
		if b.Attrs["nhsa.certno"] != testCertno || !b.PersonalErased.IsZero() {
			t.Fatalf("delivered bill under retention: attrs %v erased %v", b.Attrs, b.PersonalErased)
		}
		if found := rawContains(t, path, needles...); len(found) > 0 {
			t.Fatalf("raw queue file holds %v", found)
		}
		settle := 48 * time.Hour
		if n, err := s.ErasePersonalDue(ctx, settle); n != 0 || err != nil {
			t.Fatalf("erased %d (%v) before any reconciliation", n, err)
		}
		if err := s.MarkReconciled(ctx, "nhsa", []uint64{b.ID}); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.ErasePersonalDue(ctx, settle); n != 0 {
			t.Fatal("erased before the settle time passed")
		}
		clk.Add(settle)
		if n, err := s.ErasePersonalDue(ctx, settle); n != 1 || err != nil {
			t.Fatalf("erased %d (%v) once reconciled and settled", n, err)
		}
		b, _ = s.BillByCode(b.Code)
		if _, ok := b.Attrs["nhsa.certno"]; ok || b.PersonalErased.IsZero() || len(b.Sealed) > 0 {
			t.Fatalf("after erasure: attrs %v sealed %v", b.Attrs, b.Sealed)
		}
		s.Close()
		if found := rawContains(t, path, needles...); len(found) > 0 {
			t.Fatalf("raw queue file holds %v", found)
		}
	})
	t.Run("expired", func(t *testing.T) {
		s, clk, _ := open(t)
		b := deliver(s, clk)
		clk.Add(30*24*time.Hour - time.Minute)
		if n, _ := s.ErasePersonalDue(ctx, time.Hour); n != 0 {
			t.Fatal("erased before the retention ran out, never reconciled")
		}
		clk.Add(time.Minute)
		if n, _ := s.ErasePersonalDue(ctx, time.Hour); n != 1 {
			t.Fatal("kept past the retention")
		}
		if b, _ = s.BillByCode(b.Code); b.PersonalErased.IsZero() {
			t.Fatal("not erased")
		}
	})
}

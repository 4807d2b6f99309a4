package queue

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// A pack taken off an open sale is as if never scanned: its line lacks it
// again, the pack may be sold again (here or on another bill), later scans
// get seqs of their own, and a finished bill cannot lose packs.
func TestRemoveItem(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	c := newClock()
	s := openTest(t, path, testOptions(c))
	if _, _, err := s.OpenSession(ctx, SessionSpec{Session: "till", Type: 321, Lines: saleLines()}); err != nil {
		t.Fatal(err)
	}
	mustScan(t, s, scanIn("till", msfx(1)), Accepted)
	mustScan(t, s, scanIn("till", msfx(2)), Accepted)
	split := gtinScan("till", 1)
	split.Units, split.PackUnits = 4, 10
	mustScan(t, s, split, Accepted)

	b, it, err := s.RemoveItem(ctx, "till", msfx(1))
	if err != nil {
		t.Fatal(err)
	}
	if it.Code != msfx(1) || b.Items != 2 || lineOf(t, b, "1").Collected != 1 || b.History[len(b.History)-1].What != "item removed" {
		t.Fatalf("after removal: item %+v, bill items %d, lines %+v", it, b.Items, b.Lines)
	}
	if _, _, err := s.RemoveItem(ctx, "till", msfx(1)); !errors.Is(err, ErrNotOnBill) {
		t.Fatalf("removing it twice: %v", err)
	}
	// The split units go back to the pack: the line lacks them, and the
	// pack holds all 10 again (a sale of 10 fits).
	if b, _, err = s.RemoveItem(ctx, "till", split.Key); err != nil {
		t.Fatal(err)
	}
	if lineOf(t, b, "2").Collected != 0 {
		t.Fatalf("拆零 line after removal: %+v", b.Lines)
	}
	split.Units = 6
	if r := mustScan(t, s, split, Accepted); lineOf(t, r.Bill, "2").Collected != 6 {
		t.Fatalf("split sale again: %+v", r.Bill.Lines)
	}
	// The removed pack scans again; seqs are new (the split sale took 4).
	r := mustScan(t, s, scanIn("till", msfx(1)), Accepted)
	if r.Item.Seq != 5 || r.Bill.Items != 3 || lineOf(t, r.Bill, "1").Collected != 2 {
		t.Fatalf("rescan: seq %d, items %d, %+v", r.Item.Seq, r.Bill.Items, r.Bill.Lines)
	}
	items, err := s.Items(r.Bill.ID)
	if err != nil || len(items) != 3 {
		t.Fatalf("items: %v %+v", err, items)
	}
	seen := map[int]bool{}
	for _, it := range items {
		if seen[it.Seq] {
			t.Fatalf("seq %d twice: %+v", it.Seq, items)
		}
		seen[it.Seq] = true
	}
	if _, err := s.Finish(ctx, "till", To()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RemoveItem(ctx, "till", msfx(2)); !errors.Is(err, ErrNoSession) {
		t.Fatalf("removing from a finished bill: %v", err)
	}
	// A pack removed from one sale is sold on the next.
	mustOpenSession(t, s, "till2", 321)
	mustScan(t, s, scanIn("till2", msfx(3)), Accepted)
	if _, _, err := s.RemoveItem(ctx, "till2", msfx(3)); err != nil {
		t.Fatal(err)
	}
	mustOpenSession(t, s, "till3", 321)
	mustScan(t, s, scanIn("till3", msfx(3)), Accepted)
}

// Pending checks outlive the store: written, reopened, listed, forgotten.
func TestPendingChecksDurable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	c := newClock()
	s := openTest(t, path, testOptions(c))
	in := []PendingCheck{
		{BillID: 7, BillCode: "DEV-1", Session: "till", Code: msfx(1), Mode: "refuse", Item: Item{Seq: 1, Code: msfx(1)}},
		{BillID: 7, BillCode: "DEV-1", Session: "till", Code: msfx(2), Mode: "refuse"},
		{BillID: 9, BillCode: "DEV-2", Code: msfx(1), Mode: "warn"},
	}
	if err := s.AddPendingChecks(ctx, in...); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPendingChecks(ctx, PendingCheck{Code: msfx(3)}); err == nil {
		t.Fatal("a check without its bill was recorded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, testOptions(c))
	got, err := s.PendingChecks()
	if err != nil || len(got) != 3 {
		t.Fatalf("after reopening: %v %+v", err, got)
	}
	if got[0].BillCode != "DEV-1" || got[0].Item.Code != msfx(1) || got[0].Mode != "refuse" || !got[0].At.Equal(c.Now()) || got[2].BillID != 9 {
		t.Fatalf("records: %+v", got)
	}
	if err := s.DonePendingChecks(ctx, CheckRef{7, msfx(1)}, CheckRef{9, msfx(1)}, CheckRef{9, "unknown"}); err != nil {
		t.Fatal(err)
	}
	got, err = s.PendingChecks()
	if err != nil || len(got) != 1 || got[0].Code != msfx(2) {
		t.Fatalf("after done: %v %+v", err, got)
	}
}

// An excused pack is named by its code, counts on no line, and leaves
// with the pack when it is removed.
func TestExcusePack(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(c))
	if _, _, err := s.OpenSession(ctx, SessionSpec{Session: "till", Type: 321, Lines: saleLines()}); err != nil {
		t.Fatal(err)
	}
	mustScan(t, s, scanIn("till", msfx(1)), Accepted)
	if _, err := s.ExcusePack(ctx, "till", Exception{Code: msfx(2), Reason: "verified"}); !errors.Is(err, ErrNotOnBill) {
		t.Fatalf("excusing a pack not on the bill: %v", err)
	}
	if _, err := s.ExcusePack(ctx, "till", Exception{Code: msfx(1), Packs: 1, Reason: "verified"}); err == nil {
		t.Fatal("an excuse counting packs was taken")
	}
	b, err := s.ExcusePack(ctx, "till", Exception{Code: msfx(1), Reason: "verified"})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Excused) != 1 || b.Excused[0].Line != "1" || lineOf(t, b, "1").Excepted != 0 || lineOf(t, b, "1").Collected != 1 {
		t.Fatalf("excused: %+v lines %+v", b.Excused, b.Lines)
	}
	if b, _, err = s.RemoveItem(ctx, "till", msfx(1)); err != nil || len(b.Excused) != 0 {
		t.Fatalf("after removal: %v %+v", err, b.Excused)
	}
}

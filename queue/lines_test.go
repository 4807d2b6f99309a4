package queue

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
)

// gtinScan is a GS1 pack of product 06901234567892 (serial n).
func gtinScan(session string, n int) ScanInput {
	code := fmt.Sprintf("010690123456789221S%04d", n)
	return ScanInput{Session: session, Source: "test", Raw: code, Code: code, Key: code, Kind: "gs1", Product: "06901234567892"}
}

func saleLines() []SaleLine {
	return []SaleLine{
		{Line: "1", Product: "8101235", Keys: []string{"8101235"}, Packs: 2},
		{Line: "2", Product: "XJ01CAA040A001010101445", Keys: []string{"06901234567892"}, Units: 6},
	}
}

func lineOf(t *testing.T, b Bill, name string) SaleLine {
	t.Helper()
	i := slices.IndexFunc(b.Lines, func(l SaleLine) bool { return l.Line == name })
	if i < 0 {
		t.Fatalf("bill %s has no line %s: %+v", b.Code, name, b.Lines)
	}
	return b.Lines[i]
}

func TestSaleLinesMatchRefuseAndSurviveRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	c := newClock()
	s := openTest(t, path, testOptions(c))
	if _, _, err := s.OpenSession(ctx, SessionSpec{Session: "till", Type: 321, Lines: saleLines()}); err != nil {
		t.Fatal(err)
	}
	if r := mustScan(t, s, scanIn("till", msfx(1)), Accepted); r.Item.Line != "1" || lineOf(t, r.Bill, "1").Collected != 1 {
		t.Fatalf("first pack: line %q, %+v", r.Item.Line, r.Bill.Lines)
	}
	mustScan(t, s, scanIn("till", msfx(2)), Accepted)
	if r := mustScan(t, s, scanIn("till", msfx(3)), Rejected); r.Reason != ReasonLineComplete {
		t.Fatalf("third pack of a 2-pack line: %s %s", r.Reason, r.Message)
	}
	other := scanIn("till", "81099990000000000001")
	if r := mustScan(t, s, other, Rejected); r.Reason != ReasonNotOnSale {
		t.Fatalf("pack of no line: %s %s", r.Reason, r.Message)
	}
	// 拆零: 4 units of one pack on the 6-unit line; then a whole pack whose
	// units per pack are unknown, and a split sale of a packs-only product.
	split := gtinScan("till", 1)
	split.Units, split.PackUnits = 4, 10
	if r := mustScan(t, s, split, Accepted); r.Item.Line != "2" || lineOf(t, r.Bill, "2").Collected != 4 {
		t.Fatalf("split sale: line %q %+v", r.Item.Line, r.Bill.Lines)
	}
	whole := gtinScan("till", 3)
	if r := mustScan(t, s, whole, Rejected); r.Reason != ReasonNotOnSale {
		t.Fatalf("a whole pack of unknown units on a 拆零 line: %s", r.Reason)
	}
	splitOfPacks := scanIn("till", msfx(9))
	splitOfPacks.Units, splitOfPacks.PackUnits = 1, 24
	if r := mustScan(t, s, splitOfPacks, Rejected); r.Reason != ReasonNotOnSale {
		t.Fatalf("a split sale on a packs line: %s", r.Reason)
	}
	over := gtinScan("till", 2)
	over.Units, over.PackUnits = 3, 10
	if r := mustScan(t, s, over, Rejected); r.Reason != ReasonLineComplete {
		t.Fatalf("7 units on a 6-unit line: %s", r.Reason)
	}

	// Lines are durable: after a restart the counts hold and so does the refusal.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, testOptions(c))
	b, ok, err := s.OpenBill("till")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if l := lineOf(t, b, "1"); l.Collected != 2 || l.Needed() != 2 {
		t.Fatalf("line 1 after restart: %+v", l)
	}
	if l := lineOf(t, b, "2"); l.Collected != 4 || l.Short() != 2 {
		t.Fatalf("line 2 after restart: %+v", l)
	}
	mustScan(t, s, scanIn("till", msfx(3)), Rejected)

	// Finishing is refused, naming the short line, and finishes nothing.
	_, err = s.Finish(ctx, "till", nil)
	var me *MissingError
	if !errors.Is(err, ErrCodesMissing) || !errors.As(err, &me) || len(me.Lines) != 1 ||
		me.Lines[0] != (LineShort{Line: "2", Needed: 6, Collected: 4}) {
		t.Fatalf("finish short: %v %+v", err, me)
	}
	if b, ok, _ := s.OpenBill("till"); !ok || b.State != BillOpen {
		t.Fatal("a refused finish closed the bill")
	}

	// An exception covers at most what is short.
	if _, err := s.AddException(ctx, "till", Exception{Line: "2", Packs: 3, Reason: "unreadable"}); !errors.Is(err, ErrTooManyExcepted) {
		t.Fatalf("exception over the shortfall: %v", err)
	}
	if _, err := s.AddException(ctx, "till", Exception{Line: "9", Packs: 1, Reason: "unreadable"}); !errors.Is(err, ErrNoLine) {
		t.Fatalf("exception on no line: %v", err)
	}
	if _, err := s.AddException(ctx, "till", Exception{Line: "2", Packs: 2, Reason: "split_open_pack", Note: "opened yesterday", Supervisor: true}); err != nil {
		t.Fatal(err)
	}
	done, err := s.Finish(ctx, "till", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(done.Exceptions) != 1 || done.Exceptions[0].Note != "opened yesterday" || !done.Exceptions[0].Supervisor ||
		!slices.ContainsFunc(done.History, func(e Event) bool { return e.What == "exception" }) {
		t.Fatalf("finished bill: %+v %+v", done.Exceptions, done.History)
	}
	// The export holds the lines and the exception.
	var rec BillRecord
	if err := s.WalkBillRecords(func(r BillRecord, _ int) error {
		if r.Bill.Code == done.Code {
			rec = r
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(rec.Bill.Exceptions) != 1 || lineOf(t, rec.Bill, "2").Excepted != 2 || rec.Items[0].Line != "1" {
		t.Fatalf("export: %+v %+v", rec.Bill, rec.Items)
	}
}

func TestSaleWithoutLinesTakesAnything(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(newClock()))
	b := sellOne(t, s, "till", nil, msfx(1), "81099990000000000001")
	if b.Items != 2 || len(b.Lines) != 0 {
		t.Fatalf("%+v", b)
	}
}

func TestSaleLinesOpen(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(newClock()))
	bad := [][]SaleLine{
		{{Line: "1", Keys: []string{"8101235"}, Packs: 1}, {Line: "1", Keys: []string{"8101236"}, Packs: 1}},
		{{Line: "1", Keys: []string{"8101235"}, Packs: 1, Units: 2}},
		{{Line: "1", Keys: []string{"8101235"}}},
		{{Line: "1", Packs: 1}},
	}
	for _, lines := range bad {
		if _, _, err := s.OpenSession(ctx, SessionSpec{Session: "till", Type: 321, Lines: lines}); err == nil {
			t.Errorf("opened with %+v", lines)
		}
	}
	if _, _, err := s.OpenSession(ctx, SessionSpec{Session: "till", Type: 321, Lines: saleLines()}); err != nil {
		t.Fatal(err)
	}
	// The same lines again: the open sale; other lines: busy.
	if _, created, err := s.OpenSession(ctx, SessionSpec{Session: "till", Type: 321, Lines: saleLines()}); err != nil || created {
		t.Fatalf("reopen: %v %v", created, err)
	}
	if _, _, err := s.OpenSession(ctx, SessionSpec{Session: "till", Type: 321, Lines: saleLines()[:1]}); !errors.Is(err, ErrSessionBusy) {
		t.Fatalf("other lines: %v", err)
	}
}

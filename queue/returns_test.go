package queue

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// sellOne sells code in a finished sale on session and returns its bill.
func sellOne(t *testing.T, s *Store, session string, attrs map[string]string, codes ...string) Bill {
	t.Helper()
	if _, _, err := s.OpenSession(context.Background(), SessionSpec{Session: session, Type: 321, Device: "T01", Attrs: attrs}); err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		mustScan(t, s, scanIn(session, c), Accepted)
	}
	b, err := s.Finish(context.Background(), session, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openReturn(t *testing.T, s *Store, session string, attrs map[string]string) Bill {
	t.Helper()
	b, _, err := s.OpenSession(context.Background(), SessionSpec{Session: session, Type: 116, Device: "T01", Attrs: attrs})
	if err != nil {
		t.Fatalf("open return %v: %v", attrs, err)
	}
	return b
}

// The bug of issue 13: a customer return of a pack the ledger never saw was
// accepted, and its 3506 then had no original sale to name.
func TestReturnOfPackNeverSoldHereIsRefused(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(newClock()))
	openReturn(t, s, "till", nil)
	r := mustScan(t, s, scanIn("till", msfx(41)), Rejected)
	if r.Reason != ReasonNotSoldHere || !strings.Contains(r.Message, msfx(41)) {
		t.Fatalf("return of a pack never seen: %s %q", r.Reason, r.Message)
	}
	if _, ok, _ := s.Ledger(msfx(41)); ok {
		t.Fatal("a refused return wrote the ledger")
	}
	// Refused in a submitted bill too, and nothing written.
	_, err := s.SubmitBill(context.Background(), SessionSpec{Session: "erp", Type: 116}, []ScanInput{scanIn("erp", msfx(41))}, nil)
	var re *RefusedError
	if !errors.As(err, &re) || re.Refusals[0].Reason != ReasonNotSoldHere {
		t.Fatalf("submitted return: %v", err)
	}
}

func TestReturnNamingTheOriginalSale(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(newClock()))
	sale := sellOne(t, s, "till", nil, msfx(1), msfx(2))

	// A pack sold here comes back from its sale, with or without naming it.
	openReturn(t, s, "till", nil)
	if it := mustScan(t, s, scanIn("till", msfx(1)), Accepted).Item; it.Ref != sale.Code {
		t.Fatalf("Ref %q, want %q", it.Ref, sale.Code)
	}
	if _, err := s.Cancel(ctx, "till", "test"); err != nil {
		t.Fatal(err)
	}
	openReturn(t, s, "till", map[string]string{AttrOriginalBill: sale.Code})
	if it := mustScan(t, s, scanIn("till", msfx(2)), Accepted).Item; it.Ref != sale.Code {
		t.Fatalf("Ref %q, want %q", it.Ref, sale.Code)
	}
	// A pack this device never saw, named with a local sale not holding it.
	r := mustScan(t, s, scanIn("till", msfx(3)), Rejected)
	if r.Reason != ReasonNotOnOriginal || !strings.Contains(r.Message, sale.Code) {
		t.Fatalf("pack not on the original: %s %q", r.Reason, r.Message)
	}
	if _, err := s.Finish(ctx, "till", nil); err != nil {
		t.Fatal(err)
	}
	// Returned already: naming its sale again does not bring it back twice.
	openReturn(t, s, "till", map[string]string{AttrOriginalBill: sale.Code})
	if r := mustScan(t, s, scanIn("till", msfx(2)), Rejected); r.Reason != ReasonNotSold {
		t.Fatalf("second return: %s %q", r.Reason, r.Message)
	}
	if _, err := s.Cancel(ctx, "till", "test"); err != nil {
		t.Fatal(err)
	}

	// A sale of another till: this device cannot check it, so the return
	// is accepted and carries the reference.
	other := "T02-261127-00007"
	openReturn(t, s, "till", map[string]string{AttrOriginalBill: other})
	if it := mustScan(t, s, scanIn("till", msfx(50)), Accepted).Item; it.Ref != other {
		t.Fatalf("Ref %q, want %q", it.Ref, other)
	}
	if b, created, err := s.OpenSession(ctx, SessionSpec{Session: "till", Type: 116, Attrs: map[string]string{AttrOriginalBill: other}}); err != nil || created || b.Items != 1 {
		t.Fatalf("reopening the same return: %+v %v %v", b, created, err)
	}
	// But a pack this device sold on another bill is not from that sale.
	sale2 := func() Bill {
		if _, err := s.Cancel(ctx, "till", "test"); err != nil {
			t.Fatal(err)
		}
		return sellOne(t, s, "till", nil, msfx(60))
	}()
	openReturn(t, s, "till", map[string]string{AttrOriginalBill: other})
	if r := mustScan(t, s, scanIn("till", msfx(60)), Rejected); r.Reason != ReasonNotOnOriginal || !strings.Contains(r.Message, sale2.Code) {
		t.Fatalf("pack sold here on another bill: %s %q", r.Reason, r.Message)
	}
	if _, err := s.Cancel(ctx, "till", "test"); err != nil {
		t.Fatal(err)
	}

	// A receipt only (a sale this device does not hold): accepted without Ref.
	openReturn(t, s, "till", map[string]string{AttrOriginalReceipt: "R-88", AttrOriginalDate: "2026-11-20"})
	if it := mustScan(t, s, scanIn("till", msfx(70)), Accepted).Item; it.Ref != "" {
		t.Fatalf("Ref %q, want none", it.Ref)
	}
	// The original is fixed once named: attrs cannot change it, a second
	// open naming another sale is refused.
	if _, err := s.SetAttrs(ctx, "till", map[string]string{AttrOriginalBill: sale.Code}); !errors.Is(err, ErrOriginalFixed) {
		t.Fatalf("SetAttrs of the original: %v", err)
	}
	if _, _, err := s.OpenSession(ctx, SessionSpec{Session: "till", Type: 116, Attrs: map[string]string{AttrOriginalBill: sale.Code}}); !errors.Is(err, ErrSessionBusy) || !strings.Contains(err.Error(), "another original sale") {
		t.Fatalf("reopen naming another original: %v", err)
	}
	b, err := s.Finish(ctx, "till", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ChangeAttrs(ctx, b.Code, map[string]*string{AttrOriginalReceipt: nil}, nil); !errors.Is(err, ErrOriginalFixed) {
		t.Fatalf("ChangeAttrs of the original: %v", err)
	}

	// Submitted whole: the same rules, all or nothing.
	_, err = s.SubmitBill(ctx, SessionSpec{Session: "erp", Type: 116, Attrs: map[string]string{AttrOriginalBill: sale.Code}},
		[]ScanInput{scanIn("erp", msfx(1)), scanIn("erp", msfx(99))}, nil)
	var re *RefusedError
	if !errors.As(err, &re) || len(re.Refusals) != 1 || re.Refusals[0].Reason != ReasonNotOnOriginal || re.Refusals[0].Code != msfx(99) {
		t.Fatalf("submitted return: %v", err)
	}
}

func TestOriginalAttrsAreChecked(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(newClock()))
	for _, tc := range []struct {
		typ   int
		attrs map[string]string
	}{
		{321, map[string]string{AttrOriginalBill: "T01-261127-00001"}},
		{116, map[string]string{AttrOriginalReceipt: "R-1"}},
		{116, map[string]string{AttrOriginalReceipt: "R-1", AttrOriginalDate: "20261127"}},
		{116, map[string]string{AttrOriginalDate: "2026-11-27"}},
		{116, map[string]string{"original.bogus": "x"}},
	} {
		if _, _, err := s.OpenSession(context.Background(), SessionSpec{Session: "till", Type: tc.typ, Attrs: tc.attrs}); err == nil {
			t.Errorf("type %d with %v: opened", tc.typ, tc.attrs)
		}
	}
}

func TestSalesByReceipt(t *testing.T) {
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(c))
	a := sellOne(t, s, "till", map[string]string{"nhsa.rtal_docno": "R-1"}, msfx(1))
	sellOne(t, s, "till", map[string]string{"nhsa.rtal_docno": "R-2"}, msfx(2))
	c.Add(24 * 3600e9)
	sellOne(t, s, "till", map[string]string{"nhsa.rtal_docno": "R-1"}, msfx(3))
	got, err := s.SalesByReceipt("R-1", "2026-11-27")
	if err != nil || len(got) != 1 || got[0].Code != a.Code {
		t.Fatalf("SalesByReceipt: %v %v", got, err)
	}
	if got, _ := s.SalesByReceipt("R-1", "2026-11-26"); len(got) != 0 {
		t.Fatalf("another day: %v", got)
	}
}

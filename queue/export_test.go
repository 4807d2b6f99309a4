package queue

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestWalkBillRecords(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(c))
	b1 := finishedBill(t, s, "a", 0, 3, "msfx", "webhook")
	b2 := finishedBill(t, s, "a", 10, 1, "msfx")
	mustOpenSession(t, s, "open", 102) // an open bill, no codes, no deliveries
	ls, err := s.Lease(ctx, "msfx", 1, time.Minute)
	if err != nil || len(ls) != 1 {
		t.Fatalf("lease: %v %d", err, len(ls))
	}
	if err := s.Dead(ctx, ls[0].Bill.ID, "msfx", ls[0].Delivery.Lease, "isv.bill-invalid", ""); err != nil {
		t.Fatal(err)
	}

	var got []BillRecord
	var totals []int
	if err := s.WalkBillRecords(func(r BillRecord, total int) error {
		got = append(got, r)
		totals = append(totals, total)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || totals[0] != 3 || totals[2] != 3 {
		t.Fatalf("walked %d bills, totals %v", len(got), totals)
	}
	if got[0].Bill.Code != b1.Code || got[1].Bill.Code != b2.Code || got[2].Bill.State != BillOpen {
		t.Fatalf("order: %s %s %s", got[0].Bill.Code, got[1].Bill.Code, got[2].Bill.State)
	}
	r := got[0]
	if len(r.Items) != 3 || r.Items[0].Code != msfx(0) || r.Items[2].Code != msfx(2) {
		t.Fatalf("items %+v", r.Items)
	}
	states := map[string]DeliveryState{}
	for _, d := range r.Deliveries {
		states[d.Dest] = d.State
	}
	if len(states) != 2 || states["msfx"] != DeliveryDead || states["webhook"] != DeliveryPending {
		t.Fatalf("deliveries of the first bill: %v", states)
	}
	if len(got[2].Items) != 0 || len(got[2].Deliveries) != 0 {
		t.Fatalf("open bill: %+v", got[2])
	}
	// The walk's deliveries are the ones Deliveries reads.
	if ds, _ := s.Deliveries(b1.ID); len(ds) != 2 || ds[0].Dest != r.Deliveries[0].Dest {
		t.Fatalf("Deliveries %+v", ds)
	}

	// An error from fn stops the walk and comes back.
	stop := errors.New("enough")
	n := 0
	err = s.WalkBillRecords(func(BillRecord, int) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("stopped walk: %v after %d", err, n)
	}
}

func TestCompactWithProgress(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	c := newClock()
	s, err := Open(path, testOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	// Whole bills in one commit each: enough data, few fsyncs.
	for i := 0; i < 20; i++ {
		var codes []ScanInput
		for j := 0; j < 200; j++ {
			codes = append(codes, scanIn("", msfx(i*200+j)))
		}
		if _, err := s.SubmitBill(context.Background(), SessionSpec{Session: "erp", Type: 102}, codes, To("msfx")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	type call struct{ done, total int64 }
	var mu sync.Mutex
	var calls []call
	before, after, err := CompactWithProgress(path, testOptions(c), func(done, total int64) {
		mu.Lock()
		calls = append(calls, call{done, total})
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if after <= 0 || after > before {
		t.Fatalf("sizes %d → %d", before, after)
	}
	if len(calls) < 2 || calls[0].done != 0 || calls[0].total <= 0 || calls[0].total > before {
		t.Fatalf("progress calls %+v (file %d bytes)", calls, before)
	}
	last := calls[len(calls)-1]
	if last.done != last.total {
		t.Fatalf("the last report is not complete: %+v", last)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].done < calls[i-1].done || calls[i].total != calls[0].total {
			t.Fatalf("progress went backwards or changed its total: %+v", calls)
		}
	}
	s = openTest(t, path, testOptions(c))
	if st, _ := s.Stats(); st.Bills[BillFinished] != 20 {
		t.Fatalf("after compaction: %+v", st.Bills)
	}
}

package queue

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestOnCommit: the hook sees every durable commit once, with the requests
// it held, and only after they were answered.
func TestOnCommit(t *testing.T) {
	var mu sync.Mutex
	commits, records := 0, 0
	o := testOptions(&clock{t: time.Now()})
	o.OnCommit = func(d time.Duration, n int) {
		mu.Lock()
		defer mu.Unlock()
		if d <= 0 || n <= 0 {
			t.Errorf("OnCommit(%v, %d)", d, n)
		}
		commits++
		records += n
	}
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), o)
	ctx := context.Background()
	if _, _, err := s.OpenSession(ctx, SessionSpec{Session: "s", Type: 321}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Scan(ctx, scanIn("s", msfx(i))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if uint64(commits) != s.Commits() || records != 51 {
		t.Fatalf("hook saw %d commits holding %d requests; the queue committed %d holding 51", commits, records, s.Commits())
	}
}

// TestFindScans finds a code's journal records, newest first, whatever
// characters the stored JSON escapes.
func TestFindScans(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(&clock{t: time.Now()}))
	ctx := context.Background()
	gs1 := "]d201069012345678921728123110L<1&2>\x1d21S1"
	raw := "]d201069012345678921728123110L<1&2><GS>21S1" // as a scanner line shows GS
	for _, in := range []ScanInput{
		{Session: "s", Raw: raw, Reject: "no_session", RejectMsg: "no bill"},
		scanIn("s", msfx(1)),
		{Session: "s", Raw: raw, Code: gs1, Key: "0106901234567892" + "21S1", Kind: "gs1", Reject: "no_session", RejectMsg: "no bill"},
		{Session: "s", Raw: "6901234567892", Reject: "product_barcode", RejectMsg: "a barcode"},
	} {
		if _, err := s.Scan(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.FindScans([]string{raw}, 10, func(r ScanLog) bool { return r.Raw == raw })
	if err != nil || len(got) != 2 || got[0].Code != gs1 || got[1].Code != "" || got[0].Seq <= got[1].Seq {
		t.Fatalf("by raw: %+v %v", got, err)
	}
	got, err = s.FindScans([]string{gs1}, 10, func(r ScanLog) bool { return r.Code == gs1 })
	if err != nil || len(got) != 1 {
		t.Fatalf("by code with GS and <&>: %+v %v", got, err)
	}
	if got, err = s.FindScans([]string{raw}, 1, func(ScanLog) bool { return true }); err != nil || len(got) != 1 || got[0].Code != gs1 {
		t.Fatalf("limit 1: %+v %v", got, err)
	}
	// Records without any needle are never handed to match.
	if got, err = s.FindScans([]string{msfx(1)}, 10, func(r ScanLog) bool {
		if r.Raw != msfx(1) {
			t.Errorf("match called on %+v", r)
		}
		return true
	}); err != nil || len(got) != 1 {
		t.Fatalf("prefilter: %+v %v", got, err)
	}
}

// TestDestHistories: the latest delivery taken and the latest failure,
// per destination.
func TestDestHistories(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(c))
	ctx := context.Background()
	finish := func(code string) Bill {
		t.Helper()
		if _, _, err := s.OpenSession(ctx, SessionSpec{Session: "s", Type: 321}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Scan(ctx, scanIn("s", code)); err != nil {
			t.Fatal(err)
		}
		b, err := s.Finish(ctx, "s", func(Bill) []string { return []string{"msfx", "nhsa"} })
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	lease := func(dest string) Lease {
		t.Helper()
		ls, err := s.Lease(ctx, dest, 1, time.Minute)
		if err != nil || len(ls) != 1 {
			t.Fatalf("lease %s: %v %v", dest, ls, err)
		}
		return ls[0]
	}
	finish(msfx(1))
	finish(msfx(2))
	c.Add(time.Second)
	l := lease("msfx")
	if err := s.Ack(ctx, l.Bill.ID, "msfx", AckInfo{}); err != nil {
		t.Fatal(err)
	}
	doneAt := c.Now()
	c.Add(time.Second)
	l = lease("nhsa")
	if err := s.Nack(ctx, l.Bill.ID, "nhsa", l.Delivery.Lease, Retry{At: c.Now().Add(time.Hour), Error: "timeout"}); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Second)
	l = lease("nhsa")
	if err := s.Dead(ctx, l.Bill.ID, "nhsa", l.Delivery.Lease, "refused: bad person", ""); err != nil {
		t.Fatal(err)
	}
	h, err := s.DestHistories()
	if err != nil {
		t.Fatal(err)
	}
	if m := h["msfx"]; !m.LastDone.Equal(doneAt) || m.LastError != "" {
		t.Errorf("msfx %+v", m)
	}
	if n := h["nhsa"]; !n.LastDone.IsZero() || n.LastError != "refused: bad person" || !n.LastErrorAt.Equal(c.Now()) {
		t.Errorf("nhsa %+v", n)
	}
	if free, err := s.DiskFree(); err != nil || free <= 0 {
		t.Errorf("DiskFree %d %v", free, err)
	}
}

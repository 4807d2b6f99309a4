package queue

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fillUntilFull scans codes into bills of 100 until the queue refuses one.
// It returns the number of accepted codes and the refusal.
func fillUntilFull(t *testing.T, s *Store, limit int) (int, error) {
	t.Helper()
	ctx := context.Background()
	accepted := 0
	for i := 0; i < limit; i++ {
		if i%100 == 0 {
			if i > 0 {
				if _, err := s.Finish(ctx, "s", To("msfx")); err != nil {
					t.Fatalf("finish while filling: %v", err)
				}
			}
			if _, _, err := s.OpenSession(ctx, SessionSpec{Session: "s", Type: 102}); err != nil {
				t.Fatalf("open while filling: %v", err)
			}
		}
		r, err := s.Scan(ctx, scanIn("s", msfx(i)))
		if err != nil {
			return accepted, err
		}
		if r.Outcome != Accepted {
			t.Fatalf("scan %d: %s", i, r.Message)
		}
		accepted++
	}
	t.Fatalf("queue never filled after %d scans", limit)
	return 0, nil
}

// finishOrCancel closes the bill being filled and returns the number of
// finished bills.
func finishOrCancel(t *testing.T, s *Store, accepted int) int {
	t.Helper()
	ctx := context.Background()
	if accepted%100 == 0 {
		if _, err := s.Cancel(ctx, "s", "empty"); err != nil {
			t.Fatalf("cancel when full: %v", err)
		}
		return accepted / 100
	}
	if _, err := s.Finish(ctx, "s", To("msfx")); err != nil {
		t.Fatalf("finish when full: %v", err)
	}
	return accepted/100 + 1
}

// drain leases and acks every delivery of dest.
func drain(t *testing.T, s *Store, dest string) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	for {
		ls, err := s.Lease(ctx, dest, 50, time.Minute)
		if err != nil {
			t.Fatalf("lease while full: %v", err)
		}
		if len(ls) == 0 {
			return n
		}
		for _, l := range ls {
			if err := s.Ack(ctx, l.Bill.ID, dest, AckInfo{Ref: "ok"}); err != nil {
				t.Fatalf("ack while full: %v", err)
			}
			n++
		}
	}
}

func TestSizeCapRefusesScansButNotAcks(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	path := filepath.Join(t.TempDir(), "q.db")
	o := testOptions(c)
	o.MaxSize = 2 << 20
	o.Headroom = 256 << 10
	var alarms []Alarm
	o.OnAlarm = func(a Alarm) { alarms = append(alarms, a) }
	s := openTest(t, path, o)

	accepted, err := fillUntilFull(t, s, 100000)
	if !errors.Is(err, ErrQueueFull) || !strings.Contains(err.Error(), "size cap") {
		t.Fatalf("refusal: %v", err)
	}
	t.Logf("cap %s: %d codes accepted, then %v", human(o.MaxSize), accepted, err)
	if a := s.Alarms(); len(a) != 1 || a[0].Kind != "queue_full" {
		t.Fatalf("alarms %+v", a)
	}
	// Nothing stored was dropped, and the refused scan left no trace.
	st, _ := s.Stats()
	if st.Scans["accepted"] != uint64(accepted) {
		t.Fatalf("accepted count %d, want %d", st.Scans["accepted"], accepted)
	}
	// Finishing, leasing and acking still work in the headroom.
	bills := finishOrCancel(t, s, accepted)
	if n := drain(t, s, "msfx"); n != bills {
		t.Fatalf("acked %d deliveries, want %d", n, bills)
	}
	if fi, _ := os.Stat(path); fi.Size() > o.MaxSize {
		t.Fatalf("file %d bytes exceeds cap %d", fi.Size(), o.MaxSize)
	}
	// Still full: pruning delivered history frees space and scans resume.
	if _, err := s.Scan(ctx, scanIn("s", msfx(1<<30))); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("scan before prune: %v", err)
	}
	c.Add(48 * time.Hour)
	ps, err := s.Prune(ctx, c.Now().Add(-24*time.Hour), c.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if ps.Bills != bills || ps.Items != accepted {
		t.Fatalf("prune %+v, want %d bills %d items", ps, bills, accepted)
	}
	mustOpenSession(t, s, "s", 102)
	mustScan(t, s, scanIn("s", msfx(1<<30)), Accepted)
	if a := s.Alarms(); len(a) != 0 {
		t.Fatalf("alarm not cleared: %+v", a)
	}
}

func TestPruneKeepsUndelivered(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(c))
	done := finishedBill(t, s, "s", 0, 3, "msfx")
	pending := finishedBill(t, s, "s", 10, 3, "msfx", "nhsa")
	mustOpenSession(t, s, "open", 321)
	mustScan(t, s, scanIn("open", msfx(0)), Accepted)
	ls, _ := s.Lease(ctx, "msfx", 10, time.Minute)
	for _, l := range ls {
		if err := s.Ack(ctx, l.Bill.ID, "msfx", AckInfo{Ref: ""}); err != nil {
			t.Fatal(err)
		}
	}
	c.Add(100 * 24 * time.Hour)
	ps, err := s.Prune(ctx, c.Now(), c.Now().Add(-365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if ps.Bills != 1 || ps.Items != 3 || ps.Skipped != 1 || ps.Ledger != 0 {
		t.Fatalf("prune %+v", ps)
	}
	if _, err := s.Bill(done.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delivered bill kept: %v", err)
	}
	if _, err := s.Bill(pending.ID); err != nil {
		t.Fatalf("undelivered bill pruned: %v", err)
	}
	if b, ok, _ := s.OpenBill("open"); !ok || b.Items != 1 {
		t.Fatal("open bill pruned")
	}
	// The ledger still refuses a second sale after the bill is gone.
	if e, ok, _ := s.Ledger(msfx(0)); !ok || len(e.Events) != 2 {
		t.Fatalf("ledger %+v", e)
	}
	// Ledger retention applies separately.
	ps, err = s.Prune(ctx, c.Now(), c.Now().Add(time.Hour))
	if err != nil || ps.Ledger != 6 {
		t.Fatalf("ledger prune %+v %v", ps, err)
	}
}

// TestDiskFull runs the queue on a real 6 MiB tmpfs: when the disk runs
// low scans are refused, and when another program then fills the disk to
// the last byte the reserve file is released so acks still commit.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })

	ctx := context.Background()
	c := newClock()
	path := filepath.Join(dir, "q.db")
	o := testOptions(c)
	o.Headroom = 512 << 10
	s := openTest(t, path, o)
	if fi, err := os.Stat(path + ".reserve"); err != nil || fi.Size() != o.Headroom {
		t.Fatalf("reserve file: %v %v", fi, err)
	}
	// Some other program's data shares the disk.
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, make([]byte, 1536<<10), 0o600); err != nil {
		t.Fatal(err)
	}

	// Scans fill the disk. The free-space check runs once a (test) second.
	accepted := 0
	var refusal error
	for i := 0; refusal == nil && i < 200000; i++ {
		if i%100 == 0 {
			c.Add(time.Second)
			if i > 0 {
				if _, err := s.Finish(ctx, "s", To("msfx")); err != nil {
					t.Fatalf("finish: %v", err)
				}
			}
			mustOpenSession(t, s, "s", 102)
		}
		r, err := s.Scan(ctx, scanIn("s", msfx(i)))
		if err != nil {
			refusal = err
			break
		}
		if r.Outcome != Accepted {
			t.Fatal(r.Message)
		}
		accepted++
	}
	if !errors.Is(refusal, ErrQueueFull) || !strings.Contains(refusal.Error(), "disk") {
		t.Fatalf("refusal %v after %d scans", refusal, accepted)
	}
	t.Logf("6 MiB tmpfs: %d codes accepted, then %v", accepted, refusal)

	// Another program takes every byte that is left.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := filler.Write(buf); err != nil {
			break
		}
	}
	filler.Close()
	if free, _ := diskFree(dir); free > 8192 {
		t.Fatalf("disk not full: %d bytes free", free)
	}

	// Acks still commit; the stored scans are all there.
	bills := finishOrCancel(t, s, accepted)
	if n := drain(t, s, "msfx"); n != bills {
		t.Fatalf("acked %d, want %d", n, bills)
	}
	st, err := s.Stats()
	if err != nil || st.Scans["accepted"] != uint64(accepted) || st.Dests["msfx"].Pending != 0 {
		t.Fatalf("after drain: %+v %v", st, err)
	}
	if _, err := s.Scan(ctx, scanIn("s", msfx(1<<30))); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("scan on a full disk: %v", err)
	}
	// A write that must grow the file meets ENOSPC; the reserve is given
	// back and the write commits.
	blob := make([]byte, 256<<10)
	if _, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		return nil, w.put(w.tx.Bucket(bktMeta), []byte("blob"), blob)
	}); err != nil {
		t.Fatalf("large non-scan write on a full disk: %v", err)
	}
	if _, err := os.Stat(path + ".reserve"); !os.IsNotExist(err) {
		t.Fatalf("reserve not released: %v", err)
	}
	// With the reserve spent, the next write that must grow the file is
	// refused as queue full (the API's 507), not as a bare ENOSPC.
	if _, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		return nil, w.put(w.tx.Bucket(bktMeta), []byte("blob2"), make([]byte, 1<<20))
	}); !errors.Is(err, ErrQueueFull) || !IsDiskFull(err) {
		t.Fatalf("write on a full disk without reserve: %v, want queue full wrapping ENOSPC", err)
	}

	// Space comes back: scans resume and the reserve is rebuilt.
	for _, f := range []string{"filler", "other"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	c.Add(2 * time.Second)
	mustOpenSession(t, s, "s", 102)
	mustScan(t, s, scanIn("s", msfx(1<<30)), Accepted)
	if _, err := os.Stat(path + ".reserve"); err != nil {
		t.Fatalf("reserve not rebuilt: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// And the file is sound.
	s2 := openTest(t, path, testOptions(c))
	st2, _ := s2.Stats()
	if st2.Scans["accepted"] != uint64(accepted+1) {
		t.Fatalf("after reopen: %v", st2.Scans)
	}
}

package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The benchmarks print each figure beside a baseline measured in the same
// run on the same disk (run them with `make bench`):
//
//   - BenchmarkScanLatency: one durable scan ack (median, p99) beside one raw
//     bbolt commit of a single small record. Target: ratio ≤ 1.5.
//   - BenchmarkBurst: 100,000 scans arriving at once, durably acked, beside
//     one bbolt transaction writing the same records. Target: ≥ 50 %.

// realisticCode walks through cases of one product, as deliveries do.
func realisticCode(i int) string { return fmt.Sprintf("8%06d%09d%04d", 101235+i/5000, i, i%9973) }

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*p)]
}

func BenchmarkScanLatency(b *testing.B) {
	const n = 400
	dir := b.TempDir()

	// Baseline: one bbolt commit (fsync on) of one 300-byte record.
	raw, err := bolt.Open(filepath.Join(dir, "raw.db"), 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 300)
	var base []time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := raw.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return bk.Put(u64(uint64(i)), val)
		}); err != nil {
			b.Fatal(err)
		}
		base = append(base, time.Since(t0))
	}
	raw.Close()

	s, err := Open(filepath.Join(dir, "q.db"), Options{BillPrefix: "B", Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, _, err := s.OpenSession(ctx, SessionSpec{Session: "s", Type: 321}); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		r, err := s.Scan(ctx, scanIn("s", realisticCode(i)))
		if err != nil || r.Outcome != Accepted {
			b.Fatalf("scan: %v %+v", err, r)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	p50, p99 := percentile(lat, .5), percentile(lat, .99)
	b50, b99 := percentile(base, .5), percentile(base, .99)
	b.ReportMetric(float64(p50.Microseconds()), "scan-p50-µs")
	b.ReportMetric(float64(p99.Microseconds()), "scan-p99-µs")
	b.ReportMetric(float64(b50.Microseconds()), "bbolt-commit-p50-µs")
	b.ReportMetric(float64(b99.Microseconds()), "bbolt-commit-p99-µs")
	b.ReportMetric(float64(p50)/float64(b50), "ratio-p50")
	b.Logf("single-scan ack: median %v p99 %v; one raw bbolt commit: median %v p99 %v; ratio %.2f (target ≤ 1.5)",
		p50, p99, b50, b99, float64(p50)/float64(b50))
}

func BenchmarkBurst(b *testing.B) {
	const n, sessions, senders = 100000, 100, 4096
	dir := b.TempDir()
	ins := make([]ScanInput, n)
	for i := range ins {
		ins[i] = scanIn(fmt.Sprint("s", i%sessions), realisticCode(i))
	}
	ctx := context.Background()
	openSessions := func(s *Store) {
		for i := 0; i < sessions; i++ {
			if _, _, err := s.OpenSession(ctx, SessionSpec{Session: fmt.Sprint("s", i), Type: 102}); err != nil {
				b.Fatal(err)
			}
		}
	}

	// Baselines: the same records written by transactions of chunk
	// records each, from one goroutine with no waiting callers: chunk = n
	// is the single transaction; chunk = MaxBatch is what group commit
	// could reach at best.
	baseline := func(name string, chunk int) time.Duration {
		base, err := Open(filepath.Join(dir, name), Options{BillPrefix: "B", Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		defer base.Close()
		openSessions(base)
		t0 := time.Now()
		for lo := 0; lo < n; lo += chunk {
			part := ins[lo:min(lo+chunk, n)]
			if _, err := base.submit(ctx, false, func(w *wtx) (any, error) {
				for _, in := range part {
					if r, err := w.scan(in); err != nil || r.Outcome != Accepted {
						return nil, abort(fmt.Errorf("baseline scan: %v %s", err, r.Message))
					}
				}
				return nil, nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	baseTook := baseline("one-tx.db", n)
	chunkTook := baseline("chunks.db", 4096)

	s, err := Open(filepath.Join(dir, "q.db"), Options{BillPrefix: "B", Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	openSessions(s)
	work := make(chan ScanInput, n)
	for _, in := range ins {
		work <- in
	}
	close(work)
	commits := s.Commits()
	b.ResetTimer()
	t0 := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for in := range work {
				if r, err := s.Scan(ctx, in); err != nil || r.Outcome != Accepted {
					b.Errorf("scan: %v %+v", err, r)
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(t0)
	b.StopTimer()
	rate, baseRate, chunkRate := float64(n)/took.Seconds(), float64(n)/baseTook.Seconds(), float64(n)/chunkTook.Seconds()
	b.ReportMetric(rate, "scans/s")
	b.ReportMetric(baseRate, "one-tx-records/s")
	b.ReportMetric(chunkRate, "4096-tx-records/s")
	b.ReportMetric(rate/baseRate*100, "%-of-one-tx")
	b.Logf("burst of %d scans acked durably by %d senders: %.0f scans/s in %d commits", n, senders, rate, s.Commits()-commits)
	b.Logf("  one bbolt transaction with the same records: %.0f/s → %.0f%% of it (target ≥ 50%%)", baseRate, rate/baseRate*100)
	b.Logf("  the same records in transactions of 4096 from one goroutine: %.0f/s → %.0f%% of it", chunkRate, rate/chunkRate*100)
}

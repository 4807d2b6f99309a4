package msfx_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/msfx"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// BenchmarkBacklog drains a backlog of 10,000 retail bills (5 codes each)
// from a real queue through the worker and the client into the strict
// sandbox on loopback, rate limit off, and prints it beside the sandbox's
// own capacity measured in the same run: the same client calling
// uploadretail directly from 8 goroutines, with no queue, worker or
// status polling.
func BenchmarkBacklog(b *testing.B) {
	const bills, codesPer, senders = 10000, 5, 8
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	newClient := func(gw string) *msfx.Client {
		c, err := msfx.New(msfx.Config{Gateway: gw, AppKey: sandbox.DefaultStoreAppKey, AppSecret: sandbox.DefaultStoreSecret,
			RefEntID: sandbox.DefaultStoreRefEntID, EntID: sandbox.DefaultStoreEntID, Rate: -1,
			PollInterval: time.Second, Timeout: 10 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	ctx := context.Background()

	// Baseline: the sandbox's own capacity for the same uploads.
	base, err := sandbox.Start("127.0.0.1:0", sandbox.Options{Apps: sandbox.DefaultApps(), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer base.Close()
	bc := newClient(base.URL())
	work := make(chan int, bills)
	for i := 0; i < bills; i++ {
		work <- i
	}
	close(work)
	t0 := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				var codes []string
				for j := 0; j < codesPer; j++ {
					codes = append(codes, sandbox.MakeCode(sandbox.ProductAmoxicillin, 1_000_000+i*codesPer+j))
				}
				_, err := bc.Call(ctx, wire.MethodUploadRetail, map[string]string{
					wire.PBillCode: fmt.Sprintf("BASE-%06d", i), wire.PBillTime: time.Now().In(time.FixedZone("CST", 8*3600)).Format(wire.DateLayout),
					wire.PBillType: "321", wire.PRefUserID: sandbox.DefaultStoreRefEntID, wire.PTraceCodes: strings.Join(codes, ","),
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	baseTook := time.Since(t0)

	// The agent's path: queue → worker → client → sandbox, with polling.
	gw, err := sandbox.Start("127.0.0.1:0", sandbox.Options{Apps: sandbox.DefaultApps(), Logger: quiet, ProcessAfter: sandbox.ProcessAtOnce})
	if err != nil {
		b.Fatal(err)
	}
	defer gw.Close()
	s, err := queue.Open(filepath.Join(b.TempDir(), "q.db"), queue.Options{BillPrefix: "BENCH", Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fill(b, s, bills, codesPer)
	finished := make(chan struct{})
	var doneMu sync.Mutex
	delivered, dead := 0, 0
	w, err := upload.NewWorker(s, newClient(gw.URL()), upload.WorkerOptions{Lease: time.Minute, Concurrency: senders,
		Backoff: upload.Backoff{Initial: 50 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: 0.2}, Logger: quiet,
		OnResult: func(r upload.Result) {
			doneMu.Lock()
			defer doneMu.Unlock()
			switch r.Outcome.Class {
			case upload.Done:
				delivered++
			case upload.Permanent:
				dead++
			default:
				return
			}
			if delivered+dead == bills {
				close(finished)
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	t0 = time.Now()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- w.Run(runCtx) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Minute):
		b.Fatal("backlog not drained in 10 minutes")
	}
	took := time.Since(t0)
	cancel()
	<-done
	b.StopTimer()
	if dead != 0 {
		b.Fatalf("%d dead letters", dead)
	}
	calls := gw.Stats().Requests
	if n := len(gw.Bills(sandbox.DefaultStoreRefEntID)); n != bills {
		b.Fatalf("sandbox has %d bills, want %d", n, bills)
	}
	billRate, baseRate := float64(bills)/took.Seconds(), float64(bills)/baseTook.Seconds()
	b.ReportMetric(billRate, "bills/s")
	b.ReportMetric(billRate*codesPer, "codes/s")
	b.ReportMetric(float64(calls)/took.Seconds(), "calls/s")
	b.ReportMetric(baseRate, "sandbox-uploads/s")
	b.Logf("backlog of %d bills (%d codes each) delivered and confirmed 处理成功: %.0f bills/s, %.0f codes/s, %.0f gateway calls/s (%d calls: upload, status poll, part-failure list)",
		bills, codesPer, billRate, billRate*codesPer, float64(calls)/took.Seconds(), calls)
	b.Logf("  sandbox's own capacity, same client, %d goroutines, uploads only: %.0f uploads/s → the agent's path reaches %.0f%% of it in bills, %.0f%% in calls",
		senders, baseRate, billRate/baseRate*100, float64(calls)/took.Seconds()/baseRate*100)
}

// fill queues bills finished retail bills of codesPer codes, using many
// sessions at once so group commit keeps it quick.
func fill(b *testing.B, s *queue.Store, bills, codesPer int) {
	ctx := context.Background()
	const sessions = 64
	var wg sync.WaitGroup
	for g := 0; g < sessions; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			session := fmt.Sprint("s", g)
			for i := g; i < bills; i += sessions {
				if _, _, err := s.OpenSession(ctx, queue.SessionSpec{Session: session, Type: 321}); err != nil {
					b.Error(err)
					return
				}
				for j := 0; j < codesPer; j++ {
					code := sandbox.MakeCode(sandbox.ProductIbuprofen, 1_000_000+i*codesPer+j)
					if r, err := s.Scan(ctx, queue.ScanInput{Session: session, Code: code, Key: code, Kind: "msfx20"}); err != nil || r.Outcome != queue.Accepted {
						b.Errorf("scan: %v %+v", err, r)
						return
					}
				}
				if _, err := s.Finish(ctx, session, queue.To("msfx")); err != nil {
					b.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

package sandbox_test

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

// BenchmarkUpload measures how many signed uploads per second the sandbox
// itself sustains on loopback (10 codes a bill, keep-alive connections),
// with one client and with 8: the ceiling for the agent's own upload
// throughput against it.
func BenchmarkUpload(b *testing.B) {
	for _, clients := range []int{1, 8} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
			r, err := sandbox.Start("127.0.0.1:0", sandbox.Options{Now: fixedNow})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
			defer hc.CloseIdleConnections()
			var next atomic.Int64
			var failed atomic.Value
			upload := func() bool {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return false
				}
				codes := make([]string, 10)
				for j := range codes {
					codes[j] = box(1_000_000 + i*10 + j)
				}
				a, err := inOut(fmt.Sprintf("BM-%d", i), 102, codes...).send(hc, r.URL())
				if err == nil && (a.up == nil || a.up.MsgCode != msgOK) {
					err = fmt.Errorf("not accepted: %s", a)
				}
				if err != nil {
					failed.CompareAndSwap(nil, err)
					return false
				}
				return true
			}
			b.ResetTimer()
			begin := time.Now()
			var wg sync.WaitGroup
			for range clients {
				wg.Go(func() {
					for upload() {
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(begin)
			b.StopTimer()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			if n := len(r.Bills(storeRef)); n != b.N {
				b.Fatalf("ledger has %d bills, want %d", n, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "uploads/s")
		})
	}
}

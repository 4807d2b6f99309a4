package sandbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// BenchmarkCall measures accepted 3505 calls per second (two codes a row,
// x-tif headers, keep-alive connections on loopback) in plain and sm2sm4
// mode, with one client and with 8: the ceiling the sandbox puts on the
// agent's own upload rate. In sm2sm4 mode the client's signing and
// verifying are included, as they would be for the agent.
func BenchmarkCall(b *testing.B) {
	for _, env := range []string{sandbox.EnvelopePlain, sandbox.EnvelopeSM2SM4} {
		for _, clients := range []int{1, 8} {
			b.Run(env+"/clients="+strconv.Itoa(clients), func(b *testing.B) {
				r, err := sandbox.Start("127.0.0.1:0", testOptions(sandbox.SchemeTif, env))
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
				defer hc.CloseIdleConnections()
				c := newClient(nil, sandbox.SchemeTif, env).overHTTP(r.URL(), hc)
				var next atomic.Int64
				var failed atomic.Value
				call := func() bool {
					i := int(next.Add(1)) - 1
					if i >= b.N {
						return false
					}
					req := c.request(InfSale, sel(sale(fmt.Sprintf("BM-%d", i), code(2*i), code(2*i+1))))
					body, err := json.Marshal(req)
					if err == nil {
						var a *result
						if a, err = c.try(body); err == nil && !a.ok() {
							err = fmt.Errorf("not accepted: %s", a)
						}
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
						for call() {
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(begin)
				b.StopTimer()
				if err, _ := failed.Load().(error); err != nil {
					b.Fatal(err)
				}
				if n := len(r.Rows()); n != b.N {
					b.Fatalf("ledger has %d rows, want %d", n, b.N)
				}
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
			})
		}
	}
}

package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/fleet/hq"
	"github.com/pda-agent/pda-agent/fleet/hq/pgstore/pgtest"
	"github.com/pda-agent/pda-agent/fleet/hq/protocol"
	"github.com/pda-agent/pda-agent/fleet/hq/storetest"
)

// countingBackend records the report transactions and which reports have
// committed.
type countingBackend struct {
	hq.Backend
	mu        sync.Mutex
	txs       int
	committed map[string]bool
}

func (c *countingBackend) Commit(ctx context.Context, b hq.Batch) (hq.CommitResult, error) {
	res, err := c.Backend.Commit(ctx, b)
	if err == nil && len(b.Reports) > 0 {
		c.mu.Lock()
		c.txs++
		for _, r := range b.Reports {
			c.committed[r.Device] = true
		}
		c.mu.Unlock()
	}
	return res, err
}

// testBatching: 40 devices report 5 ms apart to a replica with a 5 s
// BatchWait cut at 40 reports (without it each report finds the writer
// idle and gets a transaction of its own: 39 of 40 when measured); they
// share a few transactions (one when the machine is idle; slack for -race
// on a busy one, where signing and checking 40 reports can outlast a wait), and each 204 comes after the commit holding its report.
func testBatching(t *testing.T, c *pgtest.Cluster) {
	dsn := migrated(t, c)
	devices := map[string]string{}
	for i := range 40 {
		devices[fmt.Sprintf("B%02d", i)] = fmt.Sprintf("S%02d", i)
	}
	f := storetest.NewFleet(t, func(t *testing.T, now func() time.Time) *hq.Store { return openPG(t, dsn, now) }, devices)
	res := f.Publish(t, hq.PublishOptions{})
	cb := &countingBackend{Backend: f.St.Backend(), committed: map[string]bool{}}
	srv, err := hq.NewServer(hq.New(cb, hq.Options{Logger: quiet()}), hq.ServeOptions{BatchWait: 5 * time.Second, BatchMax: 40, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var wg sync.WaitGroup
	for i, id := range sortedIDs(devices) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 5 * time.Millisecond)
			body, _ := json.Marshal(protocol.Report{State: protocol.StateApplied, Version: res.Version})
			req, _ := http.NewRequest(http.MethodPost, ts.URL+protocol.ReportPath(id), strings.NewReader(string(body)))
			if err := protocol.Sign(req, id, f.Keys[id], body, time.Now()); err != nil {
				t.Error(err)
				return
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			cb.mu.Lock()
			ok := cb.committed[id]
			cb.mu.Unlock()
			if resp.StatusCode != http.StatusNoContent || !ok {
				t.Errorf("device %s: %d, committed before the answer: %v", id, resp.StatusCode, ok)
			}
		}()
	}
	wg.Wait()
	cb.mu.Lock()
	txs := cb.txs
	cb.mu.Unlock()
	if txs > 10 {
		t.Errorf("40 reports took %d transactions", txs)
	}
	t.Logf("40 reports in %d transaction(s)", txs)
	if st := f.Status(t); st.Rollouts[0].State != hq.RolloutCompleted {
		t.Errorf("rollout after all reports: %+v", st.Rollouts[0])
	}
}

package sandbox_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// start serves a sandbox on loopback and returns a client for it.
func start(t testing.TB, o sandbox.Options) (*sandbox.Running, *tclient) {
	t.Helper()
	r, err := sandbox.Start("127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(hc.CloseIdleConnections)
	c := newClient(nil, o.Scheme, o.Envelope).overHTTP(r.URL(), hc)
	return r, c
}

func TestFaults(t *testing.T) {
	r, c := start(t, testOptions(sandbox.SchemeTif, sandbox.EnvelopeSM2SM4))
	r.InjectFaults(sandbox.FaultHTTP500, sandbox.FaultBusy)
	req := c.request(InfSale, sel(sale("F-1", code(1))))
	a := c.send(t, req)
	wantProto(t, a, http.StatusInternalServerError, 500, "注入故障")
	wantRefused(t, c.send(t, req), ErrTextBusy)
	if len(r.Rows()) != 0 {
		t.Fatal("a fault applied the row")
	}
	wantOK(t, c.send(t, req))
	st := r.Stats()
	if st.Faults[sandbox.FaultHTTP500] != 1 || st.Faults[sandbox.FaultBusy] != 1 || st.AcceptedRows != 1 || st.Requests != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestFaultApplyThenTimeout(t *testing.T) {
	r, c := start(t, testOptions(sandbox.SchemeTif, sandbox.EnvelopeSM2SM4))
	r.InjectFaults(sandbox.FaultApplyThenTimeout)
	req := c.request(InfSale, sel(sale("AT-1", code(1))))
	plain := mustJSON(t, req)
	quick := newClient(nil, sandbox.SchemeTif, sandbox.EnvelopeSM2SM4).overHTTP(r.URL(), &http.Client{Timeout: 300 * time.Millisecond})
	if _, err := quick.try(plain); err == nil {
		t.Fatal("the answer arrived")
	}
	if rows := r.Rows(); len(rows) != 1 || rows[0].Applied != 1 {
		t.Fatalf("row not applied: %+v", rows)
	}
	// The client does not know. The same msgid gets the stored answer …
	wantOK(t, c.send(t, req))
	// … and a new msgid for the same row is told it is already there.
	wantRefused(t, c.send(t, c.request(InfSale, sel(sale("AT-1", code(1))))), ErrTextDuplicateNo)
	if rows := r.Rows(); len(rows) != 1 || rows[0].Applied != 1 {
		t.Fatalf("ledger %+v", rows)
	}
	if st := r.Stats(); st.DuplicateMsgids != 1 || st.Rejected["duplicate_bchno"] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestFaultSlow(t *testing.T) {
	t.Parallel()
	o := testOptions(sandbox.SchemeNone, sandbox.EnvelopePlain)
	o.SlowDelay = 300 * time.Millisecond
	r, c := start(t, o)
	r.InjectFaults(sandbox.FaultSlow)
	begin := time.Now()
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("SL-1", code(1))))))
	if d := time.Since(begin); d < o.SlowDelay {
		t.Errorf("answered after %v, want ≥ %v", d, o.SlowDelay)
	}
}

func TestFaultSlowAbandoned(t *testing.T) {
	t.Parallel()
	o := testOptions(sandbox.SchemeNone, sandbox.EnvelopePlain)
	o.SlowDelay = 500 * time.Millisecond
	r, _ := start(t, o)
	r.InjectFaults(sandbox.FaultSlow)
	quick := newClient(nil, sandbox.SchemeNone, sandbox.EnvelopePlain).overHTTP(r.URL(), &http.Client{Timeout: 100 * time.Millisecond})
	if _, err := quick.try(mustJSON(t, quick.request(InfSale, sel(sale("SL-2", code(1)))))); err == nil {
		t.Fatal("the answer arrived before SlowDelay")
	}
	time.Sleep(o.SlowDelay + 300*time.Millisecond)
	if len(r.Rows()) != 0 {
		t.Error("an abandoned slow request was applied")
	}
}

func TestFaultString(t *testing.T) {
	for f := sandbox.FaultHTTP500; f <= sandbox.FaultBusyResult; f++ {
		if s := f.String(); s == "" || strings.HasPrefix(s, "fault(") {
			t.Errorf("Fault %d has no name", f)
		}
	}
	if s := sandbox.Fault(99).String(); s != "fault(99)" {
		t.Errorf("unknown fault = %q", s)
	}
}

func TestStartSetDown(t *testing.T) {
	r, c := start(t, testOptions(sandbox.SchemeAPI, sandbox.EnvelopeSM2SM4))
	if !strings.HasPrefix(r.URL(), "http://127.0.0.1:") || !strings.HasSuffix(r.URL(), sandbox.DefaultPath) ||
		!strings.Contains(r.URL(), r.Addr()) {
		t.Fatalf("URL = %s", r.URL())
	}
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("SD-1", code(1))))))
	if err := r.SetDown(true); err != nil {
		t.Fatal(err)
	}
	c.hc.CloseIdleConnections() // a pooled connection would fail with EOF instead
	_, err := c.try(mustJSON(t, c.request(InfSale, sel(sale("SD-2", code(2))))))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("while down: %v, want connection refused", err)
	}
	if err := r.SetDown(true); err != nil {
		t.Errorf("down twice: %v", err)
	}
	if err := r.SetDown(false); err != nil {
		t.Fatal(err)
	}
	// Any path is served.
	other := newClient(nil, sandbox.SchemeAPI, sandbox.EnvelopeSM2SM4).overHTTP("http://"+r.Addr()+"/mbs/fmi/fsi/api/callFsiService/callService", c.hc)
	other.seq.Store(1000) // msgids of its own
	wantOK(t, other.send(t, other.request(InfSale, sel(sale("SD-2", code(2))))))
	if len(r.Rows()) != 2 {
		t.Error("ledger lost across the outage")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := r.SetDown(false); err == nil {
		t.Error("SetDown after Close succeeded")
	}
}

func TestSetDownCutsHungRequest(t *testing.T) {
	r, c := start(t, testOptions(sandbox.SchemeNone, sandbox.EnvelopePlain))
	r.InjectFaults(sandbox.FaultApplyThenTimeout)
	done := make(chan error, 1)
	go func() {
		_, err := c.try(mustJSON(t, c.request(InfSale, sel(sale("HG-1", code(1))))))
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(r.Rows()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("hung request never applied")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := r.SetDown(true); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("hung request got an answer")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SetDown did not cut the hung request")
	}
}

// TestConcurrentSales: 30 clients send 600 distinct sales, many of them
// several times and at once, the repeats with the same msgid or a new
// one; each row must be applied exactly once. It runs with x-tif headers
// in plain mode and over the full stack (_api_ headers, SM2/SM4).
func TestConcurrentSales(t *testing.T) {
	for _, mode := range []struct{ scheme, envelope string }{
		{sandbox.SchemeTif, sandbox.EnvelopePlain},
		{sandbox.SchemeAPI, sandbox.EnvelopeSM2SM4},
	} {
		t.Run(mode.scheme+"+"+mode.envelope, func(t *testing.T) {
			sales := 600
			if testing.Short() && mode.envelope == sandbox.EnvelopeSM2SM4 {
				sales = 120 // SM2 under -race is slow
			}
			concurrentSales(t, mode.scheme, mode.envelope, sales, 30)
		})
	}
}

func concurrentSales(t *testing.T, scheme, envelope string, sales, clients int) {
	r, c := start(t, testOptions(scheme, envelope))
	reqs := make([]Request, sales)
	var sends []int
	for i := range sales {
		reqs[i] = c.request(InfSale, sel(sale(fmt.Sprintf("CC-%04d", i), code(10000+2*i), code(10001+2*i))))
		for range 1 + i%3 {
			sends = append(sends, i)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(sends), func(i, j int) { sends[i], sends[j] = sends[j], sends[i] })
	work := make(chan int)
	var mu sync.Mutex
	var failures []error
	fail := func(err error) {
		mu.Lock()
		failures = append(failures, err)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range clients {
		// Workers never stop early, so the feeding loop below cannot block.
		wg.Go(func() {
			for i := range work {
				req := reqs[i]
				if (w+i)%2 == 1 {
					req.Msgid = c.msgid() // a retry under a new msgid
				}
				body, err := json.Marshal(req)
				if err != nil {
					fail(err)
					continue
				}
				a, err := c.try(body)
				switch {
				case err != nil:
					fail(err)
				case a.envErr != nil || a.resp == nil:
					fail(fmt.Errorf("sale %d: %s (%v)", i, a, a.envErr))
				case a.resp.Infcode == InfcodeOK, strings.Contains(a.resp.ErrMsg, ErrTextDuplicateNo):
				default:
					fail(fmt.Errorf("sale %d: %s", i, a))
				}
			}
		})
	}
	for _, i := range sends {
		work <- i
	}
	close(work)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d failures, first: %v", len(failures), failures[0])
	}
	rows := r.Rows()
	if len(rows) != sales {
		t.Fatalf("ledger has %d rows, want %d", len(rows), sales)
	}
	seen := map[string]bool{}
	for _, row := range rows {
		if seen[row.Bchno] || row.Applied != 1 || len(row.Codes) != 2 || row.Deleted {
			t.Errorf("row %+v", row)
		}
		seen[row.Bchno] = true
	}
	st := r.Stats()
	repeats := len(sends) - sales
	if st.AcceptedRows != sales || st.DuplicateMsgids+st.Rejected["duplicate_bchno"] != repeats ||
		st.Requests != len(sends) || st.SignatureFailures != 0 {
		t.Errorf("stats %+v, repeats %d", st, repeats)
	}
}

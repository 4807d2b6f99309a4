package hq

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/fleet/hq/protocol"
	"github.com/pda-agent/pda-agent/gm"
)

// Bench shape: 10,000 enrolled devices in 500 stores polled by 64
// keep-alive HTTP clients on loopback; clients and servers share the
// machine's cores.
const (
	benchDevices = 10000
	benchStores  = 500
	benchClients = 64
	benchKeys    = 16
)

// BenchmarkFleetPoll: every device polls with If-None-Match naming its
// current bundle (all answers 304), against pda-hq's Serve on bbolt and,
// in the same run, against a plain net/http.FileServer serving the
// exported bundle files with an ETag wrapper. The hq clients behave as
// agents do: each first makes one SM2-signed poll (which HQ verifies and
// answers with a poll token), then polls with the token; the measured
// polls are the token polls. The table at the end puts the variants side
// by side.
//
//	go test -run '^$' -bench FleetPoll -benchtime 20000x ./fleet/hq/
func BenchmarkFleetPoll(b *testing.B) {
	fb := setupFleetBench(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	hqLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- fb.st.Serve(ctx, hqLn, ServeOptions{MaxInFlight: 4096, Logger: quietLogger()}) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			b.Error(err)
		}
	}()
	fileURL, stopFiles := fb.startFileServer(b)
	defer stopFiles()

	var rows []benchRow
	// Hook: another variant is a base URL (or several replicas' URLs)
	// serving the device protocol for the same devices: enroll fb.ds in
	// its store, publish any tree, serve, and add
	// fb.pollHQ(b, "pda-hq serve, PostgreSQL, 2 replicas", urlA, urlB).
	rows = append(rows, fb.pollHQ(b, "pda-hq serve, bbolt", "http://"+hqLn.Addr().String()))
	rows = append(rows, fb.pollFiles(b, "net/http.FileServer", fileURL))
	printRows(rows)
}

// fleetBench holds the enrolled devices, their signed headers and the
// exported bundles.
type fleetBench struct {
	st          *Store
	ds          []Device
	signed      []http.Header // one SM2-signed GET per device (valid ±5 min)
	etags       []string
	www         string
	staticETags map[string]string
	signedAt    time.Time
}

func setupFleetBench(b *testing.B) *fleetBench {
	b.Helper()
	setup := time.Now()
	st, err := Open(filepath.Join(b.TempDir(), "hq.db"), Options{Create: true, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	priv := make([]*sm2.PrivateKey, benchKeys)
	for i := range priv {
		priv[i] = genKey(b)
	}
	fb := &fleetBench{st: st, ds: make([]Device, benchDevices), signed: make([]http.Header, benchDevices),
		etags: make([]string, benchDevices), staticETags: map[string]string{}}
	for i := range fb.ds {
		k := priv[i%benchKeys]
		fb.ds[i] = Device{ID: fmt.Sprintf("D%05d", i), Store: fmt.Sprintf("S%04d", i%benchStores), PublicKey: gm.PublicKeyBase64(&k.PublicKey)}
	}
	if _, err := st.Enroll(fb.ds...); err != nil {
		b.Fatal(err)
	}
	tree := writeTree(b, map[string]string{
		"chain.yaml":             chainYAML + "msfx: {app_secret: bench-app-secret}\n",
		"catalogue/products.csv": strings.Repeat("6901234567890,阿莫西林胶囊 0.25g*24粒,盒\n", 50),
	})
	t0 := time.Now()
	if _, err := st.Publish(context.Background(), tree, PublishOptions{Key: genKey(b)}); err != nil {
		b.Fatal(err)
	}
	publish := time.Since(t0)
	fb.www = b.TempDir()
	if _, err := st.Export(fb.www); err != nil {
		b.Fatal(err)
	}
	status, err := st.Status(StatusOptions{Rollouts: 1})
	if err != nil {
		b.Fatal(err)
	}
	byID := map[string]string{}
	for _, d := range status.Devices {
		byID[d.ID] = `"` + d.Served.Hash + `"`
	}
	fb.signedAt = time.Now()
	if err := parallel(context.Background(), benchDevices, 4, func(i int) error {
		id := fb.ds[i].ID
		fb.etags[i] = byID[id]
		req, _ := http.NewRequest(http.MethodGet, "http://x"+protocol.BundlePath(id), nil)
		if err := protocol.Sign(req, id, priv[i%benchKeys], nil, fb.signedAt); err != nil {
			return err
		}
		req.Header.Set("If-None-Match", fb.etags[i])
		fb.signed[i] = req.Header
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	for i, d := range fb.ds {
		fb.staticETags["/devices/"+d.ID+".bundle"] = fb.etags[i]
	}
	b.Logf("setup %s (publish of %d devices %s); bundle %d bytes", time.Since(setup).Round(time.Millisecond), benchDevices, publish.Round(time.Millisecond), status.Devices[0].Served.Size)
	return fb
}

// startFileServer serves the exported bundles the way a web server does:
// its own ETag, If-None-Match answered by http.ServeContent.
func (fb *fleetBench) startFileServer(b *testing.B) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	files := http.FileServer(http.Dir(fb.www))
	fs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e, ok := fb.staticETags[r.URL.Path]; ok {
			w.Header().Set("ETag", e)
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})}
	go func() { _ = fs.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { fs.Close() }
}

// pollHQ is the hook for any server of the device protocol that has the
// bench's devices enrolled (fb.ds, same keys) and a bundle released to
// each: a pda-hq on another store, or several replicas (bases: request i
// goes to bases[i%len(bases)], so each device's polls alternate between
// them when there are two). Not measured: one signed GET per device,
// which learns its ETag and poll token as an agent does. Measured: b.N
// token polls naming that ETag, each of which must be answered 304.
func (fb *fleetBench) pollHQ(b *testing.B, name string, bases ...string) benchRow {
	b.Helper()
	url := func(i int) string { return bases[i%len(bases)] + protocol.BundlePath(fb.ds[i%len(fb.ds)].ID) }
	first := make([]http.Header, len(fb.ds))
	for i, h := range fb.signed {
		first[i] = h.Clone()
		first[i].Del("If-None-Match")
	}
	headers := make([]http.Header, len(fb.ds))
	var mu sync.Mutex
	res := pollLoop(benchClients, len(fb.ds), len(fb.ds), http.StatusOK, func(i int) (string, http.Header) {
		return url(i), first[i]
	}, func(i int, resp *http.Response) {
		h := fb.signed[i].Clone()
		h.Set("If-None-Match", resp.Header.Get("ETag"))
		h.Set(protocol.HeaderPollToken, resp.Header.Get(protocol.HeaderPollToken))
		mu.Lock()
		headers[i] = h
		mu.Unlock()
	})
	if res.bad > 0 {
		b.Fatalf("%s: %d of %d signed polls were not 200 (first: %s)", name, res.bad, len(fb.ds), res.firstBad)
	}
	for i, h := range headers {
		if h.Get(protocol.HeaderPollToken) == "" || h.Get("If-None-Match") == "" {
			b.Fatalf("%s: device %s got no poll token or ETag", name, fb.ds[i].ID)
		}
	}
	var row benchRow
	b.Run(benchName(name), func(b *testing.B) {
		res := pollLoop(benchClients, len(fb.ds), b.N, http.StatusNotModified, func(i int) (string, http.Header) {
			return url(i), headers[i%len(fb.ds)]
		}, nil)
		row = res.report(b, name)
	})
	if time.Since(fb.signedAt) > protocol.MaxSkew {
		b.Log("warning: the run outlived the signed headers' window")
	}
	return row
}

func (fb *fleetBench) pollFiles(b *testing.B, name, base string) benchRow {
	headers := make([]http.Header, len(fb.ds))
	for i := range fb.ds {
		headers[i] = http.Header{"If-None-Match": {fb.etags[i]}}
	}
	var row benchRow
	b.Run(benchName(name), func(b *testing.B) {
		res := pollLoop(benchClients, len(fb.ds), b.N, http.StatusNotModified, func(i int) (string, http.Header) {
			i %= len(fb.ds)
			return base + "/devices/" + fb.ds[i].ID + ".bundle", headers[i]
		}, nil)
		row = res.report(b, name)
	})
	return row
}

func benchName(s string) string {
	return strings.NewReplacer(" ", "_", ",", "", "/", "_").Replace(s)
}

type benchRow struct {
	name          string
	n             int
	rps, p50, p99 float64
}

type loopResult struct {
	n        int
	bad      int64
	firstBad string
	elapsed  time.Duration
	lat      []time.Duration
}

// pollLoop sends n GETs from clients goroutines over keep-alive
// connections, target(i) for the i-th (i < n); each answer must have
// status want. seen, if not nil, gets every such answer with i%devices.
func pollLoop(clients, devices, n, want int, target func(i int) (string, http.Header), seen func(i int, resp *http.Response)) loopResult {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var next, bad atomic.Int64
	var firstBad atomic.Value
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				url, h := target(i)
				req, err := http.NewRequest(http.MethodGet, url, nil)
				if err != nil {
					bad.Add(1)
					continue
				}
				req.Header = h.Clone()
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, err.Error())
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[c] = append(lat[c], time.Since(t0))
				if resp.StatusCode != want {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, resp.Status)
				} else if seen != nil {
					seen(i%devices, resp)
				}
			}
		}()
	}
	wg.Wait()
	res := loopResult{n: n, bad: bad.Load(), elapsed: time.Since(start)}
	if v, ok := firstBad.Load().(string); ok {
		res.firstBad = v
	}
	for _, l := range lat {
		res.lat = append(res.lat, l...)
	}
	sort.Slice(res.lat, func(i, j int) bool { return res.lat[i] < res.lat[j] })
	return res
}

func (r loopResult) report(b *testing.B, name string) benchRow {
	b.StopTimer()
	if r.bad > 0 {
		b.Errorf("%d of %d polls were not 304 (first: %s)", r.bad, r.n, r.firstBad)
	}
	row := benchRow{name: name, n: r.n, rps: float64(r.n) / r.elapsed.Seconds()}
	if len(r.lat) > 0 {
		pct := func(p float64) float64 {
			return float64(r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))].Microseconds()) / 1000
		}
		row.p50, row.p99 = pct(0.50), pct(0.99)
	}
	b.ReportMetric(row.rps, "req/s")
	b.ReportMetric(row.p50, "p50-ms")
	b.ReportMetric(row.p99, "p99-ms")
	b.ReportMetric(0, "ns/op") // wall time per op across 64 clients is not meaningful
	return row
}

// printRows prints the variants side by side, the last being the
// baseline, with each one's share of the baseline's req/s.
func printRows(rows []benchRow) {
	if len(rows) == 0 {
		return
	}
	base := rows[len(rows)-1]
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%d devices, %d keep-alive clients, all answers 304, %d polls each:\n", benchDevices, benchClients, base.n)
	fmt.Fprintf(&sb, "  %-28s %10s %9s %9s %9s\n", "server", "req/s", "p50 ms", "p99 ms", "of base")
	for _, r := range rows {
		share := 0.0
		if base.rps > 0 {
			share = 100 * r.rps / base.rps
		}
		fmt.Fprintf(&sb, "  %-28s %10.0f %9.2f %9.2f %8.1f%%\n", r.name, r.rps, r.p50, r.p99, share)
	}
	// Printed, not logged: go test shows a passing benchmark's log only
	// with -v.
	fmt.Print(sb.String())
}

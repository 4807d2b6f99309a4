package hq_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/fleet/hq"
	"github.com/pda-agent/pda-agent/fleet/hq/pgstore"
	"github.com/pda-agent/pda-agent/fleet/hq/pgstore/pgtest"
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
// current bundle (all answers 304), in one run: against pda-hq's Serve on
// bbolt, against two pda-hq replicas on one PostgreSQL database (a
// throw-away cluster holding the same chain, loaded from the bbolt file;
// both replicas share the poll key, and each device's polls alternate
// between them), and against a plain net/http.FileServer serving the
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

	var rows []benchRow
	boltURL := fb.serve(b, ctx, fb.st, nil)
	rows = append(rows, fb.pollHQ(b, "pda-hq serve, bbolt", boltURL))

	if pgtest.Available() {
		pollKey := []byte("bench poll key, shared by both replicas")
		dsn := fb.loadPostgres(b)
		var urls []string
		for range 2 {
			// Each replica its own pool, as separate processes would have.
			pb, err := pgstore.Open(context.Background(), dsn, quietLogger())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { pb.Close() }) // after the replica stopped (cleanups run last first)
			urls = append(urls, fb.serve(b, ctx, hq.New(pb, hq.Options{Logger: quietLogger()}), pollKey))
		}
		rows = append(rows, fb.pollHQ(b, "pda-hq serve, PostgreSQL, 2 replicas", urls...))
	} else {
		fmt.Println("PostgreSQL is not installed (scripts/install-postgres.sh): its variant is left out")
	}

	fileURL, stopFiles := fb.startFileServer(b)
	defer stopFiles()
	rows = append(rows, fb.pollFiles(b, "net/http.FileServer", fileURL))
	printRows(rows)
}

// serve runs st's Serve on a loopback port until ctx ends.
func (fb *fleetBench) serve(b *testing.B, ctx context.Context, st *hq.Store, pollKey []byte) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		served <- st.Serve(ctx, ln, hq.ServeOptions{MaxInFlight: 4096, Logger: quietLogger(), PollKey: pollKey})
	}()
	b.Cleanup(func() {
		if err := <-served; err != nil {
			b.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

// loadPostgres starts a throw-away cluster and loads the bench's chain
// (devices, bundles, catalogue object, rollout) into a migrated database,
// as `pda-hq export --chain` and `import` would.
func (fb *fleetBench) loadPostgres(b *testing.B) string {
	b.Helper()
	t0 := time.Now()
	dsn := pgtest.Start(b).NewDB(b)
	pool, err := pgstore.Connect(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	_, err = pgstore.Migrate(context.Background(), pool)
	pool.Close()
	if err != nil {
		b.Fatal(err)
	}
	pb, err := pgstore.Open(context.Background(), dsn, quietLogger())
	if err != nil {
		b.Fatal(err)
	}
	defer pb.Close()
	chain, err := fb.st.Dump(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if err := hq.New(pb, hq.Options{Logger: quietLogger()}).Load(context.Background(), chain); err != nil {
		b.Fatal(err)
	}
	b.Logf("PostgreSQL cluster started and the chain loaded in %s", time.Since(t0).Round(time.Millisecond))
	return dsn
}

// fleetBench holds the enrolled devices, their signed headers and the
// exported bundles.
type fleetBench struct {
	st          *hq.Store
	ds          []hq.Device
	signed      []http.Header // one SM2-signed GET per device (valid ±5 min)
	etags       []string
	www         string
	staticETags map[string]string
	signedAt    time.Time
}

func setupFleetBench(b *testing.B) *fleetBench {
	b.Helper()
	setup := time.Now()
	st, err := hq.Open(filepath.Join(b.TempDir(), "hq.db"), hq.Options{Create: true, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	priv := make([]*sm2.PrivateKey, benchKeys)
	for i := range priv {
		priv[i] = genKey(b)
	}
	fb := &fleetBench{st: st, ds: make([]hq.Device, benchDevices), signed: make([]http.Header, benchDevices),
		etags: make([]string, benchDevices), staticETags: map[string]string{}}
	for i := range fb.ds {
		k := priv[i%benchKeys]
		fb.ds[i] = hq.Device{ID: fmt.Sprintf("D%05d", i), Store: fmt.Sprintf("S%04d", i%benchStores), PublicKey: gm.PublicKeyBase64(&k.PublicKey)}
	}
	if _, err := st.Enroll(fb.ds...); err != nil {
		b.Fatal(err)
	}
	tree := writeTree(b, map[string]string{
		"chain.yaml":             "log: {level: info}\nqueue: {max_batch: 100}\nmsfx: {app_secret: bench-app-secret}\n",
		"catalogue/products.csv": strings.Repeat("6901234567890,阿莫西林胶囊 0.25g*24粒,盒\n", 50),
	})
	t0 := time.Now()
	if _, err := st.Publish(context.Background(), tree, hq.PublishOptions{Key: genKey(b)}); err != nil {
		b.Fatal(err)
	}
	publish := time.Since(t0)
	fb.www = b.TempDir()
	if _, err := st.Export(fb.www); err != nil {
		b.Fatal(err)
	}
	status, err := st.Status(hq.StatusOptions{Rollouts: 1})
	if err != nil {
		b.Fatal(err)
	}
	byID := map[string]string{}
	for _, d := range status.Devices {
		byID[d.ID] = `"` + d.Served.Hash + `"`
	}
	fb.signedAt = time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < benchDevices && errs[w] == nil; i += 4 {
				id := fb.ds[i].ID
				fb.etags[i] = byID[id]
				req, _ := http.NewRequest(http.MethodGet, "http://x"+protocol.BundlePath(id), nil)
				errs[w] = protocol.Sign(req, id, priv[i%benchKeys], nil, fb.signedAt)
				req.Header.Set("If-None-Match", fb.etags[i])
				fb.signed[i] = req.Header
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
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
// each: a pda-hq on another store, or several replicas (bases: the r-th
// poll of a device goes to bases[(device+r)%len(bases)], so each
// device's polls alternate between two replicas, and the token it polls
// with was handed out by the other one half of the time). Not measured: one signed GET per device,
// which learns its ETag and poll token as an agent does. Measured: b.N
// token polls naming that ETag, each of which must be answered 304.
func (fb *fleetBench) pollHQ(b *testing.B, name string, bases ...string) benchRow {
	b.Helper()
	n := len(fb.ds)
	url := func(i int) string { return bases[(i%n+i/n)%len(bases)] + protocol.BundlePath(fb.ds[i%n].ID) }
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
	fmt.Fprintf(&sb, "  %-38s %10s %9s %9s %9s\n", "server", "req/s", "p50 ms", "p99 ms", "of base")
	for _, r := range rows {
		share := 0.0
		if base.rps > 0 {
			share = 100 * r.rps / base.rps
		}
		fmt.Fprintf(&sb, "  %-38s %10.0f %9.2f %9.2f %8.1f%%\n", r.name, r.rps, r.p50, r.p99, share)
	}
	// Printed, not logged: go test shows a passing benchmark's log only
	// with -v.
	fmt.Print(sb.String())
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func genKey(b testing.TB) *sm2.PrivateKey {
	b.Helper()
	k, err := gm.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func writeTree(b testing.TB, files map[string]string) string {
	b.Helper()
	dir := b.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

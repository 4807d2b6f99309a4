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

// BenchmarkFleetPoll: 10,000 enrolled devices poll with If-None-Match (all
// answers are 304) from 64 concurrent HTTP clients on loopback, against
// pda-hq's Serve and, in the same run, against a plain net/http.FileServer
// serving the exported bundle files with an ETag wrapper. Each device's
// signed headers are computed once (valid ±5 min), so the clients spend no
// CPU on SM2; the server verifies every request. Clients and servers share
// the machine's cores.
//
//	go test -run '^$' -bench FleetPoll -benchtime 20000x ./fleet/hq/
func BenchmarkFleetPoll(b *testing.B) {
	const (
		devices = 10000
		stores  = 500
		clients = 64
		keys    = 16
	)
	setup := time.Now()
	st, err := Open(filepath.Join(b.TempDir(), "hq.db"), Options{Create: true, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	priv := make([]*sm2.PrivateKey, keys)
	for i := range priv {
		priv[i] = genKey(b)
	}
	ds := make([]Device, devices)
	for i := range ds {
		k := priv[i%keys]
		ds[i] = Device{ID: fmt.Sprintf("D%05d", i), Store: fmt.Sprintf("S%04d", i%stores), PublicKey: gm.PublicKeyBase64(&k.PublicKey)}
	}
	if _, err := st.Enroll(ds...); err != nil {
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
	www := b.TempDir()
	if _, err := st.Export(www); err != nil {
		b.Fatal(err)
	}
	status, err := st.Status(StatusOptions{Rollouts: 1})
	if err != nil {
		b.Fatal(err)
	}
	etags := make(map[string]string, devices)
	for _, d := range status.Devices {
		etags[d.ID] = `"` + d.Served.Hash + `"`
	}

	// Precomputed signed headers, one per device.
	now := time.Now()
	hqHeaders := make([]http.Header, devices)
	if err := parallel(context.Background(), devices, 4, func(i int) error {
		id := ds[i].ID
		req, _ := http.NewRequest(http.MethodGet, "http://x"+protocol.BundlePath(id), nil)
		if err := protocol.Sign(req, id, priv[i%keys], nil, now); err != nil {
			return err
		}
		req.Header.Set("If-None-Match", etags[id])
		hqHeaders[i] = req.Header
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	staticHeaders := make([]http.Header, devices)
	staticETags := map[string]string{}
	for i, d := range ds {
		staticHeaders[i] = http.Header{"If-None-Match": {etags[d.ID]}}
		staticETags["/devices/"+d.ID+".bundle"] = etags[d.ID]
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hqLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- st.Serve(ctx, hqLn, ServeOptions{MaxInFlight: 4096, Logger: quietLogger()}) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			b.Error(err)
		}
	}()

	fileLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	files := http.FileServer(http.Dir(www))
	fs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// http.ServeContent answers If-None-Match against an ETag set
		// beforehand; the wrapper plays the web server's own ETag.
		if e, ok := staticETags[r.URL.Path]; ok {
			w.Header().Set("ETag", e)
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})}
	go func() { _ = fs.Serve(fileLn) }()
	defer fs.Close()

	b.Logf("setup %s (publish of %d devices %s); bundle %d bytes", time.Since(setup).Round(time.Millisecond), devices, publish.Round(time.Millisecond), status.Devices[0].Served.Size)

	hqURL, fileURL := "http://"+hqLn.Addr().String(), "http://"+fileLn.Addr().String()
	b.Run("hq", func(b *testing.B) {
		poll(b, clients, devices, func(i int) (string, http.Header) {
			return hqURL + protocol.BundlePath(ds[i].ID), hqHeaders[i]
		})
	})
	b.Run("fileserver", func(b *testing.B) {
		poll(b, clients, devices, func(i int) (string, http.Header) {
			return fileURL + "/devices/" + ds[i].ID + ".bundle", staticHeaders[i]
		})
	})
	if time.Since(now) > protocol.MaxSkew {
		b.Log("warning: the run outlived the signed headers' window; later hq polls were refused")
	}
}

// poll sends b.N conditional GETs from clients goroutines, device i%devices
// for the i-th, and reports requests/s and latency percentiles.
func poll(b *testing.B, clients, devices int, target func(i int) (string, http.Header)) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var next atomic.Int64
	var bad atomic.Int64
	var firstBad atomic.Value
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				url, h := target(i % devices)
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
				if resp.StatusCode != http.StatusNotModified {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, resp.Status)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := bad.Load(); n > 0 {
		b.Errorf("%d of %d polls were not 304 (first: %v)", n, b.N, firstBad.Load())
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op") // wall time per op across 64 clients is not meaningful
}

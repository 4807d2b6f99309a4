package client

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/fleet/hq"
	"github.com/pda-agent/pda-agent/gm"
)

// These tests run the client against the real pda-hq (bbolt file, Serve
// on loopback) or against its export behind a plain file server.

const e2eChain = "log: {level: info}\nqueue: {max_batch: 100}\n"

// wire records what the client sends and can cut the catalogue off.
type wire struct {
	mu            sync.Mutex
	reqs          []wireReq
	failCatalogue bool
}

type wireReq struct {
	path   string
	token  bool
	status int
}

func (w *wire) RoundTrip(r *http.Request) (*http.Response, error) {
	w.mu.Lock()
	fail := w.failCatalogue && strings.Contains(r.URL.Path, "catalogues/")
	w.mu.Unlock()
	if fail {
		return nil, errors.New("catalogue host unreachable (test)")
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.reqs = append(w.reqs, wireReq{r.URL.Path, r.Header.Get(pollTokenHeader) != "", resp.StatusCode})
	w.mu.Unlock()
	return resp, nil
}

func (w *wire) count(sub string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, r := range w.reqs {
		if strings.Contains(r.path, sub) {
			n++
		}
	}
	return n
}

func (w *wire) last() wireReq {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reqs[len(w.reqs)-1]
}

func (w *wire) cut(on bool) {
	w.mu.Lock()
	w.failCatalogue = on
	w.mu.Unlock()
}

// catApplier records the catalogue each applied bundle brought.
type catApplier struct {
	mu       sync.Mutex
	products []string
}

func (a *catApplier) apply(_ context.Context, b *bundle.Opened, _ map[string]string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.products = append(a.products, b.Body.Products)
	return nil
}

func (a *catApplier) lastProducts() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.products) == 0 {
		return ""
	}
	return a.products[len(a.products)-1]
}

type e2eHQ struct {
	st *hq.Store
	ks keySet
}

func newE2EHQ(t *testing.T, ks keySet) *e2eHQ {
	t.Helper()
	st, err := hq.Open(filepath.Join(t.TempDir(), "hq.db"), hq.Options{Create: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Enroll(hq.Device{ID: device, Store: "S1", PublicKey: gm.PublicKeyBase64(&ks.dev.PublicKey)}); err != nil {
		t.Fatal(err)
	}
	return &e2eHQ{st: st, ks: ks}
}

func (h *e2eHQ) publish(t *testing.T, chain, products string, o hq.PublishOptions) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "catalogue"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"chain.yaml": chain, "catalogue/products.csv": products} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o.Key = h.ks.hq
	if _, err := h.st.Publish(context.Background(), dir, o); err != nil {
		t.Fatal(err)
	}
}

func (h *e2eHQ) serve(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- h.st.Serve(ctx, ln, hq.ServeOptions{Tick: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

// pollUntil polls until the status is want: Serve picks up a publish on
// its next tick.
func pollUntil(t *testing.T, c *Client, want string) Result {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := c.PollOnce(context.Background())
		if err == nil && res.Status == want {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s: last %+v %v", want, res, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAgainstHQ(t *testing.T) {
	ks := newKeys(t)
	h := newE2EHQ(t, ks)
	h.publish(t, e2eChain, "code,name\n1,A\n", hq.PublishOptions{})
	base := h.serve(t)
	w := &wire{}
	dir := filepath.Join(t.TempDir(), "fleet")
	cfg := testConfig(t, ks, base, dir, &logBuf{})
	cfg.HTTPClient = &http.Client{Transport: w}
	app := &catApplier{}
	c, err := New(cfg, app.apply)
	if err != nil {
		t.Fatal(err)
	}
	c.reportPause = time.Millisecond

	// First poll: the bundle, then its catalogue, once.
	mustPoll(t, c, StatusApplied)
	if app.lastProducts() != "code,name\n1,A\n" || w.count("/v1/catalogues/") != 1 {
		t.Fatalf("products %q, catalogue GETs %d", app.lastProducts(), w.count("/v1/catalogues/"))
	}
	st := c.State()
	if st.AppliedCatalogue == "" || st.AppliedCatalogueVersion != 1 || st.AppliedNotAfter.IsZero() {
		t.Fatalf("state %+v", st)
	}
	// Then polls carry HQ's token and get 304 on the fast path.
	mustPoll(t, c, StatusUnchanged)
	if l := w.last(); !strings.HasSuffix(l.path, "/bundle") || !l.token || l.status != http.StatusNotModified {
		t.Fatalf("second poll %+v", l)
	}

	// A config-only publish does not fetch the catalogue again.
	h.publish(t, "log: {level: warn}\nqueue: {max_batch: 100}\n", "code,name\n1,A\n", hq.PublishOptions{})
	pollUntil(t, c, StatusApplied)
	if n := w.count("/v1/catalogues/"); n != 1 {
		t.Errorf("catalogue fetched %d times for one version", n)
	}

	// New products, the catalogue unreachable: the poll fails, nothing is
	// applied, the last good catalogue stays in force and on disk.
	h.publish(t, e2eChain, "code,name\n1,B\n", hq.PublishOptions{})
	w.cut(true)
	var pollErr error
	deadline := time.Now().Add(5 * time.Second)
	for pollErr == nil && time.Now().Before(deadline) {
		_, pollErr = c.PollOnce(context.Background())
		time.Sleep(10 * time.Millisecond)
	}
	if pollErr == nil || !strings.Contains(pollErr.Error(), "catalogue") {
		t.Fatalf("poll with the catalogue cut off: %v", pollErr)
	}
	if st := c.State(); st.AppliedVersion != 2 || !strings.Contains(st.LastError, "catalogue") {
		t.Fatalf("state %+v", st)
	}
	o, _, err := Current(dir, &ks.hq.PublicKey, device, ks.dev)
	if err != nil || o.Body.Version != 2 || o.Body.Products != "code,name\n1,A\n" {
		t.Fatalf("Current while the catalogue is away: %+v %v", o, err)
	}
	w.cut(false)
	mustPoll(t, c, StatusApplied)
	if app.lastProducts() != "code,name\n1,B\n" || w.count("/v1/catalogues/") != 2 {
		t.Fatalf("products %q, catalogue GETs %d", app.lastProducts(), w.count("/v1/catalogues/"))
	}
	// Without the network, the agent starts on the applied bundle and its
	// catalogue from disk.
	o, _, err = Current(dir, &ks.hq.PublicKey, device, ks.dev)
	if err != nil || o.Body.Version != 3 || o.Body.Products != "code,name\n1,B\n" {
		t.Fatalf("Current: %+v %v", o, err)
	}

	// An expired bundle is refused and said so; the applied one stays.
	h.publish(t, "log: {level: debug}\nqueue: {max_batch: 100}\n", "code,name\n1,B\n", hq.PublishOptions{Validity: time.Millisecond})
	time.Sleep(5 * time.Millisecond)
	res := pollUntil(t, c, StatusRefused)
	if !errors.Is(res.Err, bundle.ErrExpired) || res.Version != 4 {
		t.Fatalf("expired bundle: %+v", res)
	}
	if st := readState(t, dir); st.AppliedVersion != 3 || !strings.Contains(st.LastFailedError, "expired") || st.LastFailedAt.IsZero() {
		t.Fatalf("state after an expired bundle: %+v", st)
	}
	if app.lastProducts() != "code,name\n1,B\n" || len(app.products) != 3 {
		t.Fatalf("the expired bundle reached the applier: %d applies", len(app.products))
	}

	// A fleet with old agents publishes v1; this agent takes it too.
	h.publish(t, e2eChain, "code,name\n1,C\n", hq.PublishOptions{BundleFormat: "v1"})
	pollUntil(t, c, StatusApplied)
	if app.lastProducts() != "code,name\n1,C\n" || c.State().AppliedCatalogue != "" {
		t.Fatalf("v1 bundle: products %q state %+v", app.lastProducts(), c.State())
	}
}

func TestStaticMirrorExpiry(t *testing.T) {
	ks := newKeys(t)
	h := newE2EHQ(t, ks)
	www := t.TempDir()
	h.publish(t, e2eChain, "code,name\n1,A\n", hq.PublishOptions{})
	if _, err := h.st.Export(www); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(www)))
	defer srv.Close()
	w := &wire{}
	newStatic := func(dir string) (*Client, *catApplier) {
		cfg := testConfig(t, ks, srv.URL, dir, &logBuf{})
		cfg.Static, cfg.HTTPClient = true, &http.Client{Transport: w}
		app := &catApplier{}
		c, err := New(cfg, app.apply)
		if err != nil {
			t.Fatal(err)
		}
		return c, app
	}
	dir := t.TempDir()
	c, app := newStatic(dir)
	mustPoll(t, c, StatusApplied)
	if app.lastProducts() != "code,name\n1,A\n" || w.count("/catalogues/") != 1 {
		t.Fatalf("products %q, catalogue GETs %d", app.lastProducts(), w.count("/catalogues/"))
	}
	mustPoll(t, c, StatusUnchanged)

	// The mirror gets a bundle that expires and is never refreshed.
	h.publish(t, "log: {level: warn}\nqueue: {max_batch: 100}\n", "code,name\n1,A\n", hq.PublishOptions{Validity: time.Millisecond})
	if _, err := h.st.Export(www); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	res := mustPoll(t, c, StatusRefused)
	if !errors.Is(res.Err, bundle.ErrExpired) {
		t.Fatalf("stale mirror: %+v", res)
	}
	if st := c.State(); st.AppliedVersion != 1 || !strings.Contains(st.LastFailedError, "expired") {
		t.Fatalf("state %+v", st)
	}
	mustPoll(t, c, StatusUnchanged) // the refused bytes are not processed again

	// A device that never had a config gets none from the stale mirror.
	fresh, freshApp := newStatic(t.TempDir())
	mustPoll(t, fresh, StatusRefused)
	if len(freshApp.products) != 0 || fresh.State().AppliedVersion != 0 {
		t.Fatal("a fresh device applied an expired bundle")
	}
}

package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/gm"
)

const device = "PDA1"

// wireReport is the report as HQ decodes it, written independently of the
// client's own type so that the wire format itself is checked.
type wireReport struct {
	State   string `json:"state"`
	Version uint64 `json:"version"`
	Hash    string `json:"hash"`
	Error   string `json:"error"`
}

// fakeHQ is pda-hq's device protocol: it checks every request's device
// signature, serves the staged bundle honouring If-None-Match, and records
// reports. Scripted failures come first when queued.
type fakeHQ struct {
	t      *testing.T
	devPub *sm2.PublicKey

	mu          sync.Mutex
	staged      []byte // nil: 404
	hash        string
	gets        int
	inm         []string
	reports     []wireReport
	authErrors  []string
	script      []scripted // answers to the next GETs, before the normal ones
	failReports int        // the next report POSTs answered 500
}

type scripted struct {
	status     int
	retryAfter string
}

func newFakeHQ(t *testing.T, devPub *sm2.PublicKey) (*fakeHQ, *httptest.Server) {
	h := &fakeHQ{t: t, devPub: devPub}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/devices/{device}/bundle", h.bundle)
	mux.HandleFunc("POST /v1/devices/{device}/report", h.report)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.authErrors) > 0 {
			t.Errorf("fake HQ refused authentication: %v", h.authErrors)
		}
	})
	return h, srv
}

func (h *fakeHQ) stage(data []byte, hash string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.staged, h.hash = data, hash
}

// auth checks the device headers the way pda-hq must.
func (h *fakeHQ) auth(r *http.Request, body []byte) error {
	if got := r.Header.Get("X-PDA-Device"); got != r.PathValue("device") || got != device {
		return fmt.Errorf("X-PDA-Device %q for path device %q", got, r.PathValue("device"))
	}
	ts := r.Header.Get("X-PDA-Time")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("X-PDA-Time %q", ts)
	}
	if d := time.Since(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("clock skew %s", d)
	}
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get("X-PDA-Signature"))
	if err != nil {
		return fmt.Errorf("signature not base64: %v", err)
	}
	sum := sha256.Sum256(body)
	msg := r.Method + "\n" + r.URL.Path + "\n" + ts + "\n" + hex.EncodeToString(sum[:])
	if err := gm.Verify(h.devPub, []byte(msg), nil, sig); err != nil {
		return fmt.Errorf("signature: %v", err)
	}
	return nil
}

func (h *fakeHQ) refuse(w http.ResponseWriter, err error) {
	h.mu.Lock()
	h.authErrors = append(h.authErrors, err.Error())
	h.mu.Unlock()
	http.Error(w, "device authentication failed", http.StatusUnauthorized)
}

func (h *fakeHQ) bundle(w http.ResponseWriter, r *http.Request) {
	if err := h.auth(r, nil); err != nil {
		h.refuse(w, err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gets++
	h.inm = append(h.inm, r.Header.Get("If-None-Match"))
	if len(h.script) > 0 {
		s := h.script[0]
		h.script = h.script[1:]
		if s.retryAfter != "" {
			w.Header().Set("Retry-After", s.retryAfter)
		}
		http.Error(w, "scripted "+strconv.Itoa(s.status), s.status)
		return
	}
	if h.staged == nil {
		http.Error(w, "nothing staged", http.StatusNotFound)
		return
	}
	etag := `"` + h.hash + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(h.staged)
}

func (h *fakeHQ) report(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := h.auth(r, body); err != nil {
		h.refuse(w, err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failReports > 0 {
		h.failReports--
		http.Error(w, "report store down", http.StatusInternalServerError)
		return
	}
	var rep wireReport
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		h.t.Errorf("report body %s: %v", body, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.reports = append(h.reports, rep)
	w.WriteHeader(http.StatusNoContent)
}

func (h *fakeHQ) setScript(s ...scripted) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.script = s
}

func (h *fakeHQ) setFailReports(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failReports = n
}

func (h *fakeHQ) gotReports() []wireReport {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]wireReport(nil), h.reports...)
}

func (h *fakeHQ) getCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gets
}

func (h *fakeHQ) lastINM() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.inm) == 0 {
		return ""
	}
	return h.inm[len(h.inm)-1]
}

// --- keys, bundles, applier, logs ---

type keySet struct {
	hq, dev, otherHQ, otherDev *sm2.PrivateKey
}

func newKeys(t *testing.T) keySet {
	t.Helper()
	var ks keySet
	for _, k := range []**sm2.PrivateKey{&ks.hq, &ks.dev, &ks.otherHQ, &ks.otherDev} {
		var err error
		if *k, err = gm.GenerateKey(nil); err != nil {
			t.Fatal(err)
		}
	}
	return ks
}

const secretValue = "s3cret-app-value"

// body is a valid body for device PDA1 at version v, carrying one secret.
func (ks keySet) body(t *testing.T, v uint64) bundle.Body {
	t.Helper()
	enc, err := bundle.EncryptSecret(&ks.dev.PublicKey, secretValue)
	if err != nil {
		t.Fatal(err)
	}
	return bundle.Body{Device: device, Store: "S1", Version: v, CreatedAt: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC),
		Config: fmt.Sprintf("queue: {max_batch: %d}\n", v), Secrets: map[string]string{"msfx.app_secret": enc},
		DeviceKey: gm.Fingerprint(&ks.dev.PublicKey)}
}

func seal(t *testing.T, b bundle.Body, hq *sm2.PrivateKey) ([]byte, string) {
	t.Helper()
	data, hash, err := bundle.Seal(b, hq)
	if err != nil {
		t.Fatal(err)
	}
	return data, hash
}

func (ks keySet) sealed(t *testing.T, v uint64) ([]byte, string) {
	t.Helper()
	return seal(t, ks.body(t, v), ks.hq)
}

type applyCall struct {
	version uint64
	hash    string
	secrets map[string]string
}

// recorder is an Applier that records its calls and fails with err when set.
type recorder struct {
	mu    sync.Mutex
	calls []applyCall
	err   error
	panic bool
}

func (r *recorder) apply(_ context.Context, b *bundle.Opened, secrets map[string]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, applyCall{b.Body.Version, b.Hash, secrets})
	if r.panic {
		panic("applier crashed")
	}
	return r.err
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func (r *recorder) set(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// logBuf collects log output, to check nothing secret is logged.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testConfig is a Config against url with short intervals and logs kept.
func testConfig(t *testing.T, ks keySet, url, dir string, logs *logBuf) Config {
	t.Helper()
	return Config{URL: url, Device: device, DeviceKey: ks.dev, HQKey: &ks.hq.PublicKey, StateDir: dir,
		Interval: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, Timeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

func newClient(t *testing.T, c Config, rec *recorder) *Client {
	t.Helper()
	cl, err := New(c, rec.apply)
	if err != nil {
		t.Fatal(err)
	}
	cl.reportPause = time.Millisecond
	cl.rand = func() float64 { return 0.5 } // no jitter: exact waits
	return cl
}

func mustPoll(t *testing.T, c *Client, want string) Result {
	t.Helper()
	res, err := c.PollOnce(context.Background())
	if err != nil {
		t.Fatalf("PollOnce: %v", err)
	}
	if res.Status != want {
		t.Fatalf("status %q (err %v), want %q", res.Status, res.Err, want)
	}
	return res
}

func readState(t *testing.T, dir string) persisted {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	var p persisted
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatalf("state.json: %v\n%s", err, data)
	}
	return p
}

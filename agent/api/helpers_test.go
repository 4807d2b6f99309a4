package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

// Codes of the sandbox's default world (any serial of a registered prefix
// is an activated box).
const (
	codeA   = "81012350000000157474" // amoxicillin box
	codeB   = "83933310000006711939" // ibuprofen box
	codeC   = "81012350000000266663" // another amoxicillin box
	barcode = "6901234567892"        // a product barcode, not a trace code
)

var quiet = slog.New(slog.DiscardHandler)

// testEnv is a real agent on a temp data dir with its API on loopback,
// optionally against the 码上放心 sandbox.
type testEnv struct {
	t       *testing.T
	agent   *agent.Agent
	srv     *Server
	base    string
	lanBase string // https://… of the LAN listener, when started
	token   string
	dataDir string
	gw      *sandbox.Running
	client  *http.Client
	stop    func() // stops agent and API (idempotent); Cleanup calls it too
	runErr  chan error
}

type envOpts struct {
	msfx bool
	// msfxNow is the 码上放心 sandbox's clock (time.Now if nil).
	msfxNow func() time.Time
	env     []string
	limits  func(*limits)
	// lan also serves the LAN listener (TLS) on lan, a loopback host:port.
	lan string
}

func start(t *testing.T, o envOpts) *testEnv {
	t.Helper()
	e := &testEnv{t: t, dataDir: t.TempDir(), client: &http.Client{Timeout: 60 * time.Second}}
	env := []string{"PDA_DEVICE_ID=T1", "PDA_DATA_DIR=" + e.dataDir, "PDA_FEEDBACK_LOG=false"}
	if o.msfx {
		gw, err := sandbox.Start("127.0.0.1:0", sandbox.Options{World: sandbox.DefaultWorld(), Logger: quiet, ProcessAfter: sandbox.ProcessAtOnce, Now: o.msfxNow})
		if err != nil {
			t.Fatal(err)
		}
		e.gw = gw
		env = append(env, "PDA_MSFX_ENABLED=true", "PDA_MSFX_GATEWAY="+gw.URL(),
			"PDA_MSFX_APP_KEY="+sandbox.DefaultStoreAppKey, "PDA_MSFX_APP_SECRET="+sandbox.DefaultStoreSecret,
			"PDA_MSFX_REF_ENT_ID="+sandbox.DefaultStoreRefEntID, "PDA_MSFX_ENT_ID="+sandbox.DefaultStoreEntID,
			"PDA_MSFX_RATE=0", "PDA_MSFX_POLL_INTERVAL=1s", "PDA_UPLOAD_INITIAL_BACKOFF=100ms", "PDA_UPLOAD_MAX_BACKOFF=1s",
			// The compliance refresh at start would take faults a test
			// injects for its own request; compliance tests refresh by hand.
			"PDA_MSFX_COMPLIANCE_REFRESH=0s")
	}
	env = append(env, o.env...)
	cfg, err := configs.LoadBytes("test", nil, env)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg, agent.Options{Logger: quiet, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	e.agent = a
	opts := Options{Listen: "127.0.0.1:0", TokenFile: cfg.APITokenFile(), Logger: quiet}
	if o.lan != "" {
		opts.LAN = &LANOptions{Listen: o.lan, CertFile: cfg.LANCertFile(), KeyFile: cfg.LANKeyFile(), DevicesFile: cfg.PairedDevicesFile()}
	}
	srv, err := New(a, opts)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	if o.limits != nil {
		o.limits(&srv.limits)
	}
	e.srv, e.token = srv, srv.token

	ctx, cancel := context.WithCancel(context.Background())
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Run(ctx) }()
	e.runErr = make(chan error, 1)
	go func() { e.runErr <- srv.Run(ctx) }()
	var stopped bool
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-e.runErr:
			if err != nil {
				t.Errorf("api Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("api Run did not return after shutdown")
		}
		<-agentDone
		a.Close()
		if e.gw != nil {
			e.gw.Close()
		}
	}
	t.Cleanup(e.stop)

	deadline := time.Now().Add(5 * time.Second)
	for srv.Addr() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the API did not start listening")
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.base = "http://" + srv.Addr().String()
	if o.lan != "" {
		for srv.LANAddr() == nil {
			if time.Now().After(deadline) {
				t.Fatal("the LAN listener did not start")
			}
			time.Sleep(5 * time.Millisecond)
		}
		e.lanBase = "https://" + srv.LANAddr().String()
	}
	return e
}

// request is one call's options beyond method, path and body.
type request struct {
	token  *string           // nil: the right token; "" sends none
	header map[string]string // extra headers (Host goes to req.Host)
	cookie *http.Cookie
	raw    []byte // a body sent as is
	// chunked sends raw without a Content-Length.
	chunked bool
}

// call sends a request with the token and returns status and body.
func (e *testEnv) call(method, path string, body any, o ...request) (int, []byte) {
	e.t.Helper()
	var opt request
	if len(o) > 0 {
		opt = o[0]
	}
	var rd io.Reader
	switch {
	case opt.raw != nil && opt.chunked:
		rd = io.MultiReader(bytes.NewReader(opt.raw))
	case opt.raw != nil:
		rd = bytes.NewReader(opt.raw)
	case body != nil:
		data, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	tok := e.token
	if opt.token != nil {
		tok = *opt.token
	}
	if tok != "" && opt.cookie == nil {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if opt.cookie != nil {
		req.AddCookie(opt.cookie)
	}
	for k, v := range opt.header {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, data
}

// ok calls and decodes a 2xx answer into out (if not nil).
func (e *testEnv) ok(method, path string, body, out any) {
	e.t.Helper()
	status, data := e.call(method, path, body)
	if status/100 != 2 {
		e.t.Fatalf("%s %s: %d %s", method, path, status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
}

// fails calls and checks the error status and reason.
func (e *testEnv) fails(method, path string, body any, status int, reason string, o ...request) errorBody {
	e.t.Helper()
	got, data := e.call(method, path, body, o...)
	var eb errorBody
	if err := json.Unmarshal(data, &eb); err != nil {
		e.t.Fatalf("%s %s: %d, not the error shape: %s", method, path, got, data)
	}
	if got != status || eb.Error != reason || eb.Message == "" {
		e.t.Fatalf("%s %s: %d %s, want %d %s", method, path, got, data, status, reason)
	}
	return eb
}

// scan posts a scan and checks its status.
func (e *testEnv) scan(session, code, want string) scanAnswer {
	e.t.Helper()
	var ans scanAnswer
	e.ok("POST", "/v1/scans", map[string]string{"session": session, "code": code}, &ans)
	if string(ans.Status) != want {
		e.t.Fatalf("scan %s in %s: %+v, want %s", code, session, ans, want)
	}
	return ans
}

func ptr[T any](v T) *T { return &v }

// eventually polls cond until it holds or the time is up.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

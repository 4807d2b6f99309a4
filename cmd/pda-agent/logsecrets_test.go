package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/agent/api"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/queue"
	msfxsb "github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	hooksb "github.com/pda-agent/pda-agent/upload/webhook/sandbox"
)

// TestDebugLogCarriesNoSecret runs a real agent with its API at debug
// level, JSON, into log.file, through a sale delivered to the 码上放心 and
// webhook sandboxes and a login with the API token, and then looks for
// every secret in the log: none may appear (requests are logged by method
// and path, never bodies, headers or query strings).
func TestDebugLogCarriesNoSecret(t *testing.T) {
	const hookSecret = "webhook-secret-DO-NOT-LOG-0123456789"
	quiet := slog.New(slog.DiscardHandler)
	gw, err := msfxsb.Start("127.0.0.1:0", msfxsb.Options{World: msfxsb.DefaultWorld(), Logger: quiet, ProcessAfter: msfxsb.ProcessAtOnce})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	hook, err := hooksb.Start("127.0.0.1:0", hooksb.Options{KeyID: "store1", Secret: hookSecret, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer hook.Close()

	dir := t.TempDir()
	logFile := filepath.Join(dir, "log", "agent.log")
	cfgFile := writeFile(t, dir, "config.yaml", fmt.Sprintf(`device: {id: LOG1}
data_dir: %[1]s/data
log: {level: debug, format: json, file: %[2]s}
api: {listen: "127.0.0.1:0"}
upload: {initial_backoff: 100ms, max_backoff: 1s}
msfx: {enabled: true, gateway: %[3]q, app_key: %[4]q, app_secret: %[5]q, ref_ent_id: %[6]q, ent_id: %[7]q, rate: 0, poll_interval: 1s}
webhook: {enabled: true, url: %[8]q, key_id: store1, secret: %[9]q}
`, dir, logFile, gw.URL(), msfxsb.DefaultStoreAppKey, msfxsb.DefaultStoreSecret, msfxsb.DefaultStoreRefEntID, msfxsb.DefaultStoreEntID, hook.URL(), hookSecret))
	c, err := configs.Load(cfgFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	log := newLogger(c, &stderr)
	a, err := agent.New(c, agent.Options{Logger: log, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(a, api.Options{Listen: c.API.Listen, TokenFile: c.APITokenFile(), Logger: log.With("component", "api")})
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = a.Run(ctx) }()
	go func() { defer wg.Done(); _ = srv.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
			a.Close()
		}
	}
	defer stop()
	for deadline := time.Now().Add(5 * time.Second); srv.Addr() == nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the API did not start")
		}
	}
	base := "http://" + srv.Addr().String()
	token, err := readAPIToken(c.APITokenFile())
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, tok string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			data, _ := json.Marshal(body)
			rd = bytes.NewReader(data)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("Authorization", "Bearer "+tok)
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data
	}
	var opened struct{ Bill queue.Bill }
	if st, data := call("POST", "/v1/sessions", token, map[string]any{"session": "till1", "kind": "sale"}); st != 200 || json.Unmarshal(data, &opened) != nil {
		t.Fatalf("open sale: %d %s", st, data)
	}
	if st, data := call("POST", "/v1/scans", token, map[string]string{"session": "till1", "code": "81012350000000157474"}); st != 200 || !strings.Contains(string(data), "accepted") {
		t.Fatalf("scan: %d %s", st, data)
	}
	if st, data := call("POST", "/v1/sessions/till1/finish", token, map[string]any{}); st != 200 {
		t.Fatalf("finish: %d %s", st, data)
	}
	call("GET", "/login?token="+token, "", nil)                       // the login link carries the token
	call("GET", "/v1/status", "wrong-token-"+token[:8]+"-guess", nil) // refused
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var r queue.BillRecord
		_, data := call("GET", "/v1/bills/"+opened.Bill.Code, token, nil)
		_ = json.Unmarshal(data, &r)
		done := 0
		for _, d := range r.Deliveries {
			if d.State == queue.DeliveryDone {
				done++
			}
		}
		if done == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sale was not delivered to both sandboxes: %s", data)
		}
	}
	stop()

	logged, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if stderr.Len() != 0 {
		t.Errorf("with log.file set, stderr got %q", stderr.String())
	}
	for _, want := range []string{`"level":"DEBUG"`, `"msg":"api request"`, `"path":"/login"`, opened.Bill.Code} {
		if !strings.Contains(string(logged), want) {
			t.Errorf("the debug log lacks %s: is it logging at all?", want)
		}
	}
	for name, secret := range map[string]string{"API token": token, "msfx.app_secret": msfxsb.DefaultStoreSecret, "webhook.secret": hookSecret} {
		if strings.Contains(string(logged), secret) {
			t.Errorf("the log holds the %s", name)
		}
	}
	t.Logf("%d bytes of debug log, no secret in them", len(logged))
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/agent/api"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/gm"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

// statusConfig is a device against the 码上放心 sandbox with its API at
// %[2]s; the data directory is %[1]s.
const statusConfig = `device: {id: ST1, store: S001}
data_dir: %[1]s
feedback: {log: false}
api: {listen: %[2]q}
upload: {initial_backoff: 100ms, max_backoff: 1s}
msfx:
  enabled: true
  gateway: %[3]s
  app_key: %[4]s
  app_secret: %[5]s
  ref_ent_id: %[6]s
  ent_id: %[7]s
  rate: 0
  poll_interval: 1s
`

// statusAgent is a real agent (in this process, so the race detector
// sees it) with its API on loopback, and the config file a CLI run reads.
type statusAgent struct {
	a       *agent.Agent
	cfgFile string
	stop    func()
}

func startStatusAgent(t *testing.T) *statusAgent {
	t.Helper()
	gw, err := sandbox.Start("127.0.0.1:0", sandbox.Options{World: sandbox.DefaultWorld(), ProcessAfter: sandbox.ProcessAtOnce,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	dataDir, cfgDir := t.TempDir(), t.TempDir()
	config := func(listen string) string {
		return writeFile(t, cfgDir, "config.yaml", fmt.Sprintf(statusConfig, dataDir, listen, gw.URL(), sandbox.DefaultStoreAppKey,
			sandbox.DefaultStoreSecret, sandbox.DefaultStoreRefEntID, sandbox.DefaultStoreEntID))
	}
	c, err := configs.Load(config("127.0.0.1:0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	a, err := agent.New(c, agent.Options{Logger: quiet, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(a, api.Options{Listen: c.API.Listen, TokenFile: c.APITokenFile(), Logger: quiet})
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = a.Run(ctx) }()
	go func() { defer wg.Done(); _ = srv.Run(ctx) }()
	var once sync.Once
	sa := &statusAgent{a: a, stop: func() { once.Do(func() { cancel(); wg.Wait(); a.Close() }) }}
	t.Cleanup(sa.stop)
	deadline := time.Now().Add(5 * time.Second)
	for srv.Addr() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the API did not start listening")
		}
		time.Sleep(5 * time.Millisecond)
	}
	sa.cfgFile = config(srv.Addr().String())
	return sa
}

func (sa *statusAgent) scan(t *testing.T, session, code string, want device.Status) {
	t.Helper()
	if fb := sa.a.Scan(context.Background(), session, code, "test"); fb.Status != want {
		t.Fatalf("scan %s: %+v, want %s", code, fb, want)
	}
}

// finish finishes the session's bill and waits until 码上放心 has its
// delivery in state.
func (sa *statusAgent) finish(t *testing.T, session string, state queue.DeliveryState) string {
	t.Helper()
	b, err := sa.a.Finish(context.Background(), session, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := sa.a.Bill(b.Code)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Deliveries) == 1 && v.Deliveries[0].State == state {
			return b.Code
		}
		if time.Now().After(deadline) {
			t.Fatalf("bill %s: %+v, want %s", b.Code, v.Deliveries, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// execCLI runs pda-agent in this process as main does: output, and the
// exit status main would give.
func execCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.Execute()
	if err == nil {
		return out.String(), errOut.String(), 0
	}
	code := exitFailure
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if err.Error() != "" {
		fmt.Fprintln(&errOut, "pda-agent:", err)
	}
	return out.String(), errOut.String(), code
}

// hasAll checks that s holds every part, whatever the column padding.
func hasAll(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(squeeze(s), squeeze(p)) {
			t.Errorf("%s lacks %q:\n%s", what, p, s)
		}
	}
}

// TestStatusCommand reads a running agent's status through its API
// (healthy, then degraded by a dead letter), then, the agent stopped, from
// its queue file.
func TestStatusCommand(t *testing.T) {
	sa := startStatusAgent(t)
	sa.scan(t, "till", "PDA:SALE", device.StatusCommand)
	sa.scan(t, "till", "81012350000000157474", device.StatusAccepted)
	sa.scan(t, "till", "81012350000000157474", device.StatusDuplicate)
	sa.scan(t, "till", "6901234567892", device.StatusRejected)
	sa.finish(t, "till", queue.DeliveryDone)

	out, errOut, code := execCLI(t, "status", "--config", sa.cfgFile)
	if code != 0 {
		t.Fatalf("healthy agent: exit %d\n%s%s", code, out, errOut)
	}
	hasAll(t, "status", out, "pda-agent ST1 (store S001)  HEALTHY  version test, up since", "config    local file, hash ",
		"bills     0 open, 1 finished, 0 cancelled", "scans     1 accepted, 1 duplicate, 1 rejected (product_barcode 1)",
		"of 1.0 GiB (0%)", "free on the disk", "码上放心 (msfx)  0        0        0     0     -", "alarms: none")
	if strings.Contains(out, "problems:") || strings.Contains(out, "not running") {
		t.Errorf("a healthy agent has problems:\n%s", out)
	}

	// A receiving from a supplier the platform does not know: refused for
	// good, a dead letter; the agent is degraded.
	sa.scan(t, "dock", "PDA:RECEIVE:"+unknownPartner, device.StatusCommand)
	sa.scan(t, "dock", "81012350000000266663", device.StatusAccepted)
	recv := sa.finish(t, "dock", queue.DeliveryDead)
	out, _, code = execCLI(t, "status", "--config", sa.cfgFile)
	if code != 1 {
		t.Fatalf("degraded agent: exit %d\n%s", code, out)
	}
	hasAll(t, "status", out, "DEGRADED", "码上放心 (msfx)  0        0        0     1", "往来企业不存在",
		"problems:\n  - msfx: dead letters need an operator")

	out, _, code = execCLI(t, "status", "--json", "--config", sa.cfgFile)
	var st agent.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 1 {
		t.Fatalf("status --json: exit %d, %v\n%s", code, err, out)
	}
	if st.Source != agent.FromAgent || st.Health != agent.Degraded || st.Destinations["msfx"].Dead != 1 || st.Scans["accepted"] != 2 {
		t.Fatalf("status --json: %+v", st)
	}

	// The agent holds its queue file: with its API off, it cannot be
	// asked, and the command says so rather than guessing.
	noAPI := writeFile(t, t.TempDir(), "noapi.yaml", strings.Replace(string(mustRead(t, sa.cfgFile)), "api: {", "api: {enabled: false, ", 1))
	_, errOut, code = execCLI(t, "status", "--config", noAPI)
	if code != 1 || !strings.Contains(errOut, "the agent is running") {
		t.Errorf("running agent without API: exit %d %s", code, errOut)
	}

	// Stopped: from the queue file, with the same figures.
	sa.stop()
	out, errOut, code = execCLI(t, "status", "--config", sa.cfgFile)
	if code != 1 {
		t.Fatalf("stopped agent: exit %d\n%s%s", code, out, errOut)
	}
	hasAll(t, "status from the file", out, "pda-agent ST1 (store S001)  STOPPED", "agent not running; from the queue file",
		"scanners  unknown (agent not running)", "bills     0 open, 2 finished, 0 cancelled",
		"码上放心 (msfx)  0        0        0     1", "往来企业不存在", "  - agent not running; from the queue file")
	out, _, _ = execCLI(t, "status", "--json", "--config", sa.cfgFile)
	st = agent.Status{}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Source != agent.FromQueueFile || st.Health != agent.Stopped ||
		st.Destinations["msfx"].Dead != 1 {
		t.Fatalf("status --json from the file: %v %+v", err, st)
	}

	// diagnose, from the file too: the dead-lettered code.
	out, errOut, code = execCLI(t, "diagnose", "--offline", "--config", sa.cfgFile, "81012350000000266663")
	if code != 0 {
		t.Fatalf("diagnose from the file: exit %d %s", code, errOut)
	}
	hasAll(t, "diagnose from the file", out, "agent not running; from the queue file", "bill "+recv+"  type 102  finished",
		"dead letter: bill "+recv+" to 码上放心", "码上放心  not asked: --offline", "verdict: received in bill "+recv,
		"refused by 码上放心 for good")
}

// TestDiagnoseCommand diagnoses through the running agent's API: a code
// sold and uploaded (码上放心 asked), one refused, one never seen.
func TestDiagnoseCommand(t *testing.T) {
	sa := startStatusAgent(t)
	sa.scan(t, "till", "PDA:SALE", device.StatusCommand)
	sa.scan(t, "till", "81012350000000157474", device.StatusAccepted)
	sale := sa.finish(t, "till", queue.DeliveryDone)
	sa.scan(t, "nobill", "83933310000006711939", device.StatusRejected)

	out, errOut, code := execCLI(t, "diagnose", "--config", sa.cfgFile, "81012350000000157474")
	if code != 0 {
		t.Fatalf("diagnose: exit %d %s", code, errOut)
	}
	hasAll(t, "diagnose", out, "code     81012350000000157474  valid  msfx20", "sold  bill "+sale+" (321)",
		"bill "+sale+"  type 321  finished", "码上放心  done", "scans (newest first):", "accepted", "码上放心  核销 (sold)",
		"verdict: sold in bill "+sale+" (321", "uploaded to 码上放心 at")
	if strings.Contains(out, "not running") {
		t.Errorf("diagnose through the API claims the file:\n%s", out)
	}

	out, _, code = execCLI(t, "diagnose", "--json", "--offline", "--config", sa.cfgFile, "83933310000006711939")
	var d agent.Diagnosis
	if err := json.Unmarshal([]byte(out), &d); err != nil || code != 0 {
		t.Fatalf("diagnose --json: exit %d %v\n%s", code, err, out)
	}
	if d.Source != agent.FromAgent || d.Platform.Asked || len(d.Scans) != 1 || !strings.Contains(d.Verdict, "rejected at ") ||
		!strings.Contains(d.Verdict, queue.ReasonNoSession) {
		t.Fatalf("diagnose --json of a rejected code: %+v", d)
	}

	out, _, _ = execCLI(t, "diagnose", "--offline", "--config", sa.cfgFile, "81012350000000999990")
	hasAll(t, "diagnose of an unseen code", out, "verdict: never scanned on this device")
	if _, errOut, code := execCLI(t, "diagnose", "--config", sa.cfgFile); code != exitUsage && code != exitFailure {
		t.Errorf("diagnose without a code: exit %d %s", code, errOut)
	}
}

// squeeze collapses runs of spaces (table padding) into one.
func squeeze(s string) string {
	for strings.Contains(s, "  ") {
		s = strings.ReplaceAll(s, "  ", " ")
	}
	return s
}

// TestStatusOfAStoppedFleetDevice: a stopped device that runs on an HQ
// bundle is reported with the bundle's version and destinations, and
// inspecting it writes nothing into the agent's fleet directory.
func TestStatusOfAStoppedFleetDevice(t *testing.T) {
	dir := t.TempDir()
	hq, err := gm.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := gm.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := gm.PrivateKeyPEM(dev)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "device.key", string(pem))
	secret, err := bundle.EncryptSecret(&dev.PublicKey, "fleet-webhook-secret-FAKE")
	if err != nil {
		t.Fatal(err)
	}
	// HQ's config turns the webhook on and ships a partner list.
	sealed, bundleHash, err := bundle.Seal(bundle.Body{Device: "FLS1", Version: 5, DeviceKey: gm.Fingerprint(&dev.PublicKey),
		Config:   "webhook: {enabled: true, url: \"http://127.0.0.1:1/hook\", key_id: k1}\n",
		Secrets:  map[string]string{"webhook.secret": secret},
		Partners: "ent_id,name,license_no\n5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4,沙箱医药,苏AA0250001\n"}, hq)
	if err != nil {
		t.Fatal(err)
	}
	fleetDir := filepath.Join(dir, "fleet")
	if err := os.MkdirAll(fleetDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, fleetDir, "current.bundle", string(sealed))
	cfgFile := writeFile(t, t.TempDir(), "local.yaml", fmt.Sprintf("device: {id: FLS1}\ndata_dir: %s\napi: {enabled: false}\n"+
		"fleet: {enabled: true, url: \"http://127.0.0.1:1\", hq_key: %s}\n", dir, gm.PublicKeyBase64(&hq.PublicKey)))

	// A sale the webhook has not had yet.
	ctx := context.Background()
	s, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{BillPrefix: "FLS1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.OpenSession(ctx, queue.SessionSpec{Session: "till", Type: 321}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Scan(ctx, queue.ScanInput{Session: "till", Code: "81012350000000157474", Key: "81012350000000157474", Kind: "msfx20"}); err != nil || r.Outcome != queue.Accepted {
		t.Fatalf("scan: %+v %v", r, err)
	}
	if _, err := s.Finish(ctx, "till", func(queue.Bill) []string { return []string{"webhook"} }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := execCLI(t, "status", "--config", cfgFile)
	if code != 1 {
		t.Fatalf("stopped fleet device: exit %d\n%s%s", code, out, errOut)
	}
	hasAll(t, "status", out, "STOPPED", "config    HQ bundle v5 ("+bundleHash[:12]+"), hash ", "webhook  1  0  0")
	if strings.Contains(out, "not enabled") {
		t.Errorf("the bundle's webhook is taken for a disabled destination:\n%s", out)
	}
	entries, err := os.ReadDir(fleetDir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("the fleet directory changed: %v %v", entries, err)
	}
}

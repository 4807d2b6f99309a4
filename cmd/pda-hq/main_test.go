package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/fleet/hq"
	"github.com/pda-agent/pda-agent/fleet/hq/protocol"
	"github.com/pda-agent/pda-agent/gm"
)

func pdaHQ(t *testing.T, ctx context.Context, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb)
	return out.String(), errb.String(), code
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "hq.db")
	keyFile := filepath.Join(dir, "hq.key")

	out, _, code := pdaHQ(t, ctx, "keys", "gen", "--out", keyFile)
	if code != 0 || !strings.Contains(out, "fingerprint: ") || !strings.Contains(out, "fleet.hq_key") {
		t.Fatalf("keys gen: %d %s", code, out)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	if _, _, code := pdaHQ(t, ctx, "keys", "gen", "--out", keyFile); code != 1 {
		t.Errorf("keys gen over an existing file: %d", code)
	}
	hqKey, err := gm.ParsePrivateKey(readFile(t, keyFile))
	if err != nil {
		t.Fatal(err)
	}

	if _, errOut, code := pdaHQ(t, ctx, "status", "--db", db); code != 1 || !strings.Contains(errOut, "does not exist") {
		t.Errorf("status on a missing database: %d %s", code, errOut)
	}
	for _, args := range [][]string{{"enroll", "--device", "P1"}, {"status", "--bogus"}, {"publish", "--key", keyFile}, {"nosuch"}} {
		if _, _, code := pdaHQ(t, ctx, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}

	dev1, dev2 := mustKey(t), mustKey(t)
	pem, err := gm.PublicKeyPEM(&dev1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemFile := filepath.Join(dir, "p1.pub")
	write(t, pemFile, string(pem))
	if out, errOut, code := pdaHQ(t, ctx, "enroll", "--db", db, "--device", "P1", "--store", "S1", "--group", "pda", "--key", pemFile); code != 0 || !strings.Contains(out, "enrolled") {
		t.Fatalf("enroll P1: %d %s %s", code, out, errOut)
	}
	if _, errOut, code := pdaHQ(t, ctx, "enroll", "--db", db, "--device", "P2", "--store", "S2", "--key", gm.PublicKeyBase64(&dev2.PublicKey)); code != 0 {
		t.Fatalf("enroll P2: %d %s", code, errOut)
	}

	tree := filepath.Join(dir, "tree")
	write(t, filepath.Join(tree, "chain.yaml"), "log: {level: info}\n")
	write(t, filepath.Join(tree, "stores", "S2.yaml"), "queue: {max_batch: 0}\n")
	_, errOut, code := pdaHQ(t, ctx, "publish", "--db", db, "--key", keyFile, "--tree", tree)
	if code != exitConfig || !strings.Contains(errOut, "device P2") || !strings.Contains(errOut, "queue.max_batch") {
		t.Fatalf("invalid tree: exit %d\n%s", code, errOut)
	}
	write(t, filepath.Join(tree, "stores", "S2.yaml"), "queue: {max_batch: 50}\n")
	if _, _, code := pdaHQ(t, ctx, "publish", "--db", db, "--key", keyFile, "--tree", tree, "--percent", "10", "--stores", "S1"); code != exitUsage {
		t.Errorf("--percent with --stores: %d", code)
	}
	out, errOut, code = pdaHQ(t, ctx, "publish", "--db", db, "--key", keyFile, "--tree", tree, "--stores", "S1", "--threshold", "0.5", "--wave-timeout", "10m")
	if code != 0 || !strings.Contains(out, "published version 1 to 2 device(s) as rollout 1") || !strings.Contains(out, "wave 2: 1 device(s)") {
		t.Fatalf("publish: %d %s %s", code, out, errOut)
	}

	out, _, code = pdaHQ(t, ctx, "status", "--db", db, "--json")
	var st hq.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.Devices) != 2 || st.Rollouts[0].State != hq.RolloutRunning || st.Rollouts[0].Threshold != 0.5 {
		t.Fatalf("status --json: %d %s", code, out)
	}
	if out, _, code = pdaHQ(t, ctx, "status", "--db", db); code != 0 || !strings.Contains(out, "P1") || !strings.Contains(out, "RUNNING") {
		t.Errorf("status: %d %s", code, out)
	}
	if out, _, code = pdaHQ(t, ctx, "settings", "--db", db, "--poll-interval", "2m"); code != 0 || !strings.Contains(out, "silent after: 6m0s") {
		t.Errorf("settings: %d %s", code, out)
	}

	exp := filepath.Join(dir, "www")
	if out, _, code = pdaHQ(t, ctx, "export", "--db", db, "--dir", exp); code != 0 || !strings.Contains(out, "1 written") {
		t.Fatalf("export: %d %s", code, out)
	}
	if _, err := bundle.Open([]byte(readFile(t, filepath.Join(exp, "devices", "P1.bundle"))), &hqKey.PublicKey, "P1", &dev1.PublicKey, 0); err != nil {
		t.Fatalf("exported bundle: %v", err)
	}

	// serve until the context ends (as on SIGTERM).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	sctx, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		_, _, code := pdaHQ(t, sctx, "serve", "--db", db, "--listen", addr, "--log-level", "warn")
		done <- code
	}()
	var resp *http.Response
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest("GET", "http://"+addr+protocol.BundlePath("P1"), nil)
		if err := protocol.Sign(req, "P1", dev1, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == "" {
		t.Errorf("GET from serve: %d", resp.StatusCode)
	}
	// Other commands work while serve runs.
	if _, errOut, code := pdaHQ(t, ctx, "status", "--db", db); code != 0 {
		t.Errorf("status while serving: %d %s", code, errOut)
	}
	stop()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exit %d", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func mustKey(t *testing.T) *gm.PrivateKey {
	t.Helper()
	k, err := gm.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

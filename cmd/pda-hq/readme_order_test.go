package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/fleet/hq/protocol"
	"github.com/pda-agent/pda-agent/gm"
)

// The README's order: keys gen, serve, then enroll while serve runs.
func TestServeBeforeEnroll(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "hq.db")
	if _, _, code := pdaHQ(t, ctx, "keys", "gen", "--out", filepath.Join(dir, "hq.key")); code != 0 {
		t.Fatal("keys gen")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	sctx, stop := context.WithCancel(ctx)
	done := make(chan string, 1)
	go func() {
		_, errOut, code := pdaHQ(t, sctx, "serve", "--db", db, "--listen", addr, "--log-level", "info")
		if code != 0 {
			errOut = "exit " + errOut
		}
		done <- errOut
	}()
	dev := mustKey(t)
	signed := func() (*http.Response, error) {
		req, _ := http.NewRequest("GET", "http://"+addr+protocol.BundlePath("P9"), nil)
		if err := protocol.Sign(req, "P9", dev, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		return http.DefaultClient.Do(req)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := signed()
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case out := <-done:
			t.Fatalf("serve on a missing database ended: %s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up on a missing database: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("serve did not create the database: %v", err)
	}
	pem, err := gm.PublicKeyPEM(&dev.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := pdaHQ(t, ctx, "enroll", "--db", db, "--device", "P9", "--store", "S9", "--key", string(pem)); code != 0 {
		t.Fatalf("enroll while serving: %d %s %s", code, out, errOut)
	}
	if out, errOut, code := pdaHQ(t, ctx, "status", "--db", db); !strings.Contains(out, "P9") {
		t.Errorf("status after enroll: %d %s %s", code, out, errOut)
	}
	stop()
	select {
	case out := <-done:
		if strings.HasPrefix(out, "exit") || !strings.Contains(out, "created an empty HQ database") {
			t.Errorf("serve: %s", out)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

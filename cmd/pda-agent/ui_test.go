package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/agent/api"
	"github.com/pda-agent/pda-agent/configs"
)

// TestUIPairing: `ui --pair` prints a QR code, a one-time https link and
// the certificate's fingerprint; a client that checks that fingerprint
// pairs with the link; `ui --list` shows the handheld and `ui --revoke`
// unpairs it.
func TestUIPairing(t *testing.T) {
	dataDir, cfgDir := t.TempDir(), t.TempDir()
	config := func(listen string) string {
		return writeFile(t, cfgDir, "config.yaml", fmt.Sprintf("device: {id: UI1}\ndata_dir: %s\nfeedback: {log: false}\n"+
			"api: {listen: %q, lan: {enabled: true, listen: \"127.0.0.1:0\"}}\n", dataDir, listen))
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
	srv, err := api.New(a, api.Options{Listen: c.API.Listen, TokenFile: c.APITokenFile(), Logger: quiet,
		LAN: &api.LANOptions{Listen: c.API.LAN.Listen, CertFile: c.LANCertFile(), KeyFile: c.LANKeyFile(), DevicesFile: c.PairedDevicesFile()}})
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = a.Run(ctx) }()
	go func() { defer wg.Done(); _ = srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); a.Close() })
	deadline := time.Now().Add(5 * time.Second)
	for srv.Addr() == nil || srv.LANAddr() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the API did not start listening")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cfgFile := config(srv.Addr().String())

	out, errOut, code := execCLI(t, "ui", "--config", cfgFile, "--pair", "--name", "收货1")
	if code != 0 {
		t.Fatalf("ui --pair: %d %s", code, errOut)
	}
	link := regexp.MustCompile(`https://\S+/pair\?code=\S+`).FindString(out)
	fp := regexp.MustCompile(`(?:[0-9A-F]{2}:){31}[0-9A-F]{2}`).FindString(out)
	if link == "" || fp != srv.LANFingerprint() || strings.Count(out, "█") < 100 {
		t.Fatalf("ui --pair printed:\n%s", out)
	}

	// A handheld's browser, checking the fingerprint it was shown.
	client := &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12,
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				sum := sha256.Sum256(raw[0])
				got := make([]string, len(sum))
				for i, b := range sum {
					got[i] = fmt.Sprintf("%02X", b)
				}
				if strings.Join(got, ":") != fp {
					return errors.New("certificate fingerprint differs from the one ui --pair printed")
				}
				return nil
			}}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("pairing link: %d", resp.StatusCode)
	}

	out, errOut, code = execCLI(t, "ui", "--config", cfgFile, "--list")
	if code != 0 || !strings.Contains(out, "pda1") || !strings.Contains(out, "收货1") || !strings.Contains(out, fp) {
		t.Fatalf("ui --list: %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = execCLI(t, "ui", "--config", cfgFile, "--revoke", "pda1")
	if code != 0 || !strings.Contains(out, "pda1 unpaired") {
		t.Fatalf("ui --revoke: %d\n%s%s", code, out, errOut)
	}
	if out, _, _ = execCLI(t, "ui", "--config", cfgFile, "--list"); !strings.Contains(out, "no paired handhelds") {
		t.Fatalf("ui --list after revoking:\n%s", out)
	}
	if _, errOut, code = execCLI(t, "ui", "--config", cfgFile, "--revoke", "pda1"); code == 0 || !strings.Contains(errOut, "no paired device pda1") {
		t.Fatalf("revoking twice: %d %s", code, errOut)
	}
	if _, errOut, code = execCLI(t, "ui", "--config", cfgFile, "--list", "--pair"); code != exitUsage {
		t.Fatalf("--list with --pair: %d %s", code, errOut)
	}
}

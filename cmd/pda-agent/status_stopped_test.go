package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
)

// TestStatusOfAStoppedAgentFleetAndLAN: without the agent, status reads
// the fleet client's state file and says DEGRADED with the reason when
// HQ's last bundle was refused or reverted after the last good one, as the
// running agent does; and it shows the LAN certificate's fingerprint when
// api.lan is on, nothing when it is off.
func TestStatusOfAStoppedAgentFleetAndLAN(t *testing.T) {
	dir := t.TempDir()
	// A queue file, as a stopped agent leaves it.
	s, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{BillPrefix: "FSS1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The LAN certificate a first start made.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "pda-agent test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "lan-cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	sum := sha256.Sum256(der)
	fingerprint := strings.ReplaceAll(fmt.Sprintf("% X", sum[:]), " ", ":")

	// HQ applied v5, then sent v6, which was refused.
	fleetDir := filepath.Join(dir, "fleet")
	if err := os.MkdirAll(fleetDir, 0o700); err != nil {
		t.Fatal(err)
	}
	state := func(appliedAt string) {
		writeFile(t, fleetDir, "state.json", `{"applied_version": 5, "applied_hash": "h5", "applied_at": "`+appliedAt+`",
 "last_failed_hash": "h6", "last_failed_version": 6, "last_failed_at": "2026-12-07T11:00:00Z",
 "last_failed_error": "refused: bundle signature does not verify with fleet.hq_key"}`)
	}
	state("2026-12-07T10:00:00Z")

	// No agent answers on api.listen (a port just closed).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	config := func(lan bool) string {
		return writeFile(t, t.TempDir(), "local.yaml", fmt.Sprintf("device: {id: FSS1}\ndata_dir: %s\n"+
			"api: {listen: %q, lan: {enabled: %t, listen: \"127.0.0.1:8743\"}}\n"+
			"fleet: {enabled: true, url: \"http://127.0.0.1:1\", hq_key: AAAA}\n", dir, listen, lan))
	}
	cfgFile := config(true)

	out, errOut, code := execCLI(t, "status", "--config", cfgFile)
	if code != 1 {
		t.Fatalf("stopped agent: exit %d\n%s%s", code, out, errOut)
	}
	hasAll(t, "status", out, "STOPPED, DEGRADED", "agent not running; from the queue file",
		"fleet: HQ bundle v6 refused or reverted at ", "does not verify with fleet.hq_key; HQ config v5 stays in force",
		"LAN       127.0.0.1:8743 (TLS), certificate SHA-256 "+fingerprint)
	out, _, _ = execCLI(t, "status", "--json", "--config", cfgFile)
	var st agent.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if st.Health != agent.Stopped || !strings.Contains(st.Fleet, "v6") || !strings.Contains(strings.Join(st.Problems, "\n"), st.Fleet) ||
		st.LAN == nil || st.LAN.Fingerprint != fingerprint {
		t.Fatalf("status --json: %+v", st)
	}

	// A good bundle applied since: the failure is history; api.lan off:
	// no LAN line.
	state("2026-12-07T12:00:00Z")
	out, _, _ = execCLI(t, "status", "--config", config(false))
	hasAll(t, "status", out, "STOPPED")
	for _, not := range []string{"DEGRADED", "refused or reverted", "LAN ", "SHA-256"} {
		if strings.Contains(out, not) {
			t.Errorf("status says %q:\n%s", not, out)
		}
	}
}

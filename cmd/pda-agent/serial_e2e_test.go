//go:build linux

package main

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/pda-agent/pda-agent/queue"
)

// TestSerialScanThroughRunningAgent: a scanner on a pseudo-terminal (as a
// USB-COM scanner appears) feeds a real `pda-agent run`; the scans end up
// in the durable queue.
func TestSerialScanThroughRunningAgent(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer master.Close()
	slavePath := slave.Name()
	slave.Close() // the agent opens it by path, as it would /dev/ttyACM0

	dir := t.TempDir()
	config := writeFile(t, dir, "config.yaml", fmt.Sprintf(`device: {id: SER1}
data_dir: %s
log: {level: info}
api: {enabled: false}
scanners:
  - name: gun
    type: serial
    session: counter
    serial: {port: %s, baud: 9600, suffix: CRLF}
`, dir, slavePath))
	var stderr lockedBuffer
	p := startAgent(t, config, &stderr)
	defer func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
	}()
	// Wait until the agent holds the port, then scan like a gun: codes
	// framed with CRLF, a commands card, one mangled read.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), slavePath) {
		if time.Now().After(deadline) {
			t.Fatalf("agent never opened %s:\n%s", slavePath, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, line := range []string{"PDA:SALE", "81012350000000157474", "]d201069012345678921728123110LOT1\x1d21SER9", "6901234567892", "PDA:FINISH"} {
		if _, err := io.WriteString(master, line+"\r\n"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
	}
	for !strings.Contains(stderr.String(), "finished") {
		if time.Now().After(deadline) {
			t.Fatalf("the bill was never finished:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}

	s, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, _ := s.Stats()
	if st.Bills[queue.BillFinished] != 1 || st.Scans["accepted"] != 2 || st.Scans["rejected:product_barcode"] != 1 {
		t.Fatalf("queue after serial scans: %+v\n%s", st, stderr.String())
	}
	var items []queue.Item
	s.ForEachBill(func(b queue.Bill) bool {
		items, _ = s.Items(b.ID)
		return false
	})
	if len(items) != 2 || items[0].Code != "81012350000000157474" || items[1].Kind != "gs1" || items[0].Source != "gun" {
		t.Fatalf("items %+v", items)
	}
}

// TestSerialStopAndLockRunningAgents: two real agents configured for one
// scanner port. The second is refused, naming the first's pid (both run
// as root in CI, where TIOCEXCL alone lets both in); SIGTERM stops the
// first within 2 s though its scanner is silent, and the second then
// takes the port and stops as promptly.
func TestSerialStopAndLockRunningAgents(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer master.Close()
	slavePath := slave.Name()
	slave.Close()

	agent := func(id string) (*agentProc, *lockedBuffer) {
		dir := t.TempDir()
		config := writeFile(t, dir, "config.yaml", fmt.Sprintf(`device: {id: %s}
data_dir: %s
log: {level: info}
api: {enabled: false}
scanners:
  - name: gun
    type: serial
    session: counter
    serial: {port: %s, suffix: CRLF, reconnect_min: 20ms, reconnect_max: 100ms}
`, id, dir, slavePath))
		var stderr lockedBuffer
		p := startAgent(t, config, &stderr)
		t.Cleanup(func() {
			_ = p.cmd.Process.Kill()
			<-p.done
		})
		return p, &stderr
	}
	waitLog := func(what string, stderr *lockedBuffer) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(stderr.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log:\n%s", what, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	stop := func(p *agentProc, stderr *lockedBuffer) {
		t.Helper()
		began := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("agent still running 10 s after SIGTERM:\n%s", stderr.String())
		}
		// 2 s for the serial source, and a margin for a loaded machine.
		d := time.Since(began)
		if d > 3*time.Second {
			t.Fatalf("agent took %v to stop after SIGTERM:\n%s", d, stderr.String())
		}
		t.Logf("stopped %v after SIGTERM", d)
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("exit %d:\n%s", code, stderr.String())
		}
	}

	first, firstLog := agent("SER1")
	waitLog("serial port open", firstLog)
	second, secondLog := agent("SER2")
	waitLog(fmt.Sprintf("%s is in use by pid %d (pda-agent), which holds its lock", slavePath, first.cmd.Process.Pid), secondLog)
	if strings.Contains(secondLog.String(), "serial port open") {
		t.Fatalf("the second agent opened the port too:\n%s", secondLog.String())
	}

	time.Sleep(200 * time.Millisecond) // silent: no byte arrives
	stop(first, firstLog)
	waitLog("serial port open", secondLog)
	stop(second, secondLog)
}

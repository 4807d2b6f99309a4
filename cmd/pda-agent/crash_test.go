package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	msfxsb "github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	"github.com/pda-agent/pda-agent/upload/webhook/sandbox"
)

// agentProc is a real pda-agent process fed through its stdin scanner.
type agentProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	acks  chan string // one echo line per scan, in order
	done  chan struct{}
}

func startAgent(t *testing.T, config string, stderr io.Writer) *agentProc {
	t.Helper()
	cmd := exec.Command(binary, "run", "--config", config)
	cmd.Env = cleanEnv()
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &agentProc{cmd: cmd, stdin: stdin, acks: make(chan string, 1<<16), done: make(chan struct{})}
	go func() {
		defer close(p.acks)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.acks <- sc.Text()
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p
}

const crashConfig = `device: {id: CRASH1}
data_dir: %s
log: {level: warn}
queue: {headroom: 256KiB}
sessions: {default_type: 102, default_partner: ` + msfxsb.DefaultSupplierEntID + `}
api: {enabled: false}
scanners:
  - {name: gun, type: stdin, echo: true}
upload: {lease: 5s, initial_backoff: 20ms, max_backoff: 300ms}
msfx:
  enabled: true
  gateway: %s
  app_key: "` + msfxsb.DefaultStoreAppKey + `"
  app_secret: ` + msfxsb.DefaultStoreSecret + `
  ref_ent_id: "` + msfxsb.DefaultStoreRefEntID + `"
  ent_id: ` + msfxsb.DefaultStoreEntID + `
  rate: 0
  timeout: 1s
  poll_interval: 1s
  concurrency: 4
webhook:
  enabled: true
  url: %s
  key_id: crash
  secret: crash-test-secret-0123456789
  timeout: 1s
  concurrency: 3
`

// unknownPartner is an ent_id the msfx sandbox does not know: its bills
// are refused for good there (dead letters), taken by the webhook.
const unknownPartner = "0123456789abcdef0123456789abcdef"

// crashCycles is the fault suite's sigkill class: it kills a real agent
// with SIGKILL at random moments while scans stream in and uploads run
// against the strict sandboxes (which also inject faults), restarts it,
// and proves: every scan acknowledged before a kill is in the queue exactly
// once, no code is on two bills, and every finished bill reached the back
// ends exactly once with the same codes.
func crashCycles(t *testing.T, cycles int) faultRow {
	sb, err := sandbox.Start("127.0.0.1:0", sandbox.Options{KeyID: "crash", Secret: "crash-test-secret-0123456789", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	gw, err := msfxsb.Start("127.0.0.1:0", msfxsb.Options{Apps: msfxsb.DefaultApps(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	dir := t.TempDir()
	config := writeFile(t, dir, "config.yaml", fmt.Sprintf(crashConfig, dir, gw.URL(), sb.URL()))
	var stderr lockedBuffer

	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	acked := map[string]string{} // code → last echo status
	var unacked []string         // sent, no answer before the kill: resent next cycle
	next := 0
	newCode := func() string {
		next++
		return fmt.Sprintf("8101235%09d%04d", next, next%10000)
	}
	lines := 0
	for cycle := 0; cycle < cycles; cycle++ {
		switch cycle % 3 {
		case 1:
			sb.InjectFaults(sandbox.FaultApplyThenTimeout, sandbox.FaultHTTP500)
			gw.InjectFaults(msfxsb.FaultApplyThenTimeout, msfxsb.FaultHTTP500, msfxsb.FaultISP)
		case 2:
			gw.InjectFaults(msfxsb.FaultBan, msfxsb.FaultBusy, msfxsb.FaultHTTP502HTML)
		}
		p := startAgent(t, config, &stderr)
		killAt := time.Now().Add(time.Duration(80+rng.IntN(400)) * time.Millisecond)
		sent := append([]string(nil), unacked...)
		unacked = nil
		var inflight []string
		write := func(line string) bool {
			if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
				return false
			}
			inflight = append(inflight, line)
			lines++
			return true
		}
		// Send in small bursts, reading answers as they come, until the kill.
		for _, c := range sent {
			write(c)
		}
		for time.Now().Before(killAt) {
			for i := 0; i < 1+rng.IntN(8); i++ {
				line := newCode()
				switch n := rng.IntN(150); {
				case n < 12:
					line = "PDA:FINISH"
				case n == 12:
					// A receiving from a partner the platform does not know.
					write("PDA:FINISH")
					line = "PDA:RECEIVE:" + unknownPartner
				}
				if !write(line) {
					break
				}
			}
			drainAcks(p, &inflight, acked, 5*time.Millisecond)
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		// The process is gone: every answer it wrote is in the pipe.
		for line := range p.acks {
			if len(inflight) > 0 {
				matchAck(line, &inflight, acked)
			}
		}
		for _, l := range inflight {
			if !strings.HasPrefix(l, "PDA:") {
				unacked = append(unacked, l)
			}
		}
	}

	// A last clean run: resend what was never answered, finish, let the
	// uploads drain, stop with SIGTERM.
	p := startAgent(t, config, &stderr)
	var inflight []string
	for _, c := range append(unacked, "PDA:FINISH") {
		io.WriteString(p.stdin, c+"\n")
		inflight = append(inflight, c)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(inflight) > 0 && time.Now().Before(deadline) {
		drainAcks(p, &inflight, acked, 100*time.Millisecond)
	}
	if len(inflight) > 0 {
		t.Fatalf("final run did not answer %d lines", len(inflight))
	}
	s := drainAndOpen(t, p, config, dir, &stderr, func() int { return len(sb.Bills()) + len(gw.Bills(msfxsb.DefaultStoreRefEntID)) })
	defer s.Close()
	if a := s.Alarms(); len(a) != 0 {
		t.Fatalf("alarms after crashes: %+v", a)
	}
	acks := map[ackKey]string{}
	for code, status := range acked {
		acks[ackKey{typ: 102, code: code}] = status
	}
	// The msfx refusals are dead letters carrying the platform's words.
	tl := compareLedgers(t, s, acks, backends{msfx: gw.Server, webhook: sb.Server,
		dead: func(b queue.Bill, dest string) bool { return dest == "msfx" && b.Partner == unknownPartner }})
	finished, dead := 0, 0
	if err := s.ForEachBill(func(b queue.Bill) bool {
		if b.State != queue.BillFinished {
			return true
		}
		finished++
		if b.Partner == unknownPartner {
			dead++
		}
		if ds, _ := s.Deliveries(b.ID); len(ds) != 2 {
			t.Errorf("bill %s has %d deliveries, want msfx and webhook", b.Code, len(ds))
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for _, status := range acked {
		if status == "ACCEPTED" || status == "DUPLICATE" {
			accepted++
		}
	}
	st, gst := sb.Stats(), gw.Stats()
	t.Logf("%d SIGKILL cycles, %d lines sent, %d codes acknowledged, %d bills finished, each delivered once to both back ends (%d refused for good by msfx, dead letters)",
		cycles, lines, accepted, finished, dead)
	t.Logf("webhook sandbox: %d requests, %d duplicates answered, faults %v; msfx sandbox: %d requests, %d duplicates answered, faults %v, rejected %v",
		st.Requests, st.Duplicates, st.Faults, gst.Requests, gst.Duplicates, gst.Faults, gst.Rejected)
	if accepted == 0 || finished == 0 {
		t.Fatal("the test exercised nothing")
	}
	injected := cycles // the kills
	for _, n := range st.Faults {
		injected += n
	}
	for _, n := range gst.Faults {
		injected += n
	}
	return faultRow{cycles: cycles, faults: injected, tally: tl}
}

// drainAcks matches echo lines to the oldest lines in flight, waiting up
// to wait for them.
func drainAcks(p *agentProc, inflight *[]string, acked map[string]string, wait time.Duration) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(*inflight) > 0 {
		select {
		case line, ok := <-p.acks:
			if !ok {
				return
			}
			matchAck(line, inflight, acked)
		case <-timer.C:
			return
		}
	}
}

func matchAck(line string, inflight *[]string, acked map[string]string) {
	status, _, _ := strings.Cut(line, " ")
	sent := (*inflight)[0]
	*inflight = (*inflight)[1:]
	if !strings.HasPrefix(sent, "PDA:") {
		acked[sent] = status
	}
}

// waitStable waits until count stops changing for quiet.
func waitStable(t *testing.T, count func() int, quiet, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	last, since := -1, time.Now()
	for ctx.Err() == nil {
		n := count()
		if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= quiet {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

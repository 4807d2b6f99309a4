package main

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	msfxsb "github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

// TestTCPStopAnswersEveryScan: a POS streams codes (and now and then a
// blank line) to a real agent's TCP scanner and the agent gets SIGTERM
// mid-stream, ten times over. Every line the agent read is answered in
// order before the connection closes: a blank one "REJECTED empty", the
// others ACCEPTED or, once the stop has begun, NOT RECORDED; and the
// codes on the bill are exactly the ones answered ACCEPTED — none is
// recorded without the POS hearing of it.
func TestTCPStopAnswersEveryScan(t *testing.T) {
	const stopping = "ERROR NOT RECORDED — the agent is stopping; scan again"
	for round := range 10 {
		dir := t.TempDir()
		port := freePort(t)
		config := writeFile(t, dir, "config.yaml", fmt.Sprintf(`device: {id: TCPSTOP}
data_dir: %s
log: {level: warn}
api: {enabled: false}
sessions: {default_type: 102, default_partner: %s}
scanners:
  - {name: pos, type: tcp, session: till, tcp: {listen: "127.0.0.1:%s", reply: true}}
`, dir, msfxsb.DefaultSupplierEntID, port))
		var stderr lockedBuffer
		p := startAgent(t, config, &stderr)
		var conn net.Conn
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.Dial("tcp", "127.0.0.1:"+port)
			if err == nil {
				conn = c
				break
			}
			if time.Now().After(deadline) {
				_ = p.cmd.Process.Kill()
				t.Fatalf("round %d: the TCP scanner never listened: %v\n%s", round, err, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}

		// The POS writes without waiting for answers, as a till that
		// pipelines does; lines[i] is the i-th line sent.
		lines := make(chan string, 1<<12)
		go func() {
			defer close(lines)
			for i := 0; ; i++ {
				l := seedCode(round*10000 + i)
				if i%7 == 3 {
					l = ""
				}
				if _, err := fmt.Fprintf(conn, "%s\n", l); err != nil {
					return
				}
				lines <- l
				time.Sleep(time.Millisecond)
			}
		}()
		stopAfter := 5 + 3*round // answers before the SIGTERM
		rd := bufio.NewReader(conn)
		var answers []string
		accepted := map[string]bool{}
		for {
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			a, err := rd.ReadString('\n')
			if err != nil {
				break // EOF after the last answer (or a reset after it)
			}
			answers = append(answers, strings.TrimSuffix(a, "\n"))
			if len(answers) == stopAfter {
				if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			}
		}
		conn.Close()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			t.Fatalf("round %d: agent did not stop:\n%s", round, stderr.String())
		}
		if len(answers) < stopAfter {
			t.Fatalf("round %d: %d answers before the connection closed, the stop came after %d:\n%s", round, len(answers), stopAfter, stderr.String())
		}
		sawStop := false
		for i, a := range answers {
			l, ok := <-lines
			if !ok {
				t.Fatalf("round %d: answer %d %q to a line never sent", round, i, a)
			}
			switch {
			case l == "":
				if a != "REJECTED empty" {
					t.Fatalf("round %d: blank line %d answered %q", round, i, a)
				}
			case a == stopping:
				sawStop = true
			case strings.HasPrefix(a, "ACCEPTED") && !sawStop:
				accepted[l] = true
			default:
				t.Fatalf("round %d: line %d %q answered %q", round, i, l, a)
			}
		}

		s, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		recorded := map[string]bool{}
		s.ForEachBill(func(b queue.Bill) bool {
			items, _ := s.Items(b.ID)
			for _, it := range items {
				recorded[it.Code] = true
			}
			return true
		})
		s.Close()
		for c := range recorded {
			if !accepted[c] {
				t.Errorf("round %d: %s is on the bill but the POS was never told", round, c)
			}
		}
		for c := range accepted {
			if !recorded[c] {
				t.Errorf("round %d: %s answered ACCEPTED but not on the bill", round, c)
			}
		}
		t.Logf("round %d: %d answers, %d accepted", round, len(answers), len(accepted))
	}
}

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

	"github.com/pda-agent/pda-agent/gm"
	"github.com/pda-agent/pda-agent/queue"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// TestNHSAWriteAheadSurvivesSIGKILL: the platform applies a 3505 and its
// answer never comes; the real agent is killed with SIGKILL while the
// request hangs, between the platform applying the message and the agent
// reading the answer. After the restart the agent resends the very msgid it
// committed to the queue before sending (write-ahead), and the platform
// answers it from its memory: the sale is on the platform once, under one
// msgid, and the bill is delivered.
func TestNHSAWriteAheadSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "products.csv", nhsaProducts)
	writeFile(t, dir, "partners.csv", nhsaPartners)
	opts := nhsasb.TestOptions("x-tif", "plain")
	opts.Logger = slog.New(slog.DiscardHandler)
	keyFile := nhsaChannelKey(t, dir, "test", &opts)
	sb, err := nhsasb.Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	cfg := fmt.Sprintf(nhsaConfigTmpl, dir, "test", sb.URL(), keyFile, gm.PublicKeyBase64(&opts.PlatformKey.PublicKey), "x-tif", "plain")
	// One delivery slot, and a request that hangs longer than the test
	// needs to kill the agent but less than the lease.
	cfg = strings.Replace(cfg, "  concurrency: 2\n", "  concurrency: 1\n", 1)
	cfg = strings.Replace(cfg, "  timeout: 1s\n", "  timeout: 4s\n", 1)
	if !strings.Contains(cfg, "timeout: 4s") || !strings.Contains(cfg, "concurrency: 1") {
		t.Fatal("the config template changed")
	}
	config := writeFile(t, dir, "config.yaml", cfg)

	code := func(n int) string { return fmt.Sprintf("8101235%09d%04d", n, n) }
	receive := []string{"PDA:CANCEL", "PDA:RECEIVE:5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4", "PDA:LOT:B0001:2025-06-01:2027-05-31", code(1), code(2), "PDA:FINISH"}
	sale := []string{"PDA:CANCEL", "PDA:SALE", "PDA:SET:nhsa.mdtrt_sn=MD000001", "PDA:SET:nhsa.setl_id=SE000001",
		"PDA:SET:nhsa.psn_no=PSN0001", "PDA:SET:nhsa.psn_cert_type=01", "PDA:SET:nhsa.psn_name=张三",
		"PDA:SET:nhsa.hi_feesetl_type=1", "PDA:SET:nhsa.mdtrt_setl_type=1", "PDA:SET:nhsa.prsc_dr_name=王医生",
		"PDA:SET:nhsa.rx_circ_flag=0", code(1), "PDA:FINISH"}
	var stderr lockedBuffer
	play := func(p *agentProc, lines []string) {
		t.Helper()
		for _, line := range lines {
			if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
				t.Fatalf("%q: %v\n%s", line, err, stderr.String())
			}
			select {
			case ack, ok := <-p.acks:
				if !ok || strings.HasPrefix(ack, "ERROR") {
					t.Fatalf("%q: %q\n%s", line, ack, stderr.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no answer to %q", line)
			}
		}
	}
	waitFor := func(what string, limit time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\n%s", what, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	p := startAgent(t, config, &stderr)
	play(p, receive)
	waitFor("the purchase on the platform", 20*time.Second, func() bool { return len(sb.Rows()) > 0 })
	waitStable(t, func() int { return len(sb.Rows()) }, 500*time.Millisecond, 20*time.Second)
	before := map[string]bool{}
	for _, r := range sb.Rows() {
		before[r.Msgid] = true
	}
	n0 := len(sb.Rows())

	// The sale's request is applied, and its answer held back.
	sb.InjectFaults(nhsasb.FaultApplyThenTimeout)
	play(p, sale)
	waitFor("the sale applied", 20*time.Second, func() bool { return len(sb.Rows()) > n0 })
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	applied := sb.Rows()[n0:]
	if len(applied) != 1 || before[applied[0].Msgid] {
		t.Fatalf("rows applied by the sale: %+v", applied)
	}
	msgid := applied[0].Msgid
	dupBefore := sb.Stats().DuplicateMsgids

	// The queue holds the attempt, written before the request left.
	s, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{Logger: slog.New(slog.DiscardHandler), PersonalKey: deviceKey(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	var saleID uint64
	_ = s.ForEachBill(func(b queue.Bill) bool {
		if b.Type == 321 {
			saleID = b.ID
		}
		return true
	})
	ds, err := s.Deliveries(saleID)
	if err != nil || len(ds) != 1 || !strings.Contains(ds[0].Progress, `"state":"sending"`) || !strings.Contains(ds[0].Progress, msgid) || !ds[0].Unknown {
		t.Fatalf("after the kill the delivery must hold the attempt in flight (msgid %s): %+v %v", msgid, ds, err)
	}
	s.Close()

	p = startAgent(t, config, &stderr)
	waitFor("the resend answered from the platform's memory", 30*time.Second, func() bool { return sb.Stats().DuplicateMsgids > dupBefore })
	s = drainAndOpen(t, p, config, dir, &stderr, func() int { return len(sb.Rows()) })
	defer s.Close()

	rows := sb.Rows()
	if len(rows) != n0+1 {
		t.Fatalf("the platform has %d rows, want %d: the resend must not add one", len(rows), n0+1)
	}
	for _, r := range rows {
		if r.Applied != 1 {
			t.Errorf("row %+v applied %d times", r, r.Applied)
		}
	}
	if rows[n0].Msgid != msgid {
		t.Fatalf("the sale's row moved from msgid %s to %s", msgid, rows[n0].Msgid)
	}
	ds, err = s.Deliveries(saleID)
	if err != nil || len(ds) != 1 || ds[0].State != queue.DeliveryDone || ds[0].Attempts < 2 {
		t.Fatalf("the sale's delivery: %+v %v", ds, err)
	}
	t.Logf("msgid %s applied once; sandbox answered %d repeated msgid(s); delivery done after %d attempts",
		msgid, sb.Stats().DuplicateMsgids, ds[0].Attempts)
}

// TestNHSAPartsEndToEnd: with a small max_input_chars a sale goes to the
// sandbox in several messages, each with its own msgid and within the
// limit; a lost answer of one part is resent under its msgid after a
// SIGKILL, and every row is applied exactly once.
func TestNHSAPartsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "products.csv", nhsaProducts)
	writeFile(t, dir, "partners.csv", nhsaPartners)
	opts := nhsasb.TestOptions("x-tif", "plain")
	opts.Logger = slog.New(slog.DiscardHandler)
	keyFile := nhsaChannelKey(t, dir, "test", &opts)
	sb, err := nhsasb.Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	cfg := fmt.Sprintf(nhsaConfigTmpl, dir, "test", sb.URL(), keyFile, gm.PublicKeyBase64(&opts.PlatformKey.PublicKey), "x-tif", "plain")
	cfg = strings.Replace(cfg, "  concurrency: 2\n", "  concurrency: 1\n", 1)
	cfg = strings.Replace(cfg, "  timeout: 1s\n", "  timeout: 4s\n", 1)
	cfg = strings.Replace(cfg, "    recer_sys_code: ", "    max_input_chars: 2000\n    recer_sys_code: ", 1)
	if !strings.Contains(cfg, "max_input_chars: 2000") {
		t.Fatal("the config template changed")
	}
	config := writeFile(t, dir, "config.yaml", cfg)

	const packs = 7
	code := func(n int) string { return fmt.Sprintf("8101235%09d%04d", n, n) }
	receive := []string{"PDA:CANCEL", "PDA:RECEIVE:5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4"}
	sale := []string{"PDA:CANCEL", "PDA:SALE", "PDA:SET:nhsa.mdtrt_sn=MD000002", "PDA:SET:nhsa.setl_id=SE000002",
		"PDA:SET:nhsa.psn_no=PSN0001", "PDA:SET:nhsa.psn_cert_type=01", "PDA:SET:nhsa.psn_name=张三",
		"PDA:SET:nhsa.hi_feesetl_type=1", "PDA:SET:nhsa.mdtrt_setl_type=1", "PDA:SET:nhsa.prsc_dr_name=王医生",
		"PDA:SET:nhsa.rx_circ_flag=0"}
	for i := 1; i <= packs; i++ {
		// One lot per pack: one row per pack.
		receive = append(receive, fmt.Sprintf("PDA:LOT:B%04d:2025-06-01:2027-05-31", i), code(i))
		sale = append(sale, code(i))
	}
	receive = append(receive, "PDA:FINISH")
	sale = append(sale, "PDA:FINISH")
	var stderr lockedBuffer
	play := func(p *agentProc, lines []string) {
		t.Helper()
		for _, line := range lines {
			if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
				t.Fatalf("%q: %v\n%s", line, err, stderr.String())
			}
			select {
			case ack, ok := <-p.acks:
				if !ok || strings.HasPrefix(ack, "ERROR") {
					t.Fatalf("%q: %q\n%s", line, ack, stderr.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no answer to %q", line)
			}
		}
	}
	p := startAgent(t, config, &stderr)
	play(p, receive)
	waitStable(t, func() int { return len(sb.Rows()) }, 700*time.Millisecond, 20*time.Second)
	n0 := len(sb.Rows())
	if n0 != packs {
		t.Fatalf("the purchase made %d rows, want %d\n%s", n0, packs, stderr.String())
	}
	sb.InjectFaults(nhsasb.FaultApplyThenTimeout)
	play(p, sale)
	deadline := time.Now().Add(20 * time.Second)
	for len(sb.Rows()) == n0 {
		if time.Now().After(deadline) {
			t.Fatalf("the sale's first part never applied\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	firstMsgid := sb.Rows()[n0].Msgid

	p = startAgent(t, config, &stderr)
	s := drainAndOpen(t, p, config, dir, &stderr, func() int { return len(sb.Rows()) })
	defer s.Close()
	rows := sb.Rows()[n0:]
	msgids := map[string]int{}
	for _, r := range rows {
		if r.Applied != 1 {
			t.Errorf("row %+v applied %d times", r, r.Applied)
		}
		msgids[r.Msgid]++
	}
	if len(rows) != packs || len(msgids) < 3 || msgids[firstMsgid] == 0 || sb.Stats().DuplicateMsgids < 1 {
		t.Fatalf("%d sale rows in %d messages (%v), first part %s, %d repeated msgids",
			len(rows), len(msgids), msgids, firstMsgid, sb.Stats().DuplicateMsgids)
	}
	var sold queue.Delivery
	_ = s.ForEachBill(func(b queue.Bill) bool {
		if b.Type == 321 {
			ds, _ := s.Deliveries(b.ID)
			if len(ds) == 1 {
				sold = ds[0]
			}
		}
		return true
	})
	if sold.State != queue.DeliveryDone || strings.Count(sold.Result, ",") != len(msgids)-1 {
		t.Fatalf("the sale's delivery: %+v", sold)
	}
	t.Logf("%d rows in %d messages %v; the part in doubt resent under %s", len(rows), len(msgids), msgids, firstMsgid)
}

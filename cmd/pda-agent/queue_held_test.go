package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/keyfile"
	"github.com/pda-agent/pda-agent/queue"
)

// heldSeed is a queue with held 医保 sales: repairable (码上放心 has its
// bill, which uses no attr) and one whose 医保 attempt may have sent it.
type heldSeed struct {
	held, held2, sent string
	dataDir           string
}

func seedHeld(t *testing.T, dataDir string) heldSeed {
	t.Helper()
	ctx := context.Background()
	// The agent's file comes with its personal-data key: without it a tool
	// refuses to write a personal attr (the repair below sets one).
	raw, _, err := keyfile.DataKey(filepath.Join(dataDir, "personal.key"), queue.PersonalKeySize, true)
	if err != nil {
		t.Fatal(err)
	}
	k, err := queue.NewPersonalKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	s, err := queue.Open(filepath.Join(dataDir, "queue.db"), queue.Options{BillPrefix: "T1", Logger: slog.New(slog.DiscardHandler), PersonalKey: k})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sale := func(n int) queue.Bill {
		b, err := s.SubmitBill(ctx, queue.SessionSpec{Session: "till", Type: 321, Attrs: map[string]string{"nhsa.mdtrt_sn": "MD1", "nhsa.setl_id": "SE1"}},
			[]queue.ScanInput{{Code: seedCode(n), Key: seedCode(n), Kind: "msfx20", Product: "8101235", Lot: "L1"}}, queue.To("msfx", "nhsa"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sd := heldSeed{held: sale(1).Code, held2: sale(2).Code, sent: sale(3).Code, dataDir: dataDir}
	msfxLeases, err := s.Lease(ctx, "msfx", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range msfxLeases {
		if err := s.Ack(ctx, l.Bill.ID, "msfx", queue.AckInfo{Ref: "MSFX-1"}); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := s.Lease(ctx, "nhsa", 10, time.Minute)
	if err != nil || len(ls) != 3 {
		t.Fatalf("lease: %v %d", err, len(ls))
	}
	for _, l := range ls {
		r := queue.Retry{At: time.Now().Add(time.Hour), Error: "held back: nhsa[test] 3505 bill " + l.Bill.Code + " lacks data: prsc_dr_name: bill attr nhsa.prsc_dr_name is empty",
			Missing: []queue.Missing{{Field: "prsc_dr_name", Source: "attr nhsa.prsc_dr_name", Detail: "开方医师姓名（prsc_dr_name）: bill attr nhsa.prsc_dr_name is empty"}}}
		if l.Bill.Code == sd.sent {
			r = queue.Retry{At: time.Now().Add(time.Hour), Error: "HTTP 503", MaybeApplied: true}
		}
		if err := s.Nack(ctx, l.Bill.ID, "nhsa", l.Delivery.Lease, r); err != nil {
			t.Fatal(err)
		}
	}
	return sd
}

func exerciseHeldCommands(t *testing.T, cfg string, sd heldSeed, viaAPI bool) {
	out, _ := mustCLI(t, "queue", "list", "--config", cfg)
	if !strings.Contains(out, "nhsa pending (HELD: lacks data)") {
		t.Errorf("list does not show the held deliveries:\n%s", out)
	}
	out, _ = mustCLI(t, "queue", "show", sd.held, "--config", cfg)
	if !strings.Contains(out, "HELD on this device, never sent") || !strings.Contains(out, "prsc_dr_name from attr nhsa.prsc_dr_name") {
		t.Errorf("show:\n%s", out)
	}

	// The repair: 码上放心 has the bill already, but uses no attr.
	out, _ = mustCLI(t, "queue", "set", sd.held, "nhsa.prsc_dr_name=王医生", "nhsa.setl_id=", "--config", cfg)
	if !strings.Contains(out, "nhsa.prsc_dr_name=王医生") || strings.Contains(out, "nhsa.setl_id") || !strings.Contains(out, "nhsa: looked at") {
		t.Errorf("set said %q", out)
	}
	out, _ = mustCLI(t, "queue", "show", sd.held, "--config", cfg)
	if !strings.Contains(out, "attrs changed: nhsa.prsc_dr_name set, nhsa.setl_id deleted") {
		t.Errorf("the change is not in the history:\n%s", out)
	}
	// Refused where 医保 may already have it, with the reason.
	_, errOut, code := runCLI(t, "", "queue", "set", sd.sent, "nhsa.prsc_dr_name=王医生", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, "may already have received it") {
		t.Errorf("set on a sent bill: exit %d %s", code, errOut)
	}
	if viaAPI && !strings.Contains(errOut, "already_sent") {
		t.Errorf("the API's reason is not passed on: %s", errOut)
	}
	// An attr no destination sends may still change.
	mustCLI(t, "queue", "set", sd.sent, "pos.receipt=R1", "--config", cfg)
	if _, _, code := runCLI(t, "", "queue", "set", sd.held, "novalue", "--config", cfg); code != exitUsage {
		t.Errorf("set without key=value: exit %d", code)
	}

	// retry and drop work on held deliveries (and still refuse others).
	if out, _ := mustCLI(t, "queue", "retry", sd.held2, "nhsa", "--config", cfg); !strings.Contains(out, "due now") {
		t.Errorf("retry of a held delivery said %q", out)
	}
	if _, _, code := runCLI(t, "", "queue", "retry", sd.sent, "nhsa", "--config", cfg); code != 1 {
		t.Errorf("retry of a failing delivery: exit %d", code)
	}
	out, _ = mustCLI(t, "queue", "drop", sd.held2, "nhsa", "--reason", "a cash sale after all", "--yes", "--config", cfg)
	if !strings.Contains(out, "dropped "+sd.held2) {
		t.Errorf("drop said %q", out)
	}
	out, _ = mustCLI(t, "queue", "show", sd.held2, "--config", cfg)
	if !strings.Contains(out, "nhsa: dropped") || !strings.Contains(out, "(held, never sent): a cash sale after all") {
		t.Errorf("show after drop:\n%s", out)
	}
}

func TestQueueHeldOnTheFile(t *testing.T) {
	sd := seedHeld(t, t.TempDir())
	cfg := writeQueueConfig(t, sd.dataDir, "127.0.0.1:"+freePort(t))
	exerciseHeldCommands(t, cfg, sd, false)
}

func TestQueueHeldThroughTheAgentAPI(t *testing.T) {
	sd := seedHeld(t, t.TempDir())
	ra := startInProcessAgent(t, sd.dataDir)
	exerciseHeldCommands(t, ra.cfg, sd, true)
}

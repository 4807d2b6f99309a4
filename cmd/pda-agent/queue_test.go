package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/agent/api"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/queue"
)

// seeded is what seedQueue put in a queue file.
type seeded struct {
	deadMsfx  string // 3 codes; msfx dead, webhook done
	failing   string // 2 codes; msfx pending after a failed attempt
	deadNHSA  string // 1 code; nhsa dead
	open      string // an open bill without codes
	dataDir   string
	queueFile string
}

func seedCode(n int) string { return fmt.Sprintf("8101235%013d", n) }

// seedQueue writes a queue file with bills in every state the commands
// show, through the queue package as the agent would.
func seedQueue(t *testing.T, dataDir string) seeded {
	t.Helper()
	ctx := context.Background()
	s, err := queue.Open(filepath.Join(dataDir, "queue.db"), queue.Options{BillPrefix: "T1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	submit := func(first, n int, dests ...string) queue.Bill {
		var codes []queue.ScanInput
		for i := first; i < first+n; i++ {
			codes = append(codes, queue.ScanInput{Code: seedCode(i), Key: seedCode(i), Kind: "msfx20", Product: "8101235", Lot: "L1"})
		}
		b, err := s.SubmitBill(ctx, queue.SessionSpec{Session: "erp", Type: 102, Partner: "某医药批发有限公司",
			Attrs: map[string]string{"note": "seed"}}, codes, queue.To(dests...))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sd := seeded{dataDir: dataDir, queueFile: filepath.Join(dataDir, "queue.db")}
	sd.deadMsfx = submit(0, 3, "msfx", "webhook").Code
	sd.failing = submit(10, 2, "msfx").Code
	sd.deadNHSA = submit(20, 1, "nhsa").Code
	b, _, err := s.OpenSession(ctx, queue.SessionSpec{Session: "dock", Type: 102})
	if err != nil {
		t.Fatal(err)
	}
	sd.open = b.Code

	for _, dest := range []string{"msfx", "webhook", "nhsa"} {
		ls, err := s.Lease(ctx, dest, 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			id, lease := l.Bill.ID, l.Delivery.Lease
			switch {
			case dest == "webhook":
				err = s.Ack(ctx, id, dest, queue.AckInfo{Ref: "WH-REF-1"})
			case l.Bill.Code == sd.failing:
				err = s.Nack(ctx, id, dest, lease, queue.Retry{At: time.Now().Add(time.Hour), Error: "HTTP 502 from the gateway"})
			case dest == "msfx":
				err = s.Dead(ctx, id, dest, lease, "isv.invalid-parameter: 单据类型错误", "")
			default:
				err = s.Dead(ctx, id, dest, lease, "3503 失败: 医保目录编码不存在", "")
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return sd
}

func writeQueueConfig(t *testing.T, dataDir, listen string) string {
	t.Helper()
	return writeFile(t, t.TempDir(), "config.yaml", fmt.Sprintf("device: {id: T1}\ndata_dir: %s\napi: {listen: %q}\nfeedback: {log: false}\n", dataDir, listen))
}

// runCLI runs pda-agent in this process, as main does.
func runCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	err := root.Execute()
	code := 0
	if err != nil {
		code = exitFailure
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		fmt.Fprintln(&errOut, "pda-agent:", err)
	}
	return out.String(), errOut.String(), code
}

func mustCLI(t *testing.T, args ...string) (string, string) {
	t.Helper()
	out, errOut, code := runCLI(t, "", args...)
	if code != 0 {
		t.Fatalf("pda-agent %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out, errOut
}

type listEntry struct {
	Bill       queue.Bill       `json:"bill"`
	Deliveries []queue.Delivery `json:"deliveries"`
}

func listCodes(t *testing.T, cfg string, extra ...string) []string {
	t.Helper()
	out, _ := mustCLI(t, append([]string{"queue", "list", "--config", cfg, "--json"}, extra...)...)
	var entries []listEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	var codes []string
	for _, e := range entries {
		codes = append(codes, e.Bill.Code)
	}
	return codes
}

func sameList(got []string, want ...string) bool {
	return strings.Join(got, ",") == strings.Join(want, ",")
}

// exerciseQueueCommands runs every operator command against the seeded
// queue through whatever the config leads to, and checks what each says
// and does. wantVia is the start of the "via …" line.
func exerciseQueueCommands(t *testing.T, cfg string, sd seeded, wantVia string) {
	// list: newest first, and each filter.
	out, errOut := mustCLI(t, "queue", "list", "--config", cfg)
	if !strings.Contains(errOut, "via "+wantVia) {
		t.Fatalf("list did not say it used %s: %q", wantVia, errOut)
	}
	for _, want := range []string{"msfx DEAD, webhook done", "msfx pending (failing, 1 attempt)", "nhsa DEAD", sd.open} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[0] == sd.deadMsfx && strings.Join(f[1:4], " ") != "102 finished 3" {
			t.Errorf("list line %q", line)
		}
	}
	if got := listCodes(t, cfg); !sameList(got, sd.open, sd.deadNHSA, sd.failing, sd.deadMsfx) {
		t.Errorf("list order %v", got)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--dead"}, []string{sd.deadNHSA, sd.deadMsfx}},
		{[]string{"--dead", "--dest", "nhsa"}, []string{sd.deadNHSA}},
		{[]string{"--dest", "webhook"}, []string{sd.deadMsfx}},
		{[]string{"--dest", "msfx", "--limit", "1"}, []string{sd.failing}},
		{[]string{"--state", "open"}, []string{sd.open}},
		{[]string{"--since", "1h"}, []string{sd.open, sd.deadNHSA, sd.failing, sd.deadMsfx}},
		{[]string{"--since", time.Now().Add(time.Hour).Format(time.RFC3339)}, nil},
	} {
		if got := listCodes(t, cfg, tc.args...); !sameList(got, tc.want...) {
			t.Errorf("list %v: %v, want %v", tc.args, got, tc.want)
		}
	}

	// show: codes, the platform's answer, history.
	out, _ = mustCLI(t, "queue", "show", sd.deadMsfx, "--config", cfg)
	for _, want := range []string{"type          102 采购入库", "codes (3)", seedCode(2), "msfx: dead, 1 attempt",
		"platform answer: isv.invalid-parameter: 单据类型错误", "webhook: done", "platform reference: WH-REF-1", "history (", "dead letter"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	out, _ = mustCLI(t, "queue", "show", sd.failing, "--config", cfg, "--json")
	var r queue.BillRecord
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Items) != 2 || len(r.Deliveries) != 1 || r.Deliveries[0].LastError != "HTTP 502 from the gateway" {
		t.Errorf("show --json: %v %+v", err, r)
	}
	if _, errOut, code := runCLI(t, "", "queue", "show", "T1-NOPE", "--config", cfg); code != 1 || !strings.Contains(errOut, "T1-NOPE") {
		t.Errorf("show of an unknown bill: exit %d %s", code, errOut)
	}

	// retry one; retrying what is not dead is refused.
	out, _ = mustCLI(t, "queue", "retry", sd.deadMsfx, "msfx", "--config", cfg)
	if !strings.Contains(out, "back in the queue, due now") {
		t.Errorf("retry said %q", out)
	}
	if got := listCodes(t, cfg, "--dead"); !sameList(got, sd.deadNHSA) {
		t.Errorf("dead after retry: %v", got)
	}
	if _, _, code := runCLI(t, "", "queue", "retry", sd.failing, "msfx", "--config", cfg); code != 1 {
		t.Errorf("retry of a pending delivery: exit %d", code)
	}
	if _, _, code := runCLI(t, "", "queue", "retry", "--all-dead", sd.failing, "msfx", "--config", cfg); code != exitUsage {
		t.Errorf("--all-dead with arguments: exit %d", code)
	}

	// drop: a script must say --yes; then it is on record.
	if _, errOut, code := runCLI(t, "", "queue", "drop", sd.deadNHSA, "nhsa", "--reason", "entered by hand", "--config", cfg); code != exitUsage || !strings.Contains(errOut, "--yes") {
		t.Errorf("drop without --yes from a non-terminal: exit %d %s", code, errOut)
	}
	if _, _, code := runCLI(t, "", "queue", "drop", sd.deadNHSA, "nhsa", "--yes", "--config", cfg); code != exitUsage {
		t.Errorf("drop without --reason: exit %d", code)
	}
	if _, errOut, code := runCLI(t, "", "queue", "drop", sd.failing, "msfx", "--reason", "x", "--yes", "--config", cfg); code != 1 || !strings.Contains(errOut, "neither a dead letter nor held") {
		t.Errorf("drop of a pending delivery: exit %d %s", code, errOut)
	}
	out, _ = mustCLI(t, "queue", "drop", sd.deadNHSA, "nhsa", "--reason", "entered by hand in the 医保 console", "--yes", "--config", cfg)
	if !strings.Contains(out, "dropped "+sd.deadNHSA) {
		t.Errorf("drop said %q", out)
	}
	out, _ = mustCLI(t, "queue", "show", sd.deadNHSA, "--config", cfg)
	if !strings.Contains(out, "nhsa: dropped") || !strings.Contains(out, "entered by hand in the 医保 console") {
		t.Errorf("show after drop:\n%s", out)
	}
	out, _ = mustCLI(t, "queue", "retry", "--all-dead", "--config", cfg)
	if !strings.Contains(out, "no dead letters") {
		t.Errorf("retry --all-dead with none: %q", out)
	}

	// export, both formats.
	dir := t.TempDir()
	jsonl := filepath.Join(dir, "bills.jsonl")
	out, errOut = mustCLI(t, "queue", "export", "--format", "jsonl", "--out", jsonl, "--config", cfg)
	if !strings.Contains(out, "exported 4 bills") || !strings.Contains(errOut, "exported 4/4 bills") {
		t.Errorf("export said %q / %q", out, errOut)
	}
	data, err := os.ReadFile(jsonl)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 4 {
		t.Fatalf("jsonl has %d lines", len(lines))
	}
	var first queue.BillRecord
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Bill.Code != sd.deadMsfx || len(first.Items) != 3 || len(first.Deliveries) != 2 {
		t.Errorf("first jsonl record: %v %+v", err, first)
	}
	if fi, _ := os.Stat(jsonl); fi.Mode().Perm() != 0o600 {
		t.Errorf("export mode %v", fi.Mode())
	}
	csvFile := filepath.Join(dir, "bills.csv")
	mustCLI(t, "queue", "export", "--format", "csv", "--out", csvFile, "--config", cfg)
	data, _ = os.ReadFile(csvFile)
	if !bytes.HasPrefix(data, []byte("\uFEFFbill_code,")) {
		t.Errorf("csv does not start with the BOM and header: %q", data[:min(len(data), 40)])
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// header + 3 + 2 + 1 codes + the open bill's single row
	if len(rows) != 8 {
		t.Fatalf("csv has %d rows", len(rows))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	if r := rows[1]; r[col["code"]] != seedCode(0) || r[col["msfx_state"]] != "pending" || r[col["webhook_result"]] != "WH-REF-1" || r[col["bill_type_name"]] != "采购入库" {
		t.Errorf("first csv row %v", r)
	}
	if r := rows[6]; r[col["nhsa_state"]] != "dropped" || r[col["msfx_state"]] != "" {
		t.Errorf("nhsa row %v", r)
	}
	if r := rows[7]; r[col["bill_code"]] != sd.open || r[col["code"]] != "" {
		t.Errorf("open bill row %v", r)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*partial*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestQueueCommandsOnTheFile(t *testing.T) {
	sd := seedQueue(t, t.TempDir())
	cfg := writeQueueConfig(t, sd.dataDir, "127.0.0.1:"+freePort(t))
	exerciseQueueCommands(t, cfg, sd, "the queue file "+sd.queueFile+" (agent stopped)")

	// stats reads the file.
	out, _ := mustCLI(t, "queue", "stats", "--config", cfg)
	var st queue.Stats
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Bills[queue.BillFinished] != 3 || st.Bills[queue.BillOpen] != 1 || st.Dests["msfx"].Dead != 0 {
		t.Errorf("stats: %v %s", err, out)
	}

	// A config naming a data dir without a queue never creates one.
	empty := t.TempDir()
	_, errOut, code := runCLI(t, "", "queue", "list", "--config", writeQueueConfig(t, empty, "127.0.0.1:"+freePort(t)))
	if code != 1 || !strings.Contains(errOut, "has the agent run with this config?") {
		t.Errorf("missing queue file: exit %d %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(empty, "queue.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a queue file was created: %v", err)
	}
	// --via api with no agent says so.
	if _, errOut, code := runCLI(t, "", "queue", "list", "--via", "api", "--config", cfg); code != 1 || !strings.Contains(errOut, "no agent API at") {
		t.Errorf("--via api without an agent: exit %d %s", code, errOut)
	}
}

// runningAgent is a real agent with its local API on 127.0.0.1:0 over
// dataDir, and a config file naming the address it got.
type runningAgent struct {
	cfg  string
	addr string
	stop func()
}

func startInProcessAgent(t *testing.T, dataDir string) *runningAgent {
	t.Helper()
	c, err := configs.Load(writeQueueConfig(t, dataDir, "127.0.0.1:0"), nil)
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
	ra := &runningAgent{stop: func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			a.Close()
		})
	}}
	t.Cleanup(ra.stop)
	deadline := time.Now().Add(5 * time.Second)
	for srv.Addr() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the API did not start listening")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ra.addr = srv.Addr().String()
	ra.cfg = writeQueueConfig(t, dataDir, ra.addr)
	return ra
}

func TestQueueCommandsThroughTheAgentAPI(t *testing.T) {
	sd := seedQueue(t, t.TempDir())
	ra := startInProcessAgent(t, sd.dataDir)
	exerciseQueueCommands(t, ra.cfg, sd, "the running agent's local API at http://"+ra.addr)

	// The file is the agent's while it runs.
	if _, errOut, code := runCLI(t, "", "queue", "list", "--via", "file", "--config", ra.cfg); code != 1 || !strings.Contains(errOut, "locked") {
		t.Errorf("--via file while the agent runs: exit %d %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "", "queue", "stats", "--config", ra.cfg); code != 1 || !strings.Contains(errOut, "GET /v1/status") {
		t.Errorf("stats while the agent runs: exit %d %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "", "queue", "compact", "--config", ra.cfg); code != 1 || !strings.Contains(errOut, "the agent is running") {
		t.Errorf("compact while the agent runs: exit %d %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "", "queue", "list", "--limit", "1001", "--config", ra.cfg); code != exitUsage || !strings.Contains(errOut, "at most 1000") {
		t.Errorf("--limit over the API's page: exit %d %s", code, errOut)
	}
	// Once it is stopped, the same config falls back to the file.
	ra.stop()
	_, errOut := mustCLI(t, "queue", "list", "--config", ra.cfg)
	if !strings.Contains(errOut, "via the queue file") {
		t.Errorf("after the agent stopped: %q", errOut)
	}
}

func TestQueueRetryAllDeadWithProgress(t *testing.T) {
	sd := seedQueue(t, t.TempDir())
	cfg := writeQueueConfig(t, sd.dataDir, "127.0.0.1:"+freePort(t))
	out, errOut := mustCLI(t, "queue", "retry", "--all-dead", "--dest", "nhsa", "--config", cfg)
	if !strings.Contains(out, "retried 1 of 1 dead letters (nhsa 1)") || !strings.Contains(errOut, "retried 1/1 dead letters") {
		t.Errorf("retry --all-dead --dest nhsa: %q / %q", out, errOut)
	}
	if got := listCodes(t, cfg, "--dead"); !sameList(got, sd.deadMsfx) {
		t.Errorf("dead letters left: %v", got)
	}
	out, _ = mustCLI(t, "queue", "retry", "--all-dead", "--config", cfg)
	if !strings.Contains(out, "retried 1 of 1 dead letters (msfx 1); the agent sends it when it starts") {
		t.Errorf("retry --all-dead: %q", out)
	}
}

// TestExportThroughAPIPages: the API lists at most 1000 bills a page; an
// audit export through the running agent pages through all of them and
// writes what an export from the stopped agent's file writes.
func TestExportThroughAPIPages(t *testing.T) {
	dataDir := t.TempDir()
	s, err := queue.Open(filepath.Join(dataDir, "queue.db"), queue.Options{BillPrefix: "T1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent submissions share commits (group commit): quick to seed.
	const bills = 1003
	var wg sync.WaitGroup
	errs := make(chan error, bills)
	for w := 0; w < 17; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < bills; i += 17 {
				in := []queue.ScanInput{{Code: seedCode(i), Key: seedCode(i), Kind: "msfx20"}}
				if _, err := s.SubmitBill(context.Background(), queue.SessionSpec{Session: "erp", Type: 102}, in, queue.To("msfx")); err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ra := startInProcessAgent(t, dataDir)
	viaAPI := filepath.Join(t.TempDir(), "api.jsonl")
	_, errOut := mustCLI(t, "queue", "export", "--out", viaAPI, "--config", ra.cfg)
	fromAPI, _ := os.ReadFile(viaAPI)
	if n := strings.Count(string(fromAPI), "\n"); n != bills || !strings.Contains(errOut, "exported 1003/1003 bills") {
		t.Fatalf("export through the API: %d bills, %q", n, errOut)
	}
	// Stopped, the file gives the same.
	ra.stop()
	viaFile := filepath.Join(t.TempDir(), "file.jsonl")
	_, errOut = mustCLI(t, "queue", "export", "--out", viaFile, "--config", ra.cfg)
	fromFile, _ := os.ReadFile(viaFile)
	if !bytes.Equal(fromAPI, fromFile) {
		t.Fatalf("the API and file exports differ (%d and %d bytes): %q", len(fromAPI), len(fromFile), errOut)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                          {},
		"36h":                       now.Add(-36 * time.Hour),
		"2026-11-20":                time.Date(2026, 11, 19, 16, 0, 0, 0, time.UTC),
		"2026-11-20T08:00:00+08:00": time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC),
	} {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "-5h", "2026-13-01"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q) accepted", bad)
		}
	}
}

// TestQueueDropAsksOnATerminal: on a terminal, drop goes ahead only when
// the operator types the bill code.
func TestQueueDropAsksOnATerminal(t *testing.T) {
	sd := seedQueue(t, t.TempDir())
	cfg := writeQueueConfig(t, sd.dataDir, "127.0.0.1:"+freePort(t))
	drop := func(typed string) (string, int) {
		t.Helper()
		master, slave, err := pty.Open()
		if err != nil {
			t.Skipf("no pseudo-terminals here: %v", err)
		}
		defer master.Close()
		cmd := exec.Command(binary, "queue", "drop", sd.deadNHSA, "nhsa", "--reason", "entered by hand", "--config", cfg)
		cmd.Env = cleanEnv()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		slave.Close()
		var screen lockedBuffer
		copied := make(chan struct{})
		go func() { io.Copy(&screen, master); close(copied) }()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(screen.String(), "Type the bill code to confirm: ") {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no prompt:\n%s", screen.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		io.WriteString(master, typed+"\n")
		err = cmd.Wait()
		<-copied // the child's end closed: everything it wrote is read
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return screen.String(), code
	}
	screen, code := drop("T1-WRONG")
	if code != 1 || !strings.Contains(screen, "NEVER be delivered to nhsa") || !strings.Contains(screen, "医保目录编码不存在") || !strings.Contains(screen, "nothing dropped") {
		t.Fatalf("wrong code typed: exit %d\n%s", code, screen)
	}
	if got := listCodes(t, cfg, "--dead", "--dest", "nhsa"); !sameList(got, sd.deadNHSA) {
		t.Fatalf("dropped after a wrong confirmation: %v", got)
	}
	screen, code = drop(sd.deadNHSA)
	if code != 0 || !strings.Contains(screen, "dropped "+sd.deadNHSA) {
		t.Fatalf("confirmed: exit %d\n%s", code, screen)
	}
	if got := listCodes(t, cfg, "--dead", "--dest", "nhsa"); len(got) != 0 {
		t.Fatalf("still dead: %v", got)
	}
}

package main

import (
	"bufio"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	msfxsb "github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

const sandboxCmdConfig = `device: {id: SBX1}
data_dir: %[1]s
log: {level: warn}
api: {enabled: false}
scanners:
  - {name: gun, type: stdin, echo: true}
upload: {lease: 5s, initial_backoff: 20ms, max_backoff: 300ms}
catalogue: {products: %[1]s/products.csv, partners: %[1]s/partners.csv}
msfx: {rate: 0, poll_interval: 1s}
nhsa:
  rate: 0
  opter: SBX1
  opter_name: 张药师
  phar_name: 李药师
  phar_prac_cert_no: "0000000001"
`

func TestSandboxCommandRefusesUnknownShapes(t *testing.T) {
	for _, args := range [][]string{
		{"--msfx-layout", "sideways"},
		{"--nhsa-answer", "maybe"},
		{"--nhsa-input", "csv"},
		{"--nhsa-max-input", "0"},
	} {
		_, errOut, code := runBinary(t, nil, "", append([]string{"sandbox", "--msfx-addr", "127.0.0.1:0", "--webhook-addr", "127.0.0.1:0", "--nhsa-addr", "127.0.0.1:0"}, args...)...)
		if code != exitUsage || !strings.Contains(errOut, args[0]) {
			t.Errorf("sandbox %v: exit %d, %s", args, code, errOut)
		}
	}
}

// TestSandboxCommandShapes starts `pda-agent sandbox` with 码上放心 answering
// at the top level and 医保 answering per row, one row object per call, at
// most 2,000 characters of input; then an agent configured with nothing
// but the environment the command prints (and the store's own data)
// receives and sells three packs of their own lots. Both bills reach both
// sandboxes: 码上放心 takes two uploads; 医保 six rows in six requests.
func TestSandboxCommandShapes(t *testing.T) {
	sb := exec.Command(binary, "sandbox", "--msfx-addr", "127.0.0.1:0", "--webhook-addr", "127.0.0.1:0", "--nhsa-addr", "127.0.0.1:0",
		"--msfx-layout", "top-level", "--nhsa-answer", "per-row", "--nhsa-input", "object", "--nhsa-max-input", "2000")
	sb.Env = cleanEnv()
	var sbLog lockedBuffer
	sb.Stderr = &sbLog
	stdout, err := sb.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	stopped := false
	defer func() {
		if !stopped {
			sb.Process.Kill()
			sb.Wait()
		}
	}()
	var banner []string
	var env []string
	for len(banner) == 0 || !strings.HasPrefix(banner[len(banner)-1], "  PDA_WEBHOOK_") {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the sandbox ended: %s\n%s", strings.Join(banner, "\n"), sbLog.String())
			}
			banner = append(banner, l)
			if strings.HasPrefix(l, "  PDA_") && !strings.HasPrefix(l, "  PDA_WEBHOOK_") {
				env = append(env, strings.Fields(l)...)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no banner: %s", strings.Join(banner, "\n"))
		}
	}
	text := strings.Join(banner, "\n")
	for _, want := range []string{"answers in the top-level layout", "answers per_row, input object, input at most 2000 characters",
		"PDA_NHSA_INPUT_SHAPE=object", "PDA_NHSA_TEST_MAX_INPUT_CHARS=2000"} {
		if !strings.Contains(text, want) {
			t.Errorf("the banner does not say %q:\n%s", want, text)
		}
	}

	dir := t.TempDir()
	writeFile(t, dir, "products.csv", nhsaProducts)
	writeFile(t, dir, "partners.csv", nhsaPartners)
	config := writeFile(t, dir, "config.yaml", fmt.Sprintf(sandboxCmdConfig, dir))
	if out, errOut, code := runBinary(t, env, "", "validate", "--config", config); code != 0 {
		t.Fatalf("validate with the printed environment: %s%s", out, errOut)
	}
	agentCmd := exec.Command(binary, "run", "--config", config)
	agentCmd.Env = append(cleanEnv(), env...)
	var stderr lockedBuffer
	agentCmd.Stderr = &stderr
	stdin, err := agentCmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := agentCmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := agentCmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &agentProc{cmd: agentCmd, stdin: stdin, acks: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		defer close(p.acks)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.acks <- sc.Text()
		}
	}()
	go func() {
		_ = agentCmd.Wait()
		close(p.done)
	}()
	code := func(n int) string { return msfxsb.MakeCode(msfxsb.ProductAmoxicillin, 500+n) }
	script := []string{"PDA:RECEIVE:" + msfxsb.DefaultSupplierEntID}
	for i := 1; i <= 3; i++ {
		script = append(script, fmt.Sprintf("PDA:LOT:S%04d:2025-06-01:2027-05-31", i), code(i))
	}
	script = append(script, "PDA:FINISH", "PDA:SALE", "PDA:SET:nhsa.mdtrt_sn=MD000009", "PDA:SET:nhsa.setl_id=SE000009",
		"PDA:SET:nhsa.psn_no=PSN0001", "PDA:SET:nhsa.psn_cert_type=01", "PDA:SET:nhsa.psn_name=张三",
		"PDA:SET:nhsa.hi_feesetl_type=1", "PDA:SET:nhsa.mdtrt_setl_type=1", "PDA:SET:nhsa.prsc_dr_name=王医生",
		"PDA:SET:nhsa.rx_circ_flag=0", code(1), code(2), code(3), "PDA:FINISH")
	for _, l := range script {
		if ack := sendLine(t, p, l); strings.HasPrefix(ack, "ERROR") || strings.HasPrefix(ack, "REJECTED") {
			t.Fatalf("%q: %s\n%s", l, ack, stderr.String())
		}
	}
	// The sandboxes log one line per request: wait until they go quiet.
	waitStable(t, func() int { return strings.Count(sbLog.String(), "\n") }, 2500*time.Millisecond, 60*time.Second)
	stopAgent(t, p, &stderr)
	s, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bills := 0
	_ = s.ForEachBill(func(b queue.Bill) bool {
		if b.State != queue.BillFinished {
			return true
		}
		bills++
		ds, _ := s.Deliveries(b.ID)
		if len(ds) != 2 {
			t.Errorf("bill %s (type %d): deliveries %+v", b.Code, b.Type, ds)
		}
		for _, d := range ds {
			if d.State != queue.DeliveryDone {
				t.Errorf("bill %s → %s: %s (%s)", b.Code, d.Dest, d.State, d.LastError)
			}
		}
		return true
	})
	if bills != 2 {
		t.Errorf("%d finished bills, want 2", bills)
	}

	sb.Process.Signal(syscall.SIGTERM)
	var last string
	for l := range lines {
		last = l
	}
	sb.Wait()
	stopped = true
	m := regexp.MustCompile(`msfx (\d+) requests, (\d+) uploads accepted, (\d+) duplicates; nhsa (\d+) requests, (\d+) rows accepted`).FindStringSubmatch(last)
	if m == nil {
		t.Fatalf("no closing figures: %q\n%s", last, sbLog.String())
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	if n(2) != 2 || n(3) != 0 || n(4) != 6 || n(5) != 6 {
		t.Errorf("closing figures %q: want 2 uploads, no duplicates, 6 医保 requests (one row each), 6 rows", last)
	}
}

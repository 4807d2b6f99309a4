package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
)

const nonDrugConfig = `device: {id: NC1}
data_dir: %[1]s
log: {level: debug}
feedback: {log: true}
api: {listen: "127.0.0.1:%[2]s"}
scanners:
  - {name: till, type: stdin, echo: true}
`

// TestNonDrugCodesGoNowhere scans a patient's 医保电子凭证 and payment codes
// (the default patterns) through the real daemon, by the API and by the
// counter gun (stdin), in the middle of a sale: the POS gets each as an
// event of its own kind, and afterwards not one of them is in the data directory's files (the queue
// among them), the log, the scanner's echo, or a queue export. The sale's
// own trace code is found in each of those places where it belongs, so the
// search is shown to work.
func TestNonDrugCodesGoNowhere(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	config := writeFile(t, dir, "config.yaml", fmt.Sprintf(nonDrugConfig, dir, port))
	var stderr lockedBuffer
	p := startAgent(t, config, &stderr)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			<-p.done
		}
	}
	defer stop()
	c := waitAPI(t, dir, port, &stderr)

	events := streamEvents(t, c)

	const (
		drug    = "81012350000000157474"
		credAPI = "9876543210987654321098765432" // 医保电子凭证: the default
		credGun = "5550001112223334445556667778" // codes.credentials, 28 digits
		wechat  = "134567890123456789"           // 18 digits from 13
		alipay  = "28763443825664394123"         // 20 digits from 28
		aimQR   = "]Q1"                          // a gun set to send AIM identifiers
	)
	secrets := []string{credAPI, credGun, wechat, alipay}

	c.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale"}, nil)
	c.scan("till", drug, "accepted")
	if a := c.scan("till", credAPI, agent.KindPatientCredential); strings.Contains(a.Message, credAPI) || a.Reason != "" {
		t.Fatalf("scan answer %+v quotes the credential or reads as a refusal", a)
	}
	c.scan("till", wechat, agent.KindPaymentCode)

	for _, line := range []string{aimQR + credGun, alipay} {
		if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	var acks []string
	for range 2 {
		select {
		case a := <-p.acks:
			acks = append(acks, a)
		case <-time.After(10 * time.Second):
			t.Fatalf("no echo from the stdin scanner; log:\n%s", stderr.String())
		}
	}
	if !strings.HasPrefix(acks[0], "PATIENT_CREDENTIAL ") || !strings.HasPrefix(acks[1], "PAYMENT_CODE ") {
		t.Fatalf("scanner echo %q", acks)
	}

	// The POS hears of each, with the code it needs.
	want := map[string]string{credAPI: agent.KindPatientCredential, wechat: agent.KindPaymentCode,
		credGun: agent.KindPatientCredential, alipay: agent.KindPaymentCode}
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case e := <-events:
			if e.Kind == "scan" && e.Code != drug && e.Code != "" {
				t.Fatalf("a non-drug code went out as a scan: %+v", e)
			}
			if k, ok := want[e.Code]; ok {
				if e.Kind != k || e.Status != k || e.Session != "till" {
					t.Fatalf("event %+v, want kind %s", e, k)
				}
				delete(want, e.Code)
			}
		case <-deadline:
			t.Fatalf("no event for %v", want)
		}
	}

	var fin struct{ queue.Bill }
	c.ok("POST", "/v1/sessions/till/finish", map[string]any{}, &fin)
	if fin.Items != 1 {
		t.Fatalf("the sale has %d codes, want only the drug's", fin.Items)
	}
	stop()

	// The data directory, the queue file first among its files.
	queueBytes := mustRead(t, filepath.Join(dir, "queue.db"))
	if !bytes.Contains(queueBytes, []byte(drug)) {
		t.Fatal("the drug's code is not in the raw queue file: the search below proves nothing")
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds %s", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The log (debug level, every scan logged) and the scanner's echo.
	logs := stderr.String()
	if !strings.Contains(logs, "scan accepted") || !strings.Contains(logs, "scan "+agent.KindPaymentCode) {
		t.Fatalf("the log does not show the scans: the search below proves nothing:\n%s", logs)
	}
	echo := strings.Join(acks, "\n")
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %s", s)
		}
		if strings.Contains(echo, s) {
			t.Errorf("the scanner echo holds %s", s)
		}
	}

	// Every export format.
	for _, format := range []string{"jsonl", "csv"} {
		out, _ := mustCLI(t, "queue", "export", "--format", format, "--out", "-", "--config", config)
		if !strings.Contains(out, drug) {
			t.Fatalf("%s export without the sale's code: the search proves nothing:\n%s", format, out)
		}
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s export holds %s", format, s)
			}
		}
	}
}

// streamEvents follows GET /v1/events and sends each event on.
func streamEvents(t *testing.T, c *apiClient) <-chan agent.Event {
	t.Helper()
	req, err := http.NewRequest("GET", c.base+"/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	t.Cleanup(func() { resp.Body.Close() })
	out := make(chan agent.Event, 256)
	ready := make(chan struct{})
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if line == ": connected" {
				close(ready)
			}
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				continue
			}
			var e agent.Event
			if json.Unmarshal([]byte(data), &e) == nil {
				out <- e
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the event stream did not start")
	}
	return out
}

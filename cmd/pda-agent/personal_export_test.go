package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/keyfile"
	"github.com/pda-agent/pda-agent/queue"
)

// queue export and queue show mask personal data unless
// --with-personal-data, through the running agent's API and from the
// stopped agent's file alike (which reads it with the device's key).
func TestExportAndShowMaskPersonalData(t *testing.T) {
	const certno, name = "110101199003074514", "欧阳导出"
	dataDir := t.TempDir()
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
	b, err := s.SubmitBill(context.Background(), queue.SessionSpec{Session: "pos", Type: 321,
		Attrs: map[string]string{"nhsa.certno": certno, "nhsa.psn_name": name, "nhsa.mdtrt_sn": "MD9"}},
		[]queue.ScanInput{{Code: seedCode(1), Key: seedCode(1), Kind: "msfx20"}}, queue.To("msfx"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	check := func(via string, cfg string) {
		t.Helper()
		for _, format := range []string{"jsonl", "csv"} {
			out, _ := mustCLI(t, "queue", "export", "--format", format, "--out", "-", "--config", cfg)
			if strings.Contains(out, certno) || strings.Contains(out, name) || !strings.Contains(out, queue.MaskValue(certno)) || !strings.Contains(out, "MD9") {
				t.Errorf("%s: %s export without --with-personal-data:\n%s", via, format, out)
			}
			out, _ = mustCLI(t, "queue", "export", "--format", format, "--out", "-", "--with-personal-data", "--config", cfg)
			if !strings.Contains(out, certno) || !strings.Contains(out, name) {
				t.Errorf("%s: %s export --with-personal-data:\n%s", via, format, out)
			}
		}
		out, _ := mustCLI(t, "queue", "show", b.Code, "--config", cfg)
		if strings.Contains(out, certno) || strings.Contains(out, name) || !strings.Contains(out, queue.MaskValue(certno)) {
			t.Errorf("%s: show:\n%s", via, out)
		}
		out, _ = mustCLI(t, "queue", "show", b.Code, "--with-personal-data", "--config", cfg)
		if !strings.Contains(out, certno) || !strings.Contains(out, name) {
			t.Errorf("%s: show --with-personal-data:\n%s", via, out)
		}
	}
	ra := startInProcessAgent(t, dataDir)
	check("api", ra.cfg)
	ra.stop()
	check("file", ra.cfg)

	// Without its key the file shows the data as sealed, never as text.
	if err := os.Remove(filepath.Join(dataDir, "personal.key")); err != nil {
		t.Fatal(err)
	}
	out, _ := mustCLI(t, "queue", "show", b.Code, "--with-personal-data", "--config", ra.cfg)
	if strings.Contains(out, certno) || !strings.Contains(out, "CANNOT BE DECRYPTED") {
		t.Errorf("show without the key:\n%s", out)
	}

	// Nor does it write personal data in plain text: a change that needs
	// the key is refused, saying why; one of other attrs goes through.
	const newName = "司马改名"
	_, errOut, code := runCLI(t, "", "queue", "set", b.Code, "nhsa.psn_name="+newName, "--config", ra.cfg)
	if code != exitConfig || !strings.Contains(errOut, "refused: personal data is only written encrypted") || !strings.Contains(errOut, "personal.key") {
		t.Fatalf("set of a personal attr without the key: exit %d\n%s", code, errOut)
	}
	mustCLI(t, "queue", "set", b.Code, "pos.receipt=R-77", "--config", ra.cfg)
	data, err := os.ReadFile(filepath.Join(dataDir, "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), newName) || strings.Contains(string(data), certno) || !strings.Contains(string(data), "R-77") {
		t.Fatal("the queue file after the refused change: a personal value in plain text, or the allowed change missing")
	}
}

// deviceKey is the personal-data key the agent made in dataDir, for a
// test that reads the agent's queue file as the agent does.
func deviceKey(t *testing.T, dataDir string) *queue.PersonalKey {
	t.Helper()
	raw, _, err := keyfile.DataKey(filepath.Join(dataDir, "personal.key"), queue.PersonalKeySize, false)
	if err != nil {
		t.Fatal(err)
	}
	k, err := queue.NewPersonalKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

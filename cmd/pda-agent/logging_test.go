package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/configs"
)

func logConfig(t *testing.T, yaml string) *configs.Config {
	t.Helper()
	c, err := configs.LoadBytes("log.yaml", []byte("device: {id: L1}\n"+yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// logFiles lists the log directory once the rotator's background work
// (deleting, compressing) has settled on want files: with compress, every
// rotated file a .gz.
func logFiles(t *testing.T, dir string, want int, compress bool) []os.DirEntry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		settled := len(ents) == want
		for _, e := range ents {
			if compress && e.Name() != "agent.log" && !strings.HasSuffix(e.Name(), ".gz") {
				settled = false
			}
		}
		if settled || time.Now().After(deadline) {
			return ents
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLogFileRotates writes well past log.max_size through the agent's
// logger and counts the files left: the current one and max_backups
// rotated ones, none over the size.
func TestLogFileRotates(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "logs") // created by the agent
			file := filepath.Join(dir, "agent.log")
			y := fmt.Sprintf("log: {level: info, format: json, file: %s, max_size: 1MiB, max_backups: 2, compress: %v}\n", file, compress)
			var stderr bytes.Buffer
			log := newLogger(logConfig(t, y), &stderr)
			line := strings.Repeat("x", 200)
			const lines = 20000 // ≈ 4.6 MiB of JSON lines: four rotations
			for i := 0; i < lines; i++ {
				log.Info("scan", "n", i, "pad", line)
			}
			if stderr.Len() != 0 {
				t.Fatalf("the log went to stderr too: %q", stderr.String()[:100])
			}
			ents := logFiles(t, dir, 3, compress)
			if len(ents) != 3 {
				t.Fatalf("%d files, want the current one and 2 rotated: %v", len(ents), ents)
			}
			var rotated int
			for _, e := range ents {
				fi, err := e.Info()
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size() > 1<<20 {
					t.Errorf("%s is %d bytes, over max_size", e.Name(), fi.Size())
				}
				if e.Name() == "agent.log" {
					continue
				}
				rotated++
				want := ".log"
				if compress {
					want = ".log.gz"
				}
				if !strings.HasPrefix(e.Name(), "agent-") || !strings.HasSuffix(e.Name(), want) {
					t.Errorf("rotated file %s, want agent-<time>%s", e.Name(), want)
				}
				if compress {
					f, _ := os.Open(filepath.Join(dir, e.Name()))
					zr, err := gzip.NewReader(f)
					if err != nil {
						t.Fatalf("%s: %v", e.Name(), err)
					}
					data, err := io.ReadAll(zr)
					f.Close()
					if err != nil || !bytes.Contains(data, []byte(`"msg":"scan"`)) {
						t.Errorf("%s does not hold log lines: %v", e.Name(), err)
					}
				}
			}
			if rotated != 2 {
				t.Errorf("%d rotated files", rotated)
			}
			cur, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(cur, []byte(fmt.Sprintf(`"n":%d,`, lines-1))) {
				t.Errorf("the current file lacks the last line")
			}
			if fi, _ := os.Stat(file); fi.Mode().Perm()&0o007 != 0 {
				t.Errorf("log file mode %v: others can read it", fi.Mode())
			}
		})
	}
}

func TestLogFileUnwritableFallsBack(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	log := newLogger(logConfig(t, "log: {file: "+filepath.Join(blocker, "agent.log")+"}\n"), &stderr)
	log.Info("still logging")
	out := stderr.String()
	if !strings.Contains(out, "log.file cannot be written") || !strings.Contains(out, "still logging") {
		t.Fatalf("stderr: %q", out)
	}
}

func TestLogStderrByDefault(t *testing.T) {
	var stderr bytes.Buffer
	log := newLogger(logConfig(t, "log: {format: text, level: warn}\n"), &stderr)
	log.Info("hidden")
	log.Warn("shown", "k", "v")
	if out := stderr.String(); strings.Contains(out, "hidden") || !strings.Contains(out, "level=WARN msg=shown k=v") {
		t.Fatalf("stderr: %q", out)
	}
}

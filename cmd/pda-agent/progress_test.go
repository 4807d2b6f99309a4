package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, "exported", "bills", 50000)
	if p.tty {
		t.Fatal("a buffer is not a terminal")
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }
	for i := int64(1); i <= 50000; i++ {
		if i%1000 == 0 {
			now = now.Add(100 * time.Millisecond) // 5 s in all
		}
		p.Set(i)
	}
	p.Finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// The first step, then one line per 2 s, then the end.
	if len(lines) < 3 || len(lines) > 5 || lines[0] != "exported 1/50000 bills" || lines[len(lines)-1] != "exported 50000/50000 bills" {
		t.Fatalf("lines %q", lines)
	}
	// Finish does not repeat a line already shown.
	buf.Reset()
	q := newProgress(&buf, "retried", "dead letters", 1)
	q.Set(1)
	q.Finish()
	if buf.String() != "retried 1/1 dead letters\n" {
		t.Fatalf("%q", buf.String())
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, "compacted", "", 0)
	p.tty, p.width, p.every = true, 60, 0
	p.SetTotal(4 << 20)
	p.Set(1 << 20)
	p.Set(4 << 20)
	p.Finish()
	out := buf.String()
	frames := strings.Split(strings.TrimSuffix(out, "\n"), "\r")[1:]
	if len(frames) != 3 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("frames %q", out)
	}
	for _, f := range frames {
		if len([]rune(f)) != 59 {
			t.Errorf("frame %q is %d wide, want 59 (one short of the terminal)", f, len([]rune(f)))
		}
	}
	if !strings.Contains(frames[0], " 25% 1.0 MiB/4.0 MiB") || !strings.Contains(frames[2], "[===") || !strings.Contains(frames[2], "100% 4.0 MiB/4.0 MiB") {
		t.Fatalf("frames %q", frames)
	}
}

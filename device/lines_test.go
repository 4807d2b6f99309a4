package device

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

func TestLines(t *testing.T) {
	long := strings.Repeat("9", MaxLine+10)
	in := "# a comment\n81012350000000157474\r\n\n   \nPDA:FINISH\n" + long + "\nlast-without-newline"
	var echo bytes.Buffer
	var got []string
	src := &Lines{SourceName: "replay", Reader: strings.NewReader(in), Echo: &echo}
	err := src.Run(context.Background(), func(_ context.Context, s Scan) Feedback {
		if s.Source != "replay" || s.At.IsZero() {
			t.Errorf("scan %+v", s)
		}
		got = append(got, string(s.Raw))
		if strings.HasPrefix(string(s.Raw), "PDA:") {
			return Feedback{Status: StatusCommand, Message: "finished"}
		}
		return Feedback{Status: StatusAccepted, Message: "ok\nsecond line"}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"81012350000000157474", "PDA:FINISH", "last-without-newline"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("scans %q, want %q", got, want)
	}
	lines := strings.Split(strings.TrimSpace(echo.String()), "\n")
	if len(lines) != 4 || lines[0] != "ACCEPTED ok second line" || lines[1] != "COMMAND finished" || !strings.HasPrefix(lines[2], "REJECTED line longer") {
		t.Fatalf("echo %q", lines)
	}
}

func TestLinesStopsOnContext(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- (&Lines{SourceName: "stdin", Reader: r}).Run(ctx, func(context.Context, Scan) Feedback { return Feedback{} })
	}()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

package tcp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/device"
)

func start(t *testing.T, c Config) (*Source, func(), *[]string) {
	t.Helper()
	s, err := New("pos", c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- s.Run(ctx, func(_ context.Context, sc device.Scan) device.Feedback {
			mu.Lock()
			got = append(got, string(sc.Raw))
			mu.Unlock()
			if strings.HasPrefix(string(sc.Raw), "bad") {
				return device.Feedback{Status: device.StatusRejected, Message: "not a code"}
			}
			return device.Feedback{Status: device.StatusAccepted, Message: "added"}
		})
	}()
	deadline := time.Now().Add(2 * time.Second)
	for s.Addr() == nil {
		if time.Now().After(deadline) {
			t.Fatal("not listening")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	return s, stop, &got
}

func TestLinesAndReplies(t *testing.T) {
	s, stop, got := start(t, Config{Listen: "127.0.0.1:0", Reply: true})
	defer stop()
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "81012350000000157474\r\nbad-code\n\n# comment\nlast\n")
	rd := bufio.NewReader(conn)
	var replies []string
	for i := 0; i < 5; i++ {
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		replies = append(replies, strings.TrimSpace(line))
	}
	if strings.Join(replies, "|") != "ACCEPTED added|REJECTED not a code|REJECTED empty|REJECTED comment|ACCEPTED added" {
		t.Fatalf("replies %q", replies)
	}
	if strings.Join(*got, "|") != "81012350000000157474|bad-code|last" {
		t.Fatalf("scans %q", *got)
	}
	if h := s.Health(); !h.Connected || h.Scans != 3 || !strings.Contains(h.Detail, "127.0.0.1") {
		t.Fatalf("health %+v", h)
	}
}

func TestMaxConnsAndRemote(t *testing.T) {
	s, stop, _ := start(t, Config{Listen: "127.0.0.1:0", MaxConns: 1})
	defer stop()
	first, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	// Make sure the first is being served before the second arrives.
	fmt.Fprint(first, "x\n")
	time.Sleep(50 * time.Millisecond)
	second, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, _ := bufio.NewReader(second).ReadString('\n')
	if !strings.HasPrefix(line, "ERROR too many clients") {
		t.Fatalf("second client got %q", line)
	}

	for _, addr := range []string{"0.0.0.0:9100", "192.168.1.5:9100", "example.com:1"} {
		if _, err := New("x", Config{Listen: addr}, nil); err == nil || !strings.Contains(err.Error(), "allow_remote") {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if _, err := New("x", Config{Listen: "0.0.0.0:9100", AllowRemote: true}, nil); err != nil {
		t.Error(err)
	}
	for _, addr := range []string{"[::1]:9100", "localhost:9100"} {
		if _, err := New("x", Config{Listen: addr}, nil); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if _, err := New("x", Config{Listen: "9100"}, nil); err == nil {
		t.Error("port without host accepted")
	}
}

func TestStopClosesClients(t *testing.T) {
	s, stop, _ := start(t, Config{Listen: "127.0.0.1:0"})
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "x\n")
	time.Sleep(20 * time.Millisecond)
	stop() // must return although the client stays connected
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("client still connected after stop")
	}
}

// TestStopAnswersEveryLineRead: a stop while a scan is committing. The
// scan's answer still reaches the client, lines already read behind it
// are answered as not recorded (and never reach the handler), and only
// then does the connection close.
func TestStopAnswersEveryLineRead(t *testing.T) {
	s, err := New("pos", Config{Listen: "127.0.0.1:0", Reply: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	inHandler := make(chan string, 8)
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(ctx context.Context, sc device.Scan) device.Feedback {
			inHandler <- string(sc.Raw)
			<-release // the commit, which outlives the stop
			return device.Feedback{Status: device.StatusAccepted, Message: "added " + string(sc.Raw)}
		})
	}()
	waitAddr(t, s)
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "CODE1\nCODE2\n\nCODE3\n")
	if got := <-inHandler; got != "CODE1" {
		t.Fatalf("handler got %q first", got)
	}
	cancel()
	time.Sleep(50 * time.Millisecond) // the stop reaches the connection
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while a scan was committing", err)
	default:
	}
	close(release)

	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	all, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read answers: %v (got %q)", err, all)
	}
	want := "ACCEPTED added CODE1\n" +
		"ERROR NOT RECORDED — the agent is stopping; scan again\n" +
		"REJECTED empty\n" +
		"ERROR NOT RECORDED — the agent is stopping; scan again\n"
	if string(all) != want {
		t.Fatalf("answers\n%s\nwant\n%s", all, want)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if len(inHandler) != 0 {
		t.Fatalf("lines read after the stop reached the handler: %q", <-inHandler)
	}
}

// TestBlankLinesWithoutReply: without Reply nothing is written, blank or
// not, and blank lines never reach the handler.
func TestBlankLinesWithoutReply(t *testing.T) {
	s, stop, got := start(t, Config{Listen: "127.0.0.1:0"})
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "\n \r\nA1\n")
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if b, err := io.ReadAll(conn); err != nil || len(b) != 0 {
		t.Fatalf("client read %q, %v", b, err)
	}
	stop()
	if strings.Join(*got, "|") != "A1" {
		t.Fatalf("scans %q", *got)
	}
}

func TestReadLine(t *testing.T) {
	long := strings.Repeat("x", device.MaxLine+1)
	br := bufio.NewReaderSize(strings.NewReader("a\r\n"+long+"\nb\n"+strings.Repeat("y", device.MaxLine)+"\ntail"), device.MaxLine)
	for _, w := range []struct {
		text    string
		tooLong bool
		err     error
	}{{"a\r", false, nil}, {"", true, nil}, {"b", false, nil}, {strings.Repeat("y", device.MaxLine), false, nil}, {"tail", false, io.EOF}} {
		text, tooLong, err := readLine(br)
		if text != w.text || tooLong != w.tooLong || err != w.err {
			t.Fatalf("readLine: %.10q %v %v, want %.10q %v %v", text, tooLong, err, w.text, w.tooLong, w.err)
		}
	}
}

func waitAddr(t *testing.T, s *Source) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for s.Addr() == nil {
		if time.Now().After(deadline) {
			t.Fatal("not listening")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

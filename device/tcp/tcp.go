// Package tcp is a line-oriented scan source on a TCP listener, for POS
// systems on the same machine and for tests: each line a client sends is
// one scan, and with Reply each line gets exactly one result line back, in
// order ("ACCEPTED …", "DUPLICATE …", "REJECTED …", "COMMAND …",
// "ERROR …"; a blank line "REJECTED empty", a '#' line "REJECTED comment"),
// also when the agent stops: see serve.
//
// There is no authentication on this socket, so it listens on loopback
// unless AllowRemote is set explicitly.
package tcp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pda-agent/pda-agent/device"
)

// Config configures the listener.
type Config struct {
	// Listen is host:port, e.g. 127.0.0.1:9100.
	Listen string
	// MaxConns bounds simultaneous clients; default 8.
	MaxConns int
	// Reply sends one result line per line back to the client.
	Reply bool
	// AllowRemote permits a non-loopback listen address.
	AllowRemote bool
	// IdleTimeout closes a client silent this long; default 0 = never.
	IdleTimeout time.Duration
}

// Validate checks the config.
func (c Config) Validate() error {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("tcp: listen %q: want host:port, e.g. 127.0.0.1:9100: %w", c.Listen, err)
	}
	if port == "" {
		return fmt.Errorf("tcp: listen %q: missing port", c.Listen)
	}
	if !c.AllowRemote {
		addr, err := netip.ParseAddr(host)
		if host != "localhost" && (err != nil || !addr.IsLoopback()) {
			return fmt.Errorf("tcp: listen %q is not a loopback address: scans on this socket are not authenticated, so set allow_remote to listen beyond this machine", c.Listen)
		}
	}
	if c.MaxConns < 0 || c.IdleTimeout < 0 {
		return errors.New("tcp: max_conns and idle_timeout must not be negative")
	}
	return nil
}

// Source is a TCP scan source.
type Source struct {
	name   string
	cfg    Config
	log    *slog.Logger
	health *device.HealthTracker

	mu   sync.Mutex
	addr net.Addr
}

// New makes a TCP source; it listens when Run starts.
func New(name string, c Config, log *slog.Logger) (*Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.MaxConns == 0 {
		c.MaxConns = 8
	}
	if log == nil {
		log = slog.Default()
	}
	return &Source{name: name, cfg: c, log: log, health: device.NewHealthTracker(name, "tcp")}, nil
}

// Name is the source's name.
func (s *Source) Name() string { return s.name }

// Health reports the listener's state.
func (s *Source) Health() device.Health { return s.health.Health() }

// Addr is the bound address once Run is listening (useful with port 0).
func (s *Source) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Run listens and serves clients until ctx ends.
func (s *Source) Run(ctx context.Context, h device.Handler) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		s.health.Error(err, time.Now())
		return fmt.Errorf("tcp %s: %w", s.name, err)
	}
	s.mu.Lock()
	s.addr = ln.Addr()
	s.mu.Unlock()
	s.health.SetConnected(true, "listening on "+ln.Addr().String(), time.Now())
	defer s.health.SetConnected(false, "", time.Now())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	slots := make(chan struct{}, s.cfg.MaxConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	counted := func(ctx context.Context, sc device.Scan) device.Feedback {
		s.health.ScanSeen(sc.At)
		return h(ctx, sc)
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.health.Error(err, time.Now())
			return fmt.Errorf("tcp %s: accept: %w", s.name, err)
		}
		select {
		case slots <- struct{}{}:
		default:
			s.log.Warn("tcp scanner: too many clients, refusing one", "scanner", s.name, "max", s.cfg.MaxConns, "remote", conn.RemoteAddr())
			fmt.Fprintf(conn, "ERROR too many clients (max %d)\n", s.cfg.MaxConns)
			conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			s.serve(ctx, conn, counted)
		}()
	}
}

// stopWrite bounds how long a stop waits for a client to take its
// answers, and drainWait how long it then waits for the client to hang up
// (closing with unread input would send RST, which can cost the client
// answers it has not read yet).
const (
	stopWrite = 2 * time.Second
	drainWait = 250 * time.Millisecond
)

// serve answers one client. Every line read from it gets one answer line
// (with Reply), also at shutdown: ctx ending stops the reading, not the
// answering. Lines read but not yet handed to h when ctx ends are answered
// as not recorded; the scan in h finishes and its answer goes out; then
// the connection closes.
func (s *Source) serve(ctx context.Context, conn net.Conn, h device.Handler) {
	defer conn.Close()
	r := &idleReader{conn: conn, idle: s.cfg.IdleTimeout}
	stop := context.AfterFunc(ctx, func() {
		r.stop()
		_ = conn.SetWriteDeadline(time.Now().Add(stopWrite))
	})
	defer stop()

	lines := make(chan line)
	quit := make(chan struct{})
	defer close(quit)
	go readLines(r, lines, quit)

	notRecorded := 0
	defer func() {
		if notRecorded > 0 {
			s.log.Warn("tcp scanner: lines read during the stop were not recorded", "scanner", s.name,
				"remote", conn.RemoteAddr(), "lines", notRecorded, "client_told", s.cfg.Reply)
		}
	}()
	for ln := range lines {
		if ln.err != nil {
			if !r.stopped() && !errors.Is(ln.err, net.ErrClosed) {
				s.health.Error(ln.err, time.Now())
				s.log.Info("tcp scanner: client dropped", "scanner", s.name, "remote", conn.RemoteAddr(), "err", ln.err)
			}
			break
		}
		fb := s.answer(ctx, ln, h)
		if fb.Reason == "stopping" {
			notRecorded++
		}
		if !s.cfg.Reply {
			continue
		}
		if _, err := fmt.Fprintf(conn, "%s %s\n", strings.ToUpper(string(fb.Status)), oneLine(fb.Message)); err != nil {
			s.log.Info("tcp scanner: answer not delivered", "scanner", s.name, "remote", conn.RemoteAddr(), "err", err)
			return
		}
	}
	if r.stopped() {
		// Hang up our side first and give the client a moment to read
		// its answers and hang up too.
		if tc, ok := conn.(interface{ CloseWrite() error }); ok && tc.CloseWrite() == nil {
			_ = conn.SetReadDeadline(time.Now().Add(drainWait))
			_, _ = io.Copy(io.Discard, conn)
		}
	}
}

// answer is the feedback for one line.
func (s *Source) answer(ctx context.Context, ln line, h device.Handler) device.Feedback {
	text := strings.TrimRight(ln.text, "\r")
	switch {
	case ln.tooLong:
		return device.Feedback{Status: device.StatusRejected, Reason: "too_long",
			Message: fmt.Sprintf("line longer than %d bytes: not a code (several scans run together?)", device.MaxLine)}
	case strings.TrimSpace(text) == "":
		// A client waiting for one answer per line must get one here too.
		return device.Feedback{Status: device.StatusRejected, Reason: "empty", Message: "empty"}
	case strings.HasPrefix(text, "#"):
		return device.Feedback{Status: device.StatusRejected, Reason: "comment", Message: "comment"}
	case ctx.Err() != nil:
		// Read before the stop but not yet recorded: say so, rather than
		// race a commit against the queue closing.
		return device.Feedback{Status: device.StatusError, Reason: "stopping", Message: "NOT RECORDED — the agent is stopping; scan again"}
	}
	return h(ctx, device.Scan{Source: s.name, Raw: []byte(text), At: time.Now()})
}

// line is one line from a client, or the error that ended the reading.
type line struct {
	text    string
	tooLong bool
	err     error
}

// readLines sends conn's lines until EOF (a last line without LF counts),
// an error, or a stop; a line cut off by the stop is dropped, as it was
// never read whole. It closes lines when done.
func readLines(r *idleReader, lines chan<- line, quit <-chan struct{}) {
	defer close(lines)
	br := bufio.NewReaderSize(r, device.MaxLine)
	send := func(l line) bool {
		select {
		case lines <- l:
			return true
		case <-quit:
			return false
		}
	}
	for {
		text, tooLong, err := readLine(br)
		switch {
		case err == nil:
			if !send(line{text: text, tooLong: tooLong}) {
				return
			}
			continue
		case errors.Is(err, io.EOF):
			if text != "" || tooLong {
				send(line{text: text, tooLong: tooLong})
			}
		case r.stopped():
		default:
			send(line{err: err})
		}
		return
	}
}

// readLine reads up to LF; a line over device.MaxLine is consumed whole
// and reported as too long. On an error the text read so far comes back
// with it.
func readLine(br *bufio.Reader) (string, bool, error) {
	var b []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if len(b)+len(chunk) > device.MaxLine+1 { // +1: the LF
			tooLong, b = true, nil
		} else if !tooLong {
			b = append(b, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return string(b), tooLong, err
		}
		return strings.TrimSuffix(string(b), "\n"), tooLong, nil
	}
}

func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }

// idleReader extends the read deadline before every read, until stop sets
// it in the past for good.
type idleReader struct {
	conn net.Conn
	idle time.Duration

	mu   sync.Mutex // orders stop against a read's deadline
	done bool
}

func (r *idleReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	var err error
	switch {
	case r.done:
		err = os.ErrDeadlineExceeded
	case r.idle > 0:
		err = r.conn.SetReadDeadline(time.Now().Add(r.idle))
	}
	r.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return r.conn.Read(p)
}

// stop ends a pending Read and every later one.
func (r *idleReader) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = true
	_ = r.conn.SetReadDeadline(time.Now())
}

func (r *idleReader) stopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}

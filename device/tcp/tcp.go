// Package tcp is a line-oriented scan source on a TCP listener, for POS
// systems on the same machine and for tests: each line a client sends is
// one scan, and with Reply each gets one result line back
// ("ACCEPTED …", "DUPLICATE …", "REJECTED …", "COMMAND …", "ERROR …").
//
// There is no authentication on this socket, so it listens on loopback
// unless AllowRemote is set explicitly.
package tcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
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
	// Reply sends one result line per scan back to the client.
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

func (s *Source) serve(ctx context.Context, conn net.Conn, h device.Handler) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var r = &idleReader{conn: conn, idle: s.cfg.IdleTimeout}
	l := &device.Lines{SourceName: s.name, Reader: r}
	if s.cfg.Reply {
		l.Echo = conn
	}
	if err := l.Run(ctx, h); err != nil && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
		s.health.Error(err, time.Now())
		s.log.Info("tcp scanner: client dropped", "scanner", s.name, "remote", conn.RemoteAddr(), "err", err)
	}
}

// idleReader extends the read deadline before every read.
type idleReader struct {
	conn net.Conn
	idle time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	if r.idle > 0 {
		if err := r.conn.SetReadDeadline(time.Now().Add(r.idle)); err != nil {
			return 0, err
		}
	}
	return r.conn.Read(p)
}

// Package sandboxnet serves a back-end sandbox on a real TCP address with a
// switch that takes it off the network and back, so tests and the demo can
// cut the store's line without stopping the sandbox's ledger.
package sandboxnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server serves a handler on one address across outages.
type Server struct {
	handler http.Handler
	log     *slog.Logger
	addr    string // resolved host:port, kept across outages

	mu     sync.Mutex
	srv    *http.Server // nil while down or closed
	down   bool
	closed bool
	wg     sync.WaitGroup // Serve goroutines
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves h in a goroutine
// until Close. log receives the HTTP server's own errors.
func Start(addr string, h http.Handler, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen %s: %w", addr, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{handler: h, log: log, addr: ln.Addr().String()}
	s.mu.Lock()
	s.serve(ln)
	s.mu.Unlock()
	return s, nil
}

// serve starts a fresh http.Server on ln; a closed http.Server cannot be
// reused, so every outage ends with a new one. s.mu must be held.
func (s *Server) serve(ln net.Listener) {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.srv = srv
	s.wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("sandbox: serve stopped", "addr", s.addr, "err", err)
		}
	})
}

// Addr is the host:port served, the same before and after an outage.
func (s *Server) Addr() string { return s.addr }

// SetDown simulates a network outage. Going down closes the listener and
// every open connection, so clients see connection refused (and requests
// in flight fail); coming back up listens again on the same address. It
// fails only if the server is closed or the address cannot be taken back.
func (s *Server) SetDown(down bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return errors.New("sandbox: SetDown after Close")
	case down == s.down:
		return nil
	case down:
		err := s.srv.Close()
		s.srv, s.down = nil, true
		s.wg.Wait()
		if err != nil {
			return fmt.Errorf("sandbox: going down: %w", err)
		}
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("sandbox: coming back up on %s: %w", s.addr, err)
	}
	s.down = false
	s.serve(ln)
	return nil
}

// Close stops serving for good; it is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var err error
	if s.srv != nil {
		err = s.srv.Close()
		s.srv = nil
	}
	s.mu.Unlock()
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("sandbox: close: %w", err)
	}
	return nil
}

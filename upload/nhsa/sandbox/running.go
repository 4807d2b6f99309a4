package sandbox

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Running is a sandbox serving on a real TCP address, with a switch that
// takes it off the network and back (SetDown).
type Running struct {
	*Server

	addr string // resolved host:port, kept across outages

	mu     sync.Mutex
	srv    *http.Server // nil while down or closed
	down   bool
	closed bool
	wg     sync.WaitGroup // Serve goroutines
}

// Start validates o, listens on addr (e.g. "127.0.0.1:0") and serves a
// new sandbox in a goroutine until Close.
func Start(addr string, o Options) (*Running, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen %s: %w", addr, err)
	}
	r := &Running{Server: New(o), addr: ln.Addr().String()}
	r.mu.Lock()
	r.serve(ln)
	r.mu.Unlock()
	return r, nil
}

// serve runs a fresh http.Server on ln (a closed one cannot be reused).
// r.mu is held.
func (r *Running) serve(ln net.Listener) {
	srv := &http.Server{
		Handler:           r.Server,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelWarn),
	}
	r.srv = srv
	r.wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Warn("sandbox: serve stopped", "addr", r.addr, "err", err)
		}
	})
}

// URL is the endpoint clients call, on the national path (any path is
// served); it stays the same across outages.
func (r *Running) URL() string { return "http://" + r.addr + DefaultPath }

// Addr is the host:port served.
func (r *Running) Addr() string { return r.addr }

// SetDown simulates a network outage: going down closes the listener and
// every connection (requests in flight fail, new ones are refused);
// coming back up listens on the same address again. The ledger survives.
// It fails after Close or when the address cannot be taken back.
func (r *Running) SetDown(down bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return errors.New("sandbox: SetDown after Close")
	case down == r.down:
		return nil
	case down:
		err := r.srv.Close()
		r.srv, r.down = nil, true
		r.wg.Wait()
		if err != nil {
			return fmt.Errorf("sandbox: going down: %w", err)
		}
		return nil
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		return fmt.Errorf("sandbox: coming back up on %s: %w", r.addr, err)
	}
	r.down = false
	r.serve(ln)
	return nil
}

// Close stops serving for good; calling it again does nothing.
func (r *Running) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	var err error
	if r.srv != nil {
		err = r.srv.Close()
		r.srv = nil
	}
	r.mu.Unlock()
	r.wg.Wait()
	if err != nil {
		return fmt.Errorf("sandbox: close: %w", err)
	}
	return nil
}

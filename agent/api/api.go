// Package api serves the agent's local HTTP API (docs/api.md) for the
// store's POS/ERP and the clerk page it embeds: JSON under /v1/, a
// server-sent event stream of scans and bills, the page at /.
//
// Programs authenticate with the bearer token kept in the token file; the
// browser page logs in once through /login?token=… and then carries an
// HttpOnly cookie. Requests naming a Host other than the listen address
// are refused (DNS rebinding), and state-changing cookie requests must come
// from the page's own origin (CSRF).
package api

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pda-agent/pda-agent/agent"
)

// Options configure a Server.
type Options struct {
	// Listen is host:port (api.listen); port 0 picks a free port.
	Listen string
	// TokenFile holds the bearer token; it is created (mode 0600) when
	// missing.
	TokenFile string
	// Logger receives request and error logs; default slog.Default().
	Logger *slog.Logger
	// Now is the clock for login cookies; default time.Now.
	Now func() time.Time
	// LAN, when set, also serves paired handhelds over TLS (api.lan).
	LAN *LANOptions
}

// Server is the local API of one agent.
type Server struct {
	agent   *agent.Agent
	log     *slog.Logger
	now     func() time.Time
	listen  string
	token   string
	cookies cookieSigner
	handler http.Handler
	limits  limits
	lan     *lanState // nil: no LAN listener

	mu      sync.Mutex
	ln      net.Listener
	started bool
	// closing ends event streams when Run shuts down: http.Server.Shutdown
	// waits for active requests, and a stream never goes idle by itself.
	closing   chan struct{}
	closeOnce sync.Once
	// idemMu runs requests with an Idempotency-Key one at a time.
	idemMu sync.Mutex
}

// limits are the server's timeouts; tests shorten them.
type limits struct {
	readHeader, read, write, idle time.Duration
	// shutdown bounds the graceful part of shutdown.
	shutdown time.Duration
	// keepAlive is the interval of comment lines on event streams.
	keepAlive time.Duration
	// streamWrite bounds one write to an event stream: a client that stops
	// reading is dropped rather than holding a goroutine.
	streamWrite time.Duration
}

func defaultLimits() limits {
	return limits{
		readHeader:  10 * time.Second,
		read:        time.Minute,
		write:       2 * time.Minute, // a receiving asks 码上放心 several times
		idle:        2 * time.Minute,
		shutdown:    5 * time.Second,
		keepAlive:   15 * time.Second,
		streamWrite: 30 * time.Second,
	}
}

// New prepares the API of a: it reads the token file, creating it with a
// fresh random token when missing. It does not listen yet (see Run).
func New(a *agent.Agent, o Options) (*Server, error) {
	if a == nil {
		return nil, errors.New("api: no agent")
	}
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		return nil, fmt.Errorf("api: listen address %q: %w", o.Listen, err)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	token, err := loadToken(o.TokenFile)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("api: cookie key: %w", err)
	}
	s := &Server{agent: a, log: o.Logger, now: o.Now, listen: o.Listen, token: token,
		cookies: cookieSigner{key: key}, limits: defaultLimits(), closing: make(chan struct{})}
	if o.LAN != nil {
		if s.lan, err = newLAN(*o.LAN); err != nil {
			return nil, err
		}
	}
	s.handler = s.routes()
	return s, nil
}

// Handler is the API's handler, with its Host, token and origin checks.
func (s *Server) Handler() http.Handler { return s.handler }

// Addr is the address the server listens on, nil before Run listens.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// LoginURL is the link that logs a browser in to the clerk page
// (http://<addr>/login?token=…). It names the address listened on once Run
// listens, the configured one before.
func (s *Server) LoginURL() string {
	addr := s.listen
	if a := s.Addr(); a != nil {
		addr = a.String()
	}
	return loginURL(addr, s.token)
}

// LoginLink is the clerk page's login link for a daemon listening on listen
// with its token in tokenFile, for `pda-agent ui`, which runs beside the
// daemon and cannot open the agent's queue itself. It creates the token
// file like New when it is missing.
func LoginLink(listen, tokenFile string) (string, error) {
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return "", fmt.Errorf("api: listen address %q: %w", listen, err)
	}
	token, err := loadToken(tokenFile)
	if err != nil {
		return "", err
	}
	return loginURL(listen, token), nil
}

func loginURL(addr, token string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	// A browser cannot reach the unspecified address; this device can
	// reach itself on loopback.
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: "/login", RawQuery: "token=" + url.QueryEscape(token)}
	return u.String()
}

// Run listens and serves until ctx ends, then shuts down: event streams
// end, requests in flight get a few seconds to finish, and what remains is
// closed. Run serves once.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("api: Run called twice")
	}
	s.started = true
	s.mu.Unlock()

	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return fmt.Errorf("api: listen on %s: %w", s.listen, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.log.Info("local API listening", "addr", ln.Addr().String())
	var lanLn net.Listener
	if s.lan != nil {
		if lanLn, err = s.listenLAN(); err != nil {
			_ = ln.Close()
			return err
		}
	}

	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.limits.readHeader,
		ReadTimeout:       s.limits.read,
		WriteTimeout:      s.limits.write,
		IdleTimeout:       s.limits.idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	servers := []*http.Server{srv}
	listeners := []net.Listener{ln}
	if lanLn != nil {
		lanSrv := &http.Server{Handler: srv.Handler, ReadHeaderTimeout: srv.ReadHeaderTimeout, ReadTimeout: srv.ReadTimeout,
			WriteTimeout: srv.WriteTimeout, IdleTimeout: srv.IdleTimeout, MaxHeaderBytes: srv.MaxHeaderBytes,
			ErrorLog: srv.ErrorLog, ConnContext: lanConnContext}
		servers = append(servers, lanSrv)
		listeners = append(listeners, lanLn)
	}
	served := make(chan error, len(servers))
	for i, hs := range servers {
		go func() { served <- hs.Serve(listeners[i]) }()
	}

	var failed error
	select {
	case err := <-served:
		failed = fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	s.endStreams()
	sctx, cancel := context.WithTimeout(context.Background(), s.limits.shutdown)
	defer cancel()
	for _, hs := range servers {
		if err := hs.Shutdown(sctx); err != nil {
			s.log.Warn("local API: requests still running at shutdown; closing them", "err", err)
			_ = hs.Close()
		}
	}
	waiting := len(servers)
	if failed != nil {
		waiting--
	}
	for range waiting {
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) && failed == nil {
			failed = fmt.Errorf("api: serve: %w", err)
		}
	}
	return failed
}

func (s *Server) endStreams() { s.closeOnce.Do(func() { close(s.closing) }) }

// allowedHost tells whether a request's Host names this server: the listen
// address, or loopback names at its port. A listener on the unspecified
// address (api.allow_remote) also answers to IP literals at its port: DNS
// rebinding needs a host name, so an IP literal is the browser talking to
// this device on purpose.
func (s *Server) allowedHost(host string) bool {
	host = strings.ToLower(host)
	listen := strings.ToLower(s.listen)
	lhost, lport, _ := net.SplitHostPort(listen)
	if a := s.Addr(); a != nil {
		_, lport, _ = net.SplitHostPort(a.String())
	}
	h, p, err := net.SplitHostPort(host)
	if err != nil {
		// No port: the browser left out the default one.
		h, p = strings.Trim(host, "[]"), "80"
	}
	if p != lport {
		return false
	}
	switch h {
	case "localhost", "127.0.0.1", "::1", lhost:
		return true
	}
	if ip := net.ParseIP(lhost); lhost == "" || (ip != nil && ip.IsUnspecified()) {
		return net.ParseIP(h) != nil
	}
	return false
}

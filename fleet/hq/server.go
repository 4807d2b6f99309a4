package hq

import (
	"context"
	"crypto/hmac"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/fleet/hq/protocol"
	"github.com/pda-agent/pda-agent/gm"
)

// ServeOptions configure the HTTP side. Zero values mean the defaults.
type ServeOptions struct {
	// MaxInFlight bounds requests being handled; beyond it HQ answers 503
	// with Retry-After at once, before any signature check (the SM2 check
	// is the expensive part). Default 512.
	MaxInFlight int
	// RetryAfter is the pause asked for in a 503; each answer adds up to
	// the same again at random so that refused devices do not come back
	// together. Default 30s (OpAMP's recommended minimum).
	RetryAfter time.Duration
	// ClockSkew is how far X-PDA-Time may be from HQ's clock. Default
	// protocol.MaxSkew (5 minutes).
	ClockSkew time.Duration
	// Tick is the period of the background cycle that flushes last-seen
	// times, picks up changes made by other pda-hq commands and ends waves
	// whose timeout passed. Default 1s.
	Tick time.Duration
	// ReportWait bounds how long a report request waits for the commit
	// holding it; past it the device gets 503 and sends the report again.
	// Default 10s.
	ReportWait time.Duration
	// PollKey (at least 32 bytes) keys the HMAC of the poll tokens. Every
	// replica serving the same devices must share it, or a device whose
	// polls alternate between replicas keeps falling back to the SM2
	// check. Default: random per process (one replica; after a restart
	// each device pays one SM2 check to get a new token).
	PollKey []byte
	// BatchWait, when positive, holds a report batch open this long after
	// its first report (or until BatchMax reports are queued) so that
	// replicas on PostgreSQL commit fewer, larger transactions. 0 commits
	// as soon as the previous commit is done (what a bbolt file wants).
	BatchWait time.Duration
	// BatchMax ends the BatchWait early. Default 500.
	BatchMax int
	// Now is the clock; default the Store's.
	Now func() time.Time
	// Logger; default the Store's.
	Logger *slog.Logger
}

func (o ServeOptions) withDefaults(st *Store) (ServeOptions, error) {
	switch {
	case o.PollKey == nil:
		o.PollKey = make([]byte, 32)
		if _, err := cryptorand.Read(o.PollKey); err != nil {
			return o, fmt.Errorf("serve: poll key: %w", err)
		}
	case len(o.PollKey) < 32:
		return o, fmt.Errorf("serve: the poll key is %d bytes; it needs at least 32", len(o.PollKey))
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 512
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 30 * time.Second
	}
	if o.ClockSkew <= 0 {
		o.ClockSkew = protocol.MaxSkew
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.ReportWait <= 0 {
		o.ReportWait = 10 * time.Second
	}
	if o.BatchMax <= 0 {
		o.BatchMax = 500
	}
	if o.Now == nil {
		o.Now = st.opts.Now
	}
	if o.Logger == nil {
		o.Logger = st.opts.Logger
	}
	return o, nil
}

// Server answers the device protocol (see the package documentation). GETs
// are served from an immutable in-memory snapshot of every device's key and
// released bundle, swapped whole when the file changes, so a GET never
// waits for the disk. Reports and last-seen times go through one writer
// goroutine (Run) that group-commits them.
type Server struct {
	st   *Store
	opts ServeOptions
	log  *slog.Logger

	snap     atomic.Pointer[snapshot]
	inflight atomic.Int64

	mu      sync.Mutex
	pending []*pendingReport
	kick    chan struct{}
	running atomic.Bool
}

// snapshot is what GETs read. It is never modified once published.
type snapshot struct {
	gen     uint64
	devices map[string]*entry
	// catalogues are the signed catalogue objects by address.
	catalogues map[string][]byte
}

type entry struct {
	id     string
	pubB64 string
	pub    *sm2.PublicKey
	// bundle is the released bundle, nil if none; etag is `"<hash>"`.
	bundle  []byte
	version uint64
	etag    string
	// live outlives snapshots: last-seen bookkeeping.
	live *liveState
}

type liveState struct {
	seen    atomic.Int64 // unix nanos of the last authenticated request
	flushed int64        // what the writer last stored (writer only)
}

type pendingReport struct {
	id   string
	rep  Report
	done chan error
}

// NewServer loads the snapshot. Call Run for the writer and use the Server
// as the http.Handler.
func NewServer(st *Store, o ServeOptions) (*Server, error) {
	o, err := o.withDefaults(st)
	if err != nil {
		return nil, err
	}
	s := &Server{st: st, opts: o, log: o.Logger, kick: make(chan struct{}, 1)}
	snap, err := buildSnapshot(context.Background(), st.b, nil)
	if err != nil {
		return nil, fmt.Errorf("serve: load: %w", err)
	}
	s.snap.Store(snap)
	return s, nil
}

// buildSnapshot reads every device's key and released bundle, reusing
// parsed keys and bundle bytes of old where unchanged.
func buildSnapshot(ctx context.Context, b Backend, old *snapshot) (*snapshot, error) {
	prevOf := func(id string) *entry {
		if old == nil {
			return nil
		}
		return old.devices[id]
	}
	var oldCats map[string][]byte
	if old != nil {
		oldCats = old.catalogues
	}
	view, err := b.Served(ctx, func(id string, ref *BundleRef) bool {
		prev := prevOf(id)
		return prev == nil || prev.version != ref.Version || prev.etag != `"`+ref.Hash+`"`
	}, func(addr string) bool {
		_, have := oldCats[addr]
		return !have
	})
	if err != nil {
		return nil, err
	}
	snap := &snapshot{gen: view.Gen, devices: make(map[string]*entry, len(view.Devices)),
		catalogues: make(map[string][]byte, len(view.Catalogues))}
	for _, c := range view.Catalogues {
		if c.Data != nil {
			snap.catalogues[c.Address] = c.Data
		} else if data, ok := oldCats[c.Address]; ok {
			snap.catalogues[c.Address] = data
		} else {
			return nil, fmt.Errorf("catalogue %s: not read", c.Address)
		}
	}
	for _, sd := range view.Devices {
		d := sd.Device
		e := &entry{id: d.ID, pubB64: d.PublicKey}
		prev := prevOf(d.ID)
		if prev != nil && prev.pubB64 == d.PublicKey {
			e.pub, e.live = prev.pub, prev.live
		} else {
			if e.pub, err = gm.ParsePublicKey(d.PublicKey); err != nil {
				return nil, fmt.Errorf("device %s: %w", d.ID, err)
			}
			e.live = &liveState{}
			if prev != nil {
				e.live = prev.live
			}
		}
		if ref := sd.Released; ref != nil {
			e.version, e.etag = ref.Version, `"`+ref.Hash+`"`
			if sd.Bundle != nil {
				e.bundle = sd.Bundle
			} else {
				e.bundle = prev.bundle
			}
		}
		snap.devices[d.ID] = e
	}
	return snap, nil
}

// Run is the writer: it commits queued reports together with the
// last-seen times, evaluates the running rollout, and reloads the snapshot
// when another command changed the file. It runs until ctx is done, then
// commits what is queued and returns.
//
// Batching: a report handler queues its report and waits; the writer takes
// everything queued at that moment into one transaction (one fsync pair),
// so under load a commit carries many reports and a quiet HQ commits each
// report as soon as it arrives. Last-seen times are written on each cycle
// for the devices seen since the last one.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("hq: serve: Run called twice")
	}
	t := time.NewTicker(s.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.cycle()
			s.failPending(errors.New("hq is shutting down"))
			return nil
		case <-s.kick:
			s.linger(ctx)
		case <-t.C:
		}
		s.cycle()
	}
}

// linger lets a report batch fill for BatchWait or up to BatchMax reports.
func (s *Server) linger(ctx context.Context) {
	if s.opts.BatchWait <= 0 {
		return
	}
	timer := time.NewTimer(s.opts.BatchWait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		n := len(s.pending)
		s.mu.Unlock()
		if n >= s.opts.BatchMax {
			return
		}
		select {
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		case <-s.kick: // another report queued: count again
		}
	}
}

// cycle is one writer round.
func (s *Server) cycle() {
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()

	now := s.opts.Now()
	old := s.snap.Load()
	type seenAt struct {
		e *entry
		v int64
	}
	var seen []seenAt
	for _, e := range old.devices {
		if v := e.live.seen.Load(); v > e.live.flushed {
			seen = append(seen, seenAt{e, v})
		}
	}
	// The rollout is evaluated on every cycle: with each report batch,
	// and on each tick for wave timeouts (and, with several replicas, for
	// waves another replica's reports completed).
	b := Batch{Now: now, Reports: make([]DeviceReport, len(batch)), Seen: make([]LastSeen, len(seen))}
	for i, p := range batch {
		b.Reports[i] = DeviceReport{Device: p.id, Report: p.rep}
	}
	for i, x := range seen {
		b.Seen[i] = LastSeen{Device: x.e.id, At: x.v}
	}
	ctx := context.Background()
	res, err := s.st.b.Commit(ctx, b)
	if err == nil {
		for _, x := range seen {
			x.e.live.flushed = x.v
		}
		for _, ev := range res.Events {
			s.log.Info(ev)
		}
	} else {
		s.log.Error("hq: writer cycle failed; reports refused with 503 and retried by the devices", "err", err, "reports", len(batch))
	}
	for _, p := range batch {
		p.done <- err
	}
	if err == nil && res.Gen != old.gen {
		// Another command or replica changed what is served.
		fresh, err := buildSnapshot(ctx, s.st.b, old)
		if err != nil {
			s.log.Error("hq: reloading the served bundles failed; retrying next cycle", "err", err)
			return
		}
		s.snap.Store(fresh)
	}
}

func (s *Server) failPending(err error) {
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, p := range batch {
		p.done <- err
	}
}

// ServeHTTP implements the device protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if n := s.inflight.Add(1); n > int64(s.opts.MaxInFlight) {
		s.inflight.Add(-1)
		s.busy(w, protocol.CodeBusy, "too many requests in flight")
		return
	}
	defer s.inflight.Add(-1)

	if sum, ok := strings.CutPrefix(r.URL.Path, "/v1/catalogues/"); ok {
		s.serveCatalogue(w, r, sum)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/devices/")
	id, action, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || id == "" || (action != "bundle" && action != "report") {
		writeError(w, http.StatusNotFound, protocol.CodeNotFound, "no such path; the protocol has GET /v1/devices/{device}/bundle, POST /v1/devices/{device}/report and GET /v1/catalogues/{sha256}")
		return
	}
	want := http.MethodGet
	if action == "report" {
		want = http.MethodPost
	}
	if r.Method != want {
		w.Header().Set("Allow", want)
		writeError(w, http.StatusMethodNotAllowed, protocol.CodeMethod, want+" only")
		return
	}

	if action == "bundle" && s.fastPoll(w, r, id) {
		return
	}
	e, signed, body, ok := s.authenticate(w, r, id)
	if !ok {
		return
	}
	now := s.opts.Now()
	e.live.seen.Store(now.UnixNano())
	if action == "bundle" {
		w.Header().Set(protocol.HeaderPollToken, s.pollToken(e, unixDay(now)))
		s.serveBundle(w, r, e)
		return
	}
	s.serveReport(w, r, e, signed, body)
}

// authenticate checks the headers and the signature; on failure it has
// answered. The order keeps the SM2 verification (about a millisecond of
// CPU) for requests that got everything else right.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, id string) (*entry, time.Time, []byte, bool) {
	hdrDevice := r.Header.Get(protocol.HeaderDevice)
	switch {
	case hdrDevice == "":
		writeError(w, http.StatusUnauthorized, protocol.CodeAuthMissing, "missing "+protocol.HeaderDevice)
		return nil, time.Time{}, nil, false
	case hdrDevice != id:
		writeError(w, http.StatusUnauthorized, protocol.CodeAuthDevice, fmt.Sprintf("%s %q does not match the device %q in the path", protocol.HeaderDevice, hdrDevice, id))
		return nil, time.Time{}, nil, false
	}
	e := s.snap.Load().devices[id]
	if e == nil {
		writeError(w, http.StatusNotFound, protocol.CodeUnknownDevice, "device "+id+" is not enrolled (pda-hq enroll)")
		return nil, time.Time{}, nil, false
	}
	now := s.opts.Now()
	ts, code, err := protocol.ParseTime(r.Header.Get(protocol.HeaderTime), now, s.opts.ClockSkew)
	if err != nil {
		writeError(w, http.StatusUnauthorized, code, err.Error())
		return nil, time.Time{}, nil, false
	}
	var body []byte
	if r.Method == http.MethodPost {
		body, err = io.ReadAll(io.LimitReader(r.Body, protocol.MaxReportSize+1))
		if err != nil {
			writeError(w, http.StatusBadRequest, protocol.CodeBadRequest, "reading the body: "+err.Error())
			return nil, time.Time{}, nil, false
		}
		if len(body) > protocol.MaxReportSize {
			writeError(w, http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, fmt.Sprintf("a report is at most %d bytes", protocol.MaxReportSize))
			return nil, time.Time{}, nil, false
		}
	}
	if code, err := protocol.VerifySignature(e.pub, r.Method, r.URL.Path, ts.Unix(), body, r.Header.Get(protocol.HeaderSignature)); err != nil {
		s.log.Debug("device authentication failed", "device", id, "remote", r.RemoteAddr, "err", err)
		writeError(w, http.StatusUnauthorized, code, err.Error())
		return nil, time.Time{}, nil, false
	}
	return e, ts, body, true
}

func (s *Server) serveBundle(w http.ResponseWriter, r *http.Request, e *entry) {
	if e.bundle == nil {
		writeError(w, http.StatusNotFound, protocol.CodeNoBundle, "no bundle released to device "+e.id+" yet")
		return
	}
	h := w.Header()
	h.Set("ETag", e.etag)
	h.Set("Cache-Control", "no-cache")
	if etagMatch(r.Header.Get("If-None-Match"), e.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(e.bundle)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(e.bundle)
}

// etagMatch implements If-None-Match's weak comparison over a list,
// without allocating (it runs on every poll).
func etagMatch(header, etag string) bool {
	for header != "" {
		var t string
		t, header, _ = strings.Cut(header, ",")
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// fastPoll answers 304 to a poll that names the device's current bundle
// in If-None-Match and carries a valid poll token: an HMAC check instead
// of an SM2 verification, no store access, no log line. It reports false,
// having written nothing, when the poll must take the full path (no or
// stale token, another bundle, unknown device): that path answers exactly
// as before and hands out a fresh token. See the package documentation
// for what the token does and does not protect.
func (s *Server) fastPoll(w http.ResponseWriter, r *http.Request, id string) bool {
	tok := r.Header.Get(protocol.HeaderPollToken)
	if tok == "" || r.Method != http.MethodGet || r.Header.Get(protocol.HeaderDevice) != id {
		return false
	}
	e := s.snap.Load().devices[id]
	if e == nil || e.bundle == nil || !etagMatch(r.Header.Get("If-None-Match"), e.etag) {
		return false
	}
	now := s.opts.Now()
	if !s.tokenValid(e, tok, unixDay(now)) {
		return false
	}
	e.live.seen.Store(now.UnixNano())
	h := w.Header()
	h["Etag"] = []string{e.etag} // canonical key set directly: no allocation for canonicalisation
	h["Cache-Control"] = noCache
	w.WriteHeader(http.StatusNotModified)
	return true
}

var noCache = []string{"no-cache"}

// Poll tokens: "<day>.<Base64url HMAC-SHA256(PollKey, device, its enrolled
// key, day)>", day being Unix days. A token is accepted on the day it was
// issued and the next, so each device pays about one SM2 check a day;
// it is bound to the enrolled key, so re-enrolling revokes it.
const tokenDays = 2

func unixDay(t time.Time) int64 { return t.Unix() / 86400 }

func (s *Server) pollToken(e *entry, day int64) string {
	return strconv.FormatInt(day, 10) + "." + base64.RawURLEncoding.EncodeToString(s.tokenMAC(e, day))
}

func (s *Server) tokenMAC(e *entry, day int64) []byte {
	m := hmac.New(sha256.New, s.opts.PollKey)
	m.Write([]byte("pda-hq poll token v1\n" + e.id + "\n" + e.pubB64 + "\n" + strconv.FormatInt(day, 10)))
	return m.Sum(nil)
}

func (s *Server) tokenValid(e *entry, tok string, today int64) bool {
	dayText, macText, ok := strings.Cut(tok, ".")
	if !ok {
		return false
	}
	day, err := strconv.ParseInt(dayText, 10, 64)
	if err != nil || day > today || today-day >= tokenDays {
		return false
	}
	var mac [sha256.Size]byte
	if n, err := base64.RawURLEncoding.Decode(mac[:], []byte(macText)); err != nil || n != len(mac) {
		return false
	}
	return hmac.Equal(mac[:], s.tokenMAC(e, day))
}

// serveCatalogue answers GET /v1/catalogues/{sha256}. No authentication:
// the object is signed, holds no secret, and its address is only known
// from a bundle; it never changes, so caches may keep it for ever.
func (s *Server) serveCatalogue(w http.ResponseWriter, r *http.Request, sum string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, protocol.CodeMethod, "GET only")
		return
	}
	data, ok := s.snap.Load().catalogues[sum]
	if !ok {
		writeError(w, http.StatusNotFound, protocol.CodeNotFound, "no catalogue "+sum)
		return
	}
	etag := `"` + sum + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(data)
	}
}

func (s *Server) serveReport(w http.ResponseWriter, r *http.Request, e *entry, signed time.Time, body []byte) {
	var in protocol.Report
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, protocol.CodeBadRequest, "the body is not a report: "+err.Error())
		return
	}
	if stateCode(in.State) == outNone {
		writeError(w, http.StatusBadRequest, protocol.CodeBadRequest, fmt.Sprintf("state must be %s, %s or %s; got %q",
			protocol.StateApplying, protocol.StateApplied, protocol.StateFailed, in.State))
		return
	}
	if len(in.Hash) > 128 || len(in.ConfigHash) > 128 {
		writeError(w, http.StatusBadRequest, protocol.CodeBadRequest, "hash and config_hash are at most 128 characters")
		return
	}
	p := &pendingReport{id: e.id, done: make(chan error, 1), rep: Report{
		State: in.State, Version: in.Version, Hash: in.Hash, Error: truncateRunes(in.Error, protocol.MaxReportErrorLen),
		ConfigHash: in.ConfigHash, At: s.opts.Now().UTC(), SignedAt: signed.UTC()}}
	s.mu.Lock()
	s.pending = append(s.pending, p)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	timer := time.NewTimer(s.opts.ReportWait)
	defer timer.Stop()
	select {
	case err := <-p.done:
		if err != nil {
			s.busy(w, protocol.CodeUnavailable, "the report could not be stored; send it again")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case <-timer.C:
		// Still queued: it will be committed, and a resent copy is
		// harmless (same state recorded again).
		s.busy(w, protocol.CodeUnavailable, "the report is not stored yet; send it again")
	case <-r.Context().Done():
	}
}

func (s *Server) busy(w http.ResponseWriter, code, msg string) {
	d := s.opts.RetryAfter + rand.N(s.opts.RetryAfter+time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(int(d/time.Second)))
	writeError(w, http.StatusServiceUnavailable, code, msg)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	raw, _ := json.Marshal(protocol.ErrorBody{Error: code, Message: msg})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(raw, '\n'))
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// Serve runs the protocol on ln until ctx is done, then stops accepting,
// lets requests in progress finish (up to 10s), commits what is queued
// and returns.
func (s *Store) Serve(ctx context.Context, ln net.Listener, o ServeOptions) error {
	srv, err := NewServer(s, o)
	if err != nil {
		return err
	}
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(runCtx) }()

	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      5 * time.Minute, // a large bundle to a PDA on a slow mobile link
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(srv.log.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()

	var result error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			result = fmt.Errorf("hq: serve: %w", err)
		}
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil && result == nil {
		result = fmt.Errorf("hq: serve: shutdown: %w", err)
	}
	stopRun()
	if err := <-runDone; err != nil && result == nil {
		result = err
	}
	return result
}

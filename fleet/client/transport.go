package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/gm"
)

// Reports are best effort: a few quick tries, then kept as pending so that
// a lost report never holds up applying.
const (
	reportAttempts   = 3
	reportTimeout    = 10 * time.Second
	defaultPause     = 500 * time.Millisecond // doubled after each try
	maxReportError   = 1000                   // characters of error text sent
	maxErrorBodyText = 200                    // characters of an HTTP error body quoted in errors
)

// pollTokenHeader is protocol.HeaderPollToken (the client does not link
// the HQ packages).
const pollTokenHeader = "X-PDA-Poll-Token"

// fetched is an answer of the bundle URL that is not a failure.
type fetched struct {
	status int // 200, 304 or 404
	body   []byte
	etag   string
}

// httpError is a request that failed; retryAfter > 0 when the server asked
// for a pause, permanent when repeating the same request cannot help.
type httpError struct {
	err        error
	retryAfter time.Duration
	permanent  bool
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

// retryAfterOf returns the pause the server asked for, if any.
func retryAfterOf(err error) (time.Duration, bool) {
	var he *httpError
	if errors.As(err, &he) && he.retryAfter > 0 {
		return he.retryAfter, true
	}
	return 0, false
}

func isPermanent(err error) bool {
	var he *httpError
	return errors.As(err, &he) && he.permanent
}

// fetch GETs the bundle URL.
func (c *Client) fetch(ctx context.Context, ifNoneMatch string) (fetched, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	shown := redacted(c.bundleURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.bundleURL, nil)
	if err != nil {
		return fetched{}, fmt.Errorf("fleet: GET %s: %w", shown, err)
	}
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	// Static servers ignore these; sending them anyway keeps one code path.
	if err := c.sign(req, nil); err != nil {
		return fetched{}, err
	}
	c.mu.Lock()
	tok := c.pollToken
	c.mu.Unlock()
	if tok != "" && !c.cfg.Static {
		req.Header.Set(pollTokenHeader, tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fetched{}, fmt.Errorf("fleet: GET bundle: %w", err)
	}
	defer resp.Body.Close()
	if t := resp.Header.Get(pollTokenHeader); t != "" && !c.cfg.Static && len(t) <= 128 {
		c.mu.Lock()
		c.pollToken = t
		c.mu.Unlock()
	}
	switch resp.StatusCode {
	case http.StatusOK:
		data, err := io.ReadAll(io.LimitReader(resp.Body, bundle.MaxSize+1))
		if err != nil {
			return fetched{}, fmt.Errorf("fleet: GET %s: reading the bundle: %w", shown, err)
		}
		if len(data) > bundle.MaxSize {
			return fetched{}, fmt.Errorf("fleet: GET %s: the bundle is larger than %d bytes", shown, bundle.MaxSize)
		}
		return fetched{status: resp.StatusCode, body: data, etag: resp.Header.Get("ETag")}, nil
	case http.StatusNotModified, http.StatusNotFound:
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return fetched{status: resp.StatusCode, etag: resp.Header.Get("ETag")}, nil
	}
	return fetched{}, c.statusError("GET", shown, resp)
}

// postReport sends one report, once.
func (c *Client) postReport(ctx context.Context, r report) error {
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("fleet: encode report: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, min(c.cfg.Timeout, reportTimeout))
	defer cancel()
	shown := redacted(c.reportURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.reportURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("fleet: POST %s: %w", shown, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := c.sign(req, body); err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("fleet: POST report: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil
	}
	return c.statusError("POST", shown, resp)
}

// sign adds the device authentication headers: an SM2 signature (raw r‖s,
// default uid) over "METHOD\npath\nunix-time\nhex(sha256(body))".
func (c *Client) sign(req *http.Request, body []byte) error {
	ts := strconv.FormatInt(c.cfg.Now().Unix(), 10)
	sum := sha256.Sum256(body)
	msg := req.Method + "\n" + req.URL.Path + "\n" + ts + "\n" + hex.EncodeToString(sum[:])
	sig, err := gm.Sign(c.cfg.DeviceKey, []byte(msg), nil, nil)
	if err != nil {
		return fmt.Errorf("fleet: sign the request: %w", err)
	}
	req.Header.Set("X-PDA-Device", c.cfg.Device)
	req.Header.Set("X-PDA-Time", ts)
	req.Header.Set("X-PDA-Signature", base64.StdEncoding.EncodeToString(sig))
	return nil
}

// statusError describes an unexpected HTTP status, quoting the start of the
// body (servers explain themselves there).
func (c *Client) statusError(method, shown string, resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4*maxErrorBodyText))
	text := strings.Join(strings.Fields(strings.ToValidUTF8(string(raw), "?")), " ")
	text = truncate(text, maxErrorBodyText)
	he := &httpError{retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())}
	base := fmt.Errorf("fleet: %s %s: HTTP %s", method, shown, resp.Status)
	if text != "" {
		base = fmt.Errorf("%w: %q", base, text)
	}
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		he.err = fmt.Errorf("%w (device %s, key %s): %w", ErrAuth, c.cfg.Device, gm.Fingerprint(c.devicePub), base)
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		he.err = base
	default:
		he.err, he.permanent = base, code >= 400
	}
	return he
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent,
// unreadable or already past (the caller then uses its own backoff, so
// there is no busy loop).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		if n > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return 0
}

// deliver sends r with a short retry. Undelivered, it becomes the pending
// report, sent again after the next poll HQ answers; a newer report replaces
// it, since HQ needs the device's latest word, not its history.
func (c *Client) deliver(ctx context.Context, r report, attempts int) {
	if c.reportURL == "" {
		return
	}
	r.Error = truncate(r.Error, maxReportError)
	var err error
	pause := c.reportPause
	for attempt := 1; ; attempt++ {
		if err = c.postReport(ctx, r); err == nil || isPermanent(err) || attempt >= attempts || ctx.Err() != nil {
			break
		}
		if sleepCtx(ctx, pause) != nil {
			break
		}
		pause *= 2
	}
	prev := c.snapshot().Pending
	var next *report
	switch {
	case err == nil:
		c.mu.Lock()
		c.lastReport = c.cfg.Now()
		c.mu.Unlock()
		c.log.Debug("fleet report sent", "state", r.State, "version", r.Version, "hash", r.Hash)
	case isPermanent(err):
		c.log.Error("fleet report rejected by the server; dropped", "state", r.State, "version", r.Version, "err", err)
	default:
		c.log.Warn("fleet report not delivered; will resend after the next poll", "state", r.State, "version", r.Version, "err", err)
		next = &r
	}
	if prev == nil && next == nil {
		return
	}
	c.update(func(s *persisted) { s.Pending = next })
	if err := c.save(); err != nil {
		c.log.Error("fleet: cannot save the pending report", "err", err)
	}
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

func redacted(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

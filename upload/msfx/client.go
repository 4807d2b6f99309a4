package msfx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// maxHold is the longest a call waits for a platform ban to end before it
// gives up with a Retry instead (a daily-quota ban lasts hours).
const maxHold = 30 * time.Second

// Client is a 码上放心 TOP client for one store (one AppKey, one ref_ent_id)
// and an upload.Destination. It is safe for concurrent use: every call it
// makes (uploads, queries, polls) shares one rate limiter and one ban.
type Client struct {
	name       string
	gateway    string
	appKey     string
	secret     string
	signMethod string
	session    string
	simplify   bool
	partnerID  string

	refEntID    string
	entID       string
	maxRetail   int
	maxInOut    int
	ignorePart  bool
	skipNonMSFX bool
	selfPartner map[int]bool
	operCode    string
	operName    string

	timeout time.Duration
	poll    time.Duration
	now     func() time.Time
	zone    *time.Location
	http    *http.Client
	limiter *rate.Limiter  // nil: no client-side limit
	earlier upload.Earlier // Config.Earlier

	mu          sync.Mutex
	bannedUntil time.Time // monotonic: a ban is elapsed time, not wall time
}

// Name is the destination's name in config and in the queue.
func (c *Client) Name() string { return c.name }

// Call makes one signed call of method with the business parameters params
// (empty values are dropped) and returns the method's answer body, unwrapped
// from its "<method>_response" key when present. Failures are *Error. It is
// the building block of the typed methods, for methods they do not cover.
func (c *Client) Call(ctx context.Context, method string, params map[string]string) (json.RawMessage, error) {
	body, err := c.call(ctx, method, params)
	if err != nil {
		return nil, err
	}
	return body, nil
}

// call is Call returning the concrete error type.
func (c *Client) call(ctx context.Context, method string, params map[string]string) (json.RawMessage, *Error) {
	if err := c.hold(ctx, method); err != nil {
		return nil, err
	}
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, transportErr(method, 0, false, err, "not sent: waiting for the client rate limit: %v", err)
		}
		// A ban may have started while we queued for a token.
		if err := c.hold(ctx, method); err != nil {
			return nil, err
		}
	}
	form, err := c.form(method, params, c.now())
	if err != nil {
		return nil, &Error{Method: method, Class: upload.Permanent, Msg: "building the request: " + err.Error(), Err: err}
	}
	status, data, wrote, err := c.post(ctx, form)
	if err != nil {
		return nil, transportErr(method, 0, wrote, err, "%v", c.describeTransport(ctx, err))
	}
	body, e := unwrapAnswer(method, status, data, c.now())
	if e != nil {
		e.Msg, e.SubCode = c.redact(e.Msg), c.redact(e.SubCode)
		if e.hold > 0 {
			c.ban(e.hold)
		}
		return nil, e
	}
	return body, nil
}

// post sends the form and reads the answer (bounded). wrote is true once
// the request was on the wire, after which it may have been applied.
func (c *Client) post(ctx context.Context, form url.Values) (status int, data []byte, wrote bool, err error) {
	return upload.Exchange(ctx, c.http, c.timeout, maxAnswer, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.gateway, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, fmt.Errorf("building request: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
		req.Header.Set("Accept", "application/json")
		return req, nil
	})
}

// describeTransport says plainly whether the caller gave up, the call
// timed out or the network failed. It never repeats the URL (no secret is
// in it, but messages stay short).
func (c *Client) describeTransport(ctx context.Context, err error) string {
	switch {
	case ctx.Err() != nil:
		return fmt.Sprintf("cancelled: %v", context.Cause(ctx))
	case errors.Is(err, upload.ErrTimeout) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("timed out after %v", c.timeout)
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	return c.redact(err.Error())
}

// hold waits while the platform bans this AppKey, so that no call of this
// client makes the ban longer. A ban longer than maxHold, or than ctx
// allows, ends the call at once with a Retry carrying the remaining time.
func (c *Client) hold(ctx context.Context, method string) *Error {
	c.mu.Lock()
	until := c.bannedUntil
	c.mu.Unlock()
	wait := time.Until(until)
	if wait <= 0 {
		return nil
	}
	heldErr := func() *Error {
		return &Error{Method: method, Class: upload.Retry, RetryAfter: wait.Round(time.Second) + time.Second,
			Msg: fmt.Sprintf("not sent: the platform throttles this AppKey for %v more", wait.Round(time.Second))}
	}
	if d, ok := ctx.Deadline(); wait > maxHold || (ok && time.Until(d) < wait) {
		return heldErr()
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return transportErr(method, 0, false, ctx.Err(), "not sent: cancelled while waiting for a platform ban to end: %v", context.Cause(ctx))
	case <-t.C:
		return nil
	}
}

// ban makes every call of this client wait d from now.
func (c *Client) ban(d time.Duration) {
	until := time.Now().Add(d)
	c.mu.Lock()
	if until.After(c.bannedUntil) {
		c.bannedUntil = until
	}
	c.mu.Unlock()
}

// redact removes the AppSecret from text that could have echoed it.
func (c *Client) redact(s string) string {
	if c.secret == "" {
		return s
	}
	return strings.ReplaceAll(s, c.secret, "[redacted]")
}

// upload calls an upload method and judges its answer; dup is true for the
// duplicate-bill answer (uploaded earlier). The answer is read at the top
// level (as the SDK declares it) or inside "result".
func (c *Client) upload(ctx context.Context, method string, params map[string]string) (*wire.UploadResult, bool, *Error) {
	body, e := c.call(ctx, method, params)
	if e != nil {
		return nil, false, e
	}
	var r wire.UploadResult
	if err := wire.Decode(body, &r); err != nil {
		return nil, false, transportErr(method, http.StatusOK, true, err, "unreadable upload answer (%v): %s", err, c.redact(snippet(body)))
	}
	dup, e := classifyUpload(method, &r)
	if e != nil {
		e.Msg = c.redact(e.Msg)
		return nil, false, e
	}
	return &r, dup, nil
}

// answer is a method's result type (wire.…Result): every one carries the
// business verdict.
type answer interface{ Verdict() *wire.Status }

// query calls a query method and reads its answer into into, whatever the
// layout (wire.Decode). found is false for FAIL_BIZ_NO_PAT_INFO.
func (c *Client) query(ctx context.Context, method string, params map[string]string, into answer) (bool, *Error) {
	body, e := c.call(ctx, method, params)
	if e != nil {
		return false, e
	}
	if err := wire.Decode(body, into); err != nil {
		// A payload of an unexpected shape is a platform or contract
		// change, retried so that nothing is lost meanwhile.
		return false, transportErr(method, http.StatusOK, false, err, "unreadable answer (%v): %s", err, c.redact(snippet(body)))
	}
	found, e := classifyQuery(method, into.Verdict())
	if e != nil {
		e.Msg = c.redact(e.Msg)
		return false, e
	}
	return found, nil
}

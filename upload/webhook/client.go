package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	_ "time/tzdata" // bill_time is Shanghai time even on devices without a zoneinfo database

	"github.com/pda-agent/pda-agent/upload"
)

const (
	// DefaultTimeout bounds one HTTP request when Options.Timeout is zero.
	DefaultTimeout = 10 * time.Second
	// DefaultName is the destination name when Options.Name is empty.
	DefaultName = "webhook"

	// BillTimeLayout is the wire format of bill_time (Asia/Shanghai).
	BillTimeLayout = "2006-01-02 15:04:05"

	// maxResponse bounds how much of an answer is read: a receiver that
	// streams garbage must not exhaust a handheld's memory.
	maxResponse = 1 << 20
	// maxRetryAfter caps a receiver's Retry-After so a bogus value cannot
	// park a bill for days.
	maxRetryAfter = time.Hour
	// maxMessage bounds how much of a receiver's text lands in an Outcome.
	maxMessage = 300
	// maxListedCodes bounds how many rejected codes a message lists.
	maxListedCodes = 10
)

// Options configures a Client.
type Options struct {
	// Name is the destination's name in config and in the queue
	// (DefaultName if empty).
	Name string
	// URL is the receiver's base URL (http or https); requests go to
	// {URL}/v1/bills.
	URL string
	// KeyID is sent as X-PDA-Key so the receiver knows which secret to use.
	KeyID string
	// Secret signs every request. It is never sent, logged or put in a
	// message.
	Secret string
	// Timeout bounds each HTTP request (the query and the send separately).
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock for X-PDA-Timestamp (time.Now if nil).
	Now func() time.Time
	// HTTPClient carries the requests (a private transport if nil). The
	// client is copied so that redirects are not followed: a signed POST
	// must not be silently replayed elsewhere or turned into a GET.
	HTTPClient *http.Client
	// BillTypes, if not empty, are the only bill types this destination
	// forwards; any other bill is refused as Permanent without a request.
	BillTypes []int
	// Earlier, if set, names an earlier bill moving one of the bill's packs
	// that has not reached the receiver yet; the bill waits for it. A
	// receiver keeping stock refuses a re-sale that arrives before the
	// return that made the pack sellable again.
	Earlier upload.Earlier
}

// Client delivers bills to one webhook receiver. It is safe for concurrent
// use.
type Client struct {
	name      string
	base      string // scheme://host[/path], no trailing slash
	keyID     string
	secret    []byte
	timeout   time.Duration
	now       func() time.Time
	http      *http.Client
	billTypes []int
	loc       *time.Location
	earlier   upload.Earlier // Options.Earlier
}

var _ upload.Destination = (*Client)(nil)

// New checks o and returns a Client.
func New(o Options) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("webhook: invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("webhook: URL %q: scheme must be http or https", o.URL)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("webhook: URL %q: no host", o.URL)
	}
	// Credentials in the URL would end up in error messages and logs; the
	// protocol authenticates with the signature instead.
	if u.User != nil {
		return nil, errors.New("webhook: URL must not carry user info; use KeyID and Secret")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("webhook: URL %q: must not have a query or fragment", o.URL)
	}
	if o.KeyID == "" {
		return nil, errors.New("webhook: empty key id")
	}
	if o.Secret == "" {
		return nil, errors.New("webhook: empty secret")
	}
	timeout := o.Timeout
	switch {
	case timeout < 0:
		return nil, fmt.Errorf("webhook: negative timeout %v", timeout)
	case timeout == 0:
		timeout = DefaultTimeout
	}
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return nil, fmt.Errorf("webhook: loading Asia/Shanghai: %w", err)
	}

	var hc http.Client
	if o.HTTPClient != nil {
		hc = *o.HTTPClient
	} else {
		hc.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	c := &Client{
		name:      o.Name,
		base:      strings.TrimRight(u.String(), "/"),
		keyID:     o.KeyID,
		secret:    []byte(o.Secret),
		timeout:   timeout,
		now:       o.Now,
		http:      &hc,
		billTypes: slices.Clone(o.BillTypes),
		loc:       loc,
		earlier:   o.Earlier,
	}
	if c.name == "" {
		c.name = DefaultName
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Name is the destination's name in config and in the queue.
func (c *Client) Name() string { return c.name }

// Accepts reports whether this destination forwards bills of type t.
func (c *Client) Accepts(t int) bool {
	return len(c.billTypes) == 0 || slices.Contains(c.billTypes, t)
}

// wireBill is the POST body; field order is the documented one.
type wireBill struct {
	BillCode string     `json:"bill_code"`
	BillType int        `json:"bill_type"`
	BillTime string     `json:"bill_time"`
	Device   string     `json:"device"`
	Session  string     `json:"session"`
	Partner  string     `json:"partner"`
	Operator string     `json:"operator"`
	Codes    []wireCode `json:"codes"`
}

type wireCode struct {
	Code    string `json:"code"`
	Kind    string `json:"kind"`
	Product string `json:"product"`
}

// answer is any JSON answer: a success ({status, ref}) or an error
// ({error, message, codes}). Extra fields are ignored on purpose: being
// lenient in what we read keeps receivers free to add fields.
type answer struct {
	Status   string   `json:"status"`
	Ref      string   `json:"ref"`
	BillCode string   `json:"bill_code"`
	Error    string   `json:"error"`
	Message  string   `json:"message"`
	Codes    []string `json:"codes"`
}

// response is what came back from one request, read in full (bounded).
type response struct {
	code       int
	body       []byte
	ans        answer
	jsonErr    error // why body is not a JSON answer, nil if it is
	tooLarge   bool  // body was cut at maxResponse
	retryAfter time.Duration
}

// Deliver makes one attempt to hand job's bill to the receiver.
func (c *Client) Deliver(ctx context.Context, job upload.Job) upload.Outcome {
	out := c.deliver(ctx, job)
	// Defence in depth: the secret is never sent, but a receiver (or a
	// proxy) could still echo it back from its own configuration.
	out.Message = strings.ReplaceAll(out.Message, string(c.secret), "[redacted]")
	return out
}

func (c *Client) deliver(ctx context.Context, job upload.Job) upload.Outcome {
	b := job.Bill
	if b.Code == "" {
		return permanent("webhook: bill %d has no bill_code", b.ID)
	}
	if !c.Accepts(b.Type) {
		return permanent("webhook: bill %s: type %d is not forwarded by destination %q", b.Code, b.Type, c.name)
	}
	if b.FinishedAt.IsZero() {
		return permanent("webhook: bill %s has no finish time", b.Code)
	}

	if job.Unknown {
		if out, final := c.query(ctx, b.Code); final {
			// Until a query answers, the bill may still be there.
			out.MaybeApplied = out.Class == upload.Retry
			return out
		}
	}

	// The receiver does not have it: packs go in the order they moved.
	if out := c.earlier.Hold(ctx, job, c.name, ""); out != nil {
		out.Message = "webhook: " + out.Message
		return *out
	}
	body, err := json.Marshal(c.payload(job))
	if err != nil {
		return permanent("webhook: bill %s: encoding body: %v", b.Code, err)
	}
	target := c.base + "/v1/bills"
	resp, err := c.do(ctx, http.MethodPost, target, b.Code, body)
	if err != nil {
		out := retry("webhook: POST %s: %v", target, err)
		// Once the request was on the wire the receiver may have applied
		// it: the next attempt asks first.
		var se *sendError
		out.MaybeApplied = errors.As(err, &se) && se.wrote
		return out
	}
	out := classifyPost(target, resp)
	// A 5xx may come from a proxy after the receiver applied the bill.
	out.MaybeApplied = out.Class == upload.Retry && resp.code >= 500
	return out
}

// sendError is a transport failure that knows whether the request had been
// written to the connection.
type sendError struct {
	err   error
	wrote bool
}

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// query asks the receiver whether it already has the bill. final is true
// when out is final (the bill is there, or the question could not be
// answered); false means the receiver said 404 and the bill must be sent.
func (c *Client) query(ctx context.Context, code string) (out upload.Outcome, final bool) {
	target := c.base + "/v1/bills/" + url.PathEscape(code)
	resp, err := c.do(ctx, http.MethodGet, target, "", nil)
	if err != nil {
		return retry("webhook: GET %s (query before resend): %v", target, err), true
	}
	switch {
	case resp.code == http.StatusOK && resp.jsonErr == nil && resp.ans.BillCode == code:
		return upload.Outcome{
			Class:   upload.Done,
			Ref:     resp.ans.Ref,
			Message: "already delivered (found by query before resend)",
		}, true
	case resp.code == http.StatusOK && resp.jsonErr == nil:
		return retry("webhook: GET %s (query before resend): %s: answer is for bill_code %q",
			target, upload.StatusText(resp.code), clip(resp.ans.BillCode)), true
	case resp.code == http.StatusOK:
		return retry("webhook: GET %s (query before resend): %s: unexpected answer: %s",
			target, upload.StatusText(resp.code), describeBody(resp)), true
	case resp.code == http.StatusNotFound:
		// Any 404, even a receiver's generic page for a GET it never
		// implemented: sending again is safe because bill_code is the
		// idempotency key, and the receiver answers "duplicate" if needed.
		return upload.Outcome{}, false
	}
	// Without a clear "not found" we cannot rule out that the bill is
	// there; sending again is only safe once the receiver says so.
	out = retry("webhook: GET %s (query before resend): %s: %s", target, upload.StatusText(resp.code), describeBody(resp))
	out.RetryAfter = resp.retryAfter
	return out, true
}

func (c *Client) payload(job upload.Job) wireBill {
	b := job.Bill
	w := wireBill{
		BillCode: b.Code,
		BillType: b.Type,
		BillTime: b.FinishedAt.In(c.loc).Format(BillTimeLayout),
		Device:   b.Device,
		Session:  b.Session,
		Partner:  b.Partner,
		Operator: b.Operator,
		Codes:    make([]wireCode, 0, len(job.Items)),
	}
	for _, it := range job.Items {
		w.Codes = append(w.Codes, wireCode{Code: it.Code, Kind: it.Kind, Product: it.Product})
	}
	return w
}

// sign returns the signature headers' values for body at the current time.
func (c *Client) sign(body []byte) (ts, sig string) {
	ts = strconv.FormatInt(c.now().Unix(), 10)
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte(ts))
	m.Write([]byte{'\n'})
	m.Write(body)
	return ts, hex.EncodeToString(m.Sum(nil))
}

// do sends one signed request and reads the answer in full. Errors are
// transport-level (dial, timeout, truncated body) and never include the
// URL, which callers put in front.
func (c *Client) do(ctx context.Context, method, target, idemKey string, body []byte) (*response, error) {
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	var wrote atomic.Bool
	rctx = httptrace.WithClientTrace(rctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	})
	req, err := http.NewRequestWithContext(rctx, method, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	ts, sig := c.sign(body)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-PDA-Timestamp", ts)
	req.Header.Set("X-PDA-Key", c.keyID)
	req.Header.Set("X-PDA-Signature", sig)
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &sendError{err: c.transportError(ctx, rctx, err), wrote: wrote.Load()}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, &sendError{err: fmt.Errorf("%s: reading answer: %w", upload.StatusText(resp.StatusCode), c.transportError(ctx, rctx, err)), wrote: true}
	}
	r := &response{code: resp.StatusCode, body: data}
	if len(data) > maxResponse {
		r.tooLarge = true
		r.jsonErr = fmt.Errorf("answer larger than %d bytes", maxResponse)
		r.body = data[:maxResponse]
	} else if err := json.Unmarshal(data, &r.ans); err != nil {
		r.jsonErr = err
	}
	r.retryAfter = c.retryAfter(resp.Header.Get("Retry-After"))
	return r, nil
}

// transportError says plainly whether we gave up, the caller gave up, or
// the network failed.
func (c *Client) transportError(parent, rctx context.Context, err error) error {
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("cancelled: %w", context.Cause(parent))
	case errors.Is(rctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("timed out after %v", c.timeout)
	}
	// *url.Error repeats method and URL, which the caller already says.
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// retryAfter reads Retry-After as seconds or an HTTP date.
func (c *Client) retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(c.now())
	}
	return min(max(d, 0), maxRetryAfter)
}

// classifyPost maps the answer to a send onto an upload class.
func classifyPost(target string, r *response) upload.Outcome {
	prefix := "webhook: POST " + target + ": " + upload.StatusText(r.code)
	switch {
	case r.code >= 200 && r.code < 300:
		if r.jsonErr != nil {
			return retry("%s: %s", prefix, describeBody(r))
		}
		switch r.ans.Status {
		case "accepted":
			return upload.Outcome{Class: upload.Done, Ref: r.ans.Ref, Message: "accepted"}
		case "duplicate":
			return upload.Outcome{Class: upload.Done, Ref: r.ans.Ref, Message: "duplicate: already accepted"}
		}
		return retry("%s: unexpected status %q", prefix, clip(r.ans.Status))
	case r.code == http.StatusTooManyRequests || r.code >= 500:
		out := retry("%s: %s", prefix, describeBody(r))
		out.RetryAfter = r.retryAfter
		return out
	case r.code == http.StatusBadRequest, r.code == http.StatusUnauthorized,
		r.code == http.StatusForbidden, r.code == http.StatusConflict,
		r.code == http.StatusRequestEntityTooLarge, r.code == http.StatusUnprocessableEntity:
		return permanent("%s: %s", prefix, describeBody(r))
	}
	// Redirects, 404 (a wrong path in config), 405, 408 ...: nothing here
	// says the bill is bad, and a fixed configuration lets it through.
	return retry("%s: unexpected answer: %s", prefix, describeBody(r))
}

// describeBody renders an answer for an operator: the receiver's reason,
// its words and the codes it named, or a clipped snippet of a non-JSON body.
func describeBody(r *response) string {
	if r.tooLarge {
		return fmt.Sprintf("%v: %s", r.jsonErr, clip(string(r.body)))
	}
	if r.jsonErr != nil {
		if len(bytes.TrimSpace(r.body)) == 0 {
			return "empty body"
		}
		return fmt.Sprintf("non-JSON body (%v): %s", r.jsonErr, clip(string(r.body)))
	}
	a := r.ans
	var parts []string
	if a.Error != "" {
		parts = append(parts, clip(a.Error))
	}
	if a.Message != "" {
		parts = append(parts, clip(a.Message))
	}
	s := strings.Join(parts, ": ")
	if len(a.Codes) > 0 {
		shown := a.Codes[:min(len(a.Codes), maxListedCodes)]
		list := clip(strings.Join(shown, ", "))
		if more := len(a.Codes) - len(shown); more > 0 {
			list += fmt.Sprintf(" and %d more", more)
		}
		s += " [codes: " + list + "]"
	}
	if s == "" {
		return "no error reason given"
	}
	return s
}

// clip makes receiver text safe for a one-line message: control characters
// become spaces and the length is bounded. Unlike upload.Clip it keeps the
// receiver's spacing: an ERP's words are quoted as sent.
func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > maxMessage {
		s = string(r[:maxMessage]) + "…"
	}
	return s
}

func retry(format string, args ...any) upload.Outcome {
	return upload.Outcome{Class: upload.Retry, Message: fmt.Sprintf(format, args...)}
}

func permanent(format string, args ...any) upload.Outcome {
	return upload.Outcome{Class: upload.Permanent, Message: fmt.Sprintf(format, args...)}
}

package nhsa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

const (
	// maxAnswer bounds how much of an answer is read: a gateway streaming
	// garbage must not exhaust a handheld's memory.
	maxAnswer = 4 << 20
	// maxMessage bounds how much platform text lands in one message.
	maxMessage = 500
)

// Error is a failed FSI call, classified for the upload queue.
type Error struct {
	// Infno is the interface called.
	Infno string
	// Msgid is the msgid of the request, when one was made.
	Msgid string
	// Class is what the failure means for a bill: upload.Retry,
	// upload.Permanent, or upload.Done for the duplicate-row answer
	// (fsi.ErrTextDuplicateNo: the rows are already on the platform).
	Class upload.Class
	// HTTPStatus is the answer's HTTP status; 0 when none arrived.
	HTTPStatus int
	// Infcode is the FSI infcode when HasInfcode (a trusted FSI answer
	// arrived).
	Infcode    int
	HasInfcode bool
	// Msg is the platform's own words (err_msg, the channel's message, the
	// gateway's text) or what went wrong in transport.
	Msg string
	// Hint names the likely cause for an operator; empty if none is known.
	Hint string
	// MaybeApplied is true when the request was delivered and no
	// trustworthy answer came back: it may have been applied.
	MaybeApplied bool
	// Err is the underlying transport or decoding error, if any.
	Err error

	// answered: the platform or its gateway answered this very request
	// with a definitive refusal, so it was not applied.
	answered bool
	// msgidRefused: the refusal was of the msgid or its time, not of the
	// rows: the next attempt draws a new msgid.
	msgidRefused bool
}

// Error renders the interface, the infcode or HTTP status, the words and
// the hint.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Infno)
	b.WriteString(": ")
	switch {
	case e.HasInfcode:
		fmt.Fprintf(&b, "infcode %d: ", e.Infcode)
	case e.HTTPStatus != 0 && e.HTTPStatus/100 != 2:
		fmt.Fprintf(&b, "HTTP %s: ", upload.StatusText(e.HTTPStatus))
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	return b.String()
}

// Unwrap returns the underlying transport or decoding error.
func (e *Error) Unwrap() error { return e.Err }

// Call makes one FSI call of infno with input as the request's input
// object (e.g. {"data": {...}}), under a new msgid, through the configured
// header scheme and envelope. It returns the platform's answer whenever a
// trusted one arrived; a non-zero infcode and every other failure is an
// *Error as well.
func (c *Client) Call(ctx context.Context, infno string, input any) (*fsi.Response, error) {
	if err := checkID("infno", infno, 5); err != nil {
		return nil, fmt.Errorf("nhsa[%s]: %w", c.cfg.Env, err)
	}
	raw, err := marshalJSON(input)
	if err != nil {
		return nil, fmt.Errorf("nhsa[%s]: %s: encoding the input: %w", c.cfg.Env, infno, err)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, fmt.Errorf("nhsa[%s]: %s: the input must be a JSON object", c.cfg.Env, infno)
	}
	now := c.cfg.Now()
	msgid, err := c.newMsgID(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("nhsa[%s]: %s: not sent: %w", c.cfg.Env, infno, err)
	}
	req, err := c.request(infno, msgid, now, c.cfg.InsuplcAdmdvs, raw)
	if err != nil {
		return nil, fmt.Errorf("nhsa[%s]: %s: %w", c.cfg.Env, infno, err)
	}
	resp, e := c.send(ctx, infno, msgid, req)
	if e != nil {
		return resp, e
	}
	return resp, nil
}

// Delete removes one record from the platform by its fixmedins_bchno
// (3507), for the operator: invDataType is fsi.DeleteInventory,
// DeleteStock, DeletePurchase or DeleteSale. Failures wrap an *Error.
func (c *Client) Delete(ctx context.Context, bchno, invDataType string) error {
	if err := checkID("fixmedins_bchno", bchno, fsi.BchnoMaxLen); err != nil {
		return fmt.Errorf("nhsa[%s]: 3507: %w", c.cfg.Env, err)
	}
	switch invDataType {
	case fsi.DeleteInventory, fsi.DeleteStock, fsi.DeletePurchase, fsi.DeleteSale:
	default:
		return fmt.Errorf("nhsa[%s]: 3507: inv_data_type %q: want 1 (盘存), 2 (库存变更), 3 (采购) or 4 (销售)", c.cfg.Env, invDataType)
	}
	in := map[string]any{fsi.NodeDelete: fsi.Delete{FixmedinsBchno: bchno, InvDataType: invDataType}}
	if _, err := c.Call(ctx, fsi.InfDelete, in); err != nil {
		return fmt.Errorf("nhsa[%s]: deleting %s (inv_data_type %s): %w", c.cfg.Env, bchno, invDataType, err)
	}
	return nil
}

// request builds the FSI request JSON of one call.
func (c *Client) request(infno, msgid string, now time.Time, insuplc string, input json.RawMessage) ([]byte, error) {
	b, err := marshalJSON(fsi.Request{
		Infno: infno, Msgid: msgid, MdtrtareaAdmvs: c.cfg.MdtrtareaAdmvs, InsuplcAdmdvs: insuplc,
		RecerSysCode: c.prof.RecerSysCode, Infver: c.cfg.Infver, OpterType: c.cfg.OpterType,
		Opter: c.cfg.Opter, OpterName: c.cfg.OpterName, InfTime: now.In(c.zone).Format(fsi.TimeLayout),
		FixmedinsCode: c.cfg.FixmedinsCode, FixmedinsName: c.cfg.FixmedinsName, Signtype: c.cfg.Signtype, Input: input,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding the request: %w", err)
	}
	return b, nil
}

// send delivers one FSI request (plain is its JSON) and judges the answer.
// The response is returned whenever a trusted FSI answer arrived. Every
// message is redacted.
func (c *Client) send(ctx context.Context, infno, msgid string, plain []byte) (*fsi.Response, *Error) {
	resp, e := c.exchange(ctx, infno, plain)
	if e != nil {
		e.Msgid = msgid
		e.Msg, e.Hint = c.redact(e.Msg), c.redact(e.Hint)
	}
	return resp, e
}

func (c *Client) exchange(ctx context.Context, infno string, plain []byte) (*fsi.Response, *Error) {
	now := c.cfg.Now()
	body := plain
	if c.cfg.Envelope == EnvelopeSM2SM4 {
		var err error
		if body, err = c.seal(plain, now); err != nil {
			return nil, &Error{Infno: infno, Class: upload.Retry, Msg: "not sent: " + err.Error(), Err: err}
		}
	}
	status, data, wrote, err := c.post(ctx, body, now)
	if err != nil {
		what := c.describeTransport(ctx, err)
		if !wrote {
			what = "not sent: " + what
		}
		return nil, &Error{Infno: infno, Class: upload.Retry, MaybeApplied: wrote, Msg: what, Err: err}
	}
	return c.judge(infno, status, data)
}

// post sends body and reads the answer (bounded). wrote is true once the
// request was on the wire, after which it may have been applied.
func (c *Client) post(ctx context.Context, body []byte, now time.Time) (status int, data []byte, wrote bool, err error) {
	return upload.Exchange(ctx, c.http, c.cfg.Timeout, maxAnswer, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.prof.URL, bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("building the HTTP request: %w", err)
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("Accept", "application/json")
		if err := c.setAuthHeaders(req.Header, now); err != nil {
			return nil, err
		}
		return req, nil
	})
}

// describeTransport says plainly whether the caller gave up, the call
// timed out or the network failed, without repeating the URL.
func (c *Client) describeTransport(ctx context.Context, err error) string {
	switch {
	case ctx.Err() != nil:
		return fmt.Sprintf("cancelled: %v", context.Cause(ctx))
	case errors.Is(err, upload.ErrTimeout) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("timed out after %v", c.cfg.Timeout)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the connection closed without an answer"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// judge turns one HTTP answer into the FSI response or a classified
// failure. Order matters: an authentication refusal is believed whatever
// the body; a trusted FSI answer is classified by its infcode whatever the
// status; only then do gateway texts and the HTTP status speak.
func (c *Client) judge(infno string, status int, body []byte) (*fsi.Response, *Error) {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		hint, class, ok := authRefusal(string(body))
		if !ok {
			hint, class = fmt.Sprintf("the gateway refused this caller: check gateway_auth and its credentials for the %s environment, and the device clock", c.cfg.Env), upload.Permanent
		}
		return nil, &Error{Infno: infno, Class: class, HTTPStatus: status, answered: true, Msg: snippet(body), Hint: hint}
	}
	if len(body) > maxAnswer {
		return nil, &Error{Infno: infno, Class: upload.Retry, HTTPStatus: status, MaybeApplied: true,
			Msg: fmt.Sprintf("answer larger than %d bytes: %s", maxAnswer, snippet(body[:maxAnswer]))}
	}
	var plain []byte
	if c.cfg.Envelope == EnvelopeSM2SM4 {
		p, ok, e := c.openEnvelope(infno, body)
		if e != nil {
			e.HTTPStatus = status
			if status >= 500 && e.Class != upload.Permanent {
				// A 5xx is a fault, whatever its body says (a JSON
				// {"code":500,"message":…} included): the platform may
				// have applied the request before it failed.
				e.answered, e.MaybeApplied = false, true
				e.Hint = "gateway or platform fault; the request may have been applied"
			}
			return nil, e
		}
		if ok {
			plain = p
		}
	} else if looksFSI(body) {
		plain = body
	}
	if plain != nil {
		var r fsi.Response
		if err := json.Unmarshal(plain, &r); err != nil {
			return nil, &Error{Infno: infno, Class: upload.Retry, HTTPStatus: status, MaybeApplied: true, Err: err,
				Msg: fmt.Sprintf("unreadable FSI answer (%v): %s", err, snippet(plain))}
		}
		e := c.classifyFSI(infno, &r)
		if e != nil {
			e.HTTPStatus = status
			return &r, e
		}
		return &r, nil
	}
	if hint, class, ok := authRefusal(string(body)); ok {
		return nil, &Error{Infno: infno, Class: class, HTTPStatus: status, answered: true, Msg: snippet(body), Hint: hint}
	}
	switch {
	case status >= 500:
		return nil, &Error{Infno: infno, Class: upload.Retry, HTTPStatus: status, MaybeApplied: true, Msg: snippet(body),
			Hint: "gateway or platform fault; the request may have been applied"}
	case c.cfg.Envelope == EnvelopeSM2SM4 && looksFSI(body):
		e := c.unverified(infno, "a plain, unsigned FSI answer came back although the SM2/SM4 envelope is configured: "+snippet(body))
		e.HTTPStatus = status
		return nil, e
	case status/100 != 2:
		// Something answered, and it was not the FSI service: not applied.
		return nil, &Error{Infno: infno, Class: upload.Retry, HTTPStatus: status, Msg: snippet(body), answered: true,
			Hint: "the request did not reach the FSI service: check the profile URL"}
	}
	what := "not an FSI answer"
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' {
		what = "a JSON answer without infcode"
	}
	return nil, &Error{Infno: infno, Class: upload.Retry, HTTPStatus: status, MaybeApplied: true, Msg: what + ": " + snippet(body)}
}

// looksFSI tells whether body is a JSON object carrying infcode.
func looksFSI(body []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	_, ok := m["infcode"]
	return ok
}

// classifyFSI judges a trusted FSI answer's infcode; nil means infcode 0
// (the business result in output is judged apart, by businessVerdict).
func (c *Client) classifyFSI(infno string, r *fsi.Response) *Error {
	if r.Infcode == fsi.InfcodeOK {
		return nil
	}
	text := r.ErrMsg
	e := &Error{Infno: infno, Infcode: int(r.Infcode), HasInfcode: true, Msg: orNone(clip(text)), answered: true}
	kind, hint, ok := c.verdict(text)
	if !ok {
		kind = VerdictPermanent
	}
	e.Class, e.Hint, e.msgidRefused = classOf(kind), hint, kind == VerdictMsgid
	return e
}

// authRefusal recognises the gateways' authentication refusals (nhsa.md
// §2.4) and says what to check. Retrying cannot fix a credential
// (Permanent); a refused timestamp is Retry: the agent stamps requests with
// the time measured from the platforms' answers (upload/clockskew), so a
// later attempt carries a corrected time, and a wrong clock must not turn
// bills into dead letters.
func authRefusal(text string) (hint string, class upload.Class, ok bool) {
	switch {
	case strings.Contains(text, "签名时间戳超时"), strings.Contains(text, "签名时间戳格式错误"), strings.Contains(text, "timestamp超时"):
		return "the gateway refused the request's timestamp: this device's clock is off (China time; the gateway allows a window of minutes); retried with the time measured from the platform's answers — set the clock (NTP)", upload.Retry, true
	case strings.Contains(text, "请求重放"):
		return "the gateway saw this request's nonce before: a replay, or a proxy resending requests", upload.Permanent, true
	case strings.Contains(text, "appId不存在"):
		return "the platform does not know this channel: check app_id for this environment", upload.Permanent, true
	case strings.Contains(text, "解密失败"):
		return "the platform cannot decrypt the request: check app_secret (数字密钥) for this environment", upload.Permanent, true
	case strings.Contains(text, "缺少服务网关的请求头"):
		return "the gateway misses its headers: check gateway_auth (x-tif or api) for this province", upload.Permanent, true
	case strings.Contains(text, "签名不一致"), strings.Contains(text, "验签失败"):
		return "signature mismatch: check the gateway credentials (paas token / api secret key) and, for the SM2/SM4 envelope, app_secret, the channel private key and uid", upload.Permanent, true
	case strings.Contains(text, "非法用户"):
		return "the gateway does not know this caller: check paas id / api access key / app id for this environment", upload.Permanent, true
	}
	return "", 0, false
}

// marshalJSON encodes v compactly without HTML escaping, as the Java and
// C# clients write JSON (so "<" stays "<" in names).
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func snippet(data []byte) string { return upload.Snippet(data, maxMessage) }
func clip(s string) string       { return upload.Clip(s, maxMessage) }

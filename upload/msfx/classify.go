package msfx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

const (
	// maxAnswer bounds how much of an answer is read: a gateway or proxy
	// streaming garbage must not exhaust a handheld's memory. A 1000-code
	// codedetail answer is well below this.
	maxAnswer = 4 << 20
	// maxMessage bounds how much platform text lands in one message.
	maxMessage = 500
	// maxBan caps a parsed ban so a garbled sub_msg cannot park calls for days.
	maxBan = 24 * time.Hour
	// limitedRetry is the wait for the old per-user/session/partner quota
	// codes (4/5/6/8), which say "later" without saying how long.
	limitedRetry = time.Minute
	// clockRetry is the least wait after a refused timestamp: each answer,
	// the refusals included, is a sample of the platform's clock, and two
	// agreeing samples correct the request time (upload/clockskew).
	clockRetry = 5 * time.Second
	// defaultBan is the hold after a code 7 whose sub_msg names no length;
	// bans of about 2 s are what was seen live.
	defaultBan = 2 * time.Second
)

// Sub-codes with a special meaning (msfx.md §5.2).
const (
	subDailyQuota  = "accesscontrol.limited-by-app-access-count"
	subIPWhitelist = "isv.permission-ip-whitelist-limit"
)

// Error is a failed call to the gateway, classified for the upload queue.
// Class is upload.Retry or upload.Permanent.
type Error struct {
	// Method is the TOP method called.
	Method string
	// Class says whether trying again can help.
	Class upload.Class
	// Code is error_response.code; 0 when the gateway answered normally
	// (business refusal) or not at all (transport).
	Code int
	// SubCode is error_response.sub_code, or the business msg_code.
	SubCode string
	// Msg is the platform's own words (msg and sub_msg, or msg_info), or
	// what went wrong in transport.
	Msg string
	// Hint names the likely cause for an operator; empty if none is known.
	Hint string
	// HTTPStatus is the answer's HTTP status; 0 when none arrived.
	HTTPStatus int
	// RetryAfter is the minimum wait the platform asked for (ban seconds,
	// daily quota); zero leaves it to the queue's backoff.
	RetryAfter time.Duration
	// MaybeApplied is true when the request may have been applied even
	// though no clear answer arrived (sent, then timeout, 5xx, garbage, or a
	// gateway-to-back-end fault): an upload must be looked up before it is
	// sent again.
	MaybeApplied bool
	// RequestID is the gateway's request_id, when given.
	RequestID string
	// Err is the underlying transport or decoding error, if any.
	Err error

	// hold is how long the whole client must stop calling (code 7 bans).
	hold time.Duration
}

// Error renders the method, the platform's code and words, the hint and
// the wait.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(shortMethod(e.Method))
	b.WriteString(": ")
	switch {
	case e.Code != 0:
		fmt.Fprintf(&b, "TOP error %d", e.Code)
		if e.SubCode != "" {
			b.WriteString(" " + e.SubCode)
		}
		b.WriteString(": ")
	case e.SubCode != "":
		b.WriteString(e.SubCode + ": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %v", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns the underlying transport or decoding error.
func (e *Error) Unwrap() error { return e.Err }

// shortMethod drops the common "alibaba.alihealth." prefix for messages.
func shortMethod(m string) string {
	if s, ok := strings.CutPrefix(m, "alibaba.alihealth."); ok {
		return s
	}
	return m
}

// transportErr is a retryable failure without a usable answer.
func transportErr(method string, status int, maybe bool, err error, format string, args ...any) *Error {
	return &Error{Method: method, Class: upload.Retry, HTTPStatus: status, MaybeApplied: maybe, Err: err, Msg: fmt.Sprintf(format, args...)}
}

// unwrapAnswer checks one HTTP answer and returns the method's body:
// error_response first (it keeps its wrapper even with simplify), then the
// body under the method's wrapper key or, simplified, the top level.
// Everything that is not a clean JSON answer is a transport failure; as the
// request was written, it may have been applied.
func unwrapAnswer(method string, status int, data []byte, now time.Time) (json.RawMessage, *Error) {
	if status >= 500 {
		return nil, transportErr(method, status, true, nil, "HTTP %s: %s", upload.StatusText(status), snippet(data))
	}
	if len(data) > maxAnswer {
		return nil, transportErr(method, status, true, nil, "answer larger than %d bytes: %s", maxAnswer, snippet(data[:maxAnswer]))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		what := "non-JSON answer"
		if t := bytes.TrimSpace(data); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			what = "truncated or malformed JSON answer"
		}
		return nil, transportErr(method, status, true, err, "HTTP %s: %s (%v): %s", upload.StatusText(status), what, err, snippet(data))
	}
	if raw, ok := top["error_response"]; ok {
		var er wire.ErrorResponse
		if err := json.Unmarshal(raw, &er); err != nil {
			return nil, transportErr(method, status, true, err, "unreadable error_response (%v): %s", err, snippet(raw))
		}
		e := topError(method, er, now)
		e.HTTPStatus = status
		return nil, e
	}
	if status != http.StatusOK {
		// Redirects, 404 from a wrong gateway path, 403 from a firewall:
		// the request did not reach TOP, nothing says the bill is bad, and
		// a fixed configuration helps.
		return nil, transportErr(method, status, false, nil, "HTTP %s: unexpected answer: %s", upload.StatusText(status), snippet(data))
	}
	if raw, ok := top[wire.ResponseKey(method)]; ok {
		return raw, nil
	}
	// simplify=true drops the wrapper; accept the top level either way.
	return data, nil
}

// topError classifies an error_response following msfx.md §5.2. A code 7
// is throttling, never a business failure.
func topError(method string, er wire.ErrorResponse, now time.Time) *Error {
	e := &Error{
		Method: method, Code: int(er.Code), SubCode: clip(string(er.SubCode)),
		Msg: joinWords(string(er.Msg), string(er.SubMsg)), RequestID: string(er.RequestID),
	}
	sub, subMsg, msg := string(er.SubCode), string(er.SubMsg), string(er.Msg)
	ban, hasBan := banSeconds(subMsg)
	if !hasBan {
		ban, hasBan = banSeconds(msg)
	}
	switch code := int(er.Code); {
	case code == 7:
		e.Class = upload.Retry
		switch {
		case sub == subDailyQuota:
			e.RetryAfter = untilChinaMidnight(now)
			if hasBan && ban > e.RetryAfter {
				e.RetryAfter = ban
			}
			e.Hint = "the AppKey's daily call quota is used up; calls resume after 00:00 China time"
		case hasBan:
			e.RetryAfter = ban
			e.Hint = "throttled by the platform; every call of this AppKey waits for the ban to end"
		default:
			e.RetryAfter = defaultBan
			e.Hint = "throttled by the platform"
		}
		e.hold = e.RetryAfter
	case strings.HasPrefix(sub, "isp."):
		// The gateway could not complete the call to the back end, which
		// may still have applied it.
		e.Class, e.MaybeApplied = upload.Retry, true
		e.Hint = "platform-side fault; retrying later"
	case code == 10:
		e.Class, e.MaybeApplied = upload.Retry, true
		e.Hint = "service currently unavailable; retrying later"
	case code == 4 || code == 5 || code == 6 || code == 8:
		e.Class, e.RetryAfter = upload.Retry, limitedRetry
		if hasBan {
			e.RetryAfter = ban
		}
		e.Hint = "call quota limited; retrying later"
	case code == 11 || code == 12 || code == 13:
		e.Class = upload.Permanent
		if sub == subIPWhitelist || strings.Contains(strings.ToLower(subMsg+msg), "whitelist") {
			e.Hint = "this device's public IP is not on the AppKey's IP whitelist: add it in the TOP console (store PCs on dynamic IPs change address)"
		} else {
			e.Hint = "the AppKey lacks permission for this API: check the granted API packages, or whether the API needs a session (需要授权)"
		}
	case strings.HasPrefix(sub, "isv."):
		e.Class = upload.Permanent
		e.Hint = "the platform refused the request's content; fix the bill or the configuration"
	case code == 31:
		// Invalid Timestamp: the device clock is off. The agent stamps
		// requests with the time measured from the platforms' answers
		// (upload/clockskew), so a later attempt carries a corrected time;
		// a wrong clock must not turn bills into dead letters.
		e.Class, e.RetryAfter = upload.Retry, clockRetry
		e.Hint = protocolHint(code)
	case code >= 21 && code <= 34, code >= 40 && code <= 43:
		e.Class = upload.Permanent
		e.Hint = protocolHint(code)
	default:
		// Unlisted codes (and 15/50 without an isv.* sub_code) say nothing
		// about the bill; assume a platform fault.
		e.Class, e.MaybeApplied = upload.Retry, true
	}
	if e.Class == upload.Retry && e.RetryAfter == 0 && hasBan {
		e.RetryAfter = ban
	}
	return e
}

// protocolHint explains the protocol error codes an operator can fix.
func protocolHint(code int) string {
	switch code {
	case 24, 25:
		return "signature rejected: check the AppSecret and sign_method"
	case 26, 27:
		return "session missing or invalid: check msfx session (only APIs marked 需要授权 need one)"
	case 28, 29:
		return "AppKey missing or invalid: check msfx app_key"
	case 30, 31:
		return "timestamp rejected: the device clock is off (the platform allows ±10 min of China time); retried with the time measured from the platform's answers — set the clock (NTP)"
	case 21, 22:
		return "method missing or unknown to the platform"
	}
	return "the request is malformed; this needs a fix, not a retry"
}

// banSeconds reads N from "This ban will last for N more seconds" and
// returns N+1 s, so the retry lands after the ban rather than on its edge.
func banSeconds(s string) (time.Duration, bool) {
	_, rest, ok := strings.Cut(s, wire.BanPattern)
	if !ok {
		return 0, false
	}
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(rest[:end])
	if err != nil || n < 0 {
		return 0, false
	}
	return min(time.Duration(n+1)*time.Second, maxBan), true
}

// untilChinaMidnight is the wait until the next 00:00 UTC+8, when daily
// quotas reset, plus a second of margin.
func untilChinaMidnight(now time.Time) time.Duration {
	t := now.In(chinaZone())
	next := time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, t.Location())
	return next.Sub(now) + time.Second
}

// classifyUpload judges an upload's business answer. dup is true for the
// duplicate-bill answer, which means an earlier upload succeeded.
func classifyUpload(method string, r *wire.UploadResult) (dup bool, err *Error) {
	code, info, reqID := string(r.MsgCode), string(r.MsgInfo), string(r.RequestID)
	words := joinWords(info, string(r.SubMsgCode))
	flag := r.Flag()
	switch {
	case strings.Contains(info, wire.DuplicateBillText):
		return true, nil
	case code == wire.MsgSuccess && flag != nil && bool(*flag):
		return false, nil
	case strings.Contains(info, wire.BusyText):
		return false, &Error{Method: method, Class: upload.Retry, SubCode: clip(code), Msg: words, RequestID: reqID,
			Hint: "the platform is busy; retrying later"}
	case code == "" || code == wire.MsgSuccess:
		// No verdict, or SUCCESS without (or contradicted by)
		// response_success: we cannot tell whether the bill was queued;
		// look it up next time.
		return false, &Error{Method: method, Class: upload.Retry, MaybeApplied: true, SubCode: clip(code), RequestID: reqID,
			Msg: fmt.Sprintf("unclear answer (msg_code %q, response_success %s): %s", clip(code), flagWords(flag), words)}
	}
	if r.OperationInfo != nil && strings.TrimSpace(string(r.OperationInfo.CodeCheckErrorInfo)) != "" {
		// A strict bill (ignore_part_success_flag=1) is refused as a whole;
		// the codes to blame are only here.
		words += "; code_check_error_info " + clip(string(r.OperationInfo.CodeCheckErrorInfo))
	}
	return false, &Error{Method: method, Class: upload.Permanent, SubCode: clip(code), Msg: words, RequestID: reqID,
		Hint: businessHint(code, info)}
}

// flagWords renders a success flag that may be absent.
func flagWords(f *wire.Bool) string {
	if f == nil {
		return "absent"
	}
	return fmt.Sprint(bool(*f))
}

// businessHint explains the business refusals seen in practice.
func businessHint(code, info string) string {
	switch {
	case strings.Contains(info, wire.SoldCodeText):
		return "a code on this bill was already sold (核销) on the platform; check for a double sale"
	case code == wire.MsgRepeatFlow:
		return "these codes were already uploaded on another bill, possibly by another system; reconcile before uploading again"
	case code == wire.MsgAuthError:
		return "this enterprise is not the receiving party of the bill"
	case code == wire.MsgBillDecodeError:
		return "the platform could not decode the bill"
	case code == wire.MsgFileNameDuplicate:
		return "the platform saw this upload file name before"
	}
	return ""
}

// classifyQuery judges a query's verdict. found is false for
// FAIL_BIZ_NO_PAT_INFO (not found), which is not an error for lookups.
func classifyQuery(method string, st *wire.Status) (found bool, err *Error) {
	code, info := string(st.MsgCode), string(st.MsgInfo)
	flag := st.Flag()
	words := joinWords(info)
	switch {
	case code == wire.MsgSuccess && (flag == nil || bool(*flag)):
		return true, nil
	case code == wire.MsgNoInfo:
		return false, nil
	case strings.Contains(info, wire.BusyText):
		return false, &Error{Method: method, Class: upload.Retry, SubCode: clip(code), Msg: words, Hint: "the platform is busy; retrying later"}
	case code == "" || code == wire.MsgSuccess:
		return false, &Error{Method: method, Class: upload.Retry, SubCode: clip(code),
			Msg: fmt.Sprintf("unclear answer (msg_code %q, neither inside result nor at the top level): %s", clip(code), words)}
	}
	return false, &Error{Method: method, Class: upload.Permanent, SubCode: clip(code), Msg: words, Hint: businessHint(code, info)}
}

// joinWords joins the non-empty platform texts with " / ", clipped.
func joinWords(parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p = clip(p); p != "" {
			keep = append(keep, p)
		}
	}
	if len(keep) == 0 {
		return "no message"
	}
	return strings.Join(keep, " / ")
}

func snippet(data []byte) string { return upload.Snippet(data, maxMessage) }
func clip(s string) string       { return upload.Clip(s, maxMessage) }

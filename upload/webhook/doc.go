// Package webhook is a generic signed-webhook destination: it forwards
// finished bills (单据) to a chain's own ERP or HQ endpoint over HTTP. It is
// also the back end the agent's demo and tests use, against the strict
// in-process platform in package sandbox.
//
// # Wire protocol
//
// The protocol is our own. A receiver is configured with a base URL, a key
// id and a shared secret.
//
// Sending a bill:
//
//	POST {base}/v1/bills
//	Content-Type: application/json
//	X-PDA-Timestamp: <unix seconds>
//	X-PDA-Key: <key id>
//	X-PDA-Signature: <lowercase hex HMAC-SHA256(secret, timestamp + "\n" + body)>
//	Idempotency-Key: <bill_code>
//
//	{"bill_code": "...", "bill_type": 321, "bill_time": "2026-11-27 10:01:02",
//	 "device": "...", "session": "...", "partner": "...", "operator": "...",
//	 "codes": [{"code": "...", "kind": "msfx20", "product": "..."}]}
//
// bill_time is the bill's finish time formatted "2006-01-02 15:04:05" in
// Asia/Shanghai. The signature covers the exact body bytes, so a receiver
// must verify it before parsing. Receivers reject timestamps too far from
// their own clock (the sandbox allows ±5 minutes), which bounds how long a
// captured request can be replayed; replaying within the window is harmless
// because bill_code is the idempotency key.
//
// Answers:
//
//	200 {"status":"accepted","ref":"..."}   the bill is applied now
//	200 {"status":"duplicate","ref":"..."}  same bill_code, identical content, already applied
//	409 {"error":"conflict",...}            same bill_code, different content
//	422 {"error":"<reason>","message":"...","codes":[...]}  business rejection (e.g. already_sold)
//	400 / 401 / 403 / 413                   malformed, unauthenticated or refused request
//	429 + Retry-After: <seconds>            throttled
//	5xx                                     receiver trouble
//
// Error bodies are JSON {"error": "<machine reason>", "message": "<human text>"}.
//
// Looking a bill up, signed the same way over an empty body:
//
//	GET {base}/v1/bills/{bill_code}
//	200 {"bill_code": "...", "ref": "...", ...}   the receiver has the bill
//	404 {"error": "not_found", ...}               it does not
//
// # Classification
//
// [Client.Deliver] maps answers to upload classes: accepted and duplicate are
// Done; 409, 422, 400, 401, 403 and 413 are Permanent (retrying the same
// bytes cannot help); 429, 5xx, network errors, timeouts and any answer that
// does not follow the protocol (non-JSON, unknown status, truncated or
// oversized body, redirects, other status codes) are Retry, because they say
// nothing reliable about the bill.
//
// When a job is Unknown (an earlier attempt may have reached the receiver),
// the client queries before resending: 200 is Done without sending again,
// 404 sends, anything else is Retry.
package webhook

package sandbox_test

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
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/upload/webhook/sandbox"
)

const (
	testKey    = "store-0001"
	testSecret = "test-secret-0123456789abcdef"
)

// clock is the sandbox's time in every test: 2026-11-27 10:05:00 Shanghai.
var clock = time.Date(2026, 11, 27, 2, 5, 0, 0, time.UTC)

func newServer() *sandbox.Server {
	return sandbox.New(sandbox.Options{KeyID: testKey, Secret: testSecret, Now: func() time.Time { return clock }})
}

func startHTTPTest(t *testing.T) (*sandbox.Server, *httptest.Server) {
	t.Helper()
	s := newServer()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

// bill is a valid 321 body as a map, so tests can break it field by field.
func bill(code string, typ int, codes ...string) map[string]any {
	list := make([]any, len(codes))
	for i, c := range codes {
		list[i] = map[string]any{"code": c, "kind": "msfx20", "product": "阿莫西林胶囊"}
	}
	return map[string]any{
		"bill_code": code,
		"bill_type": typ,
		"bill_time": "2026-11-27 10:01:02",
		"device":    "pda-01",
		"session":   "sess-1",
		"partner":   "",
		"operator":  "op-7",
		"codes":     list,
	}
}

// call is one request to the sandbox, signed at send time.
type call struct {
	method, path string
	body         []byte
	signed       []byte // what the signature covers; body if nil
	key, secret  string
	ts           time.Time
	hdr          map[string]string // set after signing; "" deletes
}

func post(m map[string]any) *call {
	body, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	code, _ := m["bill_code"].(string)
	return &call{
		method: http.MethodPost, path: "/v1/bills", body: body,
		key: testKey, secret: testSecret, ts: clock,
		hdr: map[string]string{"Idempotency-Key": code},
	}
}

func get(code string) *call {
	return &call{method: http.MethodGet, path: "/v1/bills/" + code, key: testKey, secret: testSecret, ts: clock, hdr: map[string]string{}}
}

func sign(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "\n"))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// request builds the signed request; it panics only on a broken test
// (it also runs on client goroutines, where t.Fatal is not allowed).
func (c *call) request(base string) *http.Request {
	req, err := http.NewRequest(c.method, base+c.path, bytes.NewReader(c.body))
	if err != nil {
		panic(err)
	}
	ts := strconv.FormatInt(c.ts.Unix(), 10)
	signed := c.signed
	if signed == nil {
		signed = c.body
	}
	if c.method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-PDA-Key", c.key)
	req.Header.Set("X-PDA-Timestamp", ts)
	req.Header.Set("X-PDA-Signature", sign(c.secret, ts, signed))
	for k, v := range c.hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return req
}

// answer is any sandbox answer, decoded.
type answer struct {
	Status   string   `json:"status"`
	Ref      string   `json:"ref"`
	Error    string   `json:"error"`
	Message  string   `json:"message"`
	Codes    []string `json:"codes"`
	BillCode string   `json:"bill_code"`
}

func send(t testing.TB, hc *http.Client, base string, c *call) (int, answer, http.Header) {
	t.Helper()
	resp, err := hc.Do(c.request(base))
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading answer: %v", err)
	}
	var a answer
	if err := json.Unmarshal(data, &a); err != nil {
		t.Fatalf("%s %s: %d answer is not JSON: %q", c.method, c.path, resp.StatusCode, data)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("answer Content-Type = %q", ct)
	}
	return resp.StatusCode, a, resp.Header
}

func TestRejections(t *testing.T) {
	s, ts := startHTTPTest(t)
	long := strings.Repeat("9", 101)
	tests := []struct {
		name   string
		bill   func(m map[string]any)
		call   func(c *call)
		status int
		reason string
	}{
		{name: "PUT on collection", call: func(c *call) { c.method = http.MethodPut }, status: 405, reason: "method_not_allowed"},
		{name: "GET on collection", call: func(c *call) { c.method = http.MethodGet }, status: 405, reason: "method_not_allowed"},
		{name: "POST on a bill", call: func(c *call) { c.path = "/v1/bills/B-1" }, status: 405, reason: "method_not_allowed"},
		{name: "unknown path", call: func(c *call) { c.path = "/v2/bills" }, status: 404, reason: "no_route"},
		{name: "trailing slash", call: func(c *call) { c.path = "/v1/bills/" }, status: 404, reason: "no_route"},
		{name: "nested path", call: func(c *call) { c.method, c.path = http.MethodGet, "/v1/bills/a/b" }, status: 404, reason: "no_route"},
		{name: "text/plain", call: func(c *call) { c.hdr["Content-Type"] = "text/plain" }, status: 415, reason: "unsupported_media_type"},
		{name: "no Content-Type", call: func(c *call) { c.hdr["Content-Type"] = "" }, status: 415, reason: "unsupported_media_type"},
		{name: "latin1 charset", call: func(c *call) { c.hdr["Content-Type"] = "application/json; charset=latin1" }, status: 415, reason: "unsupported_media_type"},
		{name: "body over 1 MiB", call: func(c *call) {
			c.body = append(bytes.Repeat([]byte(" "), sandbox.MaxBody), c.body...)
		}, status: 413, reason: "body_too_large"},
		{name: "no key", call: func(c *call) { c.hdr["X-PDA-Key"] = "" }, status: 401, reason: "unknown_key"},
		{name: "unknown key", call: func(c *call) { c.key = "store-0002" }, status: 401, reason: "unknown_key"},
		{name: "no timestamp", call: func(c *call) { c.hdr["X-PDA-Timestamp"] = "" }, status: 401, reason: "bad_timestamp"},
		{name: "timestamp not unix seconds", call: func(c *call) { c.hdr["X-PDA-Timestamp"] = "2026-11-27T10:05:00Z" }, status: 401, reason: "bad_timestamp"},
		{name: "signed timestamp", call: func(c *call) { c.hdr["X-PDA-Timestamp"] = "+" + strconv.FormatInt(clock.Unix(), 10) }, status: 401, reason: "bad_timestamp"},
		{name: "no signature", call: func(c *call) { c.hdr["X-PDA-Signature"] = "" }, status: 401, reason: "bad_signature"},
		{name: "wrong secret", call: func(c *call) { c.secret = "not-the-secret" }, status: 401, reason: "bad_signature"},
		{name: "tampered body", call: func(c *call) {
			c.signed = c.body
			c.body = bytes.Replace(c.body, []byte(`"bill_type":321`), []byte(`"bill_type":116`), 1)
		}, status: 401, reason: "bad_signature"},
		{name: "signature over body only", call: func(c *call) {
			m := hmac.New(sha256.New, []byte(testSecret))
			m.Write(c.body)
			c.hdr["X-PDA-Signature"] = hex.EncodeToString(m.Sum(nil))
		}, status: 401, reason: "bad_signature"},
		{name: "uppercase signature", call: func(c *call) {
			c.hdr["X-PDA-Signature"] = strings.ToUpper(sign(testSecret, strconv.FormatInt(clock.Unix(), 10), c.body))
		}, status: 401, reason: "bad_signature"},
		{name: "stale timestamp", call: func(c *call) { c.ts = clock.Add(-6 * time.Minute) }, status: 401, reason: "stale_timestamp"},
		{name: "timestamp ahead", call: func(c *call) { c.ts = clock.Add(6 * time.Minute) }, status: 401, reason: "stale_timestamp"},
		{name: "invalid JSON", call: func(c *call) { c.body = []byte(`{"bill_code":`) }, status: 400, reason: "invalid_json"},
		{name: "trailing data", call: func(c *call) { c.body = append(c.body, []byte(` {}`)...) }, status: 400, reason: "invalid_json"},
		{name: "JSON array", call: func(c *call) { c.body = []byte(`[]`) }, status: 400, reason: "invalid_json"},
		{name: "JSON null", call: func(c *call) { c.body = []byte(`null`) }, status: 400, reason: "invalid_json"},
		{name: "unknown field", bill: func(m map[string]any) { m["store"] = "x" }, status: 400, reason: "unknown_field"},
		{name: "field in other case", bill: func(m map[string]any) { m["Operator"] = m["operator"]; delete(m, "operator") }, status: 400, reason: "unknown_field"},
		{name: "unknown code field", bill: func(m map[string]any) {
			m["codes"] = []any{map[string]any{"code": "C1", "kind": "msfx20", "batch": "B1"}}
		}, status: 400, reason: "unknown_field"},
		{name: "bill_type as string", bill: func(m map[string]any) { m["bill_type"] = "321" }, status: 400, reason: "invalid_field"},
		{name: "codes not a list", bill: func(m map[string]any) { m["codes"] = "C1" }, status: 400, reason: "invalid_field"},
		{name: "empty bill_code", bill: func(m map[string]any) { m["bill_code"] = "" }, status: 400, reason: "invalid_bill_code"},
		{name: "bill_code too long", bill: func(m map[string]any) { m["bill_code"] = strings.Repeat("B", 41) }, status: 400, reason: "invalid_bill_code"},
		{name: "bill_code with slash", bill: func(m map[string]any) { m["bill_code"] = "B/1" }, status: 400, reason: "invalid_bill_code"},
		{name: "no Idempotency-Key", call: func(c *call) { c.hdr["Idempotency-Key"] = "" }, status: 400, reason: "missing_idempotency_key"},
		{name: "Idempotency-Key mismatch", call: func(c *call) { c.hdr["Idempotency-Key"] = "B-2" }, status: 400, reason: "idempotency_key_mismatch"},
		{name: "unknown bill_type", bill: func(m map[string]any) { m["bill_type"] = 999 }, status: 400, reason: "invalid_bill_type"},
		{name: "no bill_type", bill: func(m map[string]any) { delete(m, "bill_type") }, status: 400, reason: "invalid_bill_type"},
		{name: "no bill_time", bill: func(m map[string]any) { delete(m, "bill_time") }, status: 400, reason: "invalid_bill_time"},
		{name: "bill_time with slashes", bill: func(m map[string]any) { m["bill_time"] = "2026/11/27 10:01:02" }, status: 400, reason: "invalid_bill_time"},
		{name: "bill_time RFC 3339", bill: func(m map[string]any) { m["bill_time"] = "2026-11-27T10:01:02+08:00" }, status: 400, reason: "invalid_bill_time"},
		{name: "bill_time two days ahead", bill: func(m map[string]any) { m["bill_time"] = "2026-11-29 10:06:00" }, status: 400, reason: "future_bill_time"},
		{name: "no codes", bill: func(m map[string]any) { delete(m, "codes") }, status: 400, reason: "no_codes"},
		{name: "empty codes", bill: func(m map[string]any) { m["codes"] = []any{} }, status: 400, reason: "no_codes"},
		{name: "empty code", bill: func(m map[string]any) { m["codes"] = []any{map[string]any{"code": "", "kind": "msfx20"}} }, status: 400, reason: "invalid_code"},
		{name: "code too long", bill: func(m map[string]any) { m["codes"] = []any{map[string]any{"code": long, "kind": "msfx20"}} }, status: 400, reason: "invalid_code"},
		{name: "code twice", bill: func(m map[string]any) {
			m["codes"] = []any{map[string]any{"code": "C1"}, map[string]any{"code": "C2"}, map[string]any{"code": "C1"}}
		}, status: 400, reason: "duplicate_code"},
		{name: "GET without key", call: func(c *call) { *c = *get("B-1"); c.hdr["X-PDA-Key"] = "" }, status: 401, reason: "unknown_key"},
		{name: "GET wrong secret", call: func(c *call) { *c = *get("B-1"); c.secret = "nope" }, status: 401, reason: "bad_signature"},
		{name: "GET stale", call: func(c *call) { *c = *get("B-1"); c.ts = clock.Add(-time.Hour) }, status: 401, reason: "stale_timestamp"},
		{name: "GET bad bill_code", call: func(c *call) { *c = *get("B.1") }, status: 400, reason: "invalid_bill_code"},
	}
	want := map[string]int{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := bill("B-1", 321, "C1", "C2")
			if tc.bill != nil {
				tc.bill(m)
			}
			c := post(m)
			if tc.call != nil {
				tc.call(c)
			}
			status, a, _ := send(t, ts.Client(), ts.URL, c)
			if status != tc.status || a.Error != tc.reason {
				t.Fatalf("got %d %q (%s), want %d %q", status, a.Error, a.Message, tc.status, tc.reason)
			}
			if a.Message == "" {
				t.Error("error answer without a message")
			}
			if strings.Contains(a.Message, testSecret) {
				t.Error("answer leaks the secret")
			}
		})
		want[tc.reason]++
	}
	st := s.Stats()
	if st.Accepted != 0 || len(s.Bills()) != 0 {
		t.Errorf("bad requests were applied: %+v", st)
	}
	for reason, n := range want {
		if st.Rejected[reason] != n {
			t.Errorf("Stats.Rejected[%q] = %d, want %d", reason, st.Rejected[reason], n)
		}
	}
	if st.Requests != len(tests) {
		t.Errorf("Stats.Requests = %d, want %d", st.Requests, len(tests))
	}
}

func TestAcceptAndLookup(t *testing.T) {
	s, ts := startHTTPTest(t)
	hc := ts.Client()

	status, a, _ := send(t, hc, ts.URL, get("B-1"))
	if status != 404 || a.Error != "not_found" {
		t.Fatalf("GET before accept: %d %+v, want 404 not_found", status, a)
	}

	c := post(bill("B-1", 321, "C1", "C2"))
	c.hdr["Content-Type"] = "application/json; charset=UTF-8"
	c.ts = clock.Add(-sandbox.DefaultWindow) // the edge of the window is inside
	status, a, _ = send(t, hc, ts.URL, c)
	if status != 200 || a.Status != "accepted" || a.Ref == "" {
		t.Fatalf("POST: %d %+v, want 200 accepted", status, a)
	}
	ref := a.Ref

	// A bill finished up to a day ahead of the platform clock is tolerated.
	m := bill("B-2", 116, "C9")
	m["bill_time"] = "2026-11-28 10:04:00"
	if status, a, _ := send(t, hc, ts.URL, post(m)); status != 200 || a.Status != "accepted" {
		t.Fatalf("POST bill_time 23h ahead: %d %+v", status, a)
	}

	status, a, _ = send(t, hc, ts.URL, get("B-1"))
	if status != 200 || a.BillCode != "B-1" || a.Ref != ref {
		t.Fatalf("GET after accept: %d %+v, want bill B-1 ref %s", status, a, ref)
	}

	bills := s.Bills()
	if len(bills) != 2 {
		t.Fatalf("ledger has %d bills, want 2", len(bills))
	}
	got := bills[0]
	if got.BillCode != "B-1" || got.BillType != 321 || !slices.Equal(got.Codes, []string{"C1", "C2"}) ||
		got.Ref != ref || got.Applied != 1 || got.Duplicates != 0 || !got.At.Equal(clock) {
		t.Errorf("ledger entry = %+v", got)
	}
	// The ledger is a copy: changing it does not change the sandbox.
	bills[0].Codes[0] = "X"
	if s.Bills()[0].Codes[0] != "C1" {
		t.Error("Bills shares memory with the ledger")
	}
	st := s.Stats()
	if st.Requests != 4 || st.Accepted != 2 || st.Queries != 2 || len(st.Rejected) != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestDuplicateAndConflict(t *testing.T) {
	s, ts := startHTTPTest(t)
	hc := ts.Client()
	m := bill("B-1", 321, "C1", "C2")
	first := post(m)
	status, a, _ := send(t, hc, ts.URL, first)
	if status != 200 || a.Status != "accepted" {
		t.Fatalf("first: %d %+v", status, a)
	}
	ref := a.Ref

	// The exact same signed request, replayed.
	if status, a, _ := send(t, hc, ts.URL, first); status != 200 || a.Status != "duplicate" || a.Ref != ref {
		t.Fatalf("replay: %d %+v, want duplicate %s", status, a, ref)
	}
	// Same content, other JSON formatting and a fresh signature.
	indented, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	again := post(m)
	again.body = indented
	again.ts = clock.Add(time.Minute)
	if status, a, _ := send(t, hc, ts.URL, again); status != 200 || a.Status != "duplicate" || a.Ref != ref {
		t.Fatalf("reformatted: %d %+v, want duplicate %s", status, a, ref)
	}
	// Same bill_code, other content.
	for name, change := range map[string]func(map[string]any){
		"codes":      func(m map[string]any) { m["codes"] = bill("", 0, "C1", "C3")["codes"] },
		"code order": func(m map[string]any) { m["codes"] = bill("", 0, "C2", "C1")["codes"] },
		"bill_type":  func(m map[string]any) { m["bill_type"] = 116 },
		"operator":   func(m map[string]any) { m["operator"] = "op-8" },
	} {
		m := bill("B-1", 321, "C1", "C2")
		change(m)
		status, a, _ := send(t, hc, ts.URL, post(m))
		if status != 409 || a.Error != "conflict" {
			t.Errorf("%s changed: %d %+v, want 409 conflict", name, status, a)
		}
	}
	bills := s.Bills()
	if len(bills) != 1 || bills[0].Applied != 1 || bills[0].Duplicates != 2 || bills[0].Ref != ref {
		t.Fatalf("ledger = %+v", bills)
	}
	if st := s.Stats(); st.Accepted != 1 || st.Duplicates != 2 || st.Rejected["conflict"] != 4 {
		t.Errorf("stats = %+v", st)
	}
}

func TestAlreadySoldAndReturn(t *testing.T) {
	s, ts := startHTTPTest(t)
	hc := ts.Client()
	step := func(code string, typ int, wantStatus int, wantSold []string, codes ...string) {
		t.Helper()
		status, a, _ := send(t, hc, ts.URL, post(bill(code, typ, codes...)))
		if status != wantStatus {
			t.Fatalf("%s (%d %v): %d %+v, want %d", code, typ, codes, status, a, wantStatus)
		}
		if wantSold != nil && (a.Error != "already_sold" || !slices.Equal(a.Codes, wantSold)) {
			t.Fatalf("%s: %+v, want already_sold %v", code, a, wantSold)
		}
	}
	step("S-1", 321, 200, nil, "A", "B")
	step("S-2", 321, 422, []string{"B"}, "B", "C")      // B is sold
	step("S-1", 321, 200, nil, "A", "B")                // resending the sale is a duplicate, not a resale
	step("R-1", 116, 200, nil, "B")                     // the customer brings B back
	step("S-3", 321, 200, nil, "B", "C")                // so B can be sold again
	step("S-4", 321, 422, []string{"A", "B"}, "A", "B") // A never came back, B is sold again
	step("R-2", 116, 200, nil, "C")
	step("P-1", 103, 200, nil, "A") // other bill types do not take part in the sale rule
	step("S-5", 321, 200, nil, "C")

	var got []string
	for _, b := range s.Bills() {
		got = append(got, b.BillCode)
	}
	if want := []string{"S-1", "R-1", "S-3", "R-2", "P-1", "S-5"}; !slices.Equal(got, want) {
		t.Errorf("accepted %v, want %v", got, want)
	}
	if n := s.Stats().Rejected["already_sold"]; n != 2 {
		t.Errorf("already_sold rejections = %d, want 2", n)
	}
}

func TestFaultsInOrder(t *testing.T) {
	s, ts := startHTTPTest(t)
	hc := ts.Client()
	s.InjectFaults(sandbox.FaultHTTP500, sandbox.FaultThrottle)

	c := post(bill("B-1", 321, "C1"))
	if status, a, _ := send(t, hc, ts.URL, c); status != 500 || a.Error == "" {
		t.Fatalf("first: %d %+v, want 500", status, a)
	}
	status, a, h := send(t, hc, ts.URL, c)
	if status != 429 || h.Get("Retry-After") != "1" {
		t.Fatalf("second: %d %+v Retry-After %q, want 429 with Retry-After 1", status, a, h.Get("Retry-After"))
	}
	if len(s.Bills()) != 0 {
		t.Fatal("a faulted request was applied")
	}
	if status, a, _ := send(t, hc, ts.URL, c); status != 200 || a.Status != "accepted" {
		t.Fatalf("third: %d %+v, want accepted", status, a)
	}
	st := s.Stats()
	if st.Faults[sandbox.FaultHTTP500] != 1 || st.Faults[sandbox.FaultThrottle] != 1 || st.Accepted != 1 {
		t.Errorf("stats = %+v", st)
	}
	if len(st.Rejected) != 0 {
		t.Errorf("faults counted as rejections: %v", st.Rejected)
	}

	// Faults apply to lookups too.
	s.InjectFaults(sandbox.FaultHTTP500)
	if status, _, _ := send(t, hc, ts.URL, get("B-1")); status != 500 {
		t.Fatalf("GET with fault: %d, want 500", status)
	}
}

func TestFaultApplyThenTimeout(t *testing.T) {
	s, ts := startHTTPTest(t)
	s.InjectFaults(sandbox.FaultApplyThenTimeout)
	c := post(bill("B-1", 321, "C1"))

	hc := &http.Client{Timeout: 200 * time.Millisecond}
	start := time.Now()
	_, err := hc.Do(c.request(ts.URL))
	if err == nil {
		t.Fatal("the answer arrived; want the client to time out")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("client took %v to give up", d)
	}
	bills := s.Bills()
	if len(bills) != 1 || bills[0].Applied != 1 {
		t.Fatalf("ledger = %+v, want the bill applied once", bills)
	}
	// The resend is the duplicate case.
	status, a, _ := send(t, ts.Client(), ts.URL, c)
	if status != 200 || a.Status != "duplicate" || a.Ref != bills[0].Ref {
		t.Fatalf("resend: %d %+v", status, a)
	}
	if n := s.Stats().Faults[sandbox.FaultApplyThenTimeout]; n != 1 {
		t.Errorf("faults = %d", n)
	}
}

func TestFaultSlow(t *testing.T) {
	t.Parallel()
	s, ts := startHTTPTest(t)
	s.InjectFaults(sandbox.FaultSlow)
	start := time.Now()
	status, a, _ := send(t, ts.Client(), ts.URL, post(bill("B-1", 321, "C1")))
	if d := time.Since(start); d < sandbox.SlowDelay {
		t.Errorf("answered after %v, want at least %v", d, sandbox.SlowDelay)
	}
	if status != 200 || a.Status != "accepted" {
		t.Fatalf("%d %+v, want accepted", status, a)
	}
}

func TestFaultSlowAbandoned(t *testing.T) {
	t.Parallel()
	s := newServer()
	ts := httptest.NewServer(s)
	s.InjectFaults(sandbox.FaultSlow)
	hc := &http.Client{Timeout: 100 * time.Millisecond}
	if _, err := hc.Do(post(bill("B-1", 321, "C1")).request(ts.URL)); err == nil {
		t.Fatal("answered before the slow delay")
	}
	// Close waits for the handler; it must return at once, without applying.
	start := time.Now()
	ts.Close()
	if d := time.Since(start); d >= sandbox.SlowDelay {
		t.Errorf("handler kept running %v after the client left", d)
	}
	if n := len(s.Bills()); n != 0 {
		t.Errorf("abandoned slow request applied %d bills", n)
	}
}

func TestStartSetDown(t *testing.T) {
	r, err := sandbox.Start("127.0.0.1:0", sandbox.Options{KeyID: testKey, Secret: testSecret, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	url := r.URL()
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("URL = %q", url)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}

	if status, a, _ := send(t, hc, url, post(bill("B-1", 321, "C1"))); status != 200 || a.Status != "accepted" {
		t.Fatalf("before outage: %d %+v", status, a)
	}
	if err := r.SetDown(true); err != nil {
		t.Fatal(err)
	}
	if err := r.SetDown(true); err != nil {
		t.Fatalf("second SetDown(true): %v", err)
	}
	// The idle keep-alive connection is gone too: the request must dial.
	_, err = hc.Do(post(bill("B-2", 321, "C2")).request(url))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("while down: err = %v, want connection refused", err)
	}
	if err := r.SetDown(false); err != nil {
		t.Fatal(err)
	}
	if r.URL() != url {
		t.Fatalf("URL changed from %s to %s", url, r.URL())
	}
	if status, a, _ := send(t, hc, url, post(bill("B-2", 321, "C2"))); status != 200 || a.Status != "accepted" {
		t.Fatalf("after outage: %d %+v", status, a)
	}
	if n := len(r.Bills()); n != 2 {
		t.Errorf("ledger has %d bills, want 2 (it survives the outage)", n)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := r.SetDown(false); err == nil {
		t.Fatal("SetDown after Close succeeded")
	}
}

// An outage cuts requests in flight, as a real network drop would.
func TestSetDownCutsHungRequest(t *testing.T) {
	r, err := sandbox.Start("127.0.0.1:0", sandbox.Options{KeyID: testKey, Secret: testSecret, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	r.InjectFaults(sandbox.FaultApplyThenTimeout)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		req := post(bill("B-1", 321, "C1")).request(r.URL())
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	// Wait (bounded) until the bill is applied, i.e. the handler is hanging.
	for i := 0; len(r.Bills()) == 0; i++ {
		if i == 400 {
			t.Fatal("bill never applied")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := r.SetDown(true); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("hung request got an answer")
		}
		if ctx.Err() != nil {
			t.Fatal("request ended by its own timeout, not by the outage")
		}
	case <-ctx.Done():
		t.Fatal("request still hanging after the outage")
	}
}

// 50 clients send 500 distinct bills, 100 of them twice (often at the same
// moment); every bill must be applied exactly once.
func TestConcurrentLedger(t *testing.T) {
	s, ts := startHTTPTest(t)
	const (
		bills   = 500
		dups    = 100
		clients = 50
	)
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	jobs := make(chan int, bills+dups)
	for i := range bills {
		jobs <- i
		if i < dups {
			jobs <- i // right behind the first send, so the two race
		}
	}
	close(jobs)

	type result struct {
		code, status, ref string
	}
	results := make(chan result, bills+dups)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := range jobs {
				code := fmt.Sprintf("B-%04d", i)
				typ := 321
				if i%5 == 0 {
					typ = 103
				}
				c := post(bill(code, typ, fmt.Sprintf("C-%04d-a", i), fmt.Sprintf("C-%04d-b", i)))
				resp, err := hc.Do(c.request(ts.URL))
				if err != nil {
					t.Errorf("%s: %v", code, err)
					continue
				}
				var a answer
				err = json.NewDecoder(resp.Body).Decode(&a)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					t.Errorf("%s: %d %+v %v", code, resp.StatusCode, a, err)
					continue
				}
				results <- result{code: code, status: a.Status, ref: a.Ref}
			}
		})
	}
	wg.Wait()
	close(results)

	accepted := map[string]string{}
	answers := map[string][]result{}
	for r := range results {
		answers[r.code] = append(answers[r.code], r)
		if r.status == "accepted" {
			if _, ok := accepted[r.code]; ok {
				t.Errorf("%s accepted twice", r.code)
			}
			accepted[r.code] = r.ref
		}
	}
	for code, rs := range answers {
		for _, r := range rs {
			if r.ref != accepted[code] {
				t.Errorf("%s: answer %+v, accepted ref %q", code, r, accepted[code])
			}
		}
	}
	ledger := s.Bills()
	if len(ledger) != bills {
		t.Fatalf("ledger has %d bills, want %d", len(ledger), bills)
	}
	refs := map[string]bool{}
	duplicates := 0
	for _, b := range ledger {
		if b.Applied != 1 {
			t.Errorf("%s applied %d times", b.BillCode, b.Applied)
		}
		if refs[b.Ref] {
			t.Errorf("ref %s given twice", b.Ref)
		}
		refs[b.Ref] = true
		if accepted[b.BillCode] != b.Ref {
			t.Errorf("%s: ledger ref %s, answered %s", b.BillCode, b.Ref, accepted[b.BillCode])
		}
		duplicates += b.Duplicates
	}
	st := s.Stats()
	if duplicates != dups || st.Duplicates != dups || st.Accepted != bills || st.Requests != bills+dups {
		t.Errorf("duplicates in ledger %d, stats %+v; want %d duplicates, %d accepted", duplicates, st, dups, bills)
	}
}

func TestFaultString(t *testing.T) {
	for f, want := range map[sandbox.Fault]string{
		sandbox.FaultHTTP500:          "http500",
		sandbox.FaultApplyThenTimeout: "apply_then_timeout",
		sandbox.FaultSlow:             "slow",
		sandbox.FaultThrottle:         "throttle",
		sandbox.Fault(42):             "fault(42)",
	} {
		if got := f.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(f), got, want)
		}
	}
}

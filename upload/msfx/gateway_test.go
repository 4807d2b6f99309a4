package msfx

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// Test identities. ownEnt/supplierEnt are 32-hex ent_ids, ownRef a
// ref_ent_id; the secret must never show up in a message.
const (
	testAppKey  = "24680135"
	testSecret  = "sEcReT-0123456789abcdef-do-not-leak"
	ownRef      = "320000000000127971"
	ownEnt      = "5069452c34b94a778abaa26c2b40b305"
	supplierEnt = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	customerEnt = "ffeeddccbbaa99887766554433221100"
)

// hangUp as a handler's status makes the gateway drop the connection
// after reading the request.
const hangUp = -1

// finished is when test bills were finished: 2026-11-27 10:01:02 China time.
var finished = time.Date(2026, 11, 27, 2, 1, 2, 0, time.UTC)

// gwCall is one request the fake gateway accepted.
type gwCall struct {
	Method string
	Params map[string]string
	At     time.Time
}

// fakeGateway is a small TOP gateway for tests: it checks what the real
// one checks (POST form body, signature, timestamp within ±10 min of China
// time, no empty parameters, system parameters) with code written
// independently of the package, records calls and answers through handle.
type fakeGateway struct {
	t      *testing.T
	secret string
	clock  func() time.Time
	handle func(method string, p map[string]string) (status int, body string)

	mu    sync.Mutex
	calls []gwCall
	srv   *httptest.Server
}

func newGateway(t *testing.T, handle func(method string, p map[string]string) (int, string)) *fakeGateway {
	t.Helper()
	g := &fakeGateway{t: t, secret: testSecret, clock: func() time.Time { return finished.Add(time.Minute) }, handle: handle}
	g.srv = httptest.NewServer(g)
	t.Cleanup(g.srv.Close)
	return g
}

func (g *fakeGateway) URL() string { return g.srv.URL + "/router/rest" }

func (g *fakeGateway) Calls() []gwCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]gwCall(nil), g.calls...)
}

// CallsTo lists the calls of one method.
func (g *fakeGateway) CallsTo(method string) []gwCall {
	var out []gwCall
	for _, c := range g.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, msg, sub string) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, topErrBody(code, msg, sub, msg))
	}
	if r.Method != http.MethodPost || r.URL.RawQuery != "" {
		g.t.Errorf("gateway: %s with query %q; want POST with everything in the body", r.Method, r.URL.RawQuery)
		fail(21, "bad request", "")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded;charset=utf-8" {
		g.t.Errorf("gateway: Content-Type %q", ct)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if strings.Contains(string(body), g.secret) || strings.Contains(string(body), url.QueryEscape(g.secret)) {
		g.t.Errorf("gateway: the AppSecret was sent")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		g.t.Errorf("gateway: body is not a form: %v", err)
		fail(21, "bad form", "")
		return
	}
	p := make(map[string]string)
	for k, vs := range form {
		if len(vs) != 1 || vs[0] == "" {
			g.t.Errorf("gateway: parameter %q sent as %q; want exactly one non-empty value", k, vs)
		}
		p[k] = vs[0]
	}
	for _, k := range []string{"method", "app_key", "timestamp", "v", "sign_method", "sign", "format"} {
		if p[k] == "" {
			g.t.Errorf("gateway: system parameter %q missing", k)
		}
	}
	if p["v"] != "2.0" || p["format"] != "json" || p["app_key"] != testAppKey {
		g.t.Errorf("gateway: v=%q format=%q app_key=%q", p["v"], p["format"], p["app_key"])
	}
	if want := refSign(p["sign_method"], g.secret, p); p["sign"] != want {
		g.t.Errorf("gateway: %s: sign %s, want %s", p["method"], p["sign"], want)
		fail(25, "Invalid signature", "")
		return
	}
	ts, err := time.ParseInLocation("2006-01-02 15:04:05", p["timestamp"], time.FixedZone("CST", 8*3600))
	if err != nil || ts.Sub(g.clock()).Abs() > 10*time.Minute {
		g.t.Errorf("gateway: timestamp %q is not within 10 min of %v (China time)", p["timestamp"], g.clock())
		fail(31, "Invalid timestamp", "")
		return
	}
	m := p["method"]
	for _, req := range requiredFor(m) {
		if p[req] == "" {
			g.t.Errorf("gateway: %s without %s", m, req)
		}
	}
	if m == wire.MethodUploadRetail && p[wire.PClientType] != "" {
		g.t.Errorf("gateway: uploadretail with client_type")
	}
	g.mu.Lock()
	g.calls = append(g.calls, gwCall{Method: m, Params: p, At: time.Now()})
	g.mu.Unlock()
	status, out := g.handle(m, p)
	if status == hangUp {
		// The request was read; the connection dies before any answer.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	io.WriteString(w, out)
}

func requiredFor(method string) []string {
	switch method {
	case wire.MethodUploadInOutBill:
		return wire.RequiredInOutBill()
	case wire.MethodUploadRetail:
		return wire.RequiredRetail()
	}
	return nil
}

// refSign is the test's own TOP signature: sorted keys, key+value
// concatenated, empty values and sign left out, uppercase hex.
func refSign(method, secret string, p map[string]string) string {
	var keys []string
	for k, v := range p {
		if k != "sign" && v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += k + p[k]
	}
	var h hash.Hash
	switch method {
	case "md5":
		sum := md5.Sum([]byte(secret + s + secret))
		return strings.ToUpper(hex.EncodeToString(sum[:]))
	case "hmac":
		h = hmac.New(md5.New, []byte(secret))
	case "hmac-sha256":
		h = hmac.New(sha256.New, []byte(secret))
	default:
		return "unsupported sign_method"
	}
	h.Write([]byte(s))
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
}

// Answer builders.

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func wrapped(method string, body map[string]any) string {
	body["request_id"] = "req-1"
	return mustJSON(map[string]any{wire.ResponseKey(method): body})
}

// uploadOK is a SUCCESS upload answer with queue id model and check info.
func uploadOK(method, model, checkInfo string) string {
	b := map[string]any{"model": model, "msg_code": "SUCCESS", "msg_info": "成功", "response_success": true}
	if checkInfo != "" {
		b["operation_info_map"] = map[string]any{"code_check_error_info": checkInfo}
	}
	return wrapped(method, b)
}

func uploadFail(method, code, info string) string {
	return wrapped(method, map[string]any{"msg_code": code, "msg_info": info, "response_success": false})
}

// queryOK nests payload fields (model, model_list, models) in result.
func queryOK(method string, payload map[string]any) string {
	res := map[string]any{"msg_code": "SUCCESS", "msg_info": "成功", "response_success": true}
	for k, v := range payload {
		res[k] = v
	}
	return wrapped(method, map[string]any{"result": res})
}

// partSuccessOK is a listbillprocesspartsuccess answer in the SDK's layout:
// fields at the top level, rows at model.result, one page.
func partSuccessOK(method string, rows ...map[string]any) string {
	if rows == nil {
		rows = []map[string]any{}
	}
	return wrapped(method, map[string]any{"msg_code": "SUCCESS", "msg_info": "成功", "response_success": true,
		"model": map[string]any{"result": rows, "pages": 1, "total_num": len(rows), "page": 1, "page_size": 100}})
}

func queryNotFound(method string) string {
	return wrapped(method, map[string]any{"result": map[string]any{"msg_code": "FAIL_BIZ_NO_PAT_INFO", "msg_info": "信息不存在", "response_success": false}})
}

func topErrBody(code int, msg, sub, subMsg string) string {
	e := map[string]any{"code": code, "msg": msg, "request_id": "req-err"}
	if sub != "" {
		e["sub_code"] = sub
	}
	if subMsg != "" {
		e["sub_msg"] = subMsg
	}
	return mustJSON(map[string]any{"error_response": e})
}

func statusPage(rows ...map[string]any) map[string]any {
	return map[string]any{"model": map[string]any{"result_list": rows, "total_num": len(rows), "page": 1, "page_size": 50}}
}

// testNow is the clients' clock in tests: a minute after the bills were
// finished.
func testNow() time.Time { return finished.Add(time.Minute) }

// newTestClient makes a client for gateway with the test identities, no
// client-side rate limit and a short timeout; change adjusts the config.
func newTestClient(t *testing.T, gateway string, change func(*Config)) *Client {
	t.Helper()
	cf := Config{
		Name: "msfx-test", Gateway: gateway, AppKey: testAppKey, AppSecret: testSecret,
		RefEntID: ownRef, EntID: ownEnt, Rate: -1, Timeout: 5 * time.Second, Now: testNow,
	}
	if change != nil {
		change(&cf)
	}
	c, err := New(cf)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

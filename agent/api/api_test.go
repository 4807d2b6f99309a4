package api

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/queue"
)

func TestTokenFile(t *testing.T) {
	cfg, err := configs.LoadBytes("test", nil, []string{"PDA_DEVICE_ID=T1", "PDA_DATA_DIR=" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg, agent.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	path := filepath.Join(t.TempDir(), "sub", "api.token")
	s1, err := New(a, Options{Listen: "127.0.0.1:8700", TokenFile: path, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %o", fi.Mode().Perm())
	}
	if raw, err := hex.DecodeString(s1.token); err != nil || len(raw) != 32 {
		t.Fatalf("token %q is not 32 bytes of hex", s1.token)
	}
	s2, err := New(a, Options{Listen: "127.0.0.1:8700", TokenFile: path, Logger: quiet})
	if err != nil || s2.token != s1.token {
		t.Fatalf("second start: %v, token reused %v", err, s2 != nil && s2.token == s1.token)
	}
	if s1.Addr() != nil {
		t.Fatal("an address before Run")
	}
	if got, want := s1.LoginURL(), "http://127.0.0.1:8700/login?token="+s1.token; got != want {
		t.Fatalf("LoginURL %s", got)
	}
	if link, err := LoginLink("0.0.0.0:8700", path); err != nil || link != "http://127.0.0.1:8700/login?token="+s1.token {
		t.Fatalf("LoginLink %s %v", link, err)
	}

	// A token others can read is refused with a clear error.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(a, Options{Listen: "127.0.0.1:8700", TokenFile: path}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable token file: %v", err)
	}
	// An empty file (a crash while creating it) is replaced; a short token
	// is refused.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	s3, err := New(a, Options{Listen: "127.0.0.1:8700", TokenFile: path, Logger: quiet})
	if err != nil || len(s3.token) != 64 || s3.token == s1.token {
		t.Fatalf("empty token file: %v", err)
	}
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(a, Options{Listen: "127.0.0.1:8700", TokenFile: path}); err == nil || !strings.Contains(err.Error(), "at least") {
		t.Fatalf("short token: %v", err)
	}
	if _, err := New(a, Options{Listen: "nonsense", TokenFile: path}); err == nil {
		t.Fatal("bad listen address accepted")
	}
}

func TestAuthHostAndLogin(t *testing.T) {
	e := start(t, envOpts{})
	port := strings.TrimPrefix(e.base, "http://127.0.0.1:")

	e.fails("GET", "/v1/status", nil, 401, "unauthorized", request{token: ptr("")})
	e.fails("GET", "/v1/status", nil, 401, "unauthorized", request{token: ptr(strings.Repeat("0", 64))})
	e.fails("GET", "/v1/status", nil, 401, "unauthorized", request{token: ptr(e.token[:63])})
	e.fails("GET", "/v1/status", nil, 401, "unauthorized", request{header: map[string]string{"Authorization": "Basic " + e.token}})
	var st agent.Status
	e.ok("GET", "/v1/status", nil, &st)
	if st.Device != "T1" || st.Version != "test" {
		t.Fatalf("status %+v", st)
	}

	// /healthz needs no token; every route checks Host.
	var h struct {
		Status   string   `json:"status"`
		Problems []string `json:"problems"`
	}
	status, data := e.call("GET", "/healthz", nil, request{token: ptr("")})
	if err := json.Unmarshal(data, &h); status != 200 || err != nil || h.Status != "healthy" || h.Problems == nil {
		t.Fatalf("healthz %d %s", status, data)
	}
	for _, host := range []string{"evil.example:" + port, "evil.example", "127.0.0.1:1", "localhost.evil.example:" + port} {
		e.fails("GET", "/healthz", nil, 403, "forbidden", request{header: map[string]string{"Host": host}})
		e.fails("GET", "/v1/status", nil, 403, "forbidden", request{header: map[string]string{"Host": host}})
	}
	for _, host := range []string{"localhost:" + port, "LOCALHOST:" + port, "[::1]:" + port, "127.0.0.1:" + port} {
		if status, data := e.call("GET", "/v1/status", nil, request{header: map[string]string{"Host": host}}); status != 200 {
			t.Fatalf("Host %s: %d %s", host, status, data)
		}
	}

	// The page itself is public; its data is not.
	status, data = e.call("GET", "/", nil, request{token: ptr("")})
	if status != 200 || !strings.Contains(string(data), "追溯码") {
		t.Fatalf("page: %d", status)
	}
	for _, f := range []string{"/ui/app.js", "/ui/app.css"} {
		if status, _ := e.call("GET", f, nil, request{token: ptr("")}); status != 200 {
			t.Fatalf("%s: %d", f, status)
		}
	}
	e.fails("GET", "/ui/", nil, 404, "not_found", request{token: ptr("")})
	e.fails("GET", "/ui/secret.txt", nil, 404, "not_found", request{token: ptr("")})
	if err := e.srv.Run(context.Background()); err == nil {
		t.Fatal("a second Run was accepted")
	}

	// Login: a wrong token is refused; the right one sets a cookie that is
	// not the token and redirects to the page.
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(e.base + "/login?token=wrong")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || len(resp.Cookies()) != 0 {
		t.Fatalf("login with a wrong token: %d %v", resp.StatusCode, resp.Cookies())
	}
	resp, err = noRedirect.Get(e.srv.LoginURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" || len(resp.Cookies()) != 1 {
		t.Fatalf("login: %d %q %v", resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
	}
	c := resp.Cookies()[0]
	if c.Name != cookieName || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || strings.Contains(c.Value, e.token) {
		t.Fatalf("cookie %+v", c)
	}
	cookie := &http.Cookie{Name: c.Name, Value: c.Value}
	if status, data := e.call("GET", "/v1/status", nil, request{cookie: cookie}); status != 200 {
		t.Fatalf("cookie GET: %d %s", status, data)
	}
	// State-changing cookie requests must come from the page's origin.
	open := map[string]string{"session": "web", "kind": "sale"}
	e.fails("POST", "/v1/sessions", open, 403, "forbidden", request{cookie: cookie, header: map[string]string{"Origin": "http://evil.example"}})
	e.fails("POST", "/v1/sessions", open, 403, "forbidden", request{cookie: cookie, header: map[string]string{"Origin": "null"}})
	e.fails("POST", "/v1/sessions", open, 403, "forbidden", request{cookie: cookie, header: map[string]string{"Sec-Fetch-Site": "cross-site"}})
	e.fails("POST", "/v1/sessions", open, 403, "forbidden", request{cookie: cookie, header: map[string]string{"Sec-Fetch-Site": "same-site"}})
	if v, _ := e.agent.Session("web"); v.Bill != nil {
		t.Fatal("a refused request opened a bill")
	}
	if status, data := e.call("POST", "/v1/sessions", open, request{cookie: cookie,
		header: map[string]string{"Origin": e.base, "Sec-Fetch-Site": "same-origin"}}); status != 200 {
		t.Fatalf("same-origin cookie POST: %d %s", status, data)
	}
	// A forged or stale cookie is no login.
	for _, v := range []string{"1." + strings.Repeat("A", 43), e.token, c.Value + "x", "", e.srv.cookies.make(time.Now().Add(-cookieLifetime - time.Minute))} {
		e.fails("GET", "/v1/status", nil, 401, "unauthorized", request{cookie: &http.Cookie{Name: cookieName, Value: v}})
	}
	// A cookie of another process (another key) is refused.
	other := cookieSigner{key: []byte("another key entirely, 32 bytes!!")}
	e.fails("GET", "/v1/status", nil, 401, "unauthorized", request{cookie: &http.Cookie{Name: cookieName, Value: other.make(time.Now())}})
}

func TestSaleAndBills(t *testing.T) {
	e := start(t, envOpts{})
	var opened struct {
		Bill    queue.Bill `json:"bill"`
		Created bool       `json:"created"`
	}
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till1", "kind": "sale", "attrs": map[string]string{"pos.order": "A1"}}, &opened)
	if !opened.Created || opened.Bill.Type != 321 || opened.Bill.State != queue.BillOpen || opened.Bill.Attrs["pos.order"] != "A1" {
		t.Fatalf("open: %+v", opened)
	}
	code := opened.Bill.Code
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till1", "type": 321}, &opened)
	if opened.Created || opened.Bill.Code != code {
		t.Fatalf("open again: %+v", opened)
	}

	e.scan("till1", codeA, "accepted")
	if a := e.scan("till1", codeA, "duplicate"); a.Message == "" {
		t.Fatalf("duplicate without message: %+v", a)
	}
	if a := e.scan("till1", barcode, "rejected"); a.Reason != "product_barcode" {
		t.Fatalf("barcode: %+v", a)
	}
	var raw map[string]any
	e.ok("POST", "/v1/scans", map[string]string{"session": "till1", "code": codeB, "source": "pos"}, &raw)
	if len(raw) != 3 || raw["status"] != "accepted" || raw["reason"] != "" {
		t.Fatalf("scan answer %v", raw)
	}
	if a := e.scan("till1", "PDA:SET:nhsa.psn_no=P1", "command"); !strings.Contains(a.Message, "set") {
		t.Fatalf("command: %+v", a)
	}

	var v agent.SessionView
	e.ok("GET", "/v1/sessions/till1", nil, &v)
	if v.Bill == nil || v.Bill.Code != code || len(v.Items) != 2 || v.Items[0].Code != codeA || v.Items[1].Source != "pos" || v.Expected != nil {
		t.Fatalf("session view %+v", v)
	}
	var b queue.Bill
	e.ok("POST", "/v1/sessions/till1/attrs", map[string]any{"attrs": map[string]string{"nhsa.mdtrt_sn": "MD1"}}, &b)
	if b.Attrs["nhsa.mdtrt_sn"] != "MD1" || b.Attrs["nhsa.psn_no"] != queue.MaskValue("P1") {
		t.Fatalf("attrs %+v", b.Attrs)
	}
	e.ok("POST", "/v1/sessions/till1/finish", map[string]any{"attrs": map[string]string{"nhsa.setl_id": "SE1"}}, &b)
	if b.State != queue.BillFinished || b.Items != 2 || b.Attrs["nhsa.setl_id"] != "SE1" || b.Code != code {
		t.Fatalf("finish %+v", b)
	}
	// An idle session has no bill.
	var idle agent.SessionView
	e.ok("GET", "/v1/sessions/till1", nil, &idle)
	if idle.Bill != nil || idle.Items == nil || len(idle.Items) != 0 {
		t.Fatalf("idle view %+v", idle)
	}

	// Open and cancel with a reason; finish without a body.
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till2", "kind": "return"}, &opened)
	e.ok("POST", "/v1/sessions/till2/cancel", map[string]string{"reason": "customer changed their mind"}, &b)
	if b.State != queue.BillCancelled {
		t.Fatalf("cancel %+v", b)
	}
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till2", "kind": "return"}, nil)
	e.scan("till2", codeA, "accepted")
	e.ok("POST", "/v1/sessions/till2/finish", nil, &b)
	if b.Type != 116 || b.Items != 1 {
		t.Fatalf("return %+v", b)
	}

	// A whole bill from the ERP.
	var sub queue.Bill
	status, data := e.call("POST", "/v1/bills", map[string]any{"kind": "receive", "partner": "5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4",
		"lines": []map[string]any{{"code": codeC}, {"code": "83933310000001111111"}}})
	if status != 201 || json.Unmarshal(data, &sub) != nil || sub.State != queue.BillFinished || sub.Items != 2 || sub.Session != "erp" {
		t.Fatalf("submit: %d %s", status, data)
	}

	var bills []queue.Bill
	e.ok("GET", "/v1/bills", nil, &bills)
	if len(bills) != 4 || bills[0].Code != sub.Code {
		t.Fatalf("bills %d, first %+v", len(bills), bills[0])
	}
	e.ok("GET", "/v1/bills?state=cancelled", nil, &bills)
	if len(bills) != 1 || bills[0].State != queue.BillCancelled {
		t.Fatalf("cancelled bills %+v", bills)
	}
	var all, page []queue.Bill
	e.ok("GET", "/v1/bills", nil, &all)
	for before := ""; ; {
		e.ok("GET", "/v1/bills?limit=1"+before, nil, &page)
		if len(page) == 0 {
			break
		}
		if len(page) != 1 || page[0].ID != all[0].ID {
			t.Fatalf("paging: got %+v, want bill %d", page, all[0].ID)
		}
		all = all[1:]
		before = fmt.Sprintf("&before=%d", page[0].ID)
	}
	if len(all) != 0 {
		t.Fatalf("paging missed %d bills", len(all))
	}
	e.ok("GET", "/v1/bills?type=321&limit=1", nil, &bills)
	if len(bills) != 1 || bills[0].Code != code {
		t.Fatalf("sales %+v", bills)
	}
	var bv agent.BillView
	e.ok("GET", "/v1/bills/"+code, nil, &bv)
	if bv.Bill.Code != code || len(bv.Items) != 2 || bv.Deliveries == nil || len(bv.Bill.History) == 0 {
		t.Fatalf("bill view %+v", bv)
	}

	var dl []queue.DeadLetter
	e.ok("GET", "/v1/deadletters", nil, &dl)
	if dl == nil || len(dl) != 0 {
		t.Fatalf("dead letters %v", dl)
	}
	var comp agent.Compliance
	e.ok("GET", "/v1/compliance", nil, &comp)
	if comp.UpstreamError == "" || comp.KeyVarietyGaps == nil {
		t.Fatalf("compliance %+v", comp)
	}
	var st agent.Status
	e.ok("GET", "/v1/status", nil, &st)
	if st.Bills["finished"] != 3 || st.Bills["cancelled"] != 1 {
		t.Fatalf("status bills %v", st.Bills)
	}
}

func TestErrors(t *testing.T) {
	e := start(t, envOpts{})
	open := map[string]any{"session": "s", "kind": "sale"}

	// 400
	e.fails("POST", "/v1/sessions", nil, 400, "bad_request", request{raw: []byte(`{"session":`)})
	e.fails("POST", "/v1/sessions", nil, 400, "bad_request", request{raw: []byte(`{"session":"s","kind":"sale","colour":"red"}`)})
	e.fails("POST", "/v1/sessions", nil, 400, "bad_request", request{raw: []byte(`{"session":"s","kind":"sale"} {}`)})
	e.fails("POST", "/v1/sessions", nil, 400, "bad_request", request{raw: []byte(`{"session":"s","type":"321"}`)})
	e.fails("POST", "/v1/sessions", nil, 400, "bad_request")
	e.fails("POST", "/v1/sessions", map[string]any{"session": "s", "kind": "party"}, 400, "bad_request")
	e.fails("POST", "/v1/sessions", map[string]any{"session": "a/b", "kind": "sale"}, 400, "bad_request")
	e.fails("POST", "/v1/sessions", map[string]any{"session": "s", "kind": "sale", "attrs": map[string]string{"Bad Key": "1"}}, 400, "bad_request")
	e.fails("POST", "/v1/scans", map[string]string{"session": "", "code": codeA}, 400, "bad_request")
	e.fails("POST", "/v1/scans", map[string]string{"session": "s", "code": ""}, 400, "bad_request")
	e.fails("POST", "/v1/scans", map[string]string{"session": "s", "code": codeA, "source": "a\nb"}, 400, "bad_request")
	e.fails("POST", "/v1/scans", nil, 400, "bad_request", request{raw: []byte(`[]`)})
	e.fails("GET", "/v1/bills?limit=0", nil, 400, "bad_request")
	e.fails("GET", "/v1/bills?state=lost", nil, 400, "bad_request")
	e.fails("GET", "/v1/bills?type=x", nil, 400, "bad_request")
	e.fails("GET", "/v1/bills?before=0", nil, 400, "bad_request")
	e.fails("GET", "/v1/upstream", nil, 400, "bad_request")
	e.fails("POST", "/v1/bills", map[string]any{"kind": "sale", "lines": []any{}}, 400, "bad_request")
	e.fails("POST", "/v1/sessions/s/confirm-all", nil, 400, "bad_request", request{raw: []byte(`{"all":true}`)})
	e.fails("POST", "/v1/upstream/XSCK1/reject", map[string]string{"reason": " "}, 400, "bad_request")
	e.fails("POST", "/v1/sessions/s/attrs", map[string]any{"attrs": map[string]string{}}, 400, "bad_request")

	// 413
	big := make([]byte, maxBody+10)
	for i := range big {
		big[i] = ' '
	}
	e.fails("POST", "/v1/scans", nil, 413, "too_large", request{raw: big})
	e.fails("POST", "/v1/bills", nil, 413, "too_large", request{raw: []byte(`{"kind":"sale","lines":[{"code":"` + strings.Repeat("8", maxBody) + `"}]}`), chunked: true})

	// 404
	e.fails("GET", "/v1/nothing", nil, 404, "not_found")
	if eb := e.fails("GET", "/v1/scans", nil, 404, "not_found"); !strings.Contains(eb.Message, "POST") {
		t.Fatalf("wrong method: %+v", eb)
	}
	e.fails("GET", "/v1/bills/T1-NOPE", nil, 404, "not_found")
	e.fails("POST", "/v1/sessions/idle/finish", nil, 404, "not_found")
	e.fails("POST", "/v1/sessions/idle/cancel", nil, 404, "not_found")
	e.fails("POST", "/v1/sessions/idle/attrs", map[string]any{"attrs": map[string]string{"a.b": "1"}}, 404, "not_found")
	e.fails("POST", "/v1/sessions/idle/confirm-all", nil, 404, "not_found")
	e.fails("POST", "/v1/deadletters/T1-NOPE/msfx/retry", nil, 404, "not_found")
	e.fails("POST", "/v1/deadletters/T1-NOPE/msfx/drop", map[string]any{"reason": "gone", "confirm": true}, 404, "not_found")
	e.fails("DELETE", "/v1/upstream/XSCK0000001/reject", nil, 404, "not_found")

	// 409
	e.ok("POST", "/v1/sessions", open, nil)
	e.fails("POST", "/v1/sessions", map[string]any{"session": "s", "kind": "receive"}, 409, "session_busy")
	e.fails("POST", "/v1/sessions/s/finish", map[string]any{"attrs": map[string]string{"nhsa.setl_id": "X"}}, 409, "empty_bill")
	var v agent.SessionView
	e.ok("GET", "/v1/sessions/s", nil, &v)
	if v.Bill == nil || v.Bill.Attrs["nhsa.setl_id"] != "" {
		t.Fatalf("a refused finish wrote attributes: %+v", v.Bill)
	}
	// Not a receiving: confirm-all is a bad request.
	e.fails("POST", "/v1/sessions/s/confirm-all", nil, 400, "bad_request")
	e.fails("POST", "/v1/deadletters/T1-NOPE/msfx/drop", map[string]any{"reason": "gone"}, 400, "bad_request")

	// 422: a bill with refused codes writes nothing.
	e.scan("s", codeA, "accepted")
	e.ok("POST", "/v1/sessions/s/finish", nil, nil) // codeA is sold
	before, _ := e.agent.Bills(agent.BillFilter{})
	eb := e.fails("POST", "/v1/bills", map[string]any{"kind": "sale", "lines": []map[string]any{{"code": codeB}, {"code": codeA}, {"code": barcode}}}, 422, "refused")
	reasons := map[string]string{}
	for _, r := range eb.Refusals {
		reasons[r.Code] = r.Reason
	}
	// Codes that do not parse are refused before the ledger is asked.
	if len(eb.Refusals) != 1 || reasons[barcode] != "product_barcode" {
		t.Fatalf("refusals %+v", eb.Refusals)
	}
	status, data := e.call("POST", "/v1/bills", map[string]any{"kind": "sale", "lines": []map[string]any{{"code": codeA}}})
	if status != 422 || !strings.Contains(string(data), `"refusals":[{"code":"`+codeA+`","reason":"already_sold"`) {
		t.Fatalf("resale: %d %s", status, data)
	}
	after, _ := e.agent.Bills(agent.BillFilter{})
	if len(after) != len(before) {
		t.Fatalf("refused bills were written: %d → %d", len(before), len(after))
	}
	// codeB was not recorded by the refused bill: it sells now.
	if status, data := e.call("POST", "/v1/bills", map[string]any{"kind": "sale", "lines": []map[string]any{{"code": codeB}}}); status != 201 {
		t.Fatalf("codeB after the refused bill: %d %s", status, data)
	}

	// 503: 码上放心 is not enabled.
	e.fails("GET", "/v1/upstream?code="+codeA, nil, 503, "offline")
	e.fails("POST", "/v1/receivings", map[string]any{"session": "dock", "upstream": []map[string]any{{"bill_code": "XSCK0000001",
		"from_ref_user_id": "320000000000098765", "from_user_id": "5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4"}}}, 503, "offline")
	if v, _ := e.agent.Session("dock"); v.Bill != nil {
		t.Fatal("an offline receiving opened a bill")
	}
}

func TestQueueFull(t *testing.T) {
	e := start(t, envOpts{env: []string{"PDA_QUEUE_MAX_SIZE=1MiB", "PDA_QUEUE_HEADROOM=256KiB", "PDA_SESSIONS_DEFAULT_TYPE=102"}})
	for i := 0; ; i++ {
		if i == 20000 {
			t.Fatal("queue never filled")
		}
		status, data := e.call("POST", "/v1/scans", map[string]string{"session": "c", "code": "8101235" + leftPad(i, 9) + "0000"})
		if status == 200 {
			continue
		}
		var eb errorBody
		if err := json.Unmarshal(data, &eb); status != 507 || err != nil || eb.Error != "queue_full" || eb.Status != "error" || eb.Reason != "queue_full" {
			t.Fatalf("scan %d: %d %s", i, status, data)
		}
		break
	}
	e.fails("POST", "/v1/bills", map[string]any{"kind": "sale", "lines": []map[string]any{{"code": codeB}}}, 507, "queue_full")
}

func leftPad(n, width int) string {
	s := strconv.Itoa(n)
	return strings.Repeat("0", width-len(s)) + s
}

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	id, name string
	data     agent.Event
}

// openStream connects to /v1/events and returns parsed events and
// comments on channels until the stream ends (both are then closed).
func openStream(t *testing.T, e *testEnv, ctx context.Context) (<-chan sseEvent, <-chan string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", e.base+"/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events, comments := make(chan sseEvent, 100), make(chan string, 100)
	go func() {
		defer resp.Body.Close()
		defer close(events)
		defer close(comments)
		sc := bufio.NewScanner(resp.Body)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.name != "" {
					events <- cur
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, ":"):
				comments <- strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "id: "):
				cur.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				cur.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(line[6:]), &cur.data); err != nil {
					t.Errorf("event data %q: %v", line, err)
				}
			}
		}
	}()
	return events, comments
}

func next(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("event stream ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sseEvent{}
}

func TestEvents(t *testing.T) {
	// Short server timeouts: the stream must outlive them.
	e := start(t, envOpts{limits: func(l *limits) {
		l.keepAlive, l.read, l.write = 100*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, comments := openStream(t, e, ctx)
	select {
	case c := <-comments:
		if c != "connected" {
			t.Fatalf("first comment %q", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream did not start")
	}
	time.Sleep(700 * time.Millisecond) // past the read and write timeouts

	e.ok("POST", "/v1/sessions", map[string]any{"session": "c", "kind": "sale"}, nil)
	e.scan("c", codeA, "accepted")
	e.scan("c", codeA, "duplicate")
	e.scan("c", barcode, "rejected")
	e.scan("c", "PDA:SPLIT:2", "command")

	ev := next(t, events)
	if ev.name != "bill" || ev.data.Status != "opened" || ev.data.Session != "c" {
		t.Fatalf("first event %+v", ev)
	}
	last, _ := strconv.ParseUint(ev.id, 10, 64)
	want := []struct{ status, code, reason string }{
		{"accepted", codeA, ""}, {"duplicate", codeA, "duplicate"}, {"rejected", barcode, "product_barcode"}, {"command", "PDA:SPLIT:2", ""},
	}
	for _, w := range want {
		ev := next(t, events)
		seq, _ := strconv.ParseUint(ev.id, 10, 64)
		if ev.name != "scan" || ev.data.Kind != "scan" || ev.data.Status != w.status || ev.data.Code != w.code ||
			ev.data.Reason != w.reason || ev.data.Session != "c" || ev.data.Source != "api" || seq != ev.data.Seq || seq <= last {
			t.Fatalf("event %+v, want %+v after seq %d", ev, w, last)
		}
		last = seq
	}
	// Keep-alive comments flow while nothing happens.
	deadline := time.After(5 * time.Second)
	for got := false; !got; {
		select {
		case c := <-comments:
			got = c == "keep-alive"
		case <-deadline:
			t.Fatal("no keep-alive comment")
		}
	}

	// Shutdown ends the stream and Run returns promptly.
	began := time.Now()
	e.stop()
	if took := time.Since(began); took > 4*time.Second {
		t.Fatalf("shutdown with an open stream took %v", took)
	}
	for ended := false; !ended; {
		select {
		case _, ok := <-events:
			ended = !ok
		case <-time.After(5 * time.Second):
			t.Fatal("the event stream did not end at shutdown")
		}
	}
}

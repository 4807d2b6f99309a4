package msfx

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

const upRetail = wire.MethodUploadRetail

// Real-looking upload answers (msfx.md §2.4, §5).
var (
	ansSuccessWrapped = `{"alibaba_alihealth_drugtrace_top_lsyd_uploadretail_response":{"model":"200118368918456","msg_code":"SUCCESS","msg_info":"成功","response_success":true,"request_id":"15r0b1yaqwn5e"}}`
	ansSuccessSimple  = `{"model":"200118368918456","msg_code":"SUCCESS","msg_info":"成功","response_success":true,"request_id":"15r0b1yaqwn5e"}`
	ansSuccessString  = `{"alibaba_alihealth_drugtrace_top_lsyd_uploadretail_response":{"model":"200118368918457","msg_code":"SUCCESS","response_success":"true"}}`
	ansDuplicate      = `{"alibaba_alihealth_drugtrace_top_lsyd_uploadretail_response":{"msg_code":"FAIL","msg_info":"该单据号已存在（上传时间：2026-11-27 10:05:00）","response_success":false}}`
	ansSold           = `{"alibaba_alihealth_drugtrace_top_lsyd_uploadretail_response":{"msg_code":"FAIL","msg_info":"存在已出售的码","response_success":false}}`
	ansRepeatFlow     = `{"alibaba_alihealth_drugtrace_top_lsyd_uploadretail_response":{"msg_code":"FAIL_BIZ_BILL_DUPLICATE_UPLOAD_BILLCODE_REPEAT_CODE","msg_info":"码重复流向拦截:81012350000000157474重复流向涉及单据号:RK20261127001","response_success":false}}`
	ansBusy           = `{"alibaba_alihealth_drugtrace_top_lsyd_uploadretail_response":{"msg_code":"FAIL","msg_info":"系统繁忙","response_success":false}}`
	ansDecode         = `{"alibaba_alihealth_drugtrace_top_lsyd_uploadretail_response":{"msg_code":"BILL_DECODE_ERROR","msg_info":"单据转码失败","response_success":false}}`
	ansContradiction  = `{"alibaba_alihealth_drugtrace_top_lsyd_uploadretail_response":{"msg_code":"SUCCESS","response_success":false}}`
	ansBan            = `{"error_response":{"code":7,"msg":"App Call Limited","sub_code":"accesscontrol.limited-by-app-api-access-count","sub_msg":"This ban will last for 2 more seconds","request_id":"zt0ypr7r5w3e"}}`
	ansDaily          = `{"error_response":{"code":7,"msg":"App Call Limited","sub_code":"accesscontrol.limited-by-app-access-count","sub_msg":"app daily call limit reached"}}`
	ansISP            = `{"error_response":{"code":15,"msg":"Remote service error","sub_code":"isp.top-remote-connection-timeout","sub_msg":"调用后端服务超时"}}`
	ansISV            = `{"error_response":{"code":50,"msg":"Remote service error","sub_code":"isv.invalid-parameter","sub_msg":"非法参数"}}`
	ansWhitelist      = `{"error_response":{"code":11,"msg":"Insufficient isv permissions","sub_code":"isv.permission-ip-whitelist-limit","sub_msg":"IP not in the whitelist"}}`
	ansPermission     = `{"error_response":{"code":11,"msg":"Insufficient isv permissions","sub_code":"isv.permission-api-package-limit","sub_msg":"scope ids is 11655"}}`
	ansTimestamp      = `{"error_response":{"code":31,"msg":"Invalid timestamp"}}`
	ansSignature      = `{"error_response":{"code":25,"msg":"Invalid signature"}}`
	ansUnavailable    = `{"error_response":{"code":10,"msg":"Service Currently Unavailable"}}`
	ansQuota          = `{"error_response":{"code":5,"msg":"User Call Limited"}}`
	ansHTML502        = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>Tengine</center></body>\r\n</html>"
	ansTruncated      = `{"alibaba_alihealth_drugtrace_top_lsyd_uploadretail_response":{"model":"2001183689`
)

func TestClassifyUploadAnswers(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		simplify   bool
		ok, dup    bool
		class      upload.Class
		retryAfter time.Duration
		maybe      bool
		msg        []string
	}{
		{name: "success wrapped", body: ansSuccessWrapped, ok: true},
		{name: "success simplified", body: ansSuccessSimple, simplify: true, ok: true},
		{name: "success, simplify asked but wrapped anyway", body: ansSuccessWrapped, simplify: true, ok: true},
		{name: `response_success "true"`, body: ansSuccessString, ok: true},
		{name: "duplicate bill_code = done", body: ansDuplicate, ok: true, dup: true},
		{name: "存在已出售的码", body: ansSold, class: upload.Permanent, msg: []string{"FAIL", "存在已出售的码", "already sold"}},
		{name: "repeat flow", body: ansRepeatFlow, class: upload.Permanent,
			msg: []string{"FAIL_BIZ_BILL_DUPLICATE_UPLOAD_BILLCODE_REPEAT_CODE", "RK20261127001", "reconcile"}},
		{name: "系统繁忙", body: ansBusy, class: upload.Retry, msg: []string{"系统繁忙"}},
		{name: "strict bill refused with code_check_error_info", body: `{"alibaba_alihealth_drugtrace_top_lsyd_uploadretail_response":{"msg_code":"FAIL","msg_info":"存在校验失败的追溯码","response_success":false,"operation_info_map":{"code_check_error_info":"{\"1\":\"81012350000000157474\"}"}}}`,
			class: upload.Permanent, msg: []string{"存在校验失败的追溯码", "code_check_error_info", "81012350000000157474"}},
		{name: "BILL_DECODE_ERROR", body: ansDecode, class: upload.Permanent, msg: []string{"BILL_DECODE_ERROR", "单据转码失败"}},
		{name: "SUCCESS contradicted", body: ansContradiction, class: upload.Retry, maybe: true, msg: []string{"unclear"}},
		{name: "code 7 ban 2 s", body: ansBan, class: upload.Retry, retryAfter: 3 * time.Second,
			msg: []string{"TOP error 7", "accesscontrol.limited-by-app-api-access-count", "This ban will last for 2 more seconds"}},
		{name: "code 7 ban, simplified", body: ansBan, simplify: true, class: upload.Retry, retryAfter: 3 * time.Second},
		// testNow is 10:02:02 China time: 13h57m58s to midnight, plus 1 s.
		{name: "code 7 daily quota", body: ansDaily, class: upload.Retry, retryAfter: 13*time.Hour + 57*time.Minute + 59*time.Second,
			msg: []string{"daily call quota", "00:00 China time"}},
		{name: "isp timeout code 15", body: ansISP, class: upload.Retry, maybe: true, msg: []string{"isp.top-remote-connection-timeout", "调用后端服务超时"}},
		{name: "isv code 50", body: ansISV, class: upload.Permanent, msg: []string{"TOP error 50", "isv.invalid-parameter", "非法参数"}},
		{name: "code 11 ip whitelist", body: ansWhitelist, class: upload.Permanent, msg: []string{"IP whitelist", "isv.permission-ip-whitelist-limit"}},
		{name: "code 11 api package", body: ansPermission, class: upload.Permanent, msg: []string{"lacks permission"}},
		{name: "code 31 invalid timestamp", body: ansTimestamp, class: upload.Retry, retryAfter: 5 * time.Second, msg: []string{"Invalid timestamp", "the device clock is off"}},
		{name: "code 25 invalid signature", body: ansSignature, class: upload.Permanent, msg: []string{"AppSecret"}},
		{name: "code 10", body: ansUnavailable, class: upload.Retry, maybe: true},
		{name: "code 5 quota", body: ansQuota, class: upload.Retry, retryAfter: time.Minute},
		{name: "HTML 502", status: 502, body: ansHTML502, class: upload.Retry, maybe: true, msg: []string{"502 Bad Gateway", "Tengine"}},
		{name: "HTML 200 from a captive portal", body: "<html>login</html>", class: upload.Retry, maybe: true, msg: []string{"non-JSON"}},
		{name: "truncated JSON", body: ansTruncated, class: upload.Retry, maybe: true, msg: []string{"truncated"}},
		{name: "empty body", body: "", class: upload.Retry, maybe: true, msg: []string{"empty body"}},
		{name: "404 JSON without error_response", status: 404, body: `{"x":1}`, class: upload.Retry, msg: []string{"404"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.status != 0 {
					w.WriteHeader(tt.status)
				}
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL, func(cf *Config) { cf.Simplify = tt.simplify })
			res, dup, e := c.upload(context.Background(), upRetail, map[string]string{"bill_code": "B1"})
			if tt.ok {
				if e != nil {
					t.Fatalf("error %v, want success", e)
				}
				if dup != tt.dup {
					t.Errorf("dup = %v, want %v", dup, tt.dup)
				}
				if !dup && res.Model == "" {
					t.Errorf("no queue id")
				}
				return
			}
			if e == nil {
				t.Fatalf("success, want %v", tt.class)
			}
			if e.Class != tt.class {
				t.Errorf("class %v, want %v (%v)", e.Class, tt.class, e)
			}
			if e.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter %v, want %v", e.RetryAfter, tt.retryAfter)
			}
			if e.MaybeApplied != tt.maybe {
				t.Errorf("MaybeApplied %v, want %v", e.MaybeApplied, tt.maybe)
			}
			for _, m := range append(tt.msg, "drugtrace.top.lsyd.uploadretail") {
				if !strings.Contains(e.Error(), m) {
					t.Errorf("message %q lacks %q", e.Error(), m)
				}
			}
			if e.Code == 7 && e.Class != upload.Retry {
				t.Errorf("code 7 classified %v", e.Class)
			}
		})
	}
}

func TestClassifyQueryAnswers(t *testing.T) {
	m := wire.MethodQueryUpBillDetail
	tests := []struct {
		name  string
		body  string
		found bool
		class upload.Class
		err   bool
	}{
		{"found", queryOK(m, map[string]any{"model": map[string]any{"bill_code": "B1"}}), true, 0, false},
		{"success flag instead of response_success", wrapped(m, map[string]any{"result": map[string]any{"msg_code": "SUCCESS", "success": true, "model": map[string]any{"bill_code": "B1"}}}), true, 0, false},
		{"not found", queryNotFound(m), false, 0, false},
		{"busy", wrapped(m, map[string]any{"result": map[string]any{"msg_code": "FAIL", "msg_info": "系统繁忙"}}), false, upload.Retry, true},
		{"auth error", wrapped(m, map[string]any{"result": map[string]any{"msg_code": "FAIL_BIZ_AUTH_ERROR", "msg_info": "无权限"}}), false, upload.Permanent, true},
		{"no result", wrapped(m, map[string]any{"x": 1}), false, upload.Retry, true},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tt.body) }))
		c := newTestClient(t, srv.URL, nil)
		_, found, e := c.queryUpBillDetail(context.Background(), "B1")
		srv.Close()
		if (e != nil) != tt.err || found != tt.found || (e != nil && e.Class != tt.class) {
			t.Errorf("%s: found %v err %v; want found %v, class %v", tt.name, found, e, tt.found, tt.class)
		}
	}
}

func TestBanSeconds(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"This ban will last for 2 more seconds":        3 * time.Second,
		"This ban will last for 0 more seconds":        time.Second,
		"x This ban will last for 59 more seconds.":    time.Minute,
		"This ban will last for 99999999 more seconds": maxBan,
	} {
		if got, ok := banSeconds(in); !ok || got != want {
			t.Errorf("banSeconds(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "This ban will last for more seconds", "ban 2 seconds"} {
		if _, ok := banSeconds(in); ok {
			t.Errorf("banSeconds(%q) parsed", in)
		}
	}
}

func TestUntilChinaMidnight(t *testing.T) {
	zone := time.FixedZone("CST", 8*3600)
	for _, tt := range []struct {
		now  time.Time
		want time.Duration
	}{
		{time.Date(2026, 11, 27, 23, 59, 0, 0, zone), 61 * time.Second},
		{time.Date(2026, 11, 27, 0, 0, 0, 0, zone), 24*time.Hour + time.Second},
		// 16:30 UTC is 00:30 the next day in China.
		{time.Date(2026, 11, 27, 16, 30, 0, 0, time.UTC), 23*time.Hour + 30*time.Minute + time.Second},
	} {
		if got := untilChinaMidnight(tt.now); got != tt.want {
			t.Errorf("untilChinaMidnight(%v) = %v, want %v", tt.now, got, tt.want)
		}
	}
}

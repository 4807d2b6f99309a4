package sandbox_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

const (
	storeApp    = sandbox.DefaultStoreAppKey
	storeSecret = sandbox.DefaultStoreSecret
	storeRef    = sandbox.DefaultStoreRefEntID
	storeEnt    = sandbox.DefaultStoreEntID
	supplierEnt = sandbox.DefaultSupplierEntID
	tsLayout    = "2006-01-02 15:04:05"
)

// cst is China time, built here rather than taken from the package.
var cst = time.FixedZone("UTC+8", 8*3600)

// clock is the sandbox's time in every test: 2026-11-27 10:05:00 in China.
var clock = time.Date(2026, 11, 27, 2, 5, 0, 0, time.UTC)

func fixedNow() time.Time { return clock }

func newServer(t testing.TB, o sandbox.Options) *sandbox.Server {
	t.Helper()
	if o.Now == nil {
		o.Now = fixedNow
	}
	return sandbox.New(o)
}

// testSign is the test's own TOP signer, written apart from the package's:
// sorted names, name+value concatenated, digest, uppercase hex.
func testSign(p map[string]string, secret, method string) string {
	names := make([]string, 0, len(p))
	for k := range p {
		if k != "sign" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, n := range names {
		sb.WriteString(n)
		sb.WriteString(p[n])
	}
	var sum []byte
	switch method {
	case "hmac":
		m := hmac.New(md5.New, []byte(secret))
		m.Write([]byte(sb.String()))
		sum = m.Sum(nil)
	case "hmac-sha256":
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(sb.String()))
		sum = m.Sum(nil)
	default:
		s := md5.Sum([]byte(secret + sb.String() + secret))
		sum = s[:]
	}
	return strings.ToUpper(hex.EncodeToString(sum))
}

func TestTestSignerMD5Vector(t *testing.T) {
	p := map[string]string{"app_key": "test", "fields": "nick", "format": "xml", "method": "taobao.user.seller.get",
		"session": "test", "sign_method": "md5", "timestamp": "2013-05-06 13:52:03", "v": "2.0"}
	if got := testSign(p, "test", "md5"); got != "72CB4D809B375A54502C09360D879C64" {
		t.Fatalf("test signer = %s, want the published 72CB4D809B375A54502C09360D879C64", got)
	}
}

// tcall is one TOP call, signed when it is sent.
type tcall struct {
	p          map[string]string // every parameter but sign
	inQuery    []string          // parameter names sent in the query string
	secret     string
	sign       string // "" computes the signature, "-" omits it
	ct         string // Content-Type; "" = form, "-" = none
	httpMethod string
	rawBody    *string // sent as is instead of p
	rawQuery   *string
	layout     string // the payload layout expected: "" (the SDK's), "result" or "top"
}

func newCall(method string, biz map[string]string) *tcall {
	p := map[string]string{"method": method, "app_key": storeApp, "timestamp": clock.In(cst).Format(tsLayout),
		"v": "2.0", "format": "json", "sign_method": "md5"}
	for k, v := range biz {
		p[k] = v
	}
	return &tcall{p: p, secret: storeSecret}
}

func (c *tcall) request(base string) *http.Request {
	sign := c.sign
	if sign == "" {
		sign = testSign(c.p, c.secret, c.p["sign_method"])
	}
	body, query := url.Values{}, url.Values{}
	for k, v := range c.p {
		if contains(c.inQuery, k) {
			query.Set(k, v)
		} else {
			body.Set(k, v)
		}
	}
	if sign != "-" {
		if contains(c.inQuery, "sign") {
			query.Set("sign", sign)
		} else {
			body.Set("sign", sign)
		}
	}
	b, q := body.Encode(), query.Encode()
	if c.rawBody != nil {
		b = *c.rawBody
	}
	if c.rawQuery != nil {
		q = *c.rawQuery
	}
	u := base
	if q != "" {
		u += "?" + q
	}
	m := c.httpMethod
	if m == "" {
		m = http.MethodPost
	}
	req, err := http.NewRequest(m, u, strings.NewReader(b))
	if err != nil {
		panic(err) // a broken test, also on client goroutines
	}
	switch c.ct {
	case "":
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	case "-":
	default:
		req.Header.Set("Content-Type", c.ct)
	}
	return req
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// answer is a decoded sandbox answer.
type answer struct {
	status int
	data   []byte
	err    *tError
	up     *tUpload
	q      *tQuery
	layout string // "result" or "top", as found
}

// tError is error_response (golgys0621/topsdk util.TopApiRequestError).
type tError struct {
	Code      int    `json:"code"`
	Msg       string `json:"msg"`
	SubCode   string `json:"sub_code"`
	SubMsg    string `json:"sub_msg"`
	RequestID string `json:"request_id"`
}

// tUpload is an upload answer (…UploadinoutbillResponse.go).
type tUpload struct {
	Model            string `json:"model"`
	MsgCode          string `json:"msg_code"`
	MsgInfo          string `json:"msg_info"`
	ResponseSuccess  bool   `json:"response_success"`
	SubMsgCode       string `json:"sub_msg_code"`
	OperationInfoMap struct {
		CodeCheckErrorInfo string `json:"code_check_error_info"`
	} `json:"operation_info_map"`
}

// tQuery is a query answer's payload with its lists unwrapped.
type tQuery struct {
	MsgCode string
	MsgInfo string
	Success bool
	fields  map[string]json.RawMessage
}

func (q *tQuery) OK() bool { return q.MsgCode == msgOK && q.Success }

func (a *answer) String() string { return fmt.Sprintf("%d %s", a.status, a.data) }

func isUpload(method string) bool { return method == mInOut || method == mRetail }

// unwrapLists walks a decoded answer: in the classic shape every list
// field of the method must be {item: [...]} and is replaced by the array;
// with simplify, a list must be a plain array.
func unwrapLists(v any, items map[string]string, classic bool) error {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if item, ok := items[k]; ok {
				switch x := e.(type) {
				case []any:
					if classic {
						return fmt.Errorf("list %s is a plain array in the classic (non-simplified) shape", k)
					}
				case map[string]any:
					arr, isList := x[item].([]any)
					switch {
					case classic && len(x) == 1 && isList:
						t[k] = arr
						e = arr
					case !classic && len(x) == 1 && isList:
						return fmt.Errorf("list %s is wrapped in {%s: ...} although simplify=true", k, item)
					case classic && k != "result" && k != "model":
						return fmt.Errorf("list %s is %v, want {%s: [...]}", k, keysList(x), item)
					}
				}
			}
			if err := unwrapLists(e, items, classic); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range t {
			if err := unwrapLists(e, items, classic); err != nil {
				return err
			}
		}
	}
	return nil
}

func keysList(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// decode checks the TOP answer shape strictly and returns its parts:
// error_response, or the payload in the expected layout ("" = the SDK's
// declared one), under the method wrapper unless simplify, with every
// list in the matching shape.
func decode(method string, simplify bool, layout string, status int, ct string, data []byte) (*answer, error) {
	a := &answer{status: status, data: data}
	if !strings.HasPrefix(ct, "application/json") {
		return a, fmt.Errorf("Content-Type %q", ct)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return a, fmt.Errorf("answer is not a JSON object: %v", err)
	}
	strict := func(raw []byte, v any) error {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		return d.Decode(v)
	}
	if raw, ok := top["error_response"]; ok {
		if len(top) != 1 {
			return a, errors.New("error_response with other keys")
		}
		a.err = new(tError)
		if err := strict(raw, a.err); err != nil {
			return a, err
		}
		if a.err.RequestID == "" {
			return a, errors.New("error_response without request_id")
		}
		return a, nil
	}
	body := json.RawMessage(data)
	if !simplify {
		key := strings.ReplaceAll(method, ".", "_") + "_response"
		raw, ok := top[key]
		if !ok || len(top) != 1 {
			return a, fmt.Errorf("want only the wrapper %s", key)
		}
		body = raw
	}
	var tree map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&tree); err != nil {
		return a, err
	}
	if err := unwrapLists(tree, itemNames[method], !simplify); err != nil {
		return a, err
	}
	if id, _ := tree["request_id"].(string); id == "" {
		return a, errors.New("answer without request_id")
	}
	delete(tree, "request_id")
	if layout == "" {
		layout = "result"
		if topLevelDeclared(method) {
			layout = "top"
		}
	}
	payload := tree
	if r, ok := tree["result"].(map[string]any); ok && len(tree) == 1 {
		a.layout, payload = "result", r
	} else {
		a.layout = "top"
	}
	if a.layout != layout {
		return a, fmt.Errorf("payload layout %s, want %s", a.layout, layout)
	}
	flat, err := json.Marshal(payload)
	if err != nil {
		return a, err
	}
	if isUpload(method) {
		a.up = new(tUpload)
		if err := strict(flat, a.up); err != nil {
			return a, err
		}
		if diff := sameKeys(flat, "UploadResponse"); diff != "" {
			return a, errors.New(diff)
		}
		return a, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(flat, &fields); err != nil {
		return a, err
	}
	q := &tQuery{fields: fields}
	flag := successFlag(method)
	for _, k := range []string{"msg_code", "msg_info", flag} {
		if _, ok := fields[k]; !ok {
			return a, fmt.Errorf("payload without %s", k)
		}
	}
	if other := map[string]string{"success": "response_success", "response_success": "success"}[flag]; fields[other] != nil {
		return a, fmt.Errorf("payload with %s besides %s", other, flag)
	}
	if json.Unmarshal(fields["msg_code"], &q.MsgCode) != nil || json.Unmarshal(fields["msg_info"], &q.MsgInfo) != nil ||
		json.Unmarshal(fields[flag], &q.Success) != nil {
		return a, errors.New("msg_code, msg_info or the success flag of the wrong JSON type")
	}
	a.q = q
	return a, nil
}

// serve runs the call through the handler in-process.
func (c *tcall) serve(t testing.TB, h http.Handler) *answer {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, c.request("http://gw.sandbox.test/router/rest"))
	a, err := decode(c.p["method"], c.p["simplify"] == "true", c.layout, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes())
	if err != nil {
		t.Fatalf("%s: %v: %s", c.p["method"], err, a)
	}
	return a
}

// send runs the call over HTTP; it returns errors instead of failing so
// that client goroutines can use it.
func (c *tcall) send(hc *http.Client, base string) (*answer, error) {
	resp, err := hc.Do(c.request(base))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return decode(c.p["method"], c.p["simplify"] == "true", c.layout, resp.StatusCode, resp.Header.Get("Content-Type"), data)
}

func mustSend(t testing.TB, c *tcall, hc *http.Client, base string) *answer {
	t.Helper()
	a, err := c.send(hc, base)
	if err != nil {
		t.Fatalf("%s: %v", c.p["method"], err)
	}
	return a
}

func box(serial int) string { return sandbox.MakeCode(sandbox.ProductAmoxicillin, serial) }

// inOut is an uploadinoutbill between the store and the supplier: inbound
// types come from the supplier, outbound ones go to it.
func inOut(billCode string, typ int, codes ...string) *tcall {
	from, to := supplierEnt, storeEnt
	if typ >= 200 {
		from, to = storeEnt, supplierEnt
	}
	return newCall(mInOut, map[string]string{
		"bill_code": billCode, "bill_time": "2026-11-27 09:30:00", "bill_type": strconv.Itoa(typ), "physic_type": "3",
		"ref_user_id": storeRef, "from_user_id": from, "to_user_id": to, "trace_codes": strings.Join(codes, ","), "client_type": "2",
	})
}

func retail(billCode string, typ int, codes ...string) *tcall {
	return newCall(mRetail, map[string]string{
		"bill_code": billCode, "bill_time": "2026-11-27 10:00:00", "bill_type": strconv.Itoa(typ),
		"ref_user_id": storeRef, "trace_codes": strings.Join(codes, ","),
	})
}

// query is a query call with the parameters the SDK request type marks
// required filled in when the test does not set them.
func query(method string, biz map[string]string) *tcall {
	def := map[string]string{"ref_ent_id": storeRef}
	switch method {
	case mListUpOut, mBillStatus, mPartSuccess:
		def["page"], def["page_size"] = "1", "20"
	case mUpOutDetail:
		def["from_ref_user_id"], def["to_ref_user_id"] = sandbox.DefaultSupplierRefEntID, storeRef
	case mRelation:
		def["des_ref_ent_id"] = storeRef
	}
	for k, v := range def {
		if _, ok := biz[k]; !ok {
			biz[k] = v
		}
	}
	return newCall(method, biz)
}

func wantAccepted(t testing.TB, a *answer) {
	t.Helper()
	if a.up == nil || a.up.MsgCode != msgOK || !a.up.ResponseSuccess || a.up.Model == "" {
		t.Fatalf("upload not accepted: %s", a)
	}
}

func wantUploadFail(t testing.TB, a *answer, msgCode, info string) {
	t.Helper()
	if a.up == nil || a.up.MsgCode != msgCode || a.up.ResponseSuccess || !strings.Contains(a.up.MsgInfo, info) || a.up.Model != "" {
		t.Fatalf("got %s, want msg_code %s with %q", a, msgCode, info)
	}
}

func TestGatewayRejections(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	manyCodes := make([]string, 3501)
	for i := range manyCodes {
		manyCodes[i] = box(i + 1)
	}
	manyDetail := make([]string, 1001)
	for i := range manyDetail {
		manyDetail[i] = box(i + 1)
	}
	str := func(s string) *string { return &s }
	up := func() *tcall { return inOut("B-1", 102, box(1)) }
	tests := []struct {
		name    string
		call    func() *tcall
		code    int
		subCode string
		reason  string
		status  int    // HTTP status; 0 = 200
		subMsg  string // part of sub_msg (or msg)
	}{
		{name: "GET", call: func() *tcall { c := up(); c.httpMethod = http.MethodGet; return c }, code: 9, reason: "http_method"},
		{name: "body over MaxBody", call: func() *tcall {
			c := up()
			c.rawBody = str(strings.Repeat("x", sandbox.MaxBody+1))
			return c
		}, code: 41, subCode: "isv.invalid-parameter", reason: "body_too_large", status: 413},
		{name: "no Content-Type", call: func() *tcall { c := up(); c.ct = "-"; return c }, code: 41, subCode: "isv.invalid-parameter", reason: "content_type"},
		{name: "JSON body", call: func() *tcall { c := up(); c.ct = "application/json"; return c }, code: 41, subCode: "isv.invalid-parameter", reason: "content_type"},
		{name: "multipart", call: func() *tcall { c := up(); c.ct = "multipart/form-data; boundary=x"; return c }, code: 41, reason: "content_type"},
		{name: "GBK charset", call: func() *tcall { c := up(); c.ct = "application/x-www-form-urlencoded; charset=GBK"; return c }, code: 47, reason: "invalid_encoding"},
		{name: "bad escape", call: func() *tcall { c := up(); c.rawBody = str("method=%zz"); return c }, code: 41, reason: "malformed_form"},
		{name: "semicolon", call: func() *tcall { c := up(); c.rawQuery = str("a=1;b=2"); return c }, code: 41, reason: "malformed_form"},
		{name: "invalid UTF-8", call: func() *tcall { c := up(); c.p["remarks"] = "\xff"; return c }, code: 47, reason: "invalid_encoding"},
		{name: "parameter twice", call: func() *tcall {
			c := up()
			raw := url.Values{"method": {mInOut, mRetail}}.Encode()
			c.rawBody = &raw
			return c
		}, code: 41, reason: "duplicate_param", subMsg: "method"},
		{name: "in query and body", call: func() *tcall {
			c := up()
			q := "app_key=" + storeApp
			c.rawQuery = &q
			return c
		}, code: 41, reason: "duplicate_param", subMsg: "app_key"},
		{name: "empty value", call: func() *tcall { c := up(); c.p["qu_receivable"] = ""; return c }, code: 41, subCode: "isv.invalid-parameter", reason: "empty_param", subMsg: "qu_receivable"},
		{name: "empty name", call: func() *tcall { c := up(); c.p[""] = "x"; return c }, code: 41, reason: "empty_param"},
		{name: "no method", call: func() *tcall { c := up(); delete(c.p, "method"); return c }, code: 21, reason: "missing_method"},
		{name: "unknown method", call: func() *tcall { c := up(); c.p["method"] = "taobao.user.seller.get"; return c }, code: 22, reason: "invalid_method"},
		{name: "kyt method", call: func() *tcall { c := up(); c.p["method"] = "alibaba.alihealth.drug.kyt.uploadinoutbill"; return c }, code: 22, reason: "invalid_method"},
		{name: "no app_key", call: func() *tcall { c := up(); delete(c.p, "app_key"); return c }, code: 28, reason: "missing_app_key"},
		{name: "unknown app_key", call: func() *tcall { c := up(); c.p["app_key"] = "99999999"; return c }, code: 29, reason: "invalid_app_key"},
		{name: "no timestamp", call: func() *tcall { c := up(); delete(c.p, "timestamp"); return c }, code: 30, reason: "missing_timestamp"},
		{name: "RFC 3339 timestamp", call: func() *tcall { c := up(); c.p["timestamp"] = "2026-11-27T10:05:00+08:00"; return c }, code: 31, reason: "invalid_timestamp"},
		{name: "millisecond timestamp", call: func() *tcall {
			c := up()
			c.p["timestamp"] = strconv.FormatInt(clock.UnixMilli(), 10)
			return c
		}, code: 31, reason: "invalid_timestamp"},
		{name: "no v", call: func() *tcall { c := up(); delete(c.p, "v"); return c }, code: 32, reason: "missing_version"},
		{name: "v not a number", call: func() *tcall { c := up(); c.p["v"] = "two"; return c }, code: 33, reason: "invalid_version"},
		{name: "v 3.0", call: func() *tcall { c := up(); c.p["v"] = "3.0"; return c }, code: 34, reason: "unsupported_version"},
		{name: "no format (xml)", call: func() *tcall { c := up(); delete(c.p, "format"); return c }, code: 23, reason: "invalid_format", subMsg: "only speaks json"},
		{name: "format xml", call: func() *tcall { c := up(); c.p["format"] = "xml"; return c }, code: 23, reason: "invalid_format", subMsg: "only speaks json"},
		{name: "no sign_method", call: func() *tcall { c := up(); delete(c.p, "sign_method"); return c }, code: 25, reason: "missing_sign_method"},
		{name: "sha1 sign_method", call: func() *tcall { c := up(); c.p["sign_method"] = "sha1"; return c }, code: 25, reason: "invalid_sign_method"},
		{name: "no sign", call: func() *tcall { c := up(); c.sign = "-"; return c }, code: 24, reason: "missing_signature"},
		{name: "wrong secret", call: func() *tcall { c := up(); c.secret = "not-the-secret"; return c }, code: 25, reason: "invalid_signature"},
		{name: "lowercase sign", call: func() *tcall {
			c := up()
			c.sign = strings.ToLower(testSign(c.p, storeSecret, "md5"))
			return c
		}, code: 25, reason: "invalid_signature"},
		{name: "tampered after signing", call: func() *tcall {
			c := up()
			c.sign = testSign(c.p, storeSecret, "md5")
			c.p["bill_type"] = "103"
			return c
		}, code: 25, reason: "invalid_signature"},
		{name: "hmac signed, md5 declared", call: func() *tcall {
			c := up()
			c.sign = testSign(c.p, storeSecret, "hmac")
			return c
		}, code: 25, reason: "invalid_signature"},
		{name: "10m01s late", call: func() *tcall {
			c := up()
			c.p["timestamp"] = clock.Add(-10*time.Minute - time.Second).In(cst).Format(tsLayout)
			return c
		}, code: 31, reason: "stale_timestamp"},
		{name: "UTC timestamp", call: func() *tcall { c := up(); c.p["timestamp"] = clock.UTC().Format(tsLayout); return c }, code: 31, reason: "stale_timestamp"},
		{name: "simplify yes", call: func() *tcall { c := up(); c.p["simplify"] = "yes"; return c }, code: 41, reason: "invalid_simplify"},
		{name: "no bill_code", call: func() *tcall { c := up(); delete(c.p, "bill_code"); return c }, code: 40, subCode: "isv.missing-parameter", reason: "missing_param", subMsg: "bill_code"},
		{name: "no client_type", call: func() *tcall { c := up(); delete(c.p, "client_type"); return c }, code: 40, subCode: "isv.missing-parameter", reason: "missing_param", subMsg: "client_type"},
		{name: "retail without trace_codes", call: func() *tcall { c := retail("R-1", 321, box(1)); delete(c.p, "trace_codes"); return c }, code: 40, reason: "missing_param", subMsg: "trace_codes"},
		{name: "misspelt parameter", call: func() *tcall { c := up(); c.p["trace_code"] = box(2); return c }, code: 41, subCode: "isv.invalid-parameter", reason: "unknown_param", subMsg: "trace_code"},
		{name: "client_type in retail", call: func() *tcall { c := retail("R-1", 321, box(1)); c.p["client_type"] = "2"; return c }, code: 41, reason: "unknown_param"},
		{name: "client_type 1", call: func() *tcall { c := up(); c.p["client_type"] = "1"; return c }, code: 41, reason: "invalid_param", subMsg: "client_type"},
		{name: "retail type in inoutbill", call: func() *tcall { c := up(); c.p["bill_type"] = "321"; return c }, code: 41, reason: "invalid_param", subMsg: "uploadretail"},
		{name: "116 in inoutbill", call: func() *tcall { c := up(); c.p["bill_type"] = "116"; return c }, code: 41, reason: "invalid_param"},
		{name: "unknown bill_type", call: func() *tcall { c := up(); c.p["bill_type"] = "999"; return c }, code: 41, reason: "invalid_param"},
		{name: "bill_type not a number", call: func() *tcall { c := up(); c.p["bill_type"] = "1O2"; return c }, code: 41, reason: "invalid_param"},
		{name: "in/out type in retail", call: func() *tcall { c := retail("R-1", 102, box(1)); return c }, code: 41, reason: "invalid_param", subMsg: "uploadinoutbill"},
		{name: "yljg 323 in retail", call: func() *tcall { c := retail("R-1", 323, box(1)); return c }, code: 41, reason: "invalid_param", subMsg: "321"},
		{name: "physic_type 1", call: func() *tcall { c := up(); c.p["physic_type"] = "1"; return c }, code: 41, reason: "invalid_param"},
		{name: "bill_time with slashes", call: func() *tcall { c := up(); c.p["bill_time"] = "2026/11/27 09:30:00"; return c }, code: 41, reason: "invalid_param", subMsg: "bill_time"},
		{name: "bill_code too long", call: func() *tcall { c := up(); c.p["bill_code"] = strings.Repeat("B", 65); return c }, code: 41, reason: "invalid_param"},
		{name: "bill_code with newline", call: func() *tcall { c := up(); c.p["bill_code"] = "B\n1"; return c }, code: 41, reason: "invalid_param"},
		{name: "empty code entry", call: func() *tcall { c := inOut("B-1", 102, box(1), "", box(2)); return c }, code: 41, reason: "invalid_param", subMsg: "entry 2"},
		{name: "trailing comma", call: func() *tcall { c := up(); c.p["trace_codes"] += ","; return c }, code: 41, reason: "invalid_param"},
		{name: "3501 codes", call: func() *tcall { return inOut("B-1", 102, manyCodes...) }, code: 41, reason: "too_many_codes", subMsg: "3500"},
		{name: "3501 retail codes", call: func() *tcall { return retail("R-1", 321, manyCodes...) }, code: 41, reason: "too_many_codes"},
		{name: "agent_ref_user_id", call: func() *tcall { c := up(); c.p["agent_ref_user_id"] = storeRef; return c }, code: 41, reason: "invalid_param"},
		{name: "return reason on 102", call: func() *tcall { c := up(); c.p["return_reason_code"] = "1"; return c }, code: 41, reason: "invalid_param"},
		{name: "destruction fields on 201", call: func() *tcall { c := inOut("B-1", 201, box(1)); c.p["executer_name"] = "x"; return c }, code: 41, reason: "invalid_param"},
		{name: "dis_ent_id not an ent_id", call: func() *tcall { c := up(); c.p["dis_ent_id"] = storeRef; return c }, code: 41, reason: "invalid_param"},
		{name: "user_tel 12 digits", call: func() *tcall { c := retail("R-1", 321, box(1)); c.p["user_tel"] = "138000000001"; return c }, code: 41, reason: "invalid_param"},
		{name: "customer_id_type 7", call: func() *tcall { c := retail("R-1", 321, box(1)); c.p["customer_id_type"] = "7"; return c }, code: 41, reason: "invalid_param"},
		{name: "network_bill_flag 2", call: func() *tcall { c := retail("R-1", 321, box(1)); c.p["network_bill_flag"] = "2"; return c }, code: 41, reason: "invalid_param"},
		{name: "user_name over 20", call: func() *tcall { c := retail("R-1", 321, box(1)); c.p["user_name"] = strings.Repeat("张", 21); return c }, code: 41, reason: "invalid_param"},
		{name: "1001 codes in codedetail", call: func() *tcall {
			return query(mCodeDetail, map[string]string{"codes": strings.Join(manyDetail, ",")})
		}, code: 41, reason: "too_many_codes", subMsg: "1000"},
		{name: "billstatus bill_type 102", call: func() *tcall {
			return query(mBillStatus, map[string]string{"begin_date": "2026-11-01", "end_date": "2026-11-30", "bill_type": "102"})
		}, code: 41, reason: "invalid_param"},
		{name: "billstatus deal_status 2", call: func() *tcall {
			return query(mBillStatus, map[string]string{"begin_date": "2026-11-01", "end_date": "2026-11-30", "bill_type": "A", "deal_status": "2"})
		}, code: 41, reason: "invalid_param"},
		{name: "listupout bad date", call: func() *tcall {
			return query(mListUpOut, map[string]string{"begin_date": "2026-11-1", "end_date": "2026-11-30"})
		}, code: 41, reason: "invalid_param", subMsg: "begin_date"},
		{name: "listupout dates reversed", call: func() *tcall {
			return query(mListUpOut, map[string]string{"begin_date": "2026-11-30", "end_date": "2026-11-01"})
		}, code: 41, reason: "invalid_param"},
		{name: "listupout page_size 101", call: func() *tcall {
			return query(mListUpOut, map[string]string{"begin_date": "2026-11-01", "end_date": "2026-11-30", "page_size": "101"})
		}, code: 41, reason: "invalid_param"},
		{name: "listupout page 0", call: func() *tcall {
			return query(mListUpOut, map[string]string{"begin_date": "2026-11-01", "end_date": "2026-11-30", "page": "0"})
		}, code: 41, reason: "invalid_param"},
		{name: "listupout without dates", call: func() *tcall { return query(mListUpOut, map[string]string{}) }, code: 40, reason: "missing_param"},
		{name: "getentinfolist not JSON", call: func() *tcall {
			return query(mEntInfoList, map[string]string{"query_param": "ent_name=x"})
		}, code: 41, reason: "invalid_param"},
		{name: "getentinfolist unknown field", call: func() *tcall {
			return query(mEntInfoList, map[string]string{"query_param": `{"name":"x"}`})
		}, code: 41, reason: "invalid_param"},
		{name: "getentinfolist empty query", call: func() *tcall {
			return query(mEntInfoList, map[string]string{"query_param": `{}`})
		}, code: 41, reason: "invalid_param"},
		{name: "getentinfolist two objects", call: func() *tcall {
			return query(mEntInfoList, map[string]string{"query_param": `{"ent_id":"x"}{}`})
		}, code: 41, reason: "invalid_param"},
	}
	want := map[string]int{}
	signFailures := 0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.call()
			a := c.serve(t, s)
			status := tc.status
			if status == 0 {
				status = 200
			}
			if a.err == nil || a.err.Code != tc.code || a.err.SubCode != tc.subCode && tc.subCode != "" || a.status != status {
				t.Fatalf("got %s, want HTTP %d code %d %s", a, status, tc.code, tc.subCode)
			}
			if a.err.Msg == "" || a.err.SubMsg == "" {
				t.Errorf("error without msg or sub_msg: %s", a)
			}
			if tc.subMsg != "" && !strings.Contains(a.err.SubMsg+a.err.Msg, tc.subMsg) {
				t.Errorf("sub_msg %q does not mention %q", a.err.SubMsg, tc.subMsg)
			}
			if strings.Contains(string(a.data), storeSecret) {
				t.Error("answer leaks the secret")
			}
		})
		want[tc.reason]++
		if tc.reason == "missing_signature" || tc.reason == "invalid_signature" {
			signFailures++
		}
	}
	st := s.Stats()
	if st.Accepted != 0 || len(s.Bills(storeRef)) != 0 {
		t.Errorf("bad requests were applied: %+v", st)
	}
	for reason, n := range want {
		if st.Rejected[reason] != n {
			t.Errorf("Stats.Rejected[%q] = %d, want %d", reason, st.Rejected[reason], n)
		}
	}
	if st.SignatureFailures != signFailures || st.Requests != len(tests) {
		t.Errorf("SignatureFailures = %d (want %d), Requests = %d (want %d)", st.SignatureFailures, signFailures, st.Requests, len(tests))
	}
}

func TestSignMethodsAndParamPlacement(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	for i, sm := range []string{"md5", "hmac", "hmac-sha256"} {
		c := inOut("SM-"+sm, 102, box(100+i))
		c.p["sign_method"] = sm
		wantAccepted(t, c.serve(t, s))
	}
	// The official PHP SDK puts the system parameters, sign included, in
	// the query string and the business ones in the body.
	c := inOut("SM-php", 102, box(110))
	c.inQuery = []string{"method", "app_key", "timestamp", "v", "format", "sign_method", "sign", "partner_id"}
	c.p["partner_id"] = "top-sdk-php-20260203"
	wantAccepted(t, c.serve(t, s))
	// session is accepted and ignored.
	c = inOut("SM-session", 102, box(111))
	c.p["session"] = "whatever"
	wantAccepted(t, c.serve(t, s))
	if st := s.Stats(); st.Accepted != 5 || st.Methods[mInOut] != 5 {
		t.Errorf("stats = %+v", st)
	}
}

// TestTimestampWindow checks the window edges in China time. It also runs
// in child processes under other host zones (TestTimestampHostZones).
func TestTimestampWindow(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	tests := []struct {
		offset time.Duration
		ok     bool
	}{
		{-10 * time.Minute, true}, {10 * time.Minute, true}, {0, true},
		{-10*time.Minute - time.Second, false}, {10*time.Minute + time.Second, false},
		{8 * time.Hour, false}, {-8 * time.Hour, false},
	}
	for i, tc := range tests {
		c := inOut(fmt.Sprintf("TS-%d", i), 102, box(200+i))
		c.p["timestamp"] = clock.Add(tc.offset).In(cst).Format(tsLayout)
		a := c.serve(t, s)
		switch {
		case tc.ok && (a.up == nil || a.up.MsgCode != msgOK):
			t.Errorf("offset %v: got %s, want accepted", tc.offset, a)
		case !tc.ok && (a.err == nil || a.err.Code != 31):
			t.Errorf("offset %v: got %s, want code 31", tc.offset, a)
		}
	}
	// A custom window.
	s = newServer(t, sandbox.Options{Window: time.Minute})
	c := inOut("TS-w", 102, box(299))
	c.p["timestamp"] = clock.Add(-61 * time.Second).In(cst).Format(tsLayout)
	if a := c.serve(t, s); a.err == nil || a.err.Code != 31 {
		t.Errorf("61s with a 1m window: %s", a)
	}
}

func TestTimestampHostZones(t *testing.T) {
	if os.Getenv("SANDBOX_TZ_CHILD") != "" {
		t.Skip("in a child process")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tz := range []string{"UTC", "America/New_York", "Asia/Kolkata", "Asia/Shanghai"} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, exe, "-test.run=^TestTimestampWindow$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TZ="+tz, "SANDBOX_TZ_CHILD=1")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), "PASS") {
			t.Errorf("TZ=%s: %v\n%s", tz, err, out)
		}
	}
}

func TestAnswerShapes(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	c := inOut("SH-1", 102, box(300))
	a := c.serve(t, s)
	wantAccepted(t, a)
	if !bytes.Contains(a.data, []byte(`"response_success":true`)) {
		t.Errorf("response_success is not a JSON boolean: %s", a.data)
	}
	if !bytes.HasPrefix(a.data, []byte(`{"`+"alibaba_alihealth_drugtrace_top_lsyd_uploadinoutbill_response"+`":{`)) {
		t.Errorf("not wrapped: %s", a.data)
	}
	// simplify=true: fields at the top level.
	c = inOut("SH-2", 102, box(301))
	c.p["simplify"] = "true"
	a = c.serve(t, s)
	wantAccepted(t, a)
	if a.layout != "top" || bytes.Contains(a.data, []byte("_response")) {
		t.Errorf("simplified answer: %s", a.data)
	}
	// Queries nest "result"; simplified ones too.
	q := query(mUpBillDet, map[string]string{"bill_code": "SH-2", "simplify": "true"})
	a = q.serve(t, s)
	if a.q == nil || !a.q.OK() || a.layout != "result" || bytes.Contains(a.data, []byte("_response")) {
		t.Errorf("simplified query: %s", a.data)
	}
	// Errors keep their wrapper with simplify=true.
	c = inOut("SH-3", 102, box(302))
	c.p["simplify"] = "true"
	c.secret = "wrong"
	a = c.serve(t, s)
	if a.err == nil || a.err.Code != 25 || !bytes.HasPrefix(a.data, []byte(`{"error_response":{`)) {
		t.Errorf("simplified error: %s", a.data)
	}
}

func TestBusinessRefusals(t *testing.T) {
	apps := sandbox.DefaultApps()
	apps["10000009"] = "orphan-secret-FAKE" // an app without an enterprise
	s := newServer(t, sandbox.Options{Apps: apps})
	tests := []struct {
		name    string
		call    func() *tcall
		msgCode string
		info    string
		reason  string
	}{
		{name: "foreign ref_user_id", call: func() *tcall {
			c := inOut("BR-1", 102, box(400))
			c.p["ref_user_id"] = sandbox.DefaultWarehouseRefEntID
			return c
		}, msgCode: msgAuth, info: "无权", reason: "auth"},
		{name: "ent_id as ref_user_id", call: func() *tcall {
			c := inOut("BR-1", 102, box(400))
			c.p["ref_user_id"] = storeEnt
			return c
		}, msgCode: msgAuth, info: "ref_ent_id", reason: "auth"},
		{name: "app without enterprise", call: func() *tcall {
			c := inOut("BR-1", 102, box(400))
			c.p["app_key"], c.secret = "10000009", "orphan-secret-FAKE"
			return c
		}, msgCode: msgAuth, info: "未绑定", reason: "auth"},
		{name: "inbound to the partner", call: func() *tcall {
			c := inOut("BR-1", 102, box(400))
			c.p["from_user_id"], c.p["to_user_id"] = storeEnt, supplierEnt
			return c
		}, msgCode: msgFAIL, info: "企业与单据方向不符", reason: "direction"},
		{name: "outbound from the partner", call: func() *tcall {
			c := inOut("BR-1", 202, box(400))
			c.p["from_user_id"], c.p["to_user_id"] = supplierEnt, storeEnt
			return c
		}, msgCode: msgFAIL, info: "企业与单据方向不符", reason: "direction"},
		{name: "own ref_ent_id as to_user_id", call: func() *tcall {
			c := inOut("BR-1", 102, box(400))
			c.p["to_user_id"] = storeRef
			return c
		}, msgCode: msgFAIL, info: "32 位 ent_id", reason: "direction"},
		{name: "unknown partner", call: func() *tcall {
			c := inOut("BR-1", 102, box(400))
			c.p["from_user_id"] = "00000000000000000000000000000000"
			return c
		}, msgCode: msgFAIL, info: "往来企业不存在", reason: "unknown_partner"},
		{name: "partner by ref_ent_id", call: func() *tcall {
			c := inOut("BR-1", 102, box(400))
			c.p["from_user_id"] = sandbox.DefaultSupplierRefEntID
			return c
		}, msgCode: msgFAIL, info: "应填其 ent_id", reason: "unknown_partner"},
		{name: "retail from another enterprise", call: func() *tcall {
			c := retail("BR-1", 321, box(400))
			c.p["from_user_id"] = supplierEnt
			return c
		}, msgCode: msgFAIL, info: "企业与单据方向不符", reason: "direction"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantUploadFail(t, tc.call().serve(t, s), tc.msgCode, tc.info)
		})
	}
	// Queries of another enterprise's data.
	a := query(mUpBillDet, map[string]string{"bill_code": "X", "ref_ent_id": sandbox.DefaultWarehouseRefEntID}).serve(t, s)
	if a.q == nil || a.q.MsgCode != msgAuth || a.q.OK() {
		t.Errorf("foreign query: %s", a)
	}
	st := s.Stats()
	if st.Accepted != 0 || st.Rejected["auth"] != 4 || st.Rejected["direction"] != 4 || st.Rejected["unknown_partner"] != 2 {
		t.Errorf("stats = %+v", st)
	}
	// Refused uploads do not take the bill_code.
	wantAccepted(t, inOut("BR-1", 102, box(400)).serve(t, s))
}

func TestDuplicateBillCode(t *testing.T) {
	var now = clock
	var mu sync.Mutex
	s := newServer(t, sandbox.Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	a := inOut("DUP-1", 102, box(500), box(501)).serve(t, s)
	wantAccepted(t, a)
	queueID := a.up.Model

	mu.Lock()
	now = clock.Add(3 * time.Minute)
	mu.Unlock()
	// Same content, then different content: both are duplicates; the
	// platform does not compare contents.
	for _, c := range []*tcall{inOut("DUP-1", 102, box(500), box(501)), inOut("DUP-1", 102, box(502)), retail("DUP-1", 321, box(503))} {
		c.p["timestamp"] = clock.Add(3 * time.Minute).In(cst).Format(tsLayout)
		wantUploadFail(t, c.serve(t, s), msgFAIL, txtDuplicate+"（上传时间：2026-11-27 10:05:00）")
	}
	bills := s.Bills(storeRef)
	if len(bills) != 1 || bills[0].Applied != 1 || bills[0].Duplicates != 3 || bills[0].QueueID != queueID ||
		strings.Join(bills[0].Codes, ",") != box(500)+","+box(501) {
		t.Fatalf("ledger = %+v", bills)
	}
	// Another enterprise may use the same bill_code.
	c := inOut("DUP-1", 102, box(500))
	c.p["app_key"], c.secret = sandbox.DefaultWarehouseAppKey, sandbox.DefaultWarehouseSecret
	c.p["ref_user_id"], c.p["to_user_id"] = sandbox.DefaultWarehouseRefEntID, sandbox.DefaultWarehouseEntID
	c.p["timestamp"] = clock.Add(3 * time.Minute).In(cst).Format(tsLayout)
	wantAccepted(t, c.serve(t, s))
	if st := s.Stats(); st.Duplicates != 3 || st.Accepted != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestSoldCodeAndReturnResale(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	a, b := box(600), box(601)
	wantAccepted(t, retail("S-1", 321, a).serve(t, s))
	// A sale holding an already sold code is refused as a whole.
	wantUploadFail(t, retail("S-2", 321, b, a).serve(t, s), msgFAIL, txtSold)
	wantUploadFail(t, retail("S-2", 322, a).serve(t, s), msgFAIL, txtSold)
	// b was not taken by the refused bill; S-2 is still free.
	wantAccepted(t, retail("S-2", 321, b).serve(t, s))
	// The consumer brings a back; it can be sold again.
	wantAccepted(t, retail("S-3", 116, a).serve(t, s))
	wantAccepted(t, retail("S-4", 321, a).serve(t, s))
	wantUploadFail(t, retail("S-5", 321, a).serve(t, s), msgFAIL, txtSold)

	// A box sold out of a case makes the case sold, and the other way round.
	child := sandbox.DefaultCaseChild
	wantAccepted(t, retail("S-6", 321, child).serve(t, s))
	wantUploadFail(t, retail("S-7", 321, sandbox.DefaultCaseCode).serve(t, s), msgFAIL, txtSold)
	other := sandbox.MakeCode(sandbox.CaseIbuprofen, 7)
	wantAccepted(t, retail("S-8", 321, other).serve(t, s))
	kids := s.World().CaseChildren(other)
	wantUploadFail(t, retail("S-9", 321, kids[3]).serve(t, s), msgFAIL, txtSold)

	if n := len(s.Bills(storeRef)); n != 6 {
		t.Errorf("ledger has %d bills, want 6", n)
	}
	if st := s.Stats(); st.Rejected["sold"] != 5 {
		t.Errorf("sold refusals = %d, want 5", st.Rejected["sold"])
	}
}

// errorInfo decodes operation_info_map.code_check_error_info.
func errorInfo(t *testing.T, a *answer) map[string]string {
	t.Helper()
	if a.up == nil {
		t.Fatalf("not an upload answer: %s", a)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(a.up.OperationInfoMap.CodeCheckErrorInfo), &m); err != nil {
		t.Fatalf("code_check_error_info %q is not a JSON object of strings: %v", a.up.OperationInfoMap.CodeCheckErrorInfo, err)
	}
	return m
}

func TestParentAndChildInOneBill(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	kase, child := sandbox.DefaultCaseCode, sandbox.DefaultCaseChild
	second := s.World().CaseChildren(kase)[1]
	loose := box(700)
	a := inOut("PC-1", 102, child, loose, kase, second).serve(t, s)
	wantAccepted(t, a)
	want := map[string]string{"6": child + "(下级);" + kase + "(上级)," + second + "(下级);" + kase + "(上级)"}
	if got := errorInfo(t, a); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("code_check_error_info = %v, want %v", got, want)
	}
	b, _ := s.Bill(storeRef, "PC-1")
	if len(b.CodeErrors) != 3 || b.CodeErrors[kase] != "6" || b.CodeErrors[child] != "6" || b.CodeErrors[second] != "6" {
		t.Errorf("CodeErrors = %v", b.CodeErrors)
	}
	// With ignore_part_success_flag=1 the whole bill fails and is not kept.
	c := inOut("PC-2", 102, box(701), sandbox.MakeCode(sandbox.CaseIbuprofen, 2), s.World().CaseChildren(sandbox.MakeCode(sandbox.CaseIbuprofen, 2))[0])
	c.p["ignore_part_success_flag"] = "1"
	a = c.serve(t, s)
	wantUploadFail(t, a, msgFAIL, "整单不处理")
	if errorInfo(t, a)["6"] == "" {
		t.Errorf("strict refusal without key 6: %s", a)
	}
	if _, ok := s.Bill(storeRef, "PC-2"); ok {
		t.Error("refused bill is in the ledger")
	}
	// Any other flag value means partial success.
	c = inOut("PC-3", 102, box(702), "123")
	c.p["ignore_part_success_flag"] = "0"
	wantAccepted(t, c.serve(t, s))
}

func billStatus(billCode string) *tcall {
	return query(mBillStatus, map[string]string{"begin_date": "2026-11-27", "end_date": "2026-11-27",
		"bill_type": "A", "bill_code": billCode})
}

func statusRows(t *testing.T, a *answer) []tStatusRow {
	t.Helper()
	if a.q == nil || !a.q.OK() {
		t.Fatalf("billstatus: %s", a)
	}
	var p tStatusPage
	if err := json.Unmarshal(a.q.fields["model"], &p); err != nil {
		t.Fatalf("billstatus model: %v", err)
	}
	if p.TotalNum < int64(len(p.ResultList)) {
		t.Fatalf("total_num %d below the page's %d rows", p.TotalNum, len(p.ResultList))
	}
	return p.ResultList
}

// partPage decodes a listbillprocesspartsuccess answer's model.
func partPage(t *testing.T, a *answer) tPartPage {
	t.Helper()
	var pp tPartPage
	if a.q == nil || !a.q.OK() {
		t.Fatalf("part success: %s", a)
	}
	if err := json.Unmarshal(a.q.fields["model"], &pp); err != nil {
		t.Fatalf("part success model: %v: %s", err, a)
	}
	return pp
}

func TestPartialSuccessAndProcessing(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	good, dup, cancelled := box(800), box(801), sandbox.DefaultCancelledCode
	unknownPrefix := "80000010000000010000"
	gs1 := sandbox.GS1Code(sandbox.GTINAtorvastatin, "P1")
	gs1Unknown := "01" + "04012345000023" + "21P2" // valid GTIN, not registered
	codes := []string{good, "12345", dup, unknownPrefix, dup, cancelled, "6901234567892", gs1, gs1Unknown, "70000000000000000000"}
	a := inOut("PS-1", 102, codes...).serve(t, s)
	wantAccepted(t, a)
	want := map[string]string{
		"1": unknownPrefix + "," + gs1Unknown,
		"2": "12345,6901234567892,70000000000000000000",
		"3": dup,
		"4": cancelled,
	}
	if got := errorInfo(t, a); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("code_check_error_info = %v\nwant %v", got, want)
	}

	// Before processing: result 1, no part failures yet.
	rows := statusRows(t, billStatus("PS-1").serve(t, s))
	if len(rows) != 1 || rows[0].ResultType != "1" || rows[0].ProcessInfo != "" || rows[0].SubProcess != "" {
		t.Fatalf("first poll = %+v", rows)
	}
	part := query(mPartSuccess, map[string]string{"bill_code": "PS-1"})
	if a := part.serve(t, s); partPage(t, a).TotalNum != 0 || a.layout != "top" {
		t.Fatalf("part failures before processing: %s", a)
	}
	rows = statusRows(t, billStatus("PS-1").serve(t, s))
	// sub_process_flag 52 部分成功, as the SDK declares the values.
	if len(rows) != 1 || rows[0].ResultType != "3" || rows[0].ProcessDate == "" || !strings.Contains(rows[0].ProcessInfo, "7") || rows[0].SubProcess != "52" {
		t.Fatalf("second poll = %+v", rows)
	}
	a = part.serve(t, s)
	pp := partPage(t, a)
	if pp.TotalNum != 7 || len(pp.Result) != 7 || pp.Pages != 1 || pp.Page != 1 || pp.PageSize != 20 {
		t.Fatalf("part failures: %s", a)
	}
	byCode := map[string]string{}
	for _, f := range pp.Result {
		if f.ErrorCodeDesc == "" || f.ProcessStatusReasonDesc == "" || f.LastProcessDateDesc != "2026-11-27 10:05:00" {
			t.Errorf("row = %+v", f)
		}
		byCode[f.Code] = f.ErrorCode
	}
	if byCode[dup] != "3" || byCode[cancelled] != "4" || byCode[unknownPrefix] != "1" || byCode["12345"] != "2" {
		t.Errorf("error codes = %v", byCode)
	}
	// Paging: 3 per page makes 3 pages.
	part.p["page_size"], part.p["page"] = "3", "3"
	if pp := partPage(t, part.serve(t, s)); pp.Pages != 3 || len(pp.Result) != 1 || pp.TotalNum != 7 || pp.Page != 3 {
		t.Errorf("page 3 of 3: %+v", pp)
	}
	part.p["page_size"], part.p["page"] = "20", "1"
	// Filters.
	part.p["error_code"] = "2"
	if a := part.serve(t, s); partPage(t, a).TotalNum != 3 {
		t.Errorf("error_code=2: %s", a)
	}
	delete(part.p, "error_code")
	// Without bill_code (optional in the SDK): every processed bill's failures.
	delete(part.p, "bill_code")
	if a := part.serve(t, s); partPage(t, a).TotalNum != 7 {
		t.Errorf("without bill_code: %s", a)
	}
	// The bill's detail holds the codes the platform took.
	a = query(mUpBillDet, map[string]string{"bill_code": "PS-1"}).serve(t, s)
	var d tBillDetail
	if a.q == nil || !a.q.OK() || json.Unmarshal(a.q.fields["model"], &d) != nil || strings.Join(d.codes(), ",") != good+","+gs1 ||
		len(d.Lines) != 2 || d.Lines[0].ProdCode != sandbox.ProductAmoxicillin || d.Lines[0].MinPkgCount != "1" ||
		d.BillType != "102" || d.ProcessDate == "" {
		t.Errorf("upbilldetail = %s", a)
	}
	b, _ := s.Bill(storeRef, "PS-1")
	if b.Result != 3 || len(b.CodeErrors) != 7 || b.Polls != 2 || b.Applied != 1 {
		t.Errorf("ledger = %+v", b)
	}

	// Every code failing: accepted, then 4 处理失败 with process_info.
	a = inOut("PS-2", 102, "1", sandbox.DefaultCancelledCode).serve(t, s)
	wantAccepted(t, a)
	statusRows(t, billStatus("PS-2").serve(t, s))
	rows = statusRows(t, billStatus("PS-2").serve(t, s))
	if len(rows) != 1 || rows[0].ResultType != "4" || rows[0].ProcessInfo == "" || rows[0].SubProcess != "52" {
		t.Errorf("all failed = %+v", rows)
	}

	// Every code taken: 51 全部成功.
	wantAccepted(t, inOut("PS-3", 102, box(802)).serve(t, s))
	statusRows(t, billStatus("PS-3").serve(t, s))
	rows = statusRows(t, billStatus("PS-3").serve(t, s))
	if len(rows) != 1 || rows[0].ResultType != "3" || rows[0].SubProcess != "51" {
		t.Errorf("all taken = %+v", rows)
	}
}

func TestProcessAfter(t *testing.T) {
	for _, tc := range []struct {
		after int
		want  []int
	}{
		{sandbox.ProcessAtOnce, []int{3, 3}},
		{0, []int{1, 3, 3}}, // default 1
		{1, []int{1, 3}},
		{3, []int{1, 0, 0, 3, 3}},
	} {
		s := newServer(t, sandbox.Options{ProcessAfter: tc.after})
		wantAccepted(t, inOut("PA-1", 102, box(900)).serve(t, s))
		var got []int
		for range tc.want {
			n, err := strconv.Atoi(statusRows(t, billStatus("PA-1").serve(t, s))[0].ResultType)
			if err != nil {
				t.Fatalf("result_type: %v", err)
			}
			got = append(got, n)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("ProcessAfter %d: results %v, want %v", tc.after, got, tc.want)
		}
	}
}

func TestRepeatFlow(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	x, y := box(1000), box(1001)
	wantAccepted(t, inOut("RF-1", 102, x, y).serve(t, s))
	// The same codes received again under a new bill_code (say, a retry
	// that lost its bill number).
	wantUploadFail(t, inOut("RF-2", 102, y).serve(t, s), msgRepeat, "RF-1")
	wantAccepted(t, inOut("RF-3", 202, y).serve(t, s))
	wantUploadFail(t, inOut("RF-4", 202, y).serve(t, s), msgRepeat, "RF-3")
	wantAccepted(t, inOut("RF-5", 102, y).serve(t, s))
	// Retail moves count too: sold then received again is fine.
	wantAccepted(t, retail("RF-6", 321, x).serve(t, s))
	wantAccepted(t, inOut("RF-7", 103, x).serve(t, s))
	if st := s.Stats(); st.Rejected["repeat_flow"] != 2 || st.Accepted != 5 {
		t.Errorf("stats = %+v", st)
	}
}

func TestGS1Option(t *testing.T) {
	gs1 := sandbox.GS1Code(sandbox.GTINAtorvastatin, "Q1")
	withLot := "01" + sandbox.GTINAtorvastatin + "17290509" + "10X2605\x1d21Q1"
	for _, reject := range []bool{false, true} {
		s := newServer(t, sandbox.Options{RejectGS1: reject})
		a := inOut("G-1", 102, box(1100), gs1).serve(t, s)
		wantAccepted(t, a)
		if reject {
			if errorInfo(t, a)["2"] != gs1 {
				t.Errorf("RejectGS1: %s", a)
			}
			continue
		}
		if a.up.OperationInfoMap.CodeCheckErrorInfo != "{}" {
			t.Errorf("GS1 refused: %s", a)
		}
		// The same pack with lot and expiry is the same pack.
		a = inOut("G-2", 102, box(1101), gs1, withLot).serve(t, s)
		if errorInfo(t, a)["3"] == "" {
			t.Errorf("GS1 pack twice not a duplicate: %s", a)
		}
	}
}

// start serves a sandbox on loopback for the tests that need real HTTP.
func start(t *testing.T, o sandbox.Options) (*sandbox.Running, *http.Client) {
	t.Helper()
	if o.Now == nil {
		o.Now = fixedNow
	}
	r, err := sandbox.Start("127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(hc.CloseIdleConnections)
	return r, hc
}

func TestFaultsInOrder(t *testing.T) {
	r, hc := start(t, sandbox.Options{})
	r.InjectFaults(sandbox.FaultHTTP500, sandbox.FaultHTTP502HTML, sandbox.FaultISP, sandbox.FaultBusy, sandbox.FaultBusy)

	a := mustSend(t, inOut("F-1", 102, box(1200)), hc, r.URL())
	if a.status != 500 || a.err == nil || a.err.Code != 10 || !strings.HasPrefix(a.err.SubCode, "isp.") {
		t.Errorf("500: %s", a)
	}
	resp, err := hc.Do(inOut("F-1", 102, box(1200)).request(r.URL()))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(page, []byte("502 Bad Gateway")) {
		t.Errorf("502: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), page)
	}
	a = mustSend(t, inOut("F-1", 102, box(1200)), hc, r.URL())
	if a.err == nil || a.err.Code != 15 || a.err.SubCode != "isp.top-remote-connection-timeout" {
		t.Errorf("isp: %s", a)
	}
	wantUploadFail(t, mustSend(t, inOut("F-1", 102, box(1200)), hc, r.URL()), msgFAIL, txtBusy)
	a = mustSend(t, query(mUpBillDet, map[string]string{"bill_code": "F-1"}), hc, r.URL())
	if a.q == nil || a.q.MsgCode != msgFAIL || a.q.MsgInfo != txtBusy || a.q.OK() {
		t.Errorf("busy query: %s", a)
	}
	if n := len(r.Bills(storeRef)); n != 0 {
		t.Fatalf("faults applied %d bills", n)
	}
	wantAccepted(t, mustSend(t, inOut("F-1", 102, box(1200)), hc, r.URL()))
	st := r.Stats()
	if st.Faults[sandbox.FaultHTTP500] != 1 || st.Faults[sandbox.FaultHTTP502HTML] != 1 || st.Faults[sandbox.FaultISP] != 1 ||
		st.Faults[sandbox.FaultBusy] != 2 || st.Accepted != 1 || st.Rejected["busy"] != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestFaultBan(t *testing.T) {
	r, hc := start(t, sandbox.Options{})
	r.InjectFaults(sandbox.FaultBan)
	begin := time.Now()
	for i := range 3 {
		c := inOut("BAN-1", 102, box(1300))
		if i == 2 {
			c.secret = "wrong" // a ban covers unchecked calls too
		}
		a := mustSend(t, c, hc, r.URL())
		if a.err == nil || a.err.Code != 7 || a.err.SubCode != "accesscontrol.limited-by-app-api-access-count" ||
			a.err.SubMsg != "This ban will last for 1 more seconds" {
			t.Fatalf("call %d: %s", i, a)
		}
	}
	// Another app is not banned.
	c := query(mEntInfoList, map[string]string{"query_param": `{"ent_id":"` + storeEnt + `"}`,
		"ref_ent_id": sandbox.DefaultWarehouseRefEntID})
	c.p["app_key"], c.secret = sandbox.DefaultWarehouseAppKey, sandbox.DefaultWarehouseSecret
	if a := mustSend(t, c, hc, r.URL()); a.q == nil || !a.q.OK() {
		t.Fatalf("other app during the ban: %s", a)
	}
	time.Sleep(sandbox.BanDuration - time.Since(begin) + 100*time.Millisecond)
	wantAccepted(t, mustSend(t, inOut("BAN-1", 102, box(1300)), hc, r.URL()))
	if st := r.Stats(); st.Bans != 3 || st.Faults[sandbox.FaultBan] != 1 || st.Rejected["banned"] != 3 || st.SignatureFailures != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestFaultApplyThenTimeout(t *testing.T) {
	r, hc := start(t, sandbox.Options{})
	r.InjectFaults(sandbox.FaultApplyThenTimeout)
	quick := &http.Client{Timeout: 300 * time.Millisecond}
	if _, err := inOut("AT-1", 102, box(1400)).send(quick, r.URL()); err == nil {
		t.Fatal("the answer arrived")
	}
	b, ok := r.Bill(storeRef, "AT-1")
	if !ok || b.Applied != 1 {
		t.Fatalf("bill not applied: %+v", b)
	}
	// The client does not know; resending is safe.
	wantUploadFail(t, mustSend(t, inOut("AT-1", 102, box(1400)), hc, r.URL()), msgFAIL, txtDuplicate)
	if b, _ := r.Bill(storeRef, "AT-1"); b.Applied != 1 || b.Duplicates != 1 {
		t.Errorf("ledger = %+v", b)
	}
}

func TestFaultSlow(t *testing.T) {
	t.Parallel()
	r, hc := start(t, sandbox.Options{})
	r.InjectFaults(sandbox.FaultSlow)
	begin := time.Now()
	wantAccepted(t, mustSend(t, inOut("SL-1", 102, box(1500)), hc, r.URL()))
	if d := time.Since(begin); d < sandbox.SlowDelay {
		t.Errorf("answered after %v, want ≥ %v", d, sandbox.SlowDelay)
	}
}

func TestFaultSlowAbandoned(t *testing.T) {
	t.Parallel()
	r, _ := start(t, sandbox.Options{})
	r.InjectFaults(sandbox.FaultSlow)
	quick := &http.Client{Timeout: 300 * time.Millisecond}
	if _, err := inOut("SL-2", 102, box(1501)).send(quick, r.URL()); err == nil {
		t.Fatal("the answer arrived before SlowDelay")
	}
	time.Sleep(sandbox.SlowDelay + 500*time.Millisecond)
	if _, ok := r.Bill(storeRef, "SL-2"); ok {
		t.Error("an abandoned slow request was applied")
	}
}

func TestStartSetDown(t *testing.T) {
	r, hc := start(t, sandbox.Options{})
	if !strings.HasSuffix(r.URL(), "/router/rest") || !strings.HasPrefix(r.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL = %s", r.URL())
	}
	wantAccepted(t, mustSend(t, inOut("SD-1", 102, box(1600)), hc, r.URL()))
	if err := r.SetDown(true); err != nil {
		t.Fatal(err)
	}
	hc.CloseIdleConnections() // a pooled connection would fail with EOF instead
	_, err := inOut("SD-2", 102, box(1601)).send(hc, r.URL())
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("while down: %v, want connection refused", err)
	}
	if err := r.SetDown(true); err != nil {
		t.Errorf("down twice: %v", err)
	}
	if err := r.SetDown(false); err != nil {
		t.Fatal(err)
	}
	wantAccepted(t, mustSend(t, inOut("SD-2", 102, box(1601)), hc, r.URL()))
	if len(r.Bills(storeRef)) != 2 {
		t.Error("ledger lost across the outage")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := r.SetDown(false); err == nil {
		t.Error("SetDown after Close succeeded")
	}
}

func TestSetDownCutsHungRequest(t *testing.T) {
	r, hc := start(t, sandbox.Options{})
	r.InjectFaults(sandbox.FaultApplyThenTimeout)
	done := make(chan error, 1)
	go func() {
		_, err := inOut("HG-1", 102, box(1700)).send(hc, r.URL())
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := r.Bill(storeRef, "HG-1"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("hung request never applied")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := r.SetDown(true); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("hung request got an answer")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SetDown did not cut the hung request")
	}
}

// TestConcurrentUploads: 50 clients send 1,000 distinct bills, many of
// them several times and at once; each must be applied exactly once.
func TestConcurrentUploads(t *testing.T) {
	r, hc := start(t, sandbox.Options{})
	const bills, clients = 1000, 50
	var sends []int
	for i := range bills {
		for range 1 + i%3 {
			sends = append(sends, i)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(sends), func(i, j int) { sends[i], sends[j] = sends[j], sends[i] })
	work := make(chan int)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := range work {
				c := inOut(fmt.Sprintf("CC-%04d", i), 102, box(10000+2*i), box(10001+2*i))
				a, err := c.send(hc, r.URL())
				switch {
				case err != nil:
					errs <- err
					return
				case a.up == nil:
					errs <- fmt.Errorf("bill %d: %s", i, a)
					return
				case a.up.MsgCode == msgOK, strings.Contains(a.up.MsgInfo, txtDuplicate):
				default:
					errs <- fmt.Errorf("bill %d: %s", i, a)
					return
				}
			}
			errs <- nil
		})
	}
	for _, i := range sends {
		work <- i
	}
	close(work)
	wg.Wait()
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ledger := r.Bills(storeRef)
	if len(ledger) != bills {
		t.Fatalf("ledger has %d bills, want %d", len(ledger), bills)
	}
	seen := map[string]bool{}
	dups := 0
	for _, b := range ledger {
		var i int
		fmt.Sscanf(b.BillCode, "CC-%04d", &i)
		if seen[b.BillCode] || b.Applied != 1 || b.Duplicates != i%3 || len(b.Codes) != 2 {
			t.Errorf("bill %+v", b)
		}
		seen[b.BillCode] = true
		dups += b.Duplicates
	}
	if st := r.Stats(); st.Accepted != bills || st.Duplicates != len(sends)-bills || dups != st.Duplicates {
		t.Errorf("stats = %+v, ledger duplicates %d", st, dups)
	}
}

func TestFaultString(t *testing.T) {
	for f := sandbox.FaultHTTP500; f <= sandbox.FaultISP; f++ {
		if s := f.String(); s == "" || strings.HasPrefix(s, "fault(") {
			t.Errorf("Fault %d has no name", f)
		}
	}
	if s := sandbox.Fault(99).String(); s != "fault(99)" {
		t.Errorf("unknown fault = %q", s)
	}
}

// FuzzHandler: random forms never panic and always answer one JSON
// object in a TOP shape. With resign, the form is signed validly so that
// the business checks get fuzzed too.
func FuzzHandler(f *testing.F) {
	valid := inOut("FZ-1", 102, box(1), box(2))
	f.Add("", valid.request("http://x/").URL.RawQuery, true)
	body := url.Values{}
	for k, v := range valid.p {
		body.Set(k, v)
	}
	f.Add("", body.Encode(), true)
	f.Add("", body.Encode(), false)
	r := retail("FZ-2", 321, box(3), sandbox.DefaultCaseCode, sandbox.DefaultCaseChild)
	rb := url.Values{}
	for k, v := range r.p {
		rb.Set(k, v)
	}
	f.Add("", rb.Encode()+"&ignore_part_success_flag=1", true)
	f.Add("method=x", "a=%zz", false)
	f.Add("", "query_param=%7B%7D&method="+mEntInfoList, true)
	f.Add("", "codes=1,,2&method="+mCodeDetail+"&ref_ent_id="+storeRef, true)
	f.Add("", "", false)
	s := newServer(f, sandbox.Options{ProcessAfter: sandbox.ProcessAtOnce})
	f.Fuzz(func(t *testing.T, rawQuery, rawBody string, resign bool) {
		if resign {
			if vals, err := url.ParseQuery(rawBody); err == nil {
				p := map[string]string{}
				for k, vs := range vals {
					p[k] = vs[len(vs)-1]
				}
				c := newCall(p["method"], p)
				for _, k := range []string{"app_key", "timestamp", "v", "format", "sign_method"} {
					c.p[k] = newCall("", nil).p[k]
				}
				delete(c.p, "sign")
				vs := url.Values{}
				for k, v := range c.p {
					vs.Set(k, v)
				}
				vs.Set("sign", testSign(c.p, storeSecret, "md5"))
				rawBody = vs.Encode()
			}
		}
		req, err := http.NewRequest(http.MethodPost, "http://x/router/rest", strings.NewReader(rawBody))
		if err != nil {
			t.Skip()
		}
		req.URL.RawQuery = rawQuery
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("Content-Type %q", rec.Header().Get("Content-Type"))
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &top); err != nil || len(top) == 0 {
			t.Fatalf("answer %d is not a JSON object: %q", rec.Code, rec.Body.Bytes())
		}
		if _, isErr := top["error_response"]; isErr && len(top) != 1 {
			t.Fatalf("error_response with more: %s", rec.Body.Bytes())
		}
		if rec.Code != 200 && rec.Code != 413 && rec.Code != 400 {
			t.Fatalf("HTTP %d", rec.Code)
		}
	})
}

package sandbox_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// toMap turns a contract value into its JSON object, numbers as written.
func toMap(t testing.TB, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeNumbers(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFSIHeaderRules(t *testing.T) {
	msgidAt := func(d time.Duration) string {
		return sandbox.TestFixmedinsCode + clock.Add(d).In(cst).Format("20060102150405") + "0001"
	}
	for _, tc := range []struct {
		name   string
		edit   func(m map[string]any)
		raw    string // sent instead of the request when set
		reason string
		text   string
	}{
		{"valid", func(m map[string]any) {}, "", "", ""},
		{"null optional field", func(m map[string]any) { m["sign_no"] = nil }, "", "", ""},
		{"not JSON", nil, "infno=3505", "invalid_json", "不是JSON对象"},
		{"array", nil, "[]", "invalid_json", "不是JSON对象"},
		{"invalid UTF-8", nil, "{\"infno\":\"\xff\"}", "invalid_json", "UTF-8"},
		{"infno as number", func(m map[string]any) { m["infno"] = 3505 }, "", "wrong_type", "infno应为字符串"},
		{"missing infno", func(m map[string]any) { delete(m, "infno") }, "", "missing_field", "必填字段缺失: infno"},
		{"missing msgid", func(m map[string]any) { delete(m, "msgid") }, "", "missing_field", "msgid"},
		{"empty opter", func(m map[string]any) { m["opter"] = "" }, "", "missing_field", "opter"},
		{"missing opter_name", func(m map[string]any) { delete(m, "opter_name") }, "", "missing_field", "opter_name"},
		{"missing infver", func(m map[string]any) { delete(m, "infver") }, "", "missing_field", "infver"},
		{"missing inf_time", func(m map[string]any) { delete(m, "inf_time") }, "", "missing_field", "inf_time"},
		{"missing fixmedins_name", func(m map[string]any) { delete(m, "fixmedins_name") }, "", "missing_field", "fixmedins_name"},
		{"missing mdtrtarea_admvs", func(m map[string]any) { delete(m, "mdtrtarea_admvs") }, "", "missing_field", "mdtrtarea_admvs"},
		{"missing recer_sys_code", func(m map[string]any) { delete(m, "recer_sys_code") }, "", "missing_field", "recer_sys_code"},
		{"missing input", func(m map[string]any) { delete(m, "input") }, "", "missing_field", "input"},
		{"null input", func(m map[string]any) { m["input"] = nil }, "", "missing_field", "input"},
		{"opter too long", func(m map[string]any) { m["opter"] = strings.Repeat("x", 31) }, "", "too_long", "opter"},
		{"opter_name of 50 Chinese characters", func(m map[string]any) { m["opter_name"] = strings.Repeat("药", 50) }, "", "", ""},
		{"3512 not served", func(m map[string]any) { m["infno"] = "3512" }, "", "unknown_infno", "交易编号[3512]不存在"},
		{"3505A not served", func(m map[string]any) { m["infno"] = "3505A" }, "", "unknown_infno", "3505A"},
		{"unknown institution", func(m map[string]any) { m["fixmedins_code"] = "P99000000002" }, "", "unknown_institution", "P99000000002"},
		{"msgid 29 characters", func(m map[string]any) { m["msgid"] = msgidAt(0)[:29] }, "", "invalid_msgid", "格式错误"},
		{"msgid of another institution", func(m map[string]any) { m["msgid"] = "P99000000002" + msgidAt(0)[12:] }, "", "invalid_msgid", "格式错误"},
		{"msgid month 13", func(m map[string]any) { m["msgid"] = sandbox.TestFixmedinsCode + "20261327100500" + "0001" }, "", "invalid_msgid", "格式错误"},
		{"msgid serial not digits", func(m map[string]any) { m["msgid"] = msgidAt(0)[:26] + "00a1" }, "", "invalid_msgid", "格式错误"},
		{"institution name", func(m map[string]any) { m["fixmedins_name"] = "另一家药房" }, "", "institution_name", "名称"},
		{"admvs 5 digits", func(m map[string]any) { m["mdtrtarea_admvs"] = "99010" }, "", "invalid_admdvs", "99010"},
		{"admvs of another area", func(m map[string]any) { m["mdtrtarea_admvs"] = "370203" }, "", "invalid_admdvs", "370203"},
		{"insuplc_admdvs", func(m map[string]any) { m["insuplc_admdvs"] = "37020x" }, "", "invalid_admdvs", "参保地"},
		{"recer_sys_code", func(m map[string]any) { m["recer_sys_code"] = "YBXT" }, "", "recer_sys_code", "YBXT"},
		{"opter_type 4", func(m map[string]any) { m["opter_type"] = "4" }, "", "invalid_opter_type", "应为1、2或3"},
		{"inf_time with slashes", func(m map[string]any) { m["inf_time"] = "2026/11/27 10:05:00" }, "", "invalid_inf_time", "yyyy-MM-dd HH:mm:ss"},
		{"input as string", func(m map[string]any) { m["input"] = `{"selinfo":{}}` }, "", "invalid_input", "input应为JSON对象"},
		{"input as array", func(m map[string]any) { m["input"] = []any{} }, "", "invalid_input", "input应为JSON对象"},
		{"input too long", func(m map[string]any) {
			m["input"].(map[string]any)["pad"] = strings.Repeat("x", sandbox.MaxInput)
		}, "", "input_too_long", "超过最大长度[40000]"},
		{"stale msgid", func(m map[string]any) { m["msgid"] = msgidAt(-sandbox.DefaultWindow - time.Second) }, "", "stale_msgid", "超出允许范围"},
		{"future msgid", func(m map[string]any) { m["msgid"] = msgidAt(sandbox.DefaultWindow + time.Second) }, "", "stale_msgid", "超出允许范围"},
		{"msgid in UTC", func(m map[string]any) {
			m["msgid"] = sandbox.TestFixmedinsCode + clock.UTC().Format("20060102150405") + "0001"
		}, "", "stale_msgid", "超出允许范围"},
		{"stale inf_time", func(m map[string]any) {
			m["inf_time"] = clock.Add(-sandbox.DefaultWindow - time.Second).In(cst).Format(TimeLayout)
		}, "", "stale_inf_time", "交易时间"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopePlain)
			c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
			body := []byte(tc.raw)
			if tc.raw == "" {
				m := toMap(t, c.request(InfSale, sel(sale("H-1", code(1)))))
				tc.edit(m)
				body = mustJSON(t, m)
			}
			r := c.sendPlain(t, body)
			if tc.reason == "" {
				wantOK(t, r)
				return
			}
			wantRefused(t, r, tc.text)
			st := s.Stats()
			if st.Rejected[tc.reason] != 1 || len(s.Rows()) != 0 {
				t.Errorf("rejected %v, %d rows", st.Rejected, len(s.Rows()))
			}
		})
	}
}

func TestRecerSysCodeOptional(t *testing.T) {
	o := testOptions(sandbox.SchemeNone, sandbox.EnvelopePlain)
	o.RecerSysCode = ""
	s := sandbox.New(o)
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
	req := c.request(InfSale, sel(sale("RS-1", code(1))))
	req.RecerSysCode = ""
	wantOK(t, c.send(t, req))
}

// TestUnknownFieldsAccepted: provinces add fields; they are accepted,
// counted, logged and named in warn_msg.
func TestUnknownFieldsAccepted(t *testing.T) {
	var logs bytes.Buffer
	o := testOptions(sandbox.SchemeTif, sandbox.EnvelopeSM2SM4)
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s := sandbox.New(o)
	c := newClient(s, sandbox.SchemeTif, sandbox.EnvelopeSM2SM4)
	row := toMap(t, sale("UF-1", code(1)))
	row["spec"] = "0.25g*24粒"
	row["drugtracinfo"].([]any)[0].(map[string]any)["trac_lv"] = "1"
	m := toMap(t, c.request(InfSale, map[string]any{"selinfo": row, "batch": "x"}))
	m["fixmedins_soft_fcty"] = "pda-agent"
	r := c.sendPlain(t, mustJSON(t, m))
	wantOK(t, r)
	for _, f := range []string{"fixmedins_soft_fcty", "input.batch", "selinfo.spec", "drugtracinfo.trac_lv"} {
		if s.Stats().UnknownFields[f] != 1 || !strings.Contains(r.resp.WarnMsg, f) {
			t.Errorf("unknown field %s: stats %v, warn_msg %q", f, s.Stats().UnknownFields, r.resp.WarnMsg)
		}
	}
	if !strings.Contains(logs.String(), "unknown fields") {
		t.Error("unknown fields not logged")
	}
	// Nothing secret reaches the log.
	for _, secret := range []string{sandbox.TestAppSecret, sandbox.TestPaasToken, sandbox.TestAPISecretKey} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log contains %q", secret)
		}
	}
}

// TestAnswerFormat: inf_refmsgid is admdvs(6) + time(14) + serial(10),
// times are yyyyMMddHHmmssSSS, output is absent.
func TestAnswerFormat(t *testing.T) {
	now := clock.Add(123 * time.Millisecond)
	o := testOptions(sandbox.SchemeNone, sandbox.EnvelopePlain)
	o.Now = func() time.Time { return now }
	s := sandbox.New(o)
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
	r1 := c.send(t, c.request(InfSale, sel(sale("AF-1", code(1)))))
	r2 := c.send(t, c.request(InfSale, sel(sale("AF-2", code(1)))))
	wantOK(t, r1)
	wantRefused(t, r2, ErrTextSoldCode)
	ref := regexp.MustCompile(`^` + sandbox.TestAdmdvs + `20261127100500\d{10}$`)
	for _, r := range []*result{r1, r2} {
		if !ref.MatchString(r.resp.InfRefmsgid) || r.resp.RefmsgTime != "20261127100500123" ||
			r.resp.RespondTime != "20261127100500123" || r.resp.Output != nil {
			t.Errorf("answer %s", r.plain)
		}
	}
	if r1.resp.InfRefmsgid == r2.resp.InfRefmsgid {
		t.Error("inf_refmsgid repeats")
	}
	if rows := s.Rows(); len(rows) != 1 || rows[0].InfRefmsgid != r1.resp.InfRefmsgid {
		t.Errorf("ledger %+v", rows)
	}
	// err_msg stays within 200 characters however many codes are named.
	var codes []string
	for i := range 40 {
		codes = append(codes, code(100+i))
	}
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("AF-3", codes...)))))
	r := c.send(t, c.request(InfSale, sel(sale("AF-4", codes...))))
	wantRefused(t, r, ErrTextSoldCode, codes[0])
	if n := len([]rune(r.resp.ErrMsg)); n > sandbox.MaxErrMsg {
		t.Errorf("err_msg has %d characters", n)
	}
}

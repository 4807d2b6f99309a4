package nhsa

import (
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

func TestClassification(t *testing.T) {
	fail := func(msg string) reply { return reply{Resp: &fsi.Response{Infcode: -1, ErrMsg: msg}} }
	cases := []struct {
		name  string
		reply reply
		class upload.Class
		maybe bool
		ref   string
		want  string
	}{
		{"success", reply{Resp: &fsi.Response{Infcode: 0, InfRefmsgid: "R1", WarnMsg: "注意"}}, upload.Done, false, "R1", "warn_msg: 注意"},
		{"success as string", reply{Raw: `{"infcode":"0","inf_refmsgid":"R2"}`}, upload.Done, false, "R2", "accepted"},
		{"success without refmsgid", reply{Raw: `{"infcode":0}`}, upload.Done, false, "msgid", "inf_refmsgid (none)"},
		{"busy", fail(fsi.ErrTextBusy + "，请稍后再试"), upload.Retry, false, "", fsi.ErrTextBusy},
		{"timeout text", fail("调用核心服务超时"), upload.Retry, false, "", "超时"},
		{"sold code", fail("第2行" + fsi.ErrTextSoldCode + ":81234560000000000011"), upload.Permanent, false, "", fsi.ErrTextSoldCode + ":81234560000000000011"},
		{"duplicate rows", fail(fsi.ErrTextDuplicateNo), upload.Done, false, "msgid", "already on the platform"},
		{"other refusal", fail("med_list_codg不存在"), upload.Permanent, false, "", "infcode -1: med_list_codg不存在"},
		{"other infcode as string", reply{Raw: `{"infcode":"1","err_msg":"参数校验失败"}`}, upload.Permanent, false, "", "infcode 1: 参数校验失败"},
		{"msgid repeated", fail("报文ID重复"), upload.Retry, false, "", "new msgid"},
		{"msgid reused", fail("报文ID[P1]已用于其他内容的请求, 请使用新的msgid"), upload.Retry, false, "", "new msgid"},
		{"msgid stale", fail("报文ID[P1]的时间超出允许范围(±10m0s)"), upload.Retry, false, "", "device clock"},
		{"inf_time stale", fail("交易时间[2026-01-27 10:15:30]超出允许范围(±10m0s)"), upload.Retry, false, "", "new msgid"},
		{"bchno conflict", fail("批次流水号冲突: fixmedins_bchno[X01]已用于内容不同的记录"), upload.Permanent, false, "", "批次流水号冲突"},
		{"HTTP 401 clock", reply{Status: 401, Raw: `{"code":401,"message":"签名时间戳超时"}`}, upload.Retry, false, "", "device's clock is off"},
		{"HTTP 401 replay", reply{Status: 401, Raw: `{"code":401,"message":"请求重放: nonce已使用"}`}, upload.Permanent, false, "", "nonce"},
		{"timestamp refused", fail("签名时间戳超时"), upload.Retry, false, "", "clock"},
		{"HTTP 500", reply{Status: 500, Raw: "internal error"}, upload.Retry, true, "", "HTTP 500"},
		{"HTTP 502 html", reply{Status: 502, Raw: "<html>bad gateway</html>"}, upload.Retry, true, "", "HTTP 502"},
		{"HTTP 503 FSI busy", reply{Status: 503, Resp: &fsi.Response{Infcode: -1, ErrMsg: fsi.ErrTextBusy}}, upload.Retry, false, "", fsi.ErrTextBusy},
		{"non-JSON 200", reply{Raw: "<html>login</html>"}, upload.Retry, true, "", "not an FSI answer"},
		{"JSON without infcode", reply{Raw: `{"status":"ok"}`}, upload.Retry, true, "", "without infcode"},
		{"empty 200", reply{Status: 200}, upload.Retry, true, "", "empty body"},
		{"HTTP 401", reply{Status: 401, Raw: `{"msg":"unauthorized"}`}, upload.Permanent, false, "", "credentials"},
		{"HTTP 403", reply{Status: 403, Raw: "forbidden"}, upload.Permanent, false, "", "device clock"},
		{"gateway 签名不一致", reply{Raw: `{"code":"10001","msg":"签名不一致"}`}, upload.Permanent, false, "", "signature mismatch"},
		{"gateway 非法用户", reply{Status: 400, Raw: `{"code":"10002","msg":"非法用户"}`}, upload.Permanent, false, "", "does not know this caller"},
		{"gateway clock", reply{Raw: `{"code":"10003","msg":"签名时间戳超时"}`}, upload.Retry, false, "", "clock"},
		{"gateway headers", reply{Raw: `缺少服务网关的请求头`}, upload.Permanent, false, "", "gateway_auth"},
		{"HTTP 404", reply{Status: 404, Raw: "not found"}, upload.Retry, false, "", "check the profile URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGW(t, AuthNone, EnvelopePlain)
			c := mustNew(t, baseConfig(&fixture{}, g.srv.URL, testCatalogue(t)))
			g.setScript(func(int, fsi.Request) reply { return tc.reply })
			out := deliver(t, c, bill("PDA1-260127-00030", billtype.RetailSale, saleAttrs()), saleItems())
			if out.Class != tc.class || out.MaybeApplied != tc.maybe || !strings.Contains(out.Message, tc.want) {
				t.Fatalf("outcome %v maybe=%v, want %v maybe=%v with %q:\n%s", out.Class, out.MaybeApplied, tc.class, tc.maybe, tc.want, out.Message)
			}
			msgid := g.requests()[0].FSI.Msgid
			switch tc.ref {
			case "":
				if out.Ref != "" {
					t.Errorf("ref %q", out.Ref)
				}
			case "msgid":
				if out.Ref != msgid {
					t.Errorf("ref %q, want the msgid %q", out.Ref, msgid)
				}
			default:
				if out.Ref != tc.ref {
					t.Errorf("ref %q, want %q", out.Ref, tc.ref)
				}
			}
			if !strings.Contains(out.Message, "nhsa[test]") || !strings.Contains(out.Message, msgid) {
				t.Errorf("message does not name the environment and msgid: %s", out.Message)
			}
			state := `"state":"answered"`
			if tc.maybe {
				state = `"state":"sending"`
			}
			if !strings.Contains(out.Progress, state) || (tc.maybe != strings.Contains(out.Progress, `"request":`)) {
				t.Errorf("progress %s", out.Progress)
			}
		})
	}
}

func TestTransportFailures(t *testing.T) {
	t.Run("timeout after writing", func(t *testing.T) {
		g := newGW(t, AuthNone, EnvelopePlain)
		cfg := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
		cfg.Timeout = 150 * time.Millisecond
		c := mustNew(t, cfg)
		g.setScript(func(int, fsi.Request) reply { return reply{Hang: true} })
		out := deliver(t, c, bill("PDA1-260127-00031", billtype.RetailSale, saleAttrs()), saleItems())
		if out.Class != upload.Retry || !out.MaybeApplied || !strings.Contains(out.Message, "timed out after 150ms") ||
			!strings.Contains(out.Progress, `"state":"sending"`) {
			t.Fatalf("%v maybe=%v %s\n%s", out.Class, out.MaybeApplied, out.Message, out.Progress)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		g := newGW(t, AuthNone, EnvelopePlain)
		url := g.srv.URL
		g.srv.Close()
		c := mustNew(t, baseConfig(&fixture{}, url, testCatalogue(t)))
		out := deliver(t, c, bill("PDA1-260127-00032", billtype.RetailSale, saleAttrs()), saleItems())
		if out.Class != upload.Retry || out.MaybeApplied || !strings.Contains(out.Message, "not sent") ||
			!strings.Contains(out.Progress, `"state":"unsent"`) || strings.Contains(out.Progress, `"request"`) {
			t.Fatalf("%v maybe=%v %s\n%s", out.Class, out.MaybeApplied, out.Message, out.Progress)
		}
	})
}

func TestClassifyFSIUnit(t *testing.T) {
	c := mustNew(t, baseConfig(&fixture{}, "http://127.0.0.1:1/fsi", testCatalogue(t)))
	if e := c.classifyFSI("3505", &fsi.Response{Infcode: 0}); e != nil {
		t.Fatal(e)
	}
	for text, class := range map[string]upload.Class{
		"签名时间戳超时": upload.Retry, "连接超时": upload.Retry, "Read timed out": upload.Retry,
		"fixmedins_bchno重复": upload.Done, "msgid重复": upload.Retry, "未知错误": upload.Permanent,
		"fixmedins_bchno[X]已用于内容不同的记录": upload.Permanent,
		"验签失败": upload.Permanent, "非法用户": upload.Permanent,
	} {
		if e := c.classifyFSI("3505", &fsi.Response{Infcode: -1, ErrMsg: text}); e == nil || e.Class != class {
			t.Errorf("%q: %v, want %v", text, e, class)
		}
	}
}

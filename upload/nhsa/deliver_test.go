package nhsa

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// After an attempt whose answer never came, the next attempt sends the
// very same request (msgid, inf_time, rows) without drawing a new msgid,
// even if the catalogue changed meanwhile.
func TestUnknownOutcomeResendsSameRequest(t *testing.T) {
	for _, envelope := range []string{EnvelopePlain, EnvelopeSM2SM4} {
		t.Run(envelope, func(t *testing.T) {
			g := newGW(t, AuthNone, envelope)
			f := &fixture{}
			cfg := baseConfig(f, g.srv.URL, testCatalogue(t))
			cfg.Timeout = 150 * time.Millisecond
			if envelope == EnvelopeSM2SM4 {
				smSetup(g, &cfg, newSMKeys(t))
			}
			c := mustNew(t, cfg)
			b := bill("PDA1-260127-00040", billtype.RetailSale, saleAttrs())
			g.setScript(func(n int, _ fsi.Request) reply {
				if n == 1 {
					return reply{Hang: true}
				}
				return reply{Resp: &fsi.Response{Infcode: 0, InfRefmsgid: "REF-2"}}
			})
			first := c.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 1})
			if first.Class != upload.Retry || !first.MaybeApplied {
				t.Fatalf("first: %v %s", first.Class, first.Message)
			}
			var p progress
			if err := json.Unmarshal([]byte(first.Progress), &p); err != nil || p.State != stateSending || p.Sends != 1 || p.Msgid == "" || p.Rows != 3 {
				t.Fatalf("progress %s: %v", first.Progress, err)
			}
			// The catalogue loses everything: a rebuild would be held back.
			cfg.Catalogue = catalogue.Empty()
			cfg.Timeout = 2 * time.Second
			c2 := mustNew(t, cfg)
			second := c2.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 2, Unknown: true, Progress: first.Progress})
			if second.Class != upload.Done || second.Ref != "REF-2" || !strings.Contains(second.Message, "resent msgid "+p.Msgid+" unchanged") {
				t.Fatalf("second: %v %q %s", second.Class, second.Ref, second.Message)
			}
			reqs := g.requests()
			if len(reqs) != 2 || !bytes.Equal(reqs[0].Plain, reqs[1].Plain) || reqs[1].FSI.Msgid != p.Msgid {
				t.Fatalf("the resend differs:\n%s\n%s", reqs[0].Plain, reqs[1].Plain)
			}
			if f.seq.Load() != 1 {
				t.Fatalf("%d msgids drawn, want 1", f.seq.Load())
			}
		})
	}
}

// While a request may be applied, a failure to even send the resend keeps
// the request and the unknown flag.
func TestUnknownOutcomeKeptWhenResendFails(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	f := &fixture{}
	cfg := baseConfig(f, g.srv.URL, testCatalogue(t))
	cfg.Timeout = 150 * time.Millisecond
	c := mustNew(t, cfg)
	b := bill("PDA1-260127-00041", billtype.RetailSale, saleAttrs())
	g.setScript(func(int, fsi.Request) reply { return reply{Status: 502, Raw: "bad gateway"} })
	first := c.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 1})
	if first.Class != upload.Retry || !first.MaybeApplied {
		t.Fatalf("first: %v %s", first.Class, first.Message)
	}
	g.srv.Close()
	c = mustNew(t, cfg) // a fresh transport: no kept-alive connection to write into
	second := c.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 2, Unknown: true, Progress: first.Progress})
	var p1, p2 progress
	_ = json.Unmarshal([]byte(first.Progress), &p1)
	if err := json.Unmarshal([]byte(second.Progress), &p2); err != nil {
		t.Fatal(err)
	}
	if second.Class != upload.Retry || !second.MaybeApplied || p2.State != stateSending || p2.Msgid != p1.Msgid ||
		!bytes.Equal(p2.Request, p1.Request) || p2.Sends != 1 {
		t.Fatalf("second: %v maybe=%v %s\n%s", second.Class, second.MaybeApplied, second.Message, second.Progress)
	}
}

// An unknown outcome without a recorded request (the agent died
// mid-attempt) rebuilds the bill under a new msgid; the duplicate-row
// answer then means delivered. An answered failure starts afresh too.
func TestUnknownWithoutRecordAndAnsweredFailure(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	f := &fixture{}
	c := mustNew(t, baseConfig(f, g.srv.URL, testCatalogue(t)))
	b := bill("PDA1-260127-00042", billtype.RetailSale, saleAttrs())
	g.setScript(func(n int, _ fsi.Request) reply {
		if n == 1 {
			return reply{Resp: &fsi.Response{Infcode: -1, ErrMsg: fsi.ErrTextBusy}}
		}
		return reply{Resp: &fsi.Response{Infcode: -1, ErrMsg: "第1行" + fsi.ErrTextDuplicateNo}}
	})
	first := c.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 1})
	if first.Class != upload.Retry || first.MaybeApplied || !strings.Contains(first.Progress, `"state":"answered"`) {
		t.Fatalf("first: %v %s %s", first.Class, first.Message, first.Progress)
	}
	second := c.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 2, Unknown: true, Progress: first.Progress})
	if second.Class != upload.Done || !strings.Contains(second.Message, "already on the platform") || !strings.Contains(second.Message, "msgid unrecorded") {
		t.Fatalf("second: %v %s", second.Class, second.Message)
	}
	reqs := g.requests()
	if len(reqs) != 2 || reqs[0].FSI.Msgid == reqs[1].FSI.Msgid || !bytes.Equal(reqs[0].FSI.Input, reqs[1].FSI.Input) {
		t.Fatalf("want a new msgid with the same rows: %s / %s", reqs[0].FSI.Msgid, reqs[1].FSI.Msgid)
	}
	// An unreadable progress is handled like an unknown outcome.
	third := c.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 3, Progress: "{garbage"})
	if third.Class != upload.Done || !strings.Contains(third.Message, "msgid unrecorded") {
		t.Fatalf("third: %v %s", third.Class, third.Message)
	}
}

// No secret ever appears in an outcome's message, whatever the gateway
// echoes and whatever fails.
func TestSecretsNeverInMessages(t *testing.T) {
	k := newSMKeys(t)
	dHex := hex.EncodeToString(k.channel.D.Bytes())
	dataKey := string(mustKey(t))
	echo := "echo " + tPaasToken + " " + tAPISK + " " + tAppSecret + " " + dataKey
	replies := []reply{
		{Resp: &fsi.Response{Infcode: -1, ErrMsg: echo}},
		{Resp: &fsi.Response{Infcode: 0, WarnMsg: echo}},
		{Status: 500, Raw: echo},
		{Status: 401, Raw: echo},
		{Status: 404, Raw: echo},
		{Raw: echo + " 签名不一致"},
		{Raw: `{"code":-1,"message":"` + echo + `"}`},
	}
	for _, scheme := range []string{AuthXTif, AuthAPI} {
		for _, envelope := range []string{EnvelopePlain, EnvelopeSM2SM4} {
			for i, rp := range replies {
				g := newGW(t, scheme, envelope)
				cfg := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
				cfg.GatewayAuth = scheme
				// Every credential is configured, whichever scheme is used.
				cfg.Profile.PaasID, cfg.Profile.PaasToken = tPaasID, tPaasToken
				cfg.Profile.APIName, cfg.Profile.APIVersion, cfg.Profile.APIAccessKey, cfg.Profile.APISecretKey = tAPIName, tAPIVer, tAPIAK, tAPISK
				cfg.Profile.AppSecret = tAppSecret
				extra := []string{dHex}
				if envelope == EnvelopeSM2SM4 {
					smSetup(g, &cfg, k)
					extra = append(extra, dataKey)
				}
				c := mustNew(t, cfg)
				g.setScript(func(int, fsi.Request) reply { return rp })
				out := deliver(t, c, bill("PDA1-260127-00050", billtype.RetailSale, saleAttrs()), saleItems())
				if s := secretsIn(out.Message, extra...); s != nil {
					t.Errorf("%s/%s reply %d: secrets %v in %q", scheme, envelope, i, s, out.Message)
				}
				if envelope == EnvelopePlain && !strings.Contains(out.Message, "[redacted]") {
					t.Errorf("%s/%s reply %d: echo not redacted: %s", scheme, envelope, i, out.Message)
				}
			}
		}
	}
	// Nor in New's errors.
	cfg := baseConfig(&fixture{}, "http://127.0.0.1:1/x", testCatalogue(t))
	cfg.GatewayAuth, cfg.Profile.PaasID, cfg.Profile.PaasToken = AuthXTif, tPaasID, tPaasToken+" "
	if _, err := New(cfg); err == nil || strings.Contains(err.Error(), tPaasToken) {
		t.Fatalf("New: %v", err)
	}
}

func TestDelete(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	c := mustNew(t, baseConfig(&fixture{}, g.srv.URL, testCatalogue(t)))
	if err := c.Delete(context.Background(), "PDA12601270000201", fsi.DeleteSale); err != nil {
		t.Fatal(err)
	}
	r := g.requests()[0]
	var in struct {
		Data fsi.Delete `json:"data"`
	}
	strictDecode(t, r.FSI.Input, &in)
	if r.FSI.Infno != fsi.InfDelete || in.Data.FixmedinsBchno != "PDA12601270000201" || in.Data.InvDataType != "4" {
		t.Fatalf("3507 request %s", r.Plain)
	}
	for _, bad := range [][2]string{{"", "4"}, {strings.Repeat("1", 31), "4"}, {"X01", "5"}, {"X 01", "3"}} {
		if err := c.Delete(context.Background(), bad[0], bad[1]); err == nil {
			t.Errorf("Delete(%q, %q) accepted", bad[0], bad[1])
		}
	}
	g.setScript(func(int, fsi.Request) reply {
		return reply{Resp: &fsi.Response{Infcode: -1, ErrMsg: "记录不存在"}}
	})
	err := c.Delete(context.Background(), "PDA12601270000299", fsi.DeleteSale)
	var e *Error
	if !errors.As(err, &e) || e.Class != upload.Permanent || !e.HasInfcode || !strings.Contains(err.Error(), "记录不存在") {
		t.Fatalf("err %v", err)
	}
	if n := len(g.requests()); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

func TestCall(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	c := mustNew(t, baseConfig(&fixture{}, g.srv.URL, testCatalogue(t)))
	g.setScript(func(int, fsi.Request) reply {
		return reply{Raw: `{"infcode":0,"inf_refmsgid":"R","output":{"a":"<b>"}}`}
	})
	resp, err := c.Call(context.Background(), "1101", map[string]any{"data": map[string]string{"name": "a<b>&c"}})
	if err != nil || resp.InfRefmsgid != "R" || string(resp.Output) != `{"a":"<b>"}` {
		t.Fatalf("%+v %v", resp, err)
	}
	if r := g.requests()[0]; !strings.Contains(string(r.Plain), `"name":"a<b>&c"`) {
		t.Fatalf("HTML-escaped request: %s", r.Plain)
	}
	for _, in := range []any{[]int{1}, "x", nil} {
		if _, err := c.Call(context.Background(), "1101", in); err == nil {
			t.Errorf("input %v accepted", in)
		}
	}
	if _, err := c.Call(context.Background(), "", map[string]any{}); err == nil {
		t.Error("empty infno accepted")
	}
	g.setScript(func(int, fsi.Request) reply { return reply{Resp: &fsi.Response{Infcode: -1, ErrMsg: fsi.ErrTextBusy}} })
	resp, err = c.Call(context.Background(), "1101", map[string]any{})
	var e *Error
	if !errors.As(err, &e) || e.Class != upload.Retry || resp == nil || resp.ErrMsg != fsi.ErrTextBusy || e.Msgid == "" {
		t.Fatalf("%+v %v", resp, err)
	}
}

func TestNewValidation(t *testing.T) {
	k := newSMKeys(t)
	good := func() Config {
		c := baseConfig(&fixture{}, "https://gw.example.cn/fsi/api/rsfComIfsService/callService", testCatalogue(t))
		c.GatewayAuth, c.Profile.PaasID, c.Profile.PaasToken = AuthXTif, tPaasID, tPaasToken
		c.Envelope, c.Profile.AppID, c.Profile.AppSecret = EnvelopeSM2SM4, tAppID, tAppSecret
		c.Profile.ChannelKey, c.Profile.PlatformKey = k.channel, &k.platform.PublicKey
		return c
	}
	c, err := New(good())
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != DefaultName || c.cfg.OpterType != fsi.OpterMobile || c.cfg.Infver != fsi.DefaultInfVer || string(c.uid) != "1234567812345678" {
		t.Fatalf("defaults: %+v", c.cfg)
	}
	cases := []struct {
		edit func(c *Config)
		want string
	}{
		{func(c *Config) { c.Env = "production" }, "env"},
		{func(c *Config) { c.Profile.URL = "ftp://x/y" }, "scheme"},
		{func(c *Config) { c.Profile.URL = "https://user:pw@x/y" }, "user info"},
		{func(c *Config) { c.Profile.RecerSysCode = "" }, "recer_sys_code"},
		{func(c *Config) { c.GatewayAuth = "basic" }, "gateway_auth"},
		{func(c *Config) { c.Profile.PaasToken = "" }, "paas_token is empty"},
		{func(c *Config) { c.Profile.PaasToken = "short" }, "paas_token is shorter"},
		{func(c *Config) { c.GatewayAuth, c.Profile.APISecretKey = AuthAPI, tAPISK }, "api_name is empty"},
		{func(c *Config) { c.Envelope = "sm4" }, "envelope"},
		{func(c *Config) { c.Profile.AppID = "short" }, "app_id"},
		{func(c *Config) { c.Profile.AppSecret = "" }, "app_secret is empty"},
		{func(c *Config) { c.Profile.ChannelKey = nil }, "channel private key"},
		{func(c *Config) { c.Profile.PlatformKey = nil }, "platform public key"},
		{func(c *Config) { c.Profile.PlatformKey = &k.channel.PublicKey }, "own public half"},
		{func(c *Config) { c.FixmedinsCode = "P3702" }, "fixmedins_code"},
		{func(c *Config) { c.FixmedinsName = "" }, "fixmedins_name"},
		{func(c *Config) { c.MdtrtareaAdmvs = "37020" }, "mdtrtarea_admvs"},
		{func(c *Config) { c.InsuplcAdmdvs = "abc" }, "insuplc_admdvs"},
		{func(c *Config) { c.Opter = "" }, "opter is empty"},
		{func(c *Config) { c.OpterName = "" }, "opter_name"},
		{func(c *Config) { c.OpterType = "9" }, "opter_type"},
		{func(c *Config) { c.MsgIDSlot = 10 }, "msgid_slot"},
		{func(c *Config) { c.Sequence = nil }, "Sequence"},
		{func(c *Config) { c.Catalogue = nil }, "catalogue"},
		{func(c *Config) { c.Items = nil }, "Items"},
		{func(c *Config) { c.PharName = strings.Repeat("药", 51) }, "phar_name"},
		{func(c *Config) { c.HoldRetry = time.Millisecond }, "hold_retry"},
		{func(c *Config) { c.Timeout = -time.Second }, "timeout"},
	}
	for _, tc := range cases {
		cfg := good()
		tc.edit(&cfg)
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error about %q, got %v", tc.want, err)
			continue
		}
		if s := secretsIn(err.Error()); s != nil {
			t.Errorf("secret in %v", err)
		}
	}
}

// TestFreshBillWaitsForEarlierBill: 医保 refuses a code sold while a sale
// of it is in force (sold_code), so a re-sale waits, unsent, for the
// return that freed its pack; a resend after an unknown outcome is the
// same request and is not held.
func TestFreshBillWaitsForEarlierBill(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	f := &fixture{}
	cfg := baseConfig(f, g.srv.URL, testCatalogue(t))
	cfg.Timeout = 150 * time.Millisecond
	waitFor := "PDA1-260127-00041"
	cfg.Earlier = func(context.Context, queue.Bill, []queue.Item) (upload.Blocker, error) {
		return upload.Blocker{Code: waitFor}, nil
	}
	c := mustNew(t, cfg)
	b := bill("PDA1-260127-00042", billtype.RetailSale, saleAttrs())
	out := c.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 1})
	if out.Class != upload.Wait || !out.Local || !strings.Contains(out.Message, "waiting for the earlier bill "+waitFor) || len(g.requests()) != 0 {
		t.Fatalf("fresh bill: %v %s; %d requests", out.Class, out.Message, len(g.requests()))
	}
	// Sent once, unanswered: the resend goes even while an earlier bill
	// would hold a fresh one (the first request may be applied already).
	waitFor = ""
	g.setScript(func(n int, _ fsi.Request) reply {
		if n == 1 {
			return reply{Hang: true}
		}
		return reply{Resp: &fsi.Response{Infcode: 0, InfRefmsgid: "REF-9"}}
	})
	first := c.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 2})
	if first.Class != upload.Retry || !first.MaybeApplied {
		t.Fatalf("first send: %v %s", first.Class, first.Message)
	}
	waitFor = "PDA1-260127-00041"
	second := c.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 3, Unknown: true, Progress: first.Progress})
	if second.Class != upload.Done || second.Ref != "REF-9" {
		t.Fatalf("resend: %v %s", second.Class, second.Message)
	}
}

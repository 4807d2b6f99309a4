package nhsa

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/gm"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

func smClient(t *testing.T, g *fakeGW, k smKeys) *Client {
	t.Helper()
	cfg := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
	smSetup(g, &cfg, k)
	return mustNew(t, cfg)
}

// The request decrypts with the derived key and verifies with the channel
// public key at the gateway (checked there with package gm on its own);
// the signed answer verifies with the platform key.
func TestSMEnvelopeBothWays(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopeSM2SM4)
	k := newSMKeys(t)
	c := smClient(t, g, k)
	out := deliver(t, c, bill("PDA1-260127-00020", billtype.RetailSale, saleAttrs()), saleItems())
	if out.Class != upload.Done || out.Ref != "370200202601271015301234567890" {
		t.Fatalf("outcome %v %q: %s", out.Class, out.Ref, out.Message)
	}
	r := g.requests()[0]
	if !r.EnvOK || r.FSI.Infno != fsi.InfSale || len(sentSales(t, r)) != 3 {
		t.Fatalf("gateway saw %+v", r.FSI)
	}
	var env fsi.Envelope
	if err := json.Unmarshal(r.Body, &env); err != nil {
		t.Fatal(err)
	}
	if env.AppID != tAppID || env.EncType != "SM4" || env.SignType != "SM2" || env.Version != "2.0.1" || env.Timestamp != "1769480130123" || env.Code != nil {
		t.Fatalf("envelope %+v", env)
	}
	// The body carries no plain FSI data and no secret.
	if strings.Contains(string(r.Body), "selinfo") || strings.Contains(string(r.Body), tAppSecret) {
		t.Fatal("plain data or the app secret in the envelope")
	}
	if _, err := hex.DecodeString(env.EncData); err != nil || strings.ToUpper(env.EncData) != env.EncData {
		t.Fatalf("encData is not uppercase hex: %v", err)
	}
}

// A custom uid is used on both sides.
func TestSMEnvelopeUID(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopeSM2SM4)
	g.configure(func(c *gwConfig) { c.uid = "ALICE123@YAHOO.COM" })
	k := newSMKeys(t)
	cfg := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
	smSetup(g, &cfg, k)
	cfg.Profile.UID = "ALICE123@YAHOO.COM"
	c := mustNew(t, cfg)
	if _, err := c.Call(context.Background(), "9999", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	// And with the default uid the gateway refuses our signature.
	cfg.Profile.UID = ""
	c = mustNew(t, cfg)
	_, err := c.Call(context.Background(), "9999", map[string]any{})
	if e, ok := err.(*Error); !ok || e.Class != upload.Permanent || !strings.Contains(e.Msg, "验签失败") {
		t.Fatalf("err %v", err)
	}
}

// Answers that do not verify are never trusted: a man in the middle
// turning a refusal into a success, a wrong platform key, a changed field,
// a missing signature, an unsigned plain answer.
func TestSMEnvelopeTamperedAnswers(t *testing.T) {
	k := newSMKeys(t)
	other, err := gm.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := gm.EncData(mustKey(t), []byte(`{"infcode":0,"inf_refmsgid":"FORGED"}`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		setup  func(g *fakeGW)
		answer reply
		want   string
	}{
		{"re-encrypted success", func(g *fakeGW) {
			g.configure(func(c *gwConfig) { c.tamper = func(env map[string]any) { env["encData"] = forged } })
		}, reply{Resp: &fsi.Response{Infcode: -1, ErrMsg: fsi.ErrTextSoldCode}}, "signature does not verify"},
		{"wrong platform key", func(g *fakeGW) {
			g.configure(func(c *gwConfig) { c.platformKey = other })
		}, reply{Resp: &fsi.Response{Infcode: 0}}, "signature does not verify"},
		{"changed message", func(g *fakeGW) {
			g.configure(func(c *gwConfig) { c.tamper = func(env map[string]any) { env["message"] = "成功!" } })
		}, reply{Resp: &fsi.Response{Infcode: 0}}, "signature does not verify"},
		{"no signature", func(g *fakeGW) {
			g.configure(func(c *gwConfig) { c.tamper = func(env map[string]any) { delete(env, "signData") } })
		}, reply{Resp: &fsi.Response{Infcode: 0}}, "not signed"},
		{"garbled encData", func(g *fakeGW) {
			g.configure(func(c *gwConfig) {
				c.tamper = func(env map[string]any) { env["encData"] = "00112233445566778899AABBCCDDEEFF" }
			})
		}, reply{Resp: &fsi.Response{Infcode: 0}}, "cannot decrypt"},
		{"foreign appId", func(g *fakeGW) {
			g.configure(func(c *gwConfig) {
				c.tamper = func(env map[string]any) { env["appId"] = "FFFF047BBA47FC8A1AE8EFB2A1B2C3D4" }
			})
		}, reply{Resp: &fsi.Response{Infcode: 0}}, "not this channel's"},
		{"plain unsigned answer", nil, reply{Raw: `{"infcode":0,"inf_refmsgid":"X"}`}, "plain, unsigned FSI answer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGW(t, AuthNone, EnvelopeSM2SM4)
			c := smClient(t, g, k)
			if tc.setup != nil {
				tc.setup(g)
			}
			g.setScript(func(int, fsi.Request) reply { return tc.answer })
			out := deliver(t, c, bill("PDA1-260127-00021", billtype.RetailSale, saleAttrs()), saleItems())
			if out.Class != upload.Retry || !out.MaybeApplied || !strings.Contains(out.Message, "UNVERIFIED ANSWER IGNORED") ||
				!strings.Contains(out.Message, tc.want) || !strings.Contains(out.Message, "man in the middle") ||
				!strings.Contains(out.Message, gm.Fingerprint(&k.platform.PublicKey)) {
				t.Fatalf("outcome %v maybe=%v: %s", out.Class, out.MaybeApplied, out.Message)
			}
			if !strings.Contains(out.Progress, `"state":"sending"`) || strings.Contains(out.Message, "FORGED") {
				t.Fatalf("progress %s", out.Progress)
			}
			if s := secretsIn(out.Message); s != nil {
				t.Fatalf("secrets %v in %s", s, out.Message)
			}
		})
	}
}

// A channel-level refusal (code ≠ 0) is classified by its words.
func TestSMEnvelopeRefusals(t *testing.T) {
	k := newSMKeys(t)
	cases := []struct {
		raw    string
		status int
		class  upload.Class
		maybe  bool
		want   string
	}{
		{`{"code":"-1","message":"验签失败"}`, 200, upload.Permanent, false, "signature mismatch"},
		// The channel's own internal error may come after the platform
		// applied the request: unknown, the same msgid next time.
		{`{"code":500,"message":"系统繁忙"}`, 200, upload.Retry, true, "系统繁忙"},
		{`{"code":500,"message":"Internal Server Error"}`, 500, upload.Retry, true, "may have been applied"},
		{`{"code":"E1","message":"渠道未开通"}`, 503, upload.Retry, true, "may have been applied"},
		{`{"code":"E1","message":"渠道未开通"}`, 200, upload.Retry, false, "channel refused the envelope"},
		{`{"code":1002,"message":"appId不存在: X"}`, 200, upload.Permanent, false, "check app_id"},
		{`{"code":1007,"message":"encData解密失败"}`, 200, upload.Permanent, false, "check app_secret"},
		{`{"code":1009,"message":"timestamp超时"}`, 200, upload.Retry, false, "clock"},
	}
	for _, tc := range cases {
		g := newGW(t, AuthNone, EnvelopeSM2SM4)
		c := smClient(t, g, k)
		g.setScript(func(int, fsi.Request) reply { return reply{Status: tc.status, Raw: tc.raw} })
		out := deliver(t, c, bill("PDA1-260127-00022", billtype.RetailSale, saleAttrs()), saleItems())
		if tc.maybe && !strings.Contains(out.Progress, `"state":"sending"`) {
			t.Errorf("%s: an unknown outcome must keep the request: %s", tc.raw, out.Progress)
		}
		if out.Class != tc.class || out.MaybeApplied != tc.maybe || !strings.Contains(out.Message, tc.want) {
			t.Errorf("%s: %v maybe=%v %s", tc.raw, out.Class, out.MaybeApplied, out.Message)
		}
	}
}

func mustKey(t *testing.T) []byte {
	t.Helper()
	key, err := gm.DeriveDataKey(tAppID, tAppSecret)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

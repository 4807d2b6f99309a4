package sandbox_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/gm"
	"github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

func TestEnvelope(t *testing.T) {
	otherKey, err := gm.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	// encOf encrypts other content with the right key: it decrypts, but
	// the signature was made over the original.
	encOf := func(plain string) string {
		key, _ := gm.DeriveDataKey(sandbox.TestAppID, sandbox.TestAppSecret)
		e, _ := gm.EncData(key, []byte(plain))
		return e
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return string(b)
	}
	for _, tc := range []struct {
		name   string
		edit   func(c *tclient)
		reason string
		code   int
		text   string
	}{
		{"valid", func(c *tclient) {}, "", 0, ""},
		{"lowercase encData", func(c *tclient) {
			c.editEnvelope = func(m map[string]any) { m["encData"] = strings.ToLower(m["encData"].(string)) }
		}, "", 0, ""},
		{"extra is not signed", func(c *tclient) { c.editEnvelope = func(m map[string]any) { m["extra"] = "anything" } }, "", 0, ""},
		{"empty envelope", func(c *tclient) {
			c.editEnvelope = func(m map[string]any) { clear(m) }
		}, "envelope_invalid", sandbox.CodeEnvInvalid, "缺少字段appId"},
		{"timestamp as number", func(c *tclient) {
			c.editEnvelope = func(m map[string]any) { m["timestamp"] = clock.UnixMilli() }
		}, "envelope_invalid", sandbox.CodeEnvInvalid, "timestamp应为字符串"},
		{"no signData", func(c *tclient) { c.editEnvelope = func(m map[string]any) { delete(m, "signData") } }, "envelope_invalid", sandbox.CodeEnvInvalid, "signData"},
		{"plaintext data sent", func(c *tclient) {
			c.editEnvelope = func(m map[string]any) { m["data"] = map[string]any{"infno": "3505"} }
		}, "envelope_invalid", sandbox.CodeEnvInvalid, "明文data"},
		{"unknown app", func(c *tclient) { c.appID = "UNKNOWNAPPID00000000000000000001" }, "envelope_unknown_app", sandbox.CodeEnvApp, "appId不存在"},
		{"lowercase encType", func(c *tclient) { c.editEnvelope = func(m map[string]any) { m["encType"] = "sm4" } }, "envelope_enc_type", sandbox.CodeEnvEncType, "encType"},
		{"signType SM3", func(c *tclient) { c.editEnvelope = func(m map[string]any) { m["signType"] = "SM3" } }, "envelope_sign_type", sandbox.CodeEnvSignType, "signType"},
		{"version", func(c *tclient) { c.envVersion = "1.0.0" }, "envelope_version", sandbox.CodeEnvVersion, "version"},
		{"timestamp as date", func(c *tclient) {
			c.editEnvelope = func(m map[string]any) { m["timestamp"] = "20261127100500" }
		}, "envelope_timestamp", sandbox.CodeEnvTimestamp, "13位"},
		{"encData odd hex", func(c *tclient) {
			c.editEnvelope = func(m map[string]any) { m["encData"] = m["encData"].(string)[1:] }
		}, "envelope_decrypt", sandbox.CodeEnvDecrypt, "解密失败"},
		{"encData one block short", func(c *tclient) {
			c.editEnvelope = func(m map[string]any) { m["encData"] = m["encData"].(string)[32:] }
		}, "envelope_invalid", sandbox.CodeEnvInvalid, "不是JSON对象"},
		{"encData last block tampered", func(c *tclient) {
			c.editEnvelope = func(m map[string]any) { e := m["encData"].(string); m["encData"] = flip(e, len(e)-1) }
		}, "envelope_decrypt", sandbox.CodeEnvDecrypt, "解密失败"},
		{"encData of other content", func(c *tclient) {
			c.editEnvelope = func(m map[string]any) { m["encData"] = encOf(`{"infno":"3505"}`) }
		}, "envelope_signature", sandbox.CodeEnvSignature, "验签失败"},
		{"encData of a non-object", func(c *tclient) {
			c.editEnvelope = func(m map[string]any) { m["encData"] = encOf(`[1]`) }
		}, "envelope_invalid", sandbox.CodeEnvInvalid, "不是JSON对象"},
		{"wrong app secret", func(c *tclient) { c.appSecret = "WRONGSECRET000000000000000000001" }, "envelope_decrypt", sandbox.CodeEnvDecrypt, "解密失败"},
		{"wrong channel key", func(c *tclient) { c.chanKey = otherKey }, "envelope_signature", sandbox.CodeEnvSignature, "验签失败"},
		{"platform key as channel key", func(c *tclient) { p, _ := sandbox.TestKeys(); c.chanKey = p }, "envelope_signature", sandbox.CodeEnvSignature, "验签失败"},
		{"appSecret uid", func(c *tclient) { c.uid = sandbox.TestAppSecret }, "envelope_signature", sandbox.CodeEnvSignature, "验签失败"},
		{"signature not Base64", func(c *tclient) { c.editEnvelope = func(m map[string]any) { m["signData"] = "!!" } }, "envelope_signature", sandbox.CodeEnvSignature, "验签失败"},
		{"signed timestamp changed", func(c *tclient) {
			c.editEnvelope = func(m map[string]any) { m["timestamp"] = strconv.FormatInt(clock.UnixMilli()+1, 10) }
		}, "envelope_signature", sandbox.CodeEnvSignature, "验签失败"},
		{"unsigned field added", func(c *tclient) { c.editEnvelope = func(m map[string]any) { m["transType"] = "x" } }, "envelope_signature", sandbox.CodeEnvSignature, "验签失败"},
		{"stale", func(c *tclient) {
			c.now = func() time.Time { return clock.Add(-sandbox.DefaultWindow - time.Millisecond) }
		}, "envelope_stale", sandbox.CodeEnvStale, "超时"},
		{"future", func(c *tclient) {
			c.now = func() time.Time { return clock.Add(sandbox.DefaultWindow + time.Millisecond) }
		}, "envelope_stale", sandbox.CodeEnvStale, "超时"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopeSM2SM4)
			c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopeSM2SM4)
			tc.edit(c)
			req := c.request(InfSale, sel(sale("E-1", code(1))))
			req.InfTime = clock.In(cst).Format(TimeLayout)
			req.Msgid = c.code + clock.In(cst).Format("20060102150405") + "0001"
			r := c.send(t, req)
			st := s.Stats()
			if tc.reason == "" {
				wantOK(t, r)
				if len(s.Rows()) != 1 {
					t.Fatal("row not applied")
				}
				return
			}
			wantProto(t, r, 200, tc.code, tc.text)
			if st.Rejected[tc.reason] != 1 || len(s.Rows()) != 0 {
				t.Errorf("stats %+v", st)
			}
			if (st.SignatureFailures == 1) != (tc.reason == "envelope_signature") {
				t.Errorf("signature failures %d", st.SignatureFailures)
			}
			// Refusals are plain {code, message}: nothing encrypted or signed.
			var top map[string]any
			_ = json.Unmarshal(r.body, &top)
			if len(top) != 2 {
				t.Errorf("refusal has more than code and message: %s", r.body)
			}
		})
	}
}

// TestEnvelopeAnswer: every answer, refusals of the FSI layer included,
// is encrypted and signed by the platform key; the test client verifies
// with the public half over its own sign text, and a wrong platform key
// or a changed answer fails.
func TestEnvelopeAnswer(t *testing.T) {
	s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopeSM2SM4)
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopeSM2SM4)
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("EA-1", code(1))))))
	r := c.send(t, c.request(InfSale, sel(sale("EA-2", code(1)))))
	wantRefused(t, r, ErrTextSoldCode)

	var env Envelope
	if err := json.Unmarshal(r.body, &env); err != nil || env.Code == nil || *env.Code != 0 || env.Message == "" ||
		env.AppID != sandbox.TestAppID || env.EncType != "SM4" || env.SignType != "SM2" ||
		env.Version != EnvelopeVersion || len(env.Timestamp) != 13 || env.SignData == "" {
		t.Fatalf("answer envelope %s", r.body)
	}
	if strings.Contains(string(r.body), "infcode") {
		t.Fatal("answer leaks the plaintext")
	}
	other, _ := gm.GenerateKey(nil)
	c2 := newClient(s, sandbox.SchemeNone, sandbox.EnvelopeSM2SM4)
	c2.platPub = &other.PublicKey
	if _, err := c2.unseal(r.body); err == nil {
		t.Error("answer verified with another key")
	}
	var m map[string]any
	_ = json.Unmarshal(r.body, &m)
	m["message"] = "ok"
	changed, _ := json.Marshal(m)
	if _, err := c.unseal(changed); err == nil {
		t.Error("a changed answer verified")
	}
}

// TestEnvelopeChannelUID: a channel configured with its own uid verifies
// and signs with it.
func TestEnvelopeChannelUID(t *testing.T) {
	o := testOptions(sandbox.SchemeNone, sandbox.EnvelopeSM2SM4)
	o.Channels[0].UID = "PDA-AGENT-UID-01"
	s := sandbox.New(o)
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopeSM2SM4)
	c.uid = "PDA-AGENT-UID-01"
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("U-1", code(1))))))
	c.uid = ""
	wantProto(t, c.send(t, c.request(InfSale, sel(sale("U-2", code(2))))), 200, sandbox.CodeEnvSignature, "验签失败")
}

// TestEnvelopeSignsNumbersAsWritten: numbers are signed with the text
// that was encrypted (12.50 stays "12.50").
func TestEnvelopeSignsNumbersAsWritten(t *testing.T) {
	s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopeSM2SM4)
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopeSM2SM4)
	req := c.request(InfSale, nil)
	row, _ := json.Marshal(sale("NUM-1", code(1)))
	row = []byte(strings.Replace(string(row), `"sel_retn_cnt":1`, `"sel_retn_cnt":1.0,"finl_trns_pric":12.50`, 1))
	req.Input = json.RawMessage(`{"selinfo":` + string(row) + `}`)
	wantOK(t, c.send(t, req))
}

// TestPlainModeRefusesEnvelopes: a plain gateway reads an envelope as a
// malformed FSI request.
func TestPlainModeRefusesEnvelopes(t *testing.T) {
	s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopePlain)
	sealer := newClient(nil, sandbox.SchemeNone, sandbox.EnvelopeSM2SM4)
	req := sealer.request(InfSale, sel(sale("P-1", code(1))))
	plain, _ := json.Marshal(req)
	body, err := sealer.seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
	wantRefused(t, c.sendPlain(t, body), "必填字段缺失: infno")
}

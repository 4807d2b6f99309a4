package nhsa

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/upload"
)

func TestMsgIDFormat(t *testing.T) {
	f := &fixture{}
	f.seq.Store(1040) // next draw is 1041 → "041"
	c := mustNew(t, baseConfig(f, "http://127.0.0.1:1/x", testCatalogue(t)))
	id, err := c.newMsgID(context.Background(), tNow)
	if err != nil {
		t.Fatal(err)
	}
	// tNow is 21:15:30 EST on the 26th = 10:15:30 on the 27th in UTC+8.
	const want = tFixmedins + "20260127101530" + "7" + "041"
	if id != want || len(id) != 30 {
		t.Fatalf("msgid %q (%d chars), want %q", id, len(id), want)
	}
	// The same instant in UTC and in UTC+8 gives the same msgid.
	for _, zone := range []*time.Location{time.UTC, time.FixedZone("CST", 8*3600), time.FixedZone("X", 13*3600)} {
		f.seq.Store(1040)
		got, err := c.newMsgID(context.Background(), tNow.In(zone))
		if err != nil || got != want {
			t.Errorf("in zone %v: msgid %q, %v; want %q", zone, got, err, want)
		}
	}
}

func TestMsgIDUniqueAndSlots(t *testing.T) {
	f := &fixture{}
	cfg := baseConfig(f, "http://127.0.0.1:1/x", testCatalogue(t))
	c7 := mustNew(t, cfg)
	cfg.MsgIDSlot = 3
	c3 := mustNew(t, cfg)
	seen := map[string]bool{}
	// 1000 calls within one second on one device, then 1000 on another
	// device sharing the counter values: no msgid repeats.
	for _, c := range []*Client{c7, c3} {
		f.seq.Store(0)
		for i := 0; i < 1000; i++ {
			id, err := c.newMsgID(context.Background(), tNow)
			if err != nil {
				t.Fatal(err)
			}
			if len(id) != 30 || seen[id] {
				t.Fatalf("msgid %q repeated or malformed after %d", id, i)
			}
			seen[id] = true
			if slot := id[26]; slot != byte('0'+c.cfg.MsgIDSlot) {
				t.Fatalf("msgid %q: slot digit %c, want %d", id, slot, c.cfg.MsgIDSlot)
			}
		}
	}
	f.seqErr = errors.New("store closed")
	if _, err := c7.newMsgID(context.Background(), tNow); err == nil || !strings.Contains(err.Error(), "store closed") {
		t.Fatalf("sequence error not reported: %v", err)
	}
}

func TestMsgIDInRequest(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	f := &fixture{}
	f.seq.Store(2999)
	c := mustNew(t, baseConfig(f, g.srv.URL, testCatalogue(t)))
	if _, err := c.Call(context.Background(), "9999", map[string]any{"data": map[string]string{"x": "y"}}); err != nil {
		t.Fatal(err)
	}
	r := g.requests()[0].FSI
	if r.Msgid != tFixmedins+"20260127101530"+"7"+"000" || r.InfTime != "2026-01-27 10:15:30" {
		t.Fatalf("msgid %q, inf_time %q", r.Msgid, r.InfTime)
	}
	if r.Infno != "9999" || r.FixmedinsCode != tFixmedins || r.MdtrtareaAdmvs != "370203" || r.InsuplcAdmdvs != "370203" ||
		r.RecerSysCode != "YBXT" || r.Infver != "V1.0" || r.OpterType != "3" || r.Opter != "PDA-07" || r.OpterName != "收银终端7" {
		t.Fatalf("envelope fields: %+v", r)
	}
}

// Known-answer tests: the expected signatures were computed outside Go
// (Python hashlib/hmac and `openssl dgst`) from the formulas of nhsa.md
// §2.4, and are recomputed here by hand as well.
func TestXTifHeadersKnownAnswer(t *testing.T) {
	g := newGW(t, AuthXTif, EnvelopePlain)
	cfg := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
	cfg.GatewayAuth = AuthXTif
	cfg.Profile.PaasID, cfg.Profile.PaasToken = tPaasID, tPaasToken
	c := mustNew(t, cfg)
	c.rand = bytes.NewReader(bytes.Repeat([]byte{0xab}, 64))
	if _, err := c.Call(context.Background(), "9999", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	r := g.requests()[0]
	h := r.Header
	const (
		wantTS    = "1769480130"
		wantNonce = "19bfd3c0e4b-abababababababababababab"
		wantSig   = "3ee988369eb3d5bbe15d80caad007add62aa1c3f8b6a5f3ebd9a6c717c419549"
	)
	if h.Get("x-tif-paasid") != tPaasID || h.Get("x-tif-timestamp") != wantTS || h.Get("x-tif-nonce") != wantNonce {
		t.Fatalf("x-tif headers: %v", h)
	}
	if got := h.Get("x-tif-signature"); got != wantSig || tifSignature(wantTS, tPaasToken, wantNonce) != wantSig {
		t.Fatalf("x-tif-signature %q, want %q", got, wantSig)
	}
	if !r.AuthOK {
		t.Fatal("the gateway did not accept the signature")
	}
	if strings.Contains(string(r.Body), tPaasToken) || strings.Contains(h.Get("x-tif-signature"), tPaasToken) {
		t.Fatal("paas token sent")
	}
}

func TestAPIHeadersKnownAnswer(t *testing.T) {
	g := newGW(t, AuthAPI, EnvelopePlain)
	cfg := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
	cfg.GatewayAuth = AuthAPI
	cfg.Profile.APIName, cfg.Profile.APIVersion, cfg.Profile.APIAccessKey, cfg.Profile.APISecretKey = tAPIName, tAPIVer, tAPIAK, tAPISK
	c := mustNew(t, cfg)
	if _, err := c.Call(context.Background(), "9999", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	r := g.requests()[0]
	h := r.Header
	const wantTS, wantSig = "1769480130123", "UwlPKFrIi2XJRvtE/YSMh3DvwVc="
	if h.Get("_api_name") != tAPIName || h.Get("_api_version") != tAPIVer || h.Get("_api_access_key") != tAPIAK || h.Get("_api_timestamp") != wantTS {
		t.Fatalf("_api_ headers: %v", h)
	}
	if got := h.Get("_api_signature"); got != wantSig || apiSignature(tAPISK, tAPIAK, tAPIName, wantTS, tAPIVer) != wantSig {
		t.Fatalf("_api_signature %q, want %q", got, wantSig)
	}
	if !r.AuthOK {
		t.Fatal("the gateway did not accept the signature")
	}
}

func TestNoHeadersWithoutScheme(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	c := mustNew(t, baseConfig(&fixture{}, g.srv.URL, testCatalogue(t)))
	if _, err := c.Call(context.Background(), "9999", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	for k := range g.requests()[0].Header {
		if l := strings.ToLower(k); strings.HasPrefix(l, "x-tif") || strings.HasPrefix(l, "_api") {
			t.Fatalf("unexpected gateway header %s", k)
		}
	}
}

// A gateway that disagrees about the credentials refuses with its text;
// that is Permanent with a hint, never a Retry loop.
func TestWrongGatewayCredentials(t *testing.T) {
	for _, scheme := range []string{AuthXTif, AuthAPI} {
		t.Run(scheme, func(t *testing.T) {
			g := newGW(t, scheme, EnvelopePlain)
			g.configure(func(c *gwConfig) { c.paasToken, c.apiSK = "other-token-000", "other-secret-000" })
			cfg := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
			cfg.GatewayAuth = scheme
			cfg.Profile.PaasID, cfg.Profile.PaasToken = tPaasID, tPaasToken
			cfg.Profile.APIName, cfg.Profile.APIVersion, cfg.Profile.APIAccessKey, cfg.Profile.APISecretKey = tAPIName, tAPIVer, tAPIAK, tAPISK
			c := mustNew(t, cfg)
			out := deliver(t, c, bill("PDA1-260127-00001", 102, nil), purchaseItems())
			if out.Class != upload.Permanent || !strings.Contains(out.Message, "签名不一致") || !strings.Contains(out.Message, "credentials") {
				t.Fatalf("outcome %v: %s", out.Class, out.Message)
			}
			if s := secretsIn(out.Message); s != nil {
				t.Fatalf("secrets %v in %q", s, out.Message)
			}
		})
	}
}

package msfx

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// vectorParams are the parameters of the published md5 example.
func vectorParams() map[string]string {
	return map[string]string{
		"app_key":     "test",
		"fields":      "nick",
		"format":      "xml",
		"method":      "taobao.user.seller.get",
		"session":     "test",
		"sign_method": "md5",
		"timestamp":   "2013-05-06 13:52:03",
		"v":           "2.0",
	}
}

// vectorJoined is the published string to sign without the secret wrap.
const vectorJoined = "app_keytestfieldsnickformatxmlmethodtaobao.user.seller.getsessiontestsign_methodmd5timestamp2013-05-06 13:52:03v2.0"

func TestSignPublishedMD5Vector(t *testing.T) {
	p := vectorParams()
	if got := stringToSign(p); got != vectorJoined {
		t.Fatalf("string to sign:\n got %q\nwant %q", got, vectorJoined)
	}
	got, err := sign("md5", "test", p)
	if err != nil {
		t.Fatal(err)
	}
	if want := "72CB4D809B375A54502C09360D879C64"; got != want {
		t.Fatalf("md5 sign = %s, want %s", got, want)
	}
	// sign itself and empty values never take part.
	p["sign"] = "WHATEVER"
	p["empty"] = ""
	if got2, _ := sign("md5", "test", p); got2 != got {
		t.Fatalf("sign with sign/empty params = %s, want %s", got2, got)
	}
}

func TestSignHMACVariants(t *testing.T) {
	p := vectorParams()
	// The joined string, built by hand, independently of stringToSign.
	joined := "app_key" + "test" + "fields" + "nick" + "format" + "xml" + "method" + "taobao.user.seller.get" +
		"session" + "test" + "sign_method" + "md5" + "timestamp" + "2013-05-06 13:52:03" + "v" + "2.0"
	if joined != stringToSign(p) {
		t.Fatalf("string to sign differs from the hand-built one")
	}
	hm := hmac.New(md5.New, []byte("test"))
	hm.Write([]byte(joined))
	wantHMAC := strings.ToUpper(hex.EncodeToString(hm.Sum(nil)))
	hs := hmac.New(sha256.New, []byte("test"))
	hs.Write([]byte(joined))
	wantSHA := strings.ToUpper(hex.EncodeToString(hs.Sum(nil)))

	got, err := sign("hmac", "test", p)
	if err != nil || got != wantHMAC || len(got) != 32 {
		t.Errorf("hmac sign = %s, %v; want %s", got, err, wantHMAC)
	}
	got, err = sign("hmac-sha256", "test", p)
	if err != nil || got != wantSHA || len(got) != 64 {
		t.Errorf("hmac-sha256 sign = %s, %v; want %s", got, err, wantSHA)
	}
	// hmac is not md5 with the secret wrapped.
	if md, _ := sign("md5", "test", p); md == wantHMAC {
		t.Errorf("hmac and md5 agree")
	}
	if _, err := sign("sha1", "test", p); err == nil {
		t.Errorf("sha1 accepted")
	}
}

func TestSignASCIIOrder(t *testing.T) {
	// Upper case sorts before lower case and "_" between them in ASCII.
	p := map[string]string{"b": "2", "B": "1", "a_b": "3", "ab": "4", "a": "5"}
	if got, want := stringToSign(p), "B1a5a_b3ab4b2"; got != want {
		t.Fatalf("stringToSign = %q, want %q", got, want)
	}
}

func TestFormSystemParams(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1/router/rest", func(cf *Config) {
		cf.SignMethod = "hmac-sha256"
		cf.PartnerID = "pda-agent-1.0.0"
		cf.Simplify = true
	})
	f, err := c.form("m.x", map[string]string{"a": "1", "empty": ""}, finished)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"method": "m.x", "app_key": testAppKey, "timestamp": "2026-11-27 10:01:02", "v": "2.0",
		"sign_method": "hmac-sha256", "format": "json", "simplify": "true", "partner_id": "pda-agent-1.0.0", "a": "1",
	}
	for k, v := range want {
		if f.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, f.Get(k), v)
		}
	}
	for _, k := range []string{"empty", "session"} {
		if f.Has(k) {
			t.Errorf("%s sent although empty", k)
		}
	}
	p := map[string]string{}
	for k := range f {
		p[k] = f.Get(k)
	}
	if f.Get("sign") != refSign("hmac-sha256", testSecret, p) {
		t.Errorf("sign %s does not verify", f.Get("sign"))
	}
	if _, err := c.form("m.x", map[string]string{"timestamp": "x"}, finished); err == nil {
		t.Errorf("a business parameter overriding timestamp was accepted")
	}
}
